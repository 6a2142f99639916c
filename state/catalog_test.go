package state

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	memdb "github.com/hashicorp/go-memdb"

	"github.com/meridian-sd/meridian/structs"
)

func TestEnsureNode_Indexes(t *testing.T) {
	s := testStore(t)
	n := &structs.Node{ID: "id-1", Node: "n1", Address: "127.0.0.1", Meta: map[string]string{"a": "b"}}
	if err := s.EnsureNode(1, n); err != nil {
		t.Fatal(err)
	}
	if n.CreateIndex != 0 || n.ModifyIndex != 0 {
		t.Fatalf("input mutated: %+v", n)
	}

	// The same node again changes nothing.
	same := *n
	same.Meta = map[string]string{"a": "b"}
	if err := s.EnsureNode(2, &same); err != nil {
		t.Fatal(err)
	}
	idx, got, err := s.GetNode(nil, "n1")
	if err != nil {
		t.Fatal(err)
	}
	if idx != 1 || got.CreateIndex != 1 || got.ModifyIndex != 1 {
		t.Fatalf("after no-op write: idx=%d create=%d modify=%d, want 1/1/1", idx, got.CreateIndex, got.ModifyIndex)
	}

	// A real change moves ModifyIndex only.
	changed := *n
	changed.Address = "127.0.0.2"
	if err := s.EnsureNode(3, &changed); err != nil {
		t.Fatal(err)
	}
	idx, got, err = s.GetNode(nil, "n1")
	if err != nil {
		t.Fatal(err)
	}
	if idx != 3 || got.CreateIndex != 1 || got.ModifyIndex != 3 || got.Address != "127.0.0.2" {
		t.Fatalf("after change: idx=%d node=%+v", idx, got)
	}
}

func TestEnsureNode_Validation(t *testing.T) {
	s := testStore(t)
	if err := s.EnsureNode(1, &structs.Node{Address: "127.0.0.1"}); err == nil {
		t.Fatal("node without a name accepted")
	}
	if err := s.EnsureNode(1, nil); err == nil {
		t.Fatal("nil node accepted")
	}
}

func TestGetNode_CaseInsensitiveAndByID(t *testing.T) {
	s := testStore(t)
	if err := s.EnsureNode(1, &structs.Node{ID: "ABC-1", Node: "Node1", Address: "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	_, n, err := s.GetNode(nil, "node1")
	if err != nil || n == nil || n.Node != "Node1" {
		t.Fatalf("GetNode(node1) = %+v, %v", n, err)
	}
	_, n, err = s.GetNodeID(nil, "abc-1")
	if err != nil || n == nil || n.Node != "Node1" {
		t.Fatalf("GetNodeID(abc-1) = %+v, %v", n, err)
	}
	_, n, err = s.GetNodeID(nil, "")
	if err != nil || n != nil {
		t.Fatalf("GetNodeID(\"\") = %+v, %v, want nil", n, err)
	}
}

func TestEnsureRegistration_Full(t *testing.T) {
	s := testStore(t)
	req := &structs.RegisterRequest{
		ID:       "node-id",
		Node:     "n1",
		Address:  "127.0.0.1",
		NodeMeta: map[string]string{"rack": "r1"},
		Service:  &structs.NodeService{ID: "web1", Service: "web", Tags: []string{"v1"}, Port: 80},
		Check:    &structs.HealthCheck{CheckID: "web-check", Name: "web", ServiceID: "web1", Status: structs.HealthPassing},
		Checks: structs.HealthChecks{
			{CheckID: structs.SerfCheckID, Name: structs.SerfCheckName}, // no node, no status
		},
	}
	if err := s.EnsureRegistration(7, req); err != nil {
		t.Fatal(err)
	}
	if req.Checks[0].Node != "" || req.Checks[0].Status != "" {
		t.Fatalf("request mutated: %+v", req.Checks[0])
	}
	_, ns, err := s.NodeServices(nil, "n1")
	if err != nil {
		t.Fatal(err)
	}
	if ns == nil || ns.Node.ID != "node-id" || ns.Node.Meta["rack"] != "r1" {
		t.Fatalf("node = %+v", ns)
	}
	if svc := ns.Services["web1"]; svc == nil || svc.Service != "web" || svc.CreateIndex != 7 {
		t.Fatalf("service = %+v", svc)
	}
	_, checks, err := s.NodeChecks(nil, "n1")
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]*structs.HealthCheck{}
	for _, c := range checks {
		byID[c.CheckID] = c
	}
	serf := byID[structs.SerfCheckID]
	if serf == nil || serf.Node != "n1" || serf.Status != structs.HealthCritical {
		t.Fatalf("serf check = %+v, want node n1 and critical status", serf)
	}
	web := byID["web-check"]
	if web == nil || web.ServiceName != "web" || !reflect.DeepEqual(web.ServiceTags, []string{"v1"}) {
		t.Fatalf("web check = %+v, want service name and tags filled in", web)
	}
	for _, table := range []string{"nodes", "services", "checks"} {
		if got := s.MaxIndex(table); got != 7 {
			t.Errorf("MaxIndex(%s) = %d, want 7", table, got)
		}
	}
}

func TestEnsureRegistration_Atomic(t *testing.T) {
	tests := []struct {
		name string
		req  *structs.RegisterRequest
		want error
	}{
		{
			name: "check for unknown service",
			req: &structs.RegisterRequest{
				Node: "n1", Address: "127.0.0.1",
				Service: &structs.NodeService{ID: "web1", Service: "web"},
				Checks:  structs.HealthChecks{{CheckID: "c", ServiceID: "nope", Status: structs.HealthPassing}},
			},
			want: ErrMissingService,
		},
		{
			name: "check for another node",
			req: &structs.RegisterRequest{
				Node: "n1", Address: "127.0.0.1",
				Check: &structs.HealthCheck{Node: "n2", CheckID: "c", Status: structs.HealthPassing},
			},
		},
		{
			name: "invalid check status",
			req: &structs.RegisterRequest{
				Node: "n1", Address: "127.0.0.1",
				Check: &structs.HealthCheck{CheckID: "c", Status: "sleepy"},
			},
		},
		{
			name: "missing node name",
			req:  &structs.RegisterRequest{Address: "127.0.0.1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := testStore(t)
			err := s.EnsureRegistration(1, tt.req)
			if err == nil {
				t.Fatal("registration accepted")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
			_, n, _ := s.GetNode(nil, "n1")
			if n != nil {
				t.Fatalf("node committed by a failed registration: %+v", n)
			}
			if got := s.MaxIndex(); got != 0 {
				t.Fatalf("MaxIndex() = %d after failed registration, want 0", got)
			}
		})
	}
}

func TestEnsureRegistration_SkipNodeUpdate(t *testing.T) {
	s := testStore(t)
	testRegisterNodeMeta(t, s, 1, "n1", map[string]string{"keep": "me"})
	req := &structs.RegisterRequest{
		Node: "n1", Address: "127.0.0.9", SkipNodeUpdate: true,
		Service: &structs.NodeService{ID: "web", Service: "web"},
	}
	if err := s.EnsureRegistration(2, req); err != nil {
		t.Fatal(err)
	}
	_, n, _ := s.GetNode(nil, "n1")
	if n.Address != "127.0.0.1" || n.Meta["keep"] != "me" || n.ModifyIndex != 1 {
		t.Fatalf("SkipNodeUpdate changed the node: %+v", n)
	}
	// SkipNodeUpdate still creates a node that does not exist.
	req = &structs.RegisterRequest{Node: "n2", Address: "127.0.0.2", SkipNodeUpdate: true}
	if err := s.EnsureRegistration(3, req); err != nil {
		t.Fatal(err)
	}
	if _, n, _ := s.GetNode(nil, "n2"); n == nil {
		t.Fatal("SkipNodeUpdate did not create a missing node")
	}
}

func testFullRegistration() *structs.RegisterRequest {
	return &structs.RegisterRequest{
		ID: "id1", Node: "n1", Address: "127.0.0.1",
		TaggedAddresses: map[string]string{"lan": "127.0.0.1"},
		NodeMeta:        map[string]string{"env": "test"},
		Service: &structs.NodeService{
			ID: "web1", Service: "web", Tags: []string{"a", "b"}, Port: 80,
			Meta: map[string]string{"v": "1"}, Weights: structs.Weights{Passing: 1, Warning: 1},
		},
		Checks: structs.HealthChecks{
			{CheckID: structs.SerfCheckID, Status: structs.HealthPassing, Output: "ok"},
			{CheckID: "web-http", ServiceID: "web1", Status: structs.HealthPassing,
				Definition: structs.HealthCheckDefinition{HTTP: "http://127.0.0.1/", Header: map[string][]string{"X": {"y"}}}},
		},
	}
}

func TestEnsureRegistration_IdempotentWakesNobody(t *testing.T) {
	s := testStore(t)
	if err := s.EnsureRegistration(1, testFullRegistration()); err != nil {
		t.Fatal(err)
	}
	ws := memdb.NewWatchSet()
	idxSN, _, _ := s.ServiceNodes(ws, "web", nil, nil)
	idxCSN, _, _ := s.CheckServiceNodes(ws, "web", nil, nil)
	idxN, _, _ := s.Nodes(ws, nil)
	idxC, _, _ := s.NodeChecks(ws, "n1")
	idxNS, _, _ := s.NodeServices(ws, "n1")

	if err := s.EnsureRegistration(2, testFullRegistration()); err != nil {
		t.Fatal(err)
	}
	if watchFired(ws) {
		t.Fatal("an identical re-registration fired a watch")
	}
	ws2 := memdb.NewWatchSet()
	checks := []struct {
		name string
		was  uint64
		now  func() uint64
	}{
		{"ServiceNodes", idxSN, func() uint64 { i, _, _ := s.ServiceNodes(ws2, "web", nil, nil); return i }},
		{"CheckServiceNodes", idxCSN, func() uint64 { i, _, _ := s.CheckServiceNodes(ws2, "web", nil, nil); return i }},
		{"Nodes", idxN, func() uint64 { i, _, _ := s.Nodes(ws2, nil); return i }},
		{"NodeChecks", idxC, func() uint64 { i, _, _ := s.NodeChecks(ws2, "n1"); return i }},
		{"NodeServices", idxNS, func() uint64 { i, _, _ := s.NodeServices(ws2, "n1"); return i }},
	}
	for _, c := range checks {
		if got := c.now(); got != c.was || got != 1 {
			t.Errorf("%s index moved from %d to %d on an identical re-registration", c.name, c.was, got)
		}
	}

	// A real change to the check output wakes the health watchers.
	req := testFullRegistration()
	req.Checks[0].Output = "changed"
	if err := s.EnsureRegistration(3, req); err != nil {
		t.Fatal(err)
	}
	if !watchFired(ws2) {
		t.Fatal("a changed check fired no watch")
	}
	if i, _, _ := s.CheckServiceNodes(nil, "web", nil, nil); i != 3 {
		t.Fatalf("CheckServiceNodes index = %d after a node check change, want 3", i)
	}
}

func TestEnsureService(t *testing.T) {
	s := testStore(t)
	err := s.EnsureService(1, "nope", &structs.NodeService{ID: "x", Service: "x"})
	if !errors.Is(err, ErrMissingNode) {
		t.Fatalf("service on unknown node: err = %v, want ErrMissingNode", err)
	}
	testRegisterNode(t, s, 2, "n1")
	if err := s.EnsureService(3, "n1", &structs.NodeService{}); err == nil {
		t.Fatal("service without a name accepted")
	}
	// An empty ID defaults to the name.
	if err := s.EnsureService(4, "n1", &structs.NodeService{Service: "db", Port: 5432}); err != nil {
		t.Fatal(err)
	}
	_, ns, _ := s.NodeServices(nil, "n1")
	if svc := ns.Services["db"]; svc == nil || svc.ID != "db" || svc.CreateIndex != 4 || svc.ModifyIndex != 4 {
		t.Fatalf("service = %+v", ns.Services)
	}
	// An update keeps CreateIndex.
	if err := s.EnsureService(5, "n1", &structs.NodeService{Service: "db", Port: 5433}); err != nil {
		t.Fatal(err)
	}
	_, ns, _ = s.NodeServices(nil, "n1")
	if svc := ns.Services["db"]; svc.CreateIndex != 4 || svc.ModifyIndex != 5 || svc.Port != 5433 {
		t.Fatalf("updated service = %+v", svc)
	}
}

func TestEnsureService_RetagUpdatesChecks(t *testing.T) {
	s := testStore(t)
	testRegisterNode(t, s, 1, "n1")
	testRegisterService(t, s, 2, "n1", "web1", "web", "v1")
	testRegisterCheck(t, s, 3, "n1", "c1", "web1", structs.HealthPassing)
	testRegisterService(t, s, 4, "n1", "web1", "web", "v2")
	_, checks, _ := s.ServiceChecks(nil, "web", nil)
	if len(checks) != 1 || !reflect.DeepEqual(checks[0].ServiceTags, []string{"v2"}) || checks[0].ModifyIndex != 4 {
		t.Fatalf("checks after retag = %+v", checks)
	}
}

func TestEnsureCheck(t *testing.T) {
	s := testStore(t)
	err := s.EnsureCheck(1, &structs.HealthCheck{Node: "nope", CheckID: "c"})
	if !errors.Is(err, ErrMissingNode) {
		t.Fatalf("check on unknown node: err = %v", err)
	}
	testRegisterNode(t, s, 2, "n1")
	err = s.EnsureCheck(3, &structs.HealthCheck{Node: "n1", CheckID: "c", ServiceID: "nope"})
	if !errors.Is(err, ErrMissingService) {
		t.Fatalf("check on unknown service: err = %v", err)
	}
	if err := s.EnsureCheck(3, &structs.HealthCheck{Node: "n1"}); err == nil {
		t.Fatal("check without an ID accepted")
	}
	testRegisterCheck(t, s, 4, "N1", "c", "", structs.HealthWarning)
	_, checks, _ := s.NodeChecks(nil, "n1")
	if len(checks) != 1 || checks[0].Node != "n1" || checks[0].Status != structs.HealthWarning || checks[0].CreateIndex != 4 {
		t.Fatalf("checks = %+v", checks)
	}
	testRegisterCheck(t, s, 5, "n1", "c", "", structs.HealthPassing)
	_, checks, _ = s.NodeChecks(nil, "n1")
	if checks[0].CreateIndex != 4 || checks[0].ModifyIndex != 5 {
		t.Fatalf("updated check indexes = %d/%d, want 4/5", checks[0].CreateIndex, checks[0].ModifyIndex)
	}
}

func TestDeleteNode_Cascades(t *testing.T) {
	s := testStore(t)
	if err := s.EnsureRegistration(1, testFullRegistration()); err != nil {
		t.Fatal(err)
	}
	testRegisterNode(t, s, 2, "n2")
	testRegisterService(t, s, 3, "n2", "web2", "web")
	if err := s.CoordinateBatchUpdate(4, structs.Coordinates{{Node: "n1", Coord: testCoord()}, {Node: "n2", Coord: testCoord()}}); err != nil {
		t.Fatal(err)
	}
	testSession(t, s, 5, "sess1", "n1", structs.SerfCheckID)
	if ok, err := s.KVSLock(6, &structs.DirEntry{Key: "lock", Value: []byte("v"), Session: "sess1"}); !ok || err != nil {
		t.Fatalf("KVSLock = %v, %v", ok, err)
	}

	ws := memdb.NewWatchSet()
	s.KVSGet(ws, "lock")
	if err := s.DeleteNode(7, "N1"); err != nil {
		t.Fatal(err)
	}
	if !watchFired(ws) {
		t.Fatal("deleting the node did not fire the watch on its session's lock")
	}
	if _, n, _ := s.GetNode(nil, "n1"); n != nil {
		t.Fatal("node still there")
	}
	if _, ns, _ := s.NodeServices(nil, "n1"); ns != nil {
		t.Fatal("services still there")
	}
	if _, checks, _ := s.NodeChecks(nil, "n1"); len(checks) != 0 {
		t.Fatalf("checks still there: %+v", checks)
	}
	if _, c, _ := s.Coordinate(nil, "n1"); len(c) != 0 {
		t.Fatalf("coordinates still there: %+v", c)
	}
	if _, sess, _ := s.SessionGet(nil, "sess1"); sess != nil {
		t.Fatal("session still there")
	}
	_, e, _ := s.KVSGet(nil, "lock")
	if e == nil || e.Session != "" || string(e.Value) != "v" || e.ModifyIndex != 7 {
		t.Fatalf("lock after node delete = %+v, want released with value kept", e)
	}
	// The other node is untouched.
	if _, sn, _ := s.ServiceNodes(nil, "web", nil, nil); len(sn) != 1 || sn[0].Node != "n2" {
		t.Fatalf("web instances = %+v", sn)
	}
	if _, c, _ := s.Coordinate(nil, "n2"); len(c) != 1 {
		t.Fatalf("n2 coordinates = %+v", c)
	}
	for _, table := range []string{"nodes", "services", "checks", "sessions", "coordinates", "kvs"} {
		if got := s.MaxIndex(table); got != 7 {
			t.Errorf("MaxIndex(%s) = %d, want 7", table, got)
		}
	}
	// Deleting an unknown node is a no-op.
	if err := s.DeleteNode(8, "n1"); err != nil {
		t.Fatal(err)
	}
	if got := s.MaxIndex("nodes"); got != 7 {
		t.Fatalf("no-op delete moved the nodes index to %d", got)
	}
}

func TestDeleteService_DeletesItsChecks(t *testing.T) {
	s := testStore(t)
	if err := s.EnsureRegistration(1, testFullRegistration()); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteService(2, "n1", "web1"); err != nil {
		t.Fatal(err)
	}
	_, checks, _ := s.NodeChecks(nil, "n1")
	if len(checks) != 1 || checks[0].CheckID != structs.SerfCheckID {
		t.Fatalf("checks after service delete = %+v, want only serfHealth", checks)
	}
	_, ns, _ := s.NodeServices(nil, "n1")
	if len(ns.Services) != 0 {
		t.Fatalf("services = %+v", ns.Services)
	}
	if err := s.DeleteService(3, "n1", "web1"); err != nil {
		t.Fatalf("deleting a missing service: %v", err)
	}
	if got := s.MaxIndex("services"); got != 2 {
		t.Fatalf("services index = %d, want 2", got)
	}
}

func TestDeleteCheck(t *testing.T) {
	s := testStore(t)
	if err := s.EnsureRegistration(1, testFullRegistration()); err != nil {
		t.Fatal(err)
	}
	ws := memdb.NewWatchSet()
	s.CheckServiceNodes(ws, "web", nil, nil)
	if err := s.DeleteCheck(2, "n1", structs.SerfCheckID); err != nil {
		t.Fatal(err)
	}
	if !watchFired(ws) {
		t.Fatal("deleting a node check did not wake health watchers")
	}
	_, csn, _ := s.CheckServiceNodes(nil, "web", nil, nil)
	if len(csn) != 1 || len(csn[0].Checks) != 1 || csn[0].Checks[0].CheckID != "web-http" {
		t.Fatalf("health = %+v", csn)
	}
}

func TestNodes_SortedAndFiltered(t *testing.T) {
	s := testStore(t)
	testRegisterNodeMeta(t, s, 1, "c", map[string]string{"env": "prod", "rack": "1"})
	testRegisterNodeMeta(t, s, 2, "a", map[string]string{"env": "prod", "rack": "2"})
	testRegisterNodeMeta(t, s, 3, "b", map[string]string{"env": "dev"})
	tests := []struct {
		meta map[string]string
		want []string
	}{
		{nil, []string{"a", "b", "c"}},
		{map[string]string{"env": "prod"}, []string{"a", "c"}},
		{map[string]string{"env": "prod", "rack": "1"}, []string{"c"}},
		{map[string]string{"env": "prod", "rack": "3"}, nil},
		{map[string]string{"nope": "x"}, nil},
	}
	for _, tt := range tests {
		idx, nodes, err := s.Nodes(nil, tt.meta)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, n := range nodes {
			names = append(names, n.Node)
		}
		if !reflect.DeepEqual(names, tt.want) {
			t.Errorf("Nodes(%v) = %v, want %v", tt.meta, names, tt.want)
		}
		if idx != 3 {
			t.Errorf("Nodes(%v) index = %d, want 3", tt.meta, idx)
		}
		if nodes == nil {
			t.Errorf("Nodes(%v) returned nil, want an empty list", tt.meta)
		}
	}
}

func TestServices(t *testing.T) {
	s := testStore(t)
	testRegisterNodeMeta(t, s, 1, "n1", map[string]string{"env": "prod"})
	testRegisterNodeMeta(t, s, 2, "n2", map[string]string{"env": "dev"})
	testRegisterService(t, s, 3, "n1", "web1", "web", "b", "a")
	testRegisterService(t, s, 4, "n2", "web2", "web", "c", "a")
	testRegisterService(t, s, 5, "n2", "db", "db")

	idx, services, err := s.Services(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"web": {"a", "b", "c"}, "db": {}}
	if idx != 5 || !reflect.DeepEqual(services, want) {
		t.Fatalf("Services = %d %v, want 5 %v", idx, services, want)
	}
	_, services, _ = s.Services(nil, map[string]string{"env": "prod"})
	if want := map[string][]string{"web": {"a", "b"}}; !reflect.DeepEqual(services, want) {
		t.Fatalf("Services(prod) = %v, want %v", services, want)
	}
	// The tags list of a tagless service encodes as [], as Consul's.
	b, _ := json.Marshal(services)
	if strings.Contains(string(b), "null") {
		t.Fatalf("services JSON has null: %s", b)
	}
}

func TestServiceNodes(t *testing.T) {
	s := testStore(t)
	testRegisterNodeMeta(t, s, 1, "n1", map[string]string{"env": "prod"})
	testRegisterNodeMeta(t, s, 2, "n2", map[string]string{"env": "dev"})
	testRegisterService(t, s, 3, "n1", "web1", "web", "Primary", "v1")
	testRegisterService(t, s, 4, "n2", "web2", "Web", "v1")
	testRegisterService(t, s, 5, "n2", "db", "db")

	tests := []struct {
		name string
		tags []string
		meta map[string]string
		want []string
	}{
		{"all", nil, nil, []string{"web1", "web2"}},
		{"tag case-insensitive", []string{"primary"}, nil, []string{"web1"}},
		{"all tags needed", []string{"primary", "v2"}, nil, nil},
		{"shared tag", []string{"V1"}, nil, []string{"web1", "web2"}},
		{"meta", nil, map[string]string{"env": "dev"}, []string{"web2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, sn, err := s.ServiceNodes(nil, "WEB", tt.tags, tt.meta)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, x := range sn {
				ids = append(ids, x.ServiceID)
			}
			if !reflect.DeepEqual(ids, tt.want) {
				t.Fatalf("ids = %v, want %v", ids, tt.want)
			}
		})
	}

	// Node fields are joined in and follow node updates.
	if err := s.EnsureNode(6, &structs.Node{Node: "n1", Address: "127.0.0.5", Meta: map[string]string{"env": "prod"}}); err != nil {
		t.Fatal(err)
	}
	idx, sn, _ := s.ServiceNodes(nil, "web", []string{"primary"}, nil)
	if idx != 6 || len(sn) != 1 || sn[0].Address != "127.0.0.5" || sn[0].NodeMeta["env"] != "prod" || sn[0].ServicePort != 8080 {
		t.Fatalf("ServiceNodes after node update = %d %+v", idx, sn)
	}
}

func TestServiceNodes_IndexAndWatchPerService(t *testing.T) {
	s := testStore(t)
	testRegisterNode(t, s, 1, "n1")
	testRegisterService(t, s, 2, "n1", "web", "web")
	testRegisterService(t, s, 3, "n1", "db", "db")

	wsWeb := memdb.NewWatchSet()
	idx, _, _ := s.ServiceNodes(wsWeb, "web", nil, nil)
	if idx != 2 {
		t.Fatalf("web index = %d, want 2 (its own, not the table's)", idx)
	}
	wsHealth := memdb.NewWatchSet()
	s.CheckServiceNodes(wsHealth, "web", nil, nil)

	// A change to db does not wake web watchers nor move web's index.
	testRegisterService(t, s, 4, "n1", "db", "db", "new-tag")
	testRegisterCheck(t, s, 5, "n1", "db-check", "db", structs.HealthPassing)
	if watchFired(wsWeb) || watchFired(wsHealth) {
		t.Fatal("a db change woke web watchers")
	}
	if idx, _, _ := s.ServiceNodes(nil, "web", nil, nil); idx != 2 {
		t.Fatalf("web index = %d after db change, want 2", idx)
	}

	// A change to web wakes them.
	testRegisterService(t, s, 6, "n1", "web", "web", "t")
	if !watchFired(wsWeb) || !watchFired(wsHealth) {
		t.Fatal("a web change did not wake web watchers")
	}

	// A web check wakes the health watch and moves the index.
	wsHealth = memdb.NewWatchSet()
	s.CheckServiceNodes(wsHealth, "web", nil, nil)
	testRegisterCheck(t, s, 7, "n1", "web-check", "web", structs.HealthPassing)
	if !watchFired(wsHealth) {
		t.Fatal("a web check did not wake health watchers")
	}
	if idx, _, _ := s.CheckServiceNodes(nil, "web", nil, nil); idx != 7 {
		t.Fatalf("web health index = %d, want 7", idx)
	}
}

func TestServiceIndex_MonotonicAcrossExtinction(t *testing.T) {
	s := testStore(t)
	testRegisterNode(t, s, 1, "n1")
	testRegisterService(t, s, 2, "n1", "web", "web")
	testRegisterService(t, s, 3, "n1", "other", "other")
	ws := memdb.NewWatchSet()
	before, _, _ := s.ServiceNodes(ws, "web", nil, nil)
	if err := s.DeleteService(4, "n1", "web"); err != nil {
		t.Fatal(err)
	}
	if !watchFired(ws) {
		t.Fatal("removing the last instance did not wake watchers")
	}
	after, sn, _ := s.ServiceNodes(nil, "web", nil, nil)
	if len(sn) != 0 || after < before || after != 4 {
		t.Fatalf("index after extinction = %d (was %d), want 4", after, before)
	}
	// Coming back moves it forward again.
	ws = memdb.NewWatchSet()
	s.ServiceNodes(ws, "web", nil, nil)
	testRegisterService(t, s, 5, "n1", "web", "web")
	if !watchFired(ws) {
		t.Fatal("a new instance of an extinct service did not wake watchers")
	}
	if idx, _, _ := s.ServiceNodes(nil, "web", nil, nil); idx != 5 {
		t.Fatalf("index after return = %d, want 5", idx)
	}
}

func TestNodeServices_Unknown(t *testing.T) {
	s := testStore(t)
	ws := memdb.NewWatchSet()
	_, ns, err := s.NodeServices(ws, "n1")
	if err != nil || ns != nil {
		t.Fatalf("NodeServices(unknown) = %+v, %v", ns, err)
	}
	testRegisterNode(t, s, 1, "n1")
	if !watchFired(ws) {
		t.Fatal("registering the node did not wake its watcher")
	}
}

func TestChecksQueries(t *testing.T) {
	s := testStore(t)
	testRegisterNodeMeta(t, s, 1, "n1", map[string]string{"env": "prod"})
	testRegisterNodeMeta(t, s, 2, "n2", map[string]string{"env": "dev"})
	testRegisterService(t, s, 3, "n1", "web1", "web")
	testRegisterService(t, s, 4, "n2", "web2", "web")
	testRegisterCheck(t, s, 5, "n1", "a", "", structs.HealthPassing)
	testRegisterCheck(t, s, 6, "n1", "b", "web1", structs.HealthCritical)
	testRegisterCheck(t, s, 7, "n2", "c", "web2", structs.HealthWarning)
	testRegisterCheck(t, s, 8, "n2", "d", "", structs.HealthCritical)

	ids := func(cs structs.HealthChecks) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Node+"/"+c.CheckID)
		}
		return out
	}
	tests := []struct {
		name string
		read func() (uint64, structs.HealthChecks, error)
		want []string
	}{
		{"NodeChecks", func() (uint64, structs.HealthChecks, error) { return s.NodeChecks(nil, "n1") }, []string{"n1/a", "n1/b"}},
		{"ServiceChecks", func() (uint64, structs.HealthChecks, error) { return s.ServiceChecks(nil, "web", nil) }, []string{"n1/b", "n2/c"}},
		{"ServiceChecks meta", func() (uint64, structs.HealthChecks, error) {
			return s.ServiceChecks(nil, "web", map[string]string{"env": "dev"})
		}, []string{"n2/c"}},
		{"critical", func() (uint64, structs.HealthChecks, error) {
			return s.ChecksInState(nil, structs.HealthCritical, nil)
		}, []string{"n1/b", "n2/d"}},
		{"critical meta", func() (uint64, structs.HealthChecks, error) {
			return s.ChecksInState(nil, structs.HealthCritical, map[string]string{"env": "prod"})
		}, []string{"n1/b"}},
		{"any", func() (uint64, structs.HealthChecks, error) {
			return s.ChecksInState(nil, structs.HealthAny, nil)
		}, []string{"n1/a", "n1/b", "n2/c", "n2/d"}},
		{"passing", func() (uint64, structs.HealthChecks, error) {
			return s.ChecksInState(nil, structs.HealthPassing, nil)
		}, []string{"n1/a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			idx, cs, err := tt.read()
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(cs); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			if idx < 1 {
				t.Fatalf("index %d", idx)
			}
		})
	}
}

func TestChecksInState_Watch(t *testing.T) {
	s := testStore(t)
	testRegisterNode(t, s, 1, "n1")
	testRegisterCheck(t, s, 2, "n1", "a", "", structs.HealthPassing)
	ws := memdb.NewWatchSet()
	s.ChecksInState(ws, structs.HealthCritical, nil)
	testRegisterCheck(t, s, 3, "n1", "a", "", structs.HealthCritical)
	if !watchFired(ws) {
		t.Fatal("a check turning critical did not wake the critical watcher")
	}
	if idx, cs, _ := s.ChecksInState(nil, structs.HealthCritical, nil); idx != 3 || len(cs) != 1 {
		t.Fatalf("critical = %d %+v", idx, cs)
	}
}

func TestCheckServiceNodes(t *testing.T) {
	s := testStore(t)
	testRegisterNode(t, s, 1, "n1")
	testRegisterService(t, s, 2, "n1", "web1", "web", "v1")
	testRegisterService(t, s, 3, "n1", "db", "db")
	testRegisterCheck(t, s, 4, "n1", "z-node", "", structs.HealthPassing)
	testRegisterCheck(t, s, 5, "n1", "a-web", "web1", structs.HealthWarning)
	testRegisterCheck(t, s, 6, "n1", "db-check", "db", structs.HealthCritical)

	ws := memdb.NewWatchSet()
	idx, csn, err := s.CheckServiceNodes(ws, "web", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if idx != 5 || len(csn) != 1 {
		t.Fatalf("CheckServiceNodes = %d %+v", idx, csn)
	}
	got := csn[0]
	if got.Node == nil || got.Node.Node != "n1" || got.Service == nil || got.Service.ID != "web1" {
		t.Fatalf("result = %+v", got)
	}
	var ids []string
	for _, c := range got.Checks {
		ids = append(ids, c.CheckID)
	}
	if want := []string{"z-node", "a-web"}; !reflect.DeepEqual(ids, want) {
		t.Fatalf("checks = %v, want node checks first then the service's own: %v", ids, want)
	}
	// A node address change reaches health watchers.
	if err := s.EnsureNode(7, &structs.Node{Node: "n1", Address: "127.0.0.7"}); err != nil {
		t.Fatal(err)
	}
	if !watchFired(ws) {
		t.Fatal("a node change did not wake health watchers")
	}
	if _, csn, _ := s.CheckServiceNodes(nil, "web", []string{"nope"}, nil); len(csn) != 0 {
		t.Fatalf("tag filter ignored: %+v", csn)
	}
}

func TestGetNode_WatchIsPerNode(t *testing.T) {
	s := testStore(t)
	testRegisterNode(t, s, 1, "n1")
	testRegisterNode(t, s, 2, "n2")
	ws := memdb.NewWatchSet()
	s.GetNode(ws, "n1")
	if err := s.EnsureNode(3, &structs.Node{Node: "n2", Address: "127.0.0.3"}); err != nil {
		t.Fatal(err)
	}
	if watchFired(ws) {
		t.Fatal("a write to n2 fired the watch on n1")
	}
	if err := s.EnsureNode(4, &structs.Node{Node: "n1", Address: "127.0.0.4"}); err != nil {
		t.Fatal(err)
	}
	if !watchFired(ws) {
		t.Fatal("a write to n1 did not fire its watch")
	}
}

func TestReturnedObjectsAreCopies(t *testing.T) {
	s := testStore(t)
	if err := s.EnsureRegistration(1, testFullRegistration()); err != nil {
		t.Fatal(err)
	}
	_, n, _ := s.GetNode(nil, "n1")
	n.Meta["env"] = "mutated"
	n.Address = "mutated"
	_, sn, _ := s.ServiceNodes(nil, "web", nil, nil)
	sn[0].ServiceTags[0] = "mutated"
	sn[0].NodeMeta["env"] = "mutated"
	_, csn, _ := s.CheckServiceNodes(nil, "web", nil, nil)
	csn[0].Checks[0].Status = "mutated"
	csn[0].Service.Meta["v"] = "mutated"
	if err := s.KVSSet(2, &structs.DirEntry{Key: "k", Value: []byte("abc")}); err != nil {
		t.Fatal(err)
	}
	_, e, _ := s.KVSGet(nil, "k")
	e.Value[0] = 'X'

	_, n, _ = s.GetNode(nil, "n1")
	if n.Meta["env"] != "test" || n.Address != "127.0.0.1" {
		t.Fatalf("stored node changed through a returned copy: %+v", n)
	}
	_, sn, _ = s.ServiceNodes(nil, "web", nil, nil)
	if sn[0].ServiceTags[0] != "a" || sn[0].NodeMeta["env"] != "test" {
		t.Fatalf("stored service changed through a returned copy: %+v", sn[0])
	}
	_, csn, _ = s.CheckServiceNodes(nil, "web", nil, nil)
	if csn[0].Checks[0].Status != structs.HealthPassing || csn[0].Service.Meta["v"] != "1" {
		t.Fatalf("stored health changed through a returned copy: %+v", csn[0])
	}
	_, e, _ = s.KVSGet(nil, "k")
	if string(e.Value) != "abc" {
		t.Fatalf("stored value changed through a returned copy: %q", e.Value)
	}
}
