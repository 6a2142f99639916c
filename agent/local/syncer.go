package local

import (
	"context"
	"math"
	"math/rand/v2"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Defaults of SyncerConfig, as Consul's.
const (
	// DefaultSyncInterval is the base time between full syncs (Consul's
	// ae_interval).
	DefaultSyncInterval = time.Minute
	// DefaultRetryInterval is the base time before a failed sync is
	// retried.
	DefaultRetryInterval = 15 * time.Second
	// DefaultMinRetryGap is the default SyncerConfig.MinRetryGap.
	DefaultMinRetryGap = 20 * time.Millisecond
	// ScaleThreshold is the cluster size up to which full syncs are not
	// spread further apart.
	ScaleThreshold = 128
)

// SyncerConfig configures a Syncer.
type SyncerConfig struct {
	// Interval is the base time between full syncs; ScaleFactor stretches
	// it for large clusters and jitter is added. Default
	// DefaultSyncInterval (1m); only tests go lower.
	Interval time.Duration
	// RetryInterval is the base time before a failed sync is retried
	// (jittered by up to as much again). Default DefaultRetryInterval (15s).
	RetryInterval time.Duration
	// ClusterSize returns the number of nodes in the LAN pool; nil means 1.
	ClusterSize func() int
	// MinRetryGap is the least time between a failed sync and the next
	// attempt that a local change (a registration, a check update) may
	// start before RetryInterval has passed; it bounds the failed RPCs
	// that a burst of changes makes while no server answers. Default
	// DefaultMinRetryGap (20ms).
	MinRetryGap time.Duration
	// Logger receives sync failures; nil discards them.
	Logger hclog.Logger
}

// Syncer runs a State's anti-entropy: a full sync at start and then
// periodically, partial syncs whenever the State changes, and retries after
// failures. Run is its only goroutine.
type Syncer struct {
	state  *State
	cfg    SyncerConfig
	logger hclog.Logger
	fullCh chan struct{}
}

// NewSyncer returns a Syncer for state. It does nothing until Run.
func NewSyncer(state *State, cfg SyncerConfig) *Syncer {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultSyncInterval
	}
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = DefaultRetryInterval
	}
	if cfg.MinRetryGap <= 0 {
		cfg.MinRetryGap = DefaultMinRetryGap
	}
	logger := cfg.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	return &Syncer{state: state, cfg: cfg, logger: logger, fullCh: make(chan struct{}, 1)}
}

// SyncFull asks for a full sync as soon as possible (when a server becomes
// reachable, say), also while waiting to retry a failed one.
func (s *Syncer) SyncFull() {
	select {
	case s.fullCh <- struct{}{}:
	default:
	}
}

// ScaleFactor is how many times the base interval separates full syncs in a
// cluster of the given size: 1 up to ScaleThreshold nodes, then one more
// for every doubling, so that the servers see about the same rate of full
// syncs however large the cluster grows (Consul's aeScale).
func ScaleFactor(nodes int) int {
	if nodes <= ScaleThreshold {
		return 1
	}
	return int(math.Ceil(math.Log2(float64(nodes))-math.Log2(ScaleThreshold))) + 1
}

// jitter returns a random duration in [0, d).
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return rand.N(d)
}

// fullSyncWait is the time until the next full sync: the base interval plus
// a random part of the scaled interval, so that agents started together
// drift apart.
func (s *Syncer) fullSyncWait() time.Duration {
	n := 1
	if s.cfg.ClusterSize != nil {
		n = s.cfg.ClusterSize()
	}
	return s.cfg.Interval + jitter(time.Duration(ScaleFactor(n))*s.cfg.Interval)
}

// retryWait is the time before a failed sync is tried again.
func (s *Syncer) retryWait() time.Duration {
	return s.cfg.RetryInterval + jitter(s.cfg.RetryInterval)
}

// Run syncs until ctx is done.
func (s *Syncer) Run(ctx context.Context) {
	for ctx.Err() == nil {
		if err := s.state.SyncFull(); err != nil {
			s.logger.Warn("anti-entropy: full sync failed, will retry", "error", err)
			if !s.waitRetry(ctx, s.retryWait()) {
				return
			}
			continue
		}
		s.logger.Debug("anti-entropy: full sync done")
		if !s.partialSyncs(ctx) {
			return
		}
	}
}

// waitRetry waits before retrying a failed sync: for d, cut short by a
// full-sync request, or by a local change once MinRetryGap has passed
// since the failure. A registration made while the servers were not yet
// reachable (the agent of a fresh server whose leader was just elected,
// say) then reaches the catalog at once rather than at the next retry or
// server-watch tick. It returns false when ctx is done.
func (s *Syncer) waitRetry(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	gap := time.NewTimer(s.cfg.MinRetryGap)
	defer gap.Stop()
	var changes <-chan struct{}
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		case <-s.fullCh:
			return true
		case <-gap.C:
			// From now on a change is worth another attempt.
			changes = s.state.triggerCh
		case <-changes:
			return true
		}
	}
}

// partialSyncs pushes changes as they come until the next full sync is
// due, a full sync is asked for, or a partial sync fails (the full sync
// after the retry wait repairs what it left). It returns false when ctx is
// done.
func (s *Syncer) partialSyncs(ctx context.Context) bool {
	full := time.NewTimer(s.fullSyncWait())
	defer full.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-full.C:
			return true
		case <-s.fullCh:
			return true
		case <-s.state.triggerCh:
			if err := s.state.SyncChanges(); err != nil {
				s.logger.Warn("anti-entropy: sync of changes failed, will retry", "error", err)
				return s.waitRetry(ctx, s.retryWait())
			}
		}
	}
}
