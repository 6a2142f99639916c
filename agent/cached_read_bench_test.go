package agent

import (
	"fmt"
	"testing"

	"github.com/hashicorp/consul/api"
)

// BenchmarkHealthServiceCachedVsUncached measures GET
// /v1/health/service/web on a client agent of a one-server datacenter,
// with 20 instances of web, straight to the servers and through the agent
// cache (?cached), 4 readers per core:
//
//	go test -run '^$' -bench BenchmarkHealthServiceCachedVsUncached -benchtime 5s ./agent/
func BenchmarkHealthServiceCachedVsUncached(b *testing.B) {
	srv := startKVServer(b)
	cl := StartTestAgent(b)
	if err := cl.Client.Agent().Join(srv.LANAddr(), false); err != nil {
		b.Fatal(err)
	}
	waitForNode(b, srv.Client, cl.Name)
	for i := range 20 {
		reg := &api.CatalogRegistration{
			Node: fmt.Sprintf("ext%d", i), Address: fmt.Sprintf("10.0.0.%d", i+1),
			Service: &api.AgentService{ID: "web", Service: "web", Port: 80, Tags: []string{"v1"}},
		}
		if _, err := srv.Client.Catalog().Register(reg, nil); err != nil {
			b.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		opts *api.QueryOptions
	}{
		{"uncached", &api.QueryOptions{}},
		{"cached", &api.QueryOptions{UseCache: true}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetParallelism(4)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					nodes, _, err := cl.Client.Health().Service("web", "", false, tc.opts)
					if err != nil {
						b.Error(err)
						return
					}
					if len(nodes) != 20 {
						b.Errorf("%d instances, want 20", len(nodes))
						return
					}
				}
			})
		})
	}
}
