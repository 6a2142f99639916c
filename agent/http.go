package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/meridian-sd/meridian/structs"
)

// HTTP API: every route is registered here, in one place; each handler
// lives in the file of its API area and returns (any, error) through wrap,
// which encodes the value as JSON and turns errors into status codes.

// HTTPError is an error with an HTTP status, for bad input and missing
// things.
type HTTPError struct {
	Code   int
	Reason string
}

func (e HTTPError) Error() string { return e.Reason }

func badRequest(format string, args ...any) error {
	return HTTPError{Code: http.StatusBadRequest, Reason: fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) error {
	return HTTPError{Code: http.StatusNotFound, Reason: fmt.Sprintf(format, args...)}
}

// handlerFunc is the shape of every endpoint.
type handlerFunc func(resp http.ResponseWriter, req *http.Request) (any, error)

// routes builds the API's mux.
func (a *Agent) routes() *http.ServeMux {
	mux := http.NewServeMux()
	aclTable := aclRouteTable()
	handle := func(pattern string, methods string, fn handlerFunc) {
		mux.Handle(pattern, a.measureHTTP(pattern, a.wrap(methods, a.defaultBodyLimit, a.aclGuard(aclTable, pattern, methods, fn))))
	}
	// handleBody is handle for a route whose bodies have a cap of their
	// own (http_limits.go).
	handleBody := func(pattern string, methods string, limit bodyLimitFunc, fn handlerFunc) {
		mux.Handle(pattern, a.measureHTTP(pattern, a.wrap(methods, limit, a.aclGuard(aclTable, pattern, methods, fn))))
	}
	// agent
	handle("/v1/agent/self", "GET", a.agentSelf)
	handle("/v1/agent/version", "GET", a.agentVersion)
	handle("/v1/agent/members", "GET", a.agentMembers)
	handle("/v1/agent/join/", "PUT", a.agentJoin)
	handle("/v1/agent/leave", "PUT", a.agentLeave)
	handle("/v1/agent/force-leave/", "PUT", a.agentForceLeave)
	handle("/v1/agent/reload", "PUT", a.agentReload)
	handle("/v1/agent/monitor", "GET", a.agentMonitor)
	handle("/v1/agent/metrics", "GET", a.agentMetrics)
	handle("/v1/agent/host", "GET", a.agentHost)
	// profiling, behind enable_debug (debug_endpoint.go)
	handle("/debug/pprof/", "GET", a.debugPprof)
	// agent: local services, checks and maintenance (agent_service_endpoint.go)
	handle("/v1/agent/services", "GET", a.agentServicesList)
	handle("/v1/agent/service/", "GET", a.agentServiceGet)
	handle("/v1/agent/service/register", "PUT", a.agentServiceRegister)
	handle("/v1/agent/service/deregister/", "PUT", a.agentServiceDeregister)
	handle("/v1/agent/service/maintenance/", "PUT", a.agentServiceMaintenance)
	handle("/v1/agent/checks", "GET", a.agentChecksList)
	handle("/v1/agent/check/register", "PUT", a.agentCheckRegister)
	handle("/v1/agent/check/deregister/", "PUT", a.agentCheckDeregister)
	handle("/v1/agent/check/pass/", "PUT", a.agentCheckTTL("/v1/agent/check/pass/", structs.HealthPassing))
	handle("/v1/agent/check/warn/", "PUT", a.agentCheckTTL("/v1/agent/check/warn/", structs.HealthWarning))
	handle("/v1/agent/check/fail/", "PUT", a.agentCheckTTL("/v1/agent/check/fail/", structs.HealthCritical))
	handle("/v1/agent/check/update/", "PUT", a.agentCheckUpdate)
	handle("/v1/agent/health/service/id/", "GET", a.agentHealthServiceByID)
	handle("/v1/agent/health/service/name/", "GET", a.agentHealthServiceByName)
	handle("/v1/agent/maintenance", "PUT", a.agentNodeMaintenance)
	handle("/v1/agent/token/", "PUT", a.agentTokenUpdate)
	// catalog
	handle("/v1/catalog/register", "PUT", a.catalogRegister)
	handle("/v1/catalog/deregister", "PUT", a.catalogDeregister)
	handle("/v1/catalog/datacenters", "GET", a.catalogDatacenters)
	handle("/v1/catalog/nodes", "GET", a.catalogNodes)
	handle("/v1/catalog/services", "GET", a.catalogServices)
	handle("/v1/catalog/service/", "GET", a.catalogServiceNodes)
	handle("/v1/catalog/node/", "GET", a.catalogNodeServices)
	handle("/v1/catalog/node-services/", "GET", a.catalogNodeServiceList)
	// health
	handle("/v1/health/node/", "GET", a.healthNodeChecks)
	handle("/v1/health/checks/", "GET", a.healthServiceChecks)
	handle("/v1/health/service/", "GET", a.healthServiceNodes)
	handle("/v1/health/state/", "GET", a.healthChecksInState)
	// kv, sessions, transactions
	handleBody("/v1/kv/", "GET,PUT,DELETE", a.kvBodyLimit, a.kvsEndpoint)
	handleBody("/v1/session/create", "PUT", sessionBodyLimit, a.sessionCreate)
	handle("/v1/session/destroy/", "PUT", a.sessionDestroy)
	handle("/v1/session/renew/", "PUT", a.sessionRenew)
	handle("/v1/session/info/", "GET", a.sessionGet)
	handle("/v1/session/node/", "GET", a.sessionsForNode)
	handle("/v1/session/list", "GET", a.sessionList)
	handleBody("/v1/txn", "PUT", a.txnBodyLimit, a.txn)
	// status, coordinates, operator
	handle("/v1/status/leader", "GET", a.statusLeader)
	handle("/v1/status/peers", "GET", a.statusPeers)
	handle("/v1/coordinate/datacenters", "GET", a.coordinateDatacenters)
	handle("/v1/coordinate/nodes", "GET", a.coordinateNodes)
	handle("/v1/coordinate/node/", "GET", a.coordinateNode)
	handle("/v1/coordinate/update", "PUT", a.coordinateUpdate)
	handle("/v1/operator/raft/configuration", "GET", a.operatorRaftConfiguration)
	handle("/v1/operator/raft/peer", "DELETE", a.operatorRaftPeer)
	handle("/v1/operator/federation", "GET", a.operatorFederation)
	handle("/v1/operator/raft/transfer-leader", "PUT", a.operatorRaftTransferLeader)
	handle("/v1/operator/autopilot/configuration", "GET,PUT", a.operatorAutopilotConfiguration)
	handle("/v1/operator/autopilot/health", "GET", a.operatorAutopilotHealth)
	handle("/v1/operator/autopilot/state", "GET", a.operatorAutopilotState)
	handle("/v1/operator/keyring", "GET,PUT,DELETE", a.operatorKeyring)
	// user events (event_endpoint.go)
	handle("/v1/event/fire/", "PUT", a.eventFire)
	handle("/v1/event/list", "GET", a.eventList)
	handleBody("/v1/snapshot", "GET,PUT", a.snapshotBodyLimit, a.snapshotEndpoint)
	// acl (acl_endpoint.go)
	handle("/v1/acl/bootstrap", "PUT", a.aclBootstrap)
	handle("/v1/acl/token", "PUT", a.aclTokenCreate)
	handle("/v1/acl/token/", "GET,PUT,DELETE", a.aclTokenSpecific)
	handle("/v1/acl/tokens", "GET", a.aclTokenList)
	handle("/v1/acl/policy", "PUT", a.aclPolicyCreate)
	handle("/v1/acl/policy/", "GET,PUT,DELETE", a.aclPolicySpecific)
	handle("/v1/acl/policies", "GET", a.aclPolicyList)
	handle("/v1/acl/role", "PUT", a.aclRoleCreate)
	handle("/v1/acl/role/", "GET,PUT,DELETE", a.aclRoleSpecific)
	handle("/v1/acl/roles", "GET", a.aclRoleList)
	handle("/v1/acl/replication", "GET", a.aclReplicationStatus)
	// prepared queries (prepared_query_endpoint.go)
	handleBody("/v1/query", "GET,PUT", queryBodyLimit, a.preparedQueryGeneral)
	handleBody("/v1/query/", "GET,PUT,DELETE", queryBodyLimit, a.preparedQuerySpecific)
	a.uiRoutes(mux) // /ui/ and / (ui.go)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" {
			http.Redirect(w, r, "/v1/agent/self", http.StatusTemporaryRedirect)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, "no such endpoint: %s %s", r.Method, r.URL.Path)
	})
	return mux
}

// wrap adapts a handler: method check, the request body read within its
// cap (limit), JSON encoding of the result and the mapping of errors to
// status codes with Consul's texts.
func (a *Agent) wrap(methods string, limit bodyLimitFunc, fn handlerFunc) http.Handler {
	allowed := strings.Split(methods, ",")
	return http.HandlerFunc(func(resp http.ResponseWriter, req *http.Request) {
		ok := false
		for _, m := range allowed {
			// PUT endpoints also accept POST, as Consul's do.
			if req.Method == m || (m == "PUT" && req.Method == "POST") {
				ok = true
			}
		}
		if !ok {
			resp.Header().Set("Allow", methods)
			writeText(resp, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed", req.Method))
			return
		}
		req = withState(req)
		if err := refuseFilter(req); err != nil {
			a.writeError(resp, req, err)
			return
		}
		if err := readBody(resp, req, limit(), a.httpLimits.BodyReadTimeout); err != nil {
			a.writeError(resp, req, err)
			return
		}
		start := time.Now()
		obj, err := fn(resp, req)
		if a.logger.IsDebug() {
			a.logger.Debug("request complete", "method", req.Method, "url", redactedURL(req.URL), "duration", time.Since(start))
		}
		if err != nil {
			a.writeError(resp, req, err)
			return
		}
		if obj == nil {
			return
		}
		if raw, ok := obj.(rawResponse); ok {
			if raw.contentType != "" {
				resp.Header().Set("Content-Type", raw.contentType)
			}
			resp.Write(raw.body)
			return
		}
		_, pretty := reqQuery(req)["pretty"]
		a.writeJSON(resp, req, obj, pretty)
	})
}

// maxPooledJSONBuf is the largest encoding buffer kept for the next
// response; a larger one (a huge listing) is left to the collector.
const maxPooledJSONBuf = 1 << 20

// writeJSON encodes obj into a pooled buffer, then writes it with its
// Content-Length, as json.Marshal would have encoded it (pretty: as
// json.MarshalIndent with four spaces, and a final newline). Encoding
// into a reused buffer spares each response the allocation and copy of
// its whole body; nothing is written when encoding fails.
func (a *Agent) writeJSON(resp http.ResponseWriter, req *http.Request, obj any, pretty bool) {
	buf, _ := a.jsonBufs.Get().(*bytes.Buffer)
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	defer func() {
		if buf.Cap() <= maxPooledJSONBuf {
			buf.Reset()
			a.jsonBufs.Put(buf)
		}
	}()
	enc := json.NewEncoder(buf)
	if pretty {
		enc.SetIndent("", "    ")
	}
	if err := enc.Encode(obj); err != nil {
		a.writeError(resp, req, fmt.Errorf("encode response: %w", err))
		return
	}
	out := buf.Bytes()
	if !pretty {
		// Encode ends every value with a newline; Marshal does not.
		out = out[:len(out)-1]
	}
	h := resp.Header()
	h["Content-Type"] = hdrJSON
	h["Content-Length"] = []string{strconv.Itoa(len(out))}
	resp.Write(out)
}

// errFilterUnsupported refuses a ?filter= on an endpoint that does not
// evaluate one: answering with the unfiltered result would hand the
// caller data it believes filtered.
var errFilterUnsupported = badRequest("Filter expressions (?filter=) are not supported on this endpoint")

// refuseFilter fails a request that carries a non-empty ?filter= on a
// route that does not take one (filterRoute, read.go).
func refuseFilter(req *http.Request) error {
	if filterRoute(req.URL.Path) {
		return nil
	}
	for _, v := range reqQuery(req)["filter"] {
		if v != "" {
			return errFilterUnsupported
		}
	}
	return nil
}

// rawResponse is written as it is (for ?raw KV reads).
type rawResponse struct {
	contentType string
	body        []byte
}

func writeText(resp http.ResponseWriter, code int, text string) {
	resp.Header().Set("Content-Type", "text/plain; charset=utf-8")
	resp.WriteHeader(code)
	resp.Write([]byte(text))
}

// writeError maps an error to a status code. Contract errors keep Consul's
// 500 and exact text, because clients match on it.
func (a *Agent) writeError(resp http.ResponseWriter, req *http.Request, err error) {
	var he HTTPError
	switch {
	case errors.As(err, &he):
		writeText(resp, he.Code, he.Reason)
	case structs.IsErr(err, structs.ErrNoDCPath), structs.IsErr(err, structs.ErrNoLeader),
		structs.IsErr(err, structs.ErrNoServers), structs.IsErr(err, structs.ErrDCNoServers):
		resp.Header().Set("X-Consul-KnownLeader", "false")
		writeText(resp, http.StatusInternalServerError, contractText(err))
	case aclErrorStatus(err) != 0:
		writeText(resp, aclErrorStatus(err), err.Error())
	case structs.IsTooLarge(err):
		writeText(resp, http.StatusRequestEntityTooLarge, err.Error())
	case structs.CodeOf(err) != "":
		writeText(resp, codeStatus(structs.CodeOf(err)), err.Error())
	default:
		a.logger.Error("request failed", "method", req.Method, "url", redactedURL(req.URL), "error", err)
		writeText(resp, http.StatusInternalServerError, err.Error())
	}
}

// contractText returns the bare contract text of a wrapped contract error.
func contractText(err error) string {
	for _, s := range []error{structs.ErrNoDCPath, structs.ErrNoLeader, structs.ErrNoServers, structs.ErrDCNoServers} {
		if structs.IsErr(err, s) {
			return s.Error()
		}
	}
	return err.Error()
}

// codeStatus is the HTTP status of an error code: errors carry a code
// across RPC (structs.ErrorCode), never a sentence to be matched.
func codeStatus(code structs.ErrorCode) int {
	switch code {
	case structs.CodeBadRequest:
		return http.StatusBadRequest
	case structs.CodePermissionDenied:
		return http.StatusForbidden
	case structs.CodeNotFound:
		return http.StatusNotFound
	case structs.CodeConflict:
		return http.StatusConflict
	case structs.CodeTooLarge:
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusInternalServerError
}

// parseDC reads ?dc=.
func (a *Agent) parseDC(req *http.Request) string {
	if dc := reqQuery(req).Get("dc"); dc != "" {
		return dc
	}
	return a.datacenter()
}

// parseQuery reads the read options every blocking endpoint takes: ?dc,
// ?index, ?wait, ?stale, ?consistent, ?filter (refused before this on
// routes that do not take it) and the request's ACL token. It returns the
// DC.
//
// A blocking query is sent with its wait resolved here: ?wait, or this
// agent's default_query_time without one, at most its max_query_time.
// The server clamps it again to its own limits, so it never holds the
// query longer than this agent's RPC timeout for it expects, even when a
// client agent's settings differ from the servers'.
func (a *Agent) parseQuery(req *http.Request, opts *structs.QueryOptions) (string, error) {
	q := reqQuery(req)
	_, stale := q["stale"]
	_, consistent := q["consistent"]
	if stale && consistent {
		return "", badRequest("Cannot specify ?stale with ?consistent, conflicting semantics.")
	}
	opts.AllowStale = stale
	opts.RequireConsistent = consistent
	opts.Filter = q.Get("filter")
	opts.Token = a.requestToken(req)
	if v := q.Get("index"); v != "" {
		idx, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return "", badRequest("Invalid index %q: must be a non-negative integer", v)
		}
		opts.MinQueryIndex = idx
	}
	if v := q.Get("wait"); v != "" {
		d, err := parseWait(v)
		if err != nil {
			return "", badRequest("Invalid wait time %q: %v", v, err)
		}
		opts.MaxQueryTime = d
	}
	if opts.MinQueryIndex > 0 {
		rc := a.cfg()
		if opts.MaxQueryTime <= 0 {
			opts.MaxQueryTime = rc.DefaultQueryTime
		}
		if opts.MaxQueryTime > rc.MaxQueryTime {
			opts.MaxQueryTime = rc.MaxQueryTime
		}
	}
	return a.parseDC(req), nil
}

// parseWait reads a wait like "10s" or "5m"; a bare number is seconds.
func parseWait(v string) (time.Duration, error) {
	if n, err := strconv.ParseUint(v, 10, 64); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, errors.New("must be a duration such as 10s or 5m")
	}
	if d < 0 {
		return 0, errors.New("must not be negative")
	}
	return d, nil
}

// parseNodeMeta reads ?node-meta=key:value filters.
func parseNodeMeta(req *http.Request) (map[string]string, error) {
	vals := reqQuery(req)["node-meta"]
	if len(vals) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(vals))
	for _, v := range vals {
		k, val, ok := strings.Cut(v, ":")
		if !ok || k == "" {
			return nil, badRequest("Invalid node-meta filter %q: must be key:value", v)
		}
		out[k] = val
	}
	return out, nil
}

// parseSource reads ?near= for RTT sorting: _agent means this agent.
func (a *Agent) parseSource(req *http.Request, dc string) structs.QuerySource {
	near := reqQuery(req).Get("near")
	if near == "_agent" {
		near = a.nodeName()
	}
	return structs.QuerySource{Datacenter: dc, Node: near}
}

// setMeta writes the read headers Consul's clients expect.
func setMeta(resp http.ResponseWriter, m *structs.QueryMeta) {
	h := resp.Header()
	// Keys in their canonical form (as Header.Set would write them) and
	// the constant values shared: these headers go on every read.
	h["X-Consul-Index"] = []string{strconv.FormatUint(m.Index, 10)}
	if m.KnownLeader {
		h["X-Consul-Knownleader"] = hdrTrue
	} else {
		h["X-Consul-Knownleader"] = hdrFalse
	}
	if ms := m.LastContact.Milliseconds(); ms == 0 {
		h["X-Consul-Lastcontact"] = hdrZero
	} else {
		h["X-Consul-Lastcontact"] = []string{strconv.FormatInt(ms, 10)}
	}
	if m.ConsistencyLevel != "" {
		h["X-Consul-Effective-Consistency"] = headerValue(m.ConsistencyLevel)
	}
	if m.ResultsFilteredByACLs {
		h["X-Consul-Results-Filtered-By-Acls"] = hdrTrue
	}
	h["X-Consul-Query-Backend"] = hdrBlockingQuery
}

// Header values set on most responses, shared rather than allocated for
// each. Their length equals their capacity, so a handler's Header.Add
// copies instead of writing into them; nothing else changes a value.
var (
	hdrTrue          = []string{"true"}
	hdrFalse         = []string{"false"}
	hdrZero          = []string{"0"}
	hdrBlockingQuery = []string{"blocking-query"}
	hdrJSON          = []string{"application/json"}
	hdrLeader        = []string{"leader"}
	hdrStale         = []string{"stale"}
	hdrConsistent    = []string{"consistent"}
	hdrAllow         = []string{"allow"}
	hdrDeny          = []string{"deny"}
)

// headerValue is []string{v}, shared for the common values.
func headerValue(v string) []string {
	switch v {
	case "leader":
		return hdrLeader
	case "stale":
		return hdrStale
	case "consistent":
		return hdrConsistent
	case "allow":
		return hdrAllow
	case "deny":
		return hdrDeny
	}
	return []string{v}
}

// pathSuffix returns what follows prefix in the URL path, unescaped.
func pathSuffix(req *http.Request, prefix string) string {
	p := strings.TrimPrefix(req.URL.Path, prefix)
	if u, err := url.PathUnescape(p); err == nil {
		return u
	}
	return p
}

// decodeBody decodes a JSON body strictly enough to report bad input.
func decodeBody(req *http.Request, out any) error {
	if req.Body == nil {
		return badRequest("Request body is empty")
	}
	dec := json.NewDecoder(req.Body)
	if err := dec.Decode(out); err != nil {
		if err.Error() == "EOF" {
			return badRequest("Request body is empty")
		}
		return badRequest("Request decode failed: %v", err)
	}
	return nil
}
