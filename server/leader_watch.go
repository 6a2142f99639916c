package server

import (
	"context"
	"sync"

	"github.com/hashicorp/raft"
)

// leaderWatch tells waiters that the Raft leader changed (an election was
// won here or elsewhere, or the leader was lost), so that a request held
// for a leader goes on at once instead of at its next poll. Without it the
// first request of an agent whose server was still electing (anti-entropy's
// first sync, say) slept up to two hold intervals (about 0.44 s by default)
// after the election.
type leaderWatch struct {
	mu sync.Mutex
	ch chan struct{}
}

func newLeaderWatch() *leaderWatch {
	return &leaderWatch{ch: make(chan struct{})}
}

// changed returns a channel closed at the next leader change. Take it
// before looking at the leader, so that a change in between is not missed.
func (w *leaderWatch) changed() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ch
}

// notify wakes every waiter.
func (w *leaderWatch) notify() {
	w.mu.Lock()
	defer w.mu.Unlock()
	close(w.ch)
	w.ch = make(chan struct{})
}

// watchLeader feeds the server's leaderWatch from Raft's leader
// observations until ctx ends.
func (s *Server) watchLeader(ctx context.Context) {
	obs := make(chan raft.Observation, 8)
	o := raft.NewObserver(obs, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	s.raft.RegisterObserver(o)
	defer s.raft.DeregisterObserver(o)
	for {
		select {
		case <-ctx.Done():
			return
		case <-obs:
			s.leaderWatch.notify()
		}
	}
}
