package rpc

import (
	"context"
	"runtime"
	"testing"
	"time"
)

// TestShutdownLeavesNoGoroutines checks that every goroutine the package
// starts (accept loop, handlers, dialers, reaper, rebalance loop, and the yamux
// sessions under them) ends once its owner shuts down.
func TestShutdownLeavesNoGoroutines(t *testing.T) {
	settle := func() int {
		var n int
		deadline := time.Now().Add(2 * time.Second)
		for {
			n = runtime.NumGoroutine()
			time.Sleep(20 * time.Millisecond)
			if runtime.NumGoroutine() == n || time.Now().After(deadline) {
				return n
			}
		}
	}
	before := settle()

	func() {
		srv := startServer(t)
		defer func() { _ = srv.Shutdown() }()
		p, _ := newTestPool(t)
		defer func() { _ = p.Shutdown() }()
		m := newTestManager(t, p, func(c *ManagerConfig) { c.MinRebalanceInterval = 5 * time.Millisecond })
		defer m.Shutdown()
		m.AddServer(server("a", srv.addr))
		m.AddServer(server("b", deadAddr(t)))
		for range 10 {
			if err := m.RPC(context.Background(), "Test.Echo", &EchoArgs{Msg: "x"}, &EchoReply{}); err != nil {
				t.Fatalf("echo: %v", err)
			}
		}
	}()

	waitFor(t, 5*time.Second, "goroutines to return to the starting count", func() bool {
		return runtime.NumGoroutine() <= before
	})
}
