package e2e

// Issue 12 (user events, metrics) shown with real processes: two
// datacenters, each one server and one client. An event fired on dc1's
// client reaches every agent of dc1, and one fired there for dc2 (?dc)
// every agent of dc2 and no agent of dc1. The metrics endpoint of every
// agent carries the go-metrics names of raft, serf and memberlist under
// Consul's prefix, and its Prometheus form parses.

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// eventTwoDCs is the shared cluster of event_test.go.
type eventTwoDCs struct {
	dc1s, dc1c, dc2s, dc2c *agentProc
}

func startEventTwoDCs(t *testing.T) *eventTwoDCs {
	t.Helper()
	c := newCluster(t, 360, 389)
	const telemetry = "telemetry {\n  prometheus_retention_time = \"1m\"\n}\n"
	f := &eventTwoDCs{}
	f.dc1s = c.start(agentOpts{Name: "ev-dc1-s", DC: "dc1", Server: true, Bootstrap: true, HCL: telemetry})
	f.dc2s = c.start(agentOpts{Name: "ev-dc2-s", DC: "dc2", Server: true, Bootstrap: true, HCL: telemetry,
		Args: []string{"-join-wan=" + f.dc1s.WANAddr}})
	f.dc1c = c.start(agentOpts{Name: "ev-dc1-c", DC: "dc1", Join: []string{f.dc1s.LANAddr}, HCL: telemetry})
	f.dc2c = c.start(agentOpts{Name: "ev-dc2-c", DC: "dc2", Join: []string{f.dc2s.LANAddr}, HCL: telemetry})
	waitLeader(t, 30*time.Second, f.dc1s)
	waitLeader(t, 30*time.Second, f.dc2s)
	waitFor(t, 30*time.Second, "dc2 reachable from dc1's client", func() error {
		_, _, err := f.dc1c.API.Catalog().Nodes(&api.QueryOptions{Datacenter: "dc2"})
		return err
	})
	return f
}

// eventIDs lists the IDs of the events a has kept.
func eventIDs(a *agentProc) (map[string]bool, error) {
	evs, _, err := a.API.Event().List("", nil)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, e := range evs {
		out[e.ID] = true
	}
	return out, nil
}

func TestEventsAndMetrics(t *testing.T) {
	f := startEventTwoDCs(t)

	step(t, "events reach every agent of their datacenter", func(t *testing.T) {
		// dc1's event through the CLI, dc2's through the API with ?dc.
		r := f.dc1c.mustCLI("event", "-name=deploy", "v1")
		local, ok := strings.CutPrefix(strings.TrimSpace(r.Stdout), "Event ID: ")
		if !ok || len(local) != 36 {
			t.Fatalf("meridian event printed %q", r.Stdout)
		}
		remote, _, err := f.dc1c.API.Event().Fire(&api.UserEvent{Name: "deploy", Payload: []byte("v2")},
			&api.WriteOptions{Datacenter: "dc2"})
		if err != nil {
			t.Fatalf("fire in dc2 from dc1's client: %v", err)
		}
		want := map[*agentProc]string{f.dc1s: local, f.dc1c: local, f.dc2s: remote, f.dc2c: remote}
		for a, id := range want {
			waitFor(t, 20*time.Second, "the event on "+a.Name, func() error {
				ids, err := eventIDs(a)
				if err != nil {
					return err
				}
				if !ids[id] {
					return fmt.Errorf("%s has not received %s (has %d events)", a.Name, id, len(ids))
				}
				return nil
			})
		}
		// Each event stayed in its datacenter.
		for a, id := range want {
			other := local
			if id == local {
				other = remote
			}
			ids, err := eventIDs(a)
			if err != nil {
				t.Fatal(err)
			}
			if ids[other] {
				t.Errorf("%s received the other datacenter's event %s", a.Name, other)
			}
		}
	})
	step(t, "metrics carry raft, serf and memberlist names", func(t *testing.T) {
		for _, a := range []*agentProc{f.dc1s, f.dc1c, f.dc2s, f.dc2c} {
			prefixes := []string{"consul.serf.", "consul.memberlist.", "consul.runtime."}
			if a.Server {
				prefixes = append(prefixes, "consul.raft.")
			}
			waitFor(t, 30*time.Second, "metric names on "+a.Name, func() error {
				m, err := a.API.Agent().Metrics()
				if err != nil {
					return err
				}
				var names []string
				for _, g := range m.Gauges {
					names = append(names, g.Name)
				}
				for _, c := range m.Counters {
					names = append(names, c.Name)
				}
				for _, s := range m.Samples {
					names = append(names, s.Name)
				}
				for _, p := range prefixes {
					found := false
					for _, n := range names {
						found = found || strings.HasPrefix(n, p)
					}
					if !found {
						return fmt.Errorf("%s: no %s* metric among %d", a.Name, p, len(names))
					}
				}
				return nil
			})
		}
		code, body := f.dc1s.httpDo("GET", "/v1/agent/metrics?format=prometheus", nil)
		if code != 200 {
			t.Fatalf("prometheus: %d %s", code, body)
		}
		parser := expfmt.NewTextParser(model.UTF8Validation)
		families, err := parser.TextToMetricFamilies(strings.NewReader(body))
		if err != nil {
			t.Fatalf("the prometheus answer does not parse: %v", err)
		}
		for _, p := range []string{"consul_raft_", "consul_serf_", "consul_memberlist_"} {
			found := false
			for n := range families {
				found = found || strings.HasPrefix(n, p)
			}
			if !found {
				t.Errorf("prometheus: no %s* family among %d", p, len(families))
			}
		}
	})
	step(t, "the heap is sampled once profiles can be served", func(t *testing.T) {
		// dc1's client serves no profiles: its heap is not sampled
		// (main.go, agent.sampleHeapIfServed). A reload that sets
		// enable_debug turns sampling on: allocations made after it
		// show in the heap profile's totals.
		a := f.dc1c
		if code, _ := a.httpDo("GET", "/debug/pprof/heap", nil); code != 401 {
			t.Fatalf("heap profile before enable_debug: %d, want 401", code)
		}
		cfg, err := os.OpenFile(a.ConfigFile, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cfg.WriteString("\nenable_debug = true\n"); err != nil {
			t.Fatal(err)
		}
		if err := cfg.Close(); err != nil {
			t.Fatal(err)
		}
		a.Signal(syscall.SIGHUP)
		var before int
		waitFor(t, 20*time.Second, "the heap profile after the reload", func() error {
			n, err := heapSamples(a)
			before = n
			return err
		})
		// About 64 MiB allocated by the agent: a default-rate profile
		// samples one allocation per 512 KiB on average.
		key := strings.Repeat("k", 512)
		for i := 0; i < 400; i++ {
			if _, _, err := a.API.KV().Get(key, nil); err != nil {
				t.Fatal(err)
			}
			if _, _, err := a.API.Catalog().Nodes(nil); err != nil {
				t.Fatal(err)
			}
		}
		after, err := heapSamples(a)
		if err != nil {
			t.Fatal(err)
		}
		if after <= before {
			t.Fatalf("the heap profile counts %d allocations after the load, %d before: sampling is off", after, before)
		}
	})
}

// heapSamples is the count of sampled allocations in a's heap profile
// (its first line: "heap profile: inuse: bytes [allocs: bytes] @ ..."),
// after a GC so that the last allocations are in.
func heapSamples(a *agentProc) (int, error) {
	code, body := a.httpDo("GET", "/debug/pprof/heap?debug=1&gc=1", nil)
	if code != 200 {
		return 0, fmt.Errorf("heap profile: %d %s", code, body)
	}
	var inuse, inuseBytes, allocs, allocBytes int
	if _, err := fmt.Sscanf(body, "heap profile: %d: %d [%d: %d]", &inuse, &inuseBytes, &allocs, &allocBytes); err != nil {
		return 0, fmt.Errorf("heap profile's first line %.80q: %v", body, err)
	}
	return allocs, nil
}
