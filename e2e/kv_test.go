package e2e

// The KV store, sessions and locks with real processes (hosts 140-149):
// three servers and a client. `meridian lock` holds a lock through the
// client; the client is killed with SIGKILL; a blocking read of the lock
// key through a server wakes when the servers release it, the lock delay
// keeps others off the key, and the lock command, cut off from its agent,
// stops its child. Then KV data and sessions survive a SIGKILL of the
// leader and a restart of every server.

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// bgCLI is a CLI command left running in the background.
type bgCLI struct {
	cmd      *exec.Cmd
	mu       sync.Mutex
	out      bytes.Buffer
	done     chan struct{}
	exitCode int
}

func (b *bgCLI) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.out.Write(p)
}

func (b *bgCLI) output() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.out.String()
}

// startCLI runs `meridian args...` in the background; it is killed when the
// test ends.
func startCLI(t *testing.T, args ...string) *bgCLI {
	t.Helper()
	b := &bgCLI{done: make(chan struct{})}
	b.cmd = exec.Command(suite.bin, args...)
	b.cmd.Stdout, b.cmd.Stderr = b, b
	b.cmd.Env = cleanEnv()
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("start meridian %s: %v", strings.Join(args, " "), err)
	}
	go func() {
		defer close(b.done)
		b.cmd.Wait()
		b.exitCode = b.cmd.ProcessState.ExitCode()
	}()
	t.Cleanup(func() {
		syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
		<-b.done
	})
	return b
}

func TestKVLocksAndPersistence(t *testing.T) {
	c := newCluster(t, 140, 149)
	var servers []*agentProc
	for i := 1; i <= 3; i++ {
		opts := agentOpts{Name: fmt.Sprintf("kv-srv%d", i), Server: true, BootstrapExpect: 3}
		if i > 1 {
			opts.Join = []string{servers[0].LANAddr}
		}
		servers = append(servers, c.start(opts))
	}
	client := c.start(agentOpts{Name: "kv-client", Join: []string{servers[0].LANAddr}})
	waitLeader(t, 30*time.Second, append(servers, client)...)
	waitFor(t, 20*time.Second, "the client healthy in the catalog", func() error {
		checks, _, err := servers[0].API.Health().Node("kv-client", nil)
		if err != nil {
			return err
		}
		for _, hc := range checks {
			if hc.CheckID == "serfHealth" && hc.Status == api.HealthPassing {
				return nil
			}
		}
		return fmt.Errorf("checks %v", checks)
	})
	kv := servers[0].API.KV()

	step(t, "a lock held on a client is released when the client is killed", func(t *testing.T) {
		dir := t.TempDir()
		started := filepath.Join(dir, "started")
		lock := startCLI(t, "lock", "-http-addr="+client.HTTPAddr, "-verbose", "e2e/job",
			fmt.Sprintf("touch %s; exec sleep 120", started))
		var holder *api.KVPair
		waitFor(t, 20*time.Second, "the lock held and its child running", func() error {
			if _, err := os.Stat(started); err != nil {
				return err
			}
			p, _, err := kv.Get("e2e/job/.lock", nil)
			if err != nil {
				return err
			}
			if p == nil || p.Session == "" {
				return fmt.Errorf("lock key %+v", p)
			}
			holder = p
			return nil
		})
		info, _, err := servers[1].API.Session().Info(holder.Session, nil)
		if err != nil || info == nil || info.Node != "kv-client" {
			t.Fatalf("lock session = %+v, %v", info, err)
		}

		// A blocking read of the lock key, through another server.
		type woke struct {
			pair *api.KVPair
			at   time.Time
			err  error
		}
		wokeCh := make(chan woke, 1)
		go func() {
			q := &api.QueryOptions{WaitIndex: holder.ModifyIndex, WaitTime: time.Minute}
			for {
				p, meta, err := servers[2].API.KV().Get("e2e/job/.lock", q)
				if err != nil || p == nil || p.Session == "" {
					wokeCh <- woke{p, time.Now(), err}
					return
				}
				q.WaitIndex = meta.LastIndex
			}
		}()

		killed := time.Now()
		client.Kill()
		var w woke
		select {
		case w = <-wokeCh:
		case <-time.After(30 * time.Second):
			t.Fatal("the blocking read of the lock key did not wake after the client was killed")
		}
		if w.err != nil || w.pair == nil || w.pair.Session != "" {
			t.Fatalf("blocking read woke with %+v, %v", w.pair, w.err)
		}
		t.Logf("lock released %s after SIGKILL of the client", w.at.Sub(killed).Round(time.Millisecond))
		if info, _, err := servers[1].API.Session().Info(holder.Session, nil); err != nil || info != nil {
			t.Fatalf("session of the killed client = %+v, %v", info, err)
		}

		// The lock delay (15s, the default) keeps others off the key.
		other, _, err := servers[0].API.Session().CreateNoChecks(&api.SessionEntry{Name: "other", LockDelay: time.Millisecond}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ok, _, err := kv.Acquire(&api.KVPair{Key: "e2e/job/.lock", Session: other, Flags: api.LockFlagValue}, nil)
		if err != nil || ok {
			t.Fatalf("acquire inside the lock delay = %v, %v, want refused", ok, err)
		}
		if _, err := servers[0].API.Session().Destroy(other, nil); err != nil {
			t.Fatal(err)
		}

		// The lock command, cut off from its agent, counts the lock as
		// lost and stops its child.
		select {
		case <-lock.done:
		case <-time.After(30 * time.Second):
			t.Fatalf("meridian lock still runs after its agent died; output:\n%s", lock.output())
		}
		if out := lock.output(); lock.exitCode != 1 || !strings.Contains(out, "Lock lost, killing child") {
			t.Fatalf("meridian lock exited %d:\n%s", lock.exitCode, out)
		}
	})

	// Sessions without checks: only an explicit destroy ends them, so
	// they must come through kills and restarts.
	var sessionID string
	written := map[string]string{}
	step(t, "data survives a SIGKILL of the leader", func(t *testing.T) {
		for i := 0; i < 30; i++ {
			k, v := fmt.Sprintf("persist/k%02d", i), fmt.Sprintf("value-%d", i)
			if _, err := kv.Put(&api.KVPair{Key: k, Value: []byte(v)}, nil); err != nil {
				t.Fatal(err)
			}
			written[k] = v
		}
		if _, err := kv.Delete("persist/k00", nil); err != nil {
			t.Fatal(err)
		}
		delete(written, "persist/k00")
		var err error
		sessionID, _, err = servers[0].API.Session().CreateNoChecks(&api.SessionEntry{Name: "durable"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if ok, _, err := kv.Acquire(&api.KVPair{Key: "persist/lock", Value: []byte("held"), Session: sessionID}, nil); err != nil || !ok {
			t.Fatalf("acquire = %v, %v", ok, err)
		}
		written["persist/lock"] = "held"

		old := waitLeader(t, 20*time.Second, servers...)
		leader := byRPCAddr(t, old, servers...)
		leader.Kill()
		var rest []*agentProc
		for _, s := range servers {
			if s != leader {
				rest = append(rest, s)
			}
		}
		waitLeaderNot(t, 30*time.Second, old, rest...)
		for _, s := range rest {
			checkKV(t, s, written, sessionID)
		}
		leader.Restart()
		waitLeader(t, 30*time.Second, servers...)
		waitFor(t, 20*time.Second, "the restarted server caught up", func() error {
			return kvMatches(leader, written, sessionID, &api.QueryOptions{AllowStale: true})
		})
	})

	step(t, "data survives a restart of every server", func(t *testing.T) {
		for _, s := range servers {
			s.Stop(syscall.SIGTERM)
		}
		for _, s := range servers {
			s.Restart()
		}
		waitLeader(t, 40*time.Second, servers...)
		for _, s := range servers {
			checkKV(t, s, written, sessionID)
		}
		// The CLI reads it too.
		r := servers[1].mustCLI("kv get", "persist/k05")
		if r.Stdout != "value-5\n" {
			t.Fatalf("kv get after the restart: %s", r)
		}
	})
}

// checkKV waits until a (consistently) holds exactly the written keys,
// with the lock held by the session.
func checkKV(t *testing.T, a *agentProc, written map[string]string, session string) {
	t.Helper()
	waitFor(t, 20*time.Second, "the keys on "+a.Name, func() error {
		return kvMatches(a, written, session, &api.QueryOptions{RequireConsistent: true})
	})
}

func kvMatches(a *agentProc, written map[string]string, session string, q *api.QueryOptions) error {
	pairs, _, err := a.API.KV().List("persist/", q)
	if err != nil {
		return err
	}
	if len(pairs) != len(written) {
		return fmt.Errorf("%s has %d keys under persist/, want %d", a.Name, len(pairs), len(written))
	}
	for _, p := range pairs {
		if want, ok := written[p.Key]; !ok || string(p.Value) != want {
			return fmt.Errorf("%s: %s = %q, want %q", a.Name, p.Key, p.Value, want)
		}
		if p.Key == "persist/lock" && p.Session != session {
			return fmt.Errorf("%s: lock held by %q, want %q", a.Name, p.Session, session)
		}
	}
	info, _, err := a.API.Session().Info(session, q)
	if err != nil {
		return err
	}
	if info == nil || info.Name != "durable" {
		return fmt.Errorf("%s: session = %+v", a.Name, info)
	}
	return nil
}
