package server

import (
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/meridian-sd/meridian/structs"
	"github.com/meridian-sd/meridian/tlsutil/tlstest"
)

// tlsBenchFederation starts dc1 (three servers) and dc2 (one), WAN-joined,
// with TLS everywhere or none, and returns a dc1 follower and the dc2
// server.
func tlsBenchFederation(b *testing.B, useTLS bool) (follower *Server) {
	b.Helper()
	ca := tlstest.NewCA(b, "consul")
	cfg := func(dc string) *Config {
		if !useTLS {
			return testConfig(b, dc)
		}
		cert, key := ca.Server(dc)
		return tlsServerConfig(b, dc, ca, cert, key)
	}
	var dc1 []*Server
	for i := 0; i < 3; i++ {
		c := cfg("dc1")
		c.BootstrapExpect = 3
		dc1 = append(dc1, startServer(b, c))
	}
	for _, s := range dc1[1:] {
		if _, err := s.JoinLAN([]string{lanAddr(dc1[0])}); err != nil {
			b.Fatal(err)
		}
	}
	leader := tlsWaitLeader(b, dc1)
	c2 := cfg("dc2")
	c2.Bootstrap = true
	dc2 := startServer(b, c2)
	tlsWaitLeader(b, []*Server{dc2})
	if _, err := dc2.JoinWAN([]string{wanAddr(dc1[0])}); err != nil {
		b.Fatal(err)
	}
	for _, s := range dc1 {
		if s != leader {
			follower = s
		}
	}
	waitFor(b, "dc2 reachable from dc1", 30*time.Second, func() error {
		var out structs.IndexedNodes
		return follower.RPC("Catalog.ListNodes", &structs.DCSpecificRequest{Datacenter: "dc2"}, &out)
	})
	return follower
}

// benchLatencies runs op b.N times on workers goroutines and reports the
// p50 and p99 latency and the throughput.
func benchLatencies(b *testing.B, workers int, op func(i int) error) {
	b.Helper()
	lat := make([]time.Duration, b.N)
	var next sync.Mutex
	n := 0
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				next.Lock()
				i := n
				n++
				next.Unlock()
				if i >= b.N {
					return
				}
				t0 := time.Now()
				if err := op(i); err != nil {
					b.Error(err)
					return
				}
				lat[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) }
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "ops/s")
}

// BenchmarkTLSCost measures what TLS on every hop (verify_incoming,
// verify_outgoing, verify_server_hostname) costs a read forwarded from a
// dc1 follower to dc2 and a KV write through a dc1 follower (forwarded to
// the leader and replicated to two followers), one at a time and with 16
// callers:
//
//	go test -run '^$' -bench BenchmarkTLSCost -benchtime 2000x ./server/
func BenchmarkTLSCost(b *testing.B) {
	for _, mode := range []struct {
		name   string
		useTLS bool
	}{{"plain", false}, {"tls", true}} {
		b.Run(mode.name, func(b *testing.B) {
			follower := tlsBenchFederation(b, mode.useTLS)
			for _, workers := range []int{1, 16} {
				b.Run(fmt.Sprintf("forwarded-read/callers=%d", workers), func(b *testing.B) {
					benchLatencies(b, workers, func(int) error {
						var out structs.IndexedNodes
						return follower.RPC("Catalog.ListNodes", &structs.DCSpecificRequest{Datacenter: "dc2"}, &out)
					})
				})
				b.Run(fmt.Sprintf("kv-write/callers=%d", workers), func(b *testing.B) {
					benchLatencies(b, workers, func(i int) error {
						var ok bool
						return follower.RPC("KVS.Apply", &structs.KVSRequest{
							Datacenter: "dc1", Op: structs.KVSSet,
							DirEnt: structs.DirEntry{Key: fmt.Sprintf("bench/%d", i%256), Value: []byte("value")},
						}, &ok)
					})
				})
			}
		})
	}
}
