package server

import (
	"fmt"
	"testing"

	"github.com/meridian-sd/meridian/structs"
)

// BenchmarkForward measures what forwarding costs a KV read made on a dc1
// follower: served there (stale, no hop), forwarded to the dc1 leader
// (default consistency, one hop), and forwarded to dc2's server (one hop
// across datacenters), one caller at a time and sixteen at once:
//
//	go test -run '^$' -bench BenchmarkForward -benchtime 3000x ./server/
//
// The difference between a forwarded read's p50 and the stale one's is
// the cost of one hop.
func BenchmarkForward(b *testing.B) {
	follower := tlsBenchFederation(b, false)
	for _, dc := range []string{"dc1", "dc2"} {
		var ok bool
		if err := follower.RPC("KVS.Apply", &structs.KVSRequest{
			Datacenter: dc, Op: structs.KVSSet,
			DirEnt: structs.DirEntry{Key: "bench/key", Value: []byte("value")},
		}, &ok); err != nil {
			b.Fatalf("write the key in %s: %v", dc, err)
		}
	}
	cases := []struct {
		name  string
		dc    string
		stale bool
	}{
		{"local-stale", "dc1", true},
		{"to-leader", "dc1", false},
		{"other-dc", "dc2", true},
	}
	for _, tc := range cases {
		for _, workers := range []int{1, 16} {
			b.Run(fmt.Sprintf("%s/callers=%d", tc.name, workers), func(b *testing.B) {
				b.ReportAllocs()
				benchLatencies(b, workers, func(int) error {
					var out structs.IndexedDirEntries
					args := &structs.KeyRequest{Datacenter: tc.dc, Key: "bench/key"}
					args.AllowStale = tc.stale
					if err := follower.RPC("KVS.Get", args, &out); err != nil {
						return err
					}
					if len(out.Entries) != 1 {
						return fmt.Errorf("got %d entries, want 1", len(out.Entries))
					}
					return nil
				})
			})
		}
	}
}

// benchDC1 starts three durable dc1 servers with raft's own timings
// (raft_multiplier 1, so that a loaded machine does not lose the leader
// during a run) and returns a follower.
func benchDC1(b *testing.B) *Server {
	b.Helper()
	var servers []*Server
	for i := 0; i < 3; i++ {
		cfg := testConfig(b, "dc1")
		cfg.BootstrapExpect = 3
		ScaleRaft(cfg.RaftConfig, 1)
		servers = append(servers, startServer(b, cfg))
	}
	for _, s := range servers[1:] {
		if _, err := s.JoinLAN([]string{lanAddr(servers[0])}); err != nil {
			b.Fatal(err)
		}
	}
	leader := waitForLeader(b, servers)
	for _, s := range servers {
		if s != leader {
			return s
		}
	}
	return nil
}

// BenchmarkKVWrite measures durable KV writes made on a dc1 follower
// (forwarded to the leader, committed by a quorum of three servers with
// their logs on disk), one writer and 32 at once:
//
//	go test -run '^$' -bench BenchmarkKVWrite -benchtime 2000x ./server/
func BenchmarkKVWrite(b *testing.B) {
	follower := benchDC1(b)
	for _, workers := range []int{1, 32} {
		b.Run(fmt.Sprintf("writers=%d", workers), func(b *testing.B) {
			b.ReportAllocs()
			benchLatencies(b, workers, func(i int) error {
				var ok bool
				return follower.RPC("KVS.Apply", &structs.KVSRequest{
					Datacenter: "dc1", Op: structs.KVSSet,
					DirEnt: structs.DirEntry{Key: fmt.Sprintf("bench/%d", i%256), Value: []byte("value")},
				}, &ok)
			})
		})
	}
}
