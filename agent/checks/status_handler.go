package checks

import (
	"fmt"
	"sync"

	"github.com/meridian-sd/meridian/structs"
)

// Thresholds are Consul's per-check flapping guards (success_before_passing,
// failures_before_warning, failures_before_critical). Zero values report
// every result as it comes.
type Thresholds struct {
	// SuccessBeforePassing is how many consecutive passing (or warning)
	// results are needed before one is reported.
	SuccessBeforePassing int
	// FailuresBeforeWarning is how many consecutive critical results are
	// needed before the check is reported as warning; zero means the same
	// as FailuresBeforeCritical.
	FailuresBeforeWarning int
	// FailuresBeforeCritical is how many consecutive critical results are
	// needed before one is reported as critical.
	FailuresBeforeCritical int
}

// Validate reports, in one sentence, what makes the thresholds unusable.
func (t Thresholds) Validate() error {
	switch {
	case t.SuccessBeforePassing < 0:
		return fmt.Errorf("success_before_passing %d must not be negative", t.SuccessBeforePassing)
	case t.FailuresBeforeWarning < 0:
		return fmt.Errorf("failures_before_warning %d must not be negative", t.FailuresBeforeWarning)
	case t.FailuresBeforeCritical < 0:
		return fmt.Errorf("failures_before_critical %d must not be negative", t.FailuresBeforeCritical)
	case t.FailuresBeforeWarning > t.FailuresBeforeCritical:
		return fmt.Errorf("failures_before_warning %d must not exceed failures_before_critical %d",
			t.FailuresBeforeWarning, t.FailuresBeforeCritical)
	}
	return nil
}

// StatusHandler sits between a periodic runner and the agent's Notifier and
// holds back results until enough consecutive ones agree, as Consul's
// StatusHandler does:
//
//   - A passing or warning result counts as a success: it resets the failure
//     count and is reported once SuccessBeforePassing successes in a row
//     were seen. (Consul counts warning with passing, not toward critical.)
//   - A critical result counts as a failure: it resets the success count and
//     is reported as critical once FailuresBeforeCritical failures in a row
//     were seen, or as warning (with the failure's output) once
//     FailuresBeforeWarning were.
//   - Results held back are not reported at all; the last reported state
//     stands.
//
// Both counts start at their thresholds, so the very first result is
// reported at once whatever it is. A StatusHandler is safe for concurrent
// use; give each check its own.
type StatusHandler struct {
	inner Notifier
	t     Thresholds

	mu        sync.Mutex
	successes int
	failures  int
}

// NewStatusHandler returns a handler that forwards to inner according to t.
// A zero FailuresBeforeWarning takes FailuresBeforeCritical's value.
func NewStatusHandler(inner Notifier, t Thresholds) *StatusHandler {
	if t.FailuresBeforeWarning == 0 {
		t.FailuresBeforeWarning = t.FailuresBeforeCritical
	}
	return &StatusHandler{
		inner:     inner,
		t:         t,
		successes: t.SuccessBeforePassing,
		failures:  t.FailuresBeforeCritical,
	}
}

// UpdateCheck counts the result and forwards it to the inner Notifier when
// its threshold is met. It implements Notifier.
func (s *StatusHandler) UpdateCheck(checkID string, status, output string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if status == structs.HealthPassing || status == structs.HealthWarning {
		// Counts stop at their thresholds: only "reached or not" matters.
		s.successes = min(s.successes+1, s.t.SuccessBeforePassing)
		s.failures = 0
		if s.successes >= s.t.SuccessBeforePassing {
			s.inner.UpdateCheck(checkID, status, output)
		}
		return
	}
	s.failures = min(s.failures+1, s.t.FailuresBeforeCritical)
	s.successes = 0
	switch {
	case s.failures >= s.t.FailuresBeforeCritical:
		s.inner.UpdateCheck(checkID, status, output)
	case s.failures >= s.t.FailuresBeforeWarning:
		s.inner.UpdateCheck(checkID, structs.HealthWarning, output)
	}
}

// Conformance: a StatusHandler is a Notifier.
var _ Notifier = (*StatusHandler)(nil)
