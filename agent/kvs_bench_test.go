package agent

import (
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// KV benchmarks against three durable servers (Raft log and snapshots on
// disk) in one process, through the HTTP API and the official client:
//
//	go test -run '^$' -bench 'BenchmarkKV' -benchtime 3s ./agent
//
// Writes go to the leader's agent; reads go to the leader's agent too
// (a follower would forward them). Each sub-benchmark reports its rate;
// BenchmarkKVBlockingWake reports the p50 and p99 delay between the start
// of a write and the return of a blocking read watching the key.

// kvBenchCluster is three server agents with -bootstrap-expect=3, joined.
type kvBenchCluster struct {
	agents []*TestAgent
	leader *TestAgent
}

func startKVBenchCluster(b *testing.B) *kvBenchCluster {
	b.Helper()
	c := &kvBenchCluster{}
	for i := 0; i < 3; i++ {
		c.agents = append(c.agents, StartTestAgent(b, "-server", "-bootstrap-expect=3"))
	}
	for _, a := range c.agents[1:] {
		if err := a.Client.Agent().Join(c.agents[0].LANAddr(), false); err != nil {
			b.Fatal(err)
		}
	}
	WaitFor(b, "a leader with three voters", 20*time.Second, func() error {
		c.leader = nil
		for _, a := range c.agents {
			if a.Server().IsLeader() {
				c.leader = a
			}
		}
		if c.leader == nil {
			return fmt.Errorf("no leader")
		}
		cfg, err := c.leader.Client.Operator().RaftGetConfiguration(nil)
		if err != nil {
			return err
		}
		if len(cfg.Servers) != 3 {
			return fmt.Errorf("%d raft servers", len(cfg.Servers))
		}
		return nil
	})
	return c
}

// kvPooledClient is an API client that keeps its connections, as a
// long-running application's would.
func kvPooledClient(b *testing.B, a *TestAgent) *api.Client {
	b.Helper()
	cfg := api.DefaultConfig()
	cfg.Address = a.HTTPAddr
	cfg.Transport.MaxIdleConnsPerHost = 64
	c, err := api.NewClient(cfg)
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// kvRunWorkers splits b.N operations over n goroutines and reports the rate.
func kvRunWorkers(b *testing.B, n int, unit string, op func(worker, i int) error) {
	b.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	per := b.N / n
	extra := b.N % n
	b.ResetTimer()
	for w := 0; w < n; w++ {
		count := per
		if w < extra {
			count++
		}
		wg.Add(1)
		go func(w, count int) {
			defer wg.Done()
			for i := 0; i < count; i++ {
				if err := op(w, i); err != nil {
					errs <- err
					return
				}
			}
		}(w, count)
	}
	wg.Wait()
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), unit)
}

func BenchmarkKV(b *testing.B) {
	c := startKVBenchCluster(b)
	client := kvPooledClient(b, c.leader)
	kv := client.KV()
	value := []byte("a value of some 32 bytes length.")

	for _, writers := range []int{1, 32} {
		b.Run(fmt.Sprintf("put/writers=%d", writers), func(b *testing.B) {
			kvRunWorkers(b, writers, "writes/s", func(w, i int) error {
				_, err := kv.Put(&api.KVPair{Key: fmt.Sprintf("bench/w%d/%d", w, i%100), Value: value}, nil)
				return err
			})
		})
	}

	for i := 0; i < 100; i++ {
		if _, err := kv.Put(&api.KVPair{Key: fmt.Sprintf("bench/r/%d", i), Value: value}, nil); err != nil {
			b.Fatal(err)
		}
	}
	for _, mode := range []struct {
		name string
		q    *api.QueryOptions
	}{
		{"default", &api.QueryOptions{}},
		{"consistent", &api.QueryOptions{RequireConsistent: true}},
		{"stale", &api.QueryOptions{AllowStale: true}},
	} {
		for _, readers := range []int{1, 32} {
			b.Run(fmt.Sprintf("get/%s/readers=%d", mode.name, readers), func(b *testing.B) {
				kvRunWorkers(b, readers, "reads/s", func(w, i int) error {
					p, _, err := kv.Get(fmt.Sprintf("bench/r/%d", (w+i)%100), mode.q)
					if err == nil && p == nil {
						err = fmt.Errorf("key missing")
					}
					return err
				})
			})
		}
	}
}

// BenchmarkKVBlockingWake measures how long after a write starts a
// blocking read watching the key (through a follower's agent) returns.
func BenchmarkKVBlockingWake(b *testing.B) {
	c := startKVBenchCluster(b)
	writer := kvPooledClient(b, c.leader).KV()
	var follower *TestAgent
	for _, a := range c.agents {
		if a != c.leader {
			follower = a
			break
		}
	}
	watcher := kvPooledClient(b, follower).KV()
	if _, err := writer.Put(&api.KVPair{Key: "wake/k", Value: []byte("0")}, nil); err != nil {
		b.Fatal(err)
	}
	_, meta, err := watcher.Get("wake/k", nil)
	if err != nil {
		b.Fatal(err)
	}
	index := meta.LastIndex
	delays := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		type woke struct {
			at    time.Time
			index uint64
			err   error
		}
		ch := make(chan woke, 1)
		go func(index uint64) {
			_, meta, err := watcher.Get("wake/k", &api.QueryOptions{WaitIndex: index, WaitTime: 30 * time.Second})
			w := woke{at: time.Now(), err: err}
			if meta != nil {
				w.index = meta.LastIndex
			}
			ch <- w
		}(index)
		// Let the read reach the server and block.
		b.StopTimer()
		time.Sleep(20 * time.Millisecond)
		b.StartTimer()
		start := time.Now()
		if _, err := writer.Put(&api.KVPair{Key: "wake/k", Value: []byte(fmt.Sprint(i + 1))}, nil); err != nil {
			b.Fatal(err)
		}
		w := <-ch
		if w.err != nil {
			b.Fatal(w.err)
		}
		if w.index <= index {
			b.Fatalf("woke with index %d, not past %d", w.index, index)
		}
		index = w.index
		delays = append(delays, w.at.Sub(start))
	}
	b.StopTimer()
	sort.Slice(delays, func(i, j int) bool { return delays[i] < delays[j] })
	pct := func(p float64) float64 {
		return float64(delays[int(p*float64(len(delays)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}
