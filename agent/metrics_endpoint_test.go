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
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// metricNames collects the names of every metric in a summary.
func metricNames(m *api.MetricsInfo) map[string]bool {
	out := map[string]bool{}
	for _, g := range m.Gauges {
		out[g.Name] = true
	}
	for _, p := range m.Points {
		out[p.Name] = true
	}
	for _, c := range m.Counters {
		out[c.Name] = true
	}
	for _, s := range m.Samples {
		out[s.Name] = true
	}
	return out
}

// TestAgentMetrics reads /v1/agent/metrics through the official client
// after some writes: the names of Meridian's own metrics (kvs, txn,
// catalog, session, http, api.http, runtime) and of the libraries' (raft,
// serf or memberlist) are there with Consul's prefix; the Prometheus form
// parses and has the same names.
func TestAgentMetrics(t *testing.T) {
	ta := StartTestAgent(t, "-server", "-bootstrap",
		`-hcl=telemetry { prometheus_retention_time = "1m" disable_hostname = true }`)
	ta.WaitForLeader(t)
	c := ta.Client
	if _, err := c.KV().Put(&api.KVPair{Key: "m/a", Value: []byte("1")}, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := c.Txn().Txn(api.TxnOps{{KV: &api.KVTxnOp{Verb: api.KVSet, Key: "m/b", Value: []byte("2")}}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Catalog().Register(&api.CatalogRegistration{Node: "ext", Address: "127.0.0.9"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Session().Create(&api.SessionEntry{TTL: "30s"}, nil); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"consul.kvs.apply", "consul.txn.apply", "consul.catalog.register", "consul.session.apply",
		"consul.http.PUT.v1.kv._", "consul.api.http", "consul.runtime.num_goroutines", "consul.runtime.alloc_bytes",
		"consul.raft.apply",
	}
	WaitFor(t, "the metric names", 25*time.Second, func() error {
		m, err := c.Agent().Metrics()
		if err != nil {
			return err
		}
		if m.Timestamp == "" {
			return fmt.Errorf("no timestamp")
		}
		names := metricNames(m)
		for _, n := range want {
			if !names[n] {
				return fmt.Errorf("no %s among %d metrics", n, len(names))
			}
		}
		lib := false
		for n := range names {
			if strings.HasPrefix(n, "consul.serf.") || strings.HasPrefix(n, "consul.memberlist.") {
				lib = true
			}
		}
		if !lib {
			return fmt.Errorf("no consul.serf.* or consul.memberlist.* metric among %d", len(names))
		}
		return nil
	})

	resp, err := http.Get("http://" + ta.HTTPAddr + "/v1/agent/metrics?format=prometheus")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("prometheus: %d %v", resp.StatusCode, err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("the prometheus answer does not parse: %v", err)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4; charset=utf-8") {
		t.Errorf("prometheus: content type %q", ct)
	}
	for n, typ := range map[string]dto.MetricType{
		"consul_kvs_apply": dto.MetricType_SUMMARY, "consul_raft_apply": dto.MetricType_COUNTER,
		"consul_runtime_num_goroutines": dto.MetricType_GAUGE, "consul_api_http": dto.MetricType_SUMMARY,
		"go_goroutines": dto.MetricType_GAUGE, "go_memstats_heap_inuse_bytes": dto.MetricType_GAUGE,
		"go_gc_duration_seconds": dto.MetricType_SUMMARY, "go_info": dto.MetricType_GAUGE,
		"process_resident_memory_bytes": dto.MetricType_GAUGE, "process_cpu_seconds_total": dto.MetricType_COUNTER,
	} {
		f, ok := families[n]
		if !ok {
			t.Errorf("prometheus: no %s among %d families", n, len(families))
			continue
		}
		if f.GetType() != typ {
			t.Errorf("prometheus: %s is a %v, want a %v", n, f.GetType(), typ)
		}
	}
	// api.http keeps its method and path labels; a PUT to /v1/kv/ was made.
	found := false
	for _, m := range families["consul_api_http"].GetMetric() {
		l := map[string]string{}
		for _, p := range m.GetLabel() {
			l[p.GetName()] = p.GetValue()
		}
		found = found || l["method"] == "PUT" && l["path"] == "v1_kv_" && m.GetSummary().GetSampleCount() >= 1
	}
	if !found {
		t.Errorf("prometheus: no consul_api_http{method=\"PUT\",path=\"v1_kv_\"} series: %v", families["consul_api_http"])
	}
}

// TestAgentMetricsPrefixAndNoPrometheus: metrics_prefix renames every
// metric (libraries' too); without a retention time the Prometheus form
// is refused with 415 and a sentence.
func TestAgentMetricsPrefixAndNoPrometheus(t *testing.T) {
	ta := StartTestAgent(t, "-server", "-bootstrap", `-hcl=telemetry { metrics_prefix = "meridian" }`)
	ta.WaitForLeader(t)
	WaitFor(t, "prefixed names", 25*time.Second, func() error {
		m, err := ta.Client.Agent().Metrics()
		if err != nil {
			return err
		}
		names := metricNames(m)
		if !names["meridian.raft.apply"] && !names["meridian.raft.state.leader"] {
			return fmt.Errorf("no meridian.raft.* name among %d", len(names))
		}
		for n := range names {
			if !strings.HasPrefix(n, "meridian.") {
				return fmt.Errorf("%s does not have the prefix", n)
			}
		}
		return nil
	})
	resp, err := http.Get("http://" + ta.HTTPAddr + "/v1/agent/metrics?format=prometheus")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType || !strings.Contains(string(body), "prometheus_retention_time") {
		t.Fatalf("prometheus without retention: %d %q", resp.StatusCode, body)
	}
}

// TestAgentHost: Agent().Host() has Consul's sections with real figures.
func TestAgentHost(t *testing.T) {
	ta := StartTestAgent(t, "-server", "-bootstrap")
	ta.WaitForLeader(t)
	h, err := ta.Client.Agent().Host()
	if err != nil {
		t.Fatal(err)
	}
	num := func(section, field string) float64 {
		s, ok := h[section].(map[string]any)
		if !ok {
			t.Fatalf("no %s section in %v", section, h)
		}
		v, _ := s[field].(float64)
		return v
	}
	if num("Memory", "total") <= 0 || num("Disk", "total") <= 0 || num("Host", "uptime") <= 0 || num("Host", "procs") <= 0 {
		t.Errorf("host figures: %v", h)
	}
	if cpus, ok := h["CPU"].([]any); !ok || len(cpus) == 0 {
		t.Errorf("CPU: %v", h["CPU"])
	}
	if ct, _ := h["CollectionTime"].(float64); ct < float64(time.Now().Add(-time.Hour).UnixNano()) {
		t.Errorf("CollectionTime %v", h["CollectionTime"])
	}
	if errs, ok := h["Errors"].([]any); !ok || len(errs) != 0 {
		t.Errorf("Errors: %v", h["Errors"])
	}
}

// TestDebugEndpoints: /debug/pprof answers the official client's Debug()
// calls only with enable_debug; without it, 401 with a sentence.
func TestDebugEndpoints(t *testing.T) {
	off := StartTestAgent(t, "-server", "-bootstrap")
	if _, err := off.Client.Debug().Heap(); err == nil || !strings.Contains(err.Error(), "enable_debug") {
		t.Fatalf("heap without enable_debug: %v", err)
	}
	on := StartTestAgent(t, "-server", "-bootstrap", "-hcl=enable_debug = true")
	gz := []byte{0x1f, 0x8b}
	heap, err := on.Client.Debug().Heap()
	if err != nil || !bytes.HasPrefix(heap, gz) {
		t.Fatalf("heap: %d bytes, %v", len(heap), err)
	}
	prof, err := on.Client.Debug().Profile(1)
	if err != nil || !bytes.HasPrefix(prof, gz) {
		t.Fatalf("profile: %d bytes, %v", len(prof), err)
	}
	gr, err := on.Client.Debug().Goroutine()
	if err != nil || !bytes.HasPrefix(gr, gz) {
		t.Fatalf("goroutine: %d bytes, %v", len(gr), err)
	}
}

// TestMetricsHostDebugACL: metrics need agent:read, host and profiles
// operator:read; with ACLs on, a token with operator:read gets profiles
// even without enable_debug, as in Consul.
func TestMetricsHostDebugACL(t *testing.T) {
	const root = "6a1c2d3e-4f50-4162-8374-859607a8b9c1"
	ta := startACLAgent(t, "-hcl=acl { tokens { initial_management = \""+root+"\" } }")
	if _, err := ta.Client.Agent().Metrics(); err == nil {
		t.Error("anonymous read the metrics")
	} else {
		wantStatus(t, "metrics", err, http.StatusForbidden, "Permission denied")
	}
	if _, err := ta.Client.Agent().Host(); err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("anonymous host: %v", err)
	}
	if _, err := ta.Client.Debug().Heap(); err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("anonymous heap: %v", err)
	}
	mc := withToken(t, ta, root)
	if _, err := mc.Agent().Metrics(); err != nil {
		t.Errorf("metrics with the management token: %v", err)
	}
	if _, err := mc.Agent().Host(); err != nil {
		t.Errorf("host with the management token: %v", err)
	}
	if _, err := mc.Debug().Heap(); err != nil {
		t.Errorf("heap with the management token and ACLs on: %v", err)
	}
}
