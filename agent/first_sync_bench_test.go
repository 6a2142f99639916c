package agent

import (
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// BenchmarkFirstRegistrationToCatalog measures how long the first service
// registered through the agent of a fresh single server takes to show in
// the catalog, once the node itself is there. The agent keeps its default
// anti-entropy timings (not the test agent's fast ones), as a user's would.
func BenchmarkFirstRegistrationToCatalog(b *testing.B) {
	var total, worst time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		ta := startTestAgent(b, func(o *Options) { o.Local = nil; o.ServerConfig = nil }, "-server", "-bootstrap")
		ta.WaitForLeader(b)
		WaitFor(b, "the node in the catalog", 15*time.Second, func() error {
			n, _, err := ta.Client.Catalog().Node(ta.Name, nil)
			if err != nil {
				return err
			}
			if n == nil {
				return errors.New("node not in the catalog yet")
			}
			return nil
		})
		b.StartTimer()
		start := time.Now()
		if err := ta.Client.Agent().ServiceRegister(&api.AgentServiceRegistration{Name: "web", Port: 80}); err != nil {
			b.Fatal(err)
		}
		for {
			svcs, _, err := ta.Client.Catalog().Service("web", "", nil)
			if err != nil {
				b.Fatal(err)
			}
			if len(svcs) > 0 {
				break
			}
			if time.Since(start) > 30*time.Second {
				b.Fatal("the service never reached the catalog")
			}
			time.Sleep(time.Millisecond)
		}
		d := time.Since(start)
		total += d
		worst = max(worst, d)
		b.StopTimer()
		ta.Shutdown()
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/first-registration")
	b.ReportMetric(float64(worst.Microseconds())/1000, "ms-worst")
}
