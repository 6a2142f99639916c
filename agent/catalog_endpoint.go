package agent

import (
	"encoding/json"
	"net/http"
	"sort"

	"github.com/meridian-sd/meridian/structs"
)

func (a *Agent) catalogRegister(resp http.ResponseWriter, req *http.Request) (any, error) {
	var args structs.RegisterRequest
	if err := decodeBody(req, &args); err != nil {
		return nil, err
	}
	if args.Datacenter == "" {
		args.Datacenter = a.parseDC(req)
	}
	if args.Node == "" {
		return nil, badRequest("Missing node name")
	}
	if args.Address == "" && !args.SkipNodeUpdate {
		return nil, badRequest("Missing node address")
	}
	if args.Service != nil && args.Service.Service == "" {
		return nil, badRequest("Missing service name")
	}
	if args.Service != nil {
		if err := args.Service.NormalizeOpaque(); err != nil {
			return nil, badRequest("Invalid %v", err)
		}
	}
	checks := args.Checks
	if args.Check != nil {
		checks = append(checks, args.Check)
	}
	for _, c := range checks {
		if c.Status != "" && !structs.ValidHealthStatus(c.Status) {
			return nil, badRequest("Invalid check status %q: must be passing, warning or critical", c.Status)
		}
	}
	var out struct{}
	if err := a.RPCContext(req.Context(), "Catalog.Register", &args, &out); err != nil {
		return nil, err
	}
	return true, nil
}

func (a *Agent) catalogDeregister(resp http.ResponseWriter, req *http.Request) (any, error) {
	var args structs.DeregisterRequest
	if err := decodeBody(req, &args); err != nil {
		return nil, err
	}
	if args.Datacenter == "" {
		args.Datacenter = a.parseDC(req)
	}
	if args.Node == "" {
		return nil, badRequest("Missing node name")
	}
	var out struct{}
	if err := a.RPCContext(req.Context(), "Catalog.Deregister", &args, &out); err != nil {
		return nil, err
	}
	return true, nil
}

func (a *Agent) catalogDatacenters(resp http.ResponseWriter, req *http.Request) (any, error) {
	var out []string
	if err := a.RPCContext(req.Context(), "Catalog.ListDatacenters", &struct{}{}, &out); err != nil {
		return nil, err
	}
	if out == nil {
		out = []string{}
	}
	return out, nil
}

func (a *Agent) catalogNodes(resp http.ResponseWriter, req *http.Request) (any, error) {
	return readRPC(a, resp, req, "Catalog.ListNodes", a.dcArgs,
		func(_ *structs.DCSpecificRequest, out *structs.IndexedNodes) (any, error) {
			if out.Nodes == nil {
				out.Nodes = structs.Nodes{}
			}
			return out.Nodes, nil
		})
}

func (a *Agent) catalogServices(resp http.ResponseWriter, req *http.Request) (any, error) {
	return cachedReadRPC(a, resp, req, cacheRefresh, "Catalog.ListServices", a.dcArgs,
		func(_ *structs.DCSpecificRequest, out *structs.IndexedServices) (any, error) {
			if out.Services == nil {
				out.Services = map[string][]string{}
			}
			for k, v := range out.Services {
				if v == nil {
					out.Services[k] = []string{}
				}
			}
			return out.Services, nil
		})
}

func (a *Agent) catalogServiceNodes(resp http.ResponseWriter, req *http.Request) (any, error) {
	return cachedReadRPC(a, resp, req, cacheRefresh, "Catalog.ServiceNodes", a.serviceArgs("/v1/catalog/service/"),
		func(_ *structs.ServiceSpecificRequest, out *structs.IndexedServiceNodes) (any, error) {
			if out.ServiceNodes == nil {
				out.ServiceNodes = structs.ServiceNodes{}
			}
			for _, s := range out.ServiceNodes {
				if s.ServiceTags == nil {
					s.ServiceTags = []string{}
				}
			}
			return out.ServiceNodes, nil
		})
}

func (a *Agent) catalogNodeServices(resp http.ResponseWriter, req *http.Request) (any, error) {
	return readRPC(a, resp, req, "Catalog.NodeServices", nodeArgs("/v1/catalog/node/"),
		func(_ *structs.NodeSpecificRequest, out *structs.IndexedNodeServices) (any, error) {
			if out.NodeServices == nil {
				// Consul answers an unknown node with 200 and null; clients
				// rely on it (the api client returns a nil node, not an error).
				return json.RawMessage("null"), nil
			}
			for _, s := range out.NodeServices.Services {
				if s.Tags == nil {
					s.Tags = []string{}
				}
			}
			return out.NodeServices, nil
		})
}

// nodeServiceList is /v1/catalog/node-services' shape: services as a list.
type nodeServiceList struct {
	Node     *structs.Node
	Services []*structs.NodeService
}

func (a *Agent) catalogNodeServiceList(resp http.ResponseWriter, req *http.Request) (any, error) {
	return readRPC(a, resp, req, "Catalog.NodeServices", nodeArgs("/v1/catalog/node-services/"),
		func(args *structs.NodeSpecificRequest, out *structs.IndexedNodeServices) (any, error) {
			if out.NodeServices == nil {
				return nil, notFound("Node %q not found", args.Node)
			}
			list := nodeServiceList{Node: out.NodeServices.Node, Services: []*structs.NodeService{}}
			for _, s := range out.NodeServices.Services {
				if s.Tags == nil {
					s.Tags = []string{}
				}
				list.Services = append(list.Services, s)
			}
			sort.Slice(list.Services, func(i, j int) bool { return list.Services[i].ID < list.Services[j].ID })
			return list, nil
		})
}
