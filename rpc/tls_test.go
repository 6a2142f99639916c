package rpc

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	msgpackrpc "github.com/hashicorp/net-rpc-msgpackrpc/v2"
	"github.com/hashicorp/raft"

	"github.com/meridian-sd/meridian/tlsutil"
	"github.com/meridian-sd/meridian/tlsutil/tlstest"
)

// tlsConfigurator builds a Configurator of dc1 with every check on.
func tlsConfigurator(t *testing.T, caFile, cert, key string, verifyIncoming bool) *tlsutil.Configurator {
	t.Helper()
	c, err := tlsutil.NewConfigurator(tlsutil.Config{
		Datacenter: "dc1",
		Domain:     "consul",
		InternalRPC: tlsutil.ProtocolConfig{
			CAFile: caFile, CertFile: cert, KeyFile: key,
			VerifyIncoming: verifyIncoming, VerifyOutgoing: true, VerifyServerHostname: true,
		},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// startTLSServer starts a dc1 server with verify_incoming and a Raft layer.
func startTLSServer(t *testing.T, ca *tlstest.CA) (*testServer, *RaftLayer) {
	t.Helper()
	cert, key := ca.Server("dc1")
	var layer *RaftLayer
	srv := startServer(t, func(c *ServerConfig) {
		c.TLS = tlsConfigurator(t, ca.CAFile, cert, key, true)
		layer = NewRaftLayer(c.Listener.Addr(), nil)
		c.RaftLayer = layer
	})
	t.Cleanup(func() { _ = layer.Close() })
	return srv, layer
}

func TestTLSPoolCalls(t *testing.T) {
	ca := tlstest.NewCA(t, "consul")
	srv, _ := startTLSServer(t, ca)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	t.Run("client certificate", func(t *testing.T) {
		cert, key := ca.Client("dc1")
		p, _ := newTestPool(t, func(c *ConnPoolConfig) { c.TLS = tlsConfigurator(t, ca.CAFile, cert, key, false) })
		if err := echo(ctx, p, srv.addr, "over tls"); err != nil {
			t.Fatalf("echo over TLS: %v", err)
		}
	})
	t.Run("plaintext is refused with a sentence", func(t *testing.T) {
		p, _ := newTestPool(t)
		err := echo(ctx, p, srv.addr, "plain")
		if !IsTLSRequired(err) || !strings.Contains(err.Error(), "requires TLS") {
			t.Fatalf("plaintext echo: err = %v, want the server's TLS refusal", err)
		}
		// Again, on a new connection: the refusal closed the first.
		if err := echo(ctx, p, srv.addr, "plain"); !IsTLSRequired(err) {
			t.Fatalf("second plaintext echo: err = %v", err)
		}
	})
	t.Run("plaintext net/rpc is refused too", func(t *testing.T) {
		conn, err := net.Dial("tcp", srv.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.Write([]byte{byte(ProtoRPC)}); err != nil {
			t.Fatal(err)
		}
		var reply EchoReply
		err = msgpackCall(conn, "Test.Echo", &EchoArgs{Msg: "x"}, &reply)
		if err == nil || !strings.Contains(err.Error(), "requires TLS") {
			t.Fatalf("plaintext net/rpc: err = %v", err)
		}
	})
	t.Run("certificate of another CA", func(t *testing.T) {
		other := tlstest.NewCA(t, "other")
		cert, key := other.Client("dc1")
		p, _ := newTestPool(t, func(c *ConnPoolConfig) { c.TLS = tlsConfigurator(t, other.CAFile, cert, key, false) })
		err := echo(ctx, p, srv.addr, "x")
		if err == nil || !strings.Contains(err.Error(), "TLS handshake") || !strings.Contains(err.Error(), "unknown authority") {
			t.Fatalf("echo with another CA: err = %v, want a TLS handshake failure", err)
		}
	})
	t.Run("server checked as the wrong datacenter", func(t *testing.T) {
		cert, key := ca.Client("dc2")
		p, _ := newTestPool(t, func(c *ConnPoolConfig) { c.TLS = tlsConfigurator(t, ca.CAFile, cert, key, false) })
		var reply EchoReply
		err := p.RPC(ctx, "dc2", tcpAddr(srv.addr), "Test.Echo", &EchoArgs{Msg: "x"}, &reply)
		if err == nil || !strings.Contains(err.Error(), "server.dc2.consul") {
			t.Fatalf("a dc1 server taken for dc2: err = %v, want a refusal naming server.dc2.consul", err)
		}
	})
}

// TestTLSRaft dials Raft through the layer with TLS: a dc1 server's
// certificate is handed to Raft; a client certificate, a dc2 server's
// and plaintext are not.
func TestTLSRaft(t *testing.T) {
	ca := tlstest.NewCA(t, "consul")
	srv, layer := startTLSServer(t, ca)

	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := layer.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	try := func(name string, dialTLS ClientTLS, dc string, wantOK bool) {
		t.Run(name, func(t *testing.T) {
			d := NewRaftLayer(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, nil)
			defer d.Close()
			if dialTLS != nil {
				d.UseTLS(dc, dialTLS)
			}
			out, err := d.Dial(raft.ServerAddress(srv.addr), 5*time.Second)
			if err != nil {
				if wantOK {
					t.Fatalf("dial: %v", err)
				}
				return
			}
			defer out.Close()
			if _, err := out.Write([]byte("ping")); err != nil && wantOK {
				t.Fatalf("write: %v", err)
			}
			if !wantOK {
				// The server closes the connection without handing it over.
				_ = out.SetReadDeadline(time.Now().Add(5 * time.Second))
				if _, err := out.Read(make([]byte, 1)); err == nil {
					t.Fatal("refused raft connection answered")
				}
				select {
				case c := <-accepted:
					c.Close()
					t.Fatal("refused raft connection reached raft")
				default:
				}
				return
			}
			select {
			case in := <-accepted:
				defer in.Close()
				buf := make([]byte, 4)
				if _, err := io.ReadFull(in, buf); err != nil || string(buf) != "ping" {
					t.Fatalf("raft read %q, %v", buf, err)
				}
				if _, ok := in.(*trackedConn).Conn.(*tls.Conn); !ok {
					t.Fatal("raft got a plaintext connection")
				}
			case <-time.After(5 * time.Second):
				t.Fatal("raft connection not handed over")
			}
		})
	}
	cert, key := ca.Server("dc1")
	try("dc1 server", tlsConfigurator(t, ca.CAFile, cert, key, true), "dc1", true)
	cert, key = ca.Client("dc1")
	try("client certificate", tlsConfigurator(t, ca.CAFile, cert, key, true), "dc1", false)
	cert, key = ca.Server("dc2")
	try("dc2 server", tlsConfigurator(t, ca.CAFile, cert, key, true), "dc1", false)
	try("plaintext", nil, "dc1", false)
}

// msgpackCall makes one net/rpc call on conn.
func msgpackCall(conn net.Conn, method string, args, reply any) error {
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	return msgpackrpc.CallWithCodec(NewClientCodec(conn, nil), method, args, reply)
}
