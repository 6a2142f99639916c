package command

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/cli"
	"github.com/hashicorp/consul/api"
)

// Lock: runs a child process while holding a lock in the KV store, as
// Consul's "lock" does.
//
// With -n=1 the lock is the api client's Lock on the key <prefix>/.lock;
// with -n>1 it is the api client's Semaphore under <prefix>, which lets up
// to n holders in at once. Either creates a session (renewed while held)
// and watches the key with blocking queries. Once the lock is held the
// child starts; when it exits the lock is released and cleaned up. When
// the lock is lost (the session was invalidated, the key was taken away)
// or the command is interrupted, the child's process group gets SIGTERM,
// and SIGKILL if it is still there after a grace period.

// defaultKillGrace is how long a child has between SIGTERM and SIGKILL.
const defaultKillGrace = 5 * time.Second

// LockCommand runs a command while holding a lock.
type LockCommand struct {
	UI cli.Ui
	// Stdin, Stdout and Stderr are the child's; nil means the process's
	// own. Stdin is only passed with -pass-stdin.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// ShutdownCh, when set, stops the command as SIGINT or SIGTERM do;
	// when nil the command listens for those signals itself.
	ShutdownCh <-chan struct{}
	// KillGrace is how long the child has to exit after SIGTERM before it
	// gets SIGKILL; 0 means 5s.
	KillGrace time.Duration
}

var _ cli.Command = (*LockCommand)(nil)

// Synopsis implements cli.Command.
func (c *LockCommand) Synopsis() string { return "Execute a command holding a lock" }

type lockFlags struct {
	*httpFlagsSet
	limit, monitorRetry                     *int
	name                                    *string
	passStdin, shell, verbose, childExitErr *bool
	timeout                                 *time.Duration
}

func (c *LockCommand) flags() lockFlags {
	fs := newFlagSet("lock")
	h := &httpFlags{}
	h.addHTTPFlags(fs)
	h.addDCFlags(fs)
	return lockFlags{
		httpFlagsSet: &httpFlagsSet{fs: fs, h: h},
		limit:        fs.Int("n", 1, "How many holders may hold the lock at once. Above 1 a semaphore is used instead of a lock."),
		monitorRetry: fs.Int("monitor-retry", 3, "How many times to retry when the agent fails while watching the lock, before the lock counts as lost."),
		name:         fs.String("name", "", "The name of the lock's session. Default: built from the command and the prefix."),
		passStdin:    fs.Bool("pass-stdin", false, "Pass stdin to the child."),
		shell:        fs.Bool("shell", true, "Run the command through sh -c, so that it may use shell syntax."),
		verbose:      fs.Bool("verbose", false, "Print what the lock is doing."),
		childExitErr: fs.Bool("child-exit-code", false, "Exit 2 if the child exits with an error (by default its exit code is not propagated)."),
		timeout:      fs.Duration("timeout", 0, "The longest to wait for the lock, as a duration such as 30s. 0 waits forever."),
	}
}

// Help implements cli.Command.
func (c *LockCommand) Help() string {
	return strings.TrimSpace(`
Usage: meridian lock [options] PREFIX COMMAND [ARGS...]

  Acquires a lock on PREFIX in the key-value store, runs COMMAND while
  holding it, and releases it when COMMAND exits. Every caller that uses
  the same PREFIX waits for its turn, on any machine of the datacenter.

    $ meridian lock service/backup/lock ./backup.sh

  If the lock is lost while COMMAND runs (its session was invalidated, for
  example because this agent's node failed), COMMAND is sent SIGTERM, and
  SIGKILL after 5 seconds. Interrupting meridian lock does the same and
  releases the lock.

  With -n greater than 1, up to that many holders run at once (a
  semaphore); every caller of a PREFIX must use the same -n.

  Exit codes: 0 when COMMAND ran (whatever its exit code, unless
  -child-exit-code), 1 when the lock could not be acquired, was lost or the
  command was interrupted, 2 with -child-exit-code when COMMAND failed.

Options:

`) + "\n" + flagHelp(c.flags().fs)
}

// locker is what Lock and Semaphore have in common here.
type locker struct {
	acquire func(stop <-chan struct{}) (<-chan struct{}, error)
	release func() error
	cleanup func() error
	inUse   error
}

// Run implements cli.Command.
func (c *LockCommand) Run(args []string) int {
	f := c.flags()
	if err := f.fs.Parse(args); err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	if f.fs.NArg() < 2 {
		c.UI.Error("Error! Expected a PREFIX and a COMMAND to run")
		return 1
	}
	prefix := strings.TrimSuffix(trimKey(f.fs.Arg(0)), "/")
	childArgs := f.fs.Args()[1:]
	switch {
	case prefix == "":
		c.UI.Error("Error! The PREFIX must not be empty")
		return 1
	case *f.limit < 1:
		c.UI.Error(fmt.Sprintf("Error! -n must be at least 1, got %d", *f.limit))
		return 1
	case *f.timeout < 0:
		c.UI.Error(fmt.Sprintf("Error! -timeout must not be negative, got %s", *f.timeout))
		return 1
	case *f.monitorRetry < 0:
		c.UI.Error(fmt.Sprintf("Error! -monitor-retry must not be negative, got %d", *f.monitorRetry))
		return 1
	}
	script := strings.Join(childArgs, " ")
	name := *f.name
	if name == "" {
		name = fmt.Sprintf("Meridian lock for '%s' at '%s'", script, prefix)
	}
	shutdown, stopSignals := c.shutdownCh()
	defer stopSignals()
	client, err := interruptibleClient(f.h, shutdown)
	if err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	l, err := newLocker(client, prefix, name, *f.limit, *f.monitorRetry, *f.timeout)
	if err != nil {
		c.UI.Error("Error! " + upperFirst(err.Error()))
		return 1
	}

	c.verbosef(f, "Attempting lock acquisition on %s", prefix)
	lost, err := acquireOrStop(l, shutdown)
	if err != nil {
		c.UI.Error(fmt.Sprintf("Error! Lock acquisition failed: %s", strings.TrimPrefix(agentError(f.h.address(), err), "Error: ")))
		return 1
	}
	if lost == nil {
		select {
		case <-shutdown:
			c.UI.Error("Error! Interrupted while waiting for the lock")
		default:
			c.UI.Error(fmt.Sprintf("Error! Timed out after %s waiting for the lock on %s", *f.timeout, prefix))
		}
		return 1
	}
	c.verbosef(f, "Lock acquired, starting the child")

	code := c.runChild(f, l, lost, shutdown, childArgs, script)
	if err := l.release(); err != nil && code != 1 {
		c.UI.Error(fmt.Sprintf("Error! Lock release failed: %v", err))
		return 1
	}
	if err := l.cleanup(); err != nil && !errors.Is(err, l.inUse) {
		c.verbosef(f, "Lock cleanup failed: %v", err)
	}
	return code
}

// acquireOrStop acquires l, giving up when shutdown closes. A nil channel
// without error means it gave up (shutdown or -timeout).
func acquireOrStop(l *locker, shutdown <-chan struct{}) (<-chan struct{}, error) {
	stop := make(chan struct{})
	type result struct {
		lost <-chan struct{}
		err  error
	}
	done := make(chan result, 1)
	go func() {
		lost, err := l.acquire(stop)
		done <- result{lost, err}
	}()
	select {
	case r := <-done:
		return r.lost, r.err
	case <-shutdown:
		// The client cuts blocking reads short on shutdown, so this is
		// quick.
		close(stop)
		r := <-done
		if r.lost != nil {
			// Acquired just as we were told to stop: give it back.
			l.release()
		}
		return nil, nil
	}
}

// interruptibleClient is the API client of h whose blocking reads (GETs
// with ?index) are cancelled when shutdown closes, so that an interrupted
// lock stops waiting at once; writes, such as the release, still go
// through.
func interruptibleClient(h *httpFlags, shutdown <-chan struct{}) (*api.Client, error) {
	cfg := api.DefaultNonPooledConfig()
	addr := h.address()
	switch {
	case strings.HasPrefix(addr, "https://"):
		cfg.Scheme = "https"
		addr = strings.TrimPrefix(addr, "https://")
	case strings.HasPrefix(addr, "http://"):
		addr = strings.TrimPrefix(addr, "http://")
	}
	cfg.Address = addr
	cfg.Datacenter = h.datacenter
	cfg.HttpClient = &http.Client{Transport: &cancelBlocking{base: cfg.Transport, shutdown: shutdown}}
	tok, err := h.aclToken()
	if err != nil {
		return nil, err
	}
	cfg.Token, cfg.TokenFile = tok, ""
	c, err := api.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("cannot use HTTP address %q: %w", h.address(), err)
	}
	return c, nil
}

// cancelBlocking is a RoundTripper that cancels blocking queries when
// shutdown closes.
type cancelBlocking struct {
	base     http.RoundTripper
	shutdown <-chan struct{}
}

// RoundTrip implements http.RoundTripper.
func (t *cancelBlocking) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodGet || !req.URL.Query().Has("index") {
		return t.base.RoundTrip(req)
	}
	ctx, cancel := context.WithCancel(req.Context())
	watchDone := make(chan struct{})
	go func() {
		select {
		case <-t.shutdown:
			cancel()
		case <-ctx.Done():
		}
		close(watchDone)
	}()
	finish := func() {
		cancel()
		<-watchDone
	}
	resp, err := t.base.RoundTrip(req.WithContext(ctx))
	if err != nil {
		finish()
		return nil, err
	}
	resp.Body = &closeHook{ReadCloser: resp.Body, hook: finish}
	return resp, nil
}

// closeHook runs hook once when the body is closed.
type closeHook struct {
	io.ReadCloser
	hook func()
	once sync.Once
}

func (c *closeHook) Close() error {
	err := c.ReadCloser.Close()
	c.once.Do(c.hook)
	return err
}

// newLocker builds a lock (n == 1) or a semaphore (n > 1) on prefix.
func newLocker(client *api.Client, prefix, name string, n, retries int, timeout time.Duration) (*locker, error) {
	if n == 1 {
		opts := &api.LockOptions{
			Key:            path.Join(prefix, api.DefaultSemaphoreKey),
			SessionName:    name,
			MonitorRetries: retries,
		}
		if timeout > 0 {
			opts.LockTryOnce = true
			opts.LockWaitTime = timeout
		}
		l, err := client.LockOpts(opts)
		if err != nil {
			return nil, fmt.Errorf("cannot set up the lock: %w", err)
		}
		return &locker{acquire: l.Lock, release: l.Unlock, cleanup: l.Destroy, inUse: api.ErrLockInUse}, nil
	}
	opts := &api.SemaphoreOptions{
		Prefix:         prefix,
		Limit:          n,
		SessionName:    name,
		MonitorRetries: retries,
	}
	if timeout > 0 {
		opts.SemaphoreTryOnce = true
		opts.SemaphoreWaitTime = timeout
	}
	s, err := client.SemaphoreOpts(opts)
	if err != nil {
		return nil, fmt.Errorf("cannot set up the semaphore: %w", err)
	}
	return &locker{acquire: s.Acquire, release: s.Release, cleanup: s.Destroy, inUse: api.ErrSemaphoreInUse}, nil
}

// runChild starts the child and waits for it, the loss of the lock or a
// shutdown, whichever comes first. It returns the command's exit code.
func (c *LockCommand) runChild(f lockFlags, l *locker, lost <-chan struct{}, shutdown <-chan struct{}, args []string, script string) int {
	var cmd *exec.Cmd
	if *f.shell {
		cmd = exec.Command("/bin/sh", "-c", script)
	} else {
		cmd = exec.Command(args[0], args[1:]...)
	}
	childProcessGroup(cmd)
	cmd.Stdout, cmd.Stderr = orWriter(c.Stdout, os.Stdout), orWriter(c.Stderr, os.Stderr)
	if *f.passStdin {
		if c.Stdin != nil {
			cmd.Stdin = c.Stdin
		} else {
			cmd.Stdin = os.Stdin
		}
	}
	if err := cmd.Start(); err != nil {
		c.UI.Error(fmt.Sprintf("Error! Cannot start the child: %v", err))
		return 1
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	select {
	case err := <-done:
		if err == nil {
			c.verbosef(f, "Child exited successfully")
			return 0
		}
		c.verbosef(f, "Child failed: %v", err)
		if *f.childExitErr {
			return 2
		}
		return 0
	case <-lost:
		c.UI.Error("Lock lost, killing child")
	case <-shutdown:
		c.UI.Error("Shutdown triggered, killing child")
	}
	c.killChild(f, cmd, done)
	return 1
}

// killChild sends SIGTERM to the child's group, then SIGKILL once the
// grace period is over, and waits for it.
func (c *LockCommand) killChild(f lockFlags, cmd *exec.Cmd, done <-chan error) {
	grace := c.KillGrace
	if grace <= 0 {
		grace = defaultKillGrace
	}
	c.verbosef(f, "Terminating child pid %d", cmd.Process.Pid)
	if err := signalChild(cmd, syscall.SIGTERM); err != nil {
		c.UI.Error(fmt.Sprintf("Error! Cannot terminate child %d: %v", cmd.Process.Pid, err))
	}
	select {
	case <-done:
		c.verbosef(f, "Child terminated")
		return
	case <-time.After(grace):
	}
	c.verbosef(f, "Child did not exit within %s, killing pid %d", grace, cmd.Process.Pid)
	if err := signalChild(cmd, syscall.SIGKILL); err != nil {
		c.UI.Error(fmt.Sprintf("Error! Cannot kill child %d: %v", cmd.Process.Pid, err))
	}
	<-done
}

// shutdownCh returns the channel that tells the command to stop, and a
// function that stops listening for signals.
func (c *LockCommand) shutdownCh() (<-chan struct{}, func()) {
	if c.ShutdownCh != nil {
		return c.ShutdownCh, func() {}
	}
	sigCh := make(chan os.Signal, 1)
	signal.Notify(sigCh, os.Interrupt, syscall.SIGTERM)
	ch := make(chan struct{})
	quit := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		select {
		case <-sigCh:
			close(ch)
		case <-quit:
		}
	}()
	return ch, func() {
		signal.Stop(sigCh)
		close(quit)
		<-finished
	}
}

func (c *LockCommand) verbosef(f lockFlags, format string, args ...any) {
	if *f.verbose {
		c.UI.Info(fmt.Sprintf(format, args...))
	}
}

func orWriter(w, def io.Writer) io.Writer {
	if w != nil {
		return w
	}
	return def
}
