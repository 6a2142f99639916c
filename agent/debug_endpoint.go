package agent

import (
	"net/http"
	"net/http/pprof"
	"runtime"
	"strings"

	"github.com/meridian-sd/meridian/agent/config"
)

// heapProfileRate is the Go runtime's default sampling rate of the heap
// profile: one sample per 512 KiB allocated on average.
const heapProfileRate = 512 * 1024

// sampleHeapIfServed turns the runtime's heap sampling on when this agent
// can serve /debug/pprof (enable_debug, or ACLs on). The meridian binary
// starts an agent with sampling off (main.go): the samples' stack table
// alone touches about 1 MiB that an agent serving no profiles keeps for
// nothing. Once on, sampling stays on; a heap profile covers what was
// allocated since. A process that sets its own rate (a test binary) is
// left alone.
func sampleHeapIfServed(rc *config.RuntimeConfig) {
	if (rc.EnableDebug || rc.ACL.Enabled) && runtime.MemProfileRate == 0 {
		runtime.MemProfileRate = heapProfileRate
	}
}

// debugPprof serves Go's profiles under /debug/pprof/ (index, heap,
// goroutine, profile?seconds=N, trace, cmdline, symbol, ...), as Consul
// does: with ACLs off only when enable_debug is set; with ACLs on to a
// token with operator:read (the route's rule), whatever enable_debug
// says. Off, it answers 401 with a sentence, as Consul answers 401.
func (a *Agent) debugPprof(resp http.ResponseWriter, req *http.Request) (any, error) {
	rc := a.cfg()
	if !rc.EnableDebug && !rc.ACL.Enabled {
		return nil, HTTPError{Code: http.StatusUnauthorized,
			Reason: "Profiling is off: set enable_debug = true in the agent's configuration (or enable ACLs and use a token with operator:read)"}
	}
	switch strings.TrimPrefix(req.URL.Path, "/debug/pprof/") {
	case "cmdline":
		pprof.Cmdline(resp, req)
	case "profile":
		pprof.Profile(resp, req)
	case "symbol":
		pprof.Symbol(resp, req)
	case "trace":
		pprof.Trace(resp, req)
	default:
		// The index, and every named profile (heap, goroutine, block,
		// mutex, allocs, threadcreate).
		pprof.Index(resp, req)
	}
	return nil, nil
}
