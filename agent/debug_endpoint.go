package agent

import (
	"net/http"
	"net/http/pprof"
	"strings"
)

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
