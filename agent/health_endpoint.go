package agent

import (
	"net/http"

	"github.com/meridian-sd/meridian/structs"
)

func (a *Agent) healthNodeChecks(resp http.ResponseWriter, req *http.Request) (any, error) {
	args, err := a.nodeRequest(req, "/v1/health/node/")
	if err != nil {
		return nil, err
	}
	var out structs.IndexedHealthChecks
	if err := a.RPCContext(req.Context(), "Health.NodeChecks", args, &out); err != nil {
		return nil, err
	}
	setMeta(resp, &out.QueryMeta)
	return fixChecks(out.HealthChecks), nil
}

func (a *Agent) healthServiceChecks(resp http.ResponseWriter, req *http.Request) (any, error) {
	args, err := a.serviceRequest(req, "/v1/health/checks/")
	if err != nil {
		return nil, err
	}
	var out structs.IndexedHealthChecks
	if err := a.RPCContext(req.Context(), "Health.ServiceChecks", args, &out); err != nil {
		return nil, err
	}
	setMeta(resp, &out.QueryMeta)
	return fixChecks(out.HealthChecks), nil
}

func (a *Agent) healthChecksInState(resp http.ResponseWriter, req *http.Request) (any, error) {
	args := &structs.ChecksInStateRequest{}
	dc, err := a.parseQuery(req, &args.QueryOptions)
	if err != nil {
		return nil, err
	}
	args.Datacenter = dc
	if args.NodeMetaFilters, err = parseNodeMeta(req); err != nil {
		return nil, err
	}
	args.Source = a.parseSource(req, dc)
	args.State = pathSuffix(req, "/v1/health/state/")
	if args.State == "" {
		return nil, badRequest("Missing check state")
	}
	if args.State != structs.HealthAny && !structs.ValidHealthStatus(args.State) {
		return nil, badRequest("Invalid check state %q: must be any, passing, warning or critical", args.State)
	}
	var out structs.IndexedHealthChecks
	if err := a.RPCContext(req.Context(), "Health.ChecksInState", args, &out); err != nil {
		return nil, err
	}
	setMeta(resp, &out.QueryMeta)
	return fixChecks(out.HealthChecks), nil
}

func (a *Agent) healthServiceNodes(resp http.ResponseWriter, req *http.Request) (any, error) {
	args, err := a.serviceRequest(req, "/v1/health/service/")
	if err != nil {
		return nil, err
	}
	if v, ok := req.URL.Query()["passing"]; ok {
		// ?passing, ?passing=true and ?passing=1 all filter; ?passing=false does not.
		args.PassingOnly = len(v) == 0 || v[0] == "" || v[0] == "true" || v[0] == "1"
		if len(v) > 0 && v[0] != "" && v[0] != "true" && v[0] != "1" && v[0] != "false" && v[0] != "0" {
			return nil, badRequest("Invalid value for ?passing: %q", v[0])
		}
	}
	var out structs.IndexedCheckServiceNodes
	if err := a.cachedRPC(resp, req, cacheRefresh, "Health.ServiceNodes", args, &out); err != nil {
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
	return out.Nodes, nil
}

// fixChecks makes nil lists empty, as Consul's JSON has them.
func fixChecks(in structs.HealthChecks) structs.HealthChecks {
	if in == nil {
		return structs.HealthChecks{}
	}
	for _, c := range in {
		if c.ServiceTags == nil {
			c.ServiceTags = []string{}
		}
	}
	return in
}
