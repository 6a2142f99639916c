package checks

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// update is one notification a recorder received.
type update struct {
	CheckID, Status, Output string
}

// recorder is a Notifier that keeps every update.
type recorder struct {
	mu      sync.Mutex
	updates []update
}

// UpdateCheck records the update.
func (r *recorder) UpdateCheck(checkID, status, output string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.updates = append(r.updates, update{checkID, status, output})
}

// all returns a copy of the updates so far.
func (r *recorder) all() []update {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]update(nil), r.updates...)
}

// count returns how many updates arrived.
func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.updates)
}

// last returns the latest update, if any.
func (r *recorder) last() (update, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.updates) == 0 {
		return update{}, false
	}
	return r.updates[len(r.updates)-1], true
}

// waitTimeout is how long tests poll for a condition before failing; long
// enough for a loaded 2-core machine running -race, never reached when
// things work.
const waitTimeout = 10 * time.Second

// waitFor polls cond until it returns true or waitTimeout passes, then fails
// the test with cond's last description.
func waitFor(t testing.TB, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		ok, desc := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %s", what, desc)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitForLast waits until the recorder's latest update has status and an
// output containing want, and returns it.
func waitForLast(t testing.TB, r *recorder, status, want string) update {
	t.Helper()
	var got update
	waitFor(t, fmt.Sprintf("status %q with output containing %q", status, want), func() (bool, string) {
		u, ok := r.last()
		got = u
		if !ok {
			return false, "no update yet"
		}
		return u.Status == status && strings.Contains(u.Output, want), fmt.Sprintf("last update %+v", u)
	})
	return got
}

// noStagger runs the first check at once.
func noStagger(time.Duration) time.Duration { return 0 }

// checkGoroutines registers a cleanup, to run after every other cleanup of
// the test, that fails the test if a goroutine started by this package's
// non-test code is still alive once a grace period has passed.
func checkGoroutines(t *testing.T) {
	t.Helper()
	t.Cleanup(func() {
		var leaked []string
		deadline := time.Now().Add(waitTimeout)
		for {
			leaked = ownGoroutines()
			if len(leaked) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("%d goroutine(s) leaked:\n%s", len(leaked), strings.Join(leaked, "\n\n"))
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

// ownGoroutines returns the stacks of live goroutines created by the
// package's own code (not by tests).
func ownGoroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	const pkg = "created by github.com/meridian-sd/meridian/agent/checks."
	var own []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		i := strings.Index(g, pkg)
		if i < 0 {
			continue
		}
		creator := g[i+len(pkg):]
		if strings.HasPrefix(creator, "Test") || strings.HasPrefix(creator, "Benchmark") {
			continue
		}
		own = append(own, g)
	}
	return own
}
