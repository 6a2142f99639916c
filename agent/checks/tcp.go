package checks

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/meridian-sd/meridian/structs"
)

// DialFunc opens a connection; (*net.Dialer).DialContext is one.
type DialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// TCPConfig configures a CheckTCP. Field names follow Consul's check
// definition (tcp, interval, timeout).
type TCPConfig struct {
	// CheckID names the check in notifications.
	CheckID string
	// TCP is the host:port to connect to. Required.
	TCP string
	// Interval is the time between the end of one attempt and the start of
	// the next. Required; Validate demands at least MinInterval.
	Interval time.Duration
	// Timeout bounds each connection attempt; zero means DefaultHTTPTimeout
	// (10s, Consul's TCP default). It is capped at Interval.
	Timeout time.Duration
	// Dial, when set, opens the connections instead of a net.Dialer; for
	// tests.
	Dial DialFunc
	// Stagger returns the delay before the first attempt; nil means
	// RandomStagger.
	Stagger StaggerFunc
	// Logger receives debug logs of each result; nil discards logs.
	Logger hclog.Logger
}

// Validate reports, in one sentence, what makes the config unusable as a
// user's check definition, including an interval below MinInterval.
func (c TCPConfig) Validate() error {
	if err := c.validateRunnable(); err != nil {
		return err
	}
	return ValidateInterval(c.Interval)
}

// validateRunnable checks what the runner needs, without the minimum interval.
func (c TCPConfig) validateRunnable() error {
	if c.TCP == "" {
		return fmt.Errorf("tcp check has no address")
	}
	if _, _, err := net.SplitHostPort(c.TCP); err != nil {
		return fmt.Errorf("tcp check address %q is not host:port: %w", c.TCP, err)
	}
	return validateRunnable(c.Interval, c.Timeout, 0)
}

// CheckTCP periodically opens a TCP connection and closes it at once. A
// connection within the timeout is passing with output
// "TCP connect <addr>: Success"; anything else is critical with the error.
type CheckTCP struct {
	cfg     TCPConfig
	notify  Notifier
	logger  hclog.Logger
	timeout time.Duration
	dial    DialFunc
	lc      lifecycle
}

// NewCheckTCP returns a TCP check reporting to notify. It does not start it,
// and it does not enforce MinInterval: call Validate on user input.
func NewCheckTCP(cfg TCPConfig, notify Notifier) (*CheckTCP, error) {
	if err := cfg.validateRunnable(); err != nil {
		return nil, err
	}
	if notify == nil {
		return nil, errNilNotifier
	}
	c := &CheckTCP{
		cfg:     cfg,
		notify:  notify,
		logger:  loggerOrNull(cfg.Logger),
		timeout: effectiveTimeout(cfg.Timeout, cfg.Interval),
		dial:    cfg.Dial,
	}
	if c.dial == nil {
		c.dial = (&net.Dialer{}).DialContext
	}
	return c, nil
}

// Start launches the check. It does nothing after the first call or after
// Stop.
func (c *CheckTCP) Start() {
	c.lc.start(func(ctx context.Context) {
		runPeriodic(ctx, c.cfg.Stagger, c.cfg.Interval, c.check)
	})
}

// Stop ends the check, cancelling a dial in flight, and waits for its
// goroutine. Stop is idempotent.
func (c *CheckTCP) Stop() {
	c.lc.stop()
}

// check makes one attempt and reports it, unless ctx ended meanwhile.
func (c *CheckTCP) check(ctx context.Context) {
	status, output := c.probe(ctx)
	if ctx.Err() != nil {
		return
	}
	c.logger.Debug("tcp check result", "check", c.cfg.CheckID, "status", status)
	c.notify.UpdateCheck(c.cfg.CheckID, status, output)
}

// probe connects once.
func (c *CheckTCP) probe(ctx context.Context) (status, output string) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	conn, err := c.dial(ctx, "tcp", c.cfg.TCP)
	if err != nil {
		return structs.HealthCritical, err.Error()
	}
	_ = conn.Close() // the connection was the whole test
	return structs.HealthPassing, fmt.Sprintf("TCP connect %s: Success", c.cfg.TCP)
}
