package agent

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// eventNames lists the names of an agent's events with their payloads.
func eventList(t *testing.T, c *api.Client, name string, q *api.QueryOptions) ([]*api.UserEvent, *api.QueryMeta) {
	t.Helper()
	evs, meta, err := c.Event().List(name, q)
	if err != nil {
		t.Fatalf("event list: %v", err)
	}
	return evs, meta
}

// hasEvent reports whether id is in the agent's list.
func hasEvent(c *api.Client, id string) error {
	evs, _, err := c.Event().List("", nil)
	if err != nil {
		return err
	}
	for _, e := range evs {
		if e.ID == id {
			return nil
		}
	}
	return fmt.Errorf("event %s not among %d events", id, len(evs))
}

// TestEventFireAndList fires events from a client agent through the
// official client and finds them in the list of every agent they select:
// no filter reaches both, a service and tag filter only the agent with a
// matching service, a node filter only that node.
func TestEventFireAndList(t *testing.T) {
	srv := StartTestAgent(t, "-server", "-bootstrap", "-node=ev-srv")
	srv.WaitForLeader(t)
	cl := StartTestAgent(t, "-node=ev-cl", "-join="+srv.LANAddr())
	WaitFor(t, "the client to know a server", 10*time.Second, func() error {
		_, err := cl.Client.Catalog().Datacenters()
		return err
	})
	if err := cl.Client.Agent().ServiceRegister(&api.AgentServiceRegistration{Name: "web", Tags: []string{"canary", "v2"}}); err != nil {
		t.Fatal(err)
	}

	// Unfiltered: every agent, payload intact.
	id, _, err := cl.Client.Event().Fire(&api.UserEvent{Name: "deploy", Payload: []byte("v1.2.3")}, nil)
	if err != nil {
		t.Fatalf("fire: %v", err)
	}
	for _, ta := range []*TestAgent{srv, cl} {
		WaitFor(t, "the event on "+ta.Name, 10*time.Second, func() error { return hasEvent(ta.Client, id) })
		evs, meta := eventList(t, ta.Client, "deploy", nil)
		last := evs[len(evs)-1]
		if last.ID != id || string(last.Payload) != "v1.2.3" || last.Version != 1 || last.LTime == 0 {
			t.Errorf("%s: last event %+v", ta.Name, last)
		}
		if want := ta.Client.Event().IDToIndex(id); meta.LastIndex != want {
			t.Errorf("%s: X-Consul-Index %d, want %d from the ID", ta.Name, meta.LastIndex, want)
		}
	}

	// Filtered by service and tag: only the client has web with canary.
	svcID, _, err := srv.Client.Event().Fire(&api.UserEvent{Name: "restart", ServiceFilter: "^web$", TagFilter: "^can"}, nil)
	if err != nil {
		t.Fatalf("fire filtered: %v", err)
	}
	// Filtered by node: only the server.
	nodeID, _, err := cl.Client.Event().Fire(&api.UserEvent{Name: "restart", NodeFilter: "^ev-srv$"}, nil)
	if err != nil {
		t.Fatalf("fire node filtered: %v", err)
	}
	WaitFor(t, "the service event on the client", 10*time.Second, func() error { return hasEvent(cl.Client, svcID) })
	WaitFor(t, "the node event on the server", 10*time.Second, func() error { return hasEvent(srv.Client, nodeID) })
	// A later unfiltered event has reached everybody once it shows on the
	// server, so the filtered ones would have too.
	markID, _, err := cl.Client.Event().Fire(&api.UserEvent{Name: "mark"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, ta := range []*TestAgent{srv, cl} {
		WaitFor(t, "the mark event on "+ta.Name, 10*time.Second, func() error { return hasEvent(ta.Client, markID) })
	}
	if hasEvent(srv.Client, svcID) == nil {
		t.Error("the server, without a web service, kept the service-filtered event")
	}
	if hasEvent(cl.Client, nodeID) == nil {
		t.Error("the client kept the event filtered to the server's node")
	}
	// ?name keeps only that name.
	evs, _ := eventList(t, cl.Client, "restart", nil)
	if len(evs) != 1 || evs[0].ID != svcID {
		t.Errorf("restart events on the client: %+v", evs)
	}
}

// TestEventListBlocks checks the blocking list: a query at the current
// index returns when a new event arrives, with the new index; one at an
// index with no new event waits its ?wait.
func TestEventListBlocks(t *testing.T) {
	ta := StartTestAgent(t, "-server", "-bootstrap")
	ta.WaitForLeader(t)
	evs, meta := eventList(t, ta.Client, "", nil)
	if len(evs) != 0 || meta.LastIndex != 1 {
		t.Fatalf("empty list: %d events, index %d, want none at index 1", len(evs), meta.LastIndex)
	}
	type result struct {
		evs  []*api.UserEvent
		meta *api.QueryMeta
		err  error
	}
	done := make(chan result, 1)
	go func() {
		evs, meta, err := ta.Client.Event().List("", &api.QueryOptions{WaitIndex: 1, WaitTime: 30 * time.Second})
		done <- result{evs, meta, err}
	}()
	// The query is waiting (it would have answered at once otherwise)
	// when the event is fired; firing it right away is fine as well.
	id, _, err := ta.Client.Event().Fire(&api.UserEvent{Name: "wake"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatal(r.err)
		}
		if len(r.evs) != 1 || r.evs[0].ID != id || r.meta.LastIndex != ta.Client.Event().IDToIndex(id) {
			t.Fatalf("blocking list returned %+v at index %d", r.evs, r.meta.LastIndex)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the blocking list did not return after a new event")
	}
	index := ta.Client.Event().IDToIndex(id)
	start := time.Now()
	_, meta, err = ta.Client.Event().List("", &api.QueryOptions{WaitIndex: index, WaitTime: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < 300*time.Millisecond || meta.LastIndex != index {
		t.Fatalf("a query at the current index returned after %s at index %d, want a 300ms wait at %d", waited, meta.LastIndex, index)
	}
}

// TestEventFireBadInput: each mistake is a 400 with a sentence, and
// nothing is fired.
func TestEventFireBadInput(t *testing.T) {
	ta := StartTestAgent(t, "-server", "-bootstrap")
	ta.WaitForLeader(t)
	for _, tt := range []struct {
		name string
		ev   *api.UserEvent
		want string
	}{
		{"too large", &api.UserEvent{Name: "big", Payload: []byte(strings.Repeat("x", 600))}, "too large"},
		{"just too large", &api.UserEvent{Name: "big", Payload: []byte(strings.Repeat("x", 400))}, "more than the 512 bytes"},
		{"tag without service", &api.UserEvent{Name: "t", TagFilter: "x"}, "without a service filter"},
		{"bad node regexp", &api.UserEvent{Name: "t", NodeFilter: "("}, "Invalid node filter"},
		{"bad service regexp", &api.UserEvent{Name: "t", ServiceFilter: "[a"}, "Invalid service filter"},
		{"no name", &api.UserEvent{Name: ""}, "Missing name"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := ta.Client.Event().Fire(tt.ev, nil)
			wantStatus(t, "fire", err, http.StatusBadRequest, tt.want)
		})
	}
	// At the limit: the largest payload the agent accepts is also
	// accepted by serf (the agent's sentence, not serf's, refuses the
	// next size up).
	for n := 250; ; n++ {
		_, _, err := ta.Client.Event().Fire(&api.UserEvent{Name: "edge", Payload: []byte(strings.Repeat("e", n))}, nil)
		if err != nil {
			if n == 250 {
				t.Fatalf("a 250-byte payload was refused: %v", err)
			}
			wantStatus(t, fmt.Sprintf("fire %d bytes", n), err, http.StatusBadRequest, "more than the 512 bytes")
			break
		}
	}
	// A payload of 100 bytes, the documented guideline, goes through.
	id, _, err := ta.Client.Event().Fire(&api.UserEvent{Name: "ok", Payload: []byte(strings.Repeat("y", 100)),
		NodeFilter: ".*", ServiceFilter: ".*", TagFilter: ".*"}, nil)
	if err != nil {
		t.Fatalf("a 100-byte payload with filters: %v", err)
	}
	if ta.Client.Event().IDToIndex(id) == 0 {
		t.Fatal("zero index")
	}
	evs, _ := eventList(t, ta.Client, "", nil)
	for _, e := range evs {
		if e.Name != "ok" && e.Name != "edge" {
			t.Errorf("a refused event was fired: %+v", e)
		}
	}
}

// TestEventACL: firing needs event:write on the name, and the list keeps
// only the events the token may read.
func TestEventACL(t *testing.T) {
	const root = "0b1c2d3e-4f50-4162-8374-859607a8b9c0"
	ta := startACLAgent(t, "-hcl=acl { tokens { initial_management = \""+root+"\" } }")
	mc := withToken(t, ta, root)
	pol, _, err := mc.ACL().PolicyCreate(&api.ACLPolicy{Name: "ev", Rules: `event_prefix "app-" { policy = "write" }`}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := mc.ACL().TokenCreate(&api.ACLToken{Policies: []*api.ACLTokenPolicyLink{{ID: pol.ID}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	uc := withToken(t, ta, tok.SecretID)
	if _, _, err := uc.Event().Fire(&api.UserEvent{Name: "other"}, nil); err == nil {
		t.Fatal("fired an event without event:write on its name")
	} else {
		wantStatus(t, "fire other", err, http.StatusForbidden, "Permission denied")
	}
	appID, _, err := uc.Event().Fire(&api.UserEvent{Name: "app-deploy"}, nil)
	if err != nil {
		t.Fatalf("fire app-deploy: %v", err)
	}
	otherID, _, err := mc.Event().Fire(&api.UserEvent{Name: "secret"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	WaitFor(t, "both events", 10*time.Second, func() error {
		if err := hasEvent(mc, appID); err != nil {
			return err
		}
		return hasEvent(mc, otherID)
	})
	evs, _, err := uc.Event().List("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].ID != appID {
		t.Fatalf("events the token may read: %+v, want only app-deploy", evs)
	}
	anon, _, err := ta.Client.Event().List("", nil)
	if err != nil || len(anon) != 0 {
		t.Fatalf("anonymous list: %d events, %v", len(anon), err)
	}
}
