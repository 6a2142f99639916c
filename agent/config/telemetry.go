package config

import (
	"net"
	"strings"
	"time"
)

// The telemetry block (Consul's) and enable_debug.

// rawTelemetry is the telemetry block.
type rawTelemetry struct {
	DisableHostname         *bool          `cfg:"disable_hostname"`
	MetricsPrefix           *string        `cfg:"metrics_prefix" check:"nonempty"`
	StatsdAddress           *string        `cfg:"statsd_address"`
	StatsiteAddress         *string        `cfg:"statsite_address"`
	DogstatsdAddr           *string        `cfg:"dogstatsd_addr"`
	DogstatsdTags           []string       `cfg:"dogstatsd_tags"`
	PrometheusRetentionTime *time.Duration `cfg:"prometheus_retention_time"`
	PrefixFilter            []string       `cfg:"prefix_filter"`
	FilterDefault           *bool          `cfg:"filter_default"`
}

// ignoredKeys are the Consul telemetry keys Meridian has no sink or
// behaviour for.
func (rawTelemetry) ignoredKeys() []string {
	return []string{
		"circonus_api_token", "circonus_api_app", "circonus_api_url",
		"circonus_submission_interval", "circonus_submission_url", "circonus_check_id",
		"circonus_check_force_metric_activation", "circonus_check_instance_id",
		"circonus_check_search_tag", "circonus_check_display_name", "circonus_check_tags",
		"circonus_broker_id", "circonus_broker_select_tag",
		"enable_host_metrics", "enable_hostname_label",
		"retry_failed_connection", "statsite_prefix",
	}
}

// TelemetryConfig is the resolved telemetry block (see lib/telemetry).
type TelemetryConfig struct {
	// DisableHostname leaves the host name out of gauge names. Key
	// telemetry.disable_hostname; default false.
	DisableHostname bool
	// MetricsPrefix starts every metric name. Key
	// telemetry.metrics_prefix; default "consul", as Consul's, so that
	// dashboards made for Consul work.
	MetricsPrefix string
	// StatsdAddr, StatsiteAddr and DogstatsdAddr are the host:port of a
	// statsd, statsite or DogStatsD server to send metrics to (DogStatsD
	// may be unix:///path); empty for none.
	StatsdAddr    string
	StatsiteAddr  string
	DogstatsdAddr string
	// DogstatsdTags are added to every DogStatsD metric.
	DogstatsdTags []string
	// PrometheusRetentionTime, when positive, serves
	// /v1/agent/metrics?format=prometheus and keeps each metric that long
	// after its last update. Default 0: off.
	PrometheusRetentionTime time.Duration
	// AllowedPrefixes and BlockedPrefixes are telemetry.prefix_filter's
	// "+name" and "-name" entries.
	AllowedPrefixes []string
	BlockedPrefixes []string
	// FilterDefault keeps the metrics no filter names. Key
	// telemetry.filter_default; default true.
	FilterDefault bool
}

// buildTelemetry resolves the telemetry block and enable_debug.
func (l *loader) buildTelemetry(rc *RuntimeConfig, c *rawConfig, fail func(string, ...any)) {
	t := &c.Telemetry
	rc.Telemetry = TelemetryConfig{
		DisableHostname:         deref(t.DisableHostname),
		MetricsPrefix:           or(t.MetricsPrefix, "consul"),
		StatsdAddr:              deref(t.StatsdAddress),
		StatsiteAddr:            deref(t.StatsiteAddress),
		DogstatsdAddr:           deref(t.DogstatsdAddr),
		DogstatsdTags:           t.DogstatsdTags,
		PrometheusRetentionTime: deref(t.PrometheusRetentionTime),
		FilterDefault:           or(t.FilterDefault, true),
	}
	for _, a := range []struct{ key, addr string }{
		{"statsd_address", rc.Telemetry.StatsdAddr},
		{"statsite_address", rc.Telemetry.StatsiteAddr},
		{"dogstatsd_addr", strings.TrimPrefix(rc.Telemetry.DogstatsdAddr, "udp://")},
	} {
		if a.addr == "" || strings.HasPrefix(a.addr, "unix://") && a.key == "dogstatsd_addr" {
			continue
		}
		if _, port, err := net.SplitHostPort(a.addr); err != nil || port == "" {
			fail("telemetry.%s %q must be host:port", a.key, a.addr)
		}
	}
	for _, f := range t.PrefixFilter {
		switch {
		case len(f) > 1 && f[0] == '+':
			rc.Telemetry.AllowedPrefixes = append(rc.Telemetry.AllowedPrefixes, f[1:])
		case len(f) > 1 && f[0] == '-':
			rc.Telemetry.BlockedPrefixes = append(rc.Telemetry.BlockedPrefixes, f[1:])
		default:
			fail("telemetry.prefix_filter entry %q must be +name or -name (a metric name prefix to keep or drop)", f)
		}
	}
	rc.EnableDebug = deref(c.EnableDebug)
}
