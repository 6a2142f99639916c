package agent

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// TestAgentMembersSegment: ?segment= as OSS Consul answers it: the default
// segment and all segments are the LAN pool, any other is refused.
func TestAgentMembersSegment(t *testing.T) {
	ta := StartTestAgent(t, "-server", "-bootstrap")
	ag := ta.Client.Agent()
	for _, seg := range []string{"", api.AllSegments} {
		members, err := ag.MembersOpts(api.MembersOpts{Segment: seg})
		if err != nil {
			t.Fatalf("segment %q: %v", seg, err)
		}
		if len(members) != 1 || members[0].Name != ta.Name {
			t.Errorf("segment %q: members %+v", seg, members)
		}
	}
	_, err := ag.MembersOpts(api.MembersOpts{Segment: "alpha"})
	wantStatus(t, "unknown segment", err, 400, "Network segments are not supported")
	_, err = ag.MembersOpts(api.MembersOpts{Segment: "alpha", WAN: true})
	wantStatus(t, "segment with wan", err, 400, "Cannot provide a segment with wan=true")
}

// TestStatusForwardedByDC: /v1/status/leader and /v1/status/peers with
// ?dc= answer for that datacenter, through a client agent too.
func TestStatusForwardedByDC(t *testing.T) {
	dc1 := StartTestAgent(t, "-server", "-bootstrap", "-datacenter=dc1")
	dc2 := StartTestAgent(t, "-server", "-bootstrap", "-datacenter=dc2")
	cl := StartTestAgent(t, "-datacenter=dc1", "-join="+dc1.LANAddr())
	dc1.WaitForLeader(t)
	dc2.WaitForLeader(t)
	if err := dc1.Client.Agent().Join(dc2.WANAddr(), true); err != nil {
		t.Fatal(err)
	}
	leader2, err := dc2.Client.Status().Leader()
	if err != nil || leader2 == "" {
		t.Fatalf("dc2 leader %q, %v", leader2, err)
	}
	for _, ta := range []*TestAgent{dc1, cl} {
		st := ta.Client.Status()
		WaitFor(t, "dc2's leader through "+ta.Name, 10*time.Second, func() error {
			got, err := st.LeaderWithQueryOptions(&api.QueryOptions{Datacenter: "dc2"})
			if err != nil {
				return err
			}
			if got != leader2 {
				return fmt.Errorf("leader of dc2 = %q, want %q", got, leader2)
			}
			return nil
		})
		peers, err := st.PeersWithQueryOptions(&api.QueryOptions{Datacenter: "dc2"})
		if err != nil || len(peers) != 1 || peers[0] != leader2 {
			t.Errorf("peers of dc2 through %s = %v, %v", ta.Name, peers, err)
		}
		local, err := st.PeersWithQueryOptions(nil)
		if err != nil || len(local) != 1 || local[0] == leader2 {
			t.Errorf("local peers through %s = %v, %v", ta.Name, local, err)
		}
		_, err = st.PeersWithQueryOptions(&api.QueryOptions{Datacenter: "dc9"})
		if err == nil || !strings.Contains(err.Error(), "No path to datacenter") {
			t.Errorf("peers of an unknown dc through %s: %v", ta.Name, err)
		}
	}
}
