package server

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/hashicorp/go-memdb"
	"github.com/hashicorp/go-uuid"

	"github.com/meridian-sd/meridian/acl"
	"github.com/meridian-sd/meridian/state"
	"github.com/meridian-sd/meridian/structs"
)

// PreparedQuery serves prepared queries, as Consul's endpoint of the same
// name: Apply, Get, List, Execute, ExecuteRemote and Explain, plus the
// sticky failover state (prepared_query_failover.go).
//
// ACLs are Consul's: writing a query needs query:write on its name (a
// query without a name and not a template needs none: it must be bound to
// a session), reading one query:read; an execution is filtered with the
// query's own token when it has one, else with the caller's.
type PreparedQuery struct{ s *Server }

// queryRemoteTimeout bounds the execution of a query in one remote
// datacenter during failover, so that a dead datacenter cannot stall the
// answer; the next one is tried after it.
const queryRemoteTimeout = 3 * time.Second

// hiddenToken replaces a query's token for readers that may not see it.
const hiddenToken = "<hidden>"

// Apply creates, updates or deletes a query; the reply is its ID.
func (p *PreparedQuery) Apply(ctx context.Context, args *structs.PreparedQueryRequest, reply *string) error {
	if done, err := p.s.forward(ctx, "PreparedQuery.Apply", args, args, reply); done {
		return err
	}
	authz, ident, err := p.s.ResolveToken(args.Token)
	if err != nil {
		return err
	}
	q := args.Query
	st := p.s.fsm.State()
	if args.Op == structs.PreparedQueryCreate {
		if q.ID != "" {
			return structs.BadRequest("Prepared query ID must be empty on create")
		}
		for {
			id, err := uuid.GenerateUUID()
			if err != nil {
				return fmt.Errorf("generate query id: %w", err)
			}
			_, existing, err := st.PreparedQueryGet(nil, id)
			if err != nil {
				return err
			}
			if existing == nil {
				q.ID = id
				break
			}
		}
	} else {
		if q.ID == "" {
			return structs.BadRequest("Prepared query ID must be provided")
		}
		_, existing, err := st.PreparedQueryGet(nil, q.ID)
		if err != nil {
			return err
		}
		if existing == nil {
			return structs.NewError(structs.CodeNotFound, "Cannot modify non-existent prepared query: '%s'", q.ID)
		}
		if prefix, ok := aclPrefix(existing); ok {
			if err := checkACL(authz, ident, acl.ResourceQuery, prefix, acl.Write); err != nil {
				return err
			}
		}
	}
	switch args.Op {
	case structs.PreparedQueryCreate, structs.PreparedQueryUpdate:
		if err := parseQuery(q); err != nil {
			return err
		}
		if prefix, ok := aclPrefix(q); ok {
			if err := checkACL(authz, ident, acl.ResourceQuery, prefix, acl.Write); err != nil {
				return err
			}
		}
	case structs.PreparedQueryDelete:
	default:
		return structs.BadRequest("invalid prepared query operation %q", args.Op)
	}
	if _, err := p.s.raftApply(structs.PreparedQueryRequestType, args); err != nil {
		return err
	}
	*reply = q.ID
	return nil
}

// checkACL checks one permission, answering with Consul's refusal text.
func checkACL(authz *acl.Authorizer, ident *structs.ACLToken, res acl.Resource, name string, want acl.Access) error {
	if err := authz.Check(res, name, want); err != nil {
		id := ""
		if ident != nil {
			id = ident.AccessorID
		}
		return acl.WithAccessor(err, id)
	}
	return nil
}

// aclPrefix is the name the query's ACL rules apply to: its name, or the
// empty name of a catch-all template. A query with neither has none.
func aclPrefix(q *structs.PreparedQuery) (string, bool) {
	if q.Name != "" || q.IsTemplate() {
		return q.Name, true
	}
	return "", false
}

// parseQuery checks what a query means, with Consul's texts where Consul
// has them, wrapped as Consul's are.
func parseQuery(q *structs.PreparedQuery) error {
	if err := parseQueryParts(q); err != nil {
		return structs.BadRequest("Invalid prepared query: %w", err)
	}
	return nil
}

func parseQueryParts(q *structs.PreparedQuery) error {
	if q.Name == "" && !q.IsTemplate() && q.Session == "" {
		return fmt.Errorf("Must be bound to a session")
	}
	if q.IsTemplate() {
		if _, err := compileTemplate(q); err != nil {
			return err
		}
	} else if q.Template.Regexp != "" || q.Template.RemoveEmptyTags {
		return fmt.Errorf("Template.Regexp and Template.RemoveEmptyTags need Template.Type %q", structs.QueryTemplateTypeNamePrefixMatch)
	}
	svc := &q.Service
	if svc.Service == "" {
		return fmt.Errorf("Must provide a Service name to query")
	}
	f := &svc.Failover
	if f.NearestN < 0 {
		return fmt.Errorf("Bad NearestN '%d', must be >= 0", f.NearestN)
	}
	if len(f.Targets) > 0 && (f.NearestN != 0 || len(f.Datacenters) > 0) {
		return fmt.Errorf("Targets cannot be populated with NearestN or Datacenters")
	}
	for _, t := range f.Targets {
		if t.Peer != "" || t.Partition != "" || t.Namespace != "" {
			return fmt.Errorf("failover targets may only name datacenters: Meridian has no peers, partitions or namespaces")
		}
		if t.Datacenter == "" {
			return fmt.Errorf("a failover target must name a datacenter")
		}
	}
	switch {
	case svc.Connect:
		return fmt.Errorf("Connect is not supported: Meridian has no service mesh")
	case svc.Peer != "" || svc.SamenessGroup != "" || svc.Namespace != "" || svc.Partition != "":
		return fmt.Errorf("Peer, SamenessGroup, Namespace and Partition must be empty: Meridian has none of them")
	}
	if f.MinPassing < 0 {
		return fmt.Errorf("Bad MinPassing '%d', must be >= 0", f.MinPassing)
	}
	if f.FailbackAfter != "" {
		d, err := time.ParseDuration(f.FailbackAfter)
		if err != nil {
			return fmt.Errorf("Bad FailbackAfter '%s': must be a duration such as 30s", f.FailbackAfter)
		}
		if d < 0 {
			return fmt.Errorf("Bad FailbackAfter '%s': must be >= 0", f.FailbackAfter)
		}
	}
	switch f.FailbackMode {
	case "", structs.FailbackAuto, structs.FailbackManual:
	default:
		return fmt.Errorf("Bad FailbackMode '%s': must be auto or manual", f.FailbackMode)
	}
	if f.Sticky() && q.IsTemplate() {
		return fmt.Errorf("MinPassing, FailbackAfter and FailbackMode are not supported on query templates: a template is many queries, and the failover state is kept per query")
	}
	if q.DNS.TTL != "" {
		ttl, err := time.ParseDuration(q.DNS.TTL)
		if err != nil {
			return fmt.Errorf("Bad DNS TTL '%s': %v", q.DNS.TTL, err)
		}
		if ttl < 0 {
			return fmt.Errorf("DNS TTL '%d', must be >=0", ttl)
		}
	}
	return nil
}

// Get reads one query by ID.
func (p *PreparedQuery) Get(ctx context.Context, args *structs.PreparedQuerySpecificRequest, reply *structs.IndexedPreparedQueries) error {
	if done, err := p.s.forward(ctx, "PreparedQuery.Get", args, args, reply); done {
		return err
	}
	authz, ident, err := p.s.ResolveToken(args.Token)
	if err != nil {
		return err
	}
	return p.s.blockingQuery(ctx, &args.QueryOptions, &reply.QueryMeta, func(ws memdb.WatchSet, st *state.Store) error {
		idx, q, err := st.PreparedQueryGet(ws, args.QueryID)
		if err != nil {
			return err
		}
		reply.Index = idx
		if q == nil {
			return structs.ErrQueryNotFound
		}
		kept := filterQueries(authz, structs.PreparedQueries{q})
		if len(kept) == 0 {
			prefix, _ := aclPrefix(q)
			return checkACL(authz, ident, acl.ResourceQuery, prefix, acl.Read)
		}
		reply.Queries = kept
		return nil
	})
}

// List reads every query the token may read.
func (p *PreparedQuery) List(ctx context.Context, args *structs.DCSpecificRequest, reply *structs.IndexedPreparedQueries) error {
	if done, err := p.s.forward(ctx, "PreparedQuery.List", args, args, reply); done {
		return err
	}
	authz, _, err := p.s.ResolveToken(args.Token)
	if err != nil {
		return err
	}
	return p.s.blockingQuery(ctx, &args.QueryOptions, &reply.QueryMeta, func(ws memdb.WatchSet, st *state.Store) error {
		idx, qs, err := st.PreparedQueryList(ws)
		if err != nil {
			return err
		}
		reply.Index, reply.Queries = idx, filterQueries(authz, qs)
		return nil
	})
}

// filterQueries keeps the queries authz may read, as Consul does: all of
// them for a management token; otherwise those with a name (or catch-all
// templates) it has query:read on, their tokens hidden unless it has
// acl:write.
func filterQueries(authz *acl.Authorizer, qs structs.PreparedQueries) structs.PreparedQueries {
	if authz.IsManagement() {
		return qs
	}
	seeTokens := authz.Allowed(acl.ResourceACL, "", acl.Write)
	out := structs.PreparedQueries{}
	for _, q := range qs {
		prefix, ok := aclPrefix(q)
		if !ok || !authz.Allowed(acl.ResourceQuery, prefix, acl.Read) {
			continue
		}
		if q.Token != "" && !seeTokens {
			q.Token = hiddenToken
		}
		out = append(out, q)
	}
	return out
}

// Explain resolves and renders a query for a name without running it.
func (p *PreparedQuery) Explain(ctx context.Context, args *structs.PreparedQueryExecuteRequest, reply *structs.PreparedQueryExplainResponse) error {
	if done, err := p.s.forward(ctx, "PreparedQuery.Explain", args, args, reply); done {
		return err
	}
	authz, ident, err := p.s.ResolveToken(args.Token)
	if err != nil {
		return err
	}
	args.MinQueryIndex = 0
	return p.s.blockingQuery(ctx, &args.QueryOptions, &reply.QueryMeta, func(ws memdb.WatchSet, st *state.Store) error {
		idx, q, err := p.resolve(ws, st, args.QueryIDOrName)
		if err != nil {
			return err
		}
		reply.Index = idx
		if prefix, ok := aclPrefix(q); ok {
			if err := checkACL(authz, ident, acl.ResourceQuery, prefix, acl.Read); err != nil {
				return err
			}
		}
		if kept := filterQueries(authz, structs.PreparedQueries{q}); len(kept) == 1 {
			q = kept[0]
		} else if q.Token != "" {
			q.Token = hiddenToken
		}
		reply.Query = *q
		return nil
	})
}

// resolve finds and renders the query an ID or name stands for.
func (p *PreparedQuery) resolve(ws memdb.WatchSet, st *state.Store, idOrName string) (uint64, *structs.PreparedQuery, error) {
	idx, q, err := st.PreparedQueryResolve(ws, idOrName)
	if err != nil {
		return 0, nil, err
	}
	if q == nil {
		return idx, nil, structs.ErrQueryNotFound
	}
	q, err = renderQuery(q, idOrName)
	if err != nil {
		return 0, nil, err
	}
	return idx, q, nil
}

// Execute runs a query: its instances in this datacenter, filtered,
// shuffled, sorted by RTT from ?near (or the query's Near), limited; and
// when none is left (or, with the sticky policy, fewer than MinPassing,
// or while failed over) the failover datacenters in order.
func (p *PreparedQuery) Execute(ctx context.Context, args *structs.PreparedQueryExecuteRequest, reply *structs.PreparedQueryExecuteResponse) error {
	if done, err := p.s.forward(ctx, "PreparedQuery.Execute", args, args, reply); done {
		return err
	}
	args.MinQueryIndex = 0
	var (
		q      *structs.PreparedQuery
		status *structs.PreparedQueryFailoverStatus
	)
	err := p.s.blockingQuery(ctx, &args.QueryOptions, &reply.QueryMeta, func(ws memdb.WatchSet, st *state.Store) error {
		idx, resolved, err := p.resolve(ws, st, args.QueryIDOrName)
		if err != nil {
			return err
		}
		q = resolved
		nodesIdx, nodes, err := queryNodes(ws, st, q)
		if err != nil {
			return err
		}
		reply.Index = max(idx, nodesIdx)
		reply.Nodes = nodes
		if q.Service.Failover.Sticky() && !q.IsTemplate() {
			_, status, err = st.PreparedQueryFailoverGet(ws, q.ID)
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	reply.Service = q.Service.Service
	reply.DNS = q.DNS
	reply.Datacenter = p.s.config.Datacenter
	// The sticky policy counts health, not what the token may see: the
	// leader, which has no caller, counts the same way.
	localPassing := len(reply.Nodes)
	if err := p.filterNodes(q, args.Token, &reply.Nodes); err != nil {
		return err
	}
	shuffleNodes(reply.Nodes)
	src := args.Source
	if src.Datacenter == "" {
		src.Datacenter = args.Agent.Datacenter
	}
	if src.Node == "" {
		src.Node = q.Service.Near
	}
	if src.Node == "_agent" {
		src.Node = args.Agent.Node
	}
	if src.Node != "" {
		if err := p.s.sortCheckServiceNodesByDistance(src, reply.Nodes); err != nil {
			return err
		}
		if src.Datacenter == "" || src.Datacenter == reply.Datacenter {
			// The node asked from goes first when it runs the service.
			for i, n := range reply.Nodes {
				if i >= 10 {
					break
				}
				if strings.EqualFold(n.Node.Node, src.Node) {
					reply.Nodes[0], reply.Nodes[i] = reply.Nodes[i], reply.Nodes[0]
					break
				}
			}
		}
	}
	if args.Limit > 0 && len(reply.Nodes) > args.Limit {
		reply.Nodes = reply.Nodes[:args.Limit]
	}
	f := &q.Service.Failover
	sticky := f.Sticky() && !q.IsTemplate()
	if sticky {
		reply.Failover = p.s.displayFailoverStatus(q, status)
	}
	switch {
	case !sticky:
		if len(reply.Nodes) > 0 {
			return nil
		}
		return p.failover(ctx, q, args, reply, "", nil)
	case (status != nil && status.Active) || localPassing < f.MinPassingOrDefault():
		local := *reply
		local.Nodes = append(structs.CheckServiceNodes(nil), reply.Nodes...)
		preferred := ""
		if status != nil && status.Active {
			preferred = status.Datacenter
		}
		return p.failover(ctx, q, args, reply, preferred, &local)
	}
	return nil
}

// failover tries the query's failover datacenters in order (preferred
// first, when it is one of them) until one answers with instances, as
// Consul does: a datacenter that fails or times out is skipped. Without
// any answer the reply is the last datacenter's empty one, as Consul's;
// with the sticky policy it is the local answer instead (local, which
// may still hold instances, fewer than MinPassing).
func (p *PreparedQuery) failover(ctx context.Context, q *structs.PreparedQuery, args *structs.PreparedQueryExecuteRequest, reply *structs.PreparedQueryExecuteResponse, preferred string, local *structs.PreparedQueryExecuteResponse) error {
	targets := p.s.queryFailoverTargets(q)
	if preferred != "" {
		for i, dc := range targets {
			if dc == preferred {
				targets = append([]string{dc}, append(targets[:i:i], targets[i+1:]...)...)
				break
			}
		}
	}
	failovers := 0
	found := false
	for _, dc := range targets {
		failovers++
		remote, err := p.s.executeRemote(ctx, dc, q, args.Limit, args.QueryOptions)
		if err != nil {
			p.s.logger.Warn("prepared query failover: datacenter did not answer", "query", q.ID, "datacenter", dc, "error", err)
			continue
		}
		fo := reply.Failover
		*reply = *remote
		reply.Failover = fo
		if len(reply.Nodes) > 0 {
			found = true
			break
		}
	}
	if !found && local != nil {
		fo := reply.Failover
		*reply = *local
		reply.Failover = fo
	}
	reply.Failovers = failovers
	return nil
}

// queryFailoverTargets lists the datacenters a query fails over to, in
// order: its Targets; or the NearestN nearest other datacenters by WAN
// RTT, then its Datacenters. Each is tried once; unknown ones are skipped.
func (s *Server) queryFailoverTargets(q *structs.PreparedQuery) []string {
	f := &q.Service.Failover
	known := map[string]bool{}
	for _, dc := range s.router.Datacenters() {
		known[dc] = true
	}
	seen := map[string]bool{s.config.Datacenter: true}
	var out []string
	add := func(dc string) {
		if seen[dc] {
			return
		}
		seen[dc] = true
		if !known[dc] {
			s.logger.Debug("prepared query failover: skipping unknown datacenter", "query", q.ID, "datacenter", dc)
			return
		}
		out = append(out, dc)
	}
	if len(f.Targets) > 0 {
		for _, t := range f.Targets {
			add(t.Datacenter)
		}
		return out
	}
	if f.NearestN > 0 {
		n := 0
		for _, dc := range s.sortedDCs() {
			if n >= f.NearestN {
				break
			}
			if dc == s.config.Datacenter {
				continue
			}
			add(dc)
			n++
		}
	}
	for _, dc := range f.Datacenters {
		add(dc)
	}
	return out
}

// executeRemote runs a resolved query in another datacenter within
// queryRemoteTimeout.
func (s *Server) executeRemote(ctx context.Context, dc string, q *structs.PreparedQuery, limit int, opts structs.QueryOptions) (*structs.PreparedQueryExecuteResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, min(queryRemoteTimeout, s.config.CrossDCTimeout))
	defer cancel()
	opts.MinQueryIndex = 0
	args := &structs.PreparedQueryExecuteRemoteRequest{Datacenter: dc, Query: *q, Limit: limit, QueryOptions: opts}
	var out structs.PreparedQueryExecuteResponse
	if err := s.forwardDC(ctx, "PreparedQuery.ExecuteRemote", dc, args, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ExecuteRemote runs a query that another datacenter resolved, here,
// without failing over further. There is no RTT sort: the asking node is
// in another datacenter. The answer is shuffled and limited.
func (p *PreparedQuery) ExecuteRemote(ctx context.Context, args *structs.PreparedQueryExecuteRemoteRequest, reply *structs.PreparedQueryExecuteResponse) error {
	if done, err := p.s.forward(ctx, "PreparedQuery.ExecuteRemote", args, args, reply); done {
		return err
	}
	q := &args.Query
	if q.Service.Service == "" {
		return structs.BadRequest("Must provide a Service name to query")
	}
	args.MinQueryIndex = 0
	err := p.s.blockingQuery(ctx, &args.QueryOptions, &reply.QueryMeta, func(ws memdb.WatchSet, st *state.Store) error {
		idx, nodes, err := queryNodes(ws, st, q)
		reply.Index, reply.Nodes = idx, nodes
		return err
	})
	if err != nil {
		return err
	}
	reply.Service = q.Service.Service
	reply.DNS = q.DNS
	reply.Datacenter = p.s.config.Datacenter
	if err := p.filterNodes(q, args.Token, &reply.Nodes); err != nil {
		return err
	}
	shuffleNodes(reply.Nodes)
	if args.Limit > 0 && len(reply.Nodes) > args.Limit {
		reply.Nodes = reply.Nodes[:args.Limit]
	}
	return nil
}

// filterNodes keeps the instances the query's token (or, without one,
// the caller's) may read: node:read and service:read.
func (p *PreparedQuery) filterNodes(q *structs.PreparedQuery, callerToken string, nodes *structs.CheckServiceNodes) error {
	token := callerToken
	if q.Token != "" {
		token = q.Token
	}
	authz, _, err := p.s.ResolveToken(token)
	if err != nil {
		return err
	}
	if authz.IsManagement() {
		return nil
	}
	kept := structs.CheckServiceNodes{}
	for _, n := range *nodes {
		if n.Node != nil && n.Service != nil && authz.Allowed(acl.ResourceNode, n.Node.Node, acl.Read) &&
			authz.Allowed(acl.ResourceService, n.Service.Service, acl.Read) {
			kept = append(kept, n)
		}
	}
	*nodes = kept
	return nil
}

// shuffleNodes spreads load over instances.
func shuffleNodes(nodes structs.CheckServiceNodes) {
	rand.Shuffle(len(nodes), func(i, j int) { nodes[i], nodes[j] = nodes[j], nodes[i] })
}

// queryNodes returns the instances of the query's service in this
// datacenter that pass its filters: no critical check (nor warning, with
// OnlyPassing) other than the ignored ones, every node and service meta
// pair, every tag and no "!tag" (case-insensitively).
func queryNodes(ws memdb.WatchSet, st *state.Store, q *structs.PreparedQuery) (uint64, structs.CheckServiceNodes, error) {
	svc := &q.Service
	idx, nodes, err := st.CheckServiceNodes(ws, svc.Service, nil, svc.NodeMeta)
	if err != nil {
		return 0, nil, err
	}
	ignore := make(map[string]bool, len(svc.IgnoreCheckIDs))
	for _, id := range svc.IgnoreCheckIDs {
		ignore[id] = true
	}
	out := structs.CheckServiceNodes{}
	for _, n := range nodes {
		if healthyFor(n.Checks, svc.OnlyPassing, ignore) && metaMatches(n.Service.Meta, svc.ServiceMeta) &&
			tagsMatch(n.Service.Tags, svc.Tags) && metaMatches(n.Node.Meta, svc.NodeMeta) {
			out = append(out, n)
		}
	}
	return idx, out, nil
}

func healthyFor(checks structs.HealthChecks, onlyPassing bool, ignore map[string]bool) bool {
	for _, c := range checks {
		if ignore[c.CheckID] {
			continue
		}
		switch c.Status {
		case structs.HealthCritical:
			return false
		case structs.HealthWarning:
			if onlyPassing {
				return false
			}
		}
	}
	return true
}

func metaMatches(have, want map[string]string) bool {
	for k, v := range want {
		if got, ok := have[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// tagsMatch applies a query's tag filter: every tag must be present,
// every "!tag" absent, case-insensitively, as Consul's.
func tagsMatch(have, want []string) bool {
	if len(want) == 0 {
		return true
	}
	set := make(map[string]bool, len(have))
	for _, t := range have {
		set[strings.ToLower(t)] = true
	}
	for _, w := range want {
		w = strings.ToLower(w)
		if neg, ok := strings.CutPrefix(w, "!"); ok {
			if set[neg] {
				return false
			}
			continue
		}
		if !set[w] {
			return false
		}
	}
	return true
}
