package server

import (
	"fmt"
	"testing"
	"time"
)

// TestFederationProbeLearnsNewLeaderSoon: with a long probe interval, a
// datacenter that joins the WAN pool has its leader known within seconds
// (asked every federationRetryInterval while unknown), not after a whole
// interval, so its leader-only requests take one hop.
func TestFederationProbeLearnsNewLeaderSoon(t *testing.T) {
	start := func(dc string) *Server {
		cfg := testConfig(t, dc)
		cfg.Bootstrap = true
		cfg.FederationProbeInterval = time.Hour
		s := startServer(t, cfg)
		waitForLeader(t, []*Server{s})
		return s
	}
	dc1, dc2 := start("dc1"), start("dc2")
	joinWAN(t, dc1, dc2)
	waitWANMembers(t, dc1, 2)
	want := dc2.RPCAddr().String()
	waitFor(t, "dc1 to learn dc2's leader", 10*time.Second, func() error {
		if got := dc1.router.Leader("dc2"); got != want {
			return fmt.Errorf("dc2's leader known to dc1: %q, want %q", got, want)
		}
		return nil
	})
}
