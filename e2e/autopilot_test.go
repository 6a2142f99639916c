package e2e

// Autopilot with redundancy zones and leadership transfer on real
// processes (hosts 320-359). Six servers in three zones (node_meta zone =
// a, b, c; autopilot.redundancy_zone_tag = "zone"): three of them
// bootstrap with two in zone a, so the leader warns that the voters would
// not survive the loss of zone a, and autopilot moves to one voter per
// zone as the others join. Then a zone's voter is killed and the other
// server of its zone takes its vote while the leader stays; then
// `operator raft transfer-leader` moves the leader, to a server Raft picks
// and to a chosen one.

import (
	"fmt"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// zoneHCL places a server in a zone, with fast autopilot timings.
func zoneHCL(zone string) string {
	return fmt.Sprintf(`node_meta { zone = %q }
autopilot {
  redundancy_zone_tag       = "zone"
  server_stabilization_time = "1s"
  last_contact_threshold    = "1s"
}
`, zone)
}

// zoneVoters reads the autopilot state through a and returns, per zone,
// its voters' names, and the leader's name.
func zoneVoters(a *agentProc) (map[string][]string, string, *api.AutopilotState, error) {
	st, err := a.API.Operator().AutopilotState(nil)
	if err != nil {
		return nil, "", nil, fmt.Errorf("autopilot state from %s: %w", a.Name, err)
	}
	out := map[string][]string{}
	for zone, z := range st.RedundancyZones {
		out[zone] = []string{}
		for _, id := range z.Voters {
			out[zone] = append(out[zone], st.Servers[id].Name)
		}
		sort.Strings(out[zone])
	}
	return out, st.Servers[st.Leader].Name, st, nil
}

// raftVoters returns the names of the voters in a's Raft configuration.
func raftVoters(a *agentProc) (map[string]bool, error) {
	cfg, err := a.API.Operator().RaftGetConfiguration(nil)
	if err != nil {
		return nil, fmt.Errorf("raft configuration from %s: %w", a.Name, err)
	}
	out := map[string]bool{}
	for _, s := range cfg.Servers {
		if s.Voter {
			out[s.Node] = true
		}
	}
	return out, nil
}

// oneVoterPerZone checks that each of zones has exactly one voter, that
// the Raft configuration agrees, and returns the voter of each zone.
func oneVoterPerZone(a *agentProc, zones ...string) (map[string]string, string, error) {
	byZone, leader, st, err := zoneVoters(a)
	if err != nil {
		return nil, "", err
	}
	out := map[string]string{}
	for _, z := range zones {
		if len(byZone[z]) != 1 {
			return nil, "", fmt.Errorf("zone %s has voters %v (zones %v)", z, byZone[z], byZone)
		}
		out[z] = byZone[z][0]
	}
	if len(st.Voters) != len(zones) {
		return nil, "", fmt.Errorf("%d voters in the state, want %d", len(st.Voters), len(zones))
	}
	voters, err := raftVoters(a)
	if err != nil {
		return nil, "", err
	}
	if len(voters) != len(zones) {
		return nil, "", fmt.Errorf("raft voters %v, want %d", voters, len(zones))
	}
	for _, v := range out {
		if !voters[v] {
			return nil, "", fmt.Errorf("%s is a zone voter in the state but not a raft voter (%v)", v, voters)
		}
	}
	return out, leader, nil
}

func TestAutopilotRedundancyZones(t *testing.T) {
	c := newCluster(t, 320, 359)
	server := func(name, zone string, expect int, join ...string) *agentProc {
		return c.start(agentOpts{Name: name, Server: true, BootstrapExpect: expect, Join: join, HCL: zoneHCL(zone)})
	}
	// Two of the three bootstrap servers share zone a.
	a1 := server("a1", "a", 3)
	a2 := server("a2", "a", 3, a1.LANAddr)
	b1 := server("b1", "b", 3, a1.LANAddr)
	all := []*agentProc{a1, a2, b1}
	waitLeader(t, 60*time.Second, all...)

	step(t, "three voters in two zones: the leader warns", func(t *testing.T) {
		waitFor(t, 30*time.Second, "the zone warning in the leader's log", func() error {
			for _, s := range all {
				if strings.Contains(s.Log(), "cannot survive the loss of zone a") {
					return nil
				}
			}
			return fmt.Errorf("no server logged the warning yet")
		})
	})

	b2 := server("b2", "b", 0, a1.LANAddr)
	c1 := server("c1", "c", 0, a1.LANAddr)
	c2 := server("c2", "c", 0, a1.LANAddr)
	all = append(all, b2, c1, c2)
	byName := map[string]*agentProc{}
	for _, s := range all {
		byName[s.Name] = s
	}

	var voters map[string]string
	var leader string
	step(t, "six servers in three zones: one voter per zone", func(t *testing.T) {
		// Checked on one reading of the state at a time: while the
		// servers join, autopilot moves voters around.
		waitFor(t, 60*time.Second, "one voter in each of zones a, b, c, the others standbys", func() error {
			var err error
			voters, leader, err = oneVoterPerZone(a1, "a", "b", "c")
			if err != nil {
				return err
			}
			_, _, st, err := zoneVoters(a1)
			if err != nil {
				return err
			}
			if len(st.Servers) != 6 {
				return fmt.Errorf("%d servers in the state, want 6", len(st.Servers))
			}
			for _, s := range st.Servers {
				wantZone := s.Name[:1]
				if s.RedundancyZone != wantZone {
					return fmt.Errorf("%s: zone %q, want %q", s.Name, s.RedundancyZone, wantZone)
				}
				wantType := api.AutopilotTypeZoneStandby
				if voters[wantZone] == s.Name {
					wantType = api.AutopilotTypeZoneVoter
				}
				if s.NodeType != wantType {
					return fmt.Errorf("%s: node type %q, want %q (zone voters %v)", s.Name, s.NodeType, wantType, voters)
				}
			}
			for zone, z := range st.RedundancyZones {
				if len(z.Servers) != 2 || z.FailureTolerance != 1 {
					return fmt.Errorf("zone %s: %+v, want 2 servers and a failure tolerance of 1", zone, z)
				}
			}
			return nil
		})
		out := c1.mustCLI("operator autopilot state").Stdout
		for _, w := range []string{"Redundancy Zones:", "   a\n", "   b\n", "   c\n", "Node Type:       zone-standby"} {
			if !strings.Contains(out, w) {
				t.Errorf("operator autopilot state lacks %q:\n%s", w, out)
			}
		}
	})

	step(t, "a zone's voter killed: the other server of the zone votes, the leader stays", func(t *testing.T) {
		// A zone whose voter does not lead.
		var zone string
		for _, z := range []string{"a", "b", "c"} {
			if voters[z] != leader {
				zone = z
				break
			}
		}
		victim := byName[voters[zone]]
		var other *agentProc
		for _, s := range all {
			if s.Name[:1] == zone && s != victim {
				other = s
			}
		}
		watcher := byName[leader]
		t.Logf("killing %s, the voter of zone %s; %s should take its vote; leader %s", victim.Name, zone, other.Name, leader)
		start := time.Now()
		victim.Stop(syscall.SIGKILL)
		var replaced time.Duration
		waitFor(t, 60*time.Second, other.Name+" voting", func() error {
			v, err := raftVoters(watcher)
			if err != nil {
				return err
			}
			if !v[other.Name] {
				return fmt.Errorf("%s is not a voter yet (voters %v)", other.Name, v)
			}
			if replaced == 0 {
				replaced = time.Since(start)
			}
			return nil
		})
		t.Logf("FIGURE zone voter replaced: %s from SIGKILL of %s to %s voting", replaced.Round(10*time.Millisecond), victim.Name, other.Name)
		waitFor(t, 60*time.Second, "one voter per zone again, without "+victim.Name, func() error {
			got, l, err := oneVoterPerZone(watcher, "a", "b", "c")
			if err != nil {
				return err
			}
			if got[zone] != other.Name {
				return fmt.Errorf("zone %s voter %s, want %s", zone, got[zone], other.Name)
			}
			if l != leader {
				return fmt.Errorf("leader changed from %s to %s", leader, l)
			}
			return nil
		})
		if l, err := leaderOf(watcher); err != nil || l != fmt.Sprintf("%s:%d", watcher.Host, watcher.Ports.Server) {
			t.Errorf("leader after the replacement: %q, %v; want %s", l, err, watcher.Name)
		}
		all = remove(all, victim)
	})

	step(t, "transfer-leader moves the leader", func(t *testing.T) {
		old := waitLeader(t, 30*time.Second, all...)
		via := all[len(all)-1]
		out := via.mustCLI("operator raft transfer-leader").Stdout
		if strings.TrimSpace(out) != "Success" {
			t.Errorf("transfer-leader printed %q", out)
		}
		now := waitLeaderNot(t, 30*time.Second, old, all...)
		// Then to a chosen voter, by ID, through the API client.
		cfg, err := via.API.Operator().RaftGetConfiguration(nil)
		if err != nil {
			t.Fatal(err)
		}
		var target *api.RaftServer
		for _, s := range cfg.Servers {
			if s.Voter && s.Address != now {
				target = s
				break
			}
		}
		if target == nil {
			t.Fatalf("no other voter in %+v", cfg.Servers)
		}
		res, err := via.API.Operator().RaftLeaderTransfer(target.ID, nil)
		if err != nil || !res.Success {
			t.Fatalf("transfer to %s: %+v, %v", target.Node, res, err)
		}
		waitFor(t, 30*time.Second, target.Node+" leading", func() error {
			l, err := leaderOf(via)
			if err != nil {
				return err
			}
			if l != target.Address {
				return fmt.Errorf("leader %s", l)
			}
			return nil
		})
		// A non-voter cannot be made leader.
		for _, s := range cfg.Servers {
			if !s.Voter {
				r := via.CLI("operator raft transfer-leader", "-id="+s.ID)
				if r.Code != 1 || !strings.Contains(r.Stderr, "not a voter") {
					t.Errorf("transfer to the non-voter %s: %s", s.Node, r)
				}
				break
			}
		}
	})
}

// remove returns l without a.
func remove(l []*agentProc, a *agentProc) []*agentProc {
	var out []*agentProc
	for _, x := range l {
		if x != a {
			out = append(out, x)
		}
	}
	return out
}
