package server

import (
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	autopilot "github.com/hashicorp/raft-autopilot"
)

// zsrv describes a server of a synthetic autopilot state.
type zsrv struct {
	id, zone string
	state    autopilot.RaftState
	healthy  bool
	// stableFor is how long it has been healthy.
	stableFor time.Duration
	status    autopilot.NodeStatus
}

// zoneState builds an autopilot state as raft-autopilot would, with the
// promoter's extensions filled in.
func zoneState(t *testing.T, tag string, servers ...zsrv) (*autopilot.Config, *autopilot.State) {
	t.Helper()
	conf := &autopilot.Config{ServerStabilizationTime: 10 * time.Second, Ext: &zoneConfig{Tag: tag}}
	st := &autopilot.State{Servers: make(map[raft.ServerID]*autopilot.ServerState)}
	now := time.Now()
	p := &zonePromoter{}
	for _, z := range servers {
		if z.status == "" {
			z.status = autopilot.NodeAlive
		}
		ss := &autopilot.ServerState{
			Server: autopilot.Server{
				ID: raft.ServerID(z.id), Name: z.id, NodeStatus: z.status,
				Meta: map[string]string{},
			},
			State:  z.state,
			Health: autopilot.ServerHealth{Healthy: z.healthy, StableSince: now.Add(-z.stableFor)},
		}
		if z.zone != "" {
			ss.Server.Meta["zone"] = z.zone
		}
		ss.Server.Ext = p.GetServerExt(conf, ss)
		st.Servers[ss.Server.ID] = ss
		if z.state == autopilot.RaftLeader {
			st.Leader = ss.Server.ID
		}
		if ss.HasVotingRights() {
			st.Voters = append(st.Voters, ss.Server.ID)
		}
	}
	sort.Slice(st.Voters, func(i, j int) bool { return st.Voters[i] < st.Voters[j] })
	st.Ext = p.GetStateExt(conf, st)
	return conf, st
}

func ids(l []raft.ServerID) []string {
	out := []string{}
	for _, id := range l {
		out = append(out, string(id))
	}
	return out
}

const (
	leader   = autopilot.RaftLeader
	voter    = autopilot.RaftVoter
	nonVoter = autopilot.RaftNonVoter
	long     = time.Minute
)

func TestZonePromoterChanges(t *testing.T) {
	for _, tc := range []struct {
		name         string
		servers      []zsrv
		promote      []string
		demote       []string
		types        map[string]autopilot.NodeType
		wantWarning  string
		wantNoChange bool
	}{
		{
			name: "bootstrapped with two voters in one zone: one moves to the empty zone",
			servers: []zsrv{
				{id: "a1", zone: "a", state: leader, healthy: true, stableFor: long},
				{id: "a2", zone: "a", state: voter, healthy: true, stableFor: long},
				{id: "b1", zone: "b", state: voter, healthy: true, stableFor: long},
				{id: "b2", zone: "b", state: nonVoter, healthy: true, stableFor: long},
				{id: "c1", zone: "c", state: nonVoter, healthy: true, stableFor: long},
				{id: "c2", zone: "c", state: nonVoter, healthy: true, stableFor: long},
			},
			promote:     []string{"c1"},
			demote:      []string{"a2"},
			wantWarning: "cannot survive the loss of zone a",
			types: map[string]autopilot.NodeType{
				"a1": nodeZoneVoter, "a2": nodeZoneStandby, "b1": nodeZoneVoter,
				"b2": nodeZoneStandby, "c1": nodeZoneVoter, "c2": nodeZoneStandby,
			},
		},
		{
			name: "two zones only: the second voter of zone a stays, as an extra, until a third zone comes",
			servers: []zsrv{
				{id: "a1", zone: "a", state: leader, healthy: true, stableFor: long},
				{id: "a2", zone: "a", state: voter, healthy: true, stableFor: long},
				{id: "b1", zone: "b", state: voter, healthy: true, stableFor: long},
				{id: "b2", zone: "b", state: nonVoter, healthy: true, stableFor: long},
			},
			wantNoChange: true,
			wantWarning:  "cannot survive the loss of zone a",
			types: map[string]autopilot.NodeType{
				"a1": nodeZoneVoter, "a2": nodeZoneExtraVoter, "b1": nodeZoneVoter, "b2": nodeZoneStandby,
			},
		},
		{
			name: "a zone's failed voter is replaced by the zone's standby",
			servers: []zsrv{
				{id: "a1", zone: "a", state: leader, healthy: true, stableFor: long},
				{id: "a2", zone: "a", state: nonVoter, healthy: true, stableFor: long},
				{id: "b1", zone: "b", state: voter, healthy: false, status: autopilot.NodeFailed},
				{id: "b2", zone: "b", state: nonVoter, healthy: true, stableFor: long},
				{id: "c1", zone: "c", state: voter, healthy: true, stableFor: long},
				{id: "c2", zone: "c", state: nonVoter, healthy: true, stableFor: long},
			},
			promote: []string{"b2"},
			demote:  []string{"b1"},
		},
		{
			name: "a standby that is not stable yet is not promoted, and the failed voter stays",
			servers: []zsrv{
				{id: "a1", zone: "a", state: leader, healthy: true, stableFor: long},
				{id: "b1", zone: "b", state: voter, healthy: false, status: autopilot.NodeFailed},
				{id: "b2", zone: "b", state: nonVoter, healthy: true, stableFor: time.Second},
				{id: "c1", zone: "c", state: voter, healthy: true, stableFor: long},
			},
			wantNoChange: true,
		},
		{
			name: "a lost zone is covered by an extra voter from the healthiest other zone",
			servers: []zsrv{
				{id: "a1", zone: "a", state: leader, healthy: true, stableFor: long},
				{id: "a2", zone: "a", state: nonVoter, healthy: false, stableFor: long},
				{id: "b1", zone: "b", state: voter, healthy: true, stableFor: long},
				{id: "b2", zone: "b", state: nonVoter, healthy: true, stableFor: long},
				{id: "c1", zone: "c", state: voter, healthy: false, status: autopilot.NodeFailed},
				{id: "c2", zone: "c", state: nonVoter, healthy: false, status: autopilot.NodeFailed},
			},
			promote: []string{"b2"},
			demote:  []string{"c1"},
			types: map[string]autopilot.NodeType{
				"a1": nodeZoneVoter, "a2": nodeZoneStandby, "b1": nodeZoneVoter,
				"b2": nodeZoneExtraVoter, "c1": nodeZoneStandby, "c2": nodeZoneStandby,
			},
		},
		{
			name: "health not known yet (a new leader): nothing is demoted",
			servers: []zsrv{
				{id: "a1", zone: "a", state: leader, healthy: true, stableFor: long},
				{id: "b1", zone: "b", state: voter, healthy: false},
				{id: "c1", zone: "c", state: voter, healthy: false},
			},
			wantNoChange: true,
		},
		{
			name: "the extra voter steps down once its zone is back",
			servers: []zsrv{
				{id: "a1", zone: "a", state: leader, healthy: true, stableFor: long},
				{id: "b1", zone: "b", state: voter, healthy: true, stableFor: long},
				{id: "b2", zone: "b", state: voter, healthy: true, stableFor: long},
				{id: "c1", zone: "c", state: nonVoter, healthy: true, stableFor: long},
			},
			promote: []string{"c1"},
			demote:  []string{"b2"},
		},
		{
			name: "servers without a zone vote as without zones",
			servers: []zsrv{
				{id: "a1", zone: "a", state: leader, healthy: true, stableFor: long},
				{id: "x1", state: voter, healthy: true, stableFor: long},
				{id: "x2", state: nonVoter, healthy: true, stableFor: long},
			},
			promote: []string{"x2"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conf, st := zoneState(t, "zone", tc.servers...)
			p := &zonePromoter{}
			ch := p.CalculatePromotionsAndDemotions(conf, st)
			if tc.wantNoChange {
				if len(ch.Promotions)+len(ch.Demotions) != 0 {
					t.Fatalf("changes %v / %v, want none", ch.Promotions, ch.Demotions)
				}
			} else if got := ids(ch.Promotions); !reflect.DeepEqual(got, append([]string{}, tc.promote...)) {
				t.Errorf("promotions %v, want %v", got, tc.promote)
			}
			if got := ids(ch.Demotions); !tc.wantNoChange && !reflect.DeepEqual(got, append([]string{}, tc.demote...)) {
				t.Errorf("demotions %v, want %v", got, tc.demote)
			}
			if tc.types != nil {
				got := map[string]autopilot.NodeType{}
				for id, typ := range p.GetNodeTypes(conf, st) {
					got[string(id)] = typ
				}
				if !reflect.DeepEqual(got, tc.types) {
					t.Errorf("node types %v, want %v", got, tc.types)
				}
			}
			ext := st.Ext.(*zoneStateExt)
			if tc.wantWarning != "" && !strings.Contains(ext.Warning, tc.wantWarning) {
				t.Errorf("warning %q, want one with %q", ext.Warning, tc.wantWarning)
			}
		})
	}
}

func TestZoneStateExt(t *testing.T) {
	_, st := zoneState(t, "zone",
		zsrv{id: "a1", zone: "a", state: leader, healthy: true, stableFor: long},
		zsrv{id: "a2", zone: "a", state: nonVoter, healthy: true, stableFor: long},
		zsrv{id: "b1", zone: "b", state: voter, healthy: true, stableFor: long},
		zsrv{id: "b2", zone: "b", state: nonVoter, healthy: false, status: autopilot.NodeFailed},
		zsrv{id: "c1", zone: "c", state: voter, healthy: true, stableFor: long},
	)
	ext := st.Ext.(*zoneStateExt)
	want := map[string]zoneInfo{
		"a": {Servers: []string{"a1", "a2"}, Voters: []string{"a1"}, FailureTolerance: 1},
		"b": {Servers: []string{"b1", "b2"}, Voters: []string{"b1"}, FailureTolerance: 0},
		"c": {Servers: []string{"c1"}, Voters: []string{"c1"}, FailureTolerance: 0},
	}
	if len(ext.Zones) != len(want) {
		t.Fatalf("zones %v", ext.Zones)
	}
	for name, w := range want {
		if got := ext.Zones[name]; got == nil || !reflect.DeepEqual(*got, w) {
			t.Errorf("zone %s: %+v, want %+v", name, got, w)
		}
	}
	if ext.Warning != "" {
		t.Errorf("three voters in three zones: warning %q", ext.Warning)
	}
	if ext.Summary != "a=[a1(voter) a2] b=[b1(voter) b2] c=[c1(voter)]" {
		t.Errorf("summary %q", ext.Summary)
	}

	// Three voters in two zones do not survive the loss of zone a.
	_, st = zoneState(t, "zone",
		zsrv{id: "a1", zone: "a", state: leader, healthy: true, stableFor: long},
		zsrv{id: "a2", zone: "a", state: voter, healthy: true, stableFor: long},
		zsrv{id: "b1", zone: "b", state: voter, healthy: true, stableFor: long},
	)
	if w := st.Ext.(*zoneStateExt).Warning; !strings.Contains(w, "3 voters cannot survive the loss of zone a, which holds 2") {
		t.Errorf("warning %q", w)
	}
	// Without a tag there are no zones and no warning.
	_, st = zoneState(t, "",
		zsrv{id: "a1", zone: "a", state: leader, healthy: true, stableFor: long},
	)
	if ext := st.Ext.(*zoneStateExt); len(ext.Zones) != 0 || ext.Warning != "" {
		t.Errorf("no tag: %+v", ext)
	}
}

func TestNodeMetaTags(t *testing.T) {
	meta := map[string]string{"zone": "a", "rack": "r1", "role": "x", "dc": "evil"}
	got, dropped := nodeMetaTags(meta, "zone")
	if !reflect.DeepEqual(got, map[string]string{"zone": "a", "rack": "r1"}) {
		t.Errorf("tags %v", got)
	}
	sort.Strings(dropped)
	if !reflect.DeepEqual(dropped, []string{"dc", "role"}) {
		t.Errorf("dropped %v", dropped)
	}
	// Too much meta: the zone key is kept first, the rest up to the bound.
	big := map[string]string{"zone": "z"}
	for _, k := range []string{"k1", "k2", "k3", "k4", "k5", "k6"} {
		big[k] = strings.Repeat("v", 60)
	}
	got, dropped = nodeMetaTags(big, "zone")
	if got["zone"] != "z" || len(dropped) == 0 {
		t.Errorf("big meta: kept %d keys (zone %q), dropped %v", len(got), got["zone"], dropped)
	}
	size := 0
	for k, v := range got {
		size += len(k) + len(v) + 4
	}
	if size > maxMetaTagBytes {
		t.Errorf("kept %d bytes, more than %d", size, maxMetaTagBytes)
	}
}
