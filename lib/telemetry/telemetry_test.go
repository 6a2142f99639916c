package telemetry

import (
	"testing"
	"time"

	metrics "github.com/hashicorp/go-metrics"
)

// names returns the gauge, counter and sample names of t's summary.
func names(t *testing.T, tel *Telemetry) map[string]bool {
	t.Helper()
	v, err := tel.Summary()
	if err != nil {
		t.Fatal(err)
	}
	s := v.(metrics.MetricsSummary)
	out := map[string]bool{}
	for _, g := range s.Gauges {
		out[g.Name] = true
	}
	for _, c := range s.Counters {
		out[c.Name] = true
	}
	for _, c := range s.Samples {
		out[c.Name] = true
	}
	return out
}

// TestLibraryMetricsReachEveryTelemetry: what a library emits through
// go-metrics' default instance reaches every running Telemetry under its
// own prefix and host name, and none once it is shut down.
func TestLibraryMetricsReachEveryTelemetry(t *testing.T) {
	a, err := New(Config{Prefix: "aa", Hostname: "h1", FilterDefault: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Shutdown()
	b, err := New(Config{Prefix: "bb", Hostname: "h2", DisableHostname: true, FilterDefault: true,
		BlockedPrefixes: []string{"bb.lib.blocked"}})
	if err != nil {
		t.Fatal(err)
	}
	metrics.IncrCounter([]string{"lib", "count"}, 1)
	metrics.SetGauge([]string{"lib", "gauge"}, 3)
	metrics.MeasureSince([]string{"lib", "timer"}, time.Now())
	metrics.IncrCounter([]string{"lib", "blocked"}, 1)
	b.Metrics().IncrCounter([]string{"own"}, 1)

	na, nb := names(t, a), names(t, b)
	for _, n := range []string{"aa.lib.count", "aa.h1.lib.gauge", "aa.lib.timer", "aa.lib.blocked"} {
		if !na[n] {
			t.Errorf("a has no %s: %v", n, na)
		}
	}
	for _, n := range []string{"bb.lib.count", "bb.lib.gauge", "bb.lib.timer", "bb.own"} {
		if !nb[n] {
			t.Errorf("b has no %s: %v", n, nb)
		}
	}
	if nb["bb.lib.blocked"] || na["aa.own"] {
		t.Errorf("a filtered or foreign metric got through: a %v, b %v", na, nb)
	}
	b.Shutdown()
	metrics.IncrCounter([]string{"lib", "after"}, 1)
	if names(t, b)["bb.lib.after"] {
		t.Error("a shut down Telemetry still receives library metrics")
	}
	if !names(t, a)["aa.lib.after"] {
		t.Error("the running Telemetry stopped receiving library metrics")
	}
}

func TestPrometheusOnlyWithRetention(t *testing.T) {
	off, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer off.Shutdown()
	if off.PrometheusHandler() != nil {
		t.Error("a Prometheus handler without a retention time")
	}
	on, err := New(Config{PrometheusRetention: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer on.Shutdown()
	if on.PrometheusHandler() == nil {
		t.Error("no Prometheus handler with a retention time")
	}
	sinks, err := New(Config{StatsdAddr: "127.0.0.1:1", DogstatsdAddr: "127.0.0.1:1"})
	if err != nil {
		t.Fatalf("statsd and dogstatsd sinks: %v", err)
	}
	sinks.Shutdown()
}
