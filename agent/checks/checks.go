// Package checks runs the health checks an agent keeps for its local services
// and for its node: TTL checks whose status is pushed from outside, and
// periodic HTTP, TCP and script checks, in the manner of Consul's agent/checks
// package.
//
// The agent owns one runner per check. A runner is built from a config struct
// (TTLConfig, HTTPConfig, TCPConfig, ScriptConfig) and a Notifier that receives
// every result; Start launches the runner's single goroutine and Stop ends it
// and waits for it. A StatusHandler placed between a runner and the agent's
// Notifier applies Consul's success_before_passing, failures_before_warning
// and failures_before_critical thresholds.
//
// Status mapping follows Consul:
//
//   - HTTP: 2xx is passing, 429 Too Many Requests is warning, every other
//     status and every transport error is critical.
//   - TCP: a connection within the timeout is passing, anything else critical.
//   - Script: exit code 0 is passing, 1 is warning, anything else (including
//     a timeout or a failure to start) is critical.
//   - TTL: whatever SetStatus was given, until the TTL passes without an
//     update; then critical with "TTL expired".
//
// Whether script checks may run at all (Consul's enable_script_checks) is the
// agent's decision; this package runs whatever it is handed.
package checks

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

const (
	// MinInterval is the shortest interval a user-defined periodic check may
	// have, as in Consul: anything faster risks fork-bombing the machine with
	// scripts or flooding a service with probes. The Validate methods enforce
	// it; the constructors do not, so that tests can run fast checks.
	MinInterval = time.Second

	// DefaultOutputMaxSize is how many bytes of check output are kept when a
	// config leaves OutputMaxSize at zero (4 KiB, Consul's default
	// check_output_max_size).
	DefaultOutputMaxSize = 4 * 1024

	// DefaultHTTPTimeout is the timeout of an HTTP or TCP check whose config
	// leaves Timeout at zero (10s, as in Consul). The effective timeout is
	// further capped at the check's interval.
	DefaultHTTPTimeout = 10 * time.Second

	// DefaultScriptTimeout is the timeout of a script check whose config
	// leaves Timeout at zero (30s, as in Consul).
	DefaultScriptTimeout = 30 * time.Second

	// MaxStagger bounds the random delay before a periodic check's first run
	// (see RandomStagger).
	MaxStagger = time.Second

	// UserAgent is the User-Agent header of HTTP checks unless the check
	// definition sets its own.
	UserAgent = "Meridian Health Check"

	// HTTPAccept is the Accept header of HTTP checks unless the check
	// definition sets its own (Consul's value).
	HTTPAccept = "text/plain, text/*, */*"
)

// Notifier receives check state changes; implemented by the agent's local
// state. Runners call it from their own goroutine (CheckTTL also from the
// caller of SetStatus), so it must be safe for concurrent use, and it must not
// call back into the runner that is notifying it (Stop would wait for itself).
type Notifier interface {
	UpdateCheck(checkID string, status, output string)
}

// Runner is what the agent keeps per check: every check type in this package
// implements it.
type Runner interface {
	// Start launches the check. It returns at once; the first result of a
	// periodic check follows after a short random stagger.
	Start()
	// Stop ends the check and waits until its goroutine has returned; no
	// notification is made after Stop returns. Stop is idempotent.
	Stop()
}

// Conformance of every runner to Runner.
var (
	_ Runner = (*CheckTTL)(nil)
	_ Runner = (*CheckHTTP)(nil)
	_ Runner = (*CheckTCP)(nil)
	_ Runner = (*CheckScript)(nil)
)

// StaggerFunc returns the delay before a periodic check's first run, given
// the check's interval. Results outside [0, interval] are clamped.
type StaggerFunc func(interval time.Duration) time.Duration

// RandomStagger is the default StaggerFunc: a uniformly random delay in
// [0, min(interval, MaxStagger)). Consul staggers the first run across the
// whole interval so that many checks registered together do not fire
// together; the cap keeps the first result of a long-interval check from
// arriving long after registration.
func RandomStagger(interval time.Duration) time.Duration {
	bound := min(interval, MaxStagger)
	if bound <= 0 {
		return 0
	}
	return rand.N(bound)
}

// lifecycle is the start/stop machinery every runner shares: one goroutine,
// started at most once, owned through a context that Stop cancels.
type lifecycle struct {
	mu      sync.Mutex
	started bool
	stopped bool
	cancel  context.CancelFunc
	done    chan struct{}
}

// start runs fn in the runner's goroutine unless the runner was already
// started or stopped. A runner is single-use: the agent builds a new one when
// a check is re-registered.
func (l *lifecycle) start(fn func(ctx context.Context)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.started || l.stopped {
		return
	}
	l.started = true
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	l.done = make(chan struct{})
	go func(done chan struct{}) {
		defer close(done)
		fn(ctx)
	}(l.done)
}

// stop cancels the goroutine and waits for it. Concurrent and repeated calls
// all wait for the same goroutine.
func (l *lifecycle) stop() {
	l.mu.Lock()
	if !l.stopped {
		l.stopped = true
		if l.cancel != nil {
			l.cancel()
		}
	}
	done := l.done
	l.mu.Unlock()
	if done != nil {
		<-done
	}
}

// isStopped reports whether stop has been called.
func (l *lifecycle) isStopped() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stopped
}

// runPeriodic calls check after the stagger and then again interval after
// each run ends, until ctx is done. Measuring from the end of a run means a
// slow check never overlaps itself.
func runPeriodic(ctx context.Context, stagger StaggerFunc, interval time.Duration, check func(ctx context.Context)) {
	if stagger == nil {
		stagger = RandomStagger
	}
	first := min(max(stagger(interval), 0), interval)
	t := time.NewTimer(first)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		check(ctx)
		t.Reset(interval)
	}
}

// effectiveTimeout returns the timeout of a network check: the configured one
// or DefaultHTTPTimeout, capped at the interval so that a check returns
// before the next is due (Consul's HTTP check applies the same rule).
func effectiveTimeout(timeout, interval time.Duration) time.Duration {
	if timeout <= 0 {
		timeout = DefaultHTTPTimeout
	}
	if interval > 0 && timeout > interval {
		timeout = interval
	}
	return timeout
}

// outputMax returns the configured output limit or the default.
func outputMax(n int) int {
	if n < 1 {
		return DefaultOutputMaxSize
	}
	return n
}

// loggerOrNull returns l, or a logger that discards everything.
func loggerOrNull(l hclog.Logger) hclog.Logger {
	if l == nil {
		return hclog.NewNullLogger()
	}
	return l
}
