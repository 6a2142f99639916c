package server

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"reflect"
	"sort"
	"time"

	"github.com/hashicorp/go-memdb"
	metrics "github.com/hashicorp/go-metrics"
	"github.com/hashicorp/raft"
	"github.com/hashicorp/serf/coordinate"

	"github.com/meridian-sd/meridian/rpc"
	"github.com/meridian-sd/meridian/state"
	"github.com/meridian-sd/meridian/structs"
)

// Forwarding, as every endpoint uses it:
//
//	if done, err := s.forward(ctx, "Catalog.Register", args, args, reply); done {
//		return err
//	}
//
// forward decides; forwardDC and forwardLeader move the request.
//   - a request for another datacenter goes to one of its servers, chosen
//     by the router, trying the next on connection failure;
//   - a stale read is answered here;
//   - anything else is answered by the leader: here if this server leads,
//     otherwise forwarded to it, waiting up to RPCHoldTimeout for one to
//     be elected.
//
// ctx is the call's: a forwarded call ends when it ends (its caller hung
// up), which closes the forwarded stream, so the next server stops too.
//
// When this server answers, forward first runs the call's ACL check
// (aclPreCheck): a refusal is returned as done.
func (s *Server) forward(ctx context.Context, method string, info structs.RPCInfo, args, reply any) (bool, error) {
	done, err := s.route(ctx, method, info, args, reply)
	if done {
		aclForwarded(ctx)
		return true, err
	}
	if err := s.aclPreCheck(ctx); err != nil {
		return true, err
	}
	return false, nil
}

// route is forward's decision: false to answer here.
func (s *Server) route(ctx context.Context, method string, info structs.RPCInfo, args, reply any) (bool, error) {
	dc := info.RequestDatacenter()
	if dc != "" && dc != s.config.Datacenter {
		return true, s.forwardDC(ctx, method, dc, args, reply)
	}
	if info.IsRead() && info.AllowStaleRead() {
		return false, nil
	}
	return s.forwardLeader(ctx, method, info, args, reply)
}

// forwardLeader sends the request to the leader, waiting for one within
// the hold timeout.
func (s *Server) forwardLeader(ctx context.Context, method string, info structs.RPCInfo, args, reply any) (bool, error) {
	deadline := time.Now().Add(s.config.RPCHoldTimeout)
	var lastErr error
	for {
		changed := s.leaderWatch.changed()
		if s.IsLeader() {
			return false, nil
		}
		leader := s.raft.Leader()
		if leader != "" {
			addr, err := leaderAddr(leader)
			if err != nil {
				return true, fmt.Errorf("leader address %q: %w", leader, err)
			}
			// The call ends with ctx, at its timeout, or when the server
			// shuts down.
			callCtx, cancel := context.WithTimeout(ctx, s.rpcTimeout(args))
			stop := context.AfterFunc(s.ctx, cancel)
			err = s.connPool.RPC(callCtx, s.config.Datacenter, addr, method, args, reply)
			stop()
			cancel()
			if err == nil || !rpc.CanRetry(args, err) {
				return true, rpc.MapRemoteError(err)
			}
			lastErr = err
		}
		if time.Now().After(deadline) {
			if lastErr != nil {
				s.logger.Debug("no reachable leader", "method", method, "error", lastErr)
			}
			return true, structs.ErrNoLeader
		}
		wait := s.config.RPCHoldTimeout / 32
		wait += time.Duration(rand.Int64N(int64(wait) + 1))
		select {
		case <-s.ctx.Done():
			return true, errShutdown
		case <-ctx.Done():
			return true, fmt.Errorf("%s: %w", method, ctx.Err())
		case <-time.After(wait):
		case <-changed:
		}
	}
}

// forwardDC sends the request to a server of another datacenter. Servers
// are tried in the router's order within one cross-DC deadline: the next
// one after a failure to reach a server (even a dial timeout, which leaves
// the request unsent), after a read that broke off, and after a read that a
// server refused for want of a leader; never after a write that may have
// been applied.
func (s *Server) forwardDC(ctx context.Context, method, dc string, args, reply any) error {
	info, _ := args.(structs.RPCInfo)
	isRead := info != nil && info.IsRead()
	needLeader := !isRead || !info.AllowStaleRead()
	servers, ok := s.router.Route(dc, needLeader, s.wanCoordinate(), s.wanCoordinateOf)
	if !ok {
		return structs.ErrNoDCPath
	}
	if len(servers) == 0 {
		return structs.ErrDCNoServers
	}
	s.metrics.IncrCounterWithLabels([]string{"rpc", "cross-dc"}, 1, []metrics.Label{{Name: "datacenter", Value: dc}})
	if needLeader {
		// Only the leader answers it: straight there when it is known.
		servers = s.router.LeaderFirst(dc, servers)
	}
	deadline := time.Now().Add(s.config.CrossDCTimeout + s.blockingTime(args))
	var lastErr, noLeader error
	for _, srv := range servers {
		callCtx, cancel := s.callContext(ctx)
		callCtx, cancelDeadline := context.WithDeadline(callCtx, deadline)
		err := s.connPool.RPC(callCtx, dc, srv.Addr, method, args, reply)
		spent := callCtx.Err() != nil
		cancelDeadline()
		cancel()
		if err == nil || rpc.IsRemoteError(err) {
			err = rpc.MapRemoteError(err)
			// Only a missing leader counts against the DC; other errors
			// are the caller's (bad input, a failed CAS).
			if !errors.Is(err, structs.ErrNoLeader) {
				s.router.NoteResult(dc, srv, true, err != nil || replyKnowsLeader(reply), nil)
				return err
			}
			s.router.NoteNoLeader(dc, srv, err)
			// Another server of dc may know the leader: a read is
			// asked again of the next one while time is left. A write
			// is not: raftApply answers the same error when the leader
			// lost its leadership after taking the write, which may
			// still be applied.
			if !isRead || spent || s.ctx.Err() != nil || ctx.Err() != nil {
				return err
			}
			noLeader = err
			s.logger.Debug("remote server knows no leader, trying next server", "dc", dc, "server", srv.Name)
			continue
		}
		if spent && noLeader != nil && ctx.Err() == nil {
			// The deadline, most of it spent by a server without a
			// leader, cut this one short: that is no sign that it is
			// unreachable, and the answer stays the first one's.
			break
		}
		s.router.NoteResult(dc, srv, false, false, err)
		lastErr = err
		var ce *rpc.CallError
		if errors.As(err, &ce) && ce.Sent && !isRead {
			// A write that may have been applied: trying another server
			// could apply it twice.
			return err
		}
		if spent || s.ctx.Err() != nil || ctx.Err() != nil {
			break
		}
		s.logger.Debug("forward to remote dc failed, trying next server", "dc", dc, "server", srv.Name, "error", err)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("forward %s to datacenter %s: %w", method, dc, ctx.Err())
	}
	if noLeader != nil {
		// A server answered; none of those reached knew a leader.
		return noLeader
	}
	s.logger.Warn("no server of remote datacenter answered", "dc", dc, "error", lastErr)
	return structs.ErrDCNoServers
}

// leaderAddr is the TCP address of the leader raft names: an IP and
// port, parsed without the resolver (this runs for every forwarded call);
// anything else goes through net.ResolveTCPAddr as before.
func leaderAddr(leader raft.ServerAddress) (*net.TCPAddr, error) {
	if ap, err := netip.ParseAddrPort(string(leader)); err == nil {
		return net.TCPAddrFromAddrPort(ap), nil
	}
	return net.ResolveTCPAddr("tcp", string(leader))
}

// replyKnowsLeader reads, from a successful reply, whether the answering
// server knew a leader: from the QueryMeta of reads, from the address of
// Status.Leader; a write that succeeded had one.
func replyKnowsLeader(reply any) bool {
	if addr, ok := reply.(*string); ok {
		return *addr != ""
	}
	v := reflect.ValueOf(reply)
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	if v.Kind() == reflect.Struct {
		if f := v.FieldByName("QueryMeta"); f.IsValid() {
			if m, ok := f.Interface().(structs.QueryMeta); ok {
				return m.KnownLeader
			}
		}
	}
	return true
}

// queryOptionser is a request embedding structs.QueryOptions.
type queryOptionser interface {
	GetQueryOptions() *structs.QueryOptions
}

func (s *Server) blockingTime(args any) time.Duration {
	v := reflect.ValueOf(args)
	if qo, ok := args.(queryOptionser); ok && v.Kind() == reflect.Pointer && !v.IsNil() {
		// The common case, without looking the field up: a pointer to a
		// request embedding the options.
		return s.blockingWait(qo.GetQueryOptions())
	}
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return 0
	}
	f := v.FieldByName("QueryOptions")
	if !f.IsValid() {
		return 0
	}
	q, ok := f.Interface().(structs.QueryOptions)
	if !ok {
		return 0
	}
	return s.blockingWait(&q)
}

// blockingWait is how long a query with options q may block, jitter
// included; 0 when it does not block.
func (s *Server) blockingWait(q *structs.QueryOptions) time.Duration {
	if q.MinQueryIndex == 0 {
		return 0
	}
	wait := s.config.queryWait(q.MaxQueryTime)
	return wait + wait/structs.JitterFraction
}

func (s *Server) rpcTimeout(args any) time.Duration {
	return s.config.RPCTimeout + s.blockingTime(args)
}

func (s *Server) wanCoordinate() *coordinate.Coordinate {
	c, err := s.wan().Serf().GetCoordinate()
	if err != nil {
		return nil
	}
	return c
}

func (s *Server) wanCoordinateOf(member string) (*coordinate.Coordinate, bool) {
	return s.wan().Serf().GetCachedCoordinate(member)
}

// Bounds of one Raft write: enqueueing it, and waiting for its outcome.
const (
	raftApplyTimeout = 30 * time.Second
	raftApplyWait    = 2 * time.Minute
)

// await waits for a Raft future. hashicorp/raft can lose a future that
// was accepted before it shut down (hashicorp/raft#498): its Error() then
// never returns, which hung requests and the server's own shutdown. So
// the wait also ends on the server's shutdown and after raftApplyWait;
// the waiting goroutine ends when the future resolves, and is abandoned
// only when Raft lost it.
func (s *Server) await(f raft.Future, what string) error {
	lost, err := s.wait(f)
	if lost {
		return errNoOutcome(what)
	}
	return err
}

// wait is await without the words: lost is true when raftApplyWait
// passed without an outcome.
func (s *Server) wait(f raft.Future) (lost bool, err error) {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return false, err
	case <-s.ctx.Done():
		return false, errShutdown
	case <-time.After(raftApplyWait):
		return true, nil
	}
}

// errNoOutcome is await's error for a future without an outcome.
func errNoOutcome(what string) error {
	return fmt.Errorf("%s: no outcome after %s; it may or may not have taken effect", what, raftApplyWait)
}

// queryFn reads from the store, adding what it reads to ws.
type queryFn func(ws memdb.WatchSet, st *state.Store) error

// blockingQuery runs fn, and when the request carries an index, runs it
// again each time something it read changes until the result's index
// passes the request's, or the wait is over: the request's, or
// DefaultQueryTime when it names none, capped at MaxQueryTime, plus up to
// a JitterFraction of it.
//
// It also ends, answering what it has, as soon as ctx ends: the call's
// caller hung up (its stream closed) or the server is shutting down.
func (s *Server) blockingQuery(ctx context.Context, opts *structs.QueryOptions, meta *structs.QueryMeta, fn queryFn) error {
	switch {
	case opts.RequireConsistent:
		if err := s.consistentRead(); err != nil {
			return err
		}
	case !opts.AllowStale:
		// Answered by the leader: only once it has caught up.
		if err := s.waitReady(); err != nil {
			return err
		}
	}
	// waitCtx, made for a blocking query only, ends when the wait is
	// over, the caller hangs up or the server shuts down.
	var waitCtx context.Context
	if opts.MinQueryIndex > 0 {
		wait := s.config.queryWait(opts.MaxQueryTime)
		wait += time.Duration(rand.Int64N(int64(wait/structs.JitterFraction) + 1))
		s.blockingQueries.Add(1)
		defer s.blockingQueries.Add(-1)
		s.metrics.IncrCounter([]string{"rpc", "query"}, 1)
		var cancel context.CancelFunc
		waitCtx, cancel = context.WithTimeout(ctx, wait)
		defer cancel()
		defer context.AfterFunc(s.ctx, cancel)()
	}
	for {
		st := s.fsm.State()
		ws := memdb.NewWatchSet()
		ws.Add(st.AbandonCh())
		err := fn(ws, st)
		s.setQueryMeta(opts, meta)
		if err != nil {
			return err
		}
		if meta.Index < 1 {
			meta.Index = 1
		}
		// Done when not blocking or when the index moved past the
		// client's. An index below the client's (its index came from
		// another server, or from before a snapshot restore) blocks too,
		// as Consul's does: the wait is bounded, and clients reset an
		// index that goes backwards.
		if opts.MinQueryIndex == 0 || meta.Index > opts.MinQueryIndex {
			return nil
		}
		if err := ws.WatchCtx(waitCtx); err != nil {
			// Timed out, the caller is gone, or shutting down: answer
			// with what we have.
			return nil
		}
		if opts.RequireConsistent {
			if err := s.consistentRead(); err != nil {
				return err
			}
		}
	}
}

// setQueryMeta fills in leader knowledge and consistency.
func (s *Server) setQueryMeta(opts *structs.QueryOptions, meta *structs.QueryMeta) {
	if s.IsLeader() {
		meta.LastContact = 0
		meta.KnownLeader = true
	} else {
		meta.LastContact = time.Since(s.raft.LastContact())
		meta.KnownLeader = s.raft.Leader() != ""
	}
	switch {
	case opts.AllowStale:
		meta.ConsistencyLevel = structs.ConsistencyStale
	case opts.RequireConsistent:
		meta.ConsistencyLevel = structs.ConsistencyConsistent
	default:
		meta.ConsistencyLevel = structs.ConsistencyLeader
	}
}

// errNotReadyForConsistentReads is returned when a new leader has not yet
// applied the entries of earlier terms within the hold timeout.
var errNotReadyForConsistentReads = errors.New("not ready to serve consistent reads: the new leader is still applying earlier entries")

// consistentRead makes sure this server still leads before a ?consistent
// read is answered, and that it has applied every entry committed before
// its term: a new leader learns that entries of earlier terms are
// committed only when an entry of its own term commits, and applies them
// after that, so until its leader loop's barrier has passed its state may
// lack writes that an earlier leader already acknowledged.
func (s *Server) consistentRead() error {
	if err := s.await(s.raft.VerifyLeader(), "verify leadership"); err != nil {
		return structs.ErrNoLeader
	}
	return s.waitReady()
}

// waitReady waits, up to RPCHoldTimeout, until this leader has applied
// every entry of earlier terms (its leader loop's barrier). Until then its
// state may lack writes that were committed and acknowledged before the
// election (a freshly restarted single server, say), so reads answered by
// the leader wait for it.
func (s *Server) waitReady() error {
	if s.readyForConsistentReads.Load() {
		return nil
	}
	deadline := time.Now().Add(s.config.RPCHoldTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-s.ctx.Done():
			return errShutdown
		case <-time.After(10 * time.Millisecond):
		}
		if s.readyForConsistentReads.Load() {
			return nil
		}
	}
	return errNotReadyForConsistentReads
}

// RPC calls an endpoint of this server in-process, with the same
// validation, recover and forwarding as a call arriving over the network.
func (s *Server) RPC(method string, args, reply any) error {
	return s.RPCContext(context.Background(), method, args, reply)
}

// RPCContext is RPC with the caller's context: a blocking query ends, and a
// forwarded call is abandoned, when ctx ends.
func (s *Server) RPCContext(ctx context.Context, method string, args, reply any) error {
	return s.dispatcher.Call(ctx, method, args, reply)
}

// callContext returns a context that ends when ctx or the server's ends.
func (s *Server) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.ctx, cancel)
	return ctx, func() {
		stop()
		cancel()
	}
}

// sortedDCs returns the known datacenters sorted by median WAN RTT from this
// server, the local one first.
func (s *Server) sortedDCs() []string {
	dcs := s.router.Datacenters()
	local := s.wanCoordinate()
	med := make(map[string]float64, len(dcs))
	for _, dc := range dcs {
		if dc == s.config.Datacenter {
			med[dc] = -1
			continue
		}
		var rtts []float64
		for _, m := range s.router.Members(dc) {
			if c, ok := s.wanCoordinateOf(m); ok && local != nil && c != nil && local.IsCompatibleWith(c) {
				rtts = append(rtts, local.DistanceTo(c).Seconds())
			}
		}
		if len(rtts) == 0 {
			med[dc] = 1e9
			continue
		}
		sort.Float64s(rtts)
		med[dc] = rtts[len(rtts)/2]
	}
	sort.SliceStable(dcs, func(i, j int) bool {
		if med[dcs[i]] != med[dcs[j]] {
			return med[dcs[i]] < med[dcs[j]]
		}
		return dcs[i] < dcs[j]
	})
	return dcs
}
