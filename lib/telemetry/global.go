package telemetry

import (
	"sync"
	"time"

	metrics "github.com/hashicorp/go-metrics"
)

// libraryFanout is the sink of go-metrics' default instance, which raft,
// serf and memberlist emit through: it forwards every metric, as emitted
// (no prefix, no host name), to each registered Telemetry's own
// *metrics.Metrics, which adds its prefix and host name, applies its
// filters and feeds its sinks. See the package comment for why this one
// global exists.
type libraryFanout struct {
	lock sync.RWMutex
	to   map[*Telemetry]struct{}
}

var (
	// globalOnce installs the fanout as go-metrics' default instance, once
	// per process.
	globalOnce sync.Once
	// globalFanout is the fanout installed; it is only reached through
	// libraries().
	globalFanout *libraryFanout
)

// libraries returns the process's fanout, installing it on first use.
func libraries() *libraryFanout {
	globalOnce.Do(func() {
		globalFanout = &libraryFanout{to: map[*Telemetry]struct{}{}}
		// No prefix, no host name, no runtime collector (each Telemetry
		// emits its own), and timers in milliseconds as every agent's.
		conf := &metrics.Config{TimerGranularity: time.Millisecond, ProfileInterval: time.Second, FilterDefault: true}
		if _, err := metrics.NewGlobal(conf, globalFanout); err != nil {
			// NewGlobal cannot fail today; without it the libraries'
			// metrics are not seen, which the endpoint's test shows.
			return
		}
	})
	return globalFanout
}

func (f *libraryFanout) add(t *Telemetry) {
	f.lock.Lock()
	f.to[t] = struct{}{}
	f.lock.Unlock()
}

func (f *libraryFanout) remove(t *Telemetry) {
	f.lock.Lock()
	delete(f.to, t)
	f.lock.Unlock()
}

// each calls fn with the metrics of every registered Telemetry.
func (f *libraryFanout) each(fn func(m *metrics.Metrics)) {
	f.lock.RLock()
	defer f.lock.RUnlock()
	for t := range f.to {
		fn(t.metrics)
	}
}

// The metrics.MetricSink methods.

func (f *libraryFanout) SetGauge(key []string, val float32) {
	f.each(func(m *metrics.Metrics) { m.SetGauge(key, val) })
}

func (f *libraryFanout) SetGaugeWithLabels(key []string, val float32, labels []metrics.Label) {
	f.each(func(m *metrics.Metrics) { m.SetGaugeWithLabels(key, val, labels) })
}

func (f *libraryFanout) SetPrecisionGauge(key []string, val float64) {
	f.each(func(m *metrics.Metrics) { m.SetPrecisionGauge(key, val) })
}

func (f *libraryFanout) SetPrecisionGaugeWithLabels(key []string, val float64, labels []metrics.Label) {
	f.each(func(m *metrics.Metrics) { m.SetPrecisionGaugeWithLabels(key, val, labels) })
}

func (f *libraryFanout) EmitKey(key []string, val float32) {
	f.each(func(m *metrics.Metrics) { m.EmitKey(key, val) })
}

func (f *libraryFanout) IncrCounter(key []string, val float32) {
	f.each(func(m *metrics.Metrics) { m.IncrCounter(key, val) })
}

func (f *libraryFanout) IncrCounterWithLabels(key []string, val float32, labels []metrics.Label) {
	f.each(func(m *metrics.Metrics) { m.IncrCounterWithLabels(key, val, labels) })
}

func (f *libraryFanout) AddSample(key []string, val float32) {
	f.each(func(m *metrics.Metrics) { m.AddSample(key, val) })
}

func (f *libraryFanout) AddSampleWithLabels(key []string, val float32, labels []metrics.Label) {
	f.each(func(m *metrics.Metrics) { m.AddSampleWithLabels(key, val, labels) })
}

var _ metrics.MetricSink = (*libraryFanout)(nil)
