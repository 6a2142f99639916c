package agent

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"github.com/hashicorp/serf/serf"

	"github.com/meridian-sd/meridian/acl"
	"github.com/meridian-sd/meridian/structs"
)

// ACL enforcement on the HTTP API.
//
// Every route registered in routes() goes through aclGuard, which finds
// the route's entry in aclRouteTable: what the request's token must be
// allowed before the handler runs (check), whether the answer is a list
// to filter down to what the token may read (filter), or why the route
// needs no permission here (public: the ACL endpoints, whose servers
// check; status). A route without an entry answers 500 and fails
// TestACLRouteTableCoversRouter, so no endpoint is added without a rule.
//
// Refusals are Consul's 403 sentences (acl.PermissionDeniedError). When a
// filter removed something and the request carried a token, the answer
// has X-Consul-Results-Filtered-By-ACLs: true. Every answer has
// X-Consul-Default-Acl-Policy.

// aclCheck decides, before the handler runs, whether authz may make the
// request; it returns a *acl.PermissionDeniedError (or another error).
type aclCheck func(a *Agent, req *http.Request, authz *acl.Authorizer) error

// aclRoute is one route and method's rule.
type aclRoute struct {
	check  aclCheck
	filter bool
	// public says why nothing is checked here; empty when check or
	// filter is set.
	public string
}

// need checks one permission on the name name gives.
func need(res acl.Resource, access acl.Access, name func(*Agent, *http.Request) string) aclCheck {
	return func(a *Agent, req *http.Request, authz *acl.Authorizer) error {
		n := ""
		if name != nil {
			n = name(a, req)
		}
		return authz.Check(res, n, access)
	}
}

// suffix names the resource by what follows prefix in the path.
func suffix(prefix string) func(*Agent, *http.Request) string {
	return func(_ *Agent, req *http.Request) string { return pathSuffix(req, prefix) }
}

// thisNode names the agent's own node.
func thisNode(a *Agent, _ *http.Request) string { return a.nodeName() }

// both runs checks in order.
func both(checks ...aclCheck) aclCheck {
	return func(a *Agent, req *http.Request, authz *acl.Authorizer) error {
		for _, c := range checks {
			if err := c(a, req, authz); err != nil {
				return err
			}
		}
		return nil
	}
}

// peekBody decodes the (already read and capped) body into out and puts
// it back for the handler. A body that does not decode is left to the
// handler to refuse.
func peekBody(req *http.Request, out any) bool {
	if req.Body == nil {
		return false
	}
	b, err := io.ReadAll(req.Body)
	req.Body = io.NopCloser(bytes.NewReader(b))
	if err != nil || len(b) == 0 {
		return false
	}
	return json.Unmarshal(b, out) == nil
}

// localServiceName is the name of a local service by ID (the ID when
// unknown, so that the handler answers its own 404).
func (a *Agent) localServiceName(id string) string {
	if s, ok := a.svc.state.Services()[id]; ok {
		return s.Service
	}
	return id
}

// checkWrite is the permission to change a local check: service:write on
// its service, node:write on this node for a node check.
func checkWrite(prefix string) aclCheck {
	return func(a *Agent, req *http.Request, authz *acl.Authorizer) error {
		id := pathSuffix(req, prefix)
		if c, ok := a.svc.state.Checks()[id]; ok && c.ServiceID != "" {
			return authz.Check(acl.ResourceService, a.localServiceName(c.ServiceID), acl.Write)
		}
		return authz.Check(acl.ResourceNode, a.nodeName(), acl.Write)
	}
}

// kvCheck is the KV endpoint's rule: read a key, list a prefix (?recurse,
// ?keys; the answer is then filtered), write a key, delete a prefix.
func kvCheck(a *Agent, req *http.Request, authz *acl.Authorizer) error {
	key := strings.TrimPrefix(req.URL.Path, "/v1/kv/")
	q := reqQuery(req)
	_, recurse := q["recurse"]
	_, keys := q["keys"]
	switch req.Method {
	case http.MethodGet:
		if recurse || keys {
			return authz.Check(acl.ResourceKey, key, acl.List)
		}
		return authz.Check(acl.ResourceKey, key, acl.Read)
	case http.MethodDelete:
		if recurse && !authz.KeyWritePrefix(key) {
			return &acl.PermissionDeniedError{Resource: acl.ResourceKey, Access: acl.Write, Name: key}
		}
	}
	return authz.Check(acl.ResourceKey, key, acl.Write)
}

// txnCheck checks every operation of a transaction, as Consul's: KV
// operations by key; Node operations need node:write on the node, Service
// operations service:write on the service's name, Check operations
// node:write on the node (a node check) or service:write on the service's
// name (a service check), whatever the verb; a Session delete needs
// session:write on the session's node.
func txnCheck(a *Agent, req *http.Request, authz *acl.Authorizer) error {
	var ops []struct {
		KV *struct {
			Verb string
			Key  string
		}
		Node *struct {
			Node struct{ Node string }
		}
		Service *struct {
			Service struct{ Service string }
		}
		Check *struct {
			Check struct{ Node, ServiceID, ServiceName string }
		}
		Session *struct {
			Session struct{ ID string }
		}
	}
	if !peekBody(req, &ops) {
		return nil
	}
	for _, op := range ops {
		var err error
		switch {
		case op.Node != nil:
			err = authz.Check(acl.ResourceNode, op.Node.Node.Node, acl.Write)
		case op.Service != nil:
			err = authz.Check(acl.ResourceService, op.Service.Service.Service, acl.Write)
		case op.Check != nil:
			if c := op.Check.Check; c.ServiceID == "" {
				err = authz.Check(acl.ResourceNode, c.Node, acl.Write)
			} else {
				err = authz.Check(acl.ResourceService, c.ServiceName, acl.Write)
			}
		case op.Session != nil:
			args := &structs.SessionSpecificRequest{Datacenter: a.parseDC(req), SessionID: op.Session.Session.ID}
			args.Token = a.requestToken(req)
			var out structs.IndexedSessions
			if rerr := a.RPCContext(req.Context(), "Session.Get", args, &out); rerr == nil && len(out.Sessions) > 0 {
				err = authz.Check(acl.ResourceSession, out.Sessions[0].Node, acl.Write)
			}
		case op.KV != nil:
			switch structs.KVSOp(op.KV.Verb) {
			case structs.KVSGet, structs.KVSGetOrEmpty, structs.KVSCheckIndex, structs.KVSCheckSession, structs.KVSCheckNotExists:
				err = authz.Check(acl.ResourceKey, op.KV.Key, acl.Read)
			case structs.KVSGetTree:
				err = authz.Check(acl.ResourceKey, op.KV.Key, acl.List)
			case structs.KVSDeleteTree:
				if !authz.KeyWritePrefix(op.KV.Key) {
					err = &acl.PermissionDeniedError{Resource: acl.ResourceKey, Access: acl.Write, Name: op.KV.Key}
				}
			default:
				err = authz.Check(acl.ResourceKey, op.KV.Key, acl.Write)
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// catalogRegisterCheck: node:write on the node, service:write on the
// service registered with it.
func catalogRegisterCheck(a *Agent, req *http.Request, authz *acl.Authorizer) error {
	var body struct {
		Node    string
		Service *struct{ Service string }
	}
	if !peekBody(req, &body) {
		return nil
	}
	if err := authz.Check(acl.ResourceNode, body.Node, acl.Write); err != nil {
		return err
	}
	if body.Service != nil {
		return authz.Check(acl.ResourceService, body.Service.Service, acl.Write)
	}
	return nil
}

// catalogDeregisterCheck: node:write on the node.
func catalogDeregisterCheck(a *Agent, req *http.Request, authz *acl.Authorizer) error {
	var body struct{ Node string }
	if !peekBody(req, &body) {
		return nil
	}
	return authz.Check(acl.ResourceNode, body.Node, acl.Write)
}

// serviceRegisterCheck: service:write on the service's name.
func serviceRegisterCheck(a *Agent, req *http.Request, authz *acl.Authorizer) error {
	var body struct{ ID, Name string }
	if !peekBody(req, &body) {
		return nil
	}
	name := body.Name
	if name == "" {
		name = body.ID
	}
	return authz.Check(acl.ResourceService, name, acl.Write)
}

// checkRegisterCheck: service:write on the check's service, or node:write
// on this node.
func checkRegisterCheck(a *Agent, req *http.Request, authz *acl.Authorizer) error {
	var body struct{ ServiceID string }
	peekBody(req, &body)
	if body.ServiceID != "" {
		return authz.Check(acl.ResourceService, a.localServiceName(body.ServiceID), acl.Write)
	}
	return authz.Check(acl.ResourceNode, a.nodeName(), acl.Write)
}

// sessionCreateCheck: session:write on the session's node.
func sessionCreateCheck(a *Agent, req *http.Request, authz *acl.Authorizer) error {
	var body struct{ Node string }
	peekBody(req, &body)
	if body.Node == "" {
		body.Node = a.nodeName()
	}
	return authz.Check(acl.ResourceSession, body.Node, acl.Write)
}

// sessionWriteCheck: session:write on the node of the session named in
// the path.
func sessionWriteCheck(prefix string) aclCheck {
	return func(a *Agent, req *http.Request, authz *acl.Authorizer) error {
		args := &structs.SessionSpecificRequest{Datacenter: a.parseDC(req), SessionID: pathSuffix(req, prefix)}
		args.Token = a.requestToken(req)
		var out structs.IndexedSessions
		if err := a.RPCContext(req.Context(), "Session.Get", args, &out); err != nil || len(out.Sessions) == 0 {
			// Unknown: the handler answers as it does without ACLs.
			return nil
		}
		return authz.Check(acl.ResourceSession, out.Sessions[0].Node, acl.Write)
	}
}

// aclRouteTable is the rule of every route, by pattern and method (PUT
// covers POST).
func aclRouteTable() map[string]map[string]aclRoute {
	r := func(c aclCheck) aclRoute { return aclRoute{check: c} }
	f := func(c aclCheck) aclRoute { return aclRoute{check: c, filter: true} }
	filter := aclRoute{filter: true}
	pub := func(why string) aclRoute { return aclRoute{public: why} }
	aclEP := pub("the servers check acl:read or acl:write")
	queryRead := pub("the servers check query:read on the query's name, or filter with the query's token")
	queryWrite := pub("the servers check query:write on the query's name")
	get := func(rt aclRoute) map[string]aclRoute { return map[string]aclRoute{"GET": rt} }
	put := func(rt aclRoute) map[string]aclRoute { return map[string]aclRoute{"PUT": rt} }
	return map[string]map[string]aclRoute{
		"/v1/agent/self":         get(r(need(acl.ResourceAgent, acl.Read, thisNode))),
		"/v1/agent/version":      get(pub("the build's version needs no token, as in Consul")),
		"/v1/agent/members":      get(filter),
		"/v1/agent/join/":        put(r(need(acl.ResourceAgent, acl.Write, thisNode))),
		"/v1/agent/leave":        put(r(need(acl.ResourceAgent, acl.Write, thisNode))),
		"/v1/agent/force-leave/": put(r(need(acl.ResourceOperator, acl.Write, nil))),
		"/v1/agent/reload":       put(r(need(acl.ResourceAgent, acl.Write, thisNode))),
		"/v1/agent/monitor":      get(r(need(acl.ResourceAgent, acl.Read, thisNode))),
		"/v1/agent/metrics":      get(r(need(acl.ResourceAgent, acl.Read, thisNode))),
		"/v1/agent/host":         get(r(need(acl.ResourceOperator, acl.Read, nil))),
		"/debug/pprof/":          get(r(need(acl.ResourceOperator, acl.Read, nil))),
		"/v1/agent/services":     get(filter),
		"/v1/agent/service/": get(r(need(acl.ResourceService, acl.Read, func(a *Agent, req *http.Request) string {
			return a.localServiceName(pathSuffix(req, "/v1/agent/service/"))
		}))),
		"/v1/agent/service/register": put(r(serviceRegisterCheck)),
		"/v1/agent/service/deregister/": put(r(need(acl.ResourceService, acl.Write, func(a *Agent, req *http.Request) string {
			return a.localServiceName(pathSuffix(req, "/v1/agent/service/deregister/"))
		}))),
		"/v1/agent/service/maintenance/": put(r(need(acl.ResourceService, acl.Write, func(a *Agent, req *http.Request) string {
			return a.localServiceName(pathSuffix(req, "/v1/agent/service/maintenance/"))
		}))),
		"/v1/agent/checks":            get(filter),
		"/v1/agent/check/register":    put(r(checkRegisterCheck)),
		"/v1/agent/check/deregister/": put(r(checkWrite("/v1/agent/check/deregister/"))),
		"/v1/agent/check/pass/":       put(r(checkWrite("/v1/agent/check/pass/"))),
		"/v1/agent/check/warn/":       put(r(checkWrite("/v1/agent/check/warn/"))),
		"/v1/agent/check/fail/":       put(r(checkWrite("/v1/agent/check/fail/"))),
		"/v1/agent/check/update/":     put(r(checkWrite("/v1/agent/check/update/"))),
		"/v1/agent/health/service/id/": get(r(need(acl.ResourceService, acl.Read, func(a *Agent, req *http.Request) string {
			return a.localServiceName(pathSuffix(req, "/v1/agent/health/service/id/"))
		}))),
		"/v1/agent/health/service/name/": get(r(need(acl.ResourceService, acl.Read, suffix("/v1/agent/health/service/name/")))),
		"/v1/agent/maintenance":          put(r(need(acl.ResourceNode, acl.Write, thisNode))),
		"/v1/agent/token/":               put(r(need(acl.ResourceACL, acl.Write, nil))),
		"/v1/catalog/register":           put(r(catalogRegisterCheck)),
		"/v1/catalog/deregister":         put(r(catalogDeregisterCheck)),
		"/v1/catalog/datacenters":        get(pub("datacenter names are public, as in Consul")),
		"/v1/catalog/nodes":              get(filter),
		"/v1/catalog/services":           get(filter),
		"/v1/catalog/service/":           get(f(need(acl.ResourceService, acl.Read, suffix("/v1/catalog/service/")))),
		"/v1/catalog/node/":              get(f(need(acl.ResourceNode, acl.Read, suffix("/v1/catalog/node/")))),
		"/v1/catalog/node-services/":     get(f(need(acl.ResourceNode, acl.Read, suffix("/v1/catalog/node-services/")))),
		"/v1/health/node/":               get(f(need(acl.ResourceNode, acl.Read, suffix("/v1/health/node/")))),
		"/v1/health/checks/":             get(f(need(acl.ResourceService, acl.Read, suffix("/v1/health/checks/")))),
		"/v1/health/service/":            get(f(need(acl.ResourceService, acl.Read, suffix("/v1/health/service/")))),
		"/v1/health/state/":              get(filter),
		"/v1/kv/": {
			"GET":    f(kvCheck),
			"PUT":    r(kvCheck),
			"DELETE": r(kvCheck),
		},
		"/v1/session/create":         put(r(sessionCreateCheck)),
		"/v1/session/destroy/":       put(r(sessionWriteCheck("/v1/session/destroy/"))),
		"/v1/session/renew/":         put(r(sessionWriteCheck("/v1/session/renew/"))),
		"/v1/session/info/":          get(filter),
		"/v1/session/node/":          get(f(need(acl.ResourceSession, acl.Read, suffix("/v1/session/node/")))),
		"/v1/session/list":           get(filter),
		"/v1/txn":                    put(r(txnCheck)),
		"/v1/status/leader":          get(pub("the leader's address is public, as in Consul")),
		"/v1/status/peers":           get(pub("the peers' addresses are public, as in Consul")),
		"/v1/coordinate/datacenters": get(pub("server coordinates by datacenter are public, as in Consul")),
		"/v1/coordinate/nodes":       get(filter),
		"/v1/coordinate/node/":       get(f(need(acl.ResourceNode, acl.Read, suffix("/v1/coordinate/node/")))),
		"/v1/coordinate/update": put(r(func(a *Agent, req *http.Request, authz *acl.Authorizer) error {
			var body struct{ Node string }
			peekBody(req, &body)
			return authz.Check(acl.ResourceNode, body.Node, acl.Write)
		})),
		"/v1/operator/raft/configuration": get(r(need(acl.ResourceOperator, acl.Read, nil))),
		"/v1/operator/raft/peer":          {"DELETE": r(need(acl.ResourceOperator, acl.Write, nil))},
		"/v1/operator/federation":         get(r(need(acl.ResourceOperator, acl.Read, nil))),
		"/v1/operator/keyring": {
			"GET":    r(need(acl.ResourceKeyring, acl.Read, nil)),
			"PUT":    r(need(acl.ResourceKeyring, acl.Write, nil)),
			"DELETE": r(need(acl.ResourceKeyring, acl.Write, nil)),
		},
		"/v1/operator/autopilot/health":     get(r(need(acl.ResourceOperator, acl.Read, nil))),
		"/v1/operator/autopilot/state":      get(r(need(acl.ResourceOperator, acl.Read, nil))),
		"/v1/operator/raft/transfer-leader": put(r(need(acl.ResourceOperator, acl.Write, nil))),
		"/v1/operator/autopilot/configuration": {
			"GET": r(need(acl.ResourceOperator, acl.Read, nil)),
			"PUT": r(need(acl.ResourceOperator, acl.Write, nil)),
		},
		"/v1/event/fire/": put(r(need(acl.ResourceEvent, acl.Write, suffix("/v1/event/fire/")))),
		"/v1/event/list":  get(pub("the handler keeps only the events the token may read (event:read)")),
		// A snapshot holds every ACL token: acl:write (management), as
		// Consul; the servers check it again.
		"/v1/snapshot": {
			"GET": r(need(acl.ResourceACL, acl.Write, nil)),
			"PUT": r(need(acl.ResourceACL, acl.Write, nil)),
		},
		"/v1/acl/bootstrap":   put(pub("bootstrap needs no token: it works once")),
		"/v1/acl/token":       put(aclEP),
		"/v1/acl/token/":      {"GET": aclEP, "PUT": aclEP, "DELETE": aclEP},
		"/v1/acl/tokens":      get(aclEP),
		"/v1/acl/policy":      put(aclEP),
		"/v1/acl/policy/":     {"GET": aclEP, "PUT": aclEP, "DELETE": aclEP},
		"/v1/acl/policies":    get(aclEP),
		"/v1/acl/role":        put(aclEP),
		"/v1/acl/role/":       {"GET": aclEP, "PUT": aclEP, "DELETE": aclEP},
		"/v1/acl/roles":       get(aclEP),
		"/v1/acl/replication": get(pub("replication status holds nothing secret and health checks poll it, as in Consul")),
		// Prepared queries: the servers check query:read and query:write
		// on the query's name and filter executions with the query's
		// token, as Consul's do (server/prepared_query_endpoint.go).
		"/v1/query":  {"GET": queryRead, "PUT": queryWrite},
		"/v1/query/": {"GET": queryRead, "PUT": queryWrite, "DELETE": queryWrite},
	}
}

// aclGuard wraps the handler of pattern (methods as routes() gives them)
// with its rule from table; it records the route so that a test can
// compare the router with the table.
func (a *Agent) aclGuard(table map[string]map[string]aclRoute, pattern, methods string, fn handlerFunc) handlerFunc {
	if a.acl.routes == nil {
		a.acl.routes = map[string]string{}
	}
	a.acl.routes[pattern] = methods
	rules := table[pattern]
	return func(resp http.ResponseWriter, req *http.Request) (any, error) {
		resp.Header()["X-Consul-Default-Acl-Policy"] = headerValue(a.cfg().ACL.DefaultPolicy)
		method := req.Method
		if method == http.MethodPost {
			method = http.MethodPut
		}
		rule, ok := rules[method]
		if !ok {
			// Fail closed: a route without a rule serves nobody.
			return nil, HTTPError{Code: http.StatusInternalServerError, Reason: "no ACL rule for " + method + " " + pattern}
		}
		if rule.public != "" {
			return fn(resp, withRequestToken(req, a.requestToken(req)))
		}
		secret := a.requestToken(req)
		if rec := a.agentToken("agent_recovery"); rec != "" && secret == rec && strings.HasPrefix(pattern, "/v1/agent/") && !isAgentTokenRoute(pattern) {
			// The servers do not know this token: whatever the handler
			// asks them goes with the default token.
			// acl.tokens.agent_recovery works on this agent's own
			// endpoints without asking a server, so that an agent that
			// knows none yet can still be joined and inspected.
			return fn(resp, req)
		}
		authz, ident, err := a.ResolveToken(secret)
		if err != nil {
			return nil, err
		}
		// Every RPC the handler makes carries the request's token: the
		// servers check it again (server/acl_rpc.go), and filter lists.
		req = withRequestToken(req, secret)
		if authz.IsManagement() {
			return fn(resp, req)
		}
		accessor := ""
		if ident != nil {
			accessor = ident.AccessorID
		}
		if rule.check != nil {
			if err := rule.check(a, req, authz); err != nil {
				return nil, acl.WithAccessor(err, accessor)
			}
		}
		obj, err := fn(resp, req)
		if !carriesToken(req) {
			// The server's filter may have set it (setMeta); Consul
			// leaves it out for requests without a token.
			resp.Header().Del("X-Consul-Results-Filtered-By-ACLs")
		}
		if err != nil || !rule.filter || obj == nil {
			return obj, err
		}
		out, removed := filterResult(authz, obj)
		if removed && carriesToken(req) {
			resp.Header().Set("X-Consul-Results-Filtered-By-ACLs", "true")
		}
		if empty, ok := out.(structs.DirEntries); ok && len(empty) == 0 {
			// As without ACLs: a recursive read that finds nothing is 404.
			resp.WriteHeader(http.StatusNotFound)
			return nil, nil
		}
		return out, nil
	}
}

// carriesToken reports whether the request itself named a token (the
// header is left out for anonymous requests, as Consul does).
func carriesToken(req *http.Request) bool {
	return reqQuery(req).Get("token") != "" || req.Header.Get("X-Consul-Token") != "" ||
		strings.HasPrefix(strings.ToLower(req.Header.Get("Authorization")), "bearer ")
}

// filterResult keeps what authz may read of a list answer; removed says
// whether anything went.
func filterResult(authz *acl.Authorizer, obj any) (any, bool) {
	nodeOK := func(n string) bool { return authz.Allowed(acl.ResourceNode, n, acl.Read) }
	svcOK := func(s string) bool { return authz.Allowed(acl.ResourceService, s, acl.Read) }
	removed := false
	keep := func(ok bool) bool {
		if !ok {
			removed = true
		}
		return ok
	}
	switch v := obj.(type) {
	case structs.Nodes:
		out := structs.Nodes{}
		for _, n := range v {
			if keep(nodeOK(n.Node)) {
				out = append(out, n)
			}
		}
		return out, removed
	case map[string][]string:
		out := map[string][]string{}
		for name, tags := range v {
			if keep(svcOK(name)) {
				out[name] = tags
			}
		}
		return out, removed
	case structs.ServiceNodes:
		out := structs.ServiceNodes{}
		for _, s := range v {
			if keep(nodeOK(s.Node) && svcOK(s.ServiceName)) {
				out = append(out, s)
			}
		}
		return out, removed
	case *structs.NodeServices:
		c := *v
		c.Services = map[string]*structs.NodeService{}
		for id, s := range v.Services {
			if keep(svcOK(s.Service)) {
				c.Services[id] = s
			}
		}
		return &c, removed
	case nodeServiceList:
		c := v
		c.Services = []*structs.NodeService{}
		for _, s := range v.Services {
			if keep(svcOK(s.Service)) {
				c.Services = append(c.Services, s)
			}
		}
		return c, removed
	case structs.HealthChecks:
		out := structs.HealthChecks{}
		for _, c := range v {
			if keep(nodeOK(c.Node) && (c.ServiceName == "" || svcOK(c.ServiceName))) {
				out = append(out, c)
			}
		}
		return out, removed
	case structs.CheckServiceNodes:
		out := structs.CheckServiceNodes{}
		for _, csn := range v {
			if csn.Node == nil || csn.Service == nil || !keep(nodeOK(csn.Node.Node) && svcOK(csn.Service.Service)) {
				continue
			}
			out = append(out, csn)
		}
		return out, removed
	case structs.Sessions:
		out := structs.Sessions{}
		for _, s := range v {
			if keep(authz.Allowed(acl.ResourceSession, s.Node, acl.Read)) {
				out = append(out, s)
			}
		}
		return out, removed
	case structs.Coordinates:
		out := structs.Coordinates{}
		for _, c := range v {
			if keep(nodeOK(c.Node)) {
				out = append(out, c)
			}
		}
		return out, removed
	case []serf.Member:
		out := []serf.Member{}
		for _, m := range v {
			name := strings.TrimSuffix(m.Name, "."+m.Tags["dc"])
			if keep(nodeOK(name)) {
				out = append(out, m)
			}
		}
		return out, removed
	case map[string]*structs.NodeService:
		out := map[string]*structs.NodeService{}
		for id, s := range v {
			if keep(svcOK(s.Service)) {
				out[id] = s
			}
		}
		return out, removed
	case map[string]*structs.HealthCheck:
		out := map[string]*structs.HealthCheck{}
		for id, c := range v {
			if keep(nodeOK(c.Node) && (c.ServiceName == "" || svcOK(c.ServiceName))) {
				out[id] = c
			}
		}
		return out, removed
	case structs.DirEntries:
		out := structs.DirEntries{}
		for _, e := range v {
			if keep(authz.Allowed(acl.ResourceKey, e.Key, acl.Read)) {
				out = append(out, e)
			}
		}
		return out, removed
	case []string:
		// KV key names.
		out := []string{}
		for _, k := range v {
			if keep(authz.Allowed(acl.ResourceKey, k, acl.Read)) {
				out = append(out, k)
			}
		}
		return out, removed
	}
	// Anything else (a single key's value, a raw answer) was checked
	// before the handler ran.
	return obj, false
}
