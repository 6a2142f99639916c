package gossip

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/serf/serf"
)

// peersListed reports whether the peer file at path lists name.
func peersListed(path, name string) bool {
	peers, err := readPeers(path)
	if err != nil {
		return false
	}
	for _, e := range peers {
		if e.Name == name {
			return true
		}
	}
	return false
}

// TestPeersRejoinAfterCrash: serf's snapshot of a quiet pool may never
// have been flushed when an agent is killed; the pool's own member file
// still brings the restarted agent back into the pool.
func TestPeersRejoinAfterCrash(t *testing.T) {
	a, aport := testPool(t, "a", "dc1", false, true, nil)
	dir := t.TempDir()
	bport := freePort(t)
	withDir := func(c *Config) { c.DataDir = dir; c.BindPort = bport }
	b, _ := testPoolWith(t, "b", "dc1", false, false, withDir)
	if _, err := b.Join([]string{fmt.Sprintf("127.0.0.1:%d", aport)}, 8301); err != nil {
		t.Fatalf("join: %v", err)
	}
	waitFor(t, "b's member file to list a", func() bool { return peersListed(filepath.Join(dir, LANPeers), "a") })
	if err := b.Shutdown(); err != nil {
		t.Fatal(err)
	}
	// What a SIGKILL leaves when serf had not flushed its snapshot.
	if err := os.Remove(filepath.Join(dir, LANSnapshot)); err != nil {
		t.Fatal(err)
	}
	// a would also find b again by itself (serf reconnects to failed
	// members every ReconnectInterval, 1s in this profile, 30s in the LAN
	// profile): b's log says that b rejoined on its own.
	var logs lockedBuffer
	b2, _ := testPoolWith(t, "b", "dc1", false, false, func(c *Config) {
		withDir(c)
		c.Logger = hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Info})
	})
	waitFor(t, "the restarted b to rejoin from its member file", func() bool {
		return strings.Contains(logs.String(), "rejoined the members known at the last run")
	})
	waitFor(t, "the restarted b back in the pool", func() bool {
		for _, m := range a.Members() {
			if m.Name == "b" && m.Status == serf.StatusAlive && int(m.Port) == bport {
				return aliveCount(b2) == 2
			}
		}
		return false
	})
}

// TestPeersForgottenAfterLeave: after a graceful leave the member file is
// removed, as serf's snapshot forgets its members then, so that the next
// start does not rejoin.
func TestPeersForgottenAfterLeave(t *testing.T) {
	_, aport := testPool(t, "a", "dc1", false, true, nil)
	dir := t.TempDir()
	b, _ := testPoolWith(t, "b", "dc1", false, false, func(c *Config) { c.DataDir = dir })
	if _, err := b.Join([]string{fmt.Sprintf("127.0.0.1:%d", aport)}, 8301); err != nil {
		t.Fatalf("join: %v", err)
	}
	path := filepath.Join(dir, LANPeers)
	waitFor(t, "b's member file to list a", func() bool { return peersListed(path, "a") })
	if err := b.Leave(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("member file after leave: %v", err)
	}
}

// TestPeersFileBad: a member file that does not parse is ignored with a
// warning; the pool starts and rewrites it at the next change.
func TestPeersFileBad(t *testing.T) {
	_, aport := testPool(t, "a", "dc1", false, true, nil)
	dir := t.TempDir()
	path := filepath.Join(dir, LANPeers)
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, _ := testPoolWith(t, "b", "dc1", false, false, func(c *Config) { c.DataDir = dir })
	if _, err := b.Join([]string{fmt.Sprintf("127.0.0.1:%d", aport)}, 8301); err != nil {
		t.Fatalf("join: %v", err)
	}
	waitFor(t, "b's member file rewritten with a", func() bool { return peersListed(path, "a") })
}

// TestPeersKeptWhileAlone: an agent that starts while the members it knew
// are away does not overwrite its member file with an empty list, so that
// the next start tries them again.
func TestPeersKeptWhileAlone(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, LANPeers)
	gone := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	if err := writePeers(path, []peerEntry{{Name: "gone", Addr: gone}}); err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	p, _ := testPoolWith(t, "b", "dc1", false, false, func(c *Config) {
		c.DataDir = dir
		c.Logger = hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Info})
	})
	waitFor(t, "the failed rejoin", func() bool {
		return strings.Contains(logs.String(), "could not rejoin any member known at the last run")
	})
	// The pool's own join event wakes the writer, which must look at
	// the members (and find none to write) at least once.
	waitFor(t, "the writer's look at the members", func() bool {
		return p.peersChecks.Load() > 0
	})
	if !peersListed(path, "gone") {
		t.Fatalf("member file lost the absent member; log:\n%s", logs.String())
	}
}

// TestPeersRejoinStopsAtShutdown: members that accept a connection and
// never answer hold each rejoin attempt for memberlist's TCP timeout (2s
// in this profile); a shutdown waits for the attempt under way only, not
// for every member of the file.
func TestPeersRejoinStopsAtShutdown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var held []net.Conn
	var heldMu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			heldMu.Lock()
			held = append(held, c)
			heldMu.Unlock()
		}
	}()
	defer func() {
		heldMu.Lock()
		defer heldMu.Unlock()
		for _, c := range held {
			c.Close()
		}
	}()
	dir := t.TempDir()
	var peers []peerEntry
	for i := 0; i < 10; i++ {
		peers = append(peers, peerEntry{Name: fmt.Sprintf("silent%d", i), Addr: ln.Addr().String()})
	}
	if err := writePeers(filepath.Join(dir, LANPeers), peers); err != nil {
		t.Fatal(err)
	}
	p, _ := testPoolWith(t, "b", "dc1", false, false, func(c *Config) { c.DataDir = dir })
	waitFor(t, "a rejoin attempt under way", func() bool {
		heldMu.Lock()
		defer heldMu.Unlock()
		return len(held) > 0
	})
	start := time.Now()
	if err := p.Shutdown(); err != nil {
		t.Fatal(err)
	}
	// Ten silent members would hold a shutdown that waited for all of
	// them 20s; one attempt is at most 2s.
	if took := time.Since(start); took > 8*time.Second {
		t.Fatalf("shutdown took %s while the rejoin tried silent members", took)
	}
}

// TestPeersWriteRetried: a member file that cannot be written (here its
// path is taken by a directory) is tried again later, though the pool
// stays quiet and no membership change comes to wake the writer.
func TestPeersWriteRetried(t *testing.T) {
	_, aport := testPool(t, "a", "dc1", false, true, nil)
	dir := t.TempDir()
	path := filepath.Join(dir, LANPeers)
	if err := os.MkdirAll(filepath.Join(path, "in-the-way"), 0o700); err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	b, _ := testPoolWith(t, "b", "dc1", false, false, func(c *Config) {
		c.DataDir = dir
		c.Logger = hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Info})
	})
	if _, err := b.Join([]string{fmt.Sprintf("127.0.0.1:%d", aport)}, 8301); err != nil {
		t.Fatalf("join: %v", err)
	}
	waitFor(t, "a failed write of the member file", func() bool {
		return strings.Contains(logs.String(), "cannot write the pool's members to disk")
	})
	if err := os.RemoveAll(path); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the member file written on a later try", func() bool { return peersListed(path, "a") })
}
