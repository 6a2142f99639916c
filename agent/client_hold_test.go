package agent

import (
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// A client agent holds requests while it knows no server yet, so that the
// first requests after a start with -join do not fail; without any server
// it answers Consul's "No known Consul servers" once the hold is over.
func TestClientHoldsUntilAServerIsKnown(t *testing.T) {
	srv := StartTestAgent(t, "-server", "-bootstrap")
	srv.WaitForLeader(t)

	cl := StartTestAgent(t, `-hcl=performance { rpc_hold_timeout = "5s" }`)
	go func() {
		time.Sleep(300 * time.Millisecond) // the join comes while the request waits
		cl.Client.Agent().Join(srv.LANAddr(), false)
	}()
	if _, _, err := cl.Client.Catalog().Nodes(nil); err != nil {
		t.Fatalf("request made before the join: %v", err)
	}

	lone := StartTestAgent(t, `-hcl=performance { rpc_hold_timeout = "300ms" }`)
	start := time.Now()
	_, _, err := lone.Client.Catalog().Nodes(nil)
	var se api.StatusError
	if !errors.As(err, &se) || se.Code != 500 || se.Body != "No known Consul servers" {
		t.Fatalf("lone client: %v, want 500 No known Consul servers", err)
	}
	if waited := time.Since(start); waited < 300*time.Millisecond {
		t.Fatalf("lone client answered after %s, before its hold timeout", waited)
	}
}
