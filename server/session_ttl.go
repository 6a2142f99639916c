package server

import (
	"sync"
	"time"

	"github.com/meridian-sd/meridian/structs"
)

// sessionTimers are the leader's TTL timers, one per session with a TTL.
// They live only on the leader: a new leader starts a fresh full-length
// timer for every session (initSessionTimers), so a leader change can only
// lengthen a session's life, never cut it short.
type sessionTimers struct {
	mu     sync.Mutex
	timers map[string]*time.Timer
}

func newSessionTimers() *sessionTimers {
	return &sessionTimers{timers: make(map[string]*time.Timer)}
}

func (t *sessionTimers) set(id string, d time.Duration, fire func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if old, ok := t.timers[id]; ok {
		old.Stop()
	}
	t.timers[id] = time.AfterFunc(d, fire)
}

func (t *sessionTimers) clear(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if old, ok := t.timers[id]; ok {
		old.Stop()
		delete(t.timers, id)
	}
}

func (t *sessionTimers) stopAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for id, tm := range t.timers {
		tm.Stop()
		delete(t.timers, id)
	}
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

// resetSessionTimer (re)starts the timer of a session: it fires after
// TTL x SessionTTLMultiplier, as Consul's does, giving clients slack to
// renew.
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
	s.sessionTimers.clear(id)
	if !s.IsLeader() {
		return
	}
	req := &structs.SessionRequest{Datacenter: s.config.Datacenter, Op: structs.SessionDestroy, Session: structs.Session{ID: id}}
	if _, err := s.raftApply(structs.SessionRequestType, req); err != nil {
		s.logger.Error("invalidate expired session", "session", id, "error", err)
		return
	}
	s.logger.Debug("session expired", "session", id)
}
