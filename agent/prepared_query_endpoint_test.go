package agent

import (
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/consul/api"
	"github.com/miekg/dns"
)

// registerDB registers an instance of db on its own node.
func registerDB(t *testing.T, c *api.Client, node, addr string, port int, tags []string, nodeMeta, svcMeta map[string]string, checks ...*api.HealthCheck) {
	t.Helper()
	r := &api.CatalogRegistration{Node: node, Address: addr, NodeMeta: nodeMeta,
		Service: &api.AgentService{ID: "db", Service: "db", Port: port, Tags: tags, Meta: svcMeta}, Checks: checks}
	if _, err := c.Catalog().Register(r, nil); err != nil {
		t.Fatal(err)
	}
}

func nodeNames(entries []api.ServiceEntry) []string {
	out := []string{}
	for _, e := range entries {
		out = append(out, e.Node.Node)
	}
	sort.Strings(out)
	return out
}

func TestPreparedQueryEndpoint(t *testing.T) {
	a := StartTestAgent(t, "-server", "-bootstrap", "-dns-port=0")
	a.WaitForLeader(t)
	waitForNode(t, a.Client, a.Name)
	c := a.Client
	pq := c.PreparedQuery()

	chk := func(node, id, status string) *api.HealthCheck {
		return &api.HealthCheck{Node: node, CheckID: id, Name: id, Status: status, ServiceID: "db"}
	}
	// db1: primary, passing. db2: a warning. db3: critical only on the
	// "flaky" check. db4: in rack b, version 2.
	registerDB(t, c, "db1", "10.0.0.1", 5432, []string{"primary", "v1"}, map[string]string{"rack": "a"}, map[string]string{"version": "1"}, chk("db1", "alive", api.HealthPassing))
	registerDB(t, c, "db2", "10.0.0.2", 5432, []string{"v1"}, map[string]string{"rack": "a"}, map[string]string{"version": "1"}, chk("db2", "alive", api.HealthWarning))
	registerDB(t, c, "db3", "10.0.0.3", 5432, []string{"V1"}, map[string]string{"rack": "a"}, map[string]string{"version": "1"}, chk("db3", "flaky", api.HealthCritical))
	registerDB(t, c, "db4", "10.0.0.4", 5433, []string{"v2"}, map[string]string{"rack": "b"}, map[string]string{"version": "2"}, chk("db4", "alive", api.HealthPassing))

	create := func(def *api.PreparedQueryDefinition) string {
		t.Helper()
		id, _, err := pq.Create(def, nil)
		if err != nil {
			t.Fatalf("create %+v: %v", def, err)
		}
		return id
	}
	execute := func(idOrName string, q *api.QueryOptions) *api.PreparedQueryExecuteResponse {
		t.Helper()
		out, _, err := pq.Execute(idOrName, q)
		if err != nil {
			t.Fatalf("execute %s: %v", idOrName, err)
		}
		return out
	}

	t.Run("create, read, list, update, delete", func(t *testing.T) {
		def := &api.PreparedQueryDefinition{Name: "crud", Service: api.ServiceQuery{Service: "db", Tags: []string{"v1"}},
			DNS: api.QueryDNSOptions{TTL: "10s"}}
		id := create(def)
		got, meta, err := pq.Get(id, nil)
		if err != nil || len(got) != 1 {
			t.Fatalf("get = %v, %v", got, err)
		}
		if got[0].ID != id || got[0].Name != "crud" || got[0].Service.Service != "db" || got[0].DNS.TTL != "10s" ||
			!reflect.DeepEqual(got[0].Service.Tags, []string{"v1"}) || meta.LastIndex == 0 {
			t.Fatalf("get = %+v (meta %+v)", got[0], meta)
		}
		list, _, err := pq.List(nil)
		if err != nil || len(list) != 1 || list[0].ID != id {
			t.Fatalf("list = %v, %v", list, err)
		}
		def.ID = id
		def.Service.Tags = []string{"v2"}
		if _, err := pq.Update(def, nil); err != nil {
			t.Fatal(err)
		}
		if out := execute("crud", nil); !reflect.DeepEqual(nodeNames(out.Nodes), []string{"db4"}) || out.Service != "db" ||
			out.Datacenter != "dc1" || out.Failovers != 0 || out.DNS.TTL != "10s" {
			t.Fatalf("execute after update = %+v", out)
		}
		if _, err := pq.Delete(id, nil); err != nil {
			t.Fatal(err)
		}
		_, _, err = pq.Get(id, nil)
		wantStatus(t, "get deleted", err, 404, "Query not found")
		_, err = pq.Delete(id, nil)
		wantStatus(t, "delete deleted", err, 404, "Cannot modify non-existent prepared query")
		def.ID = id
		_, err = pq.Update(def, nil)
		wantStatus(t, "update deleted", err, 404, "Cannot modify non-existent prepared query")
	})

	t.Run("JSON shape of unset fields", func(t *testing.T) {
		id := create(&api.PreparedQueryDefinition{Name: "shape", Service: api.ServiceQuery{Service: "db"}})
		defer pq.Delete(id, nil)
		resp, err := http.Get("http://" + a.HTTPAddr + "/v1/query/" + id)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var raw []map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil || len(raw) != 1 {
			t.Fatalf("decode: %v %v", raw, err)
		}
		svc := raw[0]["Service"].(map[string]any)
		fo := svc["Failover"].(map[string]any)
		for k, want := range map[string]any{"IgnoreCheckIDs": nil, "Tags": nil, "NodeMeta": nil, "ServiceMeta": nil, "OnlyPassing": false, "Near": ""} {
			if v, ok := svc[k]; !ok || !reflect.DeepEqual(v, want) {
				t.Errorf("Service.%s = %#v (present %v), want %#v", k, v, ok, want)
			}
		}
		for k, want := range map[string]any{"NearestN": float64(0), "Datacenters": nil, "Targets": nil} {
			if v, ok := fo[k]; !ok || !reflect.DeepEqual(v, want) {
				t.Errorf("Failover.%s = %#v, want %#v", k, v, want)
			}
		}
		for _, k := range []string{"MinPassing", "FailbackAfter", "FailbackMode"} {
			if _, ok := fo[k]; ok {
				t.Errorf("Failover.%s present on a query without the sticky policy", k)
			}
		}
		tmpl := raw[0]["Template"].(map[string]any)
		if !reflect.DeepEqual(tmpl, map[string]any{"Type": "", "Regexp": "", "RemoveEmptyTags": false}) {
			t.Errorf("Template = %v", tmpl)
		}
		for _, k := range []string{"CreateIndex", "ModifyIndex", "Session", "Token", "DNS"} {
			if _, ok := raw[0][k]; !ok {
				t.Errorf("%s missing", k)
			}
		}
		if _, ok := raw[0]["Failover"]; ok {
			t.Errorf("top-level Failover present")
		}
	})

	t.Run("filters", func(t *testing.T) {
		cases := []struct {
			name string
			svc  api.ServiceQuery
			want []string
		}{
			{"healthy", api.ServiceQuery{Service: "db"}, []string{"db1", "db2", "db4"}},
			{"only passing", api.ServiceQuery{Service: "db", OnlyPassing: true}, []string{"db1", "db4"}},
			{"ignore check", api.ServiceQuery{Service: "db", IgnoreCheckIDs: []string{"flaky"}}, []string{"db1", "db2", "db3", "db4"}},
			{"tags, case-insensitive", api.ServiceQuery{Service: "db", Tags: []string{"v1"}, IgnoreCheckIDs: []string{"flaky"}}, []string{"db1", "db2", "db3"}},
			{"negated tag", api.ServiceQuery{Service: "db", Tags: []string{"v1", "!primary"}, IgnoreCheckIDs: []string{"flaky"}}, []string{"db2", "db3"}},
			{"node meta", api.ServiceQuery{Service: "db", NodeMeta: map[string]string{"rack": "b"}}, []string{"db4"}},
			{"service meta", api.ServiceQuery{Service: "db", ServiceMeta: map[string]string{"version": "1"}}, []string{"db1", "db2"}},
			{"no match", api.ServiceQuery{Service: "db", ServiceMeta: map[string]string{"version": "9"}}, []string{}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				id := create(&api.PreparedQueryDefinition{Name: "f-" + strings.ReplaceAll(tc.name, " ", "-"), Service: tc.svc})
				defer pq.Delete(id, nil)
				out := execute(id, nil)
				if got := nodeNames(out.Nodes); !reflect.DeepEqual(got, tc.want) {
					t.Fatalf("nodes = %v, want %v", got, tc.want)
				}
			})
		}
	})

	t.Run("limit and near", func(t *testing.T) {
		id := create(&api.PreparedQueryDefinition{Name: "lim", Service: api.ServiceQuery{Service: "db", Near: "_agent"}})
		defer pq.Delete(id, nil)
		var limited api.PreparedQueryExecuteResponse
		resp, err := http.Get("http://" + a.HTTPAddr + "/v1/query/lim/execute?limit=1")
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&limited)
		resp.Body.Close()
		if err != nil || len(limited.Nodes) != 1 {
			t.Fatalf("limit 1: %d nodes, %v", len(limited.Nodes), err)
		}
		if out := execute("lim", &api.QueryOptions{Near: "db4"}); len(out.Nodes) != 3 {
			t.Fatalf("near: %d nodes", len(out.Nodes))
		}
		resp, err = http.Get("http://" + a.HTTPAddr + "/v1/query/lim/execute?limit=x")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Fatalf("limit=x: %d", resp.StatusCode)
		}
	})

	t.Run("templates", func(t *testing.T) {
		tpl := create(&api.PreparedQueryDefinition{Name: "tpl-",
			Template: api.QueryTemplate{Type: "name_prefix_match", Regexp: "^tpl-([^-]+)-?(.*)$", RemoveEmptyTags: true},
			Service:  api.ServiceQuery{Service: "${match(1)}", Tags: []string{"${match(2)}"}}})
		defer pq.Delete(tpl, nil)
		raw := create(&api.PreparedQueryDefinition{Name: "raw-",
			Template: api.QueryTemplate{Type: "name_prefix_match", Regexp: "^raw-([^-]+)-?(.*)$"},
			Service:  api.ServiceQuery{Service: "${match(1)}", Tags: []string{"${match(2)}"}}})
		defer pq.Delete(raw, nil)
		all := create(&api.PreparedQueryDefinition{Name: "",
			Template: api.QueryTemplate{Type: "name_prefix_match"},
			Service:  api.ServiceQuery{Service: "${name.full}", Tags: []string{"${name.prefix}x${name.suffix}"}}})
		defer pq.Delete(all, nil)

		if got := nodeNames(execute("tpl-db-primary", nil).Nodes); !reflect.DeepEqual(got, []string{"db1"}) {
			t.Fatalf("tpl-db-primary = %v", got)
		}
		if got := nodeNames(execute("tpl-db", nil).Nodes); !reflect.DeepEqual(got, []string{"db1", "db2", "db4"}) {
			t.Fatalf("tpl-db (empty tag removed) = %v", got)
		}
		if got := nodeNames(execute("raw-db", nil).Nodes); len(got) != 0 {
			t.Fatalf("raw-db (empty tag kept) = %v", got)
		}
		ex, _, err := pq.Execute("raw-db", nil)
		if err != nil || ex.Service != "db" {
			t.Fatalf("raw-db = %+v, %v", ex, err)
		}
		// The catch-all template answers any other name.
		out := execute("db", nil)
		if out.Service != "db" || len(out.Nodes) != 0 {
			t.Fatalf("catch-all: %+v", out)
		}
		var explained struct{ Query api.PreparedQueryDefinition }
		if _, err := c.Raw().Query("/v1/query/tpl-db-v2/explain", &explained, nil); err != nil {
			t.Fatal(err)
		}
		if q := explained.Query; q.Service.Service != "db" || !reflect.DeepEqual(q.Service.Tags, []string{"v2"}) || q.ID != tpl {
			t.Fatalf("explain = %+v", q)
		}
		if _, _, err := pq.Create(&api.PreparedQueryDefinition{Template: api.QueryTemplate{Type: "name_prefix_match"},
			Service: api.ServiceQuery{Service: "x"}}, nil); err == nil || !strings.Contains(err.Error(), "empty name already exists") {
			t.Fatalf("second catch-all: %v", err)
		}
	})

	t.Run("session binding", func(t *testing.T) {
		sid, _, err := c.Session().Create(nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		id := create(&api.PreparedQueryDefinition{Session: sid, Service: api.ServiceQuery{Service: "db"}})
		if out := execute(id, nil); len(out.Nodes) != 3 {
			t.Fatalf("bound query: %+v", out)
		}
		if _, err := c.Session().Destroy(sid, nil); err != nil {
			t.Fatal(err)
		}
		_, _, err = pq.Get(id, nil)
		wantStatus(t, "query of destroyed session", err, 404, "Query not found")
	})

	t.Run("errors", func(t *testing.T) {
		create(&api.PreparedQueryDefinition{Name: "taken", Service: api.ServiceQuery{Service: "db"}})
		cases := []struct {
			def  *api.PreparedQueryDefinition
			want string
		}{
			{&api.PreparedQueryDefinition{Name: "x"}, "Must provide a Service name to query"},
			{&api.PreparedQueryDefinition{Service: api.ServiceQuery{Service: "db"}}, "Must be bound to a session"},
			{&api.PreparedQueryDefinition{Name: "TAKEN", Service: api.ServiceQuery{Service: "db"}}, "name 'TAKEN' aliases an existing query name"},
			{&api.PreparedQueryDefinition{Name: "n", Service: api.ServiceQuery{Service: "db", Failover: api.QueryFailoverOptions{NearestN: -1}}}, "Bad NearestN '-1', must be >= 0"},
			{&api.PreparedQueryDefinition{Name: "r", Template: api.QueryTemplate{Type: "name_prefix_match", Regexp: "("}, Service: api.ServiceQuery{Service: "db"}}, "Bad Regexp"},
			{&api.PreparedQueryDefinition{Name: "t", Template: api.QueryTemplate{Type: "other"}, Service: api.ServiceQuery{Service: "db"}}, "Bad Template.Type 'other'"},
			{&api.PreparedQueryDefinition{Name: "i", Template: api.QueryTemplate{Type: "name_prefix_match"}, Service: api.ServiceQuery{Service: "${nope}"}}, "unknown variable"},
			{&api.PreparedQueryDefinition{Name: "d", Service: api.ServiceQuery{Service: "db"}, DNS: api.QueryDNSOptions{TTL: "soon"}}, "Bad DNS TTL 'soon'"},
			{&api.PreparedQueryDefinition{Name: "s", Session: "8f246b77-f3e1-ff88-5b48-8ec93abf3e05", Service: api.ServiceQuery{Service: "db"}}, "invalid session"},
		}
		for _, tc := range cases {
			_, _, err := pq.Create(tc.def, nil)
			wantStatus(t, tc.want, err, 400, tc.want)
		}
		_, _, err := pq.Execute("nope", nil)
		wantStatus(t, "execute unknown", err, 404, "Query not found")
		resp, err := http.Post("http://"+a.HTTPAddr+"/v1/query", "application/json", strings.NewReader(`{"Name":"u","X":1,"Service":{"Service":"db"}}`))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || string(body) != `Request decode failed: json: unknown field "X"` {
			t.Fatalf("unknown field: %d %q", resp.StatusCode, body)
		}
		resp, err = http.Get("http://" + a.HTTPAddr + "/v1/query/nope/execute")
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 404 || string(body) != "Query not found" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
			t.Fatalf("execute unknown: %d %q %s", resp.StatusCode, body, resp.Header.Get("Content-Type"))
		}
	})

	t.Run("dns", func(t *testing.T) {
		id := create(&api.PreparedQueryDefinition{Name: "dnsq", Service: api.ServiceQuery{Service: "db", OnlyPassing: true},
			DNS: api.QueryDNSOptions{TTL: "7s"}})
		defer pq.Delete(id, nil)
		for _, name := range []string{"dnsq.query.consul", id + ".query.consul", "dnsq.query.dc1.consul"} {
			m := dnsQuery(t, a, name, dns.TypeA, "udp")
			if got := answerAddrs(m); m.Rcode != dns.RcodeSuccess || !reflect.DeepEqual(got, []string{"10.0.0.1", "10.0.0.4"}) || m.Answer[0].Header().Ttl != 7 {
				t.Fatalf("%s A: rcode %d answers %v", name, m.Rcode, m.Answer)
			}
		}
		m := dnsQuery(t, a, "dnsq.query.consul", dns.TypeSRV, "tcp")
		var targets []string
		for _, rr := range m.Answer {
			srv, ok := rr.(*dns.SRV)
			if !ok {
				t.Fatalf("SRV answer %v", rr)
			}
			targets = append(targets, srv.Target)
		}
		sort.Strings(targets)
		if !reflect.DeepEqual(targets, []string{"db1.node.dc1.consul.", "db4.node.dc1.consul."}) || len(m.Extra) != 2 {
			t.Fatalf("SRV: %v extra %v", m.Answer, m.Extra)
		}
		if m := dnsQuery(t, a, "nope.query.consul", dns.TypeA, "udp"); m.Rcode != dns.RcodeNameError {
			t.Fatalf("unknown query: rcode %d", m.Rcode)
		}
	})
}
