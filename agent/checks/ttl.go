package checks

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/meridian-sd/meridian/structs"
)

// TTLExpiredOutput is the output of a TTL check whose TTL passed without an
// update and which had no earlier output (Consul's text).
const TTLExpiredOutput = "TTL expired"

// TTLConfig configures a CheckTTL.
type TTLConfig struct {
	// CheckID names the check in notifications.
	CheckID string
	// TTL is how long a status set through SetStatus stays valid; the check
	// turns critical when it passes without an update. Required, positive.
	TTL time.Duration
	// OutputMaxSize is how many bytes of output SetStatus keeps; zero means
	// DefaultOutputMaxSize (4 KiB).
	OutputMaxSize int
	// Logger receives a warning when the TTL expires; nil discards logs.
	Logger hclog.Logger
}

// Validate reports, in one sentence, what makes the config unusable.
func (c TTLConfig) Validate() error {
	if c.TTL <= 0 {
		return fmt.Errorf("ttl check TTL %s must be positive", c.TTL)
	}
	return validateOutputMaxSize(c.OutputMaxSize)
}

// CheckTTL is a check whose status is set from outside (the agent's
// /v1/agent/check/pass|warn|fail|update endpoints) and which turns critical
// when TTL passes without such an update. The TTL clock starts at Start and
// restarts at every SetStatus.
type CheckTTL struct {
	cfg    TTLConfig
	notify Notifier
	logger hclog.Logger
	lc     lifecycle

	// mu orders SetStatus against expiry so that a status set while the
	// timer fires is never overwritten by a stale "TTL expired".
	mu         sync.Mutex
	timer      *time.Timer // nil until Start
	deadline   time.Time   // when the current status expires
	lastOutput string      // last output set, quoted in the expiry output
}

// NewCheckTTL returns a TTL check reporting to notify. It does not start it.
func NewCheckTTL(cfg TTLConfig, notify Notifier) (*CheckTTL, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if notify == nil {
		return nil, errNilNotifier
	}
	return &CheckTTL{cfg: cfg, notify: notify, logger: loggerOrNull(cfg.Logger)}, nil
}

// Start starts the TTL clock. It does nothing after the first call or after
// Stop.
func (c *CheckTTL) Start() {
	c.lc.start(func(ctx context.Context) {
		c.mu.Lock()
		c.deadline = time.Now().Add(c.cfg.TTL)
		c.timer = time.NewTimer(c.cfg.TTL)
		timer := c.timer
		c.mu.Unlock()
		defer timer.Stop()
		c.run(ctx, timer)
	})
}

// Stop stops the TTL clock and waits for the check's goroutine; no
// notification, from expiry or SetStatus, follows its return. Stop is
// idempotent.
func (c *CheckTTL) Stop() {
	c.lc.stop()
	// Fence: a SetStatus that saw the check running finishes notifying
	// before Stop returns; later ones see it stopped.
	c.mu.Lock()
	defer c.mu.Unlock()
}

// run waits for expiries until ctx is done.
func (c *CheckTTL) run(ctx context.Context, timer *time.Timer) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		c.mu.Lock()
		// SetStatus may have renewed the TTL while this wake-up waited for
		// the lock; the reset timer then fires again at the new deadline.
		if time.Now().Before(c.deadline) || ctx.Err() != nil {
			c.mu.Unlock()
			continue
		}
		c.logger.Warn("check missed TTL, is now critical", "check", c.cfg.CheckID)
		c.notify.UpdateCheck(c.cfg.CheckID, structs.HealthCritical, expiredOutput(c.lastOutput))
		c.mu.Unlock()
	}
}

// expiredOutput is the output of an expired check, quoting the last output
// as Consul does.
func expiredOutput(last string) string {
	if last == "" {
		return TTLExpiredOutput
	}
	return TTLExpiredOutput + " (last output before timeout follows): " + last
}

// SetStatus reports status with output (truncated to OutputMaxSize) to the
// Notifier and restarts the TTL clock, also after an expiry. It returns the
// output as stored. The caller validates status (passing, warning or
// critical). After Stop, SetStatus notifies nobody.
func (c *CheckTTL) SetStatus(status, output string) string {
	output = TruncateOutput(output, c.cfg.OutputMaxSize)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastOutput = output
	if c.lc.isStopped() {
		return output
	}
	if c.timer != nil {
		c.deadline = time.Now().Add(c.cfg.TTL)
		c.timer.Reset(c.cfg.TTL)
	}
	c.notify.UpdateCheck(c.cfg.CheckID, status, output)
	return output
}
