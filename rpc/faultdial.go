package rpc

import (
	"context"
	"fmt"
	"net"
	"sync"
	"syscall"
)

// FaultDialer is a DialFunc wrapper for tests that cut servers off: while an
// address is blocked, dials to it fail at once as if refused, and blocking it
// closes the connections already made to it. It is safe for concurrent use.
// Use its Dial method as ConnPoolConfig.Dial or NewRaftLayer's dialer.
type FaultDialer struct {
	next DialFunc

	mu      sync.Mutex
	blocked map[string]bool
	conns   map[string]map[net.Conn]struct{}
	dials   map[string]int
}

// NewFaultDialer wraps next; a nil next means a plain TCP dialer.
func NewFaultDialer(next DialFunc) *FaultDialer {
	if next == nil {
		next = defaultDial
	}
	return &FaultDialer{
		next:    next,
		blocked: make(map[string]bool),
		conns:   make(map[string]map[net.Conn]struct{}),
		dials:   make(map[string]int),
	}
}

// Dial dials addr unless it is blocked. It has the DialFunc signature.
func (f *FaultDialer) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	f.mu.Lock()
	f.dials[addr]++
	blocked := f.blocked[addr]
	f.mu.Unlock()
	if blocked {
		return nil, fmt.Errorf("dial %s %s: fault injected: %w", network, addr, syscall.ECONNREFUSED)
	}
	conn, err := f.next(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.blocked[addr] {
		_ = conn.Close()
		return nil, fmt.Errorf("dial %s %s: fault injected: %w", network, addr, syscall.ECONNREFUSED)
	}
	if f.conns[addr] == nil {
		f.conns[addr] = make(map[net.Conn]struct{})
	}
	fc := &faultConn{Conn: conn, f: f, addr: addr}
	f.conns[addr][fc] = struct{}{}
	return fc, nil
}

// Block makes addr unreachable and closes the connections open to it.
func (f *FaultDialer) Block(addr string) {
	f.mu.Lock()
	f.blocked[addr] = true
	conns := f.conns[addr]
	delete(f.conns, addr)
	f.mu.Unlock()
	for c := range conns {
		_ = c.(*faultConn).Conn.Close()
	}
}

// Unblock makes addr reachable again.
func (f *FaultDialer) Unblock(addr string) {
	f.mu.Lock()
	delete(f.blocked, addr)
	f.mu.Unlock()
}

// Dials is how many times addr was dialed, blocked or not.
func (f *FaultDialer) Dials(addr string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.dials[addr]
}

// faultConn forgets itself in its FaultDialer when closed.
type faultConn struct {
	net.Conn
	f    *FaultDialer
	addr string
	once sync.Once
}

// Close closes the connection and forgets it.
func (c *faultConn) Close() error {
	c.once.Do(func() {
		c.f.mu.Lock()
		delete(c.f.conns[c.addr], c)
		c.f.mu.Unlock()
	})
	return c.Conn.Close()
}
