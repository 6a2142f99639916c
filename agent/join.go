package agent

import (
	"context"
	"fmt"
	"time"

	"github.com/meridian-sd/meridian/agent/config"
)

// startJoins joins the -join addresses (failing the start if none is
// reached, as Consul does) and starts the -retry-join loops.
func (a *Agent) startJoins(rc *config.RuntimeConfig) error {
	if len(rc.StartJoinAddrsLAN) > 0 {
		n, err := a.delegate.JoinLAN(rc.StartJoinAddrsLAN)
		if err != nil {
			return fmt.Errorf("join lan %v: %w", rc.StartJoinAddrsLAN, err)
		}
		a.logger.Info("joined lan pool", "contacted", n)
	}
	if len(rc.StartJoinAddrsWAN) > 0 {
		if a.server == nil {
			return fmt.Errorf("join wan: this agent is a client, and only servers are in the wan pool")
		}
		n, err := a.server.JoinWAN(rc.StartJoinAddrsWAN)
		if err != nil {
			return fmt.Errorf("join wan %v: %w", rc.StartJoinAddrsWAN, err)
		}
		a.logger.Info("joined wan pool", "contacted", n)
	}
	if len(rc.RetryJoinLAN) > 0 {
		addrs, interval, max := rc.RetryJoinLAN, rc.RetryJoinIntervalLAN, rc.RetryJoinMaxAttemptsLAN
		a.goLoop(func(ctx context.Context) { a.retryJoin(ctx, "lan", addrs, interval, max, a.delegate.JoinLAN) })
	}
	if len(rc.RetryJoinWAN) > 0 {
		if a.server == nil {
			return fmt.Errorf("retry join wan: this agent is a client, and only servers are in the wan pool")
		}
		addrs, interval, max := rc.RetryJoinWAN, rc.RetryJoinIntervalWAN, rc.RetryJoinMaxAttemptsWAN
		a.goLoop(func(ctx context.Context) { a.retryJoin(ctx, "wan", addrs, interval, max, a.server.JoinWAN) })
	}
	return nil
}

// retryJoin tries to join until it succeeds once; every failure is logged.
// With a positive max, giving up ends the agent, as Consul's retry_max.
func (a *Agent) retryJoin(ctx context.Context, pool string, addrs []string, interval time.Duration, max int, join func([]string) (int, error)) {
	if interval <= 0 {
		interval = 30 * time.Second
	}
	for attempt := 1; ; attempt++ {
		n, err := join(addrs)
		if err == nil {
			a.logger.Info("retry join succeeded", "pool", pool, "contacted", n, "attempt", attempt)
			return
		}
		if max > 0 && attempt >= max {
			err := fmt.Errorf("retry join %s: gave up after %d attempts: %w", pool, attempt, err)
			a.logger.Error(err.Error())
			select {
			case a.fatalCh <- err:
			default:
			}
			return
		}
		a.logger.Warn("retry join failed, will retry", "pool", pool, "attempt", attempt, "interval", interval, "error", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}
