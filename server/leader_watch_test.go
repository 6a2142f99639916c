package server

import (
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// TestLeaderWatchWakesOnElection: a waiter that took the channel before
// the election is woken by it, so that a request held for a leader goes
// on at once rather than at its next poll.
func TestLeaderWatchWakesOnElection(t *testing.T) {
	// Not bootstrapped: no election until the test has its channel.
	s := startServer(t, testConfig(t, "dc1"))
	changed := s.leaderWatch.changed()
	if s.raft.Leader() != "" {
		t.Fatal("a server that was never bootstrapped has a leader")
	}
	conf := raft.Configuration{Servers: []raft.Server{{
		Suffrage: raft.Voter,
		ID:       raft.ServerID(s.config.NodeID),
		Address:  s.raftTransport.LocalAddr(),
	}}}
	if err := s.raft.BootstrapCluster(conf).Error(); err != nil {
		t.Fatal(err)
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
