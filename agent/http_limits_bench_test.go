package agent

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/meridian-sd/meridian/client"
	"github.com/meridian-sd/meridian/rpc"
)

// Memory held per HTTP connection, for the figures of the HTTP limits:
//
//	go test -run XXX -bench 'HTTPConnMemory' -benchtime=1000x ./agent/
//
// Each benchmark opens b.N connections and reports the growth of the
// process's heap and stacks (after a GC) per connection, in "B/conn". The
// test's own ends of the connections are counted too (a few hundred bytes
// each), so the figures are an upper bound for the agent.

// heapAndStacks is the memory in use by the heap and goroutine stacks after
// a collection.
func heapAndStacks() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse + ms.StackInuse)
}

// openConns opens n connections to addr, sends each req and keeps them
// open until the benchmark ends.
func openConns(b *testing.B, addr string, n int, req string) {
	b.Helper()
	for i := range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatalf("connection %d: %v", i, err)
		}
		b.Cleanup(func() { c.Close() })
		if _, err := io.WriteString(c, req); err != nil {
			b.Fatalf("connection %d: %v", i, err)
		}
	}
}

// BenchmarkIdleHTTPConnMemory: connections that sent part of their headers
// (a slowloris, or a client that opened and waits) and wait there.
func BenchmarkIdleHTTPConnMemory(b *testing.B) {
	a := StartTestAgent(b, "-server", "-bootstrap", "-hcl=limits { http_max_conns_per_client = 0 }")
	a.WaitForLeader(b)
	before := heapAndStacks()
	b.ResetTimer()
	openConns(b, a.HTTPAddr, b.N, "GET /v1/agent/self HTTP/1.1\r\nHost: x\r\n")
	WaitFor(b, "every connection accepted", 30*time.Second, func() error {
		if n := a.httpConns.numOpen(netip.MustParseAddr("127.0.0.1")); n < b.N {
			return fmt.Errorf("%d of %d open", n, b.N)
		}
		return nil
	})
	time.Sleep(100 * time.Millisecond) // every server goroutine in its read
	b.StopTimer()
	b.ReportMetric(float64(heapAndStacks()-before)/float64(b.N), "B/conn")
}

// BenchmarkBlockingQueryHTTPConnMemory: connections each waiting on a
// blocking query through a client agent, with the client's RPC stream to
// its server and the server's query, all in this process.
func BenchmarkBlockingQueryHTTPConnMemory(b *testing.B) {
	if b.N > 1000 {
		b.Fatalf("b.N %d: at most 1000 (the client's pool has 1024 streams); use -benchtime=1000x", b.N)
	}
	srv := startKVServer(b)
	cl := startTestAgent(b, func(o *Options) {
		o.ClientConfig = func(cc *client.Config) {
			cc.PoolConfig = func(pc *rpc.ConnPoolConfig) { pc.MaxStreams = 1024 }
		}
	}, "-hcl=limits { http_max_conns_per_client = 0 }")
	if err := cl.Client.Agent().Join(srv.LANAddr(), false); err != nil {
		b.Fatal(err)
	}
	mustPut(b, cl.Client.KV(), "bench/block", "v")
	_, meta, err := cl.Client.KV().Get("bench/block", nil)
	if err != nil {
		b.Fatal(err)
	}
	before := heapAndStacks()
	b.ResetTimer()
	openConns(b, cl.HTTPAddr, b.N, fmt.Sprintf("GET /v1/kv/bench/block?index=%d&wait=5m HTTP/1.1\r\nHost: x\r\n\r\n", meta.LastIndex))
	WaitFor(b, "every query in flight", 30*time.Second, func() error {
		if n := cl.client.Stats()["rpc_pool"]["in_flight"]; n != fmt.Sprint(b.N) {
			return fmt.Errorf("%s of %d in flight", n, b.N)
		}
		return nil
	})
	b.StopTimer()
	b.ReportMetric(float64(heapAndStacks()-before)/float64(b.N), "B/conn")
}
