package rpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	netrpc "net/rpc"
	"strings"
	"sync"
	"testing"
	"time"
)

// readUntilClosed reads from conn until the peer closes it, failing the test
// if that takes longer than timeout.
func readUntilClosed(t *testing.T, conn net.Conn, timeout time.Duration) {
	t.Helper()
	if err := conn.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		t.Fatalf("set deadline: %v", err)
	}
	_, err := io.Copy(io.Discard, conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("server did not close the connection within %s", timeout)
	}
}

func TestServerClosesUnknownProtocol(t *testing.T) {
	srv := startServer(t)
	for _, b := range []byte{0x00, 0x04, 0x7f, 0xff} {
		t.Run(Protocol(b).String(), func(t *testing.T) {
			conn, err := net.Dial("tcp", srv.addr)
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer conn.Close()
			if _, err := conn.Write([]byte{b, 0x01, 0x02}); err != nil {
				t.Fatalf("write: %v", err)
			}
			readUntilClosed(t, conn, 2*time.Second)
		})
	}
	waitFor(t, 2*time.Second, "the server to forget the connections", func() bool { return srv.numConns() == 0 })
}

func TestServerHandshakeTimeout(t *testing.T) {
	srv := startServer(t, func(c *ServerConfig) { c.HandshakeTimeout = 50 * time.Millisecond })
	conn, err := net.Dial("tcp", srv.addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	start := time.Now()
	readUntilClosed(t, conn, 2*time.Second)
	if d := time.Since(start); d < 40*time.Millisecond {
		t.Errorf("closed after %s, before the handshake timeout", d)
	}
}

func TestServerProtoRPC(t *testing.T) {
	srv := startServer(t)
	conn, err := net.Dial("tcp", srv.addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	if _, err := conn.Write([]byte{byte(ProtoRPC)}); err != nil {
		t.Fatalf("write protocol byte: %v", err)
	}
	client := netrpc.NewClientWithCodec(NewClientCodec(conn, nil))
	defer client.Close()

	// net/rpc pipelines calls on one connection; the server runs them
	// concurrently.
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := fmt.Sprintf("m%d", i)
			var reply EchoReply
			if err := client.Call("Test.Echo", &EchoArgs{Msg: msg}, &reply); err != nil {
				t.Errorf("echo %s: %v", msg, err)
			} else if reply.Msg != msg {
				t.Errorf("echo %s: got %q", msg, reply.Msg)
			}
		}()
	}
	wg.Wait()

	err = client.Call("Test.Fail", &FailArgs{Msg: "No cluster leader"}, &struct{}{})
	if got := MapRemoteError(err); got == nil || got.Error() != "No cluster leader" {
		t.Errorf("Test.Fail over ProtoRPC: got %v", got)
	}
}

func TestServerShutdownClosesConnections(t *testing.T) {
	srv := startServer(t)
	p, _ := newTestPool(t)
	if err := echo(context.Background(), p, srv.addr, "x"); err != nil {
		t.Fatalf("echo: %v", err)
	}
	idle, err := net.Dial("tcp", srv.addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer idle.Close()
	if _, err := idle.Write([]byte{byte(ProtoRPC)}); err != nil {
		t.Fatalf("write: %v", err)
	}
	waitFor(t, 2*time.Second, "two live connections", func() bool { return srv.numConns() == 2 })

	if err := srv.Shutdown(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	readUntilClosed(t, idle, 2*time.Second)
	if n := srv.numConns(); n != 0 {
		t.Errorf("%d connections left after shutdown", n)
	}
	if _, err := net.DialTimeout("tcp", srv.addr, time.Second); err == nil {
		t.Error("listener still accepts after shutdown")
	}
	if err := srv.Shutdown(); err != nil {
		t.Errorf("second shutdown: %v", err)
	}
}

func TestNewServerListensOnBindAddr(t *testing.T) {
	cfg := DefaultServerConfig()
	cfg.BindAddr = "127.0.0.1:0"
	cfg.Dispatcher = NewDispatcher(nil)
	cfg.Logger = testLogger(t)
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatalf("new server: %v", err)
	}
	defer s.Shutdown()
	if a, ok := s.Addr().(*net.TCPAddr); !ok || a.Port == 0 || !a.IP.IsLoopback() {
		t.Errorf("listening on %v, want a loopback port", s.Addr())
	}
}

func TestServerConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*ServerConfig)
		want   string
	}{
		{"complete", func(*ServerConfig) {}, ""},
		{"no dispatcher", func(c *ServerConfig) { c.Dispatcher = nil }, "Dispatcher"},
		{"no address", func(c *ServerConfig) { c.BindAddr = "" }, "BindAddr"},
		{"no logger", func(c *ServerConfig) { c.Logger = nil }, "Logger"},
		{"zero handshake", func(c *ServerConfig) { c.HandshakeTimeout = 0 }, "HandshakeTimeout"},
		{"zero backlog", func(c *ServerConfig) { c.AcceptBacklog = 0 }, "AcceptBacklog"},
		{"zero keepalive", func(c *ServerConfig) { c.KeepAliveInterval = 0 }, "KeepAliveInterval"},
		{"zero write timeout", func(c *ServerConfig) { c.WriteTimeout = 0 }, "WriteTimeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultServerConfig()
			cfg.Dispatcher = NewDispatcher(nil)
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
	if _, err := NewServer(nil); err == nil {
		t.Error("NewServer(nil) succeeded")
	}
}

func TestProtocolString(t *testing.T) {
	tests := map[Protocol]string{ProtoRPC: "rpc", ProtoRaft: "raft", ProtoMultiplex: "multiplex", 0x09: "Protocol(0x09)"}
	for p, want := range tests {
		if got := p.String(); got != want {
			t.Errorf("Protocol(%d).String() = %q, want %q", byte(p), got, want)
		}
	}
}
