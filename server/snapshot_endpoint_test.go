package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/meridian-sd/meridian/structs"
)

func kvSet(t *testing.T, s *Server, key, value string) {
	t.Helper()
	var ok bool
	args := &structs.KVSRequest{Datacenter: "dc1", Op: structs.KVSSet, DirEnt: structs.DirEntry{Key: key, Value: []byte(value)}}
	// A loaded machine (-race, two cores) can cost the cluster its leader
	// for a moment: a write is idempotent, so try again then.
	waitFor(t, "set "+key, 20*time.Second, func() error {
		err := s.RPC("KVS.Apply", args, &ok)
		if err != nil && !structs.IsErr(err, structs.ErrNoLeader) {
			t.Fatalf("set %s: %v", key, err)
		}
		return err
	})
}

// localKV reads a key from s's own state.
func localKV(s *Server, key string) (string, error) {
	_, e, err := s.fsm.State().KVSGet(nil, key)
	if err != nil {
		return "", err
	}
	if e == nil {
		return "", nil
	}
	return string(e.Value), nil
}

// waitKV waits until every server's own state has key = want.
func waitKV(t *testing.T, servers []*Server, key, want string) {
	t.Helper()
	for _, s := range servers {
		waitFor(t, fmt.Sprintf("%s = %q on %s", key, want, s.NodeName()), 30*time.Second, func() error {
			got, err := localKV(s, key)
			if err != nil {
				return err
			}
			if got != want {
				return fmt.Errorf("got %q", got)
			}
			return nil
		})
	}
}

// startSlowCluster is startCluster with Raft timings that hold a leader on
// a loaded machine: a snapshot moves more data than a heartbeat.
func startSlowCluster(t *testing.T, n int) []*Server {
	t.Helper()
	var servers []*Server
	for range n {
		cfg := testConfig(t, "dc1")
		cfg.BootstrapExpect = n
		rc := cfg.RaftConfig
		rc.HeartbeatTimeout = 2 * time.Second
		rc.ElectionTimeout = 2 * time.Second
		rc.LeaderLeaseTimeout = time.Second
		cfg.RPCHoldTimeout = 5 * time.Second
		servers = append(servers, startServer(t, cfg))
	}
	for _, s := range servers[1:] {
		if _, err := s.JoinLAN([]string{lanAddr(servers[0])}); err != nil {
			t.Fatalf("join: %v", err)
		}
	}
	waitForLeader(t, servers)
	return servers
}

func saveSnapshot(t *testing.T, s *Server, stale bool) ([]byte, *structs.SnapshotResponse) {
	t.Helper()
	resp, body, err := s.SnapshotRPC(context.Background(), &structs.SnapshotRequest{Op: structs.SnapshotSave, AllowStale: stale}, nil)
	if err != nil {
		t.Fatalf("save on %s: %v", s.NodeName(), err)
	}
	defer body.Close()
	buf, err := io.ReadAll(body)
	if err != nil {
		t.Fatalf("read snapshot: %v", err)
	}
	if int64(len(buf)) != resp.Size {
		t.Fatalf("snapshot of %d bytes, answer says %d", len(buf), resp.Size)
	}
	return buf, resp
}

func restoreSnapshot(s *Server, archive []byte, size int64) error {
	_, body, err := s.SnapshotRPC(context.Background(), &structs.SnapshotRequest{Op: structs.SnapshotRestore, Size: size}, bytes.NewReader(archive))
	if body != nil {
		body.Close()
	}
	return err
}

// TestSnapshotRestoreReachesEveryServer saves through a follower (the
// archive comes from the leader over a snapshot stream), restores
// through the other follower, and finds the saved state on every server;
// bad archives change nothing anywhere.
func TestSnapshotRestoreReachesEveryServer(t *testing.T) {
	servers := startSlowCluster(t, 3)
	leader := waitForLeader(t, servers)
	var followers []*Server
	for _, s := range servers {
		if s != leader {
			followers = append(followers, s)
		}
	}
	kvSet(t, followers[0], "a", "saved")
	kvSet(t, followers[0], "b", "saved")

	archive, resp := saveSnapshot(t, followers[0], false)
	if resp.Index == 0 || resp.Size != int64(len(archive)) {
		t.Fatalf("save answer = %+v", resp)
	}
	waitKV(t, servers, "b", "saved")
	if stale, resp := saveSnapshot(t, followers[1], true); len(stale) == 0 || resp.Index == 0 {
		t.Fatalf("stale save: %d bytes, %+v", len(stale), resp)
	}

	kvSet(t, leader, "a", "changed")
	kvSet(t, leader, "c", "later")
	waitKV(t, servers, "c", "later")

	// A loaded machine can cost the leader its lease while the followers
	// install the snapshot; the restore then says to run it again, which
	// is harmless.
	waitFor(t, "restore through a follower", 60*time.Second, func() error {
		err := restoreSnapshot(followers[1], archive, int64(len(archive)))
		if err != nil && !strings.Contains(err.Error(), "run it again") && !structs.IsErr(err, structs.ErrNoLeader) {
			t.Fatalf("restore through a follower: %v", err)
		}
		return err
	})
	waitKV(t, servers, "a", "saved")
	waitKV(t, servers, "c", "")
	// Writes go on after the restore, on every server.
	kvSet(t, followers[0], "d", "after")
	waitKV(t, servers, "d", "after")

	bad := []struct {
		name    string
		archive []byte
		size    int64
		want    string
	}{
		{"truncated", archive[:len(archive)/2], int64(len(archive) / 2), "truncated"},
		{"altered", func() []byte {
			b := bytes.Clone(archive)
			b[len(b)-20] ^= 0x40
			return b
		}(), int64(len(archive)), "nothing was changed"},
		// Forwarded, the sender sees its stream end; served here (the
		// follower became the leader), the archive is truncated.
		{"short stream", archive[:100], int64(len(archive)), "send snapshot archive|truncated"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			err := restoreSnapshot(followers[0], tc.archive, tc.size)
			if err == nil || !regexp.MustCompile(tc.want).MatchString(err.Error()) {
				t.Fatalf("restore: got %v, want an error containing %q", err, tc.want)
			}
			for _, s := range servers {
				if got, _ := localKV(s, "d"); got != "after" {
					t.Fatalf("d = %q on %s after a refused restore", got, s.NodeName())
				}
			}
		})
	}
	// Nothing is left in the spool directories (a server may still be
	// reading the rest of a stream its sender gave up on).
	for _, s := range servers {
		dir, err := s.snapshotTmpDir()
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, "no spooled files on "+s.NodeName(), 10*time.Second, func() error {
			entries, err := os.ReadDir(dir)
			if err != nil {
				return err
			}
			if len(entries) != 0 {
				return fmt.Errorf("%d files left, the first %s", len(entries), entries[0].Name())
			}
			return nil
		})
	}
}

// TestSnapshotRequestValidation refuses malformed requests and sizes over
// the cap before reading anything.
func TestSnapshotRequestValidation(t *testing.T) {
	cfg := testConfig(t, "dc1")
	cfg.Bootstrap = true
	cfg.SnapshotMaxSize = 1000
	s := startServer(t, cfg)
	waitForLeader(t, []*Server{s})
	cases := []struct {
		args *structs.SnapshotRequest
		want string
	}{
		{&structs.SnapshotRequest{Op: 9}, "unknown snapshot operation"},
		{&structs.SnapshotRequest{Op: structs.SnapshotRestore}, "needs an archive"},
		{&structs.SnapshotRequest{Op: structs.SnapshotRestore, Size: 10, AllowStale: true}, "cannot be stale"},
		{&structs.SnapshotRequest{Op: structs.SnapshotSave, Size: 10}, "carries no archive"},
		{&structs.SnapshotRequest{Op: structs.SnapshotRestore, Size: 1001}, "exceeds the limit of 1000 bytes"},
		{&structs.SnapshotRequest{Op: structs.SnapshotSave, Datacenter: "nowhere"}, "No path to datacenter"},
	}
	for _, tc := range cases {
		_, _, err := s.SnapshotRPC(context.Background(), tc.args, strings.NewReader(""))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want %q", tc.args, err, tc.want)
		}
	}
}
