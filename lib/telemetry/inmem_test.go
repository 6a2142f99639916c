package telemetry

import (
	"encoding/json"
	"testing"
	"time"

	metrics "github.com/hashicorp/go-metrics"
)

// fullSink is a sink with precision gauges, as both in-memory sinks are.
type fullSink interface {
	metrics.MetricSink
	metrics.PrecisionGaugeMetricSink
}

// feed emits the same metrics to every sink: gauges set twice, counters
// and samples with and without labels, names and labels with spaces,
// points, and metrics seen only in round r.
func feed(r int, sinks ...fullSink) {
	labels := []metrics.Label{{Name: "method", Value: "KVS.Apply"}, {Name: "error type", Value: "a b"}}
	for _, s := range sinks {
		for i := 0; i < 5; i++ {
			s.SetGauge([]string{"consul", "host", "runtime", "num_goroutines"}, float32(10+i+r))
			s.SetGaugeWithLabels([]string{"consul", "gauge"}, float32(i), labels)
			s.SetPrecisionGauge([]string{"consul", "precise"}, float64(i)+0.25)
			s.SetPrecisionGaugeWithLabels([]string{"consul", "precise"}, float64(i)*2, labels[:1])
			s.EmitKey([]string{"consul", "point key"}, float32(i))
			s.IncrCounter([]string{"consul", "rpc", "request"}, 1)
			s.IncrCounterWithLabels([]string{"consul", "rpc", "cross-dc"}, float32(i), labels[:1])
			s.AddSample([]string{"consul", "kvs", "apply"}, float32(i)*1.5+float32(r))
			s.AddSampleWithLabels([]string{"consul", "rpc", "server", "call"}, float32(i)/3, labels)
			s.AddSampleWithLabels([]string{"consul", "rpc", "server", "call"}, float32(i)/7, []metrics.Label{})
		}
		s.IncrCounter([]string{"consul", "round", string(rune('a' + r))}, float32(r))
	}
}

// sameSummaries reports whether the two summaries encode to the same
// JSON, and both.
func sameSummaries(t *testing.T, ref *metrics.InmemSink, ours *inmemSink) (bool, string, string) {
	t.Helper()
	want, err := ref.DisplayMetrics(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	wb, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	gb, err := json.Marshal(ours.summary())
	if err != nil {
		t.Fatal(err)
	}
	return string(wb) == string(gb), string(wb), string(gb)
}

// TestInmemSinkSummaryAsGoMetrics: the sink behind /v1/agent/metrics
// answers exactly what go-metrics' InmemSink answers for the same
// metrics, in the current interval and, once it has ended, for the last
// finished one. A round that straddles an interval boundary is tried
// again (the two sinks may then have cut it differently).
func TestInmemSinkSummaryAsGoMetrics(t *testing.T) {
	t.Run("current interval", func(t *testing.T) {
		var last [2]string
		for attempt := 0; attempt < 3; attempt++ {
			ref, ours := metrics.NewInmemSink(time.Hour, 2*time.Hour), newInmemSink(time.Hour, 2*time.Hour)
			feed(0, ref, ours)
			same, want, got := sameSummaries(t, ref, ours)
			if same {
				return
			}
			last = [2]string{want, got}
		}
		t.Fatalf("summaries differ:\ngo-metrics: %s\nours:       %s", last[0], last[1])
	})
	t.Run("finished interval", func(t *testing.T) {
		const interval = 100 * time.Millisecond
		var last [2]string
		for attempt := 0; attempt < 3; attempt++ {
			ref, ours := metrics.NewInmemSink(interval, 3*interval), newInmemSink(interval, 3*interval)
			start := time.Now().Truncate(interval)
			feed(0, ref, ours)
			if !time.Now().Truncate(interval).Equal(start) {
				continue
			}
			// Wait for the next interval, then feed it: the summary
			// shows the first.
			for deadline := time.Now().Add(5 * time.Second); time.Now().Truncate(interval).Equal(start); {
				if time.Now().After(deadline) {
					t.Fatal("the clock did not reach the next interval")
				}
				time.Sleep(time.Millisecond)
			}
			feed(1, ref, ours)
			same, want, got := sameSummaries(t, ref, ours)
			if same && time.Now().Truncate(interval).Equal(start.Add(interval)) {
				if len(ours.intervals) != 2 {
					t.Fatalf("%d intervals kept, want 2", len(ours.intervals))
				}
				return
			}
			last = [2]string{want, got}
		}
		t.Fatalf("summaries differ:\ngo-metrics: %s\nours:       %s", last[0], last[1])
	})
	t.Run("retention", func(t *testing.T) {
		s := newInmemSink(time.Second, 3*time.Second)
		base := time.Unix(1000, 0)
		for i := 0; i < 10; i++ {
			s.mu.Lock()
			s.current(base.Add(time.Duration(i) * time.Second))
			s.mu.Unlock()
		}
		if len(s.intervals) != 3 || !s.intervals[2].start.Equal(base.Add(9*time.Second)) || !s.intervals[0].start.Equal(base.Add(7*time.Second)) {
			t.Fatalf("kept %d intervals, the last from %v", len(s.intervals), s.intervals[len(s.intervals)-1].start)
		}
	})
}

// BenchmarkInmemSink compares what recording one sample with two labels
// and one counter (what every RPC a server answers emits) costs in
// go-metrics' InmemSink and in ours:
//
//	go test -run '^$' -bench BenchmarkInmemSink -benchmem ./lib/telemetry/
func BenchmarkInmemSink(b *testing.B) {
	key := []string{"consul", "rpc", "server", "call"}
	counter := []string{"consul", "rpc", "request"}
	labels := []metrics.Label{{Name: "method", Value: "KVS.Apply"}, {Name: "errortype", Value: ""}}
	for _, tc := range []struct {
		name string
		sink metrics.MetricSink
	}{
		{"go-metrics", metrics.NewInmemSink(DefaultInterval, DefaultRetain)},
		{"ours", newInmemSink(DefaultInterval, DefaultRetain)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				tc.sink.AddSampleWithLabels(key, 0.5, labels)
				tc.sink.IncrCounter(counter, 1)
			}
		})
	}
}
