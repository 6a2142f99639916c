package agent

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hashicorp/consul/api"
)

// BenchmarkHealthServiceFilter measures GET /v1/health/service/web on a
// catalog of 10,000 instances (one per node, each with a passing check),
// through the official client of a single server agent: without a filter,
// and with filters that keep every tenth instance, all and none. The
// difference is the cost of evaluating the filter on 10,000 entries on
// the server (and, for the narrow filters, the encoding saved).
//
//	go test -run '^$' -bench BenchmarkHealthServiceFilter -benchtime 20x ./agent/
func BenchmarkHealthServiceFilter(b *testing.B) {
	const instances = 10000
	a := StartTestAgent(b, "-server", "-bootstrap")
	a.WaitForLeader(b)
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= instances {
					return
				}
				node := fmt.Sprintf("n%05d", i)
				reg := &api.CatalogRegistration{Node: node, Address: "10.2.0.1",
					NodeMeta: map[string]string{"rack": fmt.Sprint("r", i%4)},
					Service: &api.AgentService{ID: "web", Service: "web", Port: 80, Tags: []string{"v1"},
						Meta: map[string]string{"shard": fmt.Sprint(i % 10)}},
					Check: &api.AgentCheck{CheckID: "web-ok", Name: "web", Status: api.HealthPassing, ServiceID: "web"}}
				if _, err := a.Client.Catalog().Register(reg, nil); err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, ok := failed.Load().(error); ok {
		b.Fatalf("register: %v", err)
	}
	for _, bc := range []struct {
		name, filter string
		want         int
	}{
		{"none", "", instances},
		{"tenth", `Service.Meta.shard == "3"`, instances / 10},
		{"all", `Service.Meta.shard != "x" and "v1" in Service.Tags`, instances},
		{"nothing", `Node.Meta.rack == "r9" or any Checks as c { c.Status == "critical" }`, 0},
	} {
		b.Run(bc.name, func(b *testing.B) {
			q := &api.QueryOptions{Filter: bc.filter}
			for i := 0; i < b.N; i++ {
				es, _, err := a.Client.Health().Service("web", "", false, q)
				if err != nil {
					b.Fatal(err)
				}
				if len(es) != bc.want {
					b.Fatalf("%d entries, want %d", len(es), bc.want)
				}
			}
		})
	}
}
