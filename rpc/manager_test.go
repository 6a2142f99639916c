package rpc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meridian-sd/meridian/structs"
)

// newTestManager returns a Manager over pool, shut down when the test ends.
func newTestManager(t *testing.T, pool *ConnPool, mutate ...func(*ManagerConfig)) *Manager {
	t.Helper()
	cfg := DefaultManagerConfig()
	cfg.Pool = pool
	cfg.Logger = testLogger(t)
	cfg.PingTimeout = time.Second
	for _, m := range mutate {
		m(cfg)
	}
	m, err := NewManager(cfg)
	if err != nil {
		t.Fatalf("new manager: %v", err)
	}
	t.Cleanup(m.Shutdown)
	return m
}

// server names a test server.
func server(name, addr string) ServerAddr {
	return ServerAddr{Name: name, ID: "id-" + name, Datacenter: "dc1", Addr: addr}
}

func TestManagerNoServers(t *testing.T) {
	p, _ := newTestPool(t)
	m := newTestManager(t, p)
	if _, ok := m.FindServer(); ok {
		t.Error("FindServer found a server in an empty list")
	}
	err := m.RPC(context.Background(), "Test.Echo", &EchoArgs{}, &EchoReply{})
	if !errors.Is(err, structs.ErrNoServers) {
		t.Errorf("RPC with no servers: got %v, want ErrNoServers", err)
	}
}

func TestManagerCyclesPastDeadServer(t *testing.T) {
	live := startServer(t)
	dead := server("dead", deadAddr(t))
	alive := server("alive", live.addr)
	p, _ := newTestPool(t)
	m := newTestManager(t, p)
	m.AddServer(dead)
	m.AddServer(alive)

	for _, args := range []any{&EchoArgs{Msg: "read"}, &SleepArgs{D: time.Millisecond}} {
		var reply EchoReply
		if err := m.RPC(context.Background(), "Test.Echo", args, &reply); err != nil {
			t.Fatalf("RPC %T: %v", args, err)
		}
		if got, _ := m.FindServer(); got != alive {
			t.Errorf("current server %v, want %v", got, alive)
		}
	}
	if got, want := m.Servers(), []ServerAddr{alive, dead}; !slices.Equal(got, want) {
		t.Errorf("servers %v, want %v", got, want)
	}
}

func TestManagerAllServersDown(t *testing.T) {
	p, fd := newTestPool(t)
	m := newTestManager(t, p)
	a, b := server("a", deadAddr(t)), server("b", deadAddr(t))
	m.AddServer(a)
	m.AddServer(b)
	err := m.RPC(context.Background(), "Test.Echo", &EchoArgs{}, &EchoReply{})
	if !IsConnError(err) {
		t.Fatalf("got %v, want a connection error", err)
	}
	if fd.Dials(a.Addr) != 1 || fd.Dials(b.Addr) != 1 {
		t.Errorf("dials a=%d b=%d, want each server tried once", fd.Dials(a.Addr), fd.Dials(b.Addr))
	}
}

func TestManagerReturnsRemoteErrorsWithoutRetry(t *testing.T) {
	s1, s2 := startServer(t), startServer(t)
	first, second := server("one", s1.addr), server("two", s2.addr)
	p, _ := newTestPool(t)
	m := newTestManager(t, p)
	m.AddServer(first)
	m.AddServer(second)

	tests := []struct {
		msg  string
		want error
	}{
		{structs.ErrNoLeader.Error(), structs.ErrNoLeader},
		{"missing node name", nil},
	}
	for _, tt := range tests {
		err := m.RPC(context.Background(), "Test.Fail", &FailArgs{Msg: tt.msg}, &struct{}{})
		if err == nil || err.Error() != tt.msg {
			t.Errorf("got %v, want %q as it is", err, tt.msg)
		}
		if tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("errors.Is(%v, %v) = false", err, tt.want)
		}
	}
	if got, _ := m.FindServer(); got != first {
		t.Errorf("current server %v after remote errors, want %v unchanged", got, first)
	}
	if n := s2.ep.calls.Load(); n != 0 {
		t.Errorf("second server got %d calls, want none", n)
	}
}

func TestManagerRetriesReadButNotWriteAfterSend(t *testing.T) {
	tests := []struct {
		name      string
		args      any
		wantRetry bool
	}{
		{"read", &EchoArgs{Msg: "r"}, true},
		{"write", &SleepArgs{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s1, s2 := startServer(t), startServer(t)
			first, second := server("one", s1.addr), server("two", s2.addr)
			p, fd := newTestPool(t)
			m := newTestManager(t, p)
			m.AddServer(first)
			m.AddServer(second)
			// Open the session to the first server, then cut it while a
			// call is on it: the request was sent, then the session broke.
			if err := echo(context.Background(), p, s1.addr, "warm"); err != nil {
				t.Fatalf("echo: %v", err)
			}
			stop := make(chan struct{})
			defer close(stop)
			go func() {
				for s1.ep.calls.Load() < 2 {
					select {
					case <-stop:
						return
					case <-time.After(time.Millisecond):
					}
				}
				fd.Block(s1.addr)
			}()
			// Test.Sleep holds the call on the server until the cut.
			args := tt.args
			if _, ok := args.(*EchoArgs); ok {
				args = &sleepRead{SleepArgs: SleepArgs{D: 5 * time.Second}}
			} else {
				args = &SleepArgs{D: 5 * time.Second}
			}
			// A retry to the second server returns at once.
			s2.stopSleeps()
			err := m.RPC(context.Background(), "Test.Sleep", args, &struct{}{})
			s1.stopSleeps()
			if tt.wantRetry {
				if err != nil {
					t.Fatalf("read: %v, want it retried on the second server", err)
				}
				if n := s2.ep.calls.Load(); n != 1 {
					t.Errorf("second server got %d calls, want 1", n)
				}
			} else {
				var ce *CallError
				if !errors.As(err, &ce) || !ce.Sent {
					t.Fatalf("write: got %v, want a sent CallError", err)
				}
				if n := s2.ep.calls.Load(); n != 0 {
					t.Errorf("second server got %d calls, want none", n)
				}
			}
			// Either way the broken server is no longer first.
			if got, _ := m.FindServer(); got != second {
				t.Errorf("current server %v, want %v", got, second)
			}
		})
	}
}

// sleepRead is Test.Sleep's argument marked as a read.
type sleepRead struct {
	SleepArgs
	structs.QueryOptions
}

// IsRead shadows the embedded WriteRequest's.
func (sleepRead) IsRead() bool { return true }

// AllowStaleRead shadows the embedded WriteRequest's.
func (sleepRead) AllowStaleRead() bool { return false }

// RequestDatacenter implements structs.RPCInfo.
func (sleepRead) RequestDatacenter() string { return "" }

func TestManagerListUpdates(t *testing.T) {
	p, _ := newTestPool(t)
	m := newTestManager(t, p)
	a, b, c := server("a", "127.0.0.1:1"), server("b", "127.0.0.1:2"), server("c", "127.0.0.1:3")
	m.AddServer(a)
	m.AddServer(b)
	m.AddServer(c)
	m.AddServer(a) // again: no duplicate

	moved := a
	moved.Addr = "127.0.0.1:11"
	m.AddServer(moved) // same ID, new address: updated in place
	if got, want := m.Servers(), []ServerAddr{moved, b, c}; !slices.Equal(got, want) {
		t.Fatalf("after adds: %v, want %v", got, want)
	}

	m.NotifyFailedServer(b) // not current: ignored
	if got, _ := m.FindServer(); got != moved {
		t.Errorf("failure of a non-current server changed the current one to %v", got)
	}
	m.NotifyFailedServer(moved)
	if got, want := m.Servers(), []ServerAddr{b, c, moved}; !slices.Equal(got, want) {
		t.Errorf("after failure: %v, want %v", got, want)
	}

	m.RemoveServer(ServerAddr{ID: c.ID}) // by ID alone
	m.RemoveServer(server("zzz", "x"))   // unknown: ignored
	if got, want := m.Servers(), []ServerAddr{b, moved}; !slices.Equal(got, want) {
		t.Errorf("after remove: %v, want %v", got, want)
	}
	if m.NumServers() != 2 {
		t.Errorf("NumServers = %d, want 2", m.NumServers())
	}

	single := newTestManager(t, p)
	single.AddServer(a)
	single.NotifyFailedServer(a)
	if got, ok := single.FindServer(); !ok || got != a {
		t.Errorf("the only server must stay current, got %v %v", got, ok)
	}
}

// blockedServers returns n servers whose addresses the dialer refuses, so
// rebalance pings fail at once.
func blockedServers(t *testing.T, fd *FaultDialer, n int) []ServerAddr {
	var list []ServerAddr
	for i := range n {
		s := server(fmt.Sprintf("s%d", i), fmt.Sprintf("127.0.0.1:%d", 10000+i))
		fd.Block(s.Addr)
		list = append(list, s)
	}
	return list
}

func TestManagerRebalanceShuffles(t *testing.T) {
	p, fd := newTestPool(t)
	m := newTestManager(t, p)
	initial := blockedServers(t, fd, 6)
	for _, s := range initial {
		m.AddServer(s)
	}
	changed := false
	// 6! orders: the chance of 30 shuffles all keeping the order is nil.
	for range 30 {
		m.RebalanceServers(context.Background())
		got := m.Servers()
		sorted := slices.SortedFunc(slices.Values(got), func(a, b ServerAddr) int { return compareName(a, b) })
		if !slices.Equal(sorted, initial) {
			t.Fatalf("rebalance changed the set of servers: %v", got)
		}
		if !slices.Equal(got, initial) {
			changed = true
		}
	}
	if !changed {
		t.Error("30 rebalances never changed the order")
	}
}

// compareName orders servers by name.
func compareName(a, b ServerAddr) int {
	switch {
	case a.Name < b.Name:
		return -1
	case a.Name > b.Name:
		return 1
	}
	return 0
}

func TestManagerRebalancePrefersLiveServer(t *testing.T) {
	live := startServer(t)
	p, fd := newTestPool(t)
	m := newTestManager(t, p)
	for _, s := range blockedServers(t, fd, 4) {
		m.AddServer(s)
	}
	alive := server("alive", live.addr)
	m.AddServer(alive)
	for range 5 {
		m.RebalanceServers(context.Background())
		if got, _ := m.FindServer(); got != alive {
			t.Fatalf("after rebalance current server is %v, want the only live one %v", got, alive)
		}
	}
}

func TestManagerRebalanceLoop(t *testing.T) {
	p, fd := newTestPool(t)
	m := newTestManager(t, p, func(c *ManagerConfig) { c.MinRebalanceInterval = 5 * time.Millisecond })
	initial := blockedServers(t, fd, 6)
	for _, s := range initial {
		m.AddServer(s)
	}
	waitFor(t, 5*time.Second, "the loop to reorder the servers", func() bool {
		return !slices.Equal(m.Servers(), initial)
	})
}

func TestManagerTriggerRebalance(t *testing.T) {
	p, fd := newTestPool(t)
	m := newTestManager(t, p) // default interval: minutes
	initial := blockedServers(t, fd, 6)
	for _, s := range initial {
		m.AddServer(s)
	}
	waitFor(t, 5*time.Second, "a triggered rebalance to reorder the servers", func() bool {
		m.TriggerRebalance()
		return !slices.Equal(m.Servers(), initial)
	})
}

func TestRebalanceInterval(t *testing.T) {
	const min = 2 * time.Minute
	tests := []struct {
		name        string
		servers     int
		clusterSize int
		lo, hi      time.Duration
	}{
		{"small cluster: floor plus jitter", 3, 10, min, min + min/2},
		{"no servers", 0, 0, min, min + min/2},
		{"large cluster: scaled", 3, 192_000, 1000 * time.Second, 1000 * time.Second},
		{"more servers: shorter", 6, 192_000, 500 * time.Second, 500 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 20 {
				got := rebalanceInterval(min, 64, tt.servers, tt.clusterSize)
				if got < tt.lo || got > tt.hi {
					t.Fatalf("interval %s, want within [%s, %s]", got, tt.lo, tt.hi)
				}
			}
		})
	}
}

func TestManagerConfigValidate(t *testing.T) {
	p, _ := newTestPool(t)
	tests := []struct {
		name   string
		mutate func(*ManagerConfig)
		want   string
	}{
		{"complete", func(*ManagerConfig) {}, ""},
		{"no pool", func(c *ManagerConfig) { c.Pool = nil }, "Pool"},
		{"no logger", func(c *ManagerConfig) { c.Logger = nil }, "Logger"},
		{"zero interval", func(c *ManagerConfig) { c.MinRebalanceInterval = 0 }, "MinRebalanceInterval"},
		{"zero rate", func(c *ManagerConfig) { c.RebalanceConnsPerSecPerServer = 0 }, "RebalanceConnsPerSecPerServer"},
		{"zero ping timeout", func(c *ManagerConfig) { c.PingTimeout = 0 }, "PingTimeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultManagerConfig()
			cfg.Pool = p
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
