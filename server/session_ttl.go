package server

import (
	"sync"
	"time"

	"github.com/meridian-sd/meridian/structs"
)

// Session TTLs
//
// A session with a TTL must be renewed within it. The leader keeps one
// timer per such session, started at creation and restarted by every
// renewal; it fires after TTL x SessionTTLMultiplier, as Consul's, giving
// clients slack. A firing timer destroys the session through Raft, which
// releases or deletes its keys and starts their lock delay.
//
// The timers live only on the leader. A new leader starts a fresh
// full-length timer for every session with a TTL once it has applied
// everything of earlier terms (initSessionTimers, from the leader loop), so
// a leader change can only lengthen a session's life, never cut it short.
// Losing leadership stops them all.

// sessionTimers are the leader's TTL timers. Every timer counts in wg until
// it is stopped before firing or its callback has returned, so stopAll can
// wait for callbacks that are already running.
type sessionTimers struct {
	mu     sync.Mutex
	timers map[string]*time.Timer
	wg     sync.WaitGroup
}

func newSessionTimers() *sessionTimers {
	return &sessionTimers{timers: make(map[string]*time.Timer)}
}

// set (re)starts the timer of id. fire runs only if this timer is still
// the session's current one when it goes off, so a renewal racing with
// expiry never has its fresh timer removed by the old one.
func (t *sessionTimers) set(id string, d time.Duration, fire func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopLocked(id)
	var tm *time.Timer
	t.wg.Add(1)
	tm = time.AfterFunc(d, func() {
		defer t.wg.Done()
		t.mu.Lock()
		current := t.timers[id] == tm
		if current {
			delete(t.timers, id)
		}
		t.mu.Unlock()
		if current {
			fire()
		}
	})
	t.timers[id] = tm
}

// stopLocked stops and forgets the timer of id; t.mu is held.
func (t *sessionTimers) stopLocked(id string) {
	old, ok := t.timers[id]
	if !ok {
		return
	}
	delete(t.timers, id)
	if old.Stop() {
		t.wg.Done()
	}
}

func (t *sessionTimers) clear(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopLocked(id)
}

// stopAll stops every timer and waits for callbacks already running.
func (t *sessionTimers) stopAll() {
	t.mu.Lock()
	for id := range t.timers {
		t.stopLocked(id)
	}
	t.mu.Unlock()
	t.wg.Wait()
}

func (t *sessionTimers) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.timers)
}

// initSessionTimers starts a timer for every session with a TTL.
func (s *Server) initSessionTimers() error {
	s.sessionTimers.stopAll()
	_, sessions, err := s.fsm.State().SessionList(nil)
	if err != nil {
		return err
	}
	for _, sess := range sessions {
		s.resetSessionTimer(sess)
	}
	return nil
}

// resetSessionTimer (re)starts the timer of a session with a TTL.
func (s *Server) resetSessionTimer(sess *structs.Session) {
	if sess.TTL == "" {
		return
	}
	ttl, err := time.ParseDuration(sess.TTL)
	if err != nil || ttl <= 0 {
		return
	}
	id := sess.ID
	s.sessionTimers.set(id, ttl*structs.SessionTTLMultiplier, func() { s.invalidateSession(id) })
}

// invalidateSession destroys a session whose TTL ran out.
func (s *Server) invalidateSession(id string) {
	defer s.metrics.MeasureSince([]string{"session_ttl", "invalidate"}, time.Now())
	if !s.IsLeader() || s.ctx.Err() != nil {
		return
	}
	// Already gone (its node failed, a check went critical): no entry.
	if _, sess, err := s.fsm.State().SessionGet(nil, id); err == nil && sess == nil {
		return
	}
	req := &structs.SessionRequest{Datacenter: s.config.Datacenter, Op: structs.SessionDestroy, Session: structs.Session{ID: id}}
	if _, err := s.raftApply(structs.SessionRequestType, req); err != nil {
		s.logger.Error("invalidate expired session", "session", id, "error", err)
		return
	}
	s.logger.Debug("session expired", "session", id)
}
