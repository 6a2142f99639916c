package server

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/serf/coordinate"
	"github.com/hashicorp/serf/serf"

	"github.com/meridian-sd/meridian/gossip"
)

func wanMember(node, dc string, ip byte, status serf.MemberStatus) serf.Member {
	return serf.Member{
		Name:   gossip.WANName(node, dc),
		Addr:   net.IPv4(127, 0, 1, ip),
		Port:   8302,
		Status: status,
		Tags:   gossip.Tags(gossip.TagsConfig{NodeID: node + "-id", Datacenter: dc, Server: true, ServerPort: 8300}),
	}
}

func routeNames(servers []*gossip.ServerMeta) []string {
	out := make([]string, len(servers))
	for i, s := range servers {
		out[i] = s.Name
	}
	return out
}

func TestRouterMembership(t *testing.T) {
	r := NewRouter("dc1", hclog.NewNullLogger())
	r.AddServer(wanMember("a", "dc1", 1, serf.StatusAlive))
	r.AddServer(wanMember("b", "dc2", 2, serf.StatusAlive))
	r.AddServer(wanMember("c", "dc2", 3, serf.StatusAlive))
	// A client member (no server tags) is never routed to.
	r.AddServer(serf.Member{Name: "x.dc3", Addr: net.IPv4(127, 0, 1, 9), Tags: map[string]string{"role": "node", "dc": "dc3"}})

	if got := r.Datacenters(); len(got) != 2 || got[0] != "dc1" || got[1] != "dc2" {
		t.Fatalf("datacenters = %v", got)
	}
	if _, ok := r.Route("dc3", true, nil, nil); ok {
		t.Fatal("a datacenter with only a client is routable")
	}

	// Soft fail: a failed server stays routable, after the healthy one.
	r.FailServer(wanMember("b", "dc2", 2, serf.StatusFailed))
	route, ok := r.Route("dc2", true, nil, nil)
	if !ok || len(route) != 2 || route[0].Name != "c" || route[1].Name != "b" {
		t.Fatalf("route after gossip failure = %v", routeNames(route))
	}
	// Left servers go at once; the DC goes with its last server.
	r.RemoveServer(wanMember("c", "dc2", 3, serf.StatusLeft))
	route, _ = r.Route("dc2", true, nil, nil)
	if len(route) != 1 || route[0].Name != "b" {
		t.Fatalf("route after leave = %v", routeNames(route))
	}
	r.RemoveServer(wanMember("b", "dc2", 2, serf.StatusLeft))
	if r.HasDatacenter("dc2") {
		t.Fatal("dc2 is still known after its last server left")
	}
	// A rejoin (alive again) clears the failed mark.
	r.AddServer(wanMember("b", "dc2", 2, serf.StatusAlive))
	if st := r.Status(); len(st) != 2 || st[1].ServersAlive != 1 {
		t.Fatalf("status after rejoin = %+v", st)
	}
}

func TestRouterPrefersReachableAndNear(t *testing.T) {
	r := NewRouter("dc1", hclog.NewNullLogger())
	now := time.Unix(1000, 0)
	r.now = func() time.Time { return now }
	for i, n := range []string{"far", "near", "mid"} {
		r.AddServer(wanMember(n, "dc2", byte(i+1), serf.StatusAlive))
	}
	cfg := coordinate.DefaultConfig()
	local := coordinate.NewCoordinate(cfg)
	coords := map[string]*coordinate.Coordinate{}
	for name, ms := range map[string]float64{"far": 80, "near": 5, "mid": 20} {
		c := coordinate.NewCoordinate(cfg)
		c.Vec[0] = ms / 1000
		coords[gossip.WANName(name, "dc2")] = c
	}
	lookup := func(m string) (*coordinate.Coordinate, bool) { c, ok := coords[m]; return c, ok }

	route, _ := r.Route("dc2", true, local, lookup)
	if got := routeNames(route); got[0] != "near" || got[1] != "mid" || got[2] != "far" {
		t.Fatalf("route by rtt = %v", got)
	}
	// A server whose RPC failed moves to the end for a while.
	r.NoteResult("dc2", route[0], false, false, errors.New("connection refused"))
	route, _ = r.Route("dc2", true, local, lookup)
	if got := routeNames(route); got[0] != "mid" || got[2] != "near" {
		t.Fatalf("route after a failure = %v", got)
	}
	st := r.Status()[0]
	if st.LastError == "" || !st.LastContact.IsZero() {
		t.Fatalf("status after failure = %+v", st)
	}
	// After the penalty it is preferred again.
	now = now.Add(rpcFailurePenalty + time.Second)
	route, _ = r.Route("dc2", true, local, lookup)
	if got := routeNames(route); got[0] != "near" {
		t.Fatalf("route after the penalty = %v", got)
	}
	// Success clears the failure and records contact.
	r.NoteResult("dc2", route[0], true, true, nil)
	if st := r.Status()[0]; st.LastContact != now || !st.LeaderOK {
		t.Fatalf("status after success = %+v", st)
	}
}

// TestRouterLeaderFirst: with a datacenter's leader known, LeaderFirst puts
// it first; not when it is unknown, gossip-failed or recently failing.
func TestRouterLeaderFirst(t *testing.T) {
	r := NewRouter("dc1", hclog.NewNullLogger())
	for i, n := range []string{"a", "b", "c"} {
		r.AddServer(wanMember(n, "dc2", byte(i+1), serf.StatusAlive))
	}
	route, _ := r.Route("dc2", true, nil, nil)
	if got := routeNames(r.LeaderFirst("dc2", route)); got[0] != "a" || got[1] != "b" || got[2] != "c" {
		t.Fatalf("no leader known: order %v, want the route's", got)
	}
	var leader *gossip.ServerMeta
	for _, s := range route {
		if s.Name == "c" {
			leader = s
		}
	}
	r.SetLeader("dc2", leader.Addr.String())
	if got := routeNames(r.LeaderFirst("dc2", route)); got[0] != "c" || got[1] != "a" || got[2] != "b" {
		t.Fatalf("leader c known: order %v, want c, a, b", got)
	}
	if got := routeNames(route); got[0] != "a" {
		t.Errorf("LeaderFirst changed the route it was given: %v", got)
	}
	r.NoteResult("dc2", leader, false, false, errors.New("refused"))
	route, _ = r.Route("dc2", true, nil, nil)
	if got := routeNames(r.LeaderFirst("dc2", route)); got[0] == "c" {
		t.Errorf("a leader whose RPC just failed is tried first: %v", got)
	}
	r.SetLeader("dc2", "")
	if got := routeNames(r.LeaderFirst("dc2", route)); got[0] == "c" {
		t.Errorf("a forgotten leader is tried first: %v", got)
	}
}

// TestRouterNoLeaderOrder: a server that answered "No cluster leader" is
// asked what only a leader answers after its healthy peers but before
// gossip-failed and unreachable ones; stale reads keep asking it in its
// place; an answer that knows a leader, or the probe naming it leader,
// ends that.
func TestRouterNoLeaderOrder(t *testing.T) {
	r := NewRouter("dc1", hclog.NewNullLogger())
	servers := map[string]*gossip.ServerMeta{}
	for i, n := range []string{"a", "b", "c", "d"} {
		r.AddServer(wanMember(n, "dc2", byte(i+1), serf.StatusAlive))
	}
	route, _ := r.Route("dc2", true, nil, nil)
	for _, s := range route {
		servers[s.Name] = s
	}
	r.FailServer(wanMember("c", "dc2", 3, serf.StatusFailed))
	r.NoteResult("dc2", servers["d"], false, false, errors.New("refused"))
	r.NoteNoLeader("dc2", servers["a"], errors.New("No cluster leader"))

	want := func(needLeader bool, order ...string) {
		t.Helper()
		route, _ := r.Route("dc2", needLeader, nil, nil)
		got := routeNames(route)
		for i := range order {
			if i >= len(got) || got[i] != order[i] {
				t.Fatalf("route (needLeader %v) = %v, want %v", needLeader, got, order)
			}
		}
	}
	want(true, "b", "a", "c", "d")
	want(false, "a", "b", "c", "d")

	// The leader's own "No cluster leader" (it lost the leadership) keeps
	// it from the front until the probe names it leader again.
	r.SetLeader("dc2", servers["b"].Addr.String())
	r.NoteNoLeader("dc2", servers["b"], errors.New("No cluster leader"))
	route, _ = r.Route("dc2", true, nil, nil)
	if got := routeNames(r.LeaderFirst("dc2", route)); got[0] == "b" {
		t.Errorf("a leader that just answered 'No cluster leader' is tried first: %v", got)
	}
	r.SetLeader("dc2", servers["b"].Addr.String())
	route, _ = r.Route("dc2", true, nil, nil)
	if got := routeNames(r.LeaderFirst("dc2", route)); got[0] != "b" {
		t.Errorf("the leader the probe names again is not tried first: %v", got)
	}

	r.NoteResult("dc2", servers["a"], true, true, nil)
	want(true, "a", "b", "c", "d")
}
