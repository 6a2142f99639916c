package server

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/go-memdb"

	"github.com/meridian-sd/meridian/acl"
	"github.com/meridian-sd/meridian/state"
	"github.com/meridian-sd/meridian/structs"
)

// Sticky failover (Meridian's, on top of Consul's prepared queries).
//
// Consul fails a query over only when no local instance is left, and
// comes back on the very next request that finds one: a flapping instance
// flips every client between datacenters. A query with MinPassing,
// FailbackAfter or FailbackMode set instead keeps a failover state:
//
//   - it fails over when fewer than MinPassing (default 1) instances pass
//     locally (after the query's own filters; ACLs do not count: this is
//     about health, not about what a token may see);
//   - once failed over, it stays on the failover datacenter until the local
//     one has had at least MinPassing passing instances continuously for
//     FailbackAfter (mode auto), or until PUT /v1/query/<id>/failback
//     (mode manual).
//
// The leader decides, watching the state store (a blocking wait on the
// queries and on the health of their services, no polling), and writes
// each switch through Raft, so every server answers alike and a new
// leader finds the state where the old one left it. How long the local
// datacenter has been healthy again is the leader's memory only: a new
// leader starts that count afresh, which can only delay a failback. Each
// switch is logged once, by the leader that made it.

// queryFailoverRetry is how long the leader waits after a failed state
// write before it looks again.
const queryFailoverRetry = time.Second

// queryFailoverMaxWait caps one wait of the leader's watch, so that a
// missed wake-up costs at most this much.
const queryFailoverMaxWait = time.Minute

// displayFailoverStatus is the sticky state shown with an execution: the
// stored one, or an inactive one while the leader has written none.
func (s *Server) displayFailoverStatus(q *structs.PreparedQuery, st *structs.PreparedQueryFailoverStatus) *structs.PreparedQueryFailoverStatus {
	if st != nil {
		return st
	}
	return &structs.PreparedQueryFailoverStatus{QueryID: q.ID}
}

// runQueryFailover is the leader's watch over sticky queries; it returns
// when ctx ends (leadership lost, or shutdown).
func (s *Server) runQueryFailover(ctx context.Context) {
	healthySince := map[string]time.Time{}
	for ctx.Err() == nil {
		if !s.readyForConsistentReads.Load() {
			// Not until the leader has applied every earlier entry.
			select {
			case <-ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		st := s.fsm.State()
		ws := memdb.NewWatchSet()
		ws.Add(st.AbandonCh())
		wake, err := s.evaluateStickyQueries(ctx, ws, st, healthySince)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.logger.Warn("prepared query failover: evaluation failed", "error", err)
			wake = time.Now().Add(queryFailoverRetry)
		}
		if wake.IsZero() || time.Until(wake) > queryFailoverMaxWait {
			wake = time.Now().Add(queryFailoverMaxWait)
		}
		waitCtx, cancel := context.WithDeadline(ctx, wake)
		ws.WatchCtx(waitCtx)
		cancel()
	}
}

// evaluateStickyQueries decides, for every sticky query, whether it fails
// over or back now, and writes the switches. It returns when it next needs
// to look even without a change (a FailbackAfter running out).
func (s *Server) evaluateStickyQueries(ctx context.Context, ws memdb.WatchSet, st *state.Store, healthySince map[string]time.Time) (time.Time, error) {
	_, queries, err := st.PreparedQueryList(ws)
	if err != nil {
		return time.Time{}, err
	}
	var wake time.Time
	present := map[string]bool{}
	for _, q := range queries {
		if !q.Service.Failover.Sticky() || q.IsTemplate() {
			continue
		}
		present[q.ID] = true
		_, status, err := st.PreparedQueryFailoverGet(ws, q.ID)
		if err != nil {
			return time.Time{}, err
		}
		passing, err := stickyLocalPassing(ws, st, q)
		if err != nil {
			return time.Time{}, err
		}
		next, err := s.decideFailover(ctx, q, status, passing, healthySince)
		if err != nil {
			return time.Time{}, err
		}
		if !next.IsZero() && (wake.IsZero() || next.Before(wake)) {
			wake = next
		}
	}
	for id := range healthySince {
		if !present[id] {
			delete(healthySince, id)
		}
	}
	return wake, nil
}

// decideFailover applies the policy to one query with passing local
// instances.
func (s *Server) decideFailover(ctx context.Context, q *structs.PreparedQuery, status *structs.PreparedQueryFailoverStatus, passing int, healthySince map[string]time.Time) (time.Time, error) {
	f := &q.Service.Failover
	minPassing := f.MinPassingOrDefault()
	local := s.config.Datacenter
	now := time.Now().UTC()
	active := status != nil && status.Active
	if !active {
		delete(healthySince, q.ID)
		if passing >= minPassing {
			return time.Time{}, nil
		}
		targets := s.queryFailoverTargets(q)
		if len(targets) == 0 {
			// Nowhere to go: the local answer is all there is.
			return time.Time{}, nil
		}
		to := ""
		for _, dc := range targets {
			remote, err := s.executeRemote(ctx, dc, q, 0, structs.QueryOptions{})
			if err == nil && len(remote.Nodes) > 0 {
				to = dc
				break
			}
		}
		reason := fmt.Sprintf("%s has %s of %s, fewer than MinPassing %d", local, passingInstances(passing), q.Service.Service, minPassing)
		if to == "" {
			reason += "; no failover datacenter had passing instances when it switched"
		}
		next := structs.PreparedQueryFailoverStatus{QueryID: q.ID, Active: true, Datacenter: to, Since: now, Reason: reason}
		if err := s.writeFailoverStatus(next); err != nil {
			return time.Time{}, err
		}
		s.logger.Info("prepared query failed over", "query", queryLabel(q), "from", local, "to", to, "reason", reason)
		return time.Time{}, nil
	}
	if passing < minPassing {
		delete(healthySince, q.ID)
		return time.Time{}, nil
	}
	if f.FailbackMode == structs.FailbackManual {
		return time.Time{}, nil
	}
	since, ok := healthySince[q.ID]
	if !ok {
		since = now
		healthySince[q.ID] = now
	}
	delay := f.FailbackDelay()
	if due := since.Add(delay); now.Before(due) {
		return due, nil
	}
	reason := fmt.Sprintf("%s has had at least %s of %s for %s", local, passingInstances(minPassing), q.Service.Service, delay)
	if err := s.writeFailoverStatus(structs.PreparedQueryFailoverStatus{QueryID: q.ID, Since: now, Reason: reason}); err != nil {
		return time.Time{}, err
	}
	delete(healthySince, q.ID)
	s.logger.Info("prepared query failed back", "query", queryLabel(q), "from", status.Datacenter, "to", local, "reason", reason)
	return time.Time{}, nil
}

// passingInstances says "1 passing instance", "2 passing instances".
func passingInstances(n int) string {
	if n == 1 {
		return "1 passing instance"
	}
	return fmt.Sprintf("%d passing instances", n)
}

// stickyLocalPassing counts the local instances that pass the query's
// filters. ACLs do not count: the leader, which decides, has no caller,
// and the policy is about health, not about what a token may see (under
// default deny a query without a token would otherwise count none, and
// fail over for good). /failover shows the same count.
func stickyLocalPassing(ws memdb.WatchSet, st *state.Store, q *structs.PreparedQuery) (int, error) {
	_, nodes, err := queryNodes(ws, st, q)
	if err != nil {
		return 0, err
	}
	return len(nodes), nil
}

// queryLabel names a query in logs: its name, or its ID.
func queryLabel(q *structs.PreparedQuery) string {
	if q.Name != "" {
		return q.Name
	}
	return q.ID
}

func (s *Server) writeFailoverStatus(st structs.PreparedQueryFailoverStatus) error {
	_, err := s.raftApply(structs.PreparedQueryFailoverRequestType, &structs.PreparedQueryFailoverRequest{
		Op: structs.PreparedQueryFailoverSet, QueryID: st.QueryID, Status: st})
	if err != nil {
		return fmt.Errorf("write failover state of query %s: %w", st.QueryID, err)
	}
	return nil
}

// stickyQuery resolves a query (by ID or name; not a template) that has
// the sticky policy.
func stickyQuery(ws memdb.WatchSet, st *state.Store, idOrName string) (uint64, *structs.PreparedQuery, error) {
	idx, q, err := st.PreparedQueryResolve(ws, idOrName)
	if err != nil {
		return 0, nil, err
	}
	if q == nil {
		return idx, nil, structs.ErrQueryNotFound
	}
	if !q.Service.Failover.Sticky() || q.IsTemplate() {
		return idx, nil, structs.BadRequest("query %s has no sticky failover policy: set Failover.MinPassing, FailbackAfter or FailbackMode", queryLabel(q))
	}
	return idx, q, nil
}

// fillFailoverResponse reads a sticky query's state and local health.
func (p *PreparedQuery) fillFailoverResponse(ws memdb.WatchSet, st *state.Store, q *structs.PreparedQuery, reply *structs.PreparedQueryFailoverResponse) error {
	idx, status, err := st.PreparedQueryFailoverGet(ws, q.ID)
	if err != nil {
		return err
	}
	passing, err := stickyLocalPassing(ws, st, q)
	if err != nil {
		return err
	}
	f := &q.Service.Failover
	reply.Index = idx
	reply.Status = *p.s.displayFailoverStatus(q, status)
	reply.MinPassing = f.MinPassingOrDefault()
	reply.FailbackAfter = f.FailbackAfter
	reply.FailbackMode = f.FailbackMode
	if reply.FailbackMode == "" {
		reply.FailbackMode = structs.FailbackAuto
	}
	reply.LocalPassing = passing
	return nil
}

// FailoverStatus reads a sticky query's failover state (blocking on it).
func (p *PreparedQuery) FailoverStatus(ctx context.Context, args *structs.PreparedQuerySpecificRequest, reply *structs.PreparedQueryFailoverResponse) error {
	if done, err := p.s.forward(ctx, "PreparedQuery.FailoverStatus", args, args, reply); done {
		return err
	}
	authz, ident, err := p.s.ResolveToken(args.Token)
	if err != nil {
		return err
	}
	return p.s.blockingQuery(ctx, &args.QueryOptions, &reply.QueryMeta, func(ws memdb.WatchSet, st *state.Store) error {
		_, q, err := stickyQuery(ws, st, args.QueryID)
		if err != nil {
			return err
		}
		if prefix, ok := aclPrefix(q); ok {
			if err := checkACL(authz, ident, acl.ResourceQuery, prefix, acl.Read); err != nil {
				return err
			}
		}
		return p.fillFailoverResponse(ws, st, q, reply)
	})
}

// Failback returns a failed-over sticky query to the local datacenter now
// (FailbackMode manual, or to cut an auto FailbackAfter short). It is
// refused while the local datacenter has fewer than MinPassing passing
// instances; a query that is not failed over is left as it is.
func (p *PreparedQuery) Failback(ctx context.Context, args *structs.PreparedQueryFailoverRequest, reply *structs.PreparedQueryFailoverResponse) error {
	if done, err := p.s.forward(ctx, "PreparedQuery.Failback", args, args, reply); done {
		return err
	}
	if args.Op != structs.PreparedQueryFailoverFailback {
		return structs.BadRequest("invalid failover operation %q", args.Op)
	}
	authz, ident, err := p.s.ResolveToken(args.Token)
	if err != nil {
		return err
	}
	st := p.s.fsm.State()
	_, q, err := stickyQuery(nil, st, args.QueryID)
	if err != nil {
		return err
	}
	if prefix, ok := aclPrefix(q); ok {
		if err := checkACL(authz, ident, acl.ResourceQuery, prefix, acl.Write); err != nil {
			return err
		}
	}
	if err := p.fillFailoverResponse(nil, st, q, reply); err != nil {
		return err
	}
	if !reply.Status.Active {
		p.s.setQueryMeta(&structs.QueryOptions{}, &reply.QueryMeta)
		return nil
	}
	if reply.LocalPassing < reply.MinPassing {
		return structs.NewError(structs.CodeConflict, "Cannot fail back: %s has %s of %s, fewer than MinPassing %d",
			p.s.config.Datacenter, passingInstances(reply.LocalPassing), q.Service.Service, reply.MinPassing)
	}
	from := reply.Status.Datacenter
	next := structs.PreparedQueryFailoverStatus{QueryID: q.ID, Since: time.Now().UTC(), Reason: "manual failback"}
	if err := p.s.writeFailoverStatus(next); err != nil {
		return err
	}
	p.s.logger.Info("prepared query failed back", "query", queryLabel(q), "from", from, "to", p.s.config.Datacenter, "reason", "manual failback")
	if err := p.fillFailoverResponse(nil, p.s.fsm.State(), q, reply); err != nil {
		return err
	}
	p.s.setQueryMeta(&structs.QueryOptions{}, &reply.QueryMeta)
	return nil
}
