package checks

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func newTestScript(t testing.TB, cfg ScriptConfig, n Notifier) *CheckScript {
	t.Helper()
	if cfg.CheckID == "" {
		cfg.CheckID = "script"
	}
	if cfg.Interval == 0 {
		cfg.Interval = 20 * time.Millisecond
	}
	if cfg.Stagger == nil {
		cfg.Stagger = noStagger
	}
	c, err := NewCheckScript(cfg, n)
	if err != nil {
		t.Fatalf("NewCheckScript: %v", err)
	}
	t.Cleanup(c.Stop)
	return c
}

func TestCheckScriptExitCodes(t *testing.T) {
	checkGoroutines(t)
	tests := []struct {
		name   string
		args   []string
		status string
		output string
	}{
		{"exit 0", []string{"sh", "-c", "echo all fine"}, pass, "all fine\n"},
		{"exit 1", []string{"sh", "-c", "echo degraded; exit 1"}, warn, "degraded\n"},
		{"exit 2", []string{"sh", "-c", "echo broken; exit 2"}, crit, "broken\n"},
		{"exit 255", []string{"sh", "-c", "exit 255"}, crit, ""},
		{"killed by a signal", []string{"sh", "-c", "kill -9 $$"}, crit, ""},
		{"stderr captured in order", []string{"sh", "-c", "echo out; echo err >&2; echo out2"}, pass, "out\nerr\nout2\n"},
		{"no shell involved", []string{"echo", "$HOME", "a;b"}, pass, "$HOME a;b\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			c := newTestScript(t, ScriptConfig{Args: tt.args, Interval: time.Hour}, rec)
			c.Start()
			u := waitForLast(t, rec, tt.status, tt.output)
			if u.Output != tt.output || u.CheckID != "script" {
				t.Errorf("got %+v, want output %q", u, tt.output)
			}
		})
	}
}

func TestCheckScriptCannotStart(t *testing.T) {
	rec := &recorder{}
	c := newTestScript(t, ScriptConfig{Args: []string{"/nonexistent/meridian-check"}}, rec)
	status, output := c.probe(context.Background())
	if status != crit || !strings.Contains(output, "/nonexistent/meridian-check") {
		t.Errorf("probe = %q, %q; want critical naming the command", status, output)
	}
}

func TestCheckScriptTimeout(t *testing.T) {
	checkGoroutines(t)
	rec := &recorder{}
	c := newTestScript(t, ScriptConfig{
		Args:     []string{"sh", "-c", "echo started; sleep 30"},
		Timeout:  100 * time.Millisecond,
		Interval: time.Hour,
	}, rec)
	start := time.Now()
	c.Start()
	u := waitForLast(t, rec, crit, "Timed out")
	if want := "Timed out (100ms) running check\n\nstarted\n"; u.Output != want {
		t.Errorf("output %q, want %q", u.Output, want)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("timeout reported after %s; the process was not killed promptly", elapsed)
	}
}

// TestCheckScriptTimeoutKillsProcessGroup checks that a timed-out script's
// children die too: the grandchild holds the output pipe, so without the
// group kill the check would also hang until the wait delay.
func TestCheckScriptTimeoutKillsProcessGroup(t *testing.T) {
	checkGoroutines(t)
	pidFile := filepath.Join(t.TempDir(), "pid")
	rec := &recorder{}
	c := newTestScript(t, ScriptConfig{
		Args:     []string{"sh", "-c", `sleep 30 & echo $! > "$0"; wait`, pidFile},
		Timeout:  200 * time.Millisecond,
		Interval: time.Hour,
	}, rec)
	c.Start()
	waitForLast(t, rec, crit, "Timed out (200ms) running check")

	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("read the grandchild's pid: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("parse pid %q: %v", b, err)
	}
	waitFor(t, fmt.Sprintf("grandchild %d to die", pid), func() (bool, string) {
		alive, state := processAlive(pid)
		return !alive, "state " + state
	})
}

// processAlive reports whether pid runs (a zombie awaiting its reaper counts
// as dead), from /proc.
func processAlive(pid int) (bool, string) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false, "gone"
	}
	// The state follows the parenthesised command name.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return true, "unparsed " + s
	}
	state := s[i+2 : i+3]
	return state != "Z" && state != "X", state
}

func TestCheckScriptOutputTruncated(t *testing.T) {
	tests := []struct {
		max  int
		kept int
	}{
		{0, DefaultOutputMaxSize},
		{10, 10},
	}
	for _, tt := range tests {
		rec := &recorder{}
		c := newTestScript(t, ScriptConfig{
			Args:          []string{"sh", "-c", `i=0; while [ $i -lt 1000 ]; do echo 123456789; i=$((i+1)); done`},
			OutputMaxSize: tt.max,
		}, rec)
		status, output := c.probe(context.Background())
		want := strings.Repeat("123456789\n", 1000)[:tt.kept] + fmt.Sprintf(" ... (captured %d of 10000 bytes)", tt.kept)
		if status != pass || output != want {
			t.Errorf("max %d: probe = %q, %d bytes ending %q; want passing, %d bytes",
				tt.max, status, len(output), output[max(0, len(output)-40):], len(want))
		}
	}
}

// TestCheckScriptStopKillsRun stops a check in the middle of a long run: Stop
// must return promptly, kill the script and report nothing.
func TestCheckScriptStopKillsRun(t *testing.T) {
	checkGoroutines(t)
	pidFile := filepath.Join(t.TempDir(), "pid")
	rec := &recorder{}
	c := newTestScript(t, ScriptConfig{
		Args:     []string{"sh", "-c", `echo $$ > "$0.tmp"; mv "$0.tmp" "$0"; sleep 30`, pidFile},
		Interval: time.Hour,
	}, rec)
	c.Start()
	var pid int
	waitFor(t, "the script to start", func() (bool, string) {
		b, err := os.ReadFile(pidFile)
		if err != nil {
			return false, err.Error()
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil, errString(err)
	})
	start := time.Now()
	c.Stop()
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("Stop took %s with a script running", elapsed)
	}
	if alive, state := processAlive(pid); alive {
		t.Errorf("script %d still alive (state %s) after Stop", pid, state)
	}
	if n := rec.count(); n != 0 {
		t.Errorf("killed run was reported: %+v", rec.all())
	}
}

func TestCheckScriptDoesNotAliasArgs(t *testing.T) {
	args := []string{"sh", "-c", "exit 0"}
	rec := &recorder{}
	c := newTestScript(t, ScriptConfig{Args: args}, rec)
	args[2] = "exit 2"
	if status, _ := c.probe(context.Background()); status != pass {
		t.Errorf("probe = %q after the caller changed its args slice, want passing", status)
	}
}
