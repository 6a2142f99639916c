package agent

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// filterCatalog registers the catalog the filter tests read:
//
//	fa (env=prod): web-a (web, tags v1 primary, version 2), check web-a-ok passing
//	fb (env=dev):  web-b (web, tag v2, version 1), check web-b-ok critical
//	fc (env=dev):  db-c (db), node checks disk warning, mem passing
//	fa and fb also run cache-fa and cache-fb (cache)
func filterCatalog(t *testing.T, c *api.Client) {
	t.Helper()
	regs := []*api.CatalogRegistration{
		{Node: "fa", Address: "10.1.0.1", NodeMeta: map[string]string{"env": "prod"},
			Service: &api.AgentService{ID: "web-a", Service: "web", Tags: []string{"v1", "primary"}, Port: 80,
				Meta: map[string]string{"version": "2"}},
			Check: &api.AgentCheck{CheckID: "web-a-ok", Name: "web a", Status: api.HealthPassing, ServiceID: "web-a"}},
		{Node: "fb", Address: "10.1.0.2", NodeMeta: map[string]string{"env": "dev"},
			Service: &api.AgentService{ID: "web-b", Service: "web", Tags: []string{"v2"}, Port: 81,
				Meta: map[string]string{"version": "1"}},
			Check: &api.AgentCheck{CheckID: "web-b-ok", Name: "web b", Status: api.HealthCritical, ServiceID: "web-b"}},
		{Node: "fc", Address: "10.1.0.3", NodeMeta: map[string]string{"env": "dev"},
			Service: &api.AgentService{ID: "db-c", Service: "db", Port: 5432},
			Check:   &api.AgentCheck{CheckID: "disk", Name: "disk", Status: api.HealthWarning}},
	}
	// Second services and checks, so that every list has something a
	// filter removes.
	for _, n := range []string{"fa", "fb"} {
		regs = append(regs, &api.CatalogRegistration{Node: n, SkipNodeUpdate: true,
			Service: &api.AgentService{ID: "cache-" + n, Service: "cache", Port: 6379}})
	}
	regs = append(regs, &api.CatalogRegistration{Node: "fc", SkipNodeUpdate: true,
		Check: &api.AgentCheck{CheckID: "mem", Name: "mem", Status: api.HealthPassing}})
	for _, r := range regs {
		if _, err := c.Catalog().Register(r, nil); err != nil {
			t.Fatalf("register %s: %v", r.Node, err)
		}
	}
}

// filterCase is one endpoint that takes ?filter=, asked through the
// official client; it answers the names of what came back, sorted.
type filterCase struct {
	name     string
	call     func(q *api.QueryOptions) ([]string, error)
	match    string
	want     []string
	nonMatch string
}

func sorted(s []string) []string {
	sort.Strings(s)
	if s == nil {
		s = []string{}
	}
	return s
}

// catalogFilterCases are the catalog and health endpoints, for the
// catalog filterCatalog registers; dc is the datacenter asked.
func catalogFilterCases(c *api.Client) []filterCase {
	checkIDs := func(cs api.HealthChecks) []string {
		var out []string
		for _, ch := range cs {
			out = append(out, ch.Node+"/"+ch.CheckID)
		}
		return sorted(out)
	}
	return []filterCase{
		{"catalog nodes", func(q *api.QueryOptions) ([]string, error) {
			ns, _, err := c.Catalog().Nodes(q)
			var out []string
			for _, n := range ns {
				if strings.HasPrefix(n.Node, "f") {
					out = append(out, n.Node)
				}
			}
			return sorted(out), err
		}, `Meta.env == "dev" and Address matches "^10\\.1\\."`, []string{"fb", "fc"}, `Meta.env == "qa"`},
		{"catalog services", func(q *api.QueryOptions) ([]string, error) {
			m, _, err := c.Catalog().Services(q)
			var out []string
			for name, tags := range m {
				out = append(out, name+":"+strings.Join(tags, ","))
			}
			return sorted(out), err
		}, `ServiceMeta.version == "1" or ServiceName == "db"`, []string{"db:", "web:v2"}, `NodeMeta.env == "qa"`},
		{"catalog service", func(q *api.QueryOptions) ([]string, error) {
			ss, _, err := c.Catalog().Service("web", "", q)
			var out []string
			for _, s := range ss {
				out = append(out, s.ServiceID)
			}
			return sorted(out), err
		}, `"primary" in ServiceTags and NodeMeta.env == "prod"`, []string{"web-a"}, `ServicePort == 99`},
		{"catalog node", func(q *api.QueryOptions) ([]string, error) {
			n, _, err := c.Catalog().Node("fa", q)
			var out []string
			if n != nil {
				for id := range n.Services {
					out = append(out, id)
				}
			}
			return sorted(out), err
		}, `Service == "web" and Port == 80`, []string{"web-a"}, `Tags contains "v9"`},
		{"catalog node-services", func(q *api.QueryOptions) ([]string, error) {
			n, _, err := c.Catalog().NodeServiceList("fb", q)
			var out []string
			if n != nil {
				for _, s := range n.Services {
					out = append(out, s.ID)
				}
			}
			return sorted(out), err
		}, `Meta.version == "1" and Tags is not empty`, []string{"web-b"}, `Meta.version == "7"`},
		{"health node", func(q *api.QueryOptions) ([]string, error) {
			cs, _, err := c.Health().Node("fc", q)
			return checkIDs(cs), err
		}, `Status == "warning"`, []string{"fc/disk"}, `Status == "critical"`},
		{"health checks", func(q *api.QueryOptions) ([]string, error) {
			cs, _, err := c.Health().Checks("web", q)
			return checkIDs(cs), err
		}, `Status != "passing" and ServiceTags not contains "v1"`, []string{"fb/web-b-ok"}, `Notes is not empty`},
		{"health service", func(q *api.QueryOptions) ([]string, error) {
			es, _, err := c.Health().Service("web", "", false, q)
			var out []string
			for _, e := range es {
				out = append(out, e.Node.Node+"/"+e.Service.ID)
			}
			return sorted(out), err
		}, `Service.Meta.version == "2" and Node.Meta.env == "prod" and "v1" in Service.Tags`, []string{"fa/web-a"}, `Node.Node == "fc"`},
		{"health service checks", func(q *api.QueryOptions) ([]string, error) {
			es, _, err := c.Health().Service("web", "", false, q)
			var out []string
			for _, e := range es {
				out = append(out, e.Service.ID)
			}
			return sorted(out), err
		}, `any Checks as c { c.Status == "critical" }`, []string{"web-b"}, `all Checks as c { c.Status == "warning" }`},
		{"health state", func(q *api.QueryOptions) ([]string, error) {
			cs, _, err := c.Health().State("any", q)
			return checkIDs(cs), err
		}, `ServiceName == "web" or CheckID == "disk"`, []string{"fa/web-a-ok", "fb/web-b-ok", "fc/disk"}, `ServiceName == "nothing"`},
	}
}

// runFilterCases runs each case: the match, a non-match, and two bad
// expressions (bad syntax; an unknown selector), which must be Consul's
// 400.
func runFilterCases(t *testing.T, dc string, cases []filterCase) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.call(&api.QueryOptions{Datacenter: dc, Filter: tc.match})
			if err != nil || fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("filter %q: %v %v, want %v", tc.match, got, err, tc.want)
			}
			got, err = tc.call(&api.QueryOptions{Datacenter: dc, Filter: tc.nonMatch})
			if err != nil || len(got) != 0 {
				t.Errorf("filter %q: %v %v, want nothing", tc.nonMatch, got, err)
			}
			all, err := tc.call(&api.QueryOptions{Datacenter: dc})
			if err != nil || len(all) <= len(tc.want) {
				t.Errorf("no filter: %v %v, want more than the filtered %v", all, err, tc.want)
			}
			for _, bad := range []string{`Service ==`, `NoSuchField == "x"`} {
				_, err = tc.call(&api.QueryOptions{Datacenter: dc, Filter: bad})
				var se api.StatusError
				if !asStatusError(err, &se) || se.Code != http.StatusBadRequest ||
					!strings.HasPrefix(se.Body, "Failed to create boolean expression evaluator: ") {
					t.Errorf("filter %q: %v, want 400 Failed to create boolean expression evaluator", bad, err)
				}
			}
		})
	}
}

// TestFilterCatalogAndHealth drives ?filter= on every catalog and health
// endpoint that takes it, through the official client.
func TestFilterCatalogAndHealth(t *testing.T) {
	a := StartTestAgent(t, "-server", "-bootstrap")
	a.WaitForLeader(t)
	filterCatalog(t, a.Client)
	runFilterCases(t, "", catalogFilterCases(a.Client))

	// ?cached keeps filtered and unfiltered answers apart.
	t.Run("cached", func(t *testing.T) {
		for i := 0; i < 2; i++ {
			for _, tc := range []struct {
				filter string
				want   int
			}{{`Service.Meta.version == "2"`, 1}, {"", 2}, {`Service.Meta.version == "1"`, 1}} {
				es, meta, err := a.Client.Health().Service("web", "", false, &api.QueryOptions{UseCache: true, Filter: tc.filter})
				if err != nil || len(es) != tc.want || (tc.filter != "" && es[0].Service.Meta["version"] != tc.filter[len(tc.filter)-2:len(tc.filter)-1]) {
					t.Fatalf("cached read %d with filter %q: %d entries, %v; want %d", i, tc.filter, len(es), err, tc.want)
				}
				if meta.CacheHit != (i == 1) {
					t.Fatalf("cached read %d with filter %q: cache hit %v, want %v", i, tc.filter, meta.CacheHit, i == 1)
				}
			}
		}
	})
}

// TestFilterAgentLists drives ?filter= on the agent's own lists.
func TestFilterAgentLists(t *testing.T) {
	a := StartTestAgent(t, "-server", "-bootstrap")
	a.WaitForLeader(t)
	ag := a.Client.Agent()
	for _, s := range []*api.AgentServiceRegistration{
		{ID: "api-1", Name: "api", Tags: []string{"blue"}, Port: 9001, Meta: map[string]string{"team": "a"},
			Check: &api.AgentServiceCheck{CheckID: "api-1-ttl", TTL: "1m", Status: api.HealthPassing}},
		{ID: "api-2", Name: "api", Tags: []string{"green"}, Port: 9002,
			Check: &api.AgentServiceCheck{CheckID: "api-2-ttl", TTL: "1m"}},
	} {
		if err := ag.ServiceRegister(s); err != nil {
			t.Fatalf("register %s: %v", s.ID, err)
		}
	}
	keys := func(m any) []string {
		var out []string
		switch m := m.(type) {
		case map[string]*api.AgentService:
			for k := range m {
				out = append(out, k)
			}
		case map[string]*api.AgentCheck:
			for k := range m {
				out = append(out, k)
			}
		}
		return sorted(out)
	}
	cases := []filterCase{
		{"agent services", func(q *api.QueryOptions) ([]string, error) {
			m, err := ag.ServicesWithFilter(q.Filter)
			return keys(m), err
		}, `Meta.team == "a" and Tags contains "blue" and Port == 9001`, []string{"api-1"}, `Service == "nothing"`},
		{"agent checks", func(q *api.QueryOptions) ([]string, error) {
			m, err := ag.ChecksWithFilter(q.Filter)
			return keys(m), err
		}, `Status == "critical" and ServiceID == "api-2"`, []string{"api-2-ttl"}, `Status == "warning"`},
		{"agent members", func(q *api.QueryOptions) ([]string, error) {
			ms, err := ag.MembersOpts(api.MembersOpts{Filter: q.Filter})
			var out []string
			for _, m := range ms {
				out = append(out, m.Name)
			}
			return sorted(out), err
		}, fmt.Sprintf(`Name == %q and Tags.role == "consul"`, a.Name), []string{a.Name}, `Tags.role == "node"`},
	}
	// The members list has one entry: the no-filter check of
	// runFilterCases wants more than the match, so members run apart.
	runFilterCases(t, "", cases[:2])
	tc := cases[2]
	if got, err := tc.call(&api.QueryOptions{Filter: tc.match}); err != nil || fmt.Sprint(got) != fmt.Sprint(tc.want) {
		t.Errorf("members %q: %v %v, want %v", tc.match, got, err, tc.want)
	}
	if got, err := tc.call(&api.QueryOptions{Filter: tc.nonMatch}); err != nil || len(got) != 0 {
		t.Errorf("members %q: %v %v, want nothing", tc.nonMatch, got, err)
	}
	var se api.StatusError
	if _, err := tc.call(&api.QueryOptions{Filter: `Nope == 1`}); !asStatusError(err, &se) || se.Code != http.StatusBadRequest ||
		!strings.HasPrefix(se.Body, "Failed to create boolean expression evaluator: ") {
		t.Errorf("members bad filter: %v, want 400", err)
	}
}

// TestFilterBlockingQuery checks that a blocking query keeps working with
// a filter: it carries the unfiltered answer's index (as Consul's), and
// returns when a matching instance appears.
func TestFilterBlockingQuery(t *testing.T) {
	a := StartTestAgent(t, "-server", "-bootstrap")
	a.WaitForLeader(t)
	c := a.Client
	filterCatalog(t, c)
	_, all, err := c.Health().Service("web", "", false, nil)
	if err != nil {
		t.Fatal(err)
	}
	q := &api.QueryOptions{Filter: `Service.Meta.version == "3"`}
	got, meta, err := c.Health().Service("web", "", false, q)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 || meta.LastIndex != all.LastIndex {
		t.Fatalf("filtered: %d entries, index %d, %v; want none at the unfiltered index %d", len(got), meta.LastIndex, err, all.LastIndex)
	}
	type answer struct {
		n   int
		err error
	}
	done := make(chan answer, 1)
	go func() {
		bq := &api.QueryOptions{Filter: q.Filter, WaitIndex: meta.LastIndex, WaitTime: 20 * time.Second}
		es, _, err := c.Health().Service("web", "", false, bq)
		done <- answer{len(es), err}
	}()
	select {
	case r := <-done:
		t.Fatalf("blocking query returned before any change: %+v", r)
	case <-time.After(200 * time.Millisecond):
	}
	reg := &api.CatalogRegistration{Node: "fd", Address: "10.1.0.4",
		Service: &api.AgentService{ID: "web-d", Service: "web", Meta: map[string]string{"version": "3"}}}
	if _, err := c.Catalog().Register(reg, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		if r.err != nil || r.n != 1 {
			t.Fatalf("blocking query: %+v, want the new instance", r)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("blocking query with a filter did not return after a matching registration")
	}
}

// TestFilterRemoteDatacenter checks ?filter= with ?dc= through a client
// agent of dc1: the request crosses to dc2, whose server evaluates the
// filter (neither the client agent nor dc1's server evaluates catalog
// filters), so dc2 sends only what matches.
func TestFilterRemoteDatacenter(t *testing.T) {
	dc1 := StartTestAgent(t, "-server", "-bootstrap")
	dc1.WaitForLeader(t)
	dc2 := StartTestAgent(t, "-server", "-bootstrap", "-datacenter=dc2")
	dc2.WaitForLeader(t)
	client := StartTestAgent(t)
	if err := client.Client.Agent().Join(dc1.LANAddr(), false); err != nil {
		t.Fatal(err)
	}
	if err := dc1.Client.Agent().Join(dc2.WANAddr(), true); err != nil {
		t.Fatal(err)
	}
	filterCatalog(t, dc2.Client)
	WaitFor(t, "dc2 reachable through dc1's client agent", 15*time.Second, func() error {
		_, _, err := client.Client.Catalog().Nodes(&api.QueryOptions{Datacenter: "dc2"})
		return err
	})
	runFilterCases(t, "dc2", catalogFilterCases(client.Client))
}
