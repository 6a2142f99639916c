// Package rpc is Meridian's RPC transport: the wire protocol spoken on the
// server port, the server side that accepts it, the client connection pool,
// the stream layer Raft runs over, and the client agents' list of servers.
//
// # Wire protocol
//
// Every server listens on one TCP port (8300 by default). The first byte a
// dialer writes on a new connection names the protocol the rest of the
// connection carries:
//
//	0x01 ProtoRPC        one net/rpc connection, msgpack encoded
//	0x02 ProtoRaft       hashicorp/raft's NetworkTransport stream
//	0x03 ProtoMultiplex  a yamux session; every stream the dialer opens is
//	                     one net/rpc connection, msgpack encoded
//	0x04 ProtoTLS        a TLS session follows; inside it, the first byte is
//	                     one of the above (see tls.go)
//	0x05 ProtoSnapshot   one snapshot save or restore: a framed request, the
//	                     archive streamed one way, a framed answer (see
//	                     snapshot.go)
//
// A connection whose first byte is anything else, or that sends nothing within
// the handshake timeout, is closed.
//
// On a net/rpc connection each call is a request header (rpc.Request) followed
// by the argument, and each answer a response header (rpc.Response) followed
// by the reply, all msgpack encoded with structs.NewMsgpackHandle. An error
// returned by a remote method crosses the wire as text: a coded error
// (structs.Error: bad request, too large, ...) as "rpc-error-code=<code>: "
// and its message, any other error as its bare text (so Consul's contract
// texts such as "No cluster leader" are unchanged). MapRemoteError turns
// both back into errors the caller can test: a *structs.Error with its code,
// or the sentinel of a contract text, so that errors.Is works.
//
// The server side is a Dispatcher: it decodes each request into the
// endpoint's own argument type, validates it, and runs the method under a
// recover with a context that ends when the connection or stream does.
//
// The client side (ConnPool) keeps one yamux session per server and opens one
// stream per call, so a slow call never holds up another and a single TCP
// connection carries all of a client's traffic to one server.
package rpc

import (
	"context"
	"fmt"
	"net"
)

// Protocol is the first byte of a connection to the server port and names
// what the connection carries.
type Protocol byte

// The protocols of the server port. The values are part of the wire format:
// never renumber.
const (
	// ProtoRPC carries one msgpack net/rpc connection.
	ProtoRPC Protocol = 0x01
	// ProtoRaft carries hashicorp/raft's NetworkTransport stream.
	ProtoRaft Protocol = 0x02
	// ProtoMultiplex carries a yamux session; each stream is a msgpack
	// net/rpc connection.
	ProtoMultiplex Protocol = 0x03
	// ProtoTLS announces a TLS handshake; the real protocol byte follows
	// inside the TLS session.
	ProtoTLS Protocol = 0x04
	// ProtoSnapshot carries one snapshot save or restore (snapshot.go).
	ProtoSnapshot Protocol = 0x05
)

// String names the protocol for logs.
func (p Protocol) String() string {
	switch p {
	case ProtoRPC:
		return "rpc"
	case ProtoRaft:
		return "raft"
	case ProtoMultiplex:
		return "multiplex"
	case ProtoTLS:
		return "tls"
	case ProtoSnapshot:
		return "snapshot"
	}
	return fmt.Sprintf("Protocol(0x%02x)", byte(p))
}

// DialFunc opens a network connection. It has the shape of
// (*net.Dialer).DialContext, so a plain dialer fits, and it is the seam where
// tests inject faults (see FaultDialer).
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// defaultDial dials with a zero net.Dialer; the caller's context carries the
// timeout.
func defaultDial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

// StatusPingMethod is the method Ping calls. The server package registers it:
// it takes struct{} and replies *struct{}, and does nothing but answer.
const StatusPingMethod = "Status.Ping"

// DefaultPort is the server port's default.
const DefaultPort = 8300
