package agent

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/meridian-sd/meridian/structs"
)

// Prepared query HTTP API, as Consul's /v1/query:
//
//	POST   /v1/query                        create; answers {"ID": ...}
//	GET    /v1/query                        every query the token may read
//	GET    /v1/query/<id>                   [query]; 404 Query not found
//	PUT    /v1/query/<id>                   update (the whole query)
//	DELETE /v1/query/<id>                   delete
//	GET    /v1/query/<id or name>/execute   ?near ?limit ?dc ?stale ?consistent
//	GET    /v1/query/<id or name>/explain   the query as it would run
//	GET    /v1/query/<id or name>/failover  the sticky failover state (Meridian)
//	PUT    /v1/query/<id or name>/failback  manual failback (Meridian)
//
// The servers check ACLs (query:read, query:write on the query's name) and
// filter executions with the query's token, as Consul's do.

// maxQueryBodySize bounds the body of a query definition.
const maxQueryBodySize = 256 * 1024

func queryBodyLimit() bodyLimit { return bodyLimit{bytes: maxQueryBodySize} }

// decodeQueryBody reads a query definition strictly: an unknown field is
// refused, as Consul does.
func decodeQueryBody(req *http.Request) (*structs.PreparedQuery, error) {
	if req.Body == nil {
		return nil, badRequest("Request body is empty")
	}
	raw, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, badRequest("Cannot read the request body: %v", err)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, badRequest("Request body is empty")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var q structs.PreparedQuery
	if err := dec.Decode(&q); err != nil {
		return nil, badRequest("Request decode failed: %v", err)
	}
	return &q, nil
}

// preparedQueryGeneral serves /v1/query: create and list.
func (a *Agent) preparedQueryGeneral(resp http.ResponseWriter, req *http.Request) (any, error) {
	if req.Method == http.MethodGet {
		return readRPC(a, resp, req, "PreparedQuery.List",
			func(_ *http.Request, dc string, args *structs.DCSpecificRequest) error {
				args.Datacenter = dc
				return nil
			},
			func(_ *structs.DCSpecificRequest, out *structs.IndexedPreparedQueries) (any, error) {
				if out.Queries == nil {
					out.Queries = structs.PreparedQueries{}
				}
				return out.Queries, nil
			})
	}
	q, err := decodeQueryBody(req)
	if err != nil {
		return nil, err
	}
	args := &structs.PreparedQueryRequest{Datacenter: a.parseDC(req), Op: structs.PreparedQueryCreate, Query: q}
	args.Token = a.requestToken(req)
	var id string
	if err := a.RPCContext(req.Context(), "PreparedQuery.Apply", args, &id); err != nil {
		return nil, err
	}
	return map[string]string{"ID": id}, nil
}

// preparedQuerySpecific serves /v1/query/<id>[/verb].
func (a *Agent) preparedQuerySpecific(resp http.ResponseWriter, req *http.Request) (any, error) {
	rest := pathSuffix(req, "/v1/query/")
	id, verb := rest, ""
	if i := strings.LastIndexByte(rest, '/'); i >= 0 {
		switch rest[i+1:] {
		case "execute", "explain", "failover", "failback":
			id, verb = rest[:i], rest[i+1:]
		}
	}
	if id == "" {
		return nil, badRequest("Missing query ID or name")
	}
	want := http.MethodGet
	switch verb {
	case "":
		want = ""
	case "failback":
		want = http.MethodPut
	}
	method := req.Method
	if method == http.MethodPost {
		method = http.MethodPut
	}
	if want != "" && method != want {
		resp.Header().Set("Allow", want)
		return nil, HTTPError{Code: http.StatusMethodNotAllowed, Reason: "method " + req.Method + " not allowed"}
	}
	switch verb {
	case "execute":
		return a.preparedQueryExecute(resp, req, id)
	case "explain":
		return a.preparedQueryExplain(resp, req, id)
	case "failover":
		return a.preparedQueryFailoverStatus(resp, req, id)
	case "failback":
		return a.preparedQueryFailback(resp, req, id)
	}
	switch method {
	case http.MethodGet:
		return readRPC(a, resp, req, "PreparedQuery.Get", queryIDArgs(id),
			func(_ *structs.PreparedQuerySpecificRequest, out *structs.IndexedPreparedQueries) (any, error) {
				return out.Queries, nil
			})
	case http.MethodPut:
		q, err := decodeQueryBody(req)
		if err != nil {
			return nil, err
		}
		q.ID = id
		args := &structs.PreparedQueryRequest{Datacenter: a.parseDC(req), Op: structs.PreparedQueryUpdate, Query: q}
		args.Token = a.requestToken(req)
		var out string
		return nil, a.RPCContext(req.Context(), "PreparedQuery.Apply", args, &out)
	default: // DELETE
		args := &structs.PreparedQueryRequest{Datacenter: a.parseDC(req), Op: structs.PreparedQueryDelete, Query: &structs.PreparedQuery{ID: id}}
		args.Token = a.requestToken(req)
		var out string
		return nil, a.RPCContext(req.Context(), "PreparedQuery.Apply", args, &out)
	}
}

// executeRequest reads the options of /execute and /explain.
func (a *Agent) executeRequest(req *http.Request, idOrName string) (*structs.PreparedQueryExecuteRequest, error) {
	args := &structs.PreparedQueryExecuteRequest{QueryIDOrName: idOrName}
	dc, err := a.parseQuery(req, &args.QueryOptions)
	if err != nil {
		return nil, err
	}
	args.Datacenter = dc
	args.Token = a.requestToken(req)
	// The server resolves "_agent" against Agent, so that a query's own
	// Near "_agent" works too.
	args.Source = structs.QuerySource{Datacenter: a.datacenter(), Node: reqQuery(req).Get("near")}
	args.Agent = structs.QuerySource{Datacenter: a.datacenter(), Node: a.nodeName()}
	if v := reqQuery(req).Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, badRequest("Invalid limit %q: must be a non-negative integer", v)
		}
		args.Limit = n
	}
	return args, nil
}

// executeResponse is the execute answer as Consul's JSON has it: the
// answer's fields, then the query meta that Consul's embeds.
type executeResponse struct {
	Service               string
	Nodes                 structs.CheckServiceNodes
	DNS                   structs.QueryDNSOptions
	Datacenter            string
	PeerName              string
	Failovers             int
	Failover              *structs.PreparedQueryFailoverStatus `json:",omitempty"`
	Index                 uint64
	LastContact           time.Duration
	KnownLeader           bool
	ConsistencyLevel      string
	NotModified           bool
	Backend               int
	ResultsFilteredByACLs bool
}

func (a *Agent) preparedQueryExecute(resp http.ResponseWriter, req *http.Request, idOrName string) (any, error) {
	args, err := a.executeRequest(req, idOrName)
	if err != nil {
		return nil, err
	}
	var out structs.PreparedQueryExecuteResponse
	if err := a.cachedRPC(resp, req, cacheSimple, "PreparedQuery.Execute", args, &out); err != nil {
		return nil, err
	}
	setMeta(resp, &out.QueryMeta)
	if out.Nodes == nil {
		out.Nodes = structs.CheckServiceNodes{}
	}
	for i := range out.Nodes {
		out.Nodes[i].Checks = fixChecks(out.Nodes[i].Checks)
		if s := out.Nodes[i].Service; s != nil && s.Tags == nil {
			s.Tags = []string{}
		}
	}
	return executeResponse{
		Service: out.Service, Nodes: out.Nodes, DNS: out.DNS, Datacenter: out.Datacenter,
		Failovers: out.Failovers, Failover: out.Failover,
		Index: out.Index, LastContact: out.LastContact, KnownLeader: out.KnownLeader,
		ConsistencyLevel: out.ConsistencyLevel,
	}, nil
}

func (a *Agent) preparedQueryExplain(resp http.ResponseWriter, req *http.Request, idOrName string) (any, error) {
	args, err := a.executeRequest(req, idOrName)
	if err != nil {
		return nil, err
	}
	var out structs.PreparedQueryExplainResponse
	if err := a.RPCContext(req.Context(), "PreparedQuery.Explain", args, &out); err != nil {
		return nil, err
	}
	setMeta(resp, &out.QueryMeta)
	return map[string]any{"Query": out.Query}, nil
}

// failoverStatusResponse is the answer of /failover and /failback.
type failoverStatusResponse struct {
	QueryID       string
	Active        bool
	Datacenter    string
	Since         time.Time
	Reason        string
	MinPassing    int
	FailbackAfter string
	FailbackMode  string
	LocalPassing  int
	ModifyIndex   uint64
}

func toFailoverStatus(out *structs.PreparedQueryFailoverResponse) failoverStatusResponse {
	return failoverStatusResponse{
		QueryID: out.Status.QueryID, Active: out.Status.Active, Datacenter: out.Status.Datacenter,
		Since: out.Status.Since, Reason: out.Status.Reason, MinPassing: out.MinPassing,
		FailbackAfter: out.FailbackAfter, FailbackMode: out.FailbackMode, LocalPassing: out.LocalPassing,
		ModifyIndex: out.Status.ModifyIndex,
	}
}

func (a *Agent) preparedQueryFailoverStatus(resp http.ResponseWriter, req *http.Request, idOrName string) (any, error) {
	return readRPC(a, resp, req, "PreparedQuery.FailoverStatus", queryIDArgs(idOrName),
		func(_ *structs.PreparedQuerySpecificRequest, out *structs.PreparedQueryFailoverResponse) (any, error) {
			return toFailoverStatus(out), nil
		})
}

// queryIDArgs fills a read of the query named id (an ID or a name).
func queryIDArgs(id string) func(*http.Request, string, *structs.PreparedQuerySpecificRequest) error {
	return func(_ *http.Request, dc string, args *structs.PreparedQuerySpecificRequest) error {
		args.Datacenter, args.QueryID = dc, id
		return nil
	}
}

func (a *Agent) preparedQueryFailback(resp http.ResponseWriter, req *http.Request, idOrName string) (any, error) {
	args := &structs.PreparedQueryFailoverRequest{Datacenter: a.parseDC(req), Op: structs.PreparedQueryFailoverFailback, QueryID: idOrName}
	args.Token = a.requestToken(req)
	var out structs.PreparedQueryFailoverResponse
	if err := a.RPCContext(req.Context(), "PreparedQuery.Failback", args, &out); err != nil {
		return nil, err
	}
	return toFailoverStatus(&out), nil
}
