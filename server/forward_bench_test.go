package server

import (
	"fmt"
	"sort"
	"testing"
	"time"

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
	_, follower := benchDC1Servers(b)
	return follower
}

// benchDC1Servers is benchDC1 returning the leader too.
func benchDC1Servers(b *testing.B) (leader, follower *Server) {
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
	leader = waitForLeader(b, servers)
	for _, s := range servers {
		if s != leader {
			return leader, s
		}
	}
	return leader, nil
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

// BenchmarkBlockingWake measures a blocking-query wake-up as the bench
// tool's blocking workload makes it: 16 watchers hold a blocking KVS.Get
// on one key through a dc1 follower (forwarded to the leader, default
// consistency), and one write through the follower wakes them all. One op
// is the write and the 16 answers, timed from the write's start to the
// last answer (p50/p99 are of that); setting the watchers up is not
// timed. allocs/op count all three servers, which run in this process:
//
//	go test -run '^$' -bench BenchmarkBlockingWake -benchtime 300x -benchmem ./server/
func BenchmarkBlockingWake(b *testing.B) {
	leader, follower := benchDC1Servers(b)
	const watchers = 16
	var ok bool
	if err := follower.RPC("KVS.Apply", &structs.KVSRequest{
		Datacenter: "dc1", Op: structs.KVSSet,
		DirEnt: structs.DirEntry{Key: "bench/watched", Value: []byte("value")},
	}, &ok); err != nil {
		b.Fatal(err)
	}
	type answer struct {
		index uint64
		err   error
	}
	answers := make(chan answer, watchers)
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	b.StopTimer()
	for i := 0; i < b.N; i++ {
		var cur structs.IndexedDirEntries
		if err := follower.RPC("KVS.Get", &structs.KeyRequest{Datacenter: "dc1", Key: "bench/watched"}, &cur); err != nil {
			b.Fatal(err)
		}
		for w := 0; w < watchers; w++ {
			go func() {
				args := &structs.KeyRequest{Datacenter: "dc1", Key: "bench/watched"}
				args.MinQueryIndex = cur.Index
				args.MaxQueryTime = time.Minute
				var out structs.IndexedDirEntries
				err := follower.RPC("KVS.Get", args, &out)
				answers <- answer{out.Index, err}
			}()
		}
		// The watchers wait once the leader counts them, and a little
		// later their watch is set; a write before that answers them
		// at once, which is a wake-up too.
		for deadline := time.Now().Add(10 * time.Second); leader.blockingQueries.Load() < watchers; {
			if time.Now().After(deadline) {
				b.Fatal("the watchers did not reach the leader within 10s")
			}
			time.Sleep(50 * time.Microsecond)
		}
		b.StartTimer()
		start := time.Now()
		if err := follower.RPC("KVS.Apply", &structs.KVSRequest{
			Datacenter: "dc1", Op: structs.KVSSet,
			DirEnt: structs.DirEntry{Key: "bench/watched", Value: []byte(fmt.Sprintf("value-%d", i))},
		}, &ok); err != nil {
			b.Fatal(err)
		}
		for w := 0; w < watchers; w++ {
			a := <-answers
			if a.err != nil {
				b.Fatal(a.err)
			}
			if a.index <= cur.Index {
				b.Fatalf("a watcher answered index %d, not past %d", a.index, cur.Index)
			}
		}
		lat = append(lat, time.Since(start))
		b.StopTimer()
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) }
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
}
