package agent

import (
	"net/http"
	"strings"

	"github.com/meridian-sd/meridian/filter"
	"github.com/meridian-sd/meridian/structs"
)

// The one read path of the HTTP API. Every endpoint that reads from the
// servers goes the same way, written once here (readRPC):
//
//  1. parse what every read takes (parseQuery): ?dc, ?stale/?consistent,
//     ?index/?wait (blocking), ?filter, and the request's ACL token;
//  2. let the endpoint add its own parameters (the path, ?tag, ...);
//  3. the RPC, with the request's context, so that a client that goes
//     away ends the wait (through the agent cache for ?cached on the
//     endpoints that take it: cachedReadRPC, cached_read.go);
//  4. the meta headers (X-Consul-Index, KnownLeader, LastContact, ...);
//  5. the endpoint's shaping of the answer (empty lists rather than null,
//     404s), which wrap then encodes.
//
// ?filter= travels in the RPC arguments and the answering server
// evaluates it, so a remote datacenter filters before it sends; the
// agent's own lists (/v1/agent/services, checks, members) are filtered
// here with the same package (filter).

// queryArgs is an RPC read request; all embed structs.QueryOptions.
type queryArgs interface {
	GetQueryOptions() *structs.QueryOptions
}

// queryReply is an RPC read answer; all embed structs.QueryMeta.
type queryReply interface {
	GetQueryMeta() *structs.QueryMeta
}

// readRPC runs one read through the read path: a fresh A filled with the
// common options, then by build with the endpoint's own parameters (dc is
// the datacenter asked for), the RPC method into a fresh R, the meta
// headers, and result's shaping of the answer.
func readRPC[A, R any, PA interface {
	*A
	queryArgs
}, PR interface {
	*R
	queryReply
}](a *Agent, resp http.ResponseWriter, req *http.Request, method string,
	build func(req *http.Request, dc string, args PA) error,
	result func(args PA, out PR) (any, error)) (any, error) {
	return readPath(a, resp, req, nil, method, build, result)
}

// cachedReadRPC is readRPC for an endpoint that takes ?cached: the RPC
// goes through the agent cache (cachedRPC) when the request asks for it.
func cachedReadRPC[A, R any, PA interface {
	*A
	queryArgs
}, PR interface {
	*R
	queryReply
}](a *Agent, resp http.ResponseWriter, req *http.Request, kind cacheKind, method string,
	build func(req *http.Request, dc string, args PA) error,
	result func(args PA, out PR) (any, error)) (any, error) {
	return readPath(a, resp, req, &kind, method, build, result)
}

// readPath is readRPC and cachedReadRPC: the RPC through the agent cache
// when kind is set.
func readPath[A, R any, PA interface {
	*A
	queryArgs
}, PR interface {
	*R
	queryReply
}](a *Agent, resp http.ResponseWriter, req *http.Request, kind *cacheKind, method string,
	build func(req *http.Request, dc string, args PA) error,
	result func(args PA, out PR) (any, error)) (any, error) {
	args := PA(new(A))
	dc, err := a.parseQuery(req, args.GetQueryOptions())
	if err != nil {
		return nil, err
	}
	if err := build(req, dc, args); err != nil {
		return nil, err
	}
	out := PR(new(R))
	if kind != nil {
		err = a.cachedRPC(resp, req, *kind, method, args, out)
	} else {
		err = a.RPCContext(req.Context(), method, args, out)
	}
	if err != nil {
		return nil, err
	}
	setMeta(resp, out.GetQueryMeta())
	return result(args, out)
}

// dcArgs fills a read of a whole datacenter: ?node-meta and ?near.
func (a *Agent) dcArgs(req *http.Request, dc string, args *structs.DCSpecificRequest) (err error) {
	args.Datacenter = dc
	if args.NodeMetaFilters, err = parseNodeMeta(req); err != nil {
		return err
	}
	args.Source = a.parseSource(req, dc)
	return nil
}

// nodeArgs fills a read about the node named by what follows prefix.
func nodeArgs(prefix string) func(*http.Request, string, *structs.NodeSpecificRequest) error {
	return func(req *http.Request, dc string, args *structs.NodeSpecificRequest) error {
		args.Datacenter = dc
		args.Node = pathSuffix(req, prefix)
		if args.Node == "" {
			return badRequest("Missing node name")
		}
		return nil
	}
}

// serviceArgs fills a read about the service named by what follows
// prefix: ?node-meta, ?near and ?tag.
func (a *Agent) serviceArgs(prefix string) func(*http.Request, string, *structs.ServiceSpecificRequest) error {
	return func(req *http.Request, dc string, args *structs.ServiceSpecificRequest) (err error) {
		args.Datacenter = dc
		if args.NodeMetaFilters, err = parseNodeMeta(req); err != nil {
			return err
		}
		args.Source = a.parseSource(req, dc)
		args.ServiceName = pathSuffix(req, prefix)
		if args.ServiceName == "" {
			return badRequest("Missing service name")
		}
		if tags, ok := reqQuery(req)["tag"]; ok {
			args.ServiceTags = tags
			args.TagFilter = true
		}
		return nil
	}
}

// filterRoute reports whether the route of path takes ?filter=, as
// Consul's does. Every other route refuses a filter (refuseFilter) rather
// than answer unfiltered what the caller believes filtered.
func filterRoute(path string) bool {
	switch path {
	case "/v1/catalog/nodes", "/v1/catalog/services",
		"/v1/agent/services", "/v1/agent/checks", "/v1/agent/members":
		return true
	}
	for _, prefix := range []string{
		"/v1/catalog/service/", "/v1/catalog/node/", "/v1/catalog/node-services/",
		"/v1/health/node/", "/v1/health/checks/", "/v1/health/service/", "/v1/health/state/",
	} {
		if strings.HasPrefix(path, prefix) {
			return true
		}
	}
	return false
}

// localFilter compiles the request's ?filter= for one of the agent's own
// lists, with the servers' texts for a bad expression.
func localFilter[T any](req *http.Request) (*filter.Filter[T], error) {
	return filter.New[T](reqQuery(req).Get("filter"))
}

// dcRequest is a whole-DC read request filled from req, for callers
// outside readRPC (answers without query meta).
func (a *Agent) dcRequest(req *http.Request) (*structs.DCSpecificRequest, error) {
	args := &structs.DCSpecificRequest{}
	dc, err := a.parseQuery(req, &args.QueryOptions)
	if err != nil {
		return nil, err
	}
	return args, a.dcArgs(req, dc, args)
}

// nodeRequest is a node read request filled from req, for callers outside
// readRPC.
func (a *Agent) nodeRequest(req *http.Request, prefix string) (*structs.NodeSpecificRequest, error) {
	args := &structs.NodeSpecificRequest{}
	dc, err := a.parseQuery(req, &args.QueryOptions)
	if err != nil {
		return nil, err
	}
	return args, nodeArgs(prefix)(req, dc, args)
}

// serviceRequest is a service read request filled from req, for callers
// outside readRPC.
func (a *Agent) serviceRequest(req *http.Request, prefix string) (*structs.ServiceSpecificRequest, error) {
	args := &structs.ServiceSpecificRequest{}
	dc, err := a.parseQuery(req, &args.QueryOptions)
	if err != nil {
		return nil, err
	}
	return args, a.serviceArgs(prefix)(req, dc, args)
}
