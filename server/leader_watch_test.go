package server

import (
	"testing"
	"time"
)

// TestLeaderWatchWakesOnElection: a waiter that took the channel before
// the election is woken by it, so that a request held for a leader goes
// on at once rather than at its next poll.
func TestLeaderWatchWakesOnElection(t *testing.T) {
	cfg := testConfig(t, "dc1")
	// Elect well after NewServer returns, so that the test watches first.
	cfg.RaftConfig.HeartbeatTimeout = time.Second
	cfg.RaftConfig.ElectionTimeout = time.Second
	cfg.Bootstrap = true
	s := startServer(t, cfg)
	changed := s.leaderWatch.changed()
	if s.raft.Leader() != "" {
		t.Fatal("elected before the test could watch; raise the timeouts")
	}
	select {
	case <-changed:
	case <-time.After(15 * time.Second):
		t.Fatal("no leader change seen within 15s")
	}
	waitForLeader(t, []*Server{s})
}

func TestLeaderWatchNotify(t *testing.T) {
	w := newLeaderWatch()
	a := w.changed()
	w.notify()
	select {
	case <-a:
	default:
		t.Fatal("notify did not close the channel taken before it")
	}
	b := w.changed()
	select {
	case <-b:
		t.Fatal("channel taken after notify is already closed")
	default:
	}
}
