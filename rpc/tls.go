package rpc

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	netrpc "net/rpc"
	"time"

	"github.com/hashicorp/yamux"
)

// TLS on the server port
//
// A dialer that uses TLS writes ProtoTLS as the connection's first byte,
// runs the TLS handshake as the client, and then writes the real protocol
// byte (ProtoMultiplex, ProtoRaft, ...) inside the TLS session, so every
// protocol of the port can ride on TLS and a server can tell TLS from
// plaintext by one byte, as Consul's server port does.
//
// A server whose TLS settings require it (verify_incoming) refuses
// plaintext: a plaintext RPC gets one answer, an error that says the
// server requires TLS, so that the operator of the dialling agent reads a
// sentence rather than a dropped connection; plaintext Raft is closed. A
// Raft connection over TLS is handed to Raft only when ServerTLS accepts
// the peer's certificate (with verify_server_hostname, only a server of
// this datacenter).

// ServerTLS is what the Server needs to accept TLS; package tlsutil's
// Configurator provides it. Every method reads the current settings, so a
// reload applies to the next connection.
type ServerTLS interface {
	// IncomingRPCConfig is the config of the server side of the handshake.
	IncomingRPCConfig() *tls.Config
	// RPCRequireTLS reports whether plaintext connections are refused.
	RPCRequireTLS() bool
	// CheckRaftPeer accepts or refuses the peer of a Raft connection.
	CheckRaftPeer(cs tls.ConnectionState) error
}

// ClientTLS is what the ConnPool and the RaftLayer need to dial with TLS;
// package tlsutil's Configurator provides it.
type ClientTLS interface {
	// OutgoingRPCTLS reports whether dials use TLS.
	OutgoingRPCTLS() bool
	// WrapOutgoingRPC runs the client side of the handshake on conn to a
	// server of datacenter dc, within ctx; on error it closes conn.
	WrapOutgoingRPC(ctx context.Context, dc string, conn net.Conn) (net.Conn, error)
}

// ErrTLSRequired is the text a server that requires TLS answers a
// plaintext RPC with.
const ErrTLSRequired = "this server requires TLS (tls.internal_rpc.verify_incoming) and the agent connected without it: set verify_outgoing, ca_file, cert_file and key_file in the agent's tls stanza"

// dialTLS upgrades a freshly dialled connection to TLS when t asks for it:
// it writes ProtoTLS and runs the handshake for a server of dc. The caller
// then writes the real protocol byte on the returned connection. On error
// conn is closed.
func dialTLS(ctx context.Context, t ClientTLS, dc string, conn net.Conn, timeout time.Duration) (net.Conn, error) {
	if t == nil || !t.OutgoingRPCTLS() {
		return conn, nil
	}
	if err := writeProtoByte(conn, ProtoTLS, timeout); err != nil {
		_ = conn.Close()
		return nil, err
	}
	return t.WrapOutgoingRPC(ctx, dc, conn)
}

// acceptTLS applies the server's TLS settings to a connection whose first
// byte was proto. It returns the connection to serve (the TLS one for
// ProtoTLS) and the protocol it carries, or false when the connection was
// refused, in which case the caller closes conn.
func (s *Server) acceptTLS(conn net.Conn, proto Protocol) (net.Conn, Protocol, bool) {
	t := s.cfg.TLS
	if proto != ProtoTLS {
		if t != nil && t.RPCRequireTLS() && proto != ProtoRaft {
			s.logger.Warn("plaintext connection refused: this server requires TLS", "remote", conn.RemoteAddr(), "protocol", proto)
			s.refusePlaintext(conn, proto)
			return nil, 0, false
		}
		if t != nil && t.RPCRequireTLS() {
			s.logger.Warn("plaintext raft connection refused: this server requires TLS", "remote", conn.RemoteAddr())
			return nil, 0, false
		}
		return conn, proto, true
	}
	if t == nil {
		s.logger.Warn("TLS connection refused: TLS is not configured on this server", "remote", conn.RemoteAddr())
		return nil, 0, false
	}
	tc := tls.Server(conn, t.IncomingRPCConfig())
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.HandshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		s.logger.Warn("TLS handshake failed", "remote", conn.RemoteAddr(), "error", err)
		return nil, 0, false
	}
	var buf [1]byte
	if err := tc.SetReadDeadline(time.Now().Add(s.cfg.HandshakeTimeout)); err != nil {
		return nil, 0, false
	}
	if _, err := io.ReadFull(tc, buf[:]); err != nil {
		s.logger.Warn("failed to read protocol byte after TLS handshake", "remote", conn.RemoteAddr(), "error", err)
		return nil, 0, false
	}
	if err := tc.SetReadDeadline(time.Time{}); err != nil {
		return nil, 0, false
	}
	inner := Protocol(buf[0])
	switch inner {
	case ProtoTLS:
		s.logger.Warn("TLS inside TLS refused", "remote", conn.RemoteAddr())
		return nil, 0, false
	case ProtoRaft:
		if err := t.CheckRaftPeer(tc.ConnectionState()); err != nil {
			s.logger.Warn("raft connection refused", "remote", conn.RemoteAddr(), "error", err)
			return nil, 0, false
		}
	}
	return tc, inner, true
}

// refusePlaintext answers the first RPC of a refused plaintext connection
// with ErrTLSRequired, so that the dialling agent can say why it failed,
// and returns; the caller closes the connection. What the peer can make the
// server hold is bounded: one stream, a few KiB, HandshakeTimeout.
func (s *Server) refusePlaintext(conn net.Conn, proto Protocol) {
	deadline := time.Now().Add(s.cfg.HandshakeTimeout)
	if err := conn.SetDeadline(deadline); err != nil {
		return
	}
	var rw io.ReadWriteCloser = conn
	if proto == ProtoMultiplex {
		cfg := *s.mux
		cfg.AcceptBacklog = 1
		sess, err := yamux.Server(conn, &cfg)
		if err != nil {
			return
		}
		defer sess.Close()
		type accepted struct {
			st  *yamux.Stream
			err error
		}
		ch := make(chan accepted, 1)
		go func() {
			st, err := sess.AcceptStream()
			ch <- accepted{st, err}
		}()
		var a accepted
		select {
		case a = <-ch:
		case <-time.After(time.Until(deadline)):
			_ = sess.Close()
			a = <-ch
		}
		if a.err != nil {
			return
		}
		_ = a.st.SetDeadline(deadline)
		rw = a.st
	} else if proto != ProtoRPC {
		return
	}
	codec := NewServerCodec(limitedRWC{r: io.LimitReader(rw, 4096), ReadWriteCloser: rw}, s.handle)
	var req netrpc.Request
	if err := codec.ReadRequestHeader(&req); err != nil {
		return
	}
	resp := &netrpc.Response{ServiceMethod: req.ServiceMethod, Seq: req.Seq, Error: ErrTLSRequired}
	if err := codec.WriteResponse(resp, struct{}{}); err != nil {
		return
	}
	// Wait (bounded) for the peer to hang up, so that closing does not
	// reset the connection before the answer is read.
	_, _ = io.Copy(io.Discard, io.LimitReader(rw, 64<<10))
}

// limitedRWC reads through r and writes and closes through the embedded
// connection.
type limitedRWC struct {
	r io.Reader
	io.ReadWriteCloser
}

func (l limitedRWC) Read(p []byte) (int, error) { return l.r.Read(p) }

// IsTLSRequired reports whether err is a server's refusal of a plaintext
// connection.
func IsTLSRequired(err error) bool {
	var se netrpc.ServerError
	return errors.As(err, &se) && string(se) == ErrTLSRequired
}
