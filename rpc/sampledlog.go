package rpc

import (
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// sampledLog logs a recurring event at most once per interval, adding how
// many were not logged since the last line, so that a flood of refused or
// garbage connections costs a log line every interval rather than one each.
type sampledLog struct {
	logger   hclog.Logger
	interval time.Duration

	mu         sync.Mutex
	last       time.Time
	suppressed int
}

func newSampledLog(logger hclog.Logger, interval time.Duration) *sampledLog {
	return &sampledLog{logger: logger, interval: interval}
}

// Warn logs msg with args unless a line was logged less than an interval
// ago, in which case it only counts it.
func (l *sampledLog) Warn(msg string, args ...any) {
	l.mu.Lock()
	now := time.Now()
	if !l.last.IsZero() && now.Sub(l.last) < l.interval {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	n := l.suppressed
	l.last, l.suppressed = now, 0
	l.mu.Unlock()
	if n > 0 {
		args = append(args, "similar_not_logged", n)
	}
	l.logger.Warn(msg, args...)
}
