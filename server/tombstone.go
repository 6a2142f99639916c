package server

import (
	"sync"
	"time"
)

// tombstoneClock remembers, at TombstoneTTLGranularity steps, which Raft
// index was current at which time, so the leader can reap tombstones that
// are older than TombstoneTTL without keeping a timer per delete.
type tombstoneClock struct {
	mu      sync.Mutex
	samples []tombstoneSample
}

type tombstoneSample struct {
	at    time.Time
	index uint64
}

// tombstoneReapIndex records the current index and returns the newest
// index that is at least TombstoneTTL old, or 0.
func (s *Server) tombstoneReapIndex() uint64 {
	c := &s.tombstones
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	// Raft sets its applied index after it hands entries to the FSM, and
	// the FSM may apply them (and their futures return) first, so the
	// state store's own highest index is taken too: a sample must cover
	// every write made before it.
	idx := max(s.raft.AppliedIndex(), s.fsm.State().MaxIndex())
	c.samples = append(c.samples, tombstoneSample{at: now, index: idx})
	var reap uint64
	cut := 0
	for i, smp := range c.samples {
		if now.Sub(smp.at) < s.config.TombstoneTTL {
			break
		}
		reap = smp.index
		cut = i + 1
	}
	c.samples = c.samples[cut:]
	if reap == 0 {
		return 0
	}
	// Skip the Raft entry when nothing is old enough to reap.
	tombs, err := s.fsm.State().Tombstones("")
	if err != nil {
		s.logger.Warn("list tombstones", "error", err)
		return 0
	}
	for _, t := range tombs {
		if t.Index <= reap {
			return reap
		}
	}
	return 0
}
