package server

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/raft"
	autopilot "github.com/hashicorp/raft-autopilot"
	"github.com/hashicorp/serf/serf"

	"github.com/meridian-sd/meridian/gossip"
	"github.com/meridian-sd/meridian/rpc"
	"github.com/meridian-sd/meridian/structs"
)

// monitorLeadership starts the leader loop when this server wins an
// election and stops it when leadership is lost.
func (s *Server) monitorLeadership(ctx context.Context) {
	var (
		stop   context.CancelFunc
		doneCh chan struct{}
	)
	stopLeader := func() {
		if stop != nil {
			stop()
			<-doneCh
			stop, doneCh = nil, nil
		}
	}
	defer stopLeader()
	for {
		select {
		case <-ctx.Done():
			return
		case isLeader := <-s.leaderNotify:
			if isLeader && stop == nil {
				lctx, cancel := context.WithCancel(ctx)
				stop = cancel
				doneCh = make(chan struct{})
				go func() {
					defer close(doneCh)
					s.leaderLoop(lctx)
				}()
				s.logger.Info("cluster leadership acquired")
			} else if !isLeader && stop != nil {
				stopLeader()
				s.logger.Info("cluster leadership lost")
			}
		}
	}
}

// leaderLoop runs the leader's duties until ctx ends: reconciling LAN
// membership into the catalog and the Raft configuration, session TTL
// timers, tombstone reaping and coordinate batches.
func (s *Server) leaderLoop(ctx context.Context) {
	reconcile := time.NewTicker(s.config.ReconcileInterval)
	defer reconcile.Stop()
	coords := time.NewTicker(s.config.CoordinateUpdatePeriod)
	defer coords.Stop()
	reap := time.NewTicker(s.config.TombstoneTTLGranularity)
	defer reap.Stop()
	reapTokens := time.NewTicker(s.acls.cfg.TokenReapInterval)
	defer reapTokens.Stop()
	defer s.sessionTimers.stopAll()
	defer s.readyForConsistentReads.Store(false)
	apDone := make(chan struct{})
	go func() {
		defer close(apDone)
		s.runAutopilot(ctx)
	}()
	defer func() { <-apDone }()
	if s.aclSecondary() {
		replDone := make(chan struct{})
		go func() {
			defer close(replDone)
			s.runACLReplication(ctx)
		}()
		defer func() { <-replDone }()
	}
	// Sticky prepared query failover (prepared_query_failover.go).
	failoverDone := make(chan struct{})
	go func() {
		defer close(failoverDone)
		s.runQueryFailover(ctx)
	}()
	defer func() { <-failoverDone }()

	established := false
	establish := func() {
		// The barrier makes sure every entry of earlier terms is applied
		// before the leader reads its own state.
		if err := s.await(s.raft.Barrier(time.Minute), "leader barrier"); err != nil {
			s.logger.Error("leader barrier failed", "error", err)
			return
		}
		if err := s.initSessionTimers(); err != nil {
			s.logger.Error("start session timers", "error", err)
			return
		}
		if err := s.initializeACLs(); err != nil {
			s.logger.Error("initialize ACLs", "error", err)
			return
		}
		if err := s.initAutopilotConfig(); err != nil {
			s.logger.Error("initialize autopilot", "error", err)
			return
		}
		established = true
		s.readyForConsistentReads.Store(true)
		s.reconcileAll()
	}
	establish()
	for {
		select {
		case <-ctx.Done():
			return
		case <-reconcile.C:
			if !established {
				establish()
				continue
			}
			s.reconcileAll()
		case mc := <-s.reconcileCh:
			if !established {
				continue
			}
			if mc.reaped {
				s.reconcileReaped(mc.member)
			} else {
				s.reconcileOne(mc.member)
			}
		case <-coords.C:
			s.flushCoordinates()
		case <-reap.C:
			s.reapTombstones()
		case <-reapTokens.C:
			if established {
				s.reapExpiredACLTokens()
			}
		}
		if !established {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			establish()
		}
	}
}

// reconcileAll brings the catalog and Raft configuration in line with the
// whole LAN pool, and removes catalog nodes that are no longer members.
func (s *Server) reconcileAll() {
	members := s.serfLAN.Members()
	known := make(map[string]bool, len(members))
	for _, m := range members {
		known[m.Name] = true
		s.reconcileOne(m)
	}
	// Nodes with a serfHealth check but no member were reaped while no
	// leader saw the event. Right after this server's LAN pool started, an
	// absent member may only not have rejoined yet (every server
	// restarting at once): removing it would drop its services and
	// invalidate its sessions, so wait a while first.
	if time.Since(s.lanStart) < s.reapGrace() {
		return
	}
	_, checks, err := s.fsm.State().ChecksInState(nil, structs.HealthAny, nil)
	if err != nil {
		s.logger.Error("read checks for reconcile", "error", err)
		return
	}
	for _, c := range checks {
		if c.CheckID != structs.SerfCheckID || known[c.Node] {
			continue
		}
		s.logger.Info("removing reaped member from the catalog", "node", c.Node)
		if _, err := s.raftApply(structs.DeregisterRequestType, &structs.DeregisterRequest{Datacenter: s.config.Datacenter, Node: c.Node}); err != nil {
			s.logger.Error("deregister reaped member", "node", c.Node, "error", err)
		}
	}
}

// reapGrace is how long after its LAN pool started the leader waits
// before it takes members it does not know for reaped.
func (s *Server) reapGrace() time.Duration {
	return max(3*s.config.ReconcileInterval, 30*time.Second)
}

// reconcileReaped removes a member serf reaped: from the catalog, and a
// server from the Raft configuration.
func (s *Server) reconcileReaped(m serf.Member) {
	if !s.IsLeader() || m.Tags[gossip.TagDatacenter] != s.config.Datacenter {
		return
	}
	if err := s.handleLeftMember(m); err != nil {
		s.logger.Error("reconcile reaped member", "member", m.Name, "error", err)
	}
}

// reconcileOne handles one member: catalog node and serfHealth check, and
// for servers the Raft configuration.
func (s *Server) reconcileOne(m serf.Member) {
	if !s.IsLeader() {
		return
	}
	if dc := m.Tags[gossip.TagDatacenter]; dc != s.config.Datacenter {
		return
	}
	var err error
	switch m.Status {
	case serf.StatusAlive:
		err = s.handleAliveMember(m)
	case serf.StatusFailed:
		err = s.handleFailedMember(m)
	case serf.StatusLeft:
		err = s.handleLeftMember(m)
	}
	if err != nil {
		s.logger.Error("reconcile member", "member", m.Name, "error", err)
	}
}

func (s *Server) handleAliveMember(m serf.Member) error {
	meta, isServer := gossip.IsServer(m)
	if isServer {
		if err := s.joinRaftPeer(meta); err != nil {
			return err
		}
	}
	if err := s.ensureSerfCheck(m, structs.HealthPassing, structs.SerfCheckAliveOutput); err != nil {
		return err
	}
	if isServer {
		return s.ensureConsulService(m, meta)
	}
	return nil
}

// ensureConsulService registers the "consul" service of a server, as
// Consul's leader does, so that servers are found through the catalog
// (`consul.service.consul`, /v1/catalog/service/consul).
func (s *Server) ensureConsulService(m serf.Member, meta *gossip.ServerMeta) error {
	want := &structs.NodeService{
		ID:      structs.ConsulServiceID,
		Service: structs.ConsulServiceName,
		Port:    meta.Addr.Port,
		Weights: structs.Weights{Passing: 1, Warning: 1},
		Meta: map[string]string{
			"raft_version":          m.Tags[gossip.TagRaftVsn],
			"serf_protocol_current": m.Tags[gossip.TagVsn],
			"serf_protocol_min":     m.Tags[gossip.TagVsnMin],
			"serf_protocol_max":     m.Tags[gossip.TagVsnMax],
			"version":               meta.Build,
		},
		Tags: []string{},
	}
	_, services, err := s.fsm.State().NodeServices(nil, m.Name)
	if err != nil {
		return err
	}
	if services != nil {
		if have, ok := services.Services[structs.ConsulServiceID]; ok && have.IsSame(want) {
			return nil
		}
	}
	req := &structs.RegisterRequest{
		Datacenter: s.config.Datacenter, Node: m.Name, Address: m.Addr.String(),
		Service: want, SkipNodeUpdate: true,
	}
	_, err = s.raftApply(structs.RegisterRequestType, req)
	return err
}

func (s *Server) handleFailedMember(m serf.Member) error {
	return s.ensureSerfCheck(m, structs.HealthCritical, structs.SerfCheckFailedOutput)
}

func (s *Server) handleLeftMember(m serf.Member) error {
	if meta, ok := gossip.IsServer(m); ok {
		if err := s.removeRaftPeer(meta); err != nil {
			return err
		}
	}
	_, node, err := s.fsm.State().GetNode(nil, m.Name)
	if err != nil || node == nil {
		return err
	}
	s.logger.Info("deregistering member that left", "member", m.Name)
	_, err = s.raftApply(structs.DeregisterRequestType, &structs.DeregisterRequest{Datacenter: s.config.Datacenter, Node: m.Name})
	return err
}

// ensureSerfCheck registers the member as a node with its serfHealth check
// in the given state, unless the catalog already says exactly that.
func (s *Server) ensureSerfCheck(m serf.Member, status, output string) error {
	st := s.fsm.State()
	_, node, err := st.GetNode(nil, m.Name)
	if err != nil {
		return err
	}
	addr := m.Addr.String()
	if node != nil && node.Address == addr && node.ID == m.Tags[gossip.TagID] {
		_, checks, err := st.NodeChecks(nil, m.Name)
		if err != nil {
			return err
		}
		for _, c := range checks {
			if c.CheckID == structs.SerfCheckID && c.Status == status && c.Output == output {
				return nil
			}
		}
	}
	req := &structs.RegisterRequest{
		Datacenter: s.config.Datacenter,
		ID:         m.Tags[gossip.TagID],
		Node:       m.Name,
		Address:    addr,
		Check: &structs.HealthCheck{
			Node:    m.Name,
			CheckID: structs.SerfCheckID,
			Name:    structs.SerfCheckName,
			Status:  status,
			Output:  output,
		},
	}
	if node != nil {
		// Keep what agents registered about the node (meta, tagged
		// addresses); only fix address and ID.
		req.TaggedAddresses = node.TaggedAddresses
		req.NodeMeta = node.Meta
	}
	_, err = s.raftApply(structs.RegisterRequestType, req)
	return err
}

// joinRaftPeer adds an alive server of this DC to Raft, as a non-voter:
// autopilot promotes it once it has been healthy for the stabilization
// time (and, with redundancy zones, only if its zone needs a voter). A
// server that came back with a new ID or address replaces its stale entry
// (autopilot.AddServer refuses when that would cost the quorum).
func (s *Server) joinRaftPeer(meta *gossip.ServerMeta) error {
	if meta.Datacenter != s.config.Datacenter || meta.ID == "" {
		return nil
	}
	if !s.bootstrapped.Load() && s.config.BootstrapExpect > 0 {
		return nil
	}
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return err
	}
	addr := raft.ServerAddress(meta.Addr.String())
	id := raft.ServerID(meta.ID)
	for _, srv := range f.Configuration().Servers {
		if srv.ID == id && srv.Address == addr {
			return nil
		}
	}
	if err := s.verifyRaftPeer(meta); err != nil {
		// Not a voter, but still a member: its catalog entry is kept.
		s.logger.Warn("server not added to raft", "server", meta.Name, "error", err)
		return nil
	}
	if err := s.autopilot.AddServer(&autopilot.Server{
		ID: id, Name: meta.Name, Address: addr, NodeStatus: autopilot.NodeAlive,
		Version: meta.Build, RaftVersion: 3,
	}); err != nil {
		return fmt.Errorf("add raft peer %s: %w", meta.Name, err)
	}
	s.logger.Info("added raft peer as a non-voter; autopilot promotes it once stable", "server", meta.Name, "address", addr)
	return nil
}

// removeRaftPeer removes a server that left.
func (s *Server) removeRaftPeer(meta *gossip.ServerMeta) error {
	if meta.Datacenter != s.config.Datacenter || meta.ID == s.config.NodeID {
		return nil
	}
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return err
	}
	for _, srv := range f.Configuration().Servers {
		if srv.ID == raft.ServerID(meta.ID) {
			s.logger.Info("removing raft peer that left", "server", meta.Name)
			return s.await(s.raft.RemoveServer(srv.ID, 0, 0), "remove raft server")
		}
	}
	return nil
}

// reapTombstones asks Raft to drop KV tombstones older than the TTL.
func (s *Server) reapTombstones() {
	idx := s.tombstoneReapIndex()
	if idx == 0 {
		return
	}
	if _, err := s.raftApply(structs.TombstoneRequestType, &structs.TombstoneRequest{
		Datacenter: s.config.Datacenter, Op: structs.TombstoneReap, ReapIndex: idx,
	}); err != nil {
		s.logger.Error("reap tombstones", "error", err)
	}
}

// flushCoordinates writes queued coordinate updates in bounded batches.
func (s *Server) flushCoordinates() {
	s.coordLock.Lock()
	pending := s.coordUpdates
	s.coordUpdates = make(map[string]*structs.Coordinate)
	s.coordLock.Unlock()
	if len(pending) == 0 {
		return
	}
	batch := make(structs.Coordinates, 0, len(pending))
	for _, c := range pending {
		batch = append(batch, c)
	}
	size := s.config.CoordinateUpdateBatchSize
	for i := 0; i < len(batch) && i/size < s.config.CoordinateUpdateMaxBatches; i += size {
		end := min(i+size, len(batch))
		req := &structs.CoordinateBatchUpdateRequest{Datacenter: s.config.Datacenter, Updates: batch[i:end]}
		if _, err := s.raftApply(structs.CoordinateBatchUpdateType, req); err != nil {
			s.logger.Warn("write coordinate batch", "error", err)
			return
		}
	}
}

// leaderAddr returns the leader's server address, nil if none is known.
func (s *Server) leaderAddr() *net.TCPAddr {
	l := s.raft.Leader()
	if l == "" {
		return nil
	}
	addr, err := net.ResolveTCPAddr("tcp", string(l))
	if err != nil {
		return nil
	}
	return addr
}

// verifyRaftPeer, with verify_server_hostname, pings a server before it is
// added to Raft: the TLS handshake proves that it holds a certificate for
// server.<dc>.<domain>, so that a node that claims to be a server in its
// gossip tags but holds only a client certificate never becomes a voter
// (which would grow the quorum with a member that can never take part).
func (s *Server) verifyRaftPeer(meta *gossip.ServerMeta) error {
	if s.config.TLS == nil || !s.config.TLS.VerifyServerHostname() {
		return nil
	}
	ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
	defer cancel()
	// A remote error (an endpoint not registered yet on a server that is
	// starting) still came over a handshake that proved the certificate.
	if err := s.connPool.Ping(ctx, s.config.Datacenter, meta.Addr); err != nil && !rpc.IsRemoteError(err) {
		return fmt.Errorf("it did not prove a server certificate of %s: %w", s.config.Datacenter, err)
	}
	return nil
}
