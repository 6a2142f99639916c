package server

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/meridian-sd/meridian/structs"
)

// zoneServer is a test server in a redundancy zone.
func zoneServer(t *testing.T, zone string, expect int) *Server {
	t.Helper()
	cfg := testConfig(t, "dc1")
	cfg.NodeName = fmt.Sprintf("%s-%s", zone, cfg.NodeName)
	cfg.BootstrapExpect = expect
	cfg.NodeMeta = map[string]string{"zone": zone}
	cfg.Autopilot.RedundancyZoneTag = "zone"
	// Raft timings that survive a loaded machine under -race: six
	// servers electing leaders over and over would only make the test
	// wait.
	cfg.RaftConfig.HeartbeatTimeout = time.Second
	cfg.RaftConfig.ElectionTimeout = time.Second
	cfg.RaftConfig.LeaderLeaseTimeout = 500 * time.Millisecond
	cfg.Autopilot.LastContactThreshold = structs.Duration(3 * time.Second)
	return startServer(t, cfg)
}

// zoneVotersOf reads the autopilot state through s and returns each
// zone's voters by name.
func zoneVotersOf(s *Server) (map[string][]string, *structs.AutopilotState, error) {
	var st structs.AutopilotState
	if err := s.RPC("Operator.AutopilotState", &structs.DCSpecificRequest{Datacenter: "dc1"}, &st); err != nil {
		return nil, nil, err
	}
	out := map[string][]string{}
	for zone, z := range st.RedundancyZones {
		for _, id := range z.Voters {
			out[zone] = append(out[zone], st.Servers[id].Name)
		}
		sort.Strings(out[zone])
	}
	return out, &st, nil
}

// TestAutopilotZonesInProcess: six servers in three zones end with one
// voter per zone, the state naming each zone's servers and voters; when
// a zone's voter stops, the zone's other server takes the vote.
func TestAutopilotZonesInProcess(t *testing.T) {
	a1 := zoneServer(t, "a", 3)
	a2 := zoneServer(t, "a", 3)
	b1 := zoneServer(t, "b", 3)
	for _, s := range []*Server{a2, b1} {
		if _, err := s.JoinLAN([]string{lanAddr(a1)}); err != nil {
			t.Fatal(err)
		}
	}
	waitForLeader(t, []*Server{a1, a2, b1})
	var others []*Server
	for _, z := range []string{"b", "c", "c"} {
		s := zoneServer(t, z, 0)
		if _, err := s.JoinLAN([]string{lanAddr(a1)}); err != nil {
			t.Fatal(err)
		}
		others = append(others, s)
	}
	all := append([]*Server{a1, a2, b1}, others...)
	byName := map[string]*Server{}
	for _, s := range all {
		byName[s.NodeName()] = s
	}
	var voters map[string][]string
	waitFor(t, "one voter per zone", 60*time.Second, func() error {
		var st *structs.AutopilotState
		var err error
		voters, st, err = zoneVotersOf(a1)
		if err != nil {
			return err
		}
		if len(st.Servers) != 6 || len(st.Voters) != 3 {
			return fmt.Errorf("%d servers, voters %v", len(st.Servers), st.Voters)
		}
		for _, z := range []string{"a", "b", "c"} {
			if len(voters[z]) != 1 || len(st.RedundancyZones[z].Servers) != 2 {
				return fmt.Errorf("zone %s: voters %v, %+v", z, voters[z], st.RedundancyZones[z])
			}
		}
		for _, srv := range st.Servers {
			want := "zone-standby"
			if voters[srv.RedundancyZone][0] == srv.Name {
				want = "zone-voter"
			}
			if srv.NodeType != want {
				return fmt.Errorf("%s: %s, want %s (voters %v)", srv.Name, srv.NodeType, want, voters)
			}
		}
		return nil
	})
	// The voter of a zone that does not lead stops: the zone's other
	// server takes the vote and the leader stays.
	var leader *Server
	for _, s := range all {
		if s.IsLeader() {
			leader = s
		}
	}
	if leader == nil {
		t.Fatal("no leader")
	}
	var zone string
	for _, z := range []string{"a", "b", "c"} {
		if voters[z][0] != leader.NodeName() {
			zone = z
			break
		}
	}
	victim := byName[voters[zone][0]]
	victim.Shutdown()
	waitFor(t, "zone "+zone+" voting again", 60*time.Second, func() error {
		got, st, err := zoneVotersOf(leader)
		if err != nil {
			return err
		}
		if len(got[zone]) != 1 || got[zone][0] == victim.NodeName() || len(st.Voters) != 3 {
			return fmt.Errorf("zone %s voters %v, voters %v", zone, got[zone], st.Voters)
		}
		return nil
	})
	if !leader.IsLeader() {
		t.Errorf("leadership moved from %s", leader.NodeName())
	}
}
