package agent

import (
	"net/http"

	"github.com/meridian-sd/meridian/structs"
)

// checksResult answers a list of checks.
func checksResult[A any](_ A, out *structs.IndexedHealthChecks) (any, error) {
	return fixChecks(out.HealthChecks), nil
}

func (a *Agent) healthNodeChecks(resp http.ResponseWriter, req *http.Request) (any, error) {
	return readRPC(a, resp, req, "Health.NodeChecks", nodeArgs("/v1/health/node/"),
		checksResult[*structs.NodeSpecificRequest])
}

func (a *Agent) healthServiceChecks(resp http.ResponseWriter, req *http.Request) (any, error) {
	return readRPC(a, resp, req, "Health.ServiceChecks", a.serviceArgs("/v1/health/checks/"),
		checksResult[*structs.ServiceSpecificRequest])
}

// stateArgs fills /v1/health/state/<state>.
func (a *Agent) stateArgs(req *http.Request, dc string, args *structs.ChecksInStateRequest) (err error) {
	args.Datacenter = dc
	if args.NodeMetaFilters, err = parseNodeMeta(req); err != nil {
		return err
	}
	args.Source = a.parseSource(req, dc)
	args.State = pathSuffix(req, "/v1/health/state/")
	if args.State == "" {
		return badRequest("Missing check state")
	}
	if args.State != structs.HealthAny && !structs.ValidHealthStatus(args.State) {
		return badRequest("Invalid check state %q: must be any, passing, warning or critical", args.State)
	}
	return nil
}

func (a *Agent) healthChecksInState(resp http.ResponseWriter, req *http.Request) (any, error) {
	return readRPC(a, resp, req, "Health.ChecksInState", a.stateArgs,
		checksResult[*structs.ChecksInStateRequest])
}

func (a *Agent) healthServiceNodes(resp http.ResponseWriter, req *http.Request) (any, error) {
	serviceArgs := a.serviceArgs("/v1/health/service/")
	build := func(req *http.Request, dc string, args *structs.ServiceSpecificRequest) error {
		if err := serviceArgs(req, dc, args); err != nil {
			return err
		}
		if v, ok := reqQuery(req)["passing"]; ok {
			// ?passing, ?passing=true and ?passing=1 all filter; ?passing=false does not.
			args.PassingOnly = len(v) == 0 || v[0] == "" || v[0] == "true" || v[0] == "1"
			if len(v) > 0 && v[0] != "" && v[0] != "true" && v[0] != "1" && v[0] != "false" && v[0] != "0" {
				return badRequest("Invalid value for ?passing: %q", v[0])
			}
		}
		return nil
	}
	return cachedReadRPC(a, resp, req, cacheRefresh, "Health.ServiceNodes", build,
		func(_ *structs.ServiceSpecificRequest, out *structs.IndexedCheckServiceNodes) (any, error) {
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
		})
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
