package rpc

import (
	"context"
	"net"
	netrpc "net/rpc"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/yamux"

	"github.com/meridian-sd/meridian/structs"
)

// dialProto opens a connection to the server and says proto.
func dialProto(t *testing.T, addr string, proto Protocol) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := conn.Write([]byte{byte(proto)}); err != nil {
		t.Fatalf("write protocol byte: %v", err)
	}
	return conn
}

func TestMaxConnsPerClient(t *testing.T) {
	srv := startServer(t, func(c *ServerConfig) { c.MaxConnsPerClient = 3 })
	var held []net.Conn
	for range 3 {
		held = append(held, dialProto(t, srv.addr, ProtoRPC))
	}
	waitFor(t, 5*time.Second, "three connections from 127.0.0.1", func() bool { return srv.ConnsFrom("127.0.0.1") == 3 })

	// The fourth is closed at once.
	extra, err := net.DialTimeout("tcp", srv.addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer extra.Close()
	readUntilClosed(t, extra, 5*time.Second)

	// The ones held still work.
	client := netrpc.NewClientWithCodec(NewClientCodec(held[0], nil))
	var reply EchoReply
	if err := client.Call("Test.Echo", &EchoArgs{Msg: "hi"}, &reply); err != nil || reply.Msg != "hi" {
		t.Fatalf("echo on a held connection: %q %v", reply.Msg, err)
	}
	// Once one closes, a new one is served.
	held[1].Close()
	waitFor(t, 5*time.Second, "two connections from 127.0.0.1", func() bool { return srv.ConnsFrom("127.0.0.1") == 2 })
	again := netrpc.NewClientWithCodec(NewClientCodec(dialProto(t, srv.addr, ProtoRPC), nil))
	if err := again.Call("Test.Echo", &EchoArgs{Msg: "again"}, &reply); err != nil || reply.Msg != "again" {
		t.Fatalf("echo on a new connection after one closed: %q %v", reply.Msg, err)
	}
}

func TestMaxStreamsPerConn(t *testing.T) {
	srv := startServer(t, func(c *ServerConfig) { c.MaxStreamsPerConn = 2 })
	sess, err := yamux.Client(dialProto(t, srv.addr, ProtoMultiplex), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	var streams []*yamux.Stream
	call := func(method string, args, reply any) *netrpc.Call {
		stream, err := sess.OpenStream()
		if err != nil {
			t.Fatalf("open stream: %v", err)
		}
		streams = append(streams, stream)
		t.Cleanup(func() { stream.Close() })
		c := netrpc.NewClientWithCodec(NewClientCodec(stream, nil))
		return c.Go(method, args, reply, make(chan *netrpc.Call, 1))
	}
	wait := func(c *netrpc.Call) error {
		select {
		case <-c.Done:
			return c.Error
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: no answer", c.ServiceMethod)
			return nil
		}
	}
	sleeps := []*netrpc.Call{
		call("Test.Sleep", &SleepArgs{D: time.Minute}, &struct{}{}),
		call("Test.Sleep", &SleepArgs{D: time.Minute}, &struct{}{}),
	}
	waitFor(t, 5*time.Second, "two sleeping calls", func() bool { return srv.ep.sleeping.Load() == 2 })
	if err := wait(call("Test.Echo", &EchoArgs{Msg: "third"}, &EchoReply{})); err == nil {
		t.Fatal("a third stream was served beyond MaxStreamsPerConn=2")
	}
	// Ending the sleeps and closing their streams frees the slots; the
	// session is still good.
	close(srv.ep.stop)
	for i, c := range sleeps {
		if err := wait(c); err != nil {
			t.Fatalf("sleep: %v", err)
		}
		streams[i].Close()
	}
	waitFor(t, 5*time.Second, "free streams", func() bool {
		var reply EchoReply
		return wait(call("Test.Echo", &EchoArgs{Msg: "later"}, &reply)) == nil && reply.Msg == "later"
	})
}

// panicky is an endpoint whose method panics.
type panicky struct{}

func (panicky) Boom(ctx context.Context, args *FailArgs, reply *struct{}) error {
	panic("boom: " + args.Msg)
}

func TestDispatcherRecoversAndValidates(t *testing.T) {
	srv := startServer(t)
	if err := srv.cfg.Dispatcher.Register("Panicky", panicky{}); err != nil {
		t.Fatal(err)
	}
	client := netrpc.NewClientWithCodec(NewClientCodec(dialProto(t, srv.addr, ProtoRPC), nil))
	defer client.Close()

	err := MapRemoteError(client.Call("Panicky.Boom", &FailArgs{Msg: "x"}, &struct{}{}))
	if err == nil || !strings.Contains(err.Error(), "internal error") || structs.CodeOf(err) != "" {
		t.Errorf("panicking call: got %v (code %q), want an uncoded internal error", err, structs.CodeOf(err))
	}
	if n := srv.cfg.Dispatcher.Panics(); n != 1 {
		t.Errorf("Panics() = %d, want 1", n)
	}
	err = MapRemoteError(client.Call("Test.Sleep", &SleepArgs{D: -time.Second}, &struct{}{}))
	if structs.CodeOf(err) != structs.CodeBadRequest || !strings.HasPrefix(err.Error(), "invalid sleep") {
		t.Errorf("invalid args: got %q (code %q), want the validation error with code %q", err, structs.CodeOf(err), structs.CodeBadRequest)
	}
	if srv.ep.sleeping.Load() != 0 || srv.ep.calls.Load() != 0 {
		t.Error("the endpoint ran on args that failed validation")
	}
	err = MapRemoteError(client.Call("Test.Nope", &FailArgs{}, &struct{}{}))
	if err == nil || !strings.Contains(err.Error(), "can't find method Test.Nope") {
		t.Errorf("unknown method: got %v", err)
	}
	var reply EchoReply
	if err := client.Call("Test.Echo", &EchoArgs{Msg: "still"}, &reply); err != nil || reply.Msg != "still" {
		t.Fatalf("echo on the same connection afterwards: %q %v", reply.Msg, err)
	}
	// A body that does not decode into the argument type is refused and
	// the connection, whose framing is lost, is closed.
	err = MapRemoteError(client.Call("Test.Echo", []int{1, 2, 3}, &reply))
	if structs.CodeOf(err) != structs.CodeBadRequest {
		t.Errorf("undecodable body: got %v (code %q), want a bad-request error", err, structs.CodeOf(err))
	}
}

func TestDispatcherRefusesUnvalidatedEndpoints(t *testing.T) {
	d := NewDispatcher(nil)
	if err := d.Register("Bad", &badEndpoint{}); err == nil || !strings.Contains(err.Error(), "Validator") {
		t.Errorf("register an endpoint whose args lack Validate: got %v", err)
	}
	if err := d.Register("NoCtx", &noCtxEndpoint{}); err == nil || !strings.Contains(err.Error(), "context.Context") {
		t.Errorf("register an endpoint without a context: got %v", err)
	}
}

type unvalidated struct{ A int }

type badEndpoint struct{}

func (*badEndpoint) M(ctx context.Context, args *unvalidated, reply *struct{}) error { return nil }

type noCtxEndpoint struct{}

func (*noCtxEndpoint) M(args *EchoArgs, reply *struct{}) error { return nil }

func TestMaxRequestSize(t *testing.T) {
	srv := startServer(t, func(c *ServerConfig) { c.MaxRequestSize = 4096 })
	conn := dialProto(t, srv.addr, ProtoRPC)
	client := netrpc.NewClientWithCodec(NewClientCodec(conn, nil))
	defer client.Close()
	var reply EchoReply
	// Several requests under the limit each, more than it together: the
	// allowance is per request.
	for i := range 5 {
		msg := strings.Repeat("a", 3000)
		if err := client.Call("Test.Echo", &EchoArgs{Msg: msg}, &reply); err != nil || reply.Msg != msg {
			t.Fatalf("echo %d of 3000 bytes: %v", i, err)
		}
	}
	// One over it is refused as too large, and the connection closed.
	err := MapRemoteError(client.Call("Test.Echo", &EchoArgs{Msg: strings.Repeat("b", 64<<10)}, &reply))
	if structs.CodeOf(err) != structs.CodeTooLarge || !strings.Contains(err.Error(), "4096 bytes") {
		t.Fatalf("echo of 64 KiB: got %v (code %q), want a too-large error naming the limit", err, structs.CodeOf(err))
	}
	readUntilClosed(t, conn, 5*time.Second)
	// Other connections are served.
	again := netrpc.NewClientWithCodec(NewClientCodec(dialProto(t, srv.addr, ProtoRPC), nil))
	defer again.Close()
	if err := again.Call("Test.Echo", &EchoArgs{Msg: "small"}, &reply); err != nil || reply.Msg != "small" {
		t.Fatalf("echo on a new connection: %q %v", reply.Msg, err)
	}
}
