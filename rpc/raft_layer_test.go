package rpc

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// startRaftServer starts a Server whose Raft connections go to a new layer.
func startRaftServer(t *testing.T) (*testServer, *RaftLayer) {
	t.Helper()
	var layer *RaftLayer
	srv := startServer(t, func(c *ServerConfig) {
		ln := c.Listener
		layer = NewRaftLayer(ln.Addr(), nil)
		c.RaftLayer = layer
	})
	t.Cleanup(func() { _ = layer.Close() })
	return srv, layer
}

func TestRaftLayerDialAccept(t *testing.T) {
	srv, layer := startRaftServer(t)
	dialer := NewRaftLayer(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, nil)
	defer dialer.Close()

	out, err := dialer.Dial(raft.ServerAddress(srv.addr), time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer out.Close()
	if _, err := out.Write([]byte("ping")); err != nil {
		t.Fatalf("write: %v", err)
	}

	in, err := layer.Accept()
	if err != nil {
		t.Fatalf("accept: %v", err)
	}
	defer in.Close()
	buf := make([]byte, 4)
	if _, err := io.ReadFull(in, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("server read %q, %v; want \"ping\" (the protocol byte consumed)", buf, err)
	}
	if _, err := in.Write([]byte("pong")); err != nil {
		t.Fatalf("server write: %v", err)
	}
	if _, err := io.ReadFull(out, buf); err != nil || string(buf) != "pong" {
		t.Fatalf("client read %q, %v; want \"pong\"", buf, err)
	}
	if layer.Addr().String() != srv.addr {
		t.Errorf("layer advertises %v, want %s", layer.Addr(), srv.addr)
	}

	// Server shutdown closes handed-off connections too.
	if err := srv.Shutdown(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	readUntilClosed(t, out.(net.Conn), 2*time.Second)
}

func TestRaftLayerClosed(t *testing.T) {
	srv, layer := startRaftServer(t)
	if err := layer.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if _, err := layer.Accept(); !errors.Is(err, ErrRaftLayerClosed) {
		t.Errorf("accept on a closed layer: got %v, want ErrRaftLayerClosed", err)
	}
	// Raft connections to a server whose layer is closed are dropped.
	out, err := NewRaftLayer(nil, nil).Dial(raft.ServerAddress(srv.addr), time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer out.Close()
	readUntilClosed(t, out, 2*time.Second)
}

func TestRaftLayerDialFault(t *testing.T) {
	srv, _ := startRaftServer(t)
	fd := NewFaultDialer(nil)
	fd.Block(srv.addr)
	layer := NewRaftLayer(nil, fd.Dial)
	if _, err := layer.Dial(raft.ServerAddress(srv.addr), time.Second); err == nil {
		t.Fatal("dial through a blocked address succeeded")
	}
	if fd.Dials(srv.addr) != 1 {
		t.Errorf("injected dialer used %d times, want 1", fd.Dials(srv.addr))
	}
}

// TestRaftLayerNetworkTransport runs a Raft AppendEntries round trip between
// two NetworkTransports, the way the server package wires them.
func TestRaftLayerNetworkTransport(t *testing.T) {
	srv, layer := startRaftServer(t)
	logger := testLogger(t)
	transA := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: layer, MaxPool: 2, Timeout: 2 * time.Second, Logger: logger.Named("a"),
	})
	defer transA.Close()
	// B only dials; its own server is not needed.
	transB := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: NewRaftLayer(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}, nil), MaxPool: 2, Timeout: 2 * time.Second, Logger: logger.Named("b"),
	})
	defer transB.Close()

	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case rpc := <-transA.Consumer():
			req, ok := rpc.Command.(*raft.AppendEntriesRequest)
			if !ok {
				rpc.Respond(nil, errors.New("unexpected command"))
				return
			}
			rpc.Respond(&raft.AppendEntriesResponse{Term: req.Term + 1, Success: true}, nil)
		case <-done:
		}
	}()

	args := raft.AppendEntriesRequest{
		RPCHeader: raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("b")},
		Term:      7,
	}
	var resp raft.AppendEntriesResponse
	if err := transB.AppendEntries("a", raft.ServerAddress(srv.addr), &args, &resp); err != nil {
		t.Fatalf("append entries: %v", err)
	}
	if resp.Term != 8 || !resp.Success {
		t.Errorf("response %+v, want term 8 and success", resp)
	}
}

func TestServerShutdownWithPendingRaftHandoff(t *testing.T) {
	srv, _ := startRaftServer(t) // nobody calls Accept
	out, err := NewRaftLayer(nil, nil).Dial(raft.ServerAddress(srv.addr), time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer out.Close()
	waitFor(t, 2*time.Second, "the server to hold the raft connection", func() bool { return srv.numConns() == 1 })
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("shutdown: %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("shutdown hung on a raft connection nobody accepted")
	}
	readUntilClosed(t, out, 2*time.Second)
}

func TestServerWithoutRaftLayerClosesRaftConns(t *testing.T) {
	srv := startServer(t)
	out, err := NewRaftLayer(nil, nil).Dial(raft.ServerAddress(srv.addr), time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer out.Close()
	readUntilClosed(t, out, 2*time.Second)
}
