// Package telemetry is an agent's metrics: the telemetry block of the
// configuration turned into go-metrics sinks (an in-memory sink for
// /v1/agent/metrics, and, as configured, Prometheus (a sink and text
// format of our own, prometheus.go), statsd, statsite and DogStatsD), with
// Consul's names: every metric starts with the prefix
// (metrics_prefix, "consul" by default, so that Consul's dashboards and
// alerts work unchanged) and gauges carry the host name unless
// disable_hostname is set.
//
// # The one global
//
// Meridian's style keeps no mutable package state, but raft, serf and
// memberlist emit their metrics (raft.apply, serf.member.join,
// memberlist.gossip, ...) through go-metrics' process-wide default
// instance, and nothing else: there is no way to hand them a sink of
// their own. So this package installs, once per process, a go-metrics
// default instance without prefix or host name whose sink forwards every
// metric to each Telemetry registered at the moment (New registers,
// Shutdown unregisters). Each Telemetry then adds its own prefix and host
// name and feeds its own sinks, exactly as for the metrics Meridian emits
// itself through Telemetry.Metrics. A process runs one agent, so it sees
// its libraries' metrics; in tests that run several agents in one process
// each agent sees the library metrics of all of them.
package telemetry

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	metrics "github.com/hashicorp/go-metrics"
	"github.com/hashicorp/go-metrics/datadog"
)

// Defaults, as Consul's.
const (
	// DefaultPrefix is metrics_prefix's default.
	DefaultPrefix = "consul"
	// DefaultInterval is the in-memory sink's aggregation interval.
	DefaultInterval = 10 * time.Second
	// DefaultRetain is how long the in-memory sink keeps intervals: two,
	// the current one and the last finished one, which is all
	// /v1/agent/metrics shows (go-metrics' default of a minute kept four
	// more that nothing reads).
	DefaultRetain = 2 * DefaultInterval
	// DefaultRuntimeInterval is how often the Go runtime's figures
	// (runtime.num_goroutines, runtime.alloc_bytes, ...) are taken.
	DefaultRuntimeInterval = time.Second
)

// Config configures an agent's telemetry (Consul's telemetry block).
type Config struct {
	// Prefix starts every metric name (metrics_prefix). Default
	// DefaultPrefix.
	Prefix string
	// Hostname is put into gauge names (prefix.host.name) unless
	// DisableHostname. Default os.Hostname().
	Hostname string
	// DisableHostname leaves the host name out of gauge names
	// (disable_hostname). Default false, as Consul's.
	DisableHostname bool
	// StatsdAddr sends metrics to a statsd server over UDP
	// (statsd_address, host:port); empty for none.
	StatsdAddr string
	// StatsiteAddr sends metrics to a statsite server over TCP
	// (statsite_address); empty for none.
	StatsiteAddr string
	// DogstatsdAddr sends metrics to a DogStatsD agent (dogstatsd_addr,
	// host:port or unix:///path); empty for none.
	DogstatsdAddr string
	// DogstatsdTags are tags added to every DogStatsD metric
	// (dogstatsd_tags, "key:value").
	DogstatsdTags []string
	// PrometheusRetention, when positive, keeps metrics for Prometheus
	// for that long after their last update and serves them at
	// /v1/agent/metrics?format=prometheus (prometheus_retention_time).
	// Zero: no Prometheus.
	PrometheusRetention time.Duration
	// AllowedPrefixes and BlockedPrefixes filter metrics by name prefix
	// (prefix_filter "+name" and "-name"), prefix included.
	AllowedPrefixes []string
	BlockedPrefixes []string
	// FilterDefault keeps metrics that no filter names (filter_default).
	// DefaultConfig sets it, as Consul's default; false drops every
	// metric no AllowedPrefixes entry names.
	FilterDefault bool
	// Interval and Retain are the in-memory sink's aggregation interval
	// and retention. Defaults DefaultInterval and DefaultRetain.
	Interval time.Duration
	Retain   time.Duration
	// RuntimeInterval is how often runtime figures are emitted. Default
	// DefaultRuntimeInterval.
	RuntimeInterval time.Duration
	// Logger receives the sinks' errors.
	Logger hclog.Logger
}

// DefaultConfig returns Consul's defaults.
func DefaultConfig() *Config {
	host, _ := os.Hostname()
	return &Config{
		Prefix:          DefaultPrefix,
		Hostname:        host,
		FilterDefault:   true,
		Interval:        DefaultInterval,
		Retain:          DefaultRetain,
		RuntimeInterval: DefaultRuntimeInterval,
	}
}

// Telemetry is one agent's metrics.
type Telemetry struct {
	cfg     Config
	metrics *metrics.Metrics
	inmem   *inmemSink
	// prom keeps the metrics for Prometheus (prometheus.go); nil without
	// prometheus_retention_time.
	prom *prometheusSink
	// closers are the sinks with background work to stop.
	closers []metrics.ShutdownSink

	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

// New builds the sinks the configuration asks for and starts feeding
// them, including the metrics raft, serf and memberlist emit. Stop it with
// Shutdown.
func New(cfg Config) (*Telemetry, error) {
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Retain < cfg.Interval {
		cfg.Retain = DefaultRetain
	}
	if cfg.RuntimeInterval <= 0 {
		cfg.RuntimeInterval = DefaultRuntimeInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	t := &Telemetry{cfg: cfg, inmem: newInmemSink(cfg.Interval, cfg.Retain)}
	sinks := metrics.FanoutSink{t.inmem}
	fail := func(err error) (*Telemetry, error) {
		for _, c := range t.closers {
			c.Shutdown()
		}
		return nil, err
	}
	if cfg.StatsdAddr != "" {
		s, err := metrics.NewStatsdSinkWithLogger(cfg.StatsdAddr, cfg.Logger)
		if err != nil {
			return fail(fmt.Errorf("telemetry.statsd_address %q: %w", cfg.StatsdAddr, err))
		}
		sinks = append(sinks, s)
		t.closers = append(t.closers, s)
	}
	if cfg.StatsiteAddr != "" {
		s, err := metrics.NewStatsiteSinkWithLogger(cfg.StatsiteAddr, cfg.Logger)
		if err != nil {
			return fail(fmt.Errorf("telemetry.statsite_address %q: %w", cfg.StatsiteAddr, err))
		}
		sinks = append(sinks, s)
		t.closers = append(t.closers, s)
	}
	if cfg.DogstatsdAddr != "" {
		s, err := datadog.NewDogStatsdSink(cfg.DogstatsdAddr, cfg.Hostname)
		if err != nil {
			return fail(fmt.Errorf("telemetry.dogstatsd_addr %q: %w", cfg.DogstatsdAddr, err))
		}
		s.SetTags(cfg.DogstatsdTags)
		sinks = append(sinks, s)
		t.closers = append(t.closers, s)
	}
	if cfg.PrometheusRetention > 0 {
		t.prom = newPrometheusSink(cfg.PrometheusRetention, cfg.Logger)
		sinks = append(sinks, t.prom)
	}
	m, err := metrics.New(&metrics.Config{
		ServiceName:      cfg.Prefix,
		HostName:         cfg.Hostname,
		EnableHostname:   !cfg.DisableHostname && cfg.Hostname != "",
		TimerGranularity: time.Millisecond,
		ProfileInterval:  cfg.RuntimeInterval,
		AllowedPrefixes:  cfg.AllowedPrefixes,
		BlockedPrefixes:  cfg.BlockedPrefixes,
		FilterDefault:    cfg.FilterDefault,
		// Runtime figures come from run, which stops at Shutdown;
		// go-metrics' own collector never stops.
		EnableRuntimeMetrics: false,
	}, sinks)
	if err != nil {
		return fail(fmt.Errorf("set up metrics: %w", err))
	}
	t.metrics = m
	ctx, cancel := context.WithCancel(context.Background())
	t.cancel = cancel
	t.wg.Add(1)
	go t.run(ctx)
	libraries().add(t)
	return t, nil
}

// run emits the runtime figures until ctx ends.
func (t *Telemetry) run(ctx context.Context) {
	defer t.wg.Done()
	tick := time.NewTicker(t.cfg.RuntimeInterval)
	defer tick.Stop()
	t.metrics.EmitRuntimeStats()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			t.metrics.EmitRuntimeStats()
		}
	}
}

// Metrics is where the agent emits its own metrics; names get the prefix
// (and gauges the host name) there.
func (t *Telemetry) Metrics() *metrics.Metrics { return t.metrics }

// Summary is the body of /v1/agent/metrics: the last finished interval of
// the in-memory sink (the current one while there is no other), in the
// shape of Consul's (Timestamp, Gauges, Points, Counters, Samples).
func (t *Telemetry) Summary() (any, error) {
	return t.inmem.summary(), nil
}

// PrometheusHandler serves the metrics in Prometheus' text format, with
// the go_* and process_* families; nil when prometheus_retention_time is
// not set.
func (t *Telemetry) PrometheusHandler() http.Handler {
	if t.prom == nil {
		return nil
	}
	return prometheusHandler{sink: t.prom}
}

// Shutdown stops feeding the sinks and stops those with background work.
// It is idempotent.
func (t *Telemetry) Shutdown() {
	t.once.Do(func() {
		libraries().remove(t)
		t.cancel()
		t.wg.Wait()
		for _, c := range t.closers {
			c.Shutdown()
		}
	})
}
