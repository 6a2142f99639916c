package checks

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/meridian-sd/meridian/structs"
)

// scriptWaitDelay bounds how long a script check waits, once its process has
// exited or been killed, for output pipes that an escaped descendant keeps
// open (see exec.Cmd.WaitDelay).
const scriptWaitDelay = time.Second

// ScriptConfig configures a CheckScript, Consul's "args" check (the
// CheckMonitor of Consul's agent/checks).
type ScriptConfig struct {
	// CheckID names the check in notifications.
	CheckID string
	// Args is the command and its arguments, run directly with no shell
	// (give "sh", "-c", "..." for one). Required.
	Args []string
	// Interval is the time between the end of one run and the start of the
	// next. Required; Validate demands at least MinInterval.
	Interval time.Duration
	// Timeout bounds each run; zero means DefaultScriptTimeout (30s). On
	// timeout the process and its process group are killed.
	Timeout time.Duration
	// OutputMaxSize is how many bytes of the combined stdout and stderr the
	// output keeps; zero means DefaultOutputMaxSize (4 KiB).
	OutputMaxSize int
	// Stagger returns the delay before the first run; nil means
	// RandomStagger.
	Stagger StaggerFunc
	// Logger receives debug logs of each result and a warning on timeout;
	// nil discards logs.
	Logger hclog.Logger
}

// Validate reports, in one sentence, what makes the config unusable as a
// user's check definition, including an interval below MinInterval.
func (c ScriptConfig) Validate() error {
	if err := c.validateRunnable(); err != nil {
		return err
	}
	return ValidateInterval(c.Interval)
}

// validateRunnable checks what the runner needs, without the minimum interval.
func (c ScriptConfig) validateRunnable() error {
	if len(c.Args) == 0 {
		return errors.New("script check has no args")
	}
	if c.Args[0] == "" {
		return errors.New("script check has an empty command")
	}
	return validateRunnable(c.Interval, c.Timeout, c.OutputMaxSize)
}

// CheckScript periodically runs a command, in its own process group. Exit
// code 0 is passing, 1 is warning, anything else critical, as for Nagios
// plugins; the output is the combined stdout and stderr cut to
// OutputMaxSize. A run that exceeds Timeout is killed with its process group
// and reported critical with "Timed out (<timeout>) running check" followed
// by the output so far.
type CheckScript struct {
	cfg     ScriptConfig
	notify  Notifier
	logger  hclog.Logger
	timeout time.Duration
	lc      lifecycle
}

// NewCheckScript returns a script check reporting to notify. It does not
// start it, and it does not enforce MinInterval: call Validate on user
// input. Whether script checks are allowed is for the caller to decide.
func NewCheckScript(cfg ScriptConfig, notify Notifier) (*CheckScript, error) {
	if err := cfg.validateRunnable(); err != nil {
		return nil, err
	}
	if notify == nil {
		return nil, errNilNotifier
	}
	c := &CheckScript{
		cfg:     cfg,
		notify:  notify,
		logger:  loggerOrNull(cfg.Logger),
		timeout: cfg.Timeout,
	}
	c.cfg.Args = append([]string(nil), cfg.Args...)
	if c.timeout <= 0 {
		c.timeout = DefaultScriptTimeout
	}
	return c, nil
}

// Start launches the check. It does nothing after the first call or after
// Stop.
func (c *CheckScript) Start() {
	c.lc.start(func(ctx context.Context) {
		runPeriodic(ctx, c.cfg.Stagger, c.cfg.Interval, c.check)
	})
}

// Stop ends the check, killing a run in progress with its process group, and
// waits for its goroutine. Stop is idempotent.
func (c *CheckScript) Stop() {
	c.lc.stop()
}

// check runs the command once and reports it, unless ctx ended meanwhile.
func (c *CheckScript) check(ctx context.Context) {
	status, output := c.probe(ctx)
	if ctx.Err() != nil {
		return
	}
	c.logger.Debug("script check result", "check", c.cfg.CheckID, "status", status)
	c.notify.UpdateCheck(c.cfg.CheckID, status, output)
}

// probe runs the command once and maps its exit to a status and output.
func (c *CheckScript) probe(ctx context.Context) (status, output string) {
	runCtx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	buf := newLimitedBuffer(c.cfg.OutputMaxSize)
	cmd := exec.CommandContext(runCtx, c.cfg.Args[0], c.cfg.Args[1:]...)
	// One writer for both streams: exec then calls Write from one goroutine
	// at a time, and the output interleaves as the process wrote it.
	cmd.Stdout = buf
	cmd.Stderr = buf
	cmd.WaitDelay = scriptWaitDelay
	setProcessGroup(cmd)

	err := cmd.Run()
	switch {
	case err == nil || errors.Is(err, exec.ErrWaitDelay):
		// ErrWaitDelay alone means the process exited 0 but a descendant
		// held its output open.
		return structs.HealthPassing, buf.String()
	case runCtx.Err() != nil && ctx.Err() == nil:
		msg := fmt.Sprintf("Timed out (%s) running check", c.timeout)
		c.logger.Warn("timed out running check", "check", c.cfg.CheckID, "timeout", c.timeout)
		if out := buf.String(); out != "" {
			msg += "\n\n" + out
		}
		return structs.HealthCritical, msg
	}
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) {
		// The command could not be started at all.
		return structs.HealthCritical, err.Error()
	}
	if exitErr.ExitCode() == 1 {
		return structs.HealthWarning, buf.String()
	}
	return structs.HealthCritical, buf.String()
}
