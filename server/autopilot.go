package server

// Autopilot: the leader watches every server's health, promotes new
// servers to voters once they have been healthy for the stabilization
// time, removes dead servers, and with redundancy zones keeps one voter
// per zone (autopilot_zones.go).
//
// The machinery is hashicorp/raft-autopilot, as in Consul: this file is
// its delegate (what the servers are, their Raft progress, the stored
// configuration) and starts and stops it with leadership. A server joins
// Raft as a non-voter (joinRaftPeer) and autopilot promotes it; servers
// bootstrapped together by -bootstrap-expect start as voters.

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	autopilot "github.com/hashicorp/raft-autopilot"
	"github.com/hashicorp/serf/serf"

	"github.com/meridian-sd/meridian/gossip"
	"github.com/meridian-sd/meridian/structs"
)

// reservedTags are the LAN tags Meridian sets itself; the others of a
// server are its node_meta (see nodeMetaTags).
var reservedTags = map[string]bool{
	gossip.TagRole: true, gossip.TagDatacenter: true, gossip.TagPort: true,
	gossip.TagBuild: true, gossip.TagVsn: true, gossip.TagVsnMin: true,
	gossip.TagVsnMax: true, gossip.TagBootstrap: true, gossip.TagExpect: true,
	gossip.TagID: true, gossip.TagRaftVsn: true, gossip.TagSegment: true,
	gossip.TagWANJoinPort: true,
}

// maxMetaTagBytes bounds the node_meta carried in a server's LAN tags:
// serf refuses tags over 512 bytes encoded, and Meridian's own take about
// 150 of them.
const maxMetaTagBytes = 300

// nodeMetaTags returns the node_meta pairs a server gossips in its LAN
// tags, as Consul does, so that the leader knows every server's
// redundancy zone even while it is down. The zone key comes first; pairs
// that would not fit, or would overwrite Meridian's own tags, are left out
// and named in the second result.
func nodeMetaTags(meta map[string]string, zoneTag string) (map[string]string, []string) {
	keys := make([]string, 0, len(meta))
	for k := range meta {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if (keys[i] == zoneTag) != (keys[j] == zoneTag) {
			return keys[i] == zoneTag
		}
		return keys[i] < keys[j]
	})
	out := make(map[string]string)
	var dropped []string
	size := 0
	for _, k := range keys {
		n := len(k) + len(meta[k]) + 4
		if reservedTags[k] || size+n > maxMetaTagBytes {
			dropped = append(dropped, k)
			continue
		}
		size += n
		out[k] = meta[k]
	}
	return out, dropped
}

// autopilotDelegate is the server as raft-autopilot sees it.
type autopilotDelegate struct {
	s *Server

	// lastWarning is the zone warning logged last, so that it is logged
	// at start and on change only; lastZones the zone summary likewise.
	mu          sync.Mutex
	lastWarning string
	lastZones   string
}

var _ autopilot.ApplicationIntegration = (*autopilotDelegate)(nil)

// setupAutopilot creates the server's autopilot; it runs while the server
// leads (startAutopilot).
func (s *Server) setupAutopilot() {
	s.apDelegate = &autopilotDelegate{s: s}
	s.autopilot = autopilot.New(s.raft, s.apDelegate,
		autopilot.WithLogger(s.logger),
		autopilot.WithUpdateInterval(s.config.AutopilotUpdateInterval),
		autopilot.WithReconcileInterval(s.config.AutopilotReconcileInterval),
		autopilot.WithPromoter(&zonePromoter{}),
	)
}

// runAutopilot runs autopilot until ctx ends (the end of leadership) and
// waits for its goroutines.
func (s *Server) runAutopilot(ctx context.Context) {
	s.autopilot.Start(ctx)
	<-ctx.Done()
	<-s.autopilot.Stop()
	s.apDelegate.reset()
}

func (d *autopilotDelegate) reset() {
	d.mu.Lock()
	d.lastWarning, d.lastZones = "", ""
	d.mu.Unlock()
}

// initAutopilotConfig stores the configured autopilot settings when no
// leader has stored any yet.
func (s *Server) initAutopilotConfig() error {
	_, cur, err := s.fsm.State().AutopilotConfig()
	if err != nil || cur != nil {
		return err
	}
	req := &structs.AutopilotSetConfigRequest{Datacenter: s.config.Datacenter, Config: s.config.Autopilot, CAS: true}
	req.Config.ModifyIndex = 0
	if _, err := s.raftApply(structs.AutopilotRequestType, req); err != nil {
		return fmt.Errorf("store the initial autopilot configuration: %w", err)
	}
	return nil
}

// autopilotConfig is the configuration in force: the stored one, or the
// configured one before any is stored.
func (s *Server) autopilotConfig() structs.AutopilotConfig {
	if _, c, err := s.fsm.State().AutopilotConfig(); err == nil && c != nil {
		return *c
	}
	return s.config.Autopilot
}

// AutopilotConfig implements autopilot.ApplicationIntegration.
func (d *autopilotDelegate) AutopilotConfig() *autopilot.Config {
	c := d.s.autopilotConfig()
	return &autopilot.Config{
		CleanupDeadServers:      c.CleanupDeadServers,
		LastContactThreshold:    c.LastContactThreshold.Duration(),
		MaxTrailingLogs:         c.MaxTrailingLogs,
		MinQuorum:               c.MinQuorum,
		ServerStabilizationTime: c.ServerStabilizationTime.Duration(),
		Ext:                     &zoneConfig{Tag: c.RedundancyZoneTag},
	}
}

// KnownServers implements autopilot.ApplicationIntegration: the servers
// of this datacenter in the LAN pool, failed and left ones included.
func (d *autopilotDelegate) KnownServers() map[raft.ServerID]*autopilot.Server {
	leader := d.s.raft.Leader()
	out := make(map[raft.ServerID]*autopilot.Server)
	for _, m := range d.s.serfLAN.Members() {
		meta, ok := gossip.IsServer(m)
		if !ok || meta.Datacenter != d.s.config.Datacenter || meta.ID == "" {
			continue
		}
		srv := &autopilot.Server{
			ID:          raft.ServerID(meta.ID),
			Name:        meta.Name,
			Address:     raft.ServerAddress(meta.Addr.String()),
			Version:     meta.Build,
			RaftVersion: 3,
			Meta:        make(map[string]string),
			// Every server may vote (the promoter classes them further
			// in the state); dead-server cleanup counts potential voters
			// from this to keep a majority.
			NodeType: autopilot.NodeVoter,
		}
		srv.IsLeader = srv.Address == leader
		switch m.Status {
		case serf.StatusAlive:
			srv.NodeStatus = autopilot.NodeAlive
		case serf.StatusFailed:
			srv.NodeStatus = autopilot.NodeFailed
		case serf.StatusLeft, serf.StatusLeaving:
			srv.NodeStatus = autopilot.NodeLeft
		default:
			srv.NodeStatus = autopilot.NodeUnknown
		}
		for k, v := range m.Tags {
			if !reservedTags[k] {
				srv.Meta[k] = v
			}
		}
		out[srv.ID] = srv
	}
	return out
}

// FetchServerStats implements autopilot.ApplicationIntegration: it asks
// every live server for its Raft progress, in parallel, within ctx.
func (d *autopilotDelegate) FetchServerStats(ctx context.Context, servers map[raft.ServerID]*autopilot.Server) map[raft.ServerID]*autopilot.ServerStats {
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		out = make(map[raft.ServerID]*autopilot.ServerStats)
	)
	for id, srv := range servers {
		if string(id) == d.s.config.NodeID {
			st := d.s.localRaftStats()
			// The fetches started for the servers before this one write
			// out already.
			mu.Lock()
			out[id] = &autopilot.ServerStats{LastContact: st.LastContact, LastTerm: st.LastLogTerm, LastIndex: st.LastIndex}
			mu.Unlock()
			continue
		}
		addr, err := resolveServerAddr(string(srv.Address))
		if err != nil {
			d.s.logger.Warn("autopilot: bad server address", "server", srv.Name, "address", srv.Address, "error", err)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var reply structs.RaftStats
			args := &structs.StatusRequest{Datacenter: d.s.config.Datacenter}
			if err := d.s.connPool.RPC(ctx, d.s.config.Datacenter, addr, "Status.RaftStats", args, &reply); err != nil {
				d.s.logger.Debug("autopilot: fetch raft stats", "server", srv.Name, "error", err)
				return
			}
			mu.Lock()
			out[id] = &autopilot.ServerStats{LastContact: reply.LastContact, LastTerm: reply.LastLogTerm, LastIndex: reply.LastIndex}
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

// RemoveFailedServer implements autopilot.ApplicationIntegration: a failed
// server is taken out of the Raft configuration (it stays in the catalog
// with a critical serfHealth check, and joins Raft again when it comes
// back). It must not block, so the removal runs on its own goroutine,
// which the server owns.
func (d *autopilotDelegate) RemoveFailedServer(srv *autopilot.Server) {
	s := d.s
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.await(s.raft.RemoveServer(srv.ID, 0, 0), "remove failed raft server"); err != nil {
			s.logger.Error("autopilot: remove failed server", "server", srv.Name, "id", srv.ID, "error", err)
			return
		}
		s.logger.Info("autopilot: removed failed server from raft", "server", srv.Name, "id", srv.ID)
	}()
}

// NotifyState implements autopilot.ApplicationIntegration: with
// redundancy zones, it logs the zones when they change and warns, at the
// start of leadership and on change, when the voters would not survive
// the loss of one zone.
func (d *autopilotDelegate) NotifyState(st *autopilot.State) {
	ext, ok := st.Ext.(*zoneStateExt)
	if !ok || ext == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if ext.Summary != d.lastZones {
		d.lastZones = ext.Summary
		if ext.Summary != "" {
			d.s.logger.Info("autopilot: redundancy zones", "zones", ext.Summary)
		}
	}
	if ext.Warning != d.lastWarning {
		d.lastWarning = ext.Warning
		if ext.Warning != "" {
			d.s.logger.Warn("autopilot: " + ext.Warning)
		}
	}
}

// localRaftStats is this server's Raft progress (Status.RaftStats).
func (s *Server) localRaftStats() structs.RaftStats {
	st := structs.RaftStats{
		LastIndex:    s.raft.LastIndex(),
		AppliedIndex: s.raft.AppliedIndex(),
		LastTerm:     s.raft.CurrentTerm(),
	}
	stats := s.raft.Stats()
	fmt.Sscan(stats["last_log_term"], &st.LastLogTerm)
	if !s.IsLeader() {
		if last := s.raft.LastContact(); last.IsZero() {
			// Never heard from a leader: as far as health goes, forever.
			st.LastContact = time.Duration(1<<62 - 1)
		} else {
			st.LastContact = time.Since(last)
		}
	}
	return st
}

// autopilotHealth builds /v1/operator/autopilot/health from the leader's
// autopilot state.
func (s *Server) autopilotHealth() (*structs.AutopilotHealthReply, error) {
	st := s.autopilot.GetState()
	if st == nil || st.Leader == "" {
		return nil, fmt.Errorf("autopilot has no state yet: %w", structs.ErrNoLeader)
	}
	reply := &structs.AutopilotHealthReply{Healthy: st.Healthy, FailureTolerance: st.FailureTolerance}
	for _, srv := range st.Servers {
		reply.Servers = append(reply.Servers, structs.AutopilotServerHealth{
			ID:          string(srv.Server.ID),
			Name:        srv.Server.Name,
			Address:     string(srv.Server.Address),
			SerfStatus:  serfStatusName(srv.Server.NodeStatus),
			Version:     srv.Server.Version,
			Leader:      srv.State == autopilot.RaftLeader,
			LastContact: structs.Duration(srv.Stats.LastContact),
			LastTerm:    srv.Stats.LastTerm,
			LastIndex:   srv.Stats.LastIndex,
			Healthy:     srv.Health.Healthy,
			Voter:       srv.HasVotingRights(),
			StableSince: srv.Health.StableSince.UTC(),
		})
	}
	sort.Slice(reply.Servers, func(i, j int) bool { return reply.Servers[i].Name < reply.Servers[j].Name })
	return reply, nil
}

// serfStatusName turns autopilot's node status into serf's words, as
// Consul's health endpoint shows them.
func serfStatusName(st autopilot.NodeStatus) string {
	switch st {
	case autopilot.NodeAlive:
		return "alive"
	case autopilot.NodeFailed:
		return "failed"
	case autopilot.NodeLeft:
		return "left"
	}
	return "none"
}

// autopilotState builds /v1/operator/autopilot/state.
func (s *Server) autopilotState() (*structs.AutopilotState, error) {
	st := s.autopilot.GetState()
	if st == nil || st.Leader == "" {
		return nil, fmt.Errorf("autopilot has no state yet: %w", structs.ErrNoLeader)
	}
	out := &structs.AutopilotState{
		Healthy:                    st.Healthy,
		FailureTolerance:           st.FailureTolerance,
		OptimisticFailureTolerance: st.FailureTolerance,
		Leader:                     string(st.Leader),
		Servers:                    make(map[string]*structs.AutopilotServer),
		Voters:                     []string{},
	}
	for _, id := range st.Voters {
		out.Voters = append(out.Voters, string(id))
	}
	for id, srv := range st.Servers {
		as := structs.AutopilotServer{
			ID:          string(id),
			Name:        srv.Server.Name,
			Address:     string(srv.Server.Address),
			NodeStatus:  string(srv.Server.NodeStatus),
			Version:     srv.Server.Version,
			LastContact: structs.Duration(srv.Stats.LastContact),
			LastTerm:    srv.Stats.LastTerm,
			LastIndex:   srv.Stats.LastIndex,
			Healthy:     srv.Health.Healthy,
			StableSince: srv.Health.StableSince.UTC(),
			Status:      string(srv.State),
			Meta:        srv.Server.Meta,
			NodeType:    string(srv.Server.NodeType),
		}
		if as.Meta == nil {
			as.Meta = map[string]string{}
		}
		if ext, ok := srv.Server.Ext.(*zoneServerExt); ok && ext != nil {
			as.RedundancyZone = ext.Zone
		}
		if !srv.HasVotingRights() && srv.Health.Healthy && srv.Server.NodeStatus == autopilot.NodeAlive {
			out.OptimisticFailureTolerance++
		}
		out.Servers[as.ID] = &as
	}
	if ext, ok := st.Ext.(*zoneStateExt); ok && ext != nil && len(ext.Zones) > 0 {
		out.RedundancyZones = make(map[string]*structs.AutopilotZone, len(ext.Zones))
		for name, z := range ext.Zones {
			out.RedundancyZones[name] = &structs.AutopilotZone{
				Servers:          append([]string{}, z.Servers...),
				Voters:           append([]string{}, z.Voters...),
				FailureTolerance: z.FailureTolerance,
			}
		}
	}
	return out, nil
}

// resolveServerAddr parses a Raft address (host:port).
func resolveServerAddr(addr string) (*net.TCPAddr, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, err
	}
	return net.TCPAddrFromAddrPort(ap), nil
}
