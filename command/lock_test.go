package command

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/cli"

	"github.com/meridian-sd/meridian/agent"
)

// syncBuffer is a bytes.Buffer safe for the child's output copier.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// lockRun is a lock command running in the background.
type lockRun struct {
	cmd    *LockCommand
	out    *syncBuffer
	done   chan int
	start  time.Time
	doneAt time.Time
}

func startLock(t *testing.T, shutdown <-chan struct{}, args ...string) *lockRun {
	t.Helper()
	r := &lockRun{
		cmd:   &LockCommand{UI: cli.NewMockUi(), ShutdownCh: shutdown, KillGrace: 400 * time.Millisecond},
		out:   &syncBuffer{},
		done:  make(chan int, 1),
		start: time.Now(),
	}
	r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
	go func() { r.done <- r.cmd.Run(args) }()
	return r
}

func (r *lockRun) wait(t *testing.T, timeout time.Duration) (int, string) {
	t.Helper()
	select {
	case code := <-r.done:
		r.doneAt = time.Now()
		return code, r.cmd.UI.(*cli.MockUi).ErrorWriter.String()
	case <-time.After(timeout):
		t.Fatalf("lock command still running after %s; output %q", timeout, r.out.String())
	}
	return 0, ""
}

func waitFile(t *testing.T, path string) {
	t.Helper()
	agent.WaitFor(t, "file "+filepath.Base(path), 10*time.Second, func() error {
		_, err := os.Stat(path)
		return err
	})
}

// lockHolder returns the session holding prefix/.lock, "" if none.
func lockHolder(t *testing.T, ta *agent.TestAgent, prefix string) string {
	t.Helper()
	p, _, err := ta.Client.KV().Get(prefix+"/.lock", nil)
	if err != nil {
		t.Fatal(err)
	}
	if p == nil {
		return ""
	}
	return p.Session
}

func TestLockRunsChildWhileHeld(t *testing.T) {
	ta, addr := kvAgent(t)
	dir := t.TempDir()
	started, release := filepath.Join(dir, "started"), filepath.Join(dir, "release")
	child := fmt.Sprintf("echo child running; touch %s; while [ ! -f %s ]; do sleep 0.05; done", started, release)
	r := startLock(t, nil, addr, "jobs/backup", child)
	waitFile(t, started)
	holder := lockHolder(t, ta, "jobs/backup")
	if holder == "" {
		t.Fatal("the lock is not held while the child runs")
	}
	sess, _, err := ta.Client.Session().Info(holder, nil)
	if err != nil || sess == nil || !strings.Contains(sess.Name, "jobs/backup") {
		t.Fatalf("lock session = %+v, %v", sess, err)
	}
	// A second caller waits for its turn.
	dir2 := t.TempDir()
	second := startLock(t, nil, addr, "jobs/backup", "touch "+filepath.Join(dir2, "ran"))
	time.Sleep(300 * time.Millisecond)
	if _, err := os.Stat(filepath.Join(dir2, "ran")); err == nil {
		t.Fatal("a second holder ran while the first held the lock")
	}

	if err := os.WriteFile(release, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, errOut := r.wait(t, 10*time.Second); code != 0 || errOut != "" {
		t.Fatalf("lock = %d %q", code, errOut)
	}
	if got := r.out.String(); got != "child running\n" {
		t.Fatalf("child output = %q", got)
	}
	if code, errOut := second.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("second lock = %d %q", code, errOut)
	}
	waitFile(t, filepath.Join(dir2, "ran"))
	// Released and cleaned up.
	if h := lockHolder(t, ta, "jobs/backup"); h != "" {
		t.Fatalf("lock still held by %s after both exited", h)
	}
}

func TestLockLostStopsChild(t *testing.T) {
	tests := []struct {
		name      string
		child     string
		minTime   time.Duration
		wantKills bool
	}{
		{"child exits on SIGTERM", "sleep 30", 0, false},
		// The shell and sleep ignore SIGTERM; SIGKILL follows the grace.
		{"child ignores SIGTERM", "trap '' TERM; sleep 30", 400 * time.Millisecond, true},
	}
	ta, addr := kvAgent(t)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := fmt.Sprintf("lost/%d", i)
			started := filepath.Join(t.TempDir(), "started")
			r := startLock(t, nil, addr, "-verbose", prefix, "touch "+started+"; "+tt.child)
			waitFile(t, started)
			holder := lockHolder(t, ta, prefix)
			if holder == "" {
				t.Fatal("lock not held")
			}
			// Take the lock away: its session ends.
			lostAt := time.Now()
			if _, err := ta.Client.Session().Destroy(holder, nil); err != nil {
				t.Fatal(err)
			}
			code, errOut := r.wait(t, 10*time.Second)
			took := r.doneAt.Sub(lostAt)
			if code != 1 || !strings.Contains(errOut, "Lock lost, killing child") {
				t.Fatalf("lost lock = %d %q", code, errOut)
			}
			if took < tt.minTime || took > 5*time.Second {
				t.Fatalf("child stopped %s after the loss", took)
			}
			info := r.cmd.UI.(*cli.MockUi).OutputWriter.String()
			if strings.Contains(info, "Child did not exit") != tt.wantKills {
				t.Fatalf("verbose output = %q", info)
			}
		})
	}
}

func TestLockExitCodes(t *testing.T) {
	_, addr := kvAgent(t)
	tests := []struct {
		args []string
		want int
	}{
		{[]string{"codes", "exit 3"}, 0},
		{[]string{"-child-exit-code", "codes", "exit 3"}, 2},
		{[]string{"-child-exit-code", "codes", "true"}, 0},
		{[]string{"-shell=false", "codes", "/bin/sh", "-c", "exit 0"}, 0},
		{[]string{"-shell=false", "codes", "/nonexistent/program"}, 1},
	}
	for _, tt := range tests {
		code, errOut := startLock(t, nil, append([]string{addr}, tt.args...)...).wait(t, 10*time.Second)
		if code != tt.want {
			t.Errorf("lock %v = %d (%q), want %d", tt.args, code, errOut, tt.want)
		}
	}
}

func TestLockSemaphore(t *testing.T) {
	ta, addr := kvAgent(t)
	dir := t.TempDir()
	release := filepath.Join(dir, "release")
	var runs []*lockRun
	for i := 0; i < 2; i++ {
		marker := filepath.Join(dir, fmt.Sprintf("holder%d", i))
		runs = append(runs, startLock(t, nil, addr, "-n=2", "pool",
			fmt.Sprintf("touch %s; while [ ! -f %s ]; do sleep 0.05; done", marker, release)))
	}
	// Both run at once.
	waitFile(t, filepath.Join(dir, "holder0"))
	waitFile(t, filepath.Join(dir, "holder1"))
	pairs, _, err := ta.Client.KV().List("pool/", nil)
	if err != nil || len(pairs) != 3 {
		t.Fatalf("semaphore keys = %v, %v; want two contenders and .lock", pairs, err)
	}
	// A third cannot get in before its timeout.
	code, errOut := startLock(t, nil, addr, "-n=2", "-timeout=500ms", "pool", "true").wait(t, 10*time.Second)
	if code != 1 || !strings.Contains(errOut, "Timed out after 500ms") {
		t.Fatalf("third holder = %d %q", code, errOut)
	}
	if err := os.WriteFile(release, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, r := range runs {
		if code, errOut := r.wait(t, 10*time.Second); code != 0 {
			t.Fatalf("holder = %d %q", code, errOut)
		}
	}
}

func TestLockShutdown(t *testing.T) {
	ta, addr := kvAgent(t)
	started := filepath.Join(t.TempDir(), "started")
	stop := make(chan struct{})
	r := startLock(t, stop, addr, "quit", "touch "+started+"; sleep 30")
	waitFile(t, started)

	// A second caller waiting for the lock stops at once when interrupted.
	stopWaiting := make(chan struct{})
	waiting := startLock(t, stopWaiting, addr, "quit", "true")
	time.Sleep(200 * time.Millisecond)
	close(stopWaiting)
	code, errOut := waiting.wait(t, 3*time.Second)
	if code != 1 || !strings.Contains(errOut, "Interrupted while waiting for the lock") {
		t.Fatalf("interrupted waiter = %d %q", code, errOut)
	}

	close(stop)
	code, errOut = r.wait(t, 5*time.Second)
	if code != 1 || !strings.Contains(errOut, "Shutdown triggered, killing child") {
		t.Fatalf("interrupted holder = %d %q", code, errOut)
	}
	if h := lockHolder(t, ta, "quit"); h != "" {
		t.Fatalf("lock still held by %s after an interrupt", h)
	}
}

func TestLockBadInput(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{nil, "Expected a PREFIX and a COMMAND"},
		{[]string{"prefix"}, "Expected a PREFIX and a COMMAND"},
		{[]string{"/", "true"}, "PREFIX must not be empty"},
		{[]string{"-n=0", "p", "true"}, "-n must be at least 1"},
		{[]string{"-timeout=-1s", "p", "true"}, "-timeout must not be negative"},
		{[]string{"-timeout=soon", "p", "true"}, `invalid value "soon" for flag -timeout`},
	}
	for _, tt := range tests {
		ui := cli.NewMockUi()
		code := (&LockCommand{UI: ui}).Run(append([]string{"-http-addr=127.0.0.1:1"}, tt.args...))
		if code != 1 || !strings.Contains(ui.ErrorWriter.String(), tt.want) {
			t.Errorf("lock %v = %d %q, want 1 and %q", tt.args, code, ui.ErrorWriter.String(), tt.want)
		}
	}
	// No agent to talk to.
	ui := cli.NewMockUi()
	code := (&LockCommand{UI: ui, ShutdownCh: make(chan struct{})}).Run([]string{"-http-addr=127.0.0.1:1", "p", "true"})
	if code != 1 || !strings.Contains(ui.ErrorWriter.String(), "Lock acquisition failed") {
		t.Fatalf("lock without an agent = %d %q", code, ui.ErrorWriter.String())
	}
}
