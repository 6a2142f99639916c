package agent

import (
	"net/http"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	metrics "github.com/hashicorp/go-metrics"

	"github.com/meridian-sd/meridian/agent/config"
	"github.com/meridian-sd/meridian/lib/telemetry"
)

// Metrics: the telemetry block, /v1/agent/metrics, and the api.http and
// http.* metrics of every request. The sinks live in lib/telemetry.

// startTelemetry builds the agent's metrics sinks from the telemetry
// block. A reload does not change them (as in Consul, telemetry needs a
// restart).
func (a *Agent) startTelemetry(rc *config.RuntimeConfig) error {
	tc := telemetry.DefaultConfig()
	t := rc.Telemetry
	tc.Prefix = t.MetricsPrefix
	tc.DisableHostname = t.DisableHostname
	if host, err := os.Hostname(); err == nil && host != "" {
		tc.Hostname = host
	}
	tc.StatsdAddr = t.StatsdAddr
	tc.StatsiteAddr = t.StatsiteAddr
	tc.DogstatsdAddr = t.DogstatsdAddr
	tc.DogstatsdTags = t.DogstatsdTags
	tc.PrometheusRetention = t.PrometheusRetentionTime
	tc.AllowedPrefixes = t.AllowedPrefixes
	tc.BlockedPrefixes = t.BlockedPrefixes
	tc.FilterDefault = t.FilterDefault
	tc.Logger = a.logger.Named("telemetry")
	tel, err := telemetry.New(*tc)
	if err != nil {
		return err
	}
	a.telemetry = tel
	return nil
}

// agentMetrics answers /v1/agent/metrics: the last full interval of the
// in-memory sink as JSON in Consul's shape, or with ?format=prometheus
// the Prometheus text format (only with
// telemetry.prometheus_retention_time set; 415 otherwise, as Consul).
func (a *Agent) agentMetrics(resp http.ResponseWriter, req *http.Request) (any, error) {
	if reqQuery(req).Get("format") == "prometheus" {
		h := a.telemetry.PrometheusHandler()
		if h == nil {
			return nil, HTTPError{Code: http.StatusUnsupportedMediaType,
				Reason: "Prometheus is not enabled since its retention time is not positive: set telemetry.prometheus_retention_time"}
		}
		h.ServeHTTP(resp, req)
		return nil, nil
	}
	return a.telemetry.Summary()
}

// measureHTTP emits the metrics of every request to pattern, as Consul
// names them: api.http (a timer labelled with the method and the pattern
// as path, "/" turned to "_") and the older http.<METHOD>.<pattern parts>
// (a trailing "/" of the pattern becomes "_", so /v1/kv/ gives
// http.GET.v1.kv._).
func (a *Agent) measureHTTP(pattern string, next http.Handler) http.Handler {
	var parts []string
	for i, p := range strings.Split(pattern, "/") {
		if p == "" {
			if i == 0 {
				continue
			}
			p = "_"
		}
		parts = append(parts, p)
	}
	pathLabel := strings.ReplaceAll(strings.TrimPrefix(pattern, "/"), "/", "_")
	// The keys and labels of the usual methods are built once per route,
	// on the route's first request with that method, not per request.
	// go-metrics appends to a key or label slice it is given (the service
	// prefix, the host label): with no spare capacity, as here, the
	// append copies and requests never share what it writes.
	type names struct {
		key    []string
		labels []metrics.Label
	}
	build := func(method string) *names {
		return &names{
			key:    slices.Clip(append([]string{"http", method}, parts...)),
			labels: []metrics.Label{{Name: "method", Value: method}, {Name: "path", Value: pathLabel}},
		}
	}
	methods := [...]string{http.MethodGet, http.MethodPut, http.MethodPost, http.MethodDelete, http.MethodHead}
	var known [len(methods)]atomic.Pointer[names]
	lookup := func(method string) *names {
		for i, m := range methods {
			if m == method {
				n := known[i].Load()
				if n == nil {
					n = build(method)
					known[i].Store(n)
				}
				return n
			}
		}
		return build(method)
	}
	apiHTTP := []string{"api", "http"}
	return http.HandlerFunc(func(resp http.ResponseWriter, req *http.Request) {
		start := time.Now()
		next.ServeHTTP(resp, req)
		if a.telemetry == nil {
			return
		}
		n := lookup(req.Method)
		m := a.telemetry.Metrics()
		m.MeasureSinceWithLabels(apiHTTP, start, n.labels)
		m.MeasureSince(n.key, start)
	})
}
