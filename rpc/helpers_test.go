package rpc

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/meridian-sd/meridian/structs"
)

// EchoArgs is the argument of Test.Echo; it embeds QueryOptions so that the
// pool treats it as a blocking query when MinQueryIndex is set.
type EchoArgs struct {
	Msg string
	structs.QueryOptions
}

// EchoReply is Test.Echo's answer.
type EchoReply struct {
	Msg string
	// Server is the address of the server that answered.
	Server string
}

// SleepArgs is the argument of Test.Sleep.
type SleepArgs struct {
	D time.Duration
	structs.WriteRequest
}

// FailArgs is the argument of Test.Fail: the error text to return.
type FailArgs struct {
	Msg string
}

// Validate implements structs.Validator: everything is valid.
func (a *EchoArgs) Validate() error { return nil }

// RequestDatacenter makes EchoArgs a structs.RPCInfo, a read (from
// QueryOptions) that may be sent again.
func (a *EchoArgs) RequestDatacenter() string { return "" }

// Validate implements structs.Validator: a negative sleep is refused.
func (a *SleepArgs) Validate() error {
	if a.D < 0 {
		return structs.BadRequest("invalid sleep %s: must not be negative", a.D)
	}
	return nil
}

// Validate implements structs.Validator: everything is valid.
func (a *FailArgs) Validate() error { return nil }

// testEndpoint is the toy "Test" endpoint the tests call.
type testEndpoint struct {
	addr     string
	calls    atomic.Int64  // calls of any method
	sleeping atomic.Int64  // Sleep calls in progress
	stop     chan struct{} // ends every Sleep at once
}

// Echo returns the message and the server's address.
func (e *testEndpoint) Echo(ctx context.Context, args *EchoArgs, reply *EchoReply) error {
	e.calls.Add(1)
	reply.Msg = args.Msg
	reply.Server = e.addr
	return nil
}

// Sleep waits for args.D or until the test stops the endpoint.
func (e *testEndpoint) Sleep(ctx context.Context, args *SleepArgs, reply *struct{}) error {
	e.calls.Add(1)
	e.sleeping.Add(1)
	defer e.sleeping.Add(-1)
	t := time.NewTimer(args.D)
	defer t.Stop()
	select {
	case <-t.C:
	case <-e.stop:
	}
	return nil
}

// Fail returns an error with the given text.
func (e *testEndpoint) Fail(ctx context.Context, args *FailArgs, reply *struct{}) error {
	e.calls.Add(1)
	return errors.New(args.Msg)
}

// statusEndpoint answers Status.Ping.
type statusEndpoint struct{}

// Ping answers.
func (statusEndpoint) Ping(ctx context.Context, args struct{}, reply *struct{}) error { return nil }

// testLogger logs to t until the test ends; later lines (from goroutines of
// libraries that outlive a session briefly) are dropped instead of failing.
func testLogger(t testing.TB) hclog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return hclog.New(&hclog.LoggerOptions{Name: t.Name(), Level: hclog.Debug, Output: w})
}

// testWriter forwards log lines to t.Log while the test runs.
type testWriter struct {
	t    testing.TB
	mu   sync.Mutex
	done bool
}

// Write logs p as one line.
func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Helper()
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// testServer is a Server with the toy endpoint registered.
type testServer struct {
	*Server
	ep   *testEndpoint
	addr string
}

// startServer starts a Server on a free loopback port.
func startServer(t testing.TB, mutate ...func(*ServerConfig)) *testServer {
	t.Helper()
	return startServerAt(t, "127.0.0.1:0", mutate...)
}

// startServerAt starts a Server on addr with the Test and Status endpoints;
// it is shut down when the test ends.
func startServerAt(t testing.TB, addr string, mutate ...func(*ServerConfig)) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	ep := &testEndpoint{addr: ln.Addr().String(), stop: make(chan struct{})}
	rs := NewDispatcher(testLogger(t))
	if err := rs.Register("Test", ep); err != nil {
		t.Fatalf("register Test: %v", err)
	}
	if err := rs.Register("Status", statusEndpoint{}); err != nil {
		t.Fatalf("register Status: %v", err)
	}
	cfg := DefaultServerConfig()
	cfg.Listener = ln
	cfg.Dispatcher = rs
	cfg.Logger = testLogger(t)
	cfg.HandshakeTimeout = time.Second
	for _, m := range mutate {
		m(cfg)
	}
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatalf("new server: %v", err)
	}
	ts := &testServer{Server: s, ep: ep, addr: ln.Addr().String()}
	// Cleanups run last-registered first: the endpoint stops sleeping
	// before Shutdown waits for its calls.
	t.Cleanup(func() {
		if err := s.Shutdown(); err != nil {
			t.Errorf("server shutdown: %v", err)
		}
	})
	t.Cleanup(ts.stopSleeps)
	return ts
}

// stopSleeps ends every Sleep call, now and later; it is idempotent.
func (ts *testServer) stopSleeps() {
	select {
	case <-ts.ep.stop:
	default:
		close(ts.ep.stop)
	}
}

// numConns is the number of connections the server holds open.
func (ts *testServer) numConns() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return len(ts.conns)
}

// newTestPool returns a pool with a FaultDialer, shut down when the test ends.
func newTestPool(t testing.TB, mutate ...func(*ConnPoolConfig)) (*ConnPool, *FaultDialer) {
	t.Helper()
	fd := NewFaultDialer(nil)
	cfg := DefaultConnPoolConfig()
	cfg.Logger = testLogger(t)
	cfg.Dial = fd.Dial
	cfg.DialTimeout = 2 * time.Second
	cfg.RPCTimeout = 5 * time.Second
	for _, m := range mutate {
		m(cfg)
	}
	p, err := NewConnPool(cfg)
	if err != nil {
		t.Fatalf("new pool: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Shutdown(); err != nil {
			t.Errorf("pool shutdown: %v", err)
		}
	})
	return p, fd
}

// waitFor polls cond every few milliseconds until it holds or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// deadAddr returns a loopback address nothing listens on (a port that was
// just free).
func deadAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	return addr
}

// echo calls Test.Echo on addr and checks the answer.
func echo(ctx context.Context, p *ConnPool, addr, msg string) error {
	var reply EchoReply
	if err := p.RPC(ctx, "dc1", tcpAddr(addr), "Test.Echo", &EchoArgs{Msg: msg}, &reply); err != nil {
		return err
	}
	if reply.Msg != msg {
		return errors.New("echo mismatch: got " + reply.Msg)
	}
	return nil
}
