package rpc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// ErrRaftLayerClosed is returned by RaftLayer.Accept and Handoff once the
// layer is closed.
var ErrRaftLayerClosed = errors.New("raft layer closed")

// RaftLayer is the raft.StreamLayer that lets Raft share the server port.
// Inbound connections arrive from the Server, which hands over every
// connection whose first byte is ProtoRaft; outbound ones are dialed here and
// start by writing that byte. The server package builds Raft's transport on
// it:
//
//	layer := rpc.NewRaftLayer(advertiseAddr, nil)
//	trans := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
//		Stream: layer, MaxPool: 3, Timeout: 10 * time.Second, Logger: logger,
//	})
//
// and passes the same layer as ServerConfig.RaftLayer. Raft's transport closes
// the layer when it shuts down.
type RaftLayer struct {
	addr   net.Addr
	dial   DialFunc
	connCh chan net.Conn
	// tls and dc, when set by UseTLS, make dials TLS to servers of dc.
	tls ClientTLS
	dc  string

	closeOnce sync.Once
	closeCh   chan struct{}
}

var _ raft.StreamLayer = (*RaftLayer)(nil)

// NewRaftLayer returns a layer that advertises addr (the address other servers
// dial to reach this one's Raft, which Raft sends to its peers) and dials with
// dial; a nil dial means a plain TCP dialer.
func NewRaftLayer(addr net.Addr, dial DialFunc) *RaftLayer {
	if dial == nil {
		dial = defaultDial
	}
	return &RaftLayer{
		addr:    addr,
		dial:    dial,
		connCh:  make(chan net.Conn),
		closeCh: make(chan struct{}),
	}
}

// UseTLS makes Dial use TLS when t asks for it, checking the peer as a
// server of datacenter dc (this server's own: Raft never leaves it). Call
// it before Raft starts.
func (l *RaftLayer) UseTLS(dc string, t ClientTLS) {
	l.dc, l.tls = dc, t
}

// Handoff passes an inbound Raft connection, its protocol byte already read,
// to whoever is blocked in Accept. It waits until the connection is taken,
// the layer is closed, or ctx ends; on error the caller still owns conn.
func (l *RaftLayer) Handoff(ctx context.Context, conn net.Conn) error {
	select {
	case l.connCh <- conn:
		return nil
	case <-l.closeCh:
		return ErrRaftLayerClosed
	case <-ctx.Done():
		return fmt.Errorf("raft handoff abandoned: %w", ctx.Err())
	}
}

// Accept waits for the next inbound Raft connection.
func (l *RaftLayer) Accept() (net.Conn, error) {
	select {
	case conn := <-l.connCh:
		return conn, nil
	case <-l.closeCh:
		return nil, ErrRaftLayerClosed
	}
}

// Close stops Accept and Handoff. It does not close connections already
// accepted; Raft's transport owns those. Close is idempotent.
func (l *RaftLayer) Close() error {
	l.closeOnce.Do(func() { close(l.closeCh) })
	return nil
}

// Addr is the advertised address of this server's Raft.
func (l *RaftLayer) Addr() net.Addr { return l.addr }

// Dial connects to the Raft of the server at address within timeout and
// announces the protocol by writing ProtoRaft.
func (l *RaftLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx := context.Background()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	conn, err := l.dial(ctx, "tcp", string(address))
	if err != nil {
		return nil, fmt.Errorf("raft dial %s: %w", address, err)
	}
	if conn, err = dialTLS(ctx, l.tls, l.dc, conn, timeout); err != nil {
		return nil, fmt.Errorf("raft dial %s: %w", address, err)
	}
	if err := writeProtoByte(conn, ProtoRaft, timeout); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("raft dial %s: %w", address, err)
	}
	return conn, nil
}

// writeProtoByte writes the protocol byte within timeout (no limit if zero)
// and clears the write deadline again.
func writeProtoByte(conn net.Conn, p Protocol, timeout time.Duration) error {
	if timeout > 0 {
		if err := conn.SetWriteDeadline(time.Now().Add(timeout)); err != nil {
			return fmt.Errorf("set write deadline: %w", err)
		}
	}
	if _, err := conn.Write([]byte{byte(p)}); err != nil {
		return fmt.Errorf("write protocol byte: %w", err)
	}
	if timeout > 0 {
		if err := conn.SetWriteDeadline(time.Time{}); err != nil {
			return fmt.Errorf("clear write deadline: %w", err)
		}
	}
	return nil
}
