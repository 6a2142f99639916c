package server

import (
	"context"

	"github.com/hashicorp/go-memdb"

	"github.com/meridian-sd/meridian/filter"
	"github.com/meridian-sd/meridian/state"
	"github.com/meridian-sd/meridian/structs"
)

// Health serves reads of checks and of services with their health.
type Health struct{ s *Server }

// ChecksInState lists checks in one state, or all with "any".
func (h *Health) ChecksInState(ctx context.Context, args *structs.ChecksInStateRequest, reply *structs.IndexedHealthChecks) error {
	if done, err := h.s.forward(ctx, "Health.ChecksInState", args, args, reply); done {
		return err
	}
	if args.State != structs.HealthAny && !structs.ValidHealthStatus(args.State) {
		return structs.BadRequest("invalid state %q: must be any, passing, warning or critical", args.State)
	}
	f, err := filter.New[*structs.HealthCheck](args.Filter)
	if err != nil {
		return err
	}
	return h.s.blockingQuery(ctx, &args.QueryOptions, &reply.QueryMeta, func(ws memdb.WatchSet, st *state.Store) error {
		idx, checks, err := st.ChecksInState(ws, args.State, args.NodeMetaFilters)
		if err != nil {
			return err
		}
		if checks, err = f.Slice(checks); err != nil {
			return err
		}
		reply.Index, reply.HealthChecks = idx, checks
		return h.s.sortChecksByDistance(args.Source, reply.HealthChecks)
	})
}

// NodeChecks lists the checks of one node.
func (h *Health) NodeChecks(ctx context.Context, args *structs.NodeSpecificRequest, reply *structs.IndexedHealthChecks) error {
	if done, err := h.s.forward(ctx, "Health.NodeChecks", args, args, reply); done {
		return err
	}
	f, err := filter.New[*structs.HealthCheck](args.Filter)
	if err != nil {
		return err
	}
	return h.s.blockingQuery(ctx, &args.QueryOptions, &reply.QueryMeta, func(ws memdb.WatchSet, st *state.Store) error {
		idx, checks, err := st.NodeChecks(ws, args.Node)
		if err != nil {
			return err
		}
		if checks, err = f.Slice(checks); err != nil {
			return err
		}
		reply.Index, reply.HealthChecks = idx, checks
		return nil
	})
}

// ServiceChecks lists the checks of one service's instances.
func (h *Health) ServiceChecks(ctx context.Context, args *structs.ServiceSpecificRequest, reply *structs.IndexedHealthChecks) error {
	if done, err := h.s.forward(ctx, "Health.ServiceChecks", args, args, reply); done {
		return err
	}
	f, err := filter.New[*structs.HealthCheck](args.Filter)
	if err != nil {
		return err
	}
	return h.s.blockingQuery(ctx, &args.QueryOptions, &reply.QueryMeta, func(ws memdb.WatchSet, st *state.Store) error {
		idx, checks, err := st.ServiceChecks(ws, args.ServiceName, args.NodeMetaFilters)
		if err != nil {
			return err
		}
		if checks, err = f.Slice(checks); err != nil {
			return err
		}
		reply.Index, reply.HealthChecks = idx, checks
		return h.s.sortChecksByDistance(args.Source, reply.HealthChecks)
	})
}

// ServiceNodes lists a service's instances with their node and checks,
// optionally only those whose checks all pass.
func (h *Health) ServiceNodes(ctx context.Context, args *structs.ServiceSpecificRequest, reply *structs.IndexedCheckServiceNodes) error {
	if done, err := h.s.forward(ctx, "Health.ServiceNodes", args, args, reply); done {
		return err
	}
	if args.ServiceName == "" {
		return structs.BadRequest("missing service name")
	}
	f, err := filter.New[structs.CheckServiceNode](args.Filter)
	if err != nil {
		return err
	}
	return h.s.blockingQuery(ctx, &args.QueryOptions, &reply.QueryMeta, func(ws memdb.WatchSet, st *state.Store) error {
		var tags []string
		if args.TagFilter {
			tags = args.ServiceTags
		}
		idx, nodes, err := st.CheckServiceNodes(ws, args.ServiceName, tags, args.NodeMetaFilters)
		if err != nil {
			return err
		}
		if args.PassingOnly {
			nodes = filterPassing(nodes)
		}
		if nodes, err = f.Slice(nodes); err != nil {
			return err
		}
		reply.Index, reply.Nodes = idx, nodes
		return h.s.sortCheckServiceNodesByDistance(args.Source, reply.Nodes)
	})
}

// filterPassing keeps instances whose every check passes.
func filterPassing(in structs.CheckServiceNodes) structs.CheckServiceNodes {
	out := make(structs.CheckServiceNodes, 0, len(in))
outer:
	for _, n := range in {
		for _, c := range n.Checks {
			if c.Status != structs.HealthPassing {
				continue outer
			}
		}
		out = append(out, n)
	}
	return out
}
