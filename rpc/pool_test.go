package rpc

import (
	"context"
	"errors"
	"fmt"
	"net"
	netrpc "net/rpc"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/yamux"

	"github.com/meridian-sd/meridian/structs"
)

func TestPoolEcho(t *testing.T) {
	srv := startServer(t)
	p, _ := newTestPool(t)
	tests := []struct {
		name string
		msg  string
	}{
		{"empty", ""},
		{"short", "hello"},
		{"unicode", "héllo, 世界"},
		// Larger than yamux's initial 256 KiB window, so flow control runs.
		{"large", strings.Repeat("x", 600<<10)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var reply EchoReply
			err := p.RPC(context.Background(), "dc1", srv.Addr(), "Test.Echo", &EchoArgs{Msg: tt.msg}, &reply)
			if err != nil {
				t.Fatalf("echo: %v", err)
			}
			if reply.Msg != tt.msg {
				t.Errorf("reply has %d bytes, want %d", len(reply.Msg), len(tt.msg))
			}
			if reply.Server != srv.addr {
				t.Errorf("answered by %q, want %q", reply.Server, srv.addr)
			}
		})
	}
}

func TestPoolPing(t *testing.T) {
	srv := startServer(t)
	p, _ := newTestPool(t)
	if err := p.Ping(context.Background(), "dc1", srv.Addr()); err != nil {
		t.Fatalf("ping: %v", err)
	}
}

func TestPoolConcurrentCallsShareOneSession(t *testing.T) {
	srv := startServer(t)
	p, fd := newTestPool(t)
	const goroutines, calls = 50, 20
	var wg sync.WaitGroup
	errCh := make(chan error, goroutines)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range calls {
				if err := echo(context.Background(), p, srv.addr, fmt.Sprintf("g%d-%d", g, i)); err != nil {
					errCh <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errCh)
	for err := range errCh {
		t.Errorf("concurrent echo: %v", err)
	}
	if got := fd.Dials(srv.addr); got != 1 {
		t.Errorf("dialed %d times, want 1 (one shared session)", got)
	}
	if got := p.NumSessions(); got != 1 {
		t.Errorf("pool holds %d sessions, want 1", got)
	}
	if got, want := srv.ep.calls.Load(), int64(goroutines*calls); got != want {
		t.Errorf("server saw %d calls, want %d", got, want)
	}
}

func TestPoolTimeout(t *testing.T) {
	srv := startServer(t)
	p, fd := newTestPool(t, func(c *ConnPoolConfig) { c.RPCTimeout = 100 * time.Millisecond })

	start := time.Now()
	err := p.RPC(context.Background(), "dc1", srv.Addr(), "Test.Sleep", &SleepArgs{D: 10 * time.Second}, &struct{}{})
	elapsed := time.Since(start)
	if err == nil {
		t.Fatal("Sleep(10s) with a 100ms timeout succeeded")
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("error %v is not os.ErrDeadlineExceeded", err)
	}
	var ce *CallError
	if !errors.As(err, &ce) || !ce.Sent || ce.Method != "Test.Sleep" || ce.Addr != srv.addr {
		t.Errorf("error %#v: want a sent CallError for Test.Sleep to %s", err, srv.addr)
	}
	if !strings.HasPrefix(err.Error(), "rpc error making call: Test.Sleep to "+srv.addr) {
		t.Errorf("error text %q lacks method and address", err)
	}
	if elapsed > 2*time.Second {
		t.Errorf("timeout took %s", elapsed)
	}
	// A timeout spoils one stream, not the session.
	if err := echo(context.Background(), p, srv.addr, "after timeout"); err != nil {
		t.Fatalf("echo after timeout: %v", err)
	}
	if got := fd.Dials(srv.addr); got != 1 {
		t.Errorf("dialed %d times, want 1", got)
	}
}

func TestPoolContextDeadlineOverridesTimeout(t *testing.T) {
	srv := startServer(t)
	p, _ := newTestPool(t, func(c *ConnPoolConfig) { c.RPCTimeout = 20 * time.Millisecond })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.RPC(ctx, "dc1", srv.Addr(), "Test.Sleep", &SleepArgs{D: 200 * time.Millisecond}, &struct{}{}); err != nil {
		t.Fatalf("Sleep(200ms) with a 5s context deadline: %v", err)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	err := p.RPC(ctx2, "dc1", srv.Addr(), "Test.Sleep", &SleepArgs{D: 5 * time.Second}, &struct{}{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Sleep(5s) with a 50ms context deadline: got %v, want context.DeadlineExceeded", err)
	}
}

func TestPoolContextCancel(t *testing.T) {
	srv := startServer(t)
	p, _ := newTestPool(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- p.RPC(ctx, "dc1", srv.Addr(), "Test.Sleep", &SleepArgs{D: 10 * time.Second}, &struct{}{})
	}()
	waitFor(t, 2*time.Second, "the call to reach the server", func() bool { return srv.ep.sleeping.Load() == 1 })
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("got %v, want context.Canceled", err)
		}
		if CanRetry(&SleepArgs{}, err) {
			t.Errorf("CanRetry(%v) = true after cancellation", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("cancelled call did not return")
	}
	// An already cancelled context fails before dialing anything.
	if err := echo(ctx, p, srv.addr, "x"); !errors.Is(err, context.Canceled) {
		t.Errorf("echo with a cancelled context: got %v, want context.Canceled", err)
	}
}

func TestPoolServerShutdownMidCall(t *testing.T) {
	srv := startServer(t)
	p, _ := newTestPool(t, func(c *ConnPoolConfig) { c.RPCTimeout = 30 * time.Second })
	done := make(chan error, 1)
	go func() {
		done <- p.RPC(context.Background(), "dc1", srv.Addr(), "Test.Sleep", &SleepArgs{D: 30 * time.Second}, &struct{}{})
	}()
	waitFor(t, 2*time.Second, "the call to reach the server", func() bool { return srv.ep.sleeping.Load() == 1 })

	shutdownDone := make(chan error, 1)
	go func() { shutdownDone <- srv.Shutdown() }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("call succeeded although the server shut down")
		}
		if !IsConnError(err) {
			t.Errorf("got %v, want a connection error", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("call did not fail after the server shut down")
	}
	// Shutdown waits for the endpoint's call to return.
	srv.stopSleeps()
	select {
	case err := <-shutdownDone:
		if err != nil {
			t.Errorf("shutdown: %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("server shutdown hung")
	}
}

func TestPoolRedialsAfterServerRestart(t *testing.T) {
	srv := startServer(t)
	addr := srv.addr
	p, fd := newTestPool(t)
	if err := echo(context.Background(), p, addr, "first"); err != nil {
		t.Fatalf("echo: %v", err)
	}
	if err := srv.Shutdown(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if err := echo(context.Background(), p, addr, "down"); !IsConnError(err) {
		t.Fatalf("echo to a stopped server: got %v, want a connection error", err)
	}
	startServerAt(t, addr)
	waitFor(t, 5*time.Second, "an echo through the restarted server", func() bool {
		return echo(context.Background(), p, addr, "again") == nil
	})
	if got := fd.Dials(addr); got < 2 {
		t.Errorf("dialed %d times, want a redial", got)
	}
}

func TestPoolDropsSessionCutByNetwork(t *testing.T) {
	srv := startServer(t)
	p, fd := newTestPool(t)
	if err := echo(context.Background(), p, srv.addr, "first"); err != nil {
		t.Fatalf("echo: %v", err)
	}
	fd.Block(srv.addr)
	err := echo(context.Background(), p, srv.addr, "blocked")
	var ce *CallError
	if !errors.As(err, &ce) {
		t.Fatalf("echo while blocked: got %v, want a CallError", err)
	}
	fd.Unblock(srv.addr)
	if err := echo(context.Background(), p, srv.addr, "unblocked"); err != nil {
		t.Fatalf("echo after unblocking: %v", err)
	}
	if got := fd.Dials(srv.addr); got < 2 {
		t.Errorf("dialed %d times, want a redial", got)
	}
}

func TestPoolDialFailure(t *testing.T) {
	addr := deadAddr(t)
	p, fd := newTestPool(t)
	for i := 1; i <= 2; i++ {
		err := echo(context.Background(), p, addr, "x")
		var ce *CallError
		if !errors.As(err, &ce) {
			t.Fatalf("echo to %s: got %v, want a CallError", addr, err)
		}
		if ce.Sent {
			t.Errorf("dial failure marked as sent")
		}
		if !CanRetry(&EchoArgs{}, err) || !CanRetry(&SleepArgs{}, err) {
			t.Errorf("CanRetry(%v) = false for an unsent call", err)
		}
		if got := p.NumSessions(); got != 0 {
			t.Errorf("pool keeps %d sessions after a failed dial", got)
		}
		if got := fd.Dials(addr); got != i {
			t.Errorf("after %d calls dialed %d times; a failed dial must not be cached", i, got)
		}
	}
}

func TestPoolIdleReaping(t *testing.T) {
	srv := startServer(t)
	p, fd := newTestPool(t, func(c *ConnPoolConfig) {
		c.MaxIdleTime = 50 * time.Millisecond
		c.ReapInterval = 10 * time.Millisecond
	})
	if err := echo(context.Background(), p, srv.addr, "x"); err != nil {
		t.Fatalf("echo: %v", err)
	}
	waitFor(t, 3*time.Second, "the idle session to be reaped", func() bool { return p.NumSessions() == 0 })
	waitFor(t, 3*time.Second, "the server to see the connection close", func() bool { return srv.numConns() == 0 })
	if err := echo(context.Background(), p, srv.addr, "y"); err != nil {
		t.Fatalf("echo after reaping: %v", err)
	}
	if got := fd.Dials(srv.addr); got != 2 {
		t.Errorf("dialed %d times, want 2", got)
	}
}

func TestPoolDoesNotReapBusySession(t *testing.T) {
	srv := startServer(t)
	p, _ := newTestPool(t, func(c *ConnPoolConfig) {
		c.MaxIdleTime = 20 * time.Millisecond
		c.ReapInterval = 5 * time.Millisecond
	})
	// The call holds the session several idle periods long.
	if err := p.RPC(context.Background(), "dc1", srv.Addr(), "Test.Sleep", &SleepArgs{D: 200 * time.Millisecond}, &struct{}{}); err != nil {
		t.Fatalf("Sleep across idle periods: %v", err)
	}
}

func TestPoolShutdown(t *testing.T) {
	srv := startServer(t)
	p, _ := newTestPool(t)
	done := make(chan error, 1)
	go func() {
		done <- p.RPC(context.Background(), "dc1", srv.Addr(), "Test.Sleep", &SleepArgs{D: 10 * time.Second}, &struct{}{})
	}()
	waitFor(t, 2*time.Second, "the call to reach the server", func() bool { return srv.ep.sleeping.Load() == 1 })
	if err := p.Shutdown(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	select {
	case err := <-done:
		if !IsConnError(err) {
			t.Errorf("in-flight call: got %v, want a connection error", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("in-flight call did not fail on pool shutdown")
	}
	if err := echo(context.Background(), p, srv.addr, "x"); !errors.Is(err, ErrPoolShutdown) {
		t.Errorf("call after shutdown: got %v, want ErrPoolShutdown", err)
	}
	if err := p.Shutdown(); err != nil {
		t.Errorf("second shutdown: %v", err)
	}
}

func TestPoolStreamLimit(t *testing.T) {
	srv := startServer(t)
	p, _ := newTestPool(t, func(c *ConnPoolConfig) { c.MaxStreams = 2 })
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = p.RPC(context.Background(), "dc1", srv.Addr(), "Test.Sleep", &SleepArgs{D: 10 * time.Second}, &struct{}{})
		}()
	}
	defer wg.Wait()
	defer srv.stopSleeps()
	waitFor(t, 2*time.Second, "two sleeping calls", func() bool { return srv.ep.sleeping.Load() == 2 })

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := echo(ctx, p, srv.addr, "third")
	var ce *CallError
	if !errors.As(err, &ce) || ce.Sent || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("third call over a 2-stream limit: got %v, want an unsent deadline error", err)
	}
	srv.stopSleeps()
	waitFor(t, 2*time.Second, "a free stream", func() bool { return echo(context.Background(), p, srv.addr, "later") == nil })
}

func TestPoolRemoteErrors(t *testing.T) {
	srv := startServer(t)
	p, _ := newTestPool(t)
	tests := []struct {
		text     string
		sentinel error // nil: not a contract error
	}{
		{structs.ErrNoLeader.Error(), structs.ErrNoLeader},
		{structs.ErrNoDCPath.Error(), structs.ErrNoDCPath},
		{structs.ErrNoServers.Error(), structs.ErrNoServers},
		{structs.ErrDCNoServers.Error(), structs.ErrDCNoServers},
		{structs.ErrPermissionDenied.Error(), structs.ErrPermissionDenied},
		{"missing node name", nil},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			err := p.RPC(context.Background(), "dc1", srv.Addr(), "Test.Fail", &FailArgs{Msg: tt.text}, &struct{}{})
			if err == nil {
				t.Fatal("Test.Fail succeeded")
			}
			if err.Error() != tt.text {
				t.Errorf("error text %q, want %q unchanged", err, tt.text)
			}
			if !IsRemoteError(err) || IsConnError(err) {
				t.Errorf("%v: IsRemoteError=%v IsConnError=%v", err, IsRemoteError(err), IsConnError(err))
			}
			if CanRetry(&EchoArgs{}, err) {
				t.Errorf("CanRetry(%v) = true for a remote error", err)
			}
			if tt.sentinel != nil && !errors.Is(err, tt.sentinel) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.sentinel)
			}
			var se netrpc.ServerError
			if tt.sentinel == nil && !errors.As(err, &se) {
				t.Errorf("%T is not an rpc.ServerError", err)
			}
		})
	}
	// An unknown method is the server's answer too, not a broken session.
	err := p.RPC(context.Background(), "dc1", srv.Addr(), "Test.Nope", &FailArgs{}, &struct{}{})
	if !IsRemoteError(err) || !strings.Contains(err.Error(), "Nope") {
		t.Errorf("unknown method: got %v, want the server's error", err)
	}
	if err := echo(context.Background(), p, srv.addr, "still fine"); err != nil {
		t.Errorf("echo after remote errors: %v", err)
	}
}

func TestCallTimeout(t *testing.T) {
	const rpcTimeout, margin = 7 * time.Second, 3 * time.Second
	p := &ConnPool{cfg: &ConnPoolConfig{RPCTimeout: rpcTimeout, BlockingQueryMargin: margin,
		DefaultQueryTime: structs.DefaultQueryTime, MaxQueryTime: structs.MaxQueryTime}}
	// An agent with default_query_time 1m and max_query_time 20m.
	tuned := &ConnPool{cfg: &ConnPoolConfig{RPCTimeout: rpcTimeout, BlockingQueryMargin: margin,
		DefaultQueryTime: time.Minute, MaxQueryTime: 20 * time.Minute}}
	withJitter := func(d time.Duration) time.Duration { return d + d/structs.JitterFraction + margin }
	tests := []struct {
		name string
		pool *ConnPool
		args any
		want time.Duration
	}{
		{"nil", p, nil, rpcTimeout},
		{"not a struct", p, "x", rpcTimeout},
		{"no query options", p, &FailArgs{}, rpcTimeout},
		{"write", p, &SleepArgs{}, rpcTimeout},
		{"read without index", p, &structs.DCSpecificRequest{QueryOptions: structs.QueryOptions{MaxQueryTime: time.Minute}}, rpcTimeout},
		{"blocking with wait", p, &structs.DCSpecificRequest{QueryOptions: structs.QueryOptions{MinQueryIndex: 5, MaxQueryTime: time.Minute}}, withJitter(time.Minute)},
		{"blocking by value", p, structs.ServiceSpecificRequest{QueryOptions: structs.QueryOptions{MinQueryIndex: 5, MaxQueryTime: time.Minute}}, withJitter(time.Minute)},
		{"blocking without wait", p, &EchoArgs{QueryOptions: structs.QueryOptions{MinQueryIndex: 1}}, withJitter(structs.DefaultQueryTime)},
		{"blocking wait capped", p, &EchoArgs{QueryOptions: structs.QueryOptions{MinQueryIndex: 1, MaxQueryTime: time.Hour}}, withJitter(structs.MaxQueryTime)},
		{"bare query options", p, &structs.QueryOptions{MinQueryIndex: 1, MaxQueryTime: time.Second}, withJitter(time.Second)},
		{"nil pointer", p, (*EchoArgs)(nil), rpcTimeout},
		{"configured default", tuned, &EchoArgs{QueryOptions: structs.QueryOptions{MinQueryIndex: 1}}, withJitter(time.Minute)},
		{"configured cap above the built-in one", tuned, &EchoArgs{QueryOptions: structs.QueryOptions{MinQueryIndex: 1, MaxQueryTime: 15 * time.Minute}}, withJitter(15 * time.Minute)},
		{"configured cap", tuned, &EchoArgs{QueryOptions: structs.QueryOptions{MinQueryIndex: 1, MaxQueryTime: time.Hour}}, withJitter(20 * time.Minute)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.pool.callTimeout(tt.args); got != tt.want {
				t.Errorf("callTimeout = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestCanRetry(t *testing.T) {
	read := &structs.DCSpecificRequest{}
	write := &SleepArgs{}
	tests := []struct {
		name string
		args any
		err  error
		want bool
	}{
		{"nil error", read, nil, false},
		{"remote error", read, netrpc.ServerError("boom"), false},
		{"contract error", read, structs.ErrNoLeader, false},
		{"unsent write", write, &CallError{Err: errors.New("dial: refused")}, true},
		{"sent read", read, &CallError{Sent: true, Err: errors.New("EOF")}, true},
		{"sent write", write, &CallError{Sent: true, Err: errors.New("EOF")}, false},
		{"sent, args without RPCInfo", &FailArgs{}, &CallError{Sent: true, Err: errors.New("EOF")}, false},
		{"timed out read", read, &CallError{Sent: true, Err: fmt.Errorf("x: %w", os.ErrDeadlineExceeded)}, false},
		{"cancelled before sending", write, &CallError{Err: context.Canceled}, false},
		{"caller deadline", read, &CallError{Err: context.DeadlineExceeded}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CanRetry(tt.args, tt.err); got != tt.want {
				t.Errorf("CanRetry = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestConnPoolConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*ConnPoolConfig)
		want   string // substring of the error; empty means valid
	}{
		{"default", func(*ConnPoolConfig) {}, ""},
		{"no logger", func(c *ConnPoolConfig) { c.Logger = nil }, "Logger"},
		{"no dialer", func(c *ConnPoolConfig) { c.Dial = nil }, "Dial"},
		{"zero dial timeout", func(c *ConnPoolConfig) { c.DialTimeout = 0 }, "DialTimeout"},
		{"zero rpc timeout", func(c *ConnPoolConfig) { c.RPCTimeout = 0 }, "RPCTimeout"},
		{"negative margin", func(c *ConnPoolConfig) { c.BlockingQueryMargin = -1 }, "BlockingQueryMargin"},
		{"zero idle", func(c *ConnPoolConfig) { c.MaxIdleTime = 0 }, "MaxIdleTime"},
		{"zero streams", func(c *ConnPoolConfig) { c.MaxStreams = 0 }, "MaxStreams"},
		{"negative idle streams", func(c *ConnPoolConfig) { c.MaxIdleStreams = -1 }, "MaxIdleStreams"},
		{"no idle streams", func(c *ConnPoolConfig) { c.MaxIdleStreams = 0 }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConnPoolConfig()
			tt.mutate(cfg)
			err := cfg.validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("validate: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("validate: got %v, want an error naming %s", err, tt.want)
			}
		})
	}
}

// TestPoolAbandonedCallsFreeStreams: calls whose callers give up leave the
// pool at once (InFlight), and their streams are gone within
// StreamCloseTimeout even when the server goes on with them, so a new
// call answers at once however many were abandoned.
func TestPoolAbandonedCallsFreeStreams(t *testing.T) {
	const n = 50
	srv := startServer(t)
	p, _ := newTestPool(t, func(c *ConnPoolConfig) {
		c.MaxStreams = n
		c.StreamCloseTimeout = 200 * time.Millisecond
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errs := make(chan error, n)
	for range n {
		go func() {
			errs <- p.RPC(ctx, "dc1", srv.Addr(), "Test.Sleep", &SleepArgs{D: time.Minute}, &struct{}{})
		}()
	}
	waitFor(t, 5*time.Second, "every call on the server", func() bool { return srv.ep.sleeping.Load() == n })
	if got, streams := p.InFlight(), p.NumStreams(); got != n || streams != n {
		t.Fatalf("with %d calls waiting: InFlight %d, NumStreams %d", n, got, streams)
	}
	// With every stream slot taken, a new call cannot start.
	short, cancelShort := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancelShort()
	if err := echo(short, p, srv.addr, "full"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("call with every stream taken: got %v, want a deadline error", err)
	}

	cancel()
	for range n {
		select {
		case err := <-errs:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("abandoned call: got %v, want context.Canceled", err)
			}
		case <-time.After(2 * time.Second):
			t.Fatal("an abandoned call did not return")
		}
	}
	if got := p.InFlight(); got != 0 {
		t.Fatalf("InFlight after every caller gave up: %d, want 0", got)
	}
	if err := echo(context.Background(), p, srv.addr, "after"); err != nil {
		t.Fatalf("call after the abandoned ones: %v", err)
	}
	// Whether the server ends its calls when their streams close or goes
	// on with them, the pool forgets them.
	// (The last call's stream stays open for the next one.)
	waitFor(t, 5*time.Second, "the abandoned streams gone", func() bool { return p.NumStreams() == p.NumIdleStreams() })
	if got := p.NumIdleStreams(); got != 1 {
		t.Errorf("idle streams after one clean call: %d, want 1", got)
	}
}

// TestPoolKeepsRemoteSessionsWarm: with LocalDatacenter set, an idle
// session to a server of another datacenter stays open (and its calls
// need no new dial), while an idle local one is reaped; the remote
// session's idle streams are still closed.
func TestPoolKeepsRemoteSessionsWarm(t *testing.T) {
	local, remote := startServer(t), startServer(t)
	p, fd := newTestPool(t, func(c *ConnPoolConfig) {
		c.LocalDatacenter = "dc1"
		c.MaxIdleTime = 50 * time.Millisecond
		c.ReapInterval = 10 * time.Millisecond
	})
	ctx := context.Background()
	if err := p.RPC(ctx, "dc2", remote.Addr(), "Test.Echo", &EchoArgs{Msg: "x"}, &EchoReply{}); err != nil {
		t.Fatalf("echo to dc2: %v", err)
	}
	if err := p.RPC(ctx, "dc1", local.Addr(), "Test.Echo", &EchoArgs{Msg: "x"}, &EchoReply{}); err != nil {
		t.Fatalf("echo to dc1: %v", err)
	}
	waitFor(t, 3*time.Second, "the idle local session reaped", func() bool { return local.numConns() == 0 })
	waitFor(t, 3*time.Second, "the idle streams closed", func() bool { return p.NumIdleStreams() == 0 })
	if got := p.NumSessions(); got != 1 {
		t.Fatalf("sessions after the local one was reaped: %d, want the remote one", got)
	}
	if err := p.RPC(ctx, "dc2", remote.Addr(), "Test.Echo", &EchoArgs{Msg: "y"}, &EchoReply{}); err != nil {
		t.Fatalf("second echo to dc2: %v", err)
	}
	if got := fd.Dials(remote.addr); got != 1 {
		t.Errorf("dials to the remote server: %d, want 1 (the session kept warm)", got)
	}
}

// oneCallCodec closes its stream after its first answer, as a server that
// restarted or dropped idle streams would leave a kept stream.
type oneCallCodec struct{ *msgpackCodec }

func (c oneCallCodec) WriteResponse(r *netrpc.Response, body any) error {
	err := c.msgpackCodec.WriteResponse(r, body)
	_ = c.Close()
	return err
}

// startOneCallServer serves the Test endpoint over multiplexed sessions,
// closing each stream after one call.
func startOneCallServer(t *testing.T) (string, *testEndpoint) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ep := &testEndpoint{addr: ln.Addr().String(), stop: make(chan struct{})}
	d := NewDispatcher(testLogger(t))
	if err := d.Register("Test", ep); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		_ = ln.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer stop()
				defer conn.Close()
				var b [1]byte
				if _, err := conn.Read(b[:]); err != nil {
					return
				}
				sess, err := yamux.Server(conn, nil)
				if err != nil {
					return
				}
				defer sess.Close()
				for {
					stream, err := sess.AcceptStream()
					if err != nil {
						return
					}
					wg.Add(1)
					go func() {
						defer wg.Done()
						d.ServeCodec(ctx, oneCallCodec{newCodec(stream, nil)})
					}()
				}
			}()
		}
	}()
	return ln.Addr().String(), ep
}

// keptStreamClosed reports whether every stream the pool keeps for addr
// has seen its server close it.
func keptStreamClosed(p *ConnPool, addr string) bool {
	p.mu.Lock()
	ps := p.sessions[addr]
	p.mu.Unlock()
	if ps == nil {
		return false
	}
	ps.idleMu.Lock()
	defer ps.idleMu.Unlock()
	for _, st := range ps.idle {
		if !st.closedByServer() {
			return false
		}
	}
	return len(ps.idle) > 0
}

// TestPoolReplacesKeptStreamClosedByServer: a kept stream that its server
// closed while it was idle is not used: the next call, even a write that
// could not be sent twice, goes on a new stream and succeeds. A read that
// picks a kept stream at the moment its server closes it is sent again on
// a new stream.
func TestPoolReplacesKeptStreamClosedByServer(t *testing.T) {
	addr, ep := startOneCallServer(t)
	p, fd := newTestPool(t)
	ctx := context.Background()
	for i := range 5 {
		if err := p.RPC(ctx, "dc1", tcpAddr(addr), "Test.Sleep", &SleepArgs{D: 0}, &struct{}{}); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		waitFor(t, 5*time.Second, "the server's close to reach the pool", func() bool { return keptStreamClosed(p, addr) })
	}
	// Reads right after each other: the server's close races the next
	// call, which then goes again on a new stream.
	for i := range 20 {
		if err := p.RPC(ctx, "dc1", tcpAddr(addr), "Test.Echo", &EchoArgs{Msg: "x"}, &EchoReply{}); err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
	}
	if got := ep.calls.Load(); got < 25 {
		t.Errorf("the server ran %d calls, want at least 25", got)
	}
	if got := fd.Dials(addr); got != 1 {
		t.Errorf("dials: %d, want 1 (the session is fine, only streams were closed)", got)
	}
}
