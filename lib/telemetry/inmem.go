package telemetry

import (
	"sort"
	"sync"
	"time"

	metrics "github.com/hashicorp/go-metrics"
)

// inmemSink is the in-memory sink behind /v1/agent/metrics. It keeps what
// go-metrics' InmemSink keeps (intervals of the configured length,
// retained for the configured time; per interval the last value of each
// gauge, the points of each key, and the aggregate of each counter and
// sample) and answers the same summary, but costs less per metric: every
// RPC and every Raft entry emits several, and InmemSink builds each name
// with strings.Join, a strings.Replacer and an fmt.Sprintf per label, and
// takes two locks, before it looks the name up. Here the name is built in
// a buffer on the stack, looked up without allocating, and stored only
// the first time it is seen in an interval; one mutex guards the sink.
//
// Names are InmemSink's: the key's parts joined with ".", then
// ";name=value" per label, every space replaced with "_". Values are
// ingested by metrics.AggregateSample.Ingest, as InmemSink does, so the
// figures are the same.
type inmemSink struct {
	interval     time.Duration
	maxIntervals int
	rateDenom    float64

	mu sync.Mutex
	// intervals are the retained intervals, the current one last.
	intervals []*inmemInterval
}

// inmemInterval is one interval's metrics, keyed by flattened name (with
// labels).
type inmemInterval struct {
	start           time.Time
	gauges          map[string]*inmemGauge
	precisionGauges map[string]*inmemPrecisionGauge
	points          map[string][]float32
	counters        map[string]*inmemSample
	samples         map[string]*inmemSample
}

type inmemGauge struct {
	name   string
	value  float32
	labels []metrics.Label
}

type inmemPrecisionGauge struct {
	name   string
	value  float64
	labels []metrics.Label
}

type inmemSample struct {
	name   string
	labels []metrics.Label
	agg    metrics.AggregateSample
}

// newInmemSink returns a sink with intervals of interval, keeping
// retain/interval of them (at least one).
func newInmemSink(interval, retain time.Duration) *inmemSink {
	return &inmemSink{
		interval:     interval,
		maxIntervals: max(int(retain/interval), 1),
		rateDenom:    float64(interval.Nanoseconds()) / float64(time.Second.Nanoseconds()),
	}
}

// current returns the interval now falls in, starting it (and dropping
// the oldest beyond the retention) when it is new. s.mu is held.
func (s *inmemSink) current(now time.Time) *inmemInterval {
	start := now.Truncate(s.interval)
	if n := len(s.intervals); n > 0 && s.intervals[n-1].start.Equal(start) {
		return s.intervals[n-1]
	}
	iv := &inmemInterval{
		start:           start,
		gauges:          make(map[string]*inmemGauge),
		precisionGauges: make(map[string]*inmemPrecisionGauge),
		points:          make(map[string][]float32),
		counters:        make(map[string]*inmemSample),
		samples:         make(map[string]*inmemSample),
	}
	s.intervals = append(s.intervals, iv)
	if n := len(s.intervals); n > s.maxIntervals {
		copy(s.intervals, s.intervals[n-s.maxIntervals:])
		for i := s.maxIntervals; i < n; i++ {
			s.intervals[i] = nil
		}
		s.intervals = s.intervals[:s.maxIntervals]
	}
	return iv
}

// appendName appends str to b with every space replaced by "_".
func appendName(b []byte, str string) []byte {
	for i := 0; i < len(str); i++ {
		c := str[i]
		if c == ' ' {
			c = '_'
		}
		b = append(b, c)
	}
	return b
}

// flatten appends the metric's name to b, and then its labels; nameLen
// is the length of the name alone.
func flatten(b []byte, key []string, labels []metrics.Label) (out []byte, nameLen int) {
	for i, part := range key {
		if i > 0 {
			b = append(b, '.')
		}
		b = appendName(b, part)
	}
	nameLen = len(b)
	for _, l := range labels {
		b = append(b, ';')
		b = appendName(b, l.Name)
		b = append(b, '=')
		b = appendName(b, l.Value)
	}
	return b, nameLen
}

// copyLabels copies labels that are kept (the caller may reuse its slice).
func copyLabels(labels []metrics.Label) []metrics.Label {
	if labels == nil {
		return nil
	}
	return append([]metrics.Label{}, labels...)
}

// nameBuf is the size of the stack buffer names are built in; longer
// names are built on the heap.
const nameBuf = 256

func (s *inmemSink) SetGauge(key []string, val float32) {
	s.SetGaugeWithLabels(key, val, nil)
}

func (s *inmemSink) SetGaugeWithLabels(key []string, val float32, labels []metrics.Label) {
	var buf [nameBuf]byte
	b, n := flatten(buf[:0], key, labels)
	s.mu.Lock()
	defer s.mu.Unlock()
	iv := s.current(time.Now())
	if g, ok := iv.gauges[string(b)]; ok {
		g.value, g.labels = val, copyLabels(labels)
		return
	}
	hash := string(b)
	iv.gauges[hash] = &inmemGauge{name: hash[:n], value: val, labels: copyLabels(labels)}
}

func (s *inmemSink) SetPrecisionGauge(key []string, val float64) {
	s.SetPrecisionGaugeWithLabels(key, val, nil)
}

func (s *inmemSink) SetPrecisionGaugeWithLabels(key []string, val float64, labels []metrics.Label) {
	var buf [nameBuf]byte
	b, n := flatten(buf[:0], key, labels)
	s.mu.Lock()
	defer s.mu.Unlock()
	iv := s.current(time.Now())
	if g, ok := iv.precisionGauges[string(b)]; ok {
		g.value, g.labels = val, copyLabels(labels)
		return
	}
	hash := string(b)
	iv.precisionGauges[hash] = &inmemPrecisionGauge{name: hash[:n], value: val, labels: copyLabels(labels)}
}

func (s *inmemSink) EmitKey(key []string, val float32) {
	var buf [nameBuf]byte
	b, _ := flatten(buf[:0], key, nil)
	s.mu.Lock()
	defer s.mu.Unlock()
	iv := s.current(time.Now())
	if pts, ok := iv.points[string(b)]; ok {
		iv.points[string(b)] = append(pts, val)
		return
	}
	iv.points[string(b)] = []float32{val}
}

func (s *inmemSink) IncrCounter(key []string, val float32) {
	s.IncrCounterWithLabels(key, val, nil)
}

func (s *inmemSink) IncrCounterWithLabels(key []string, val float32, labels []metrics.Label) {
	s.ingest(false, key, val, labels)
}

func (s *inmemSink) AddSample(key []string, val float32) {
	s.AddSampleWithLabels(key, val, nil)
}

func (s *inmemSink) AddSampleWithLabels(key []string, val float32, labels []metrics.Label) {
	s.ingest(true, key, val, labels)
}

// ingest adds val to a counter's or (sample) a sample's aggregate; the
// first value of an interval keeps the labels, as InmemSink does.
func (s *inmemSink) ingest(sample bool, key []string, val float32, labels []metrics.Label) {
	var buf [nameBuf]byte
	b, n := flatten(buf[:0], key, labels)
	s.mu.Lock()
	defer s.mu.Unlock()
	iv := s.current(time.Now())
	m := iv.counters
	if sample {
		m = iv.samples
	}
	agg, ok := m[string(b)]
	if !ok {
		hash := string(b)
		agg = &inmemSample{name: hash[:n], labels: copyLabels(labels)}
		m[hash] = agg
	}
	agg.agg.Ingest(float64(val), s.rateDenom)
}

// summary is InmemSink.DisplayMetrics' answer: the last finished
// interval, or the current one while it is the only one, each kind of
// metric sorted by name (with labels).
func (s *inmemSink) summary() metrics.MetricsSummary {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.current(time.Now())
	iv := s.intervals[len(s.intervals)-1]
	if n := len(s.intervals); n > 1 {
		iv = s.intervals[n-2]
	}
	out := metrics.MetricsSummary{
		Timestamp:       iv.start.Round(time.Second).UTC().String(),
		Gauges:          make([]metrics.GaugeValue, 0, len(iv.gauges)),
		PrecisionGauges: make([]metrics.PrecisionGaugeValue, 0, len(iv.precisionGauges)),
		Points:          make([]metrics.PointValue, 0, len(iv.points)),
		Counters:        samplesOf(iv.counters),
		Samples:         samplesOf(iv.samples),
	}
	for name, pts := range iv.points {
		out.Points = append(out.Points, metrics.PointValue{Name: name, Points: append([]float32(nil), pts...)})
	}
	sort.Slice(out.Points, func(i, j int) bool { return out.Points[i].Name < out.Points[j].Name })
	for hash, g := range iv.gauges {
		out.Gauges = append(out.Gauges, metrics.GaugeValue{Name: g.name, Hash: hash, Value: g.value, DisplayLabels: displayLabels(g.labels)})
	}
	sort.Slice(out.Gauges, func(i, j int) bool { return out.Gauges[i].Hash < out.Gauges[j].Hash })
	for hash, g := range iv.precisionGauges {
		out.PrecisionGauges = append(out.PrecisionGauges, metrics.PrecisionGaugeValue{Name: g.name, Hash: hash, Value: g.value, DisplayLabels: displayLabels(g.labels)})
	}
	sort.Slice(out.PrecisionGauges, func(i, j int) bool { return out.PrecisionGauges[i].Hash < out.PrecisionGauges[j].Hash })
	return out
}

// samplesOf lists aggregates as the summary shows them, sorted by name
// (with labels); each carries a copy of its aggregate.
func samplesOf(m map[string]*inmemSample) []metrics.SampledValue {
	out := make([]metrics.SampledValue, 0, len(m))
	for hash, v := range m {
		agg := v.agg
		out = append(out, metrics.SampledValue{
			Name:            v.name,
			Hash:            hash,
			AggregateSample: &agg,
			Mean:            agg.Mean(),
			Stddev:          agg.Stddev(),
			DisplayLabels:   displayLabels(v.labels),
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Hash < out[j].Hash })
	return out
}

// displayLabels is the labels as the summary shows them: a map, empty
// when there are none.
func displayLabels(labels []metrics.Label) map[string]string {
	out := make(map[string]string, len(labels))
	for _, l := range labels {
		out[l.Name] = l.Value
	}
	return out
}

var (
	_ metrics.MetricSink               = (*inmemSink)(nil)
	_ metrics.PrecisionGaugeMetricSink = (*inmemSink)(nil)
)
