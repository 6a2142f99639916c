package server

import (
	"fmt"
	"testing"
	"time"
)

// TestFirstElectionStandsEarly: three fresh servers with -bootstrap-expect
// and a long heartbeat timeout elect a leader before that timeout could
// have run out on any of them (raft waits at least one whole heartbeat
// timeout after bootstrap before it stands on its own), since one of them
// stood at once with its timeouts lowered to the lease; and every server
// has its configured timeouts back once the leader is known.
func TestFirstElectionStandsEarly(t *testing.T) {
	// The lease, which the first election's timeouts drop to, is long
	// enough for a vote's round trip on a loaded machine.
	const steady, lease = 15 * time.Second, time.Second
	var servers []*Server
	for i := 0; i < 3; i++ {
		cfg := testConfig(t, "dc1")
		cfg.BootstrapExpect = 3
		cfg.RaftConfig.HeartbeatTimeout = steady
		cfg.RaftConfig.ElectionTimeout = steady
		cfg.RaftConfig.LeaderLeaseTimeout = lease
		servers = append(servers, startServer(t, cfg))
	}
	start := time.Now()
	for _, s := range servers[1:] {
		if _, err := s.JoinLAN([]string{lanAddr(servers[0])}); err != nil {
			t.Fatalf("join: %v", err)
		}
	}
	var leader string
	for leader == "" {
		if time.Since(start) >= steady {
			t.Fatalf("no leader within %s: the first election waited for a steady-state heartbeat timeout", steady)
		}
		time.Sleep(10 * time.Millisecond)
		leader = string(servers[0].raft.Leader())
	}
	t.Logf("leader %s after %s", leader, time.Since(start).Round(time.Millisecond))
	waitForLeader(t, servers)
	waitFor(t, "every server's raft timeouts restored", 10*time.Second, func() error {
		for _, s := range servers {
			rc := s.raft.ReloadableConfig()
			if rc.HeartbeatTimeout != steady || rc.ElectionTimeout != steady {
				return fmt.Errorf("%s: heartbeat %s, election %s; want %s", s.NodeName(), rc.HeartbeatTimeout, rc.ElectionTimeout, steady)
			}
		}
		return nil
	})
}
