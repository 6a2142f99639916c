package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	netrpc "net/rpc"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/meridian-sd/meridian/rpc"
	"github.com/meridian-sd/meridian/structs"
)

// foreignClient is what anyone who can reach the server port can do: dial
// it, say ProtoRPC, and speak msgpack net/rpc with any body.
type foreignClient struct {
	conn   net.Conn
	client *netrpc.Client
}

func dialForeign(t testing.TB, s *Server) *foreignClient {
	t.Helper()
	conn, err := net.DialTimeout("tcp", s.RPCAddr().String(), 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", s.RPCAddr(), err)
	}
	if _, err := conn.Write([]byte{byte(rpc.ProtoRPC)}); err != nil {
		t.Fatalf("write protocol byte: %v", err)
	}
	c := &foreignClient{conn: conn, client: netrpc.NewClientWithCodec(rpc.NewClientCodec(conn, nil))}
	t.Cleanup(func() { c.client.Close() })
	return c
}

// call makes one call with a deadline and maps the remote error as the
// connection pool does.
func (c *foreignClient) call(t testing.TB, method string, args, reply any) error {
	t.Helper()
	call := c.client.Go(method, args, reply, make(chan *netrpc.Call, 1))
	select {
	case <-call.Done:
		return rpc.MapRemoteError(call.Error)
	case <-time.After(15 * time.Second):
		t.Fatalf("%s: no answer within 15s", method)
		return nil
	}
}

// TestNilCheckEntryDoesNotKillServers is the crash of issue 9: a
// Catalog.Register whose Checks list holds a null entry, sent raw to a
// follower (which used to forward it to the leader) and to the leader,
// killed the leader with a nil dereference. Now the request is refused as
// bad input by whichever server gets it, and every server lives on.
func TestNilCheckEntryDoesNotKillServers(t *testing.T) {
	servers := startCluster(t, "dc1", 3)
	leader := waitForLeader(t, servers)
	var follower *Server
	for _, s := range servers {
		if s != leader {
			follower = s
			break
		}
	}
	bad := []*structs.RegisterRequest{
		{Datacenter: "dc1", Node: "evil", Address: "10.0.0.66", Checks: structs.HealthChecks{nil}},
		{Datacenter: "dc1", Node: "evil", Address: "10.0.0.66", Checks: structs.HealthChecks{{CheckID: "ok"}, nil}},
		{Node: "evil", Address: "10.0.0.66", Check: &structs.HealthCheck{CheckID: "c"}, Checks: structs.HealthChecks{nil, nil}},
	}
	for _, target := range []*Server{follower, leader} {
		c := dialForeign(t, target)
		for i, req := range bad {
			err := c.call(t, "Catalog.Register", req, &struct{}{})
			if structs.CodeOf(err) != structs.CodeBadRequest {
				t.Fatalf("request %d to %s: got %v (code %q), want a bad-request error", i, target.NodeName(), err, structs.CodeOf(err))
			}
			if !strings.Contains(err.Error(), "check is null") {
				t.Errorf("request %d: error %q does not say that a check is null", i, err)
			}
		}
		// The same connection still serves.
		if err := c.call(t, "Status.Ping", struct{}{}, &struct{}{}); err != nil {
			t.Fatalf("ping %s after the bad requests: %v", target.NodeName(), err)
		}
	}
	for _, s := range servers {
		if p := s.Stats()["rpc"]["rpc_panics"]; p != "0" {
			t.Errorf("%s counted %s panics, want 0 (validation should refuse first)", s.NodeName(), p)
		}
	}
	// Every server still runs and a leader exists (on a loaded machine an
	// election may happen anyway; a dead leader would show as a server
	// that is shut down, or as no leader at all).
	for _, s := range servers {
		if s.ctx.Err() != nil {
			t.Fatalf("%s shut down", s.NodeName())
		}
	}
	if now := waitForLeader(t, servers); now != leader {
		t.Logf("leader changed from %s to %s", leader.NodeName(), now.NodeName())
	}
	// A normal write through the follower still works.
	good := &structs.RegisterRequest{Datacenter: "dc1", Node: "fine", Address: "10.0.0.7",
		Checks: structs.HealthChecks{{CheckID: "c1", Status: structs.HealthPassing}}}
	waitFor(t, "a register and a read after the bad requests", 15*time.Second, func() error {
		if err := follower.RPC("Catalog.Register", good, &struct{}{}); err != nil {
			return fmt.Errorf("register: %w", err)
		}
		var out structs.IndexedHealthChecks
		if err := follower.RPC("Health.NodeChecks", &structs.NodeSpecificRequest{Datacenter: "dc1", Node: "fine"}, &out); err != nil || len(out.HealthChecks) != 1 {
			return fmt.Errorf("node checks of the registered node: %v %v, want one check", out.HealthChecks, err)
		}
		return nil
	})
}

// TestCodedErrorsCrossForwarding checks that a bad-input error made by the
// leader reaches a foreign client through a follower with its code and its
// exact text, and that contract texts cross unchanged.
func TestCodedErrorsCrossForwarding(t *testing.T) {
	servers := startCluster(t, "dc1", 3)
	leader := waitForLeader(t, servers)
	var follower *Server
	for _, s := range servers {
		if s != leader {
			follower = s
			break
		}
	}
	c := dialForeign(t, follower)
	// An empty service name is refused by the endpoint on the leader,
	// after forwarding.
	req := &structs.RegisterRequest{Datacenter: "dc1", Node: "n1", Address: "10.0.0.1", Service: &structs.NodeService{Port: 80}}
	err := c.call(t, "Catalog.Register", req, &struct{}{})
	if structs.CodeOf(err) != structs.CodeBadRequest || err.Error() != "missing service name" {
		t.Errorf("got %q (code %q), want %q with code %q", err, structs.CodeOf(err), "missing service name", structs.CodeBadRequest)
	}
	// In-process calls see the same code.
	err = follower.RPC("Catalog.Register", req, &struct{}{})
	if structs.CodeOf(err) != structs.CodeBadRequest || err.Error() != "missing service name" {
		t.Errorf("in-process: got %q (code %q), want %q with code %q", err, structs.CodeOf(err), "missing service name", structs.CodeBadRequest)
	}
	err = c.call(t, "Catalog.ListNodes", &structs.DCSpecificRequest{Datacenter: "nowhere"}, &structs.IndexedNodes{})
	if !errors.Is(err, structs.ErrNoDCPath) || err.Error() != structs.ErrNoDCPath.Error() || structs.CodeOf(err) != "" {
		t.Errorf("unknown dc: got %q (code %q), want exactly %q without a code", err, structs.CodeOf(err), structs.ErrNoDCPath)
	}
	err = c.call(t, "Catalog.ListNodes", &structs.DCSpecificRequest{Datacenter: "no/such dc"}, &structs.IndexedNodes{})
	if structs.CodeOf(err) != structs.CodeBadRequest {
		t.Errorf("invalid dc name: got %v (code %q), want a bad-request error", err, structs.CodeOf(err))
	}
}

// boom is an endpoint whose method panics, standing for any bug an input
// might hit.
type boom struct{}

type boomArgs struct{ Nil *structs.HealthCheck }

func (a *boomArgs) Validate() error { return nil }

// Panic dereferences a nil pointer.
func (boom) Panic(ctx context.Context, args *boomArgs, reply *struct{}) error {
	_ = args.Nil.CheckID
	return nil
}

// TestPanicFailsOnlyTheCall checks the last line of defence: a method that
// panics fails that call with an error, the panic is counted, and the
// connection and the server go on.
func TestPanicFailsOnlyTheCall(t *testing.T) {
	s := startCluster(t, "dc1", 1)[0]
	waitForLeader(t, []*Server{s})
	if err := s.dispatcher.Register("Boom", boom{}); err != nil {
		t.Fatal(err)
	}
	c := dialForeign(t, s)
	for i := 1; i <= 3; i++ {
		err := c.call(t, "Boom.Panic", &boomArgs{}, &struct{}{})
		if err == nil || !strings.Contains(err.Error(), "internal error") {
			t.Fatalf("call %d: got %v, want an internal error", i, err)
		}
		if got, want := s.Stats()["rpc"]["rpc_panics"], strconv.Itoa(i); got != want {
			t.Errorf("rpc_panics = %s after %d panics", got, i)
		}
	}
	if err := c.call(t, "Status.Ping", struct{}{}, &struct{}{}); err != nil {
		t.Fatalf("ping on the same connection after the panics: %v", err)
	}
	// In-process calls are covered too.
	if err := s.RPC("Boom.Panic", &boomArgs{}, &struct{}{}); err == nil || !strings.Contains(err.Error(), "internal error") {
		t.Fatalf("in-process call: got %v, want an internal error", err)
	}
	if err := s.RPC("Catalog.Register", &structs.RegisterRequest{Node: "n", Address: "10.0.0.1"}, &struct{}{}); err != nil {
		t.Fatalf("register after the panics: %v", err)
	}
}
