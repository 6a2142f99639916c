package server

import (
	"fmt"
	"testing"
	"time"

	"github.com/meridian-sd/meridian/structs"
)

// registerInstance registers db on node in s's datacenter with one check
// in status.
func registerInstance(t *testing.T, s *Server, node, status string) {
	t.Helper()
	reg := &structs.RegisterRequest{Node: node, Address: "10.0.0.1",
		Service: &structs.NodeService{ID: "db", Service: "db", Port: 5432},
		Check:   &structs.HealthCheck{Node: node, CheckID: "alive", Name: "alive", Status: status, ServiceID: "db"}}
	if err := s.RPC("Catalog.Register", reg, &struct{}{}); err != nil {
		t.Fatalf("register %s: %v", node, err)
	}
}

func executeQuery(t *testing.T, s *Server, name string) *structs.PreparedQueryExecuteResponse {
	t.Helper()
	var out structs.PreparedQueryExecuteResponse
	if err := s.RPC("PreparedQuery.Execute", &structs.PreparedQueryExecuteRequest{QueryIDOrName: name}, &out); err != nil {
		t.Fatalf("execute %s: %v", name, err)
	}
	return &out
}

// TestPreparedQueryFailover: Consul's failover through three datacenters:
// the listed order (an unknown one skipped), the next when the first
// failover datacenter loses its instances, back at once when the local
// one recovers, NearestN, and a dead datacenter skipped.
func TestPreparedQueryFailover(t *testing.T) {
	dc1 := startCluster(t, "dc1", 1)[0]
	dc2 := startCluster(t, "dc2", 1)[0]
	dc3 := startCluster(t, "dc3", 1)[0]
	joinWAN(t, dc1, dc2, dc3)
	waitWANMembers(t, dc1, 3)
	waitFor(t, "dc1 knows three datacenters", 10*time.Second, func() error {
		if n := len(dc1.router.Datacenters()); n != 3 {
			return fmt.Errorf("%d datacenters", n)
		}
		return nil
	})
	registerInstance(t, dc1, "db1", structs.HealthCritical)
	registerInstance(t, dc2, "db2", structs.HealthPassing)
	registerInstance(t, dc3, "db3", structs.HealthPassing)

	apply := func(q *structs.PreparedQuery) string {
		t.Helper()
		var id string
		if err := dc1.RPC("PreparedQuery.Apply", &structs.PreparedQueryRequest{Op: structs.PreparedQueryCreate, Query: q}, &id); err != nil {
			t.Fatalf("create: %v", err)
		}
		return id
	}
	apply(&structs.PreparedQuery{Name: "ordered", Service: structs.ServiceQuery{Service: "db",
		Failover: structs.QueryFailoverOptions{Datacenters: []string{"nowhere", "dc3", "dc2"}}}})
	apply(&structs.PreparedQuery{Name: "nearest", Service: structs.ServiceQuery{Service: "db",
		Failover: structs.QueryFailoverOptions{NearestN: 1}}})
	apply(&structs.PreparedQuery{Name: "none", Service: structs.ServiceQuery{Service: "db"}})
	apply(&structs.PreparedQuery{Name: "targets", Service: structs.ServiceQuery{Service: "db",
		Failover: structs.QueryFailoverOptions{Targets: []structs.QueryFailoverTarget{{Datacenter: "dc2"}, {Datacenter: "dc3"}}}}})
	var id string
	err := dc1.RPC("PreparedQuery.Apply", &structs.PreparedQueryRequest{Op: structs.PreparedQueryCreate, Query: &structs.PreparedQuery{
		Name: "peer", Service: structs.ServiceQuery{Service: "db", Failover: structs.QueryFailoverOptions{Targets: []structs.QueryFailoverTarget{{Peer: "p"}}}}}}, &id)
	if structs.CodeOf(err) != structs.CodeBadRequest {
		t.Fatalf("a peer target: %v", err)
	}

	check := func(name, wantDC string, wantFailovers int, wantNode string) {
		t.Helper()
		out := executeQuery(t, dc1, name)
		if out.Datacenter != wantDC || out.Failovers != wantFailovers || len(out.Nodes) != 1 || out.Nodes[0].Node.Node != wantNode {
			t.Fatalf("%s: answered by %s after %d failovers with %d nodes, want %s after %d with %s", name, out.Datacenter, out.Failovers, len(out.Nodes), wantDC, wantFailovers, wantNode)
		}
	}
	check("ordered", "dc3", 1, "db3")
	check("targets", "dc2", 1, "db2")
	out := executeQuery(t, dc1, "nearest")
	if out.Failovers != 1 || (out.Datacenter != "dc2" && out.Datacenter != "dc3") || len(out.Nodes) != 1 {
		t.Fatalf("nearest: %+v", out)
	}
	if out := executeQuery(t, dc1, "none"); out.Datacenter != "dc1" || out.Failovers != 0 || len(out.Nodes) != 0 {
		t.Fatalf("without failover: %+v", out)
	}

	registerInstance(t, dc3, "db3", structs.HealthCritical)
	check("ordered", "dc2", 2, "db2")
	registerInstance(t, dc1, "db1", structs.HealthPassing)
	check("ordered", "dc1", 0, "db1")

	// dc3's server dies: it is skipped, within the bound.
	registerInstance(t, dc1, "db1", structs.HealthCritical)
	registerInstance(t, dc3, "db3", structs.HealthPassing)
	check("ordered", "dc3", 1, "db3")
	dc3.Shutdown()
	start := time.Now()
	check("ordered", "dc2", 2, "db2")
	if took := time.Since(start); took > queryRemoteTimeout+5*time.Second {
		t.Fatalf("failover past a dead datacenter took %s", took)
	}
}

func failoverStatus(t *testing.T, s *Server, id string) *structs.PreparedQueryFailoverResponse {
	t.Helper()
	var out structs.PreparedQueryFailoverResponse
	if err := s.RPC("PreparedQuery.FailoverStatus", &structs.PreparedQuerySpecificRequest{QueryID: id}, &out); err != nil {
		t.Fatalf("failover status of %s: %v", id, err)
	}
	return &out
}

// TestPreparedQueryStickyFailover: with MinPassing 2 one failing instance
// of two fails over; after recovery the answers stay on dc2 until dc1 has
// been healthy for FailbackAfter; in manual mode only Failback returns,
// and not while dc1 is short of instances.
func TestPreparedQueryStickyFailover(t *testing.T) {
	dc1 := startCluster(t, "dc1", 1)[0]
	dc2 := startCluster(t, "dc2", 1)[0]
	joinWAN(t, dc1, dc2)
	waitWANMembers(t, dc1, 2)
	waitFor(t, "dc1 knows dc2", 10*time.Second, func() error {
		if n := len(dc1.router.Datacenters()); n != 2 {
			return fmt.Errorf("%d datacenters", n)
		}
		return nil
	})
	registerInstance(t, dc1, "db1a", structs.HealthPassing)
	registerInstance(t, dc1, "db1b", structs.HealthPassing)
	registerInstance(t, dc2, "db2", structs.HealthPassing)
	create := func(q *structs.PreparedQuery) string {
		t.Helper()
		var id string
		if err := dc1.RPC("PreparedQuery.Apply", &structs.PreparedQueryRequest{Op: structs.PreparedQueryCreate, Query: q}, &id); err != nil {
			t.Fatalf("create: %v", err)
		}
		return id
	}
	const after = 1500 * time.Millisecond
	auto := create(&structs.PreparedQuery{Name: "auto", Service: structs.ServiceQuery{Service: "db",
		Failover: structs.QueryFailoverOptions{Datacenters: []string{"dc2"}, MinPassing: 2, FailbackAfter: after.String()}}})
	manual := create(&structs.PreparedQuery{Name: "manual", Service: structs.ServiceQuery{Service: "db",
		Failover: structs.QueryFailoverOptions{Datacenters: []string{"dc2"}, MinPassing: 2, FailbackMode: structs.FailbackManual}}})
	plain := create(&structs.PreparedQuery{Name: "plain", Service: structs.ServiceQuery{Service: "db",
		Failover: structs.QueryFailoverOptions{Datacenters: []string{"dc2"}}}})

	if out := executeQuery(t, dc1, "auto"); out.Datacenter != "dc1" || len(out.Nodes) != 2 || out.Failover == nil || out.Failover.Active {
		t.Fatalf("healthy: %+v", out)
	}
	if out := executeQuery(t, dc1, "plain"); out.Failover != nil {
		t.Fatalf("a query without the policy shows a failover state: %+v", out.Failover)
	}

	registerInstance(t, dc1, "db1b", structs.HealthCritical)
	if out := executeQuery(t, dc1, "auto"); out.Datacenter != "dc2" || out.Failovers != 1 {
		t.Fatalf("one of two failing: answered by %s", out.Datacenter)
	}
	if out := executeQuery(t, dc1, "plain"); out.Datacenter != "dc1" {
		t.Fatalf("Consul's policy with one instance left: answered by %s", out.Datacenter)
	}
	for _, id := range []string{auto, manual} {
		waitFor(t, "the leader's failover of "+id, 10*time.Second, func() error {
			st := failoverStatus(t, dc1, id)
			if !st.Status.Active || st.Status.Datacenter != "dc2" || st.LocalPassing != 1 || st.MinPassing != 2 {
				return fmt.Errorf("status %+v", st)
			}
			return nil
		})
	}
	var fb structs.PreparedQueryFailoverResponse
	err := dc1.RPC("PreparedQuery.Failback", &structs.PreparedQueryFailoverRequest{Op: structs.PreparedQueryFailoverFailback, QueryID: manual}, &fb)
	if structs.CodeOf(err) != structs.CodeConflict {
		t.Fatalf("failback while dc1 is short: %v", err)
	}
	err = dc1.RPC("PreparedQuery.Failback", &structs.PreparedQueryFailoverRequest{Op: structs.PreparedQueryFailoverFailback, QueryID: plain}, &fb)
	if structs.CodeOf(err) != structs.CodeBadRequest {
		t.Fatalf("failback of a query without the policy: %v", err)
	}

	registerInstance(t, dc1, "db1b", structs.HealthPassing)
	recovered := time.Now()
	if out := executeQuery(t, dc1, "auto"); out.Datacenter != "dc2" {
		t.Fatalf("right after recovery: answered by %s, want dc2 until FailbackAfter", out.Datacenter)
	}
	waitFor(t, "the failback of auto", 10*time.Second, func() error {
		if out := executeQuery(t, dc1, "auto"); out.Datacenter != "dc1" {
			return fmt.Errorf("answered by %s", out.Datacenter)
		}
		return nil
	})
	if took := time.Since(recovered); took < after {
		t.Fatalf("failed back after %s, before FailbackAfter %s", took, after)
	}
	if st := failoverStatus(t, dc1, auto); st.Status.Active {
		t.Fatalf("status after failback: %+v", st)
	}
	// Manual: still on dc2 well past the auto query's failback.
	if out := executeQuery(t, dc1, "manual"); out.Datacenter != "dc2" || !out.Failover.Active {
		t.Fatalf("manual after recovery: %+v", out)
	}
	if err := dc1.RPC("PreparedQuery.Failback", &structs.PreparedQueryFailoverRequest{Op: structs.PreparedQueryFailoverFailback, QueryID: "manual"}, &fb); err != nil {
		t.Fatal(err)
	}
	if fb.Status.Active || fb.Status.Reason != "manual failback" {
		t.Fatalf("after failback: %+v", fb.Status)
	}
	if out := executeQuery(t, dc1, "manual"); out.Datacenter != "dc1" || out.Failover.Active {
		t.Fatalf("manual after failback: %+v", out)
	}
}

// BenchmarkPreparedQueryExecute: one execution through the server's RPC
// entry point, answered locally (50 instances, 49 healthy) and failed over
// to a second datacenter on loopback.
func BenchmarkPreparedQueryExecute(b *testing.B) {
	dc1 := startCluster(b, "dc1", 1)[0]
	dc2 := startCluster(b, "dc2", 1)[0]
	if _, err := dc1.JoinWAN([]string{wanAddr(dc2)}); err != nil {
		b.Fatal(err)
	}
	waitFor(b, "dc1 knows dc2", 10*time.Second, func() error {
		if n := len(dc1.router.Datacenters()); n != 2 {
			return fmt.Errorf("%d datacenters", n)
		}
		return nil
	})
	for i := 0; i < 50; i++ {
		status := structs.HealthPassing
		if i == 0 {
			status = structs.HealthCritical
		}
		reg := &structs.RegisterRequest{Node: fmt.Sprintf("web%d", i), Address: "10.0.0.1",
			Service: &structs.NodeService{ID: "web", Service: "web", Port: 80},
			Check:   &structs.HealthCheck{CheckID: "alive", Name: "alive", Status: status, ServiceID: "web"}}
		if err := dc1.RPC("Catalog.Register", reg, &struct{}{}); err != nil {
			b.Fatal(err)
		}
	}
	reg := &structs.RegisterRequest{Node: "db2", Address: "10.0.0.2",
		Service: &structs.NodeService{ID: "db", Service: "db", Port: 5432},
		Check:   &structs.HealthCheck{CheckID: "alive", Name: "alive", Status: structs.HealthPassing, ServiceID: "db"}}
	if err := dc2.RPC("Catalog.Register", reg, &struct{}{}); err != nil {
		b.Fatal(err)
	}
	for _, q := range []*structs.PreparedQuery{
		{Name: "web", Service: structs.ServiceQuery{Service: "web"}},
		{Name: "db", Service: structs.ServiceQuery{Service: "db", Failover: structs.QueryFailoverOptions{Datacenters: []string{"dc2"}}}},
	} {
		var id string
		if err := dc1.RPC("PreparedQuery.Apply", &structs.PreparedQueryRequest{Op: structs.PreparedQueryCreate, Query: q}, &id); err != nil {
			b.Fatal(err)
		}
	}
	for _, tc := range []struct{ name, query, dc string }{{"local", "web", "dc1"}, {"failover", "db", "dc2"}} {
		b.Run(tc.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				var out structs.PreparedQueryExecuteResponse
				if err := dc1.RPC("PreparedQuery.Execute", &structs.PreparedQueryExecuteRequest{QueryIDOrName: tc.query}, &out); err != nil {
					b.Fatal(err)
				}
				if out.Datacenter != tc.dc || len(out.Nodes) == 0 {
					b.Fatalf("answered by %s with %d nodes", out.Datacenter, len(out.Nodes))
				}
			}
		})
	}
}
