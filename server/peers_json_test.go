package server

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meridian-sd/meridian/structs"
)

// TestPeersJSONRecovery: a three-server cluster loses one server for good
// while the other two are down; with peers.json listing the two, they come
// back as a two-server cluster with every committed write, and the file is
// gone.
func TestPeersJSONRecovery(t *testing.T) {
	servers := startCluster(t, "dc1", 3)
	waitForLeader(t, servers)
	for i := 0; i < 20; i++ {
		req := &structs.KVSRequest{Datacenter: "dc1", Op: structs.KVSSet, DirEnt: structs.DirEntry{Key: fmt.Sprintf("p/%02d", i), Value: []byte("v")}}
		// Retried within a deadline: a fresh cluster may still be
		// settling its leadership.
		waitFor(t, "a write", 10*time.Second, func() error {
			var ok bool
			return servers[0].RPC("KVS.Apply", req, &ok)
		})
	}
	var ids []serverIdentity
	for _, s := range servers {
		ids = append(ids, identityOf(s))
		s.Shutdown()
	}
	keep := ids[:2]
	var entries []string
	for _, id := range keep {
		entries = append(entries, fmt.Sprintf(`{"id": %q, "address": "127.0.0.1:%d", "non_voter": false}`, id.id, id.rpcPort))
	}
	peers := "[" + strings.Join(entries, ",") + "]"
	for _, id := range keep {
		if err := os.WriteFile(filepath.Join(id.dataDir, "raft", "peers.json"), []byte(peers), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var back []*Server
	for _, id := range keep {
		back = append(back, startServer(t, restartConfig(t, id)))
	}
	leader := waitForLeader(t, back)
	var out structs.IndexedDirEntries
	if err := leader.RPC("KVS.List", &structs.KeyRequest{Datacenter: "dc1", Key: "p/"}, &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Entries) != 20 {
		t.Errorf("%d keys after recovery, want 20", len(out.Entries))
	}
	for _, id := range keep {
		dir := filepath.Join(id.dataDir, "raft")
		if _, err := os.Stat(filepath.Join(dir, "peers.json")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: peers.json still there (%v)", id.name, err)
		}
		if _, err := os.Stat(filepath.Join(dir, "peers.info")); err != nil {
			t.Errorf("%s: peers.info: %v", id.name, err)
		}
	}
	f := leader.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		t.Fatal(err)
	}
	if n := len(f.Configuration().Servers); n != 2 {
		t.Errorf("%d servers in the recovered configuration, want 2", n)
	}
	// A write commits with two servers.
	waitFor(t, "a write after recovery", 10*time.Second, func() error {
		var ok bool
		return leader.RPC("KVS.Apply", &structs.KVSRequest{Datacenter: "dc1", Op: structs.KVSSet, DirEnt: structs.DirEntry{Key: "p/after", Value: []byte("v")}}, &ok)
	})
}

// TestPeersJSONRefused: a peers.json that is not JSON, or that leaves out
// the server reading it, stops the start with a sentence, and the file is
// left for the operator to fix.
func TestPeersJSONRefused(t *testing.T) {
	s := startCluster(t, "dc1", 1)[0]
	id := identityOf(s)
	s.Shutdown()
	file := filepath.Join(id.dataDir, "raft", "peers.json")
	for _, tc := range []struct{ body, says string }{
		{"[{", "peers.json"},
		{`[{"id": "someone-else", "address": "127.0.0.1:1", "non_voter": false}]`, "is not in the list"},
	} {
		if err := os.WriteFile(file, []byte(tc.body), 0o600); err != nil {
			t.Fatal(err)
		}
		srv, err := NewServer(restartConfig(t, id))
		if err == nil {
			srv.Shutdown()
			t.Fatalf("peers.json %s: the server started", tc.body)
		}
		if !strings.Contains(err.Error(), tc.says) {
			t.Errorf("peers.json %s: error %q, want one saying %q", tc.body, err, tc.says)
		}
		if _, err := os.Stat(file); err != nil {
			t.Errorf("peers.json was removed after a refused recovery: %v", err)
		}
	}
}
