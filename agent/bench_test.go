package agent

import (
	"fmt"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// benchCluster starts three durable servers (-bootstrap-expect 3, data on
// disk) joined in one datacenter and returns them once a leader is known.
func benchCluster(b *testing.B) []*TestAgent {
	b.Helper()
	var servers []*TestAgent
	for i := 0; i < 3; i++ {
		servers = append(servers, StartTestAgent(b, "-server", "-bootstrap-expect=3"))
	}
	for _, s := range servers[1:] {
		if err := s.Client.Agent().Join(servers[0].LANAddr(), false); err != nil {
			b.Fatal(err)
		}
	}
	for _, s := range servers {
		s.WaitForLeader(b)
	}
	return servers
}

// BenchmarkCatalogRegister measures catalog writes committed through the
// HTTP API of a 3-server durable cluster, 16 writers in parallel.
//
//	go test -run '^$' -bench BenchmarkCatalogRegister -benchtime 3000x ./agent/
func BenchmarkCatalogRegister(b *testing.B) {
	servers := benchCluster(b)
	var n atomic.Int64
	b.SetParallelism(8) // 8 x GOMAXPROCS writers
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		c := servers[int(n.Load())%3].Client
		for pb.Next() {
			i := n.Add(1)
			reg := &api.CatalogRegistration{Node: fmt.Sprintf("bench-%d", i), Address: "10.0.0.1",
				Service: &api.AgentService{Service: "web", Port: 80}}
			if _, err := c.Catalog().Register(reg, nil); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "writes/s")
}

// BenchmarkCatalogNodes measures GET /v1/catalog/nodes on a 100-node
// catalog, default consistency, asked of a follower (forwarded to the
// leader) and of the leader.
//
//	go test -run '^$' -bench BenchmarkCatalogNodes -benchtime 5000x ./agent/
func BenchmarkCatalogNodes(b *testing.B) {
	servers := benchCluster(b)
	c := servers[0].Client
	for i := 0; i < 97; i++ {
		reg := &api.CatalogRegistration{Node: fmt.Sprintf("node-%03d", i), Address: "10.0.1.1"}
		if _, err := c.Catalog().Register(reg, nil); err != nil {
			b.Fatal(err)
		}
	}
	nodes, _, err := c.Catalog().Nodes(nil)
	if err != nil || len(nodes) != 100 {
		b.Fatalf("catalog has %d nodes (%v)", len(nodes), err)
	}
	for _, mode := range []struct {
		name string
		opts *api.QueryOptions
	}{{"default", nil}, {"stale", &api.QueryOptions{AllowStale: true}}} {
		b.Run(mode.name, func(b *testing.B) {
			var n atomic.Int64
			b.SetParallelism(8)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				cl := servers[int(n.Add(1))%3].Client
				for pb.Next() {
					if _, _, err := cl.Catalog().Nodes(mode.opts); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
		})
	}
}

// BenchmarkBlockingWakeup measures the time from the start of a catalog
// write until a blocking query watching the catalog returns with it.
//
//	go test -run '^$' -bench BenchmarkBlockingWakeup -benchtime 300x ./agent/
func BenchmarkBlockingWakeup(b *testing.B) {
	servers := benchCluster(b)
	writer, watcher := servers[0].Client, servers[1].Client
	lat := make([]time.Duration, 0, b.N)
	afterAck := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_, meta, err := watcher.Catalog().Service("web", "", nil)
		if err != nil {
			b.Fatal(err)
		}
		woke := make(chan time.Time, 1)
		go func(idx uint64) {
			if _, _, err := watcher.Catalog().Service("web", "", &api.QueryOptions{WaitIndex: idx, WaitTime: 30 * time.Second}); err != nil {
				b.Error(err)
			}
			woke <- time.Now()
		}(meta.LastIndex)
		// Give the query time to reach the server and block; the measured
		// interval starts at the write.
		time.Sleep(2 * time.Millisecond)
		start := time.Now()
		// The same instance, changed each time: the answer stays one entry
		// long, so the figure is the wake-up, not the encoding of a list
		// that grows with the iterations.
		reg := &api.CatalogRegistration{Node: "w", Address: "10.0.2.1", Service: &api.AgentService{Service: "web", Port: i%60000 + 1}}
		if _, err := writer.Catalog().Register(reg, nil); err != nil {
			b.Fatal(err)
		}
		acked := time.Now()
		w := <-woke
		lat = append(lat, w.Sub(start))
		afterAck = append(afterAck, w.Sub(acked))
	}
	b.StopTimer()
	pct := func(d []time.Duration, p int) float64 {
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		return float64(d[len(d)*p/100].Microseconds()) / 1000
	}
	// From the start of the write (commit included) and from its ack.
	b.ReportMetric(pct(lat, 50), "p50-ms")
	b.ReportMetric(pct(lat, 99), "p99-ms")
	b.ReportMetric(pct(afterAck, 50), "p50-after-ack-ms")
	b.ReportMetric(pct(afterAck, 99), "p99-after-ack-ms")
}

// BenchmarkForwardedRead compares a catalog read answered by the local
// datacenter with the same read forwarded to another datacenter over the
// WAN (both on loopback, so the difference is Meridian's own cost).
//
//	go test -run '^$' -bench BenchmarkForwardedRead -benchtime 3000x ./agent/
func BenchmarkForwardedRead(b *testing.B) {
	dc1 := StartTestAgent(b, "-server", "-bootstrap", "-datacenter=dc1")
	dc2 := StartTestAgent(b, "-server", "-bootstrap", "-datacenter=dc2")
	dc1.WaitForLeader(b)
	dc2.WaitForLeader(b)
	if err := dc1.Client.Agent().Join(dc2.WANAddr(), true); err != nil {
		b.Fatal(err)
	}
	WaitFor(b, "dc2 routable from dc1", 10*time.Second, func() error {
		_, _, err := dc1.Client.Catalog().Nodes(&api.QueryOptions{Datacenter: "dc2"})
		return err
	})
	for _, dc := range []string{"dc1", "dc2"} {
		b.Run("sequential-"+dc, func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			for i := 0; i < b.N; i++ {
				start := time.Now()
				if _, _, err := dc1.Client.Catalog().Nodes(&api.QueryOptions{Datacenter: dc}); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		})
		b.Run("parallel-"+dc, func(b *testing.B) {
			b.SetParallelism(8)
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, _, err := dc1.Client.Catalog().Nodes(&api.QueryOptions{Datacenter: dc}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
		})
	}
}
