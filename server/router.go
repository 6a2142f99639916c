package server

import (
	"math"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/serf/coordinate"
	"github.com/hashicorp/serf/serf"

	"github.com/meridian-sd/meridian/gossip"
)

// Router keeps, from WAN pool events, the servers of every datacenter and
// picks which one a forwarded request goes to.
//
// Rules, as operators of several datacenters expect them:
//   - a server that left is removed at once; a datacenter whose servers
//     have all left disappears;
//   - a gossip "failed" mark alone does not remove a server (soft fail):
//     it is tried after the healthy ones, because the WAN failure detector
//     is slow and often wrong across lossy links;
//   - within a datacenter, servers are tried in RTT order, skipping for a
//     while one whose last RPC failed, so that traffic moves away from a
//     bad server but comes back once it recovers.
type Router struct {
	localDC string
	logger  hclog.Logger

	mu  sync.RWMutex
	dcs map[string]*dcRoute
	now func() time.Time
}

type dcRoute struct {
	servers map[string]*routeServer // by WAN member name
	// status of the last forwarded request, for the federation view
	lastContact time.Time
	lastError   string
	lastErrorAt time.Time
	leaderOK    bool
	// leaderAddr is the RPC address of the datacenter's leader, as the
	// federation probe last learnt it; empty when unknown.
	leaderAddr string
}

type routeServer struct {
	meta   *gossip.ServerMeta
	member string
	failed bool // gossip says failed
	// rpcFailedAt is the time of the last failed RPC; zero when the last
	// one succeeded.
	rpcFailedAt time.Time
	// noLeaderAt is when the server last answered that it knows no
	// leader; zero once it answers knowing one, or the federation probe
	// learns it is the leader.
	noLeaderAt time.Time
}

// rpcFailurePenalty is how long a server whose RPC failed is tried only
// after the others.
const rpcFailurePenalty = 30 * time.Second

// NewRouter returns an empty router for a server of localDC.
func NewRouter(localDC string, logger hclog.Logger) *Router {
	return &Router{localDC: localDC, logger: logger, dcs: make(map[string]*dcRoute), now: time.Now}
}

// AddServer adds or updates a WAN member.
func (r *Router) AddServer(m serf.Member) {
	meta, ok := gossip.IsServer(m)
	if !ok {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	dc := r.dcs[meta.Datacenter]
	if dc == nil {
		dc = &dcRoute{servers: make(map[string]*routeServer)}
		r.dcs[meta.Datacenter] = dc
	}
	rs := dc.servers[m.Name]
	if rs == nil {
		rs = &routeServer{member: m.Name}
		dc.servers[m.Name] = rs
	}
	rs.meta = meta
	rs.failed = m.Status == serf.StatusFailed
}

// Reset forgets every server but self (a server that left the WAN pool).
func (r *Router) Reset(self serf.Member) {
	r.mu.Lock()
	r.dcs = make(map[string]*dcRoute)
	r.mu.Unlock()
	r.AddServer(self)
}

// FailServer marks a member failed by gossip; it stays routable.
func (r *Router) FailServer(m serf.Member) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, dc := range r.dcs {
		if rs, ok := dc.servers[m.Name]; ok {
			rs.failed = true
		}
	}
}

// RemoveServer drops a member that left or was reaped.
func (r *Router) RemoveServer(m serf.Member) { r.RemoveServerByName(m.Name) }

// RemoveServerByName drops a member by WAN name.
func (r *Router) RemoveServerByName(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for dcName, dc := range r.dcs {
		delete(dc.servers, name)
		if len(dc.servers) == 0 {
			delete(r.dcs, dcName)
		}
	}
}

// Datacenters lists the known datacenters.
func (r *Router) Datacenters() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.dcs))
	for dc := range r.dcs {
		out = append(out, dc)
	}
	sort.Strings(out)
	return out
}

// HasDatacenter reports whether dc is known.
func (r *Router) HasDatacenter(dc string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	_, ok := r.dcs[dc]
	return ok
}

// CoordFunc returns the cached WAN coordinate of a member.
type CoordFunc func(member string) (*coordinate.Coordinate, bool)

// Route returns dc's servers in the order to try them: healthy; then,
// for a request only a leader answers (needLeader), those that lately
// answered that they know no leader; then gossip-failed; then those whose
// last forwarded call failed lately; and by RTT within each group. A
// server without a leader still answers stale reads at once, so for those
// it keeps its place. The second result is false when the datacenter is
// unknown.
func (r *Router) Route(dc string, needLeader bool, local *coordinate.Coordinate, coord CoordFunc) ([]*gossip.ServerMeta, bool) {
	r.mu.RLock()
	route, ok := r.dcs[dc]
	if !ok {
		r.mu.RUnlock()
		return nil, false
	}
	now := r.now()
	type cand struct {
		meta  *gossip.ServerMeta
		group int
		rtt   float64
	}
	cands := make([]cand, 0, len(route.servers))
	for _, rs := range route.servers {
		c := cand{meta: rs.meta, rtt: math.Inf(1)}
		switch {
		case rs.failedLately(now):
			c.group = 3
		case rs.failed:
			c.group = 2
		case needLeader && rs.knewNoLeader(now):
			c.group = 1
		}
		if local != nil && coord != nil {
			if other, ok := coord(rs.member); ok && other != nil && local.IsCompatibleWith(other) {
				c.rtt = local.DistanceTo(other).Seconds()
			}
		}
		cands = append(cands, c)
	}
	r.mu.RUnlock()
	sort.Slice(cands, func(i, j int) bool {
		if cands[i].group != cands[j].group {
			return cands[i].group < cands[j].group
		}
		if cands[i].rtt != cands[j].rtt {
			return cands[i].rtt < cands[j].rtt
		}
		return cands[i].meta.Name < cands[j].meta.Name
	})
	out := make([]*gossip.ServerMeta, len(cands))
	for i, c := range cands {
		out[i] = c.meta
	}
	return out, true
}

// NoteResult records the outcome of a forwarded RPC to a server of dc.
// reached says whether the server answered at all (an unreachable server is
// tried after the others for a while); leaderOK whether the answer came from
// a server that knows a leader; err is the error, if any, kept for the
// federation view until the next answer.
func (r *Router) NoteResult(dc string, srv *gossip.ServerMeta, reached, leaderOK bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	route, ok := r.dcs[dc]
	if !ok {
		return
	}
	now := r.now()
	var rs *routeServer
	if srv != nil {
		rs = route.servers[gossip.WANName(srv.Name, dc)]
	}
	route.leaderOK = reached && leaderOK
	if reached {
		route.lastContact = now
		if rs != nil {
			rs.rpcFailedAt = time.Time{}
			if leaderOK {
				rs.noLeaderAt = time.Time{}
			}
		}
	} else if rs != nil {
		rs.rpcFailedAt = now
	}
	if err != nil {
		route.lastError = err.Error()
		route.lastErrorAt = now
	} else if reached {
		route.lastError = ""
		route.lastErrorAt = time.Time{}
	}
}

// NoteNoLeader records that srv, a server of dc, answered that it knows
// no leader. For a while it is asked for what only a leader answers after
// its healthy peers, though before gossip-failed and unreachable servers:
// when other servers of dc know the leader, it was cut off from its
// datacenter (or missed the end of an election), and asking it first
// would cost every such request its wait for a leader.
func (r *Router) NoteNoLeader(dc string, srv *gossip.ServerMeta, err error) {
	r.NoteResult(dc, srv, true, false, err)
	r.mu.Lock()
	defer r.mu.Unlock()
	if route, ok := r.dcs[dc]; ok && srv != nil {
		if rs := route.servers[gossip.WANName(srv.Name, dc)]; rs != nil {
			rs.noLeaderAt = r.now()
		}
	}
}

// failedLately reports whether a forwarded call to the server failed
// within the penalty period before now.
func (rs *routeServer) failedLately(now time.Time) bool {
	return !rs.rpcFailedAt.IsZero() && now.Sub(rs.rpcFailedAt) < rpcFailurePenalty
}

// knewNoLeader reports whether the server answered, within the penalty
// period before now, that it knew no leader.
func (rs *routeServer) knewNoLeader(now time.Time) bool {
	return !rs.noLeaderAt.IsZero() && now.Sub(rs.noLeaderAt) < rpcFailurePenalty
}

// DCStatus is one datacenter as the router sees it.
type DCStatus struct {
	Datacenter    string
	ServersKnown  int
	ServersAlive  int
	Servers       []string
	LastContact   time.Time
	LastError     string
	LastErrorTime time.Time
	LeaderOK      bool
}

// Status returns every datacenter's status, sorted by name.
func (r *Router) Status() []DCStatus {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]DCStatus, 0, len(r.dcs))
	for name, dc := range r.dcs {
		st := DCStatus{
			Datacenter:    name,
			ServersKnown:  len(dc.servers),
			LastContact:   dc.lastContact,
			LastError:     dc.lastError,
			LastErrorTime: dc.lastErrorAt,
			LeaderOK:      dc.leaderOK,
		}
		for _, rs := range dc.servers {
			if !rs.failed {
				st.ServersAlive++
			}
			st.Servers = append(st.Servers, rs.member)
		}
		sort.Strings(st.Servers)
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Datacenter < out[j].Datacenter })
	return out
}

// Members returns the WAN member names of dc's servers.
func (r *Router) Members(dc string) []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	route, ok := r.dcs[dc]
	if !ok {
		return nil
	}
	out := make([]string, 0, len(route.servers))
	for name := range route.servers {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// SetLeader records the RPC address of dc's leader (empty: unknown). The
// leader knows a leader again, whatever it answered before.
func (r *Router) SetLeader(dc, addr string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	route, ok := r.dcs[dc]
	if !ok {
		return
	}
	route.leaderAddr = addr
	if addr == "" {
		return
	}
	for _, rs := range route.servers {
		if rs.meta != nil && rs.meta.Addr != nil && rs.meta.Addr.String() == addr {
			rs.noLeaderAt = time.Time{}
		}
	}
}

// Leader is the RPC address of dc's leader, "" when unknown.
func (r *Router) Leader(dc string) string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if route, ok := r.dcs[dc]; ok {
		return route.leaderAddr
	}
	return ""
}

// Known reports whether dc is in the router.
func (r *Router) Known(dc string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	_, ok := r.dcs[dc]
	return ok
}

// LeaderFirst moves dc's leader, when it is known and in good standing
// (not failed in gossip, nor lately failing RPCs or answering that it
// knows no leader), to the front of
// servers, an order from Route, so that a request only the leader can
// answer reaches it in one hop instead of through another server.
func (r *Router) LeaderFirst(dc string, servers []*gossip.ServerMeta) []*gossip.ServerMeta {
	r.mu.RLock()
	defer r.mu.RUnlock()
	route, ok := r.dcs[dc]
	if !ok || route.leaderAddr == "" {
		return servers
	}
	for i, srv := range servers {
		if srv.Addr == nil || srv.Addr.String() != route.leaderAddr {
			continue
		}
		for _, rs := range route.servers {
			now := r.now()
			if rs.meta == srv && (rs.failed || rs.knewNoLeader(now) || rs.failedLately(now)) {
				return servers
			}
		}
		if i > 0 {
			out := make([]*gossip.ServerMeta, 0, len(servers))
			out = append(append(append(out, srv), servers[:i]...), servers[i+1:]...)
			return out
		}
		return servers
	}
	return servers
}
