package agent

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

func TestCatalogAndHealthThroughAPIClient(t *testing.T) {
	a := StartTestAgent(t, "-server", "-bootstrap")
	a.WaitForLeader(t)
	c := a.Client
	// The leader registers its own node a moment after it is elected.
	WaitFor(t, "the agent's node in the catalog", 10*time.Second, func() error {
		n, _, err := c.Catalog().Node(a.Name, nil)
		if err != nil || n == nil || n.Node == nil {
			return fmt.Errorf("not yet: %v", err)
		}
		return nil
	})

	reg := &api.CatalogRegistration{
		Node:     "web1",
		Address:  "10.0.0.1",
		NodeMeta: map[string]string{"rack": "r1"},
		Service: &api.AgentService{ID: "web-1", Service: "web", Tags: []string{"v1", "primary"}, Port: 8080,
			Meta: map[string]string{"version": "1"}},
		Checks: api.HealthChecks{
			{Node: "web1", CheckID: "web-http", Name: "web http", Status: api.HealthPassing, ServiceID: "web-1"},
			{Node: "web1", CheckID: "disk", Name: "disk", Status: api.HealthWarning},
		},
	}
	if _, err := c.Catalog().Register(reg, nil); err != nil {
		t.Fatalf("register: %v", err)
	}
	reg2 := &api.CatalogRegistration{Node: "web2", Address: "10.0.0.2",
		Service: &api.AgentService{ID: "web-2", Service: "web", Tags: []string{"v2"}, Port: 8080},
		Check:   &api.AgentCheck{Node: "web2", CheckID: "web-http", Name: "web http", Status: api.HealthCritical, ServiceID: "web-2"},
	}
	if _, err := c.Catalog().Register(reg2, nil); err != nil {
		t.Fatalf("register: %v", err)
	}

	nodes, meta, err := c.Catalog().Nodes(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 3 || meta.LastIndex == 0 || !meta.KnownLeader {
		t.Fatalf("nodes=%d meta=%+v", len(nodes), meta)
	}
	filtered, _, err := c.Catalog().Nodes(&api.QueryOptions{NodeMeta: map[string]string{"rack": "r1"}})
	if err != nil || len(filtered) != 1 || filtered[0].Node != "web1" {
		t.Fatalf("node-meta filter: %v %+v", err, filtered)
	}
	services, _, err := c.Catalog().Services(nil)
	if err != nil {
		t.Fatal(err)
	}
	if tags := services["web"]; len(tags) != 3 {
		t.Fatalf("web tags = %v, want the union of three", tags)
	}
	inst, _, err := c.Catalog().Service("web", "v1", nil)
	if err != nil || len(inst) != 1 || inst[0].ServiceID != "web-1" || inst[0].ServiceMeta["version"] != "1" || inst[0].NodeMeta["rack"] != "r1" {
		t.Fatalf("service web tag v1: %v %+v", err, inst)
	}
	node, _, err := c.Catalog().Node("web1", nil)
	if err != nil || node == nil || node.Services["web-1"] == nil || node.Services["web-1"].Port != 8080 {
		t.Fatalf("catalog node: %v %+v", err, node)
	}
	missing, _, err := c.Catalog().Node("nobody", nil)
	if err != nil || missing != nil {
		t.Fatalf("unknown node: %v %+v", err, missing)
	}

	checks, _, err := c.Health().Node("web1", nil)
	if err != nil || len(checks) != 2 {
		t.Fatalf("health node: %v %+v", err, checks)
	}
	svcChecks, _, err := c.Health().Checks("web", nil)
	if err != nil || len(svcChecks) != 2 {
		t.Fatalf("health checks web: %v %+v", err, svcChecks)
	}
	// web1 has a warning node check, so only passingOnly=false lists it.
	all, _, err := c.Health().Service("web", "", false, nil)
	if err != nil || len(all) != 2 {
		t.Fatalf("health service: %v %d", err, len(all))
	}
	passing, _, err := c.Health().Service("web", "", true, nil)
	if err != nil || len(passing) != 0 {
		t.Fatalf("passing only: %v %+v", err, passing)
	}
	critical, _, err := c.Health().State(api.HealthCritical, nil)
	if err != nil || len(critical) != 1 || critical[0].Node != "web2" {
		t.Fatalf("state critical: %v %+v", err, critical)
	}
	any, _, err := c.Health().State(api.HealthAny, nil)
	if err != nil || len(any) < 4 {
		t.Fatalf("state any: %v %d", err, len(any))
	}

	leader, err := c.Status().Leader()
	if err != nil || leader == "" {
		t.Fatalf("leader: %v %q", err, leader)
	}
	peers, err := c.Status().Peers()
	if err != nil || len(peers) != 1 || peers[0] != leader {
		t.Fatalf("peers: %v %v (leader %s)", err, peers, leader)
	}

	// Consistency modes show in QueryMeta.
	_, qm, err := c.Catalog().Nodes(&api.QueryOptions{AllowStale: true})
	if err != nil || qm.LastContact != 0 || !qm.KnownLeader {
		t.Fatalf("stale on the leader: %v %+v", err, qm)
	}
	if _, _, err := c.Catalog().Nodes(&api.QueryOptions{RequireConsistent: true}); err != nil {
		t.Fatalf("consistent read: %v", err)
	}

	// Blocking: a query at the current index wakes on a deregistration.
	_, qm, _ = c.Health().Service("web", "", false, nil)
	type result struct {
		n   int
		idx uint64
		err error
	}
	done := make(chan result, 1)
	go func() {
		entries, m, err := c.Health().Service("web", "", false, &api.QueryOptions{WaitIndex: qm.LastIndex, WaitTime: 20 * time.Second})
		if err != nil {
			done <- result{err: err}
			return
		}
		done <- result{n: len(entries), idx: m.LastIndex}
	}()
	if _, err := c.Catalog().Deregister(&api.CatalogDeregistration{Node: "web2", ServiceID: "web-2"}, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		if r.err != nil || r.n != 1 || r.idx <= qm.LastIndex {
			t.Fatalf("blocking health query woke with %+v (start index %d)", r, qm.LastIndex)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("blocking query did not wake")
	}
	// A blocking query with nothing changing returns after its wait with
	// the same index.
	start := time.Now()
	_, qm2, err := c.Catalog().Services(&api.QueryOptions{WaitIndex: 1 << 40, WaitTime: 200 * time.Millisecond})
	if err != nil || time.Since(start) < 150*time.Millisecond {
		t.Fatalf("blocking wait: %v after %s (meta %+v)", err, time.Since(start), qm2)
	}

	// Deregistering the node removes it with all its checks.
	if _, err := c.Catalog().Deregister(&api.CatalogDeregistration{Node: "web2"}, nil); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := c.Catalog().Node("web2", nil); n != nil {
		t.Fatalf("web2 still there: %+v", n)
	}
}

func TestCatalogBadInput(t *testing.T) {
	a := StartTestAgent(t, "-server", "-bootstrap")
	a.WaitForLeader(t)
	do := func(method, path, body string) (int, string) {
		req, _ := http.NewRequest(method, "http://"+a.HTTPAddr+path, bytes.NewBufferString(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tc := range []struct {
		method, path, body string
		code               int
		says               string
	}{
		{"PUT", "/v1/catalog/register", `{"Node":`, 400, "decode"},
		{"PUT", "/v1/catalog/register", ``, 400, "empty"},
		{"PUT", "/v1/catalog/register", `{"Address":"1.2.3.4"}`, 400, "node name"},
		{"PUT", "/v1/catalog/register", `{"Node":"n","Address":"1.2.3.4","Check":{"CheckID":"c","Status":"sideways"}}`, 400, "sideways"},
		{"PUT", "/v1/catalog/register", `{"Node":"n","Address":"1.2.3.4","Service":{"Port":1}}`, 400, "service name"},
		{"PUT", "/v1/catalog/deregister", `{}`, 400, "node name"},
		{"GET", "/v1/catalog/nodes?index=abc", "", 400, "index"},
		{"GET", "/v1/catalog/nodes?wait=forever", "", 400, "wait"},
		{"GET", "/v1/catalog/nodes?stale&consistent", "", 400, "stale"},
		{"GET", "/v1/health/state/sideways", "", 400, "state"},
		{"GET", "/v1/catalog/nodes?node-meta=novalue", "", 400, "node-meta"},
		{"POST", "/v1/catalog/nodes", "", 405, "not allowed"},
		{"GET", "/v1/no/such/thing", "", 404, "no such endpoint"},
	} {
		code, body := do(tc.method, tc.path, tc.body)
		if code != tc.code || !strings.Contains(strings.ToLower(body), strings.ToLower(tc.says)) {
			t.Errorf("%s %s %q: %d %q, want %d mentioning %q", tc.method, tc.path, tc.body, code, body, tc.code, tc.says)
		}
	}
	// Nothing bad was written: only the agent's own node, which the
	// leader registers a moment after it is elected, is there.
	WaitFor(t, "only the agent in the catalog", 10*time.Second, func() error {
		nodes, _, err := a.Client.Catalog().Nodes(nil)
		if err != nil || len(nodes) != 1 {
			return fmt.Errorf("after bad input: %v, %d nodes (want only the agent)", err, len(nodes))
		}
		return nil
	})
	_ = fmt.Sprint
}
