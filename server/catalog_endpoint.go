package server

import (
	"time"

	"context"
	"fmt"

	"github.com/hashicorp/go-memdb"

	"github.com/meridian-sd/meridian/filter"
	"github.com/meridian-sd/meridian/state"
	"github.com/meridian-sd/meridian/structs"
)

// Catalog serves the catalog: registration and reads of nodes and services.
type Catalog struct{ s *Server }

// Register adds or updates a node and optionally a service and checks.
func (c *Catalog) Register(ctx context.Context, args *structs.RegisterRequest, reply *struct{}) error {
	if done, err := c.s.forward(ctx, "Catalog.Register", args, args, reply); done {
		return err
	}
	defer c.s.metrics.MeasureSince([]string{"catalog", "register"}, time.Now())
	if err := validateRegister(args); err != nil {
		return err
	}
	_, err := c.s.raftApply(structs.RegisterRequestType, args)
	return err
}

// validateRegister refuses what the state store should never see.
func validateRegister(args *structs.RegisterRequest) error {
	if args.Node == "" {
		return structs.BadRequest("missing node name")
	}
	if args.Address == "" && !args.SkipNodeUpdate {
		return structs.BadRequest("missing node address")
	}
	if svc := args.Service; svc != nil {
		if svc.Service == "" {
			return structs.BadRequest("missing service name")
		}
		if svc.ID == "" {
			svc.ID = svc.Service
		}
		if svc.Port < 0 || svc.Port > 65535 {
			return structs.BadRequest("invalid service port %d", svc.Port)
		}
	}
	checks := args.Checks
	if args.Check != nil {
		checks = append(structs.HealthChecks{args.Check}, checks...)
	}
	for _, chk := range checks {
		if chk.CheckID == "" && chk.Name != "" {
			chk.CheckID = chk.Name
		}
		if chk.CheckID == "" {
			return structs.BadRequest("missing check id")
		}
		if chk.Node == "" {
			chk.Node = args.Node
		}
		if chk.Node != args.Node {
			return fmt.Errorf("check %q names node %q, not %q", chk.CheckID, chk.Node, args.Node)
		}
		if chk.Status == "" {
			chk.Status = structs.HealthCritical
		}
		if !structs.ValidHealthStatus(chk.Status) {
			return structs.BadRequest("invalid check status %q: must be passing, warning or critical", chk.Status)
		}
	}
	return nil
}

// Deregister removes a node, a service or a check.
func (c *Catalog) Deregister(ctx context.Context, args *structs.DeregisterRequest, reply *struct{}) error {
	if done, err := c.s.forward(ctx, "Catalog.Deregister", args, args, reply); done {
		return err
	}
	defer c.s.metrics.MeasureSince([]string{"catalog", "deregister"}, time.Now())
	if args.Node == "" {
		return structs.BadRequest("missing node name")
	}
	_, err := c.s.raftApply(structs.DeregisterRequestType, args)
	return err
}

// ListDatacenters lists the known datacenters, nearest first.
func (c *Catalog) ListDatacenters(ctx context.Context, args *struct{}, reply *[]string) error {
	*reply = c.s.sortedDCs()
	return nil
}

// ListNodes lists the nodes of a datacenter.
func (c *Catalog) ListNodes(ctx context.Context, args *structs.DCSpecificRequest, reply *structs.IndexedNodes) error {
	if done, err := c.s.forward(ctx, "Catalog.ListNodes", args, args, reply); done {
		return err
	}
	f, err := filter.New[*structs.Node](args.Filter)
	if err != nil {
		return err
	}
	return c.s.blockingQuery(ctx, &args.QueryOptions, &reply.QueryMeta, func(ws memdb.WatchSet, st *state.Store) error {
		idx, nodes, err := st.Nodes(ws, args.NodeMetaFilters)
		if err != nil {
			return err
		}
		if nodes, err = f.Slice(nodes); err != nil {
			return err
		}
		reply.Index, reply.Nodes = idx, nodes
		return c.s.sortNodesByDistance(args.Source, reply.Nodes)
	})
}

// ListServices lists service names with their tags.
func (c *Catalog) ListServices(ctx context.Context, args *structs.DCSpecificRequest, reply *structs.IndexedServices) error {
	if done, err := c.s.forward(ctx, "Catalog.ListServices", args, args, reply); done {
		return err
	}
	// With a filter, the instances are filtered (Consul's selectors for
	// this endpoint are those of /v1/catalog/service's ServiceNode) and a
	// service is listed when one of its instances passes.
	f, err := filter.New[*structs.ServiceNode](args.Filter)
	if err != nil {
		return err
	}
	return c.s.blockingQuery(ctx, &args.QueryOptions, &reply.QueryMeta, func(ws memdb.WatchSet, st *state.Store) error {
		var keep func(*structs.ServiceNode) (bool, error)
		if f != nil {
			keep = f.Match
		}
		idx, services, err := st.ServicesMatching(ws, args.NodeMetaFilters, keep)
		reply.Index, reply.Services = idx, services
		return err
	})
}

// ServiceNodes lists the instances of one service.
func (c *Catalog) ServiceNodes(ctx context.Context, args *structs.ServiceSpecificRequest, reply *structs.IndexedServiceNodes) error {
	if done, err := c.s.forward(ctx, "Catalog.ServiceNodes", args, args, reply); done {
		return err
	}
	if args.ServiceName == "" && args.ServiceAddress == "" {
		return structs.BadRequest("missing service name")
	}
	f, err := filter.New[*structs.ServiceNode](args.Filter)
	if err != nil {
		return err
	}
	return c.s.blockingQuery(ctx, &args.QueryOptions, &reply.QueryMeta, func(ws memdb.WatchSet, st *state.Store) error {
		if args.ServiceName == "" {
			idx, nodes, err := st.ServiceAddressNodes(ws, args.ServiceAddress)
			if err != nil {
				return err
			}
			if nodes, err = f.Slice(nodes); err != nil {
				return err
			}
			reply.Index, reply.ServiceNodes = idx, nodes
			return nil
		}
		var tags []string
		if args.TagFilter {
			tags = args.ServiceTags
		}
		idx, nodes, err := st.ServiceNodes(ws, args.ServiceName, tags, args.NodeMetaFilters)
		if err != nil {
			return err
		}
		if nodes, err = f.Slice(nodes); err != nil {
			return err
		}
		reply.Index, reply.ServiceNodes = idx, nodes
		return c.s.sortServiceNodesByDistance(args.Source, reply.ServiceNodes)
	})
}

// NodeServices returns one node with its services.
func (c *Catalog) NodeServices(ctx context.Context, args *structs.NodeSpecificRequest, reply *structs.IndexedNodeServices) error {
	if done, err := c.s.forward(ctx, "Catalog.NodeServices", args, args, reply); done {
		return err
	}
	if args.Node == "" {
		return structs.BadRequest("missing node name")
	}
	f, err := filter.New[*structs.NodeService](args.Filter)
	if err != nil {
		return err
	}
	return c.s.blockingQuery(ctx, &args.QueryOptions, &reply.QueryMeta, func(ws memdb.WatchSet, st *state.Store) error {
		idx, ns, err := st.NodeServices(ws, args.Node)
		if err != nil {
			return err
		}
		if ns != nil && f != nil {
			// A copy: ns may be shared with the state store's records.
			c := *ns
			if c.Services, err = filter.Map(f, ns.Services); err != nil {
				return err
			}
			ns = &c
		}
		reply.Index, reply.NodeServices = idx, ns
		return nil
	})
}
