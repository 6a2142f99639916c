package telemetry

// Prometheus, without its client library: a go-metrics sink that keeps
// what Prometheus scrapes, and a handler that writes it in Prometheus'
// text exposition format (version 0.0.4), with the go_* and process_*
// families of the process (prometheus_runtime.go, process_*.go).
//
// The names and labels are the ones go-metrics' own Prometheus sink gave
// (the key's parts joined with "_", each character that Prometheus does
// not allow in a name turned into "_"; the help text is the name), so
// dashboards keep working:
//
//   - a gauge keeps its last value;
//   - a counter keeps its running total;
//   - a sample (timer) is a summary: the 0.5, 0.9 and 0.99 quantiles of
//     the samples of the last summaryWindow (at most summaryMaxSamples of
//     them, the newest), and the running _sum and _count of all samples.
//
// A series (a name and a label set) not updated for the retention time
// (prometheus_retention_time) is dropped. That happens at scrape time,
// and also whenever a new series is created and the last sweep is older
// than the retention time, so the set stays bounded without a scrape and
// without a goroutine of its own. At most maxSeries series are kept; past
// that, new series are dropped (and logged once) until old ones expire.
//
// Memory bound: maxSeries series of a few hundred bytes each, plus, for
// each summary that received samples in the last summaryWindow, at most
// summaryMaxSamples samples of 12 bytes (6 KiB). A summary's samples are
// released at the first scrape after it has been idle for a window.

import (
	"bytes"
	"compress/gzip"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/go-hclog"
	metrics "github.com/hashicorp/go-metrics"
)

const (
	// prometheusContentType is the text exposition format, version 0.0.4.
	// escaping=underscores says that characters Prometheus does not allow
	// in names were replaced by "_", as the client library said before.
	prometheusContentType = "text/plain; version=0.0.4; charset=utf-8; escaping=underscores"

	// maxSeries bounds the series a sink keeps (names times label sets).
	maxSeries = 8192
	// summaryMaxSamples bounds the samples a summary keeps for its
	// quantiles: past it, the oldest are overwritten.
	summaryMaxSamples = 512
	// summaryWindow is how far back a summary's quantiles look, as the
	// MaxAge of go-metrics' Prometheus sink.
	summaryWindow = 10 * time.Second
)

// summaryQuantiles are the quantiles every summary shows, with their
// label values.
var summaryQuantiles = [...]struct {
	q     float64
	label string
}{{0.5, "0.5"}, {0.9, "0.9"}, {0.99, "0.99"}}

// seriesKind is what a series keeps. Its order is the precedence when
// metrics of different kinds share a name (only one family per name).
type seriesKind byte

const (
	kindGauge seriesKind = iota
	kindSummary
	kindCounter
)

func (k seriesKind) String() string {
	switch k {
	case kindGauge:
		return "gauge"
	case kindCounter:
		return "counter"
	default:
		return "summary"
	}
}

// labelPair is one label, name already valid for Prometheus.
type labelPair struct {
	name, value string
}

// promSeries is one name and label set.
type promSeries struct {
	kind   seriesKind
	name   string
	labels []labelPair // sorted by name

	mu      sync.Mutex
	updated int64   // unix nanoseconds of the last update
	value   float64 // a gauge's last value, a counter's total
	// A summary's running totals and its ring of recent samples (times
	// in unix nanoseconds), next the slot to overwrite once full.
	count uint64
	sum   float64
	vals  []float32
	times []int64
	next  int
}

// prometheusSink is a go-metrics sink for Prometheus. The zero value is
// not usable: see newPrometheusSink.
type prometheusSink struct {
	retention time.Duration
	maxSeries int
	now       func() time.Time
	logger    hclog.Logger

	mu        sync.RWMutex
	series    map[string]*promSeries // by seriesKey
	lastSweep time.Time
	warned    bool // the series cap was reached and logged
}

func newPrometheusSink(retention time.Duration, logger hclog.Logger) *prometheusSink {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	return &prometheusSink{
		retention: retention,
		maxSeries: maxSeries,
		now:       time.Now,
		logger:    logger,
		series:    map[string]*promSeries{},
	}
}

var (
	_ metrics.MetricSink               = (*prometheusSink)(nil)
	_ metrics.PrecisionGaugeMetricSink = (*prometheusSink)(nil)
)

func (p *prometheusSink) SetGauge(key []string, val float32) {
	p.update(kindGauge, key, nil, float64(val))
}

func (p *prometheusSink) SetGaugeWithLabels(key []string, val float32, labels []metrics.Label) {
	p.update(kindGauge, key, labels, float64(val))
}

func (p *prometheusSink) SetPrecisionGauge(key []string, val float64) {
	p.update(kindGauge, key, nil, val)
}

func (p *prometheusSink) SetPrecisionGaugeWithLabels(key []string, val float64, labels []metrics.Label) {
	p.update(kindGauge, key, labels, val)
}

// EmitKey keeps nothing: Prometheus has no type for a stream of values
// (go-metrics' sink ignored them too).
func (p *prometheusSink) EmitKey(key []string, val float32) {}

func (p *prometheusSink) IncrCounter(key []string, val float32) {
	p.update(kindCounter, key, nil, float64(val))
}

func (p *prometheusSink) IncrCounterWithLabels(key []string, val float32, labels []metrics.Label) {
	p.update(kindCounter, key, labels, float64(val))
}

func (p *prometheusSink) AddSample(key []string, val float32) {
	p.update(kindSummary, key, nil, float64(val))
}

func (p *prometheusSink) AddSampleWithLabels(key []string, val float32, labels []metrics.Label) {
	p.update(kindSummary, key, labels, float64(val))
}

// update records val in the series of kind, key and labels, creating it.
func (p *prometheusSink) update(kind seriesKind, key []string, labels []metrics.Label, val float64) {
	// A counter only goes up; a negative or NaN increment is dropped.
	if kind == kindCounter && !(val >= 0) {
		return
	}
	var arr [256]byte
	k := seriesKey(arr[:0], kind, key, labels)
	p.mu.RLock()
	s := p.series[string(k)]
	p.mu.RUnlock()
	now := p.now()
	if s == nil {
		if s = p.create(k, kind, key, labels, now); s == nil {
			return
		}
	}
	t := now.UnixNano()
	s.mu.Lock()
	s.updated = t
	switch kind {
	case kindGauge:
		s.value = val
	case kindCounter:
		s.value += val
	case kindSummary:
		s.count++
		s.sum += val
		if len(s.vals) < summaryMaxSamples {
			s.vals = append(s.vals, float32(val))
			s.times = append(s.times, t)
		} else {
			s.vals[s.next] = float32(val)
			s.times[s.next] = t
			s.next = (s.next + 1) % summaryMaxSamples
		}
	}
	s.mu.Unlock()
}

// create adds the series of k, unless the sink is full even after
// dropping expired series; then it returns nil.
func (p *prometheusSink) create(k []byte, kind seriesKind, key []string, labels []metrics.Label, now time.Time) *promSeries {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s := p.series[string(k)]; s != nil {
		return s
	}
	if now.Sub(p.lastSweep) >= p.retention || len(p.series) >= p.maxSeries {
		p.sweepLocked(now)
	}
	if len(p.series) >= p.maxSeries {
		if !p.warned {
			p.warned = true
			p.logger.Warn("prometheus: too many metric series, new ones are dropped until old ones expire",
				"max", p.maxSeries, "dropped", promName(key))
		}
		return nil
	}
	s := &promSeries{kind: kind, name: promName(key)}
	if len(labels) > 0 {
		s.labels = make([]labelPair, 0, len(labels))
		for _, l := range labels {
			s.labels = append(s.labels, labelPair{name: promLabelName(l.Name), value: l.Value})
		}
		sort.SliceStable(s.labels, func(i, j int) bool { return s.labels[i].name < s.labels[j].name })
	}
	p.series[string(k)] = s
	return s
}

// sweepLocked drops the series not updated within the retention time.
// p.mu is held.
func (p *prometheusSink) sweepLocked(now time.Time) {
	p.lastSweep = now
	oldest := now.Add(-p.retention).UnixNano()
	for k, s := range p.series {
		s.mu.Lock()
		expired := s.updated < oldest
		s.mu.Unlock()
		if expired {
			delete(p.series, k)
		}
	}
}

// seriesKey appends the identity of a series to b: its kind, its name as
// Prometheus shows it, and its labels (names as shown, values as given)
// in the order given. Two keys that differ only in what the exposition
// format turns into "_" are the same series, as in go-metrics' sink.
func seriesKey(b []byte, kind seriesKind, key []string, labels []metrics.Label) []byte {
	b = append(b, byte(kind))
	for i, part := range key {
		if i > 0 {
			b = append(b, '_')
		}
		b = appendValidName(b, part, true)
	}
	for _, l := range labels {
		b = append(b, 0xff)
		b = appendValidName(b, l.Name, false)
		b = append(b, 0xfe)
		b = append(b, l.Value...)
	}
	return b
}

// appendValidName appends s to b with each character not allowed in a
// Prometheus metric name ([a-zA-Z0-9_:], colons only when metric) or label
// name ([a-zA-Z0-9_]) replaced by "_".
func appendValidName(b []byte, s string, metric bool) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == ':' && metric) {
				c = '_'
			}
			b = append(b, c)
			i++
			continue
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		b = append(b, '_')
		i += size
	}
	return b
}

// promName is the Prometheus name of a go-metrics key. A name cannot
// start with a digit; one that would gets a leading "_".
func promName(key []string) string {
	var b []byte
	for i, part := range key {
		if i > 0 {
			b = append(b, '_')
		}
		b = appendValidName(b, part, true)
	}
	if len(b) == 0 || b[0] >= '0' && b[0] <= '9' {
		b = append([]byte{'_'}, b...)
	}
	return string(b)
}

// promLabelName is name made valid as a label name.
func promLabelName(name string) string {
	b := appendValidName(nil, name, false)
	if len(b) == 0 || b[0] >= '0' && b[0] <= '9' {
		b = append([]byte{'_'}, b...)
	}
	return string(b)
}

// promFamily is one metric family as written out.
type promFamily struct {
	name, help string
	kind       seriesKind
	metrics    []promMetric
}

// promMetric is one series of a family as written out.
type promMetric struct {
	labels []labelPair
	// value is a gauge's or counter's value.
	value float64
	// quantiles (values in summaryQuantiles' order, or
	// quantileLabels'), sum and count are a summary's.
	quantiles      []float64
	quantileLabels []string
	sum            float64
	count          uint64
	updated        int64 // to choose between duplicates
}

// families returns the sink's families at now, dropping expired series.
func (p *prometheusSink) families(now time.Time) []promFamily {
	p.mu.Lock()
	p.sweepLocked(now)
	all := make([]*promSeries, 0, len(p.series))
	for _, s := range p.series {
		all = append(all, s)
	}
	p.mu.Unlock()

	windowStart := now.Add(-summaryWindow).UnixNano()
	byName := map[string]*promFamily{}
	var scratch []float64
	for _, s := range all {
		m := promMetric{labels: s.labels}
		s.mu.Lock()
		m.updated = s.updated
		switch s.kind {
		case kindGauge, kindCounter:
			m.value = s.value
		case kindSummary:
			m.sum, m.count = s.sum, s.count
			scratch = scratch[:0]
			for i, t := range s.times {
				if t >= windowStart {
					scratch = append(scratch, float64(s.vals[i]))
				}
			}
			if len(scratch) == 0 {
				// Idle for a window: give the ring back.
				s.vals, s.times, s.next = nil, nil, 0
			}
		}
		s.mu.Unlock()
		if s.kind == kindSummary {
			sort.Float64s(scratch)
			m.quantiles = make([]float64, len(summaryQuantiles))
			for i, q := range summaryQuantiles {
				m.quantiles[i] = quantile(scratch, q.q)
			}
		}
		f := byName[s.name]
		if f == nil {
			f = &promFamily{name: s.name, help: s.name, kind: s.kind}
			byName[s.name] = f
		}
		switch {
		case s.kind < f.kind:
			// A kind of higher precedence takes the name.
			f.kind, f.metrics = s.kind, []promMetric{m}
		case s.kind == f.kind:
			f.metrics = append(f.metrics, m)
		}
	}
	// A summary's _sum and _count are its own: a family of that name
	// would repeat them.
	for _, f := range byName {
		if f.kind == kindSummary {
			delete(byName, f.name+"_sum")
			delete(byName, f.name+"_count")
		}
	}
	out := make([]promFamily, 0, len(byName))
	for _, f := range byName {
		out = append(out, *f)
	}
	return out
}

// quantile is the q quantile of sorted (nearest rank), NaN if empty.
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(sorted) {
		i = len(sorted) - 1
	}
	return sorted[i]
}

// prometheusHandler serves a sink's families and the process's in the
// text exposition format, gzipped when the client accepts it.
type prometheusHandler struct {
	sink *prometheusSink
}

func (h prometheusHandler) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	now := h.sink.now()
	fams := h.sink.families(now)
	fams = append(fams, goFamilies()...)
	fams = append(fams, processFamilies()...)
	var buf bytes.Buffer
	writeFamilies(&buf, fams)
	w.Header().Set("Content-Type", prometheusContentType)
	if !acceptsGzip(req.Header.Values("Accept-Encoding")) {
		_, _ = w.Write(buf.Bytes())
		return
	}
	w.Header().Set("Content-Encoding", "gzip")
	gz := gzip.NewWriter(w)
	_, _ = gz.Write(buf.Bytes())
	_ = gz.Close()
}

// acceptsGzip tells whether Accept-Encoding values allow gzip (named
// without q=0).
func acceptsGzip(values []string) bool {
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			coding, params, _ := strings.Cut(part, ";")
			if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
				continue
			}
			q := 1.0
			for _, p := range strings.Split(params, ";") {
				name, val, ok := strings.Cut(strings.TrimSpace(p), "=")
				if ok && strings.TrimSpace(name) == "q" {
					if f, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
						q = f
					}
				}
			}
			if q > 0 {
				return true
			}
		}
	}
	return false
}

// writeFamilies writes fams in the text exposition format: families by
// name, a family's series by labels; of series with the same labels, the
// last updated.
func writeFamilies(buf *bytes.Buffer, fams []promFamily) {
	sort.SliceStable(fams, func(i, j int) bool { return fams[i].name < fams[j].name })
	var b []byte
	for i, f := range fams {
		if i > 0 && f.name == fams[i-1].name {
			continue // one family per name: the first
		}
		ms := f.metrics
		sort.SliceStable(ms, func(i, j int) bool {
			if c := compareLabels(ms[i].labels, ms[j].labels); c != 0 {
				return c < 0
			}
			return ms[i].updated > ms[j].updated
		})
		b = append(b[:0], "# HELP "...)
		b = append(b, f.name...)
		b = append(b, ' ')
		b = appendHelp(b, f.help)
		b = append(b, "\n# TYPE "...)
		b = append(b, f.name...)
		b = append(b, ' ')
		b = append(b, f.kind.String()...)
		b = append(b, '\n')
		for j, m := range ms {
			if j > 0 && compareLabels(m.labels, ms[j-1].labels) == 0 {
				continue
			}
			if f.kind != kindSummary {
				b = appendSample(b, f.name, "", m.labels, "", "", m.value)
				continue
			}
			for k, v := range m.quantiles {
				ql := ""
				if m.quantileLabels != nil {
					ql = m.quantileLabels[k]
				} else {
					ql = summaryQuantiles[k].label
				}
				b = appendSample(b, f.name, "", m.labels, "quantile", ql, v)
			}
			b = appendSample(b, f.name, "_sum", m.labels, "", "", m.sum)
			b = append(b, f.name...)
			b = append(b, "_count"...)
			b = appendLabels(b, m.labels, "", "")
			b = append(b, ' ')
			b = strconv.AppendUint(b, m.count, 10)
			b = append(b, '\n')
		}
		buf.Write(b)
	}
}

// compareLabels orders label sets by their pairs in turn, then by length.
func compareLabels(a, b []labelPair) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if c := strings.Compare(a[i].name, b[i].name); c != 0 {
			return c
		}
		if c := strings.Compare(a[i].value, b[i].value); c != 0 {
			return c
		}
	}
	return len(a) - len(b)
}

func appendSample(b []byte, name, suffix string, labels []labelPair, extraName, extraValue string, v float64) []byte {
	b = append(b, name...)
	b = append(b, suffix...)
	b = appendLabels(b, labels, extraName, extraValue)
	b = append(b, ' ')
	b = appendFloat(b, v)
	return append(b, '\n')
}

// appendLabels appends {name="value",...}, with extraName last if set;
// nothing without labels.
func appendLabels(b []byte, labels []labelPair, extraName, extraValue string) []byte {
	if len(labels) == 0 && extraName == "" {
		return b
	}
	b = append(b, '{')
	for i, l := range labels {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, l.name...)
		b = append(b, '=', '"')
		b = appendLabelValue(b, l.value)
		b = append(b, '"')
	}
	if extraName != "" {
		if len(labels) > 0 {
			b = append(b, ',')
		}
		b = append(b, extraName...)
		b = append(b, '=', '"')
		b = appendLabelValue(b, extraValue)
		b = append(b, '"')
	}
	return append(b, '}')
}

// appendLabelValue appends v escaped for a label value (\\, \", \n),
// invalid UTF-8 replaced.
func appendLabelValue(b []byte, v string) []byte {
	if !utf8.ValidString(v) {
		v = strings.ToValidUTF8(v, "\uFFFD")
	}
	return appendEscaped(b, v, true)
}

// appendHelp appends a help text escaped (\\, \n).
func appendHelp(b []byte, h string) []byte { return appendEscaped(b, h, false) }

// appendEscaped appends s with backslashes and newlines escaped, and
// double quotes too when quotes is set (label values; help texts keep
// theirs).
func appendEscaped(b []byte, s string, quotes bool) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b = append(b, '\\', '\\')
		case c == '"' && quotes:
			b = append(b, '\\', '"')
		case c == '\n':
			b = append(b, '\\', 'n')
		default:
			b = append(b, c)
		}
	}
	return b
}

// appendFloat appends v as the text format writes numbers.
func appendFloat(b []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(b, "NaN"...)
	case math.IsInf(v, 1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}
