package server

// Redundancy zones (Consul keeps them for its Enterprise edition; Meridian
// ships them). With autopilot's RedundancyZoneTag set to a node_meta key,
// the servers whose node_meta holds that key are grouped into zones by its
// value, and autopilot keeps exactly one voter per zone: the other servers
// of a zone are non-voters, kept up to date by Raft and ready to vote.
//
// When a zone's voter fails (serf says so, or it falls behind the leader
// beyond LastContactThreshold or MaxTrailingLogs), another healthy server
// of the same zone that has been stable for ServerStabilizationTime is
// promoted and the failed one demoted. A zone with no healthy server left
// is covered by an extra voter from another zone, so the number of voters
// stays the number of zones; it is demoted again once its zone is back.
// Servers without the key vote as they would without zones.
//
// The point is the DC/OS multi-AZ advice: quorum members spread so that
// losing one zone leaves a majority. Three voters in three zones survive
// any one zone; three voters in two zones do not, and the leader warns.

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/raft"
	autopilot "github.com/hashicorp/raft-autopilot"
)

// Node types of servers with redundancy zones, as Consul names them.
const (
	nodeZoneVoter      autopilot.NodeType = "zone-voter"
	nodeZoneExtraVoter autopilot.NodeType = "zone-extra-voter"
	nodeZoneStandby    autopilot.NodeType = "zone-standby"
)

// zoneConfig is the Ext of autopilot.Config: the node_meta key of zones.
type zoneConfig struct{ Tag string }

// zoneServerExt is the Ext of a server: its zone, "" for none.
type zoneServerExt struct{ Zone string }

// zoneInfo is one zone in the state.
type zoneInfo struct {
	Servers          []string
	Voters           []string
	FailureTolerance int
}

// zoneStateExt is the Ext of the autopilot state: the zones, a one-line
// summary for the log, and the warning when one zone's loss would lose
// quorum ("" when not).
type zoneStateExt struct {
	Zones   map[string]*zoneInfo
	Summary string
	Warning string
}

// zonePromoter is autopilot's promoter: raft-autopilot's StablePromoter
// without zones, one voter per zone with them.
type zonePromoter struct {
	stable autopilot.StablePromoter
}

var _ autopilot.Promoter = (*zonePromoter)(nil)

func zoneTagOf(c *autopilot.Config) string {
	if zc, ok := c.Ext.(*zoneConfig); ok && zc != nil {
		return zc.Tag
	}
	return ""
}

func zoneOf(srv *autopilot.ServerState) string {
	if ext, ok := srv.Server.Ext.(*zoneServerExt); ok && ext != nil {
		return ext.Zone
	}
	return ""
}

// GetServerExt implements autopilot.Promoter: the server's zone.
func (p *zonePromoter) GetServerExt(c *autopilot.Config, srv *autopilot.ServerState) any {
	tag := zoneTagOf(c)
	if tag == "" {
		return &zoneServerExt{}
	}
	return &zoneServerExt{Zone: srv.Server.Meta[tag]}
}

// GetStateExt implements autopilot.Promoter: the zones with their servers
// and voters, and whether the voters survive the loss of any one zone.
func (p *zonePromoter) GetStateExt(c *autopilot.Config, st *autopilot.State) any {
	if zoneTagOf(c) == "" {
		return &zoneStateExt{}
	}
	ext := &zoneStateExt{Zones: make(map[string]*zoneInfo)}
	healthy := make(map[string]int)
	// votersIn counts voters per failure domain: a zone, or a server
	// without a zone on its own.
	votersIn := make(map[string]int)
	for id, srv := range st.Servers {
		zone := zoneOf(srv)
		domain := "zone " + zone
		if zone == "" {
			domain = "server " + srv.Server.Name
		} else {
			z := ext.Zones[zone]
			if z == nil {
				z = &zoneInfo{Servers: []string{}, Voters: []string{}}
				ext.Zones[zone] = z
			}
			z.Servers = append(z.Servers, string(id))
			if srv.HasVotingRights() {
				z.Voters = append(z.Voters, string(id))
			}
			if srv.Health.Healthy && srv.Server.NodeStatus == autopilot.NodeAlive {
				healthy[zone]++
			}
		}
		if srv.HasVotingRights() {
			votersIn[domain]++
		}
	}
	names := make([]string, 0, len(ext.Zones))
	for name, z := range ext.Zones {
		sort.Strings(z.Servers)
		sort.Strings(z.Voters)
		z.FailureTolerance = max(healthy[name]-1, 0)
		names = append(names, name)
	}
	sort.Strings(names)
	var parts []string
	for _, name := range names {
		var members []string
		for _, id := range ext.Zones[name].Servers {
			srv := st.Servers[raft.ServerID(id)]
			m := srv.Server.Name
			if srv.HasVotingRights() {
				m += "(voter)"
			}
			members = append(members, m)
		}
		parts = append(parts, fmt.Sprintf("%s=[%s]", name, strings.Join(members, " ")))
	}
	ext.Summary = strings.Join(parts, " ")

	total := len(st.Voters)
	worst, worstN := "", 0
	for d, n := range votersIn {
		if n > worstN || n == worstN && d < worst {
			worst, worstN = d, n
		}
	}
	if total > 0 && total-worstN < total/2+1 {
		ext.Warning = fmt.Sprintf("the %d voters cannot survive the loss of %s, which holds %d of them: "+
			"spread the servers over at least three redundancy zones", total, worst, worstN)
	}
	return ext
}

// minZoneVoters is the fewest voters zones aim for, with extra voters
// when there are fewer zones.
const minZoneVoters = 3

// untaggedVoters counts the servers without a zone that the plan has
// voting.
func untaggedVoters(plan zonePlan, st *autopilot.State) int {
	n := 0
	for id := range plan.desired {
		if srv, ok := st.Servers[id]; ok && zoneOf(srv) == "" {
			n++
		}
	}
	return n
}

// zonePlan is the voter set zones call for.
type zonePlan struct {
	desired map[raft.ServerID]bool
	types   map[raft.ServerID]autopilot.NodeType
	// covered is true when every zone has a voter (its own or an extra):
	// only then are voters demoted, so that a moment when health is not
	// known yet (a new leader) never shrinks the voters.
	covered bool
}

// planZones picks one voter per zone: the zone's healthy voter (the
// leader first), else its healthy non-voter that has been stable longest
// enough; zones with neither get an extra voter from another zone.
func planZones(c *autopilot.Config, st *autopilot.State, now time.Time) zonePlan {
	plan := zonePlan{desired: make(map[raft.ServerID]bool), types: make(map[raft.ServerID]autopilot.NodeType)}
	minStable := st.ServerStabilizationTime(c)
	usable := func(srv *autopilot.ServerState) bool {
		return srv.Health.Healthy && srv.Server.NodeStatus == autopilot.NodeAlive
	}
	promotable := func(srv *autopilot.ServerState) bool {
		return usable(srv) && (srv.HasVotingRights() || srv.Health.IsStable(now, minStable))
	}
	zones := make(map[string][]*autopilot.ServerState)
	for id, srv := range st.Servers {
		zone := zoneOf(srv)
		if zone == "" {
			plan.types[id] = autopilot.NodeVoter
			if srv.HasVotingRights() || promotable(srv) {
				plan.desired[id] = true
			}
			continue
		}
		zones[zone] = append(zones[zone], srv)
	}
	// rank orders a zone's servers: leader, voters, then by ID.
	rank := func(l []*autopilot.ServerState) {
		sort.Slice(l, func(i, j int) bool {
			a, b := l[i], l[j]
			if (a.State == autopilot.RaftLeader) != (b.State == autopilot.RaftLeader) {
				return a.State == autopilot.RaftLeader
			}
			if a.HasVotingRights() != b.HasVotingRights() {
				return a.HasVotingRights()
			}
			return a.Server.ID < b.Server.ID
		})
	}
	names := make([]string, 0, len(zones))
	for name := range zones {
		names = append(names, name)
	}
	sort.Strings(names)
	lost, zoneVoters := 0, 0
	for _, name := range names {
		l := zones[name]
		rank(l)
		var pick *autopilot.ServerState
		for _, srv := range l {
			plan.types[srv.Server.ID] = nodeZoneStandby
			if pick == nil && promotable(srv) {
				pick = srv
			}
		}
		if pick == nil {
			lost++
			continue
		}
		plan.desired[pick.Server.ID] = true
		plan.types[pick.Server.ID] = nodeZoneVoter
		zoneVoters++
	}
	// Extras stand in for zones without a healthy server, and bring the
	// voters up to three while there are fewer zones than that: two
	// zones with one voter each would survive no failure at all.
	want := len(names)
	if want < minZoneVoters {
		want = minZoneVoters
	}
	lost = max(want-zoneVoters-untaggedVoters(plan, st), lost)
	if lost > 0 {
		// Extras: the healthiest zones give first; current voters before
		// non-voters so that nothing moves that need not.
		healthy := make(map[string]int)
		var extra []*autopilot.ServerState
		for _, name := range names {
			for _, srv := range zones[name] {
				if usable(srv) {
					healthy[name]++
				}
				if !plan.desired[srv.Server.ID] && promotable(srv) {
					extra = append(extra, srv)
				}
			}
		}
		sort.Slice(extra, func(i, j int) bool {
			a, b := extra[i], extra[j]
			if a.HasVotingRights() != b.HasVotingRights() {
				return a.HasVotingRights()
			}
			if ha, hb := healthy[zoneOf(a)], healthy[zoneOf(b)]; ha != hb {
				return ha > hb
			}
			return a.Server.ID < b.Server.ID
		})
		for _, srv := range extra {
			if lost == 0 {
				break
			}
			plan.desired[srv.Server.ID] = true
			plan.types[srv.Server.ID] = nodeZoneExtraVoter
			lost--
		}
	}
	plan.covered = lost == 0
	// The leader keeps its vote whatever the zones say: autopilot never
	// demotes the server it runs on.
	if st.Leader != "" {
		plan.desired[st.Leader] = true
	}
	return plan
}

// GetNodeTypes implements autopilot.Promoter.
func (p *zonePromoter) GetNodeTypes(c *autopilot.Config, st *autopilot.State) map[raft.ServerID]autopilot.NodeType {
	if zoneTagOf(c) == "" {
		return p.stable.GetNodeTypes(c, st)
	}
	return planZones(c, st, time.Now()).types
}

// CalculatePromotionsAndDemotions implements autopilot.Promoter.
func (p *zonePromoter) CalculatePromotionsAndDemotions(c *autopilot.Config, st *autopilot.State) autopilot.RaftChanges {
	if zoneTagOf(c) == "" {
		return p.stable.CalculatePromotionsAndDemotions(c, st)
	}
	plan := planZones(c, st, time.Now())
	var changes autopilot.RaftChanges
	for id, srv := range st.Servers {
		switch {
		case plan.desired[id] && !srv.HasVotingRights() && srv.State != autopilot.RaftStaging:
			changes.Promotions = append(changes.Promotions, id)
		case !plan.desired[id] && srv.HasVotingRights() && plan.covered && id != st.Leader:
			changes.Demotions = append(changes.Demotions, id)
		}
	}
	sort.Slice(changes.Promotions, func(i, j int) bool { return changes.Promotions[i] < changes.Promotions[j] })
	// Unhealthy voters go first: they are the ones being replaced.
	sort.Slice(changes.Demotions, func(i, j int) bool {
		a, b := st.Servers[changes.Demotions[i]], st.Servers[changes.Demotions[j]]
		if a.Health.Healthy != b.Health.Healthy {
			return !a.Health.Healthy
		}
		return a.Server.ID < b.Server.ID
	})
	return changes
}

// FilterFailedServerRemovals implements autopilot.Promoter: every failed
// server may go (raft-autopilot still keeps MinQuorum and a majority).
func (p *zonePromoter) FilterFailedServerRemovals(c *autopilot.Config, st *autopilot.State, failed *autopilot.FailedServers) *autopilot.FailedServers {
	return failed
}

// IsPotentialVoter implements autopilot.Promoter: every server may vote,
// a zone's standby as soon as its voter fails.
func (p *zonePromoter) IsPotentialVoter(t autopilot.NodeType) bool {
	switch t {
	case autopilot.NodeVoter, nodeZoneVoter, nodeZoneExtraVoter, nodeZoneStandby:
		return true
	}
	return false
}
