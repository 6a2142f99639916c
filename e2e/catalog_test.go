package e2e

// Issue 3's HTTP API through the official Consul client, against three
// real servers and a client (hosts 80-99): catalog and health reads and
// writes, blocking queries, consistency modes, query metadata, status, and
// bad input. The subtests share the cluster and stay independent: each
// writes its own node and service names.

import (
	"fmt"
	"net/http"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// leaderTimeout bounds an election: raft_multiplier 1 elects in about a
// second; the slack is for a loaded machine.
const leaderTimeout = 30 * time.Second

// raftCluster is three servers with -bootstrap-expect 3 and a client.
type raftCluster struct {
	servers []*agentProc
	client  *agentProc
	all     []*agentProc
}

// startRaftCluster starts the servers, each joining the first, then the
// client, and waits for one leader agreed by all four.
func startRaftCluster(t *testing.T, c *cluster, prefix string) *raftCluster {
	t.Helper()
	rc := &raftCluster{}
	for i := 1; i <= 3; i++ {
		o := agentOpts{Name: fmt.Sprintf("%s-s%d", prefix, i), Server: true, BootstrapExpect: 3}
		if i > 1 {
			o.Join = []string{rc.servers[0].LANAddr}
		}
		rc.servers = append(rc.servers, c.start(o))
	}
	rc.client = c.start(agentOpts{Name: prefix + "-c1", Join: []string{rc.servers[0].LANAddr}})
	rc.all = append(append([]*agentProc(nil), rc.servers...), rc.client)
	waitLeader(t, leaderTimeout, rc.all...)
	return rc
}

// leader returns the current leader process and the other servers.
func (rc *raftCluster) leader(t *testing.T) (*agentProc, []*agentProc) {
	t.Helper()
	var running []*agentProc
	for _, s := range rc.servers {
		if s.Running() {
			running = append(running, s)
		}
	}
	l := byRPCAddr(t, waitLeader(t, leaderTimeout, running...), rc.servers...)
	var followers []*agentProc
	for _, s := range running {
		if s != l {
			followers = append(followers, s)
		}
	}
	return l, followers
}

func TestCatalogAPI(t *testing.T) {
	c := newCluster(t, 80, 99)
	rc := startRaftCluster(t, c, "cat")
	leader, followers := rc.leader(t)
	follower := followers[0]

	t.Run("status: one leader and three peers seen from every agent", func(t *testing.T) {
		var want []string
		for _, s := range rc.servers {
			want = append(want, fmt.Sprintf("%s:%d", s.Host, s.Ports.Server))
		}
		sort.Strings(want)
		for _, a := range rc.all {
			peers, err := a.API.Status().Peers()
			if err != nil {
				t.Fatalf("peers from %s: %v", a.Name, err)
			}
			sort.Strings(peers)
			if !reflect.DeepEqual(peers, want) {
				t.Errorf("peers from %s: %v, want %v", a.Name, peers, want)
			}
			l, err := a.API.Status().Leader()
			if err != nil || l != fmt.Sprintf("%s:%d", leader.Host, leader.Ports.Server) {
				t.Errorf("leader from %s: %q (err %v), want %s", a.Name, l, err, leader.Host)
			}
		}
	})

	t.Run("operator raft list-peers shows three servers and one leader", func(t *testing.T) {
		checkRaftPeers(t, rc.client, rc.servers, leader)
	})

	t.Run("every agent is a catalog node with a passing serfHealth", func(t *testing.T) {
		waitFor(t, 20*time.Second, "the leader to reconcile members", func() error {
			for _, a := range rc.all {
				checks, _, err := follower.API.Health().Node(a.Name, nil)
				if err != nil {
					return err
				}
				if st := checkStatus(checks, "serfHealth"); st != api.HealthPassing {
					return fmt.Errorf("serfHealth of %s is %q", a.Name, st)
				}
			}
			return nil
		})
		nodes, meta, err := rc.client.API.Catalog().Nodes(nil)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, n := range nodes {
			got[n.Node] = n.Address
		}
		for _, a := range rc.all {
			if got[a.Name] != a.Host {
				t.Errorf("catalog node %s has address %q, want %s", a.Name, got[a.Name], a.Host)
			}
		}
		if meta.LastIndex == 0 || !meta.KnownLeader {
			t.Errorf("query meta of catalog nodes: %+v, want an index and a known leader", meta)
		}
	})

	t.Run("register, read and deregister through a follower", func(t *testing.T) {
		reg := &api.CatalogRegistration{
			Node:     "ext-web",
			Address:  "192.0.2.10",
			NodeMeta: map[string]string{"rack": "r1"},
			Service:  &api.AgentService{ID: "web1", Service: "web", Tags: []string{"v1", "primary"}, Port: 8080},
			Check:    &api.AgentCheck{CheckID: "web-alive", Name: "web alive", Status: api.HealthPassing, ServiceID: "web1"},
		}
		wm, err := follower.API.Catalog().Register(reg, nil)
		if err != nil {
			t.Fatalf("register: %v", err)
		}
		if wm.RequestTime <= 0 {
			t.Errorf("write meta: %+v", wm)
		}
		// The write is committed when the call returns: a default read
		// from any agent sees it.
		for _, a := range rc.all {
			node, meta, err := a.API.Catalog().Node("ext-web", nil)
			if err != nil {
				t.Fatalf("node from %s: %v", a.Name, err)
			}
			if node == nil || node.Node.Address != "192.0.2.10" || node.Node.Meta["rack"] != "r1" {
				t.Fatalf("node from %s: %+v", a.Name, node)
			}
			svc := node.Services["web1"]
			if svc == nil || svc.Service != "web" || svc.Port != 8080 || !sameSet(svc.Tags, []string{"v1", "primary"}) {
				t.Errorf("service web1 from %s: %+v", a.Name, svc)
			}
			if !meta.KnownLeader || meta.LastIndex == 0 {
				t.Errorf("query meta from %s: %+v", a.Name, meta)
			}
		}
		services, _, err := leader.API.Catalog().Services(nil)
		if err != nil {
			t.Fatal(err)
		}
		if !sameSet(services["web"], []string{"v1", "primary"}) {
			t.Errorf("services: web has tags %v, want v1 and primary (all: %v)", services["web"], services)
		}
		for _, tc := range []struct {
			tag  string
			want int
		}{{"", 1}, {"v1", 1}, {"primary", 1}, {"v2", 0}} {
			entries, _, err := rc.client.API.Catalog().Service("web", tc.tag, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != tc.want {
				t.Errorf("catalog service web tag %q: %d entries, want %d", tc.tag, len(entries), tc.want)
			}
			for _, e := range entries {
				if e.Node != "ext-web" || e.ServiceID != "web1" || e.ServicePort != 8080 || e.Address != "192.0.2.10" {
					t.Errorf("catalog service entry: %+v", e)
				}
			}
		}

		// Deregister the service, then the node.
		if _, err := rc.client.API.Catalog().Deregister(&api.CatalogDeregistration{Node: "ext-web", ServiceID: "web1"}, nil); err != nil {
			t.Fatalf("deregister service: %v", err)
		}
		node, _, err := leader.API.Catalog().Node("ext-web", nil)
		if err != nil || node == nil || len(node.Services) != 0 {
			t.Errorf("after deregistering the service: node %+v, err %v", node, err)
		}
		entries, _, err := leader.API.Catalog().Service("web", "", nil)
		if err != nil || len(entries) != 0 {
			t.Errorf("catalog service web after deregister: %v entries, err %v", len(entries), err)
		}
		if _, err := follower.API.Catalog().Deregister(&api.CatalogDeregistration{Node: "ext-web"}, nil); err != nil {
			t.Fatalf("deregister node: %v", err)
		}
		node, _, err = leader.API.Catalog().Node("ext-web", nil)
		if err != nil || node != nil {
			t.Errorf("after deregistering the node: %+v, err %v", node, err)
		}
	})

	t.Run("health: node, checks, service and state", func(t *testing.T) {
		for _, r := range []struct{ node, status string }{
			{"ext-db1", api.HealthPassing},
			{"ext-db2", api.HealthCritical},
			{"ext-db3", api.HealthWarning},
		} {
			_, err := follower.API.Catalog().Register(&api.CatalogRegistration{
				Node:    r.node,
				Address: "192.0.2.20",
				Service: &api.AgentService{ID: "db", Service: "db", Tags: []string{"pg"}, Port: 5432},
				Check:   &api.AgentCheck{CheckID: "db-check", Name: "db check", Status: r.status, ServiceID: "db", Output: "out of " + r.node},
			}, nil)
			if err != nil {
				t.Fatalf("register %s: %v", r.node, err)
			}
		}
		h := rc.client.API.Health()
		checks, meta, err := h.Node("ext-db2", nil)
		if err != nil || meta.LastIndex == 0 {
			t.Fatalf("health node: %v %+v", err, meta)
		}
		if len(checks) != 1 || checks[0].CheckID != "db-check" || checks[0].Status != api.HealthCritical ||
			checks[0].ServiceName != "db" || checks[0].Output != "out of ext-db2" {
			t.Errorf("health node ext-db2: %+v", checks)
		}
		checks, _, err = h.Checks("db", nil)
		if err != nil || len(checks) != 3 {
			t.Errorf("health checks db: %d checks, err %v", len(checks), err)
		}
		all, _, err := h.Service("db", "", false, nil)
		if err != nil || len(all) != 3 {
			t.Fatalf("health service db: %d entries, err %v", len(all), err)
		}
		passing, _, err := h.Service("db", "pg", true, nil)
		if err != nil || len(passing) != 1 || passing[0].Node.Node != "ext-db1" {
			t.Errorf("health service db ?passing: %+v, err %v", passing, err)
		}
		for _, e := range all {
			if e.Service == nil || e.Service.Service != "db" || len(e.Checks) == 0 {
				t.Errorf("health service entry: %+v", e)
			}
		}
		none, _, err := h.Service("db", "mysql", false, nil)
		if err != nil || len(none) != 0 {
			t.Errorf("health service db ?tag=mysql: %d entries, err %v", len(none), err)
		}
		for _, tc := range []struct {
			state string
			node  string
			want  bool
		}{
			{api.HealthCritical, "ext-db2", true},
			{api.HealthCritical, "ext-db1", false},
			{api.HealthWarning, "ext-db3", true},
			{api.HealthPassing, "ext-db1", true},
			{api.HealthPassing, rc.client.Name, true}, // its serfHealth
			{api.HealthAny, "ext-db2", true},
			{api.HealthAny, "ext-db3", true},
		} {
			checks, _, err := h.State(tc.state, nil)
			if err != nil {
				t.Fatalf("health state %s: %v", tc.state, err)
			}
			found := false
			for _, c := range checks {
				if tc.state != api.HealthAny && c.Status != tc.state {
					t.Errorf("health state %s returned a %s check: %+v", tc.state, c.Status, c)
				}
				found = found || c.Node == tc.node
			}
			if found != tc.want {
				t.Errorf("health state %s lists %s: %v, want %v", tc.state, tc.node, found, tc.want)
			}
		}
	})

	t.Run("a blocking query wakes on a write", func(t *testing.T) {
		_, meta, err := follower.API.Catalog().Service("blocking", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		type result struct {
			entries []*api.CatalogService
			meta    *api.QueryMeta
			err     error
			took    time.Duration
		}
		done := make(chan result, 1)
		go func() {
			start := time.Now()
			e, m, err := follower.API.Catalog().Service("blocking", "", &api.QueryOptions{WaitIndex: meta.LastIndex, WaitTime: 20 * time.Second})
			done <- result{e, m, err, time.Since(start)}
		}()
		// Until the write, the query stays blocked.
		select {
		case r := <-done:
			t.Fatalf("the blocking query returned before any write: %+v", r)
		case <-time.After(300 * time.Millisecond):
		}
		if _, err := leader.API.Catalog().Register(&api.CatalogRegistration{
			Node: "ext-blocking", Address: "192.0.2.30",
			Service: &api.AgentService{Service: "blocking", Port: 1},
		}, nil); err != nil {
			t.Fatal(err)
		}
		select {
		case r := <-done:
			if r.err != nil {
				t.Fatal(r.err)
			}
			if len(r.entries) != 1 || r.meta.LastIndex <= meta.LastIndex {
				t.Errorf("woken query: %d entries, index %d (was %d)", len(r.entries), r.meta.LastIndex, meta.LastIndex)
			}
			t.Logf("blocking query woke %s after it started (the write came after 300ms)", r.took.Round(time.Millisecond))
		case <-time.After(15 * time.Second):
			t.Fatal("the blocking query did not wake within 15s of the write")
		}
	})

	t.Run("a blocking query returns after its wait", func(t *testing.T) {
		_, meta, err := rc.client.API.Catalog().Service("never-registered", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		const wait = 600 * time.Millisecond
		start := time.Now()
		_, meta2, err := rc.client.API.Catalog().Service("never-registered", "", &api.QueryOptions{WaitIndex: meta.LastIndex, WaitTime: wait})
		took := time.Since(start)
		if err != nil {
			t.Fatal(err)
		}
		// An unrelated write may wake it early, with a new index; without
		// one it must have waited. Jitter adds up to wait/16.
		if meta2.LastIndex == meta.LastIndex && took < wait {
			t.Errorf("returned after %s with the same index, before the %s wait", took, wait)
		}
		if took > wait+wait/16+5*time.Second {
			t.Errorf("returned after %s, long past the %s wait", took, wait)
		}
	})

	t.Run("consistency modes and query meta", func(t *testing.T) {
		// The default mode is answered by the leader; ?stale by the
		// server asked, which reports how long since it heard from the
		// leader; ?consistent after the leader confirms it leads.
		for _, tc := range []struct {
			name string
			a    *agentProc
			q    *api.QueryOptions
		}{
			{"default on a follower", follower, nil},
			{"stale on a follower", follower, &api.QueryOptions{AllowStale: true}},
			{"stale on the leader", leader, &api.QueryOptions{AllowStale: true}},
			{"consistent on a follower", follower, &api.QueryOptions{RequireConsistent: true}},
			{"consistent through the client", rc.client, &api.QueryOptions{RequireConsistent: true}},
		} {
			nodes, meta, err := tc.a.API.Catalog().Nodes(tc.q)
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
				continue
			}
			if len(nodes) < len(rc.all) || meta.LastIndex == 0 || !meta.KnownLeader {
				t.Errorf("%s: %d nodes, meta %+v", tc.name, len(nodes), meta)
			}
			if meta.LastContact < 0 || meta.LastContact > 5*time.Second {
				t.Errorf("%s: LastContact %s", tc.name, meta.LastContact)
			}
			if tc.q == nil || !tc.q.AllowStale || tc.a == leader {
				if meta.LastContact != 0 {
					t.Errorf("%s: LastContact %s, want 0 from the leader", tc.name, meta.LastContact)
				}
			}
		}
		// The headers themselves, as other clients read them.
		resp, err := http.Get("http://" + follower.HTTPAddr + "/v1/catalog/nodes?stale")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if idx, err := strconv.ParseUint(resp.Header.Get("X-Consul-Index"), 10, 64); err != nil || idx == 0 {
			t.Errorf("X-Consul-Index %q", resp.Header.Get("X-Consul-Index"))
		}
		if resp.Header.Get("X-Consul-KnownLeader") != "true" {
			t.Errorf("X-Consul-KnownLeader %q", resp.Header.Get("X-Consul-KnownLeader"))
		}
		if _, err := strconv.ParseUint(resp.Header.Get("X-Consul-LastContact"), 10, 64); err != nil {
			t.Errorf("X-Consul-LastContact %q", resp.Header.Get("X-Consul-LastContact"))
		}
	})

	t.Run("an unknown datacenter has no path", func(t *testing.T) {
		_, _, err := rc.client.API.Catalog().Nodes(&api.QueryOptions{Datacenter: "nowhere"})
		if err == nil || !strings.Contains(err.Error(), "No path to datacenter") {
			t.Errorf("nodes of an unknown datacenter: %v, want No path to datacenter", err)
		}
	})

	t.Run("bad input is HTTP 400 with a sentence", func(t *testing.T) {
		for _, tc := range []struct {
			name, method, path, body, want string
		}{
			{"malformed register body", "PUT", "/v1/catalog/register", `{"Node": "x", "Address":`, ""},
			{"register body of the wrong type", "PUT", "/v1/catalog/register", `{"Node": 7, "Address": "192.0.2.1"}`, "Node"},
			{"register without a node", "PUT", "/v1/catalog/register", `{"Address": "192.0.2.1"}`, "node"},
			{"unknown check status", "PUT", "/v1/catalog/register",
				`{"Node": "bad-status", "Address": "192.0.2.1", "Check": {"CheckID": "c", "Name": "c", "Status": "sideways"}}`, "sideways"},
			{"malformed deregister body", "PUT", "/v1/catalog/deregister", `{"Node": `, ""},
			{"index not a number", "GET", "/v1/catalog/nodes?index=abc", "", "index"},
			{"negative index", "GET", "/v1/catalog/services?index=-3", "", "index"},
			{"wait not a duration", "GET", "/v1/catalog/nodes?index=1&wait=forever", "", "wait"},
			{"wait on a health read", "GET", "/v1/health/state/any?index=1&wait=10parsecs", "", "wait"},
			{"unknown health state", "GET", "/v1/health/state/sideways", "", "sideways"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var body *strings.Reader
				if tc.body != "" {
					body = strings.NewReader(tc.body)
				} else {
					body = strings.NewReader("")
				}
				code, text := follower.httpDo(tc.method, tc.path, body)
				if code != http.StatusBadRequest {
					t.Fatalf("%s %s: HTTP %d %q, want 400", tc.method, tc.path, code, text)
				}
				if err := oneSentence(text); err != nil {
					t.Errorf("%s %s: body %v", tc.method, tc.path, err)
				}
				if !strings.Contains(strings.ToLower(text), strings.ToLower(tc.want)) {
					t.Errorf("%s %s: body %q does not name %q", tc.method, tc.path, text, tc.want)
				}
			})
		}
		// Nothing of the refused registrations reached the catalog.
		node, _, err := leader.API.Catalog().Node("bad-status", nil)
		if err != nil || node != nil {
			t.Errorf("a refused registration was stored: %+v, err %v", node, err)
		}
	})
}

// checkStatus returns the status of the named check, or "" without it.
func checkStatus(checks api.HealthChecks, id string) string {
	for _, c := range checks {
		if c.CheckID == id {
			return c.Status
		}
	}
	return ""
}

// sameSet reports whether a and b hold the same strings in any order.
func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	x := append([]string(nil), a...)
	y := append([]string(nil), b...)
	sort.Strings(x)
	sort.Strings(y)
	return reflect.DeepEqual(x, y)
}

// checkRaftPeers checks `operator raft list-peers` against the servers:
// each listed once, all voters, exactly the leader marked leader.
func checkRaftPeers(t *testing.T, via *agentProc, servers []*agentProc, leader *agentProc) {
	t.Helper()
	rows := parseTable(t, via.mustCLI("operator raft list-peers").Stdout)
	if len(rows) != len(servers) {
		t.Fatalf("list-peers: %d rows, want %d: %v", len(rows), len(servers), rows)
	}
	byNode := map[string]tableRow{}
	for _, r := range rows {
		byNode[r["Node"]] = r
	}
	for _, s := range servers {
		r, ok := byNode[s.Name]
		if !ok {
			t.Errorf("list-peers lacks %s: %v", s.Name, rows)
			continue
		}
		wantState := "follower"
		if s == leader {
			wantState = "leader"
		}
		if r["State"] != wantState || r["Voter"] != "true" || r["Address"] != fmt.Sprintf("%s:%d", s.Host, s.Ports.Server) {
			t.Errorf("list-peers row for %s: %v, want state %s, voter, address %s:%d", s.Name, r, wantState, s.Host, s.Ports.Server)
		}
	}
}
