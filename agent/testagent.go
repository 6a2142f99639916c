package agent

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/hashicorp/go-hclog"

	"github.com/meridian-sd/meridian/agent/config"
	"github.com/meridian-sd/meridian/client"
	"github.com/meridian-sd/meridian/server"
)

// TestAgent is an in-process agent for tests: loopback addresses, ports
// chosen by the kernel, fast gossip and Raft timings, data in a temporary
// directory, logs to the test log, stopped by t.Cleanup.
type TestAgent struct {
	*Agent
	// Name is the node name.
	Name string
	// HTTPAddr is the API's host:port.
	HTTPAddr string
	// Client is an official Consul API client for the agent.
	Client *api.Client
	// DataDir is the agent's data directory.
	DataDir string
}

var testAgentCounter atomic.Int64

// testAgentHCL shrinks gossip timings for loopback tests.
const testAgentHCL = `
performance { raft_multiplier = 1 }
gossip_lan { probe_interval = "200ms" probe_timeout = "100ms" gossip_interval = "50ms" suspicion_mult = 3 }
gossip_wan { probe_interval = "200ms" probe_timeout = "100ms" gossip_interval = "50ms" suspicion_mult = 3 }
autopilot { server_stabilization_time = "1s" last_contact_threshold = "1s" }
`

// StartTestAgent starts an agent with the given extra agent flags (for
// example "-server", "-bootstrap", "-datacenter=dc2", "-hcl=..."). Without
// -node a unique name is chosen.
func StartTestAgent(t testing.TB, args ...string) *TestAgent {
	t.Helper()
	return startTestAgent(t, nil, args...)
}

// startTestAgent is StartTestAgent with a hook that adjusts the agent's
// Options before it starts.
func startTestAgent(t testing.TB, adjust func(*Options), args ...string) *TestAgent {
	t.Helper()
	name := ""
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "-node="); ok {
			name = v
		}
	}
	if name == "" {
		name = fmt.Sprintf("node%d", testAgentCounter.Add(1))
		args = append(args, "-node="+name)
	}
	// A -data-dir among args reuses that directory (to restart an agent on
	// the data of an earlier one); otherwise a fresh temporary one is used.
	dataDir := ""
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "-data-dir="); ok {
			dataDir = v
		}
	}
	base := []string{
		"-bind=127.0.0.1", "-client=127.0.0.1",
		"-http-port=0", "-dns-port=-1", "-server-port=0", "-serf-lan-port=0", "-serf-wan-port=0",
		"-log-level=warn", "-hcl=" + testAgentHCL,
	}
	if dataDir == "" {
		dataDir = t.TempDir()
		base = append(base, "-data-dir="+dataDir)
	}
	all := append(base, args...)
	load := func() (*config.RuntimeConfig, []string, error) {
		return config.Load(config.LoadOpts{Args: all})
	}
	rc, warnings, err := load()
	if err != nil {
		t.Fatalf("test agent config: %v", err)
	}
	logger := hclog.NewInterceptLogger(&hclog.LoggerOptions{
		Name: name, Level: hclog.LevelFromString(rc.LogLevel), Output: newTestLogWriter(t),
	})
	opts := Options{
		Logger:   logger,
		Reload:   load,
		Warnings: warnings,
		ServerConfig: func(sc *server.Config) {
			rc := sc.RaftConfig
			rc.HeartbeatTimeout = 300 * time.Millisecond
			rc.ElectionTimeout = 300 * time.Millisecond
			rc.LeaderLeaseTimeout = 150 * time.Millisecond
			rc.CommitTimeout = 5 * time.Millisecond
			sc.ReconcileInterval = time.Second
			sc.CoordinateUpdatePeriod = 100 * time.Millisecond
			sc.FloodInterval = time.Second
			sc.RPCHoldTimeout = 3 * time.Second
			sc.LeaveDrainTime = 2 * time.Second
			sc.AutopilotUpdateInterval = 100 * time.Millisecond
			sc.AutopilotReconcileInterval = 200 * time.Millisecond
		},
		ClientConfig: func(cc *client.Config) {},
		Local: func(lc *LocalConfig) {
			lc.SyncInterval = time.Second
			lc.SyncRetryInterval = 200 * time.Millisecond
			lc.ServerWatchInterval = 100 * time.Millisecond
			lc.ReapInterval = 100 * time.Millisecond
			lc.MinCheckInterval = 50 * time.Millisecond
			lc.MinDeregisterCriticalAfter = 0
		},
	}
	if adjust != nil {
		adjust(&opts)
	}
	a, err := New(rc, opts)
	if err != nil {
		t.Fatalf("test agent: %v", err)
	}
	if err := a.Start(); err != nil {
		t.Fatalf("start test agent %s: %v", name, err)
	}
	t.Cleanup(func() { a.Shutdown() })
	addr := HTTPAddrString(a.HTTPAddrs()[0])
	cfg := api.DefaultNonPooledConfig()
	cfg.Address = addr
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &TestAgent{Agent: a, Name: name, HTTPAddr: addr, Client: c, DataDir: dataDir}
}

// LANAddr is the agent's LAN gossip address, for joins.
func (ta *TestAgent) LANAddr() string {
	m := ta.delegate.LocalMember()
	return fmt.Sprintf("%s:%d", m.Addr, m.Port)
}

// WANAddr is a server's WAN gossip address, for joins.
func (ta *TestAgent) WANAddr() string {
	m := ta.server.WANSerf().LocalMember()
	return fmt.Sprintf("%s:%d", m.Addr, m.Port)
}

// WaitForLeader waits until the agent's datacenter has a leader it knows.
func (ta *TestAgent) WaitForLeader(t testing.TB) {
	t.Helper()
	WaitFor(t, "a leader", 15*time.Second, func() error {
		leader, err := ta.Client.Status().Leader()
		if err != nil {
			return err
		}
		if leader == "" {
			return fmt.Errorf("no leader yet")
		}
		return nil
	})
}

// WaitFor polls cond until it returns nil or the timeout passes.
func WaitFor(t testing.TB, what string, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for {
		if err = cond(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s: %v", timeout, what, err)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// testLogWriter sends logs to the test log until the test's cleanups run,
// then drops them: t.Log after the test ends panics, and goroutines of a
// stopped agent may still log.
type testLogWriter struct {
	t    testing.TB
	mu   *sync.Mutex
	done *bool
}

func newTestLogWriter(t testing.TB) testLogWriter {
	w := testLogWriter{t: t, mu: new(sync.Mutex), done: new(bool)}
	t.Cleanup(func() {
		w.mu.Lock()
		*w.done = true
		w.mu.Unlock()
	})
	return w
}

func (w testLogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !*w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}
