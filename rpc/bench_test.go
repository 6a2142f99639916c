package rpc

import (
	"context"
	"testing"
)

// BenchmarkRPCEcho measures one call at a time over a pooled session.
func BenchmarkRPCEcho(b *testing.B) {
	srv := startServer(b)
	p, _ := newTestPool(b)
	ctx := context.Background()
	args := &EchoArgs{Msg: "benchmark"}
	if err := p.RPC(ctx, "dc1", srv.Addr(), "Test.Echo", args, &EchoReply{}); err != nil {
		b.Fatalf("warm-up echo: %v", err)
	}
	b.ReportAllocs()
	for b.Loop() {
		var reply EchoReply
		if err := p.RPC(ctx, "dc1", srv.Addr(), "Test.Echo", args, &reply); err != nil {
			b.Fatalf("echo: %v", err)
		}
	}
}

// BenchmarkRPCEchoParallel measures concurrent calls sharing one session.
func BenchmarkRPCEchoParallel(b *testing.B) {
	srv := startServer(b)
	p, _ := newTestPool(b)
	ctx := context.Background()
	if err := p.RPC(ctx, "dc1", srv.Addr(), "Test.Echo", &EchoArgs{Msg: "warm"}, &EchoReply{}); err != nil {
		b.Fatalf("warm-up echo: %v", err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		args := &EchoArgs{Msg: "benchmark"}
		for pb.Next() {
			var reply EchoReply
			if err := p.RPC(ctx, "dc1", srv.Addr(), "Test.Echo", args, &reply); err != nil {
				b.Errorf("echo: %v", err)
				return
			}
		}
	})
}
