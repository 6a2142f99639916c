package telemetry

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	metrics "github.com/hashicorp/go-metrics"
	metricsprom "github.com/hashicorp/go-metrics/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// fakeClock is a settable clock for a sink.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// testSink is a sink with retention on a fake clock.
func testSink(retention time.Duration) (*prometheusSink, *fakeClock) {
	c := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	p := newPrometheusSink(retention, nil)
	p.now = c.now
	return p, c
}

// scrape serves one request from the sink's handler and parses the
// answer with Prometheus' own parser.
func scrape(t *testing.T, p *prometheusSink, acceptEncoding string) (map[string]*dto.MetricFamily, string) {
	t.Helper()
	req := httptest.NewRequest("GET", "/v1/agent/metrics?format=prometheus", nil)
	if acceptEncoding != "" {
		req.Header.Set("Accept-Encoding", acceptEncoding)
	}
	rec := httptest.NewRecorder()
	prometheusHandler{sink: p}.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("scrape: %d", rec.Code)
	}
	if got := rec.Header().Get("Content-Type"); got != prometheusContentType {
		t.Fatalf("content type %q, want %q", got, prometheusContentType)
	}
	if got := expfmt.ResponseFormat(rec.Header()); got.FormatType() != expfmt.TypeTextPlain {
		t.Fatalf("Prometheus reads the content type as %v", got)
	}
	body := rec.Body.Bytes()
	if rec.Header().Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("gzip: %v", err)
		}
		if body, err = io.ReadAll(zr); err != nil {
			t.Fatalf("gzip: %v", err)
		}
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("the answer does not parse: %v\n%s", err, body)
	}
	return fams, string(body)
}

// labelsOf is a metric's labels as name=value, sorted, quantile left out.
func labelsOf(m *dto.Metric) string {
	var out []string
	for _, l := range m.GetLabel() {
		if l.GetName() != "quantile" {
			out = append(out, l.GetName()+"="+l.GetValue())
		}
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// quantiles is a summary's quantile values by quantile.
func quantiles(m *dto.Metric) map[float64]float64 {
	out := map[float64]float64{}
	for _, q := range m.GetSummary().GetQuantile() {
		out[q.GetQuantile()] = q.GetValue()
	}
	return out
}

// TestPrometheusSinkFamilies: gauges keep the last value, counters add
// up (negative increments dropped), samples are summaries with the 0.5,
// 0.9 and 0.99 quantiles of known inputs and running sum and count; names
// are flattened as go-metrics' sink did, label values come back escaped
// and whole, and every family has its HELP (its name) and TYPE.
func TestPrometheusSinkFamilies(t *testing.T) {
	p, _ := testSink(time.Minute)
	p.SetGauge([]string{"consul", "raft", "peers"}, 2)
	p.SetGauge([]string{"consul", "raft", "peers"}, 3)
	p.SetPrecisionGaugeWithLabels([]string{"consul", "memberlist", "node", "instances"}, 4, []metrics.Label{{Name: "node_state", Value: "alive"}})
	p.IncrCounter([]string{"consul", "raft", "apply"}, 2)
	p.IncrCounter([]string{"consul", "raft", "apply"}, 3)
	p.IncrCounter([]string{"consul", "raft", "apply"}, -7)
	weird := "a\\b\"c\nd é"
	p.IncrCounterWithLabels([]string{"consul", "rpc", "cross-dc"}, 1, []metrics.Label{{Name: "datacenter", Value: weird}})
	p.IncrCounterWithLabels([]string{"consul", "rpc", "cross-dc"}, 1, []metrics.Label{{Name: "datacenter", Value: "dc2"}})
	p.IncrCounterWithLabels([]string{"consul", "rpc", "cross-dc"}, 1, []metrics.Label{{Name: "datacenter", Value: weird}})
	for i := 100; i >= 1; i-- {
		p.AddSampleWithLabels([]string{"consul", "api", "http"}, float32(i),
			[]metrics.Label{{Name: "path", Value: "v1_kv_"}, {Name: "method", Value: "GET"}})
	}
	p.AddSample([]string{"consul", "http", "GET", "v1", "kv", "_"}, 1.5)
	p.IncrCounter([]string{"consul", "serf", "events", "meridian:event:deploy=1/a b"}, 1)
	p.SetGauge([]string{"consul", "h\u00e9st", "x"}, 1)
	p.EmitKey([]string{"consul", "emitted"}, 1)

	fams, body := scrape(t, p, "")
	type want struct {
		typ    dto.MetricType
		labels string
		value  float64
	}
	for name, w := range map[string]want{
		"consul_raft_peers":                              {dto.MetricType_GAUGE, "", 3},
		"consul_memberlist_node_instances":               {dto.MetricType_GAUGE, "node_state=alive", 4},
		"consul_raft_apply":                              {dto.MetricType_COUNTER, "", 5},
		"consul_serf_events_meridian:event:deploy_1_a_b": {dto.MetricType_COUNTER, "", 1},
		"consul_h_st_x":                                  {dto.MetricType_GAUGE, "", 1},
		"consul_http_GET_v1_kv__":                        {dto.MetricType_SUMMARY, "", 0},
		"consul_api_http":                                {dto.MetricType_SUMMARY, "method=GET,path=v1_kv_", 0},
		"consul_rpc_cross_dc":                            {dto.MetricType_COUNTER, "datacenter=" + weird, 2},
		"go_goroutines":                                  {dto.MetricType_GAUGE, "", -1},
		"go_info":                                        {dto.MetricType_GAUGE, "version=" + runtime.Version(), 1},
		"go_gc_duration_seconds":                         {dto.MetricType_SUMMARY, "", -1},
		"go_memstats_alloc_bytes":                        {dto.MetricType_GAUGE, "", -1},
		"go_memstats_heap_inuse_bytes":                   {dto.MetricType_GAUGE, "", -1},
		"go_memstats_sys_bytes":                          {dto.MetricType_GAUGE, "", -1},
		"go_memstats_mallocs_total":                      {dto.MetricType_COUNTER, "", -1},
		"go_threads":                                     {dto.MetricType_GAUGE, "", -1},
		"go_sched_gomaxprocs_threads":                    {dto.MetricType_GAUGE, "", float64(runtime.GOMAXPROCS(0))},
		"process_cpu_seconds_total":                      {dto.MetricType_COUNTER, "", -1},
		"process_resident_memory_bytes":                  {dto.MetricType_GAUGE, "", -1},
		"process_virtual_memory_bytes":                   {dto.MetricType_GAUGE, "", -1},
		"process_open_fds":                               {dto.MetricType_GAUGE, "", -1},
		"process_max_fds":                                {dto.MetricType_GAUGE, "", -1},
		"process_start_time_seconds":                     {dto.MetricType_GAUGE, "", -1},
		"consul_emitted":                                 {-1, "", 0},
	} {
		f, ok := fams[name]
		if w.typ == -1 {
			if ok {
				t.Errorf("%s: there, should not be", name)
			}
			continue
		}
		if runtime.GOOS != "linux" && strings.HasPrefix(name, "process_") {
			continue
		}
		if !ok {
			t.Errorf("no %s in\n%s", name, body)
			continue
		}
		if f.GetType() != w.typ {
			t.Errorf("%s: type %v, want %v", name, f.GetType(), w.typ)
		}
		if !strings.HasPrefix(name, "go_") && !strings.HasPrefix(name, "process_") && f.GetHelp() != name {
			t.Errorf("%s: help %q, want the name", name, f.GetHelp())
		}
		if f.GetHelp() == "" {
			t.Errorf("%s: no help", name)
		}
		var m *dto.Metric
		for _, mm := range f.GetMetric() {
			if labelsOf(mm) == w.labels {
				m = mm
			}
		}
		if m == nil {
			t.Errorf("%s: no series with labels %q among %v", name, w.labels, f.GetMetric())
			continue
		}
		var got float64
		switch w.typ {
		case dto.MetricType_GAUGE:
			got = m.GetGauge().GetValue()
		case dto.MetricType_COUNTER:
			got = m.GetCounter().GetValue()
		}
		if w.value >= 0 && w.typ != dto.MetricType_SUMMARY && got != w.value {
			t.Errorf("%s{%s} = %v, want %v", name, w.labels, got, w.value)
		}
		if w.value < 0 && got <= 0 && w.typ != dto.MetricType_SUMMARY && name != "process_cpu_seconds_total" {
			t.Errorf("%s = %v, want a positive figure", name, got)
		}
	}
	if n := len(fams["consul_rpc_cross_dc"].GetMetric()); n != 2 {
		t.Errorf("consul_rpc_cross_dc has %d series, want 2", n)
	}
	if !strings.Contains(body, `consul_rpc_cross_dc{datacenter="a\\b\"c\nd é"} 2`+"\n") {
		t.Errorf("the label value is not escaped as the text format says:\n%s", body)
	}

	s := fams["consul_api_http"].GetMetric()[0].GetSummary()
	if s.GetSampleCount() != 100 || s.GetSampleSum() != 5050 {
		t.Errorf("api.http count %d sum %v, want 100 and 5050", s.GetSampleCount(), s.GetSampleSum())
	}
	q := quantiles(fams["consul_api_http"].GetMetric()[0])
	if q[0.5] != 50 || q[0.9] != 90 || q[0.99] != 99 || len(q) != 3 {
		t.Errorf("api.http quantiles %v, want 0.5:50 0.9:90 0.99:99", q)
	}
	gcq := quantiles(fams["go_gc_duration_seconds"].GetMetric()[0])
	if len(gcq) != 5 {
		t.Errorf("go_gc_duration_seconds quantiles %v, want 0, 0.25, 0.5, 0.75, 1", gcq)
	}
	// Families in name order, each once.
	var names []string
	for _, line := range strings.Split(body, "\n") {
		if n, ok := strings.CutPrefix(line, "# TYPE "); ok {
			names = append(names, strings.Fields(n)[0])
		}
	}
	if !sort.StringsAreSorted(names) {
		t.Errorf("families out of order: %v", names)
	}
	for i := 1; i < len(names); i++ {
		if names[i] == names[i-1] {
			t.Errorf("family %s twice", names[i])
		}
	}
}

// TestPrometheusSummaryWindow: a summary's quantiles cover the last
// summaryWindow only (NaN when it is empty) while sum and count cover
// every sample; at most summaryMaxSamples are kept, the newest.
func TestPrometheusSummaryWindow(t *testing.T) {
	p, clock := testSink(time.Hour)
	key := []string{"consul", "kvs", "apply"}
	for i := 1; i <= 10; i++ {
		p.AddSample(key, 1000)
	}
	clock.advance(summaryWindow + time.Second)
	fams, _ := scrape(t, p, "")
	m := fams["consul_kvs_apply"].GetMetric()[0]
	for qq, v := range quantiles(m) {
		if !math.IsNaN(v) {
			t.Errorf("quantile %v = %v after the window, want NaN", qq, v)
		}
	}
	if m.GetSummary().GetSampleCount() != 10 || m.GetSummary().GetSampleSum() != 10000 {
		t.Errorf("count %d sum %v, want 10 and 10000", m.GetSummary().GetSampleCount(), m.GetSummary().GetSampleSum())
	}
	for i := 1; i <= 1000; i++ {
		p.AddSample(key, float32(i))
	}
	fams, _ = scrape(t, p, "")
	m = fams["consul_kvs_apply"].GetMetric()[0]
	// The newest 512 are 489..1000.
	q := quantiles(m)
	if q[0.5] != 744 || q[0.9] != 949 || q[0.99] != 995 {
		t.Errorf("quantiles %v, want 0.5:744 0.9:949 0.99:995 (of the newest %d)", q, summaryMaxSamples)
	}
	if m.GetSummary().GetSampleCount() != 1010 || m.GetSummary().GetSampleSum() != 10000+500500 {
		t.Errorf("count %d sum %v, want 1010 and 510500", m.GetSummary().GetSampleCount(), m.GetSummary().GetSampleSum())
	}
	for _, s := range p.series {
		if len(s.vals) != summaryMaxSamples || len(s.times) != summaryMaxSamples {
			t.Errorf("%d samples kept, want %d", len(s.vals), summaryMaxSamples)
		}
	}
	clock.advance(summaryWindow + time.Second)
	scrape(t, p, "")
	for _, s := range p.series {
		if s.vals != nil || s.times != nil {
			t.Errorf("an idle summary keeps %d samples", len(s.vals))
		}
	}
}

// TestPrometheusRetention: a series not updated within the retention
// time is gone at the next scrape; one updated since stays.
func TestPrometheusRetention(t *testing.T) {
	p, clock := testSink(time.Minute)
	p.IncrCounter([]string{"consul", "old"}, 1)
	p.AddSample([]string{"consul", "oldtimer"}, 1)
	p.SetGauge([]string{"consul", "kept"}, 1)
	clock.advance(40 * time.Second)
	p.SetGauge([]string{"consul", "kept"}, 2)
	clock.advance(21 * time.Second)
	fams, _ := scrape(t, p, "")
	for _, n := range []string{"consul_old", "consul_oldtimer"} {
		if _, ok := fams[n]; ok {
			t.Errorf("%s is past its retention and still served", n)
		}
	}
	if f, ok := fams["consul_kept"]; !ok || f.GetMetric()[0].GetGauge().GetValue() != 2 {
		t.Errorf("consul_kept: %v", f)
	}
	if len(p.series) != 1 {
		t.Errorf("%d series kept, want 1", len(p.series))
	}
	// Updated again, a dropped counter starts from zero.
	p.IncrCounter([]string{"consul", "old"}, 1)
	fams, _ = scrape(t, p, "")
	if v := fams["consul_old"].GetMetric()[0].GetCounter().GetValue(); v != 1 {
		t.Errorf("consul_old = %v after expiry and one increment, want 1", v)
	}
}

// TestPrometheusSeriesCap: past maxSeries, new series are dropped (old
// ones keep updating) until old ones expire; expired ones are swept when
// a series is created even without a scrape.
func TestPrometheusSeriesCap(t *testing.T) {
	p, clock := testSink(time.Minute)
	p.maxSeries = 3
	for i := 0; i < 5; i++ {
		p.IncrCounterWithLabels([]string{"consul", "c"}, 1, []metrics.Label{{Name: "n", Value: fmt.Sprint(i)}})
	}
	p.IncrCounterWithLabels([]string{"consul", "c"}, 1, []metrics.Label{{Name: "n", Value: "0"}})
	fams, _ := scrape(t, p, "")
	var got []string
	for _, m := range fams["consul_c"].GetMetric() {
		got = append(got, fmt.Sprintf("%s:%v", labelsOf(m), m.GetCounter().GetValue()))
	}
	if strings.Join(got, " ") != "n=0:2 n=1:1 n=2:1" {
		t.Errorf("series %v, want n=0:2 n=1:1 n=2:1", got)
	}
	clock.advance(61 * time.Second)
	p.IncrCounter([]string{"consul", "new"}, 1)
	if len(p.series) != 1 {
		t.Errorf("%d series after expiry and one new, want 1", len(p.series))
	}
}

// TestPrometheusOneFamilyPerName: metrics of different kinds under one
// name give one family (gauge, then summary, then counter win), and no
// family repeats a summary's _sum or _count; the same labels in another
// order are one series (its last updated value).
func TestPrometheusOneFamilyPerName(t *testing.T) {
	p, clock := testSink(time.Minute)
	p.IncrCounter([]string{"consul", "x"}, 1)
	p.SetGauge([]string{"consul", "x"}, 7)
	p.AddSample([]string{"consul", "y"}, 1)
	p.IncrCounter([]string{"consul", "y"}, 1)
	p.IncrCounter([]string{"consul", "y_count"}, 1)
	p.SetGauge([]string{"consul", "y", "sum"}, 1)
	p.SetGaugeWithLabels([]string{"consul", "z"}, 1, []metrics.Label{{Name: "a", Value: "1"}, {Name: "b", Value: "2"}})
	clock.advance(time.Second)
	p.SetGaugeWithLabels([]string{"consul", "z"}, 2, []metrics.Label{{Name: "b", Value: "2"}, {Name: "a", Value: "1"}})
	fams, body := scrape(t, p, "")
	if f := fams["consul_x"]; f.GetType() != dto.MetricType_GAUGE || len(f.GetMetric()) != 1 || f.GetMetric()[0].GetGauge().GetValue() != 7 {
		t.Errorf("consul_x: %v", f)
	}
	if f := fams["consul_y"]; f.GetType() != dto.MetricType_SUMMARY || len(f.GetMetric()) != 1 {
		t.Errorf("consul_y: %v", f)
	}
	if strings.Count(body, "consul_y_count") != 1 || strings.Count(body, "consul_y_sum") != 1 {
		t.Errorf("consul_y's _count or _sum repeated:\n%s", body)
	}
	if f := fams["consul_z"]; len(f.GetMetric()) != 1 || f.GetMetric()[0].GetGauge().GetValue() != 2 {
		t.Errorf("consul_z: %v, want one series of value 2", f)
	}
}

// TestPrometheusGzip: the answer is gzipped when the client accepts it,
// as the client library's handler did.
func TestPrometheusGzip(t *testing.T) {
	p, _ := testSink(time.Minute)
	p.IncrCounter([]string{"consul", "raft", "apply"}, 1)
	for _, enc := range []string{"gzip", "deflate, gzip;q=0.5", ""} {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Accept-Encoding", enc)
		rec := httptest.NewRecorder()
		prometheusHandler{sink: p}.ServeHTTP(rec, req)
		if gz := rec.Header().Get("Content-Encoding") == "gzip"; gz != (enc != "") {
			t.Errorf("Accept-Encoding %q: gzip %v", enc, gz)
		}
		if fams, _ := scrape(t, p, enc); fams["consul_raft_apply"] == nil {
			t.Errorf("Accept-Encoding %q: no consul_raft_apply", enc)
		}
	}
	for enc, want := range map[string]bool{"gzip": true, "GZIP ; q=1": true, "br, gzip": true,
		"gzip;q=0": false, "identity": false, "x-gzip": false, "": false} {
		if got := acceptsGzip([]string{enc}); got != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", enc, got, want)
		}
	}
}

// TestPrometheusSameNamesAsGoMetricsSink: the same metrics given to
// go-metrics' Prometheus sink (the client library's, which Meridian used
// before) and to ours give the same families, types and label sets.
func TestPrometheusSameNamesAsGoMetricsSink(t *testing.T) {
	reg := prometheus.NewRegistry()
	theirs, err := metricsprom.NewPrometheusSinkFrom(metricsprom.PrometheusOpts{Expiration: time.Minute, Registerer: reg, Name: "x"})
	if err != nil {
		t.Fatal(err)
	}
	ours, _ := testSink(time.Minute)
	ours.now = time.Now
	labels := []metrics.Label{{Name: "method", Value: "GET"}, {Name: "path", Value: "v1_kv_"}}
	for _, s := range []metrics.MetricSink{theirs, ours} {
		s.SetGauge([]string{"consul", "host-1", "runtime", "alloc_bytes"}, 3)
		s.SetGaugeWithLabels([]string{"consul", "memberlist", "node", "instances"}, 1, []metrics.Label{{Name: "node_state", Value: "alive"}})
		s.IncrCounter([]string{"consul", "serf", "events", "meridian:event:a.b"}, 1)
		s.IncrCounterWithLabels([]string{"consul", "rpc", "cross-dc"}, 1, []metrics.Label{{Name: "datacenter", Value: "dc 2"}})
		s.AddSample([]string{"consul", "http", "PUT", "v1", "kv", "_"}, 1)
		s.AddSampleWithLabels([]string{"consul", "api", "http"}, 2, labels)
		s.AddSampleWithLabels([]string{"consul", "rpc", "server", "call"}, 2, []metrics.Label{{Name: "method", Value: "KVS.Apply"}, {Name: "errortype", Value: ""}})
		s.AddSample([]string{"consul", "a=b/c d"}, 1)
	}
	describe := func(fams map[string]*dto.MetricFamily) []string {
		var out []string
		for name, f := range fams {
			if strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") {
				continue
			}
			for _, m := range f.GetMetric() {
				out = append(out, fmt.Sprintf("%s %v %q {%s} q%d", name, f.GetType(), f.GetHelp(), labelsOf(m), len(m.GetSummary().GetQuantile())))
			}
		}
		sort.Strings(out)
		return out
	}
	gathered, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	theirFams := map[string]*dto.MetricFamily{}
	for _, f := range gathered {
		theirFams[f.GetName()] = f
	}
	ourFams, _ := scrape(t, ours, "")
	want, got := describe(theirFams), describe(ourFams)
	if len(want) != 8 {
		t.Fatalf("go-metrics' sink gave %d series, want 8: %v", len(want), want)
	}
	if strings.Join(want, "\n") != strings.Join(got, "\n") {
		t.Errorf("families differ\nours:\n%s\ngo-metrics':\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestPrometheusThroughTelemetry: metrics emitted through a Telemetry
// (with its prefix, its host name on gauges, timers in milliseconds)
// reach its Prometheus handler.
func TestPrometheusThroughTelemetry(t *testing.T) {
	tel, err := New(Config{Prefix: "consul", Hostname: "h1", FilterDefault: true, PrometheusRetention: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown()
	tel.Metrics().IncrCounter([]string{"raft", "apply"}, 1)
	tel.Metrics().SetGauge([]string{"raft", "peers"}, 3)
	tel.Metrics().MeasureSince([]string{"kvs", "apply"}, time.Now().Add(-2*time.Second))
	fams, _ := scrape(t, tel.prom, "")
	if f := fams["consul_raft_apply"]; f.GetType() != dto.MetricType_COUNTER {
		t.Errorf("consul_raft_apply: %v", f)
	}
	if f := fams["consul_h1_raft_peers"]; f.GetMetric()[0].GetGauge().GetValue() != 3 {
		t.Errorf("consul_h1_raft_peers: %v", f)
	}
	f := fams["consul_kvs_apply"]
	if f.GetType() != dto.MetricType_SUMMARY || f.GetMetric()[0].GetSummary().GetSampleSum() < 2000 {
		t.Errorf("consul_kvs_apply (ms): %v", f)
	}
	if tel.PrometheusHandler() == nil {
		t.Error("no handler")
	}
}

// TestProcStat reads the fields of a /proc/self/stat line whose command
// name holds spaces and parentheses, and the IpExt octets of netstat.
func TestProcStat(t *testing.T) {
	stat := []byte("1234 (my (odd) cmd) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 150 0 0 20 0 9 0 5000 104857600 2560 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n")
	got := map[string]float64{}
	for _, f := range statFamilies(stat) {
		got[f.name] = f.metrics[0].value
	}
	if got["process_cpu_seconds_total"] != 4 || got["process_virtual_memory_bytes"] != 104857600 {
		t.Errorf("stat families %v, want cpu 4 s and vsize 104857600", got)
	}
	if runtime.GOOS == "linux" {
		if got["process_resident_memory_bytes"] != float64(2560*os.Getpagesize()) {
			t.Errorf("rss %v, want %d", got["process_resident_memory_bytes"], 2560*os.Getpagesize())
		}
		if _, ok := got["process_start_time_seconds"]; !ok {
			t.Error("no start time")
		}
	}
	netstat := []byte("TcpExt: A B\nTcpExt: 1 2\nIpExt: InNoRoutes InOctets OutOctets\nIpExt: 0 123 456\n")
	in, out, ok := ipOctets(netstat)
	if !ok || in != 123 || out != 456 {
		t.Errorf("ipOctets = %v %v %v, want 123 456 true", in, out, ok)
	}
	if _, _, ok := ipOctets([]byte("IpExt: InOctets\nIpExt: x\n")); ok {
		t.Error("ipOctets accepted a line without numbers")
	}
}

// The cost of one sample with two labels, in our sink and in go-metrics'
// (which Meridian used before).
func BenchmarkPrometheusAddSample(b *testing.B) {
	labels := []metrics.Label{{Name: "method", Value: "GET"}, {Name: "path", Value: "v1_kv_"}}
	key := []string{"consul", "api", "http"}
	b.Run("meridian", func(b *testing.B) {
		p := newPrometheusSink(time.Minute, nil)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			p.AddSampleWithLabels(key, float32(i), labels)
		}
	})
	b.Run("go-metrics", func(b *testing.B) {
		p, err := metricsprom.NewPrometheusSinkFrom(metricsprom.PrometheusOpts{Expiration: time.Minute, Registerer: prometheus.NewRegistry(), Name: "x"})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			p.AddSampleWithLabels(key, float32(i), labels)
		}
	})
}

// The cost of one scrape of 200 summaries and 200 counters.
func BenchmarkPrometheusScrape(b *testing.B) {
	p := newPrometheusSink(time.Minute, nil)
	for i := 0; i < 200; i++ {
		l := []metrics.Label{{Name: "n", Value: fmt.Sprint(i)}}
		for j := 0; j < 100; j++ {
			p.AddSampleWithLabels([]string{"consul", "s"}, float32(j), l)
		}
		p.IncrCounterWithLabels([]string{"consul", "c"}, 1, l)
	}
	req := httptest.NewRequest("GET", "/", nil)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		prometheusHandler{sink: p}.ServeHTTP(discard{}, req)
	}
}

// discard is a ResponseWriter that keeps nothing.
type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) WriteHeader(int)             {}
