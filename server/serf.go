package server

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strconv"
	"time"

	"github.com/hashicorp/raft"
	"github.com/hashicorp/serf/serf"

	"github.com/meridian-sd/meridian/gossip"
	"github.com/meridian-sd/meridian/structs"
)

// lanEvent handles LAN pool events; it runs on the pool's event goroutine.
func (s *Server) lanEvent(e serf.Event) {
	if ue, ok := e.(serf.UserEvent); ok {
		s.userEvent(ue)
		return
	}
	me, ok := e.(serf.MemberEvent)
	if !ok {
		return
	}
	for _, m := range me.Members {
		switch me.Type {
		case serf.EventMemberJoin, serf.EventMemberUpdate:
			s.addLocalServer(m)
		case serf.EventMemberLeave, serf.EventMemberReap:
			s.removeLocalServer(m)
		case serf.EventMemberFailed:
			s.addLocalServer(m) // keep it, with its failed status
		}
		s.reconcileMember(memberChange{member: m, reaped: me.Type == serf.EventMemberReap})
	}
	if me.Type == serf.EventMemberJoin {
		s.triggerFlood()
		s.triggerBootstrap()
	}
}

// wanEvent handles WAN pool events.
func (s *Server) wanEvent(e serf.Event) {
	me, ok := e.(serf.MemberEvent)
	if !ok {
		return
	}
	for _, m := range me.Members {
		switch me.Type {
		case serf.EventMemberJoin, serf.EventMemberUpdate:
			s.router.AddServer(m)
		case serf.EventMemberFailed:
			s.router.FailServer(m)
		case serf.EventMemberLeave, serf.EventMemberReap:
			s.router.RemoveServer(m)
		}
	}
	// A new WAN peer (after `join -wan`, say) is the moment to bring the
	// other servers of this datacenter into the WAN pool, so that one
	// join per datacenter federates every server.
	if me.Type == serf.EventMemberJoin {
		s.triggerFlood()
	}
}

func (s *Server) addLocalServer(m serf.Member) {
	meta, ok := gossip.IsServer(m)
	if !ok || meta.Datacenter != s.config.Datacenter {
		return
	}
	s.localLock.Lock()
	s.localServers[raft.ServerAddress(meta.Addr.String())] = meta
	s.localLock.Unlock()
}

func (s *Server) removeLocalServer(m serf.Member) {
	meta, ok := gossip.IsServer(m)
	if !ok {
		return
	}
	s.localLock.Lock()
	delete(s.localServers, raft.ServerAddress(meta.Addr.String()))
	s.localLock.Unlock()
}

// memberChange is a LAN member event for the leader: the member, and
// whether serf reaped it (gone for good, whatever its last status).
type memberChange struct {
	member serf.Member
	reaped bool
}

// reconcileMember hands a member change to the leader loop. Only the leader
// consumes the channel; a full channel is fine because the leader also
// reconciles everything periodically.
func (s *Server) reconcileMember(m memberChange) {
	if !s.IsLeader() {
		return
	}
	select {
	case s.reconcileCh <- m:
	default:
	}
}

func (s *Server) triggerFlood() {
	select {
	case s.floodCh <- struct{}{}:
	default:
	}
}

func (s *Server) triggerBootstrap() {
	select {
	case s.bootstrapCh <- struct{}{}:
	default:
	}
}

// floodLoop joins every server of this datacenter to the WAN pool, so that
// `join -wan` is needed once per datacenter rather than once per server.
// Each server does it, on LAN and WAN joins and periodically.
func (s *Server) floodLoop(ctx context.Context) {
	t := time.NewTicker(s.config.FloodInterval)
	defer t.Stop()
	// remote holds the servers of other datacenters seen so far.
	remote := make(map[string]bool)
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.floodCh:
		case <-t.C:
		}
		s.floodJoin(s.newRemoteServers(remote))
	}
}

// newRemoteServers reports whether the WAN pool holds a live server of
// another datacenter that is not in seen, and adds them to seen.
func (s *Server) newRemoteServers(seen map[string]bool) bool {
	fresh := false
	for _, m := range s.wan().Members() {
		meta, ok := gossip.IsServer(m)
		if !ok || m.Status != serf.StatusAlive || meta.Datacenter == s.config.Datacenter || seen[m.Name] {
			continue
		}
		seen[m.Name] = true
		fresh = true
	}
	return fresh
}

// floodJoin joins the live servers of this datacenter that are missing
// from the WAN pool. With all, it joins those already in it as well: a
// join is a full state exchange, and it is how servers of another
// datacenter that this server just learnt of reach its local peers at
// once. Gossip alone spreads them only probabilistically (a few
// retransmissions to random members, all spent in one round in a small
// pool), leaving the rest to the WAN push/pull every minute.
func (s *Server) floodJoin(all bool) {
	if s.leaving.Load() || s.wanLeft.Load() {
		return
	}
	inWAN := make(map[string]bool)
	for _, m := range s.wan().Members() {
		if m.Status == serf.StatusAlive || m.Status == serf.StatusFailed {
			inWAN[m.Name] = true
		}
	}
	// As Consul's, the servers of a datacenter join each other's WAN pool
	// even before any other datacenter is known: one `join -wan` of any of
	// them then merges every server of both datacenters.
	for _, m := range s.serfLAN.Members() {
		meta, ok := gossip.IsServer(m)
		if !ok || m.Status != serf.StatusAlive || meta.Datacenter != s.config.Datacenter {
			continue
		}
		if meta.Name == s.config.NodeName || meta.WANJoinPort == 0 {
			continue
		}
		member := inWAN[gossip.WANName(meta.Name, meta.Datacenter)]
		if member && !all {
			continue
		}
		addr := net.JoinHostPort(m.Addr.String(), strconv.Itoa(meta.WANJoinPort))
		if _, err := s.wan().Join([]string{addr}, s.config.SerfWANDefaultPort); err != nil {
			s.logger.Debug("flood join to wan failed", "server", meta.Name, "addr", addr, "error", err)
			continue
		}
		if member {
			s.logger.Debug("exchanged wan state with server", "server", meta.Name, "addr", addr)
			continue
		}
		s.logger.Info("flood-joined server to the wan pool", "server", meta.Name, "addr", addr)
	}
}

// bootstrapLoop implements -bootstrap-expect: once the expected number of
// servers is seen in the LAN pool, and none of them has Raft state, every
// one of them bootstraps with the same configuration.
func (s *Server) bootstrapLoop(ctx context.Context) {
	if s.config.BootstrapExpect == 0 {
		return
	}
	retry := time.NewTicker(time.Second)
	defer retry.Stop()
	for !s.bootstrapped.Load() {
		select {
		case <-ctx.Done():
			return
		case <-s.bootstrapCh:
		case <-retry.C:
		}
		done, err := s.maybeBootstrap(ctx)
		if err != nil {
			s.logger.Error("bootstrap-expect", "error", err)
		}
		if done {
			if fast := s.bootstrappedConf; fast != nil {
				s.fastFirstElection(ctx, *fast)
			}
			return
		}
	}
}

// maybeBootstrap returns true when bootstrapping is settled: done, or not
// needed because some server already has state.
func (s *Server) maybeBootstrap(ctx context.Context) (bool, error) {
	index := s.raft.LastIndex()
	if index > 0 {
		s.bootstrapped.Store(true)
		return true, nil
	}
	var servers []*gossip.ServerMeta
	for _, m := range s.serfLAN.Members() {
		if m.Status != serf.StatusAlive {
			continue
		}
		meta, ok := gossip.IsServer(m)
		if !ok || meta.Datacenter != s.config.Datacenter {
			continue
		}
		if meta.Bootstrap {
			return true, fmt.Errorf("server %s runs with -bootstrap; not bootstrapping with -bootstrap-expect", meta.Name)
		}
		if meta.Expect != s.config.BootstrapExpect {
			return false, fmt.Errorf("server %s expects %d servers but this one expects %d; refusing to bootstrap until they agree", meta.Name, meta.Expect, s.config.BootstrapExpect)
		}
		servers = append(servers, meta)
	}
	if len(servers) < s.config.BootstrapExpect {
		s.logger.Debug("waiting for servers to bootstrap", "have", len(servers), "expect", s.config.BootstrapExpect)
		return false, nil
	}
	// Ask every peer whether it already has Raft state: a server restarted
	// with an empty data dir must join the existing cluster, never start a
	// second one.
	for _, srv := range servers {
		if srv.ID == s.config.NodeID {
			continue
		}
		var reply structs.RaftStats
		args := &structs.StatusRequest{Datacenter: s.config.Datacenter}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := s.connPool.RPC(cctx, s.config.Datacenter, srv.Addr, "Status.RaftStats", args, &reply)
		cancel()
		if err != nil {
			return false, fmt.Errorf("ask %s for its raft state: %w", srv.Name, err)
		}
		if reply.LastIndex > 0 {
			s.logger.Info("existing raft state found on a peer; not bootstrapping", "peer", srv.Name)
			s.bootstrapped.Store(true)
			return true, nil
		}
	}
	conf := raft.Configuration{}
	for _, srv := range servers {
		conf.Servers = append(conf.Servers, raft.Server{
			Suffrage: raft.Voter,
			ID:       raft.ServerID(srv.ID),
			Address:  raft.ServerAddress(srv.Addr.String()),
		})
	}
	if err := s.await(s.raft.BootstrapCluster(conf), "bootstrap raft"); err != nil {
		if err == raft.ErrCantBootstrap {
			s.bootstrapped.Store(true)
			return true, nil
		}
		return false, fmt.Errorf("bootstrap raft: %w", err)
	}
	s.logger.Info("bootstrapped the cluster", "servers", len(servers))
	s.bootstrappedConf = &conf
	s.bootstrapped.Store(true)
	return true, nil
}

// fastFirstElection gets a cluster that this server just bootstrapped its
// first leader without waiting out a steady-state heartbeat timeout (5 to
// 10 s with the default raft_multiplier of 5, doing nothing but wait, since
// no server has a leader to hear from). A server lowers its heartbeat and
// election timeouts to the leader lease timeout, the least that raft
// accepts without shortening the lease; raft answers a lowered heartbeat
// timeout by checking for a leader at once, and, finding none, the server
// asks for votes. So that the servers do not all stand at once and split
// the vote, they take turns by ID: the first in the bootstrap
// configuration at once, the next a quarter lease later if no leader is
// known by then (the first may not have bootstrapped itself: it found a
// peer's state first), and so on. Once any leader is known, the timeouts
// go back to the configured ones: steady-state timings are never
// shortened.
// minFastElectionTimeout is the least timeout fastFirstElection lowers
// to (the lease at raft_multiplier 1): below it a vote's round trip on a
// loaded machine may not fit, and elections would churn instead of
// ending sooner.
const minFastElectionTimeout = 500 * time.Millisecond

func (s *Server) fastFirstElection(ctx context.Context, conf raft.Configuration) {
	ids := make([]string, 0, len(conf.Servers))
	for _, srv := range conf.Servers {
		ids = append(ids, string(srv.ID))
	}
	sort.Strings(ids)
	rank := sort.SearchStrings(ids, s.config.NodeID)
	if rank == len(ids) || ids[rank] != s.config.NodeID {
		return
	}
	steady := s.raft.ReloadableConfig()
	fast := steady
	fast.HeartbeatTimeout = s.config.RaftConfig.LeaderLeaseTimeout
	fast.ElectionTimeout = fast.HeartbeatTimeout
	if fast.HeartbeatTimeout >= steady.HeartbeatTimeout || fast.HeartbeatTimeout < minFastElectionTimeout {
		return
	}
	ticker := time.NewTicker(10 * time.Millisecond)
	defer ticker.Stop()
	turn := time.NewTimer(time.Duration(rank) * fast.HeartbeatTimeout / 4)
	defer turn.Stop()
	for waiting := true; waiting; {
		if s.raft.Leader() != "" {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-turn.C:
			waiting = false
		case <-ticker.C:
		}
	}
	if err := s.raft.ReloadConfig(fast); err != nil {
		s.logger.Warn("cannot shorten the first election's timeouts", "error", err)
		return
	}
	s.logger.Info("standing for the first election", "heartbeat_timeout", fast.HeartbeatTimeout, "turn", rank)
	// Back to the configured timeouts once a leader is known, or after a
	// steady-state election's worth of time without one (another server
	// may have won while this one did not hear of it yet): the short
	// timeouts are for the first election only.
	giveUp := time.NewTimer(2 * (steady.HeartbeatTimeout + steady.ElectionTimeout))
	defer giveUp.Stop()
wait:
	for s.raft.Leader() == "" {
		select {
		case <-ctx.Done():
			return
		case <-giveUp.C:
			break wait
		case <-ticker.C:
		}
	}
	if err := s.raft.ReloadConfig(steady); err != nil {
		s.logger.Error("cannot restore the raft timeouts after the first election", "error", err)
		return
	}
	s.logger.Debug("first election over; raft timeouts restored", "heartbeat_timeout", steady.HeartbeatTimeout, "election_timeout", steady.ElectionTimeout)
}
