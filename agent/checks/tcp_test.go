package checks

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// acceptAll accepts and closes connections on ln until it is closed; the
// returned function waits for that.
func acceptAll(ln net.Listener) (wait func()) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			_ = conn.Close()
		}
	}()
	return wg.Wait
}

func newTestTCP(t testing.TB, cfg TCPConfig, n Notifier) *CheckTCP {
	t.Helper()
	if cfg.CheckID == "" {
		cfg.CheckID = "tcp"
	}
	if cfg.Interval == 0 {
		cfg.Interval = 20 * time.Millisecond
	}
	if cfg.Stagger == nil {
		cfg.Stagger = noStagger
	}
	c, err := NewCheckTCP(cfg, n)
	if err != nil {
		t.Fatalf("NewCheckTCP: %v", err)
	}
	t.Cleanup(c.Stop)
	return c
}

// TestCheckTCPListenerClosedAndReopened closes the listener under a running
// check and opens it again on the same port.
func TestCheckTCPListenerClosedAndReopened(t *testing.T) {
	checkGoroutines(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	wait := acceptAll(ln)

	rec := &recorder{}
	c := newTestTCP(t, TCPConfig{TCP: addr}, rec)
	c.Start()
	u := waitForLast(t, rec, pass, "Success")
	if want := "TCP connect " + addr + ": Success"; u.Output != want || u.CheckID != "tcp" {
		t.Errorf("got %+v, want output %q", u, want)
	}

	_ = ln.Close()
	wait()
	u = waitForLast(t, rec, crit, "connection refused")
	if !strings.Contains(u.Output, addr) {
		t.Errorf("error output %q does not name %s", u.Output, addr)
	}

	// Reopen on the same port; another process could take it meanwhile,
	// so retry briefly.
	var ln2 net.Listener
	waitFor(t, "the port to be free again", func() (bool, string) {
		ln2, err = net.Listen("tcp", addr)
		return err == nil, errString(err)
	})
	wait2 := acceptAll(ln2)
	t.Cleanup(func() { _ = ln2.Close(); wait2() })
	waitForLast(t, rec, pass, "TCP connect "+addr+": Success")
}

func TestCheckTCPInjectedDialer(t *testing.T) {
	checkGoroutines(t)
	var mu sync.Mutex
	var gotNetwork, gotAddr string
	var hadDeadline bool
	dial := func(ctx context.Context, network, address string) (net.Conn, error) {
		mu.Lock()
		defer mu.Unlock()
		gotNetwork, gotAddr = network, address
		_, hadDeadline = ctx.Deadline()
		return nil, errors.New("dial tcp 127.0.0.1:9: injected failure")
	}
	rec := &recorder{}
	c := newTestTCP(t, TCPConfig{TCP: "127.0.0.1:9", Dial: dial}, rec)
	c.Start()
	u := waitForLast(t, rec, crit, "injected failure")
	if u.Output != "dial tcp 127.0.0.1:9: injected failure" {
		t.Errorf("output %q, want the dial error as it stands", u.Output)
	}
	c.Stop()
	mu.Lock()
	defer mu.Unlock()
	if gotNetwork != "tcp" || gotAddr != "127.0.0.1:9" || !hadDeadline {
		t.Errorf("dialed %s %s (deadline %v), want tcp 127.0.0.1:9 with a deadline", gotNetwork, gotAddr, hadDeadline)
	}
}

// TestCheckTCPTimeout dials through a dialer that hangs until its context
// ends: the check must report the deadline as critical.
func TestCheckTCPTimeout(t *testing.T) {
	checkGoroutines(t)
	dial := func(ctx context.Context, network, address string) (net.Conn, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	rec := &recorder{}
	c := newTestTCP(t, TCPConfig{TCP: "127.0.0.1:9", Dial: dial, Timeout: 30 * time.Millisecond, Interval: time.Hour}, rec)
	c.Start()
	waitForLast(t, rec, crit, "deadline exceeded")
}

func errString(err error) string {
	if err == nil {
		return "no error"
	}
	return err.Error()
}
