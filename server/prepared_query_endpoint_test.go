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

	check := func(name, wantDC string, wantFailovers int, wantNode string) {
		t.Helper()
		out := executeQuery(t, dc1, name)
		if out.Datacenter != wantDC || out.Failovers != wantFailovers || len(out.Nodes) != 1 || out.Nodes[0].Node.Node != wantNode {
			t.Fatalf("%s: answered by %s after %d failovers with %d nodes, want %s after %d with %s", name, out.Datacenter, out.Failovers, len(out.Nodes), wantDC, wantFailovers, wantNode)
		}
	}
	check("ordered", "dc3", 1, "db3")
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
