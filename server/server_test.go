package server

import (
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-uuid"
	"github.com/hashicorp/serf/serf"

	"github.com/meridian-sd/meridian/gossip"
	"github.com/meridian-sd/meridian/structs"
)

// testWriter sends logs to the test log until the test's cleanups run;
// after that (a goroutine of a stopped server logging late) it drops
// them, because t.Log after the test ends panics.
type testWriter struct {
	t    testing.TB
	mu   *sync.Mutex
	done *bool
}

func newTestWriter(t testing.TB) testWriter {
	w := testWriter{t: t, mu: new(sync.Mutex), done: new(bool)}
	t.Cleanup(func() {
		w.mu.Lock()
		*w.done = true
		w.mu.Unlock()
	})
	return w
}

func (w testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !*w.done {
		w.t.Log(string(p))
	}
	return len(p), nil
}

var nodeCounter atomic.Int64

// testConfig returns a server config with fast timings on loopback, each
// port chosen by the kernel.
func testConfig(t testing.TB, dc string) *Config {
	t.Helper()
	n := nodeCounter.Add(1)
	id, err := uuid.GenerateUUID()
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.NodeName = fmt.Sprintf("%s-srv%d", dc, n)
	cfg.NodeID = id
	cfg.Datacenter = dc
	cfg.DataDir = t.TempDir()
	cfg.RPCAddr = &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 0}
	cfg.SerfLAN = gossip.Config{Profile: gossip.ProfileLocal, BindAddr: "127.0.0.1", BindPort: 0}
	cfg.SerfWAN = gossip.Config{Profile: gossip.ProfileLocal, BindAddr: "127.0.0.1", BindPort: 0}
	rc := cfg.RaftConfig
	rc.HeartbeatTimeout = 200 * time.Millisecond
	rc.ElectionTimeout = 200 * time.Millisecond
	// The lease as long as raft allows (the heartbeat timeout): with
	// 100ms, a leader on a loaded 2-core machine under -race could step
	// down right after waitForLeader and fail the next call with "No
	// cluster leader".
	rc.LeaderLeaseTimeout = 200 * time.Millisecond
	rc.CommitTimeout = 5 * time.Millisecond
	cfg.ReconcileInterval = 500 * time.Millisecond
	cfg.RPCHoldTimeout = 2 * time.Second
	cfg.CoordinateUpdatePeriod = 100 * time.Millisecond
	cfg.FloodInterval = 500 * time.Millisecond
	cfg.FederationProbeInterval = 200 * time.Millisecond
	cfg.LeaveDrainTime = 2 * time.Second
	cfg.AutopilotUpdateInterval = 100 * time.Millisecond
	cfg.AutopilotReconcileInterval = 200 * time.Millisecond
	// Generous health bounds: under -race on a loaded machine a follower
	// may not hear from the leader for a few hundred milliseconds.
	cfg.Autopilot.ServerStabilizationTime = structs.Duration(500 * time.Millisecond)
	cfg.Autopilot.LastContactThreshold = structs.Duration(time.Second)
	cfg.Logger = hclog.New(&hclog.LoggerOptions{Name: cfg.NodeName, Output: newTestWriter(t), Level: hclog.Warn})
	return cfg
}

func startServer(t testing.TB, cfg *Config) *Server {
	t.Helper()
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatalf("start server %s: %v", cfg.NodeName, err)
	}
	t.Cleanup(func() { s.Shutdown() })
	return s
}

func waitFor(t testing.TB, what string, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = cond(); err == nil {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s: %v", what, err)
}

func lanAddr(s *Server) string {
	m := s.serfLAN.LocalMember()
	return fmt.Sprintf("%s:%d", m.Addr, m.Port)
}

func wanAddr(s *Server) string {
	m := s.wan().LocalMember()
	return fmt.Sprintf("%s:%d", m.Addr, m.Port)
}

// startCluster starts n servers of dc with -bootstrap-expect n, joined.
func startCluster(t testing.TB, dc string, n int) []*Server {
	t.Helper()
	var servers []*Server
	for i := 0; i < n; i++ {
		cfg := testConfig(t, dc)
		if n == 1 {
			cfg.Bootstrap = true
		} else {
			cfg.BootstrapExpect = n
		}
		servers = append(servers, startServer(t, cfg))
	}
	for _, s := range servers[1:] {
		if _, err := s.JoinLAN([]string{lanAddr(servers[0])}); err != nil {
			t.Fatalf("join: %v", err)
		}
	}
	waitForLeader(t, servers)
	return servers
}

func waitForLeader(t testing.TB, servers []*Server) *Server {
	t.Helper()
	var leader *Server
	waitFor(t, "one leader known to all", 15*time.Second, func() error {
		leader = nil
		for _, s := range servers {
			if s.IsLeader() {
				if leader != nil {
					return fmt.Errorf("two leaders")
				}
				leader = s
			}
		}
		if leader == nil {
			return fmt.Errorf("no leader")
		}
		for _, s := range servers {
			if string(s.raft.Leader()) != leader.RPCAddr().String() {
				return fmt.Errorf("%s does not know the leader yet", s.NodeName())
			}
			n, err := s.numPeers()
			if err != nil || n != len(servers) {
				return fmt.Errorf("%s has %d peers", s.NodeName(), n)
			}
		}
		return nil
	})
	return leader
}

func TestSingleServerCatalog(t *testing.T) {
	s := startCluster(t, "dc1", 1)[0]
	// The leader registers itself with a passing serfHealth check.
	waitFor(t, "serfHealth of the server", 10*time.Second, func() error {
		var out structs.IndexedHealthChecks
		if err := s.RPC("Health.NodeChecks", &structs.NodeSpecificRequest{Datacenter: "dc1", Node: s.NodeName()}, &out); err != nil {
			return err
		}
		for _, c := range out.HealthChecks {
			if c.CheckID == structs.SerfCheckID && c.Status == structs.HealthPassing {
				return nil
			}
		}
		return fmt.Errorf("checks %v", out.HealthChecks)
	})

	reg := &structs.RegisterRequest{
		Datacenter: "dc1", Node: "web1", Address: "10.0.0.1",
		Service: &structs.NodeService{Service: "web", Port: 80, Tags: []string{"v1"}},
		Check:   &structs.HealthCheck{CheckID: "web-alive", Name: "web alive", ServiceID: "web", Status: structs.HealthPassing},
	}
	if err := s.RPC("Catalog.Register", reg, &struct{}{}); err != nil {
		t.Fatalf("register: %v", err)
	}
	var nodes structs.IndexedNodes
	if err := s.RPC("Catalog.ListNodes", &structs.DCSpecificRequest{Datacenter: "dc1"}, &nodes); err != nil {
		t.Fatal(err)
	}
	if len(nodes.Nodes) != 2 || nodes.Index == 0 || !nodes.KnownLeader {
		t.Fatalf("nodes = %+v", nodes)
	}
	var svc structs.IndexedCheckServiceNodes
	if err := s.RPC("Health.ServiceNodes", &structs.ServiceSpecificRequest{Datacenter: "dc1", ServiceName: "web", PassingOnly: true}, &svc); err != nil {
		t.Fatal(err)
	}
	if len(svc.Nodes) != 1 || svc.Nodes[0].Node.Node != "web1" || len(svc.Nodes[0].Checks) != 1 {
		t.Fatalf("health service = %+v", svc.Nodes)
	}

	// A bad status is refused before Raft.
	bad := &structs.RegisterRequest{Datacenter: "dc1", Node: "x", Address: "10.0.0.2",
		Check: &structs.HealthCheck{CheckID: "c", Status: "sideways"}}
	if err := s.RPC("Catalog.Register", bad, &struct{}{}); err == nil {
		t.Fatal("register with an unknown check status succeeded")
	}
}

func TestBlockingQueryWakesOnWrite(t *testing.T) {
	s := startCluster(t, "dc1", 1)[0]
	// Let the leader's own registrations (its node, serfHealth, the consul
	// service) settle, so that the only write below is the test's.
	waitFor(t, "the leader registered itself", 10*time.Second, func() error {
		var out structs.IndexedNodeServices
		if err := s.RPC("Catalog.NodeServices", &structs.NodeSpecificRequest{Datacenter: "dc1", Node: s.NodeName()}, &out); err != nil {
			return err
		}
		if out.NodeServices == nil || out.NodeServices.Services[structs.ConsulServiceID] == nil {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	var first structs.IndexedNodes
	if err := s.RPC("Catalog.ListNodes", &structs.DCSpecificRequest{Datacenter: "dc1"}, &first); err != nil {
		t.Fatal(err)
	}
	done := make(chan structs.IndexedNodes, 1)
	errCh := make(chan error, 1)
	go func() {
		var out structs.IndexedNodes
		args := &structs.DCSpecificRequest{Datacenter: "dc1", QueryOptions: structs.QueryOptions{MinQueryIndex: first.Index, MaxQueryTime: 10 * time.Second}}
		if err := s.RPC("Catalog.ListNodes", args, &out); err != nil {
			errCh <- err
			return
		}
		done <- out
	}()
	start := time.Now()
	reg := &structs.RegisterRequest{Datacenter: "dc1", Node: "late", Address: "10.0.0.9"}
	if err := s.RPC("Catalog.Register", reg, &struct{}{}); err != nil {
		t.Fatal(err)
	}
	select {
	case out := <-done:
		if out.Index <= first.Index {
			t.Fatalf("woke with index %d, not past %d", out.Index, first.Index)
		}
		found := false
		for _, n := range out.Nodes {
			found = found || n.Node == "late"
		}
		if !found {
			t.Fatalf("woke without the new node: %+v", out.Nodes)
		}
		t.Logf("blocking query woke after %s", time.Since(start))
	case err := <-errCh:
		t.Fatal(err)
	case <-time.After(8 * time.Second):
		t.Fatal("blocking query did not wake on the write")
	}

	// A blocking query on an index that does not move times out with the
	// same index after about its wait.
	var out structs.IndexedNodes
	args := &structs.DCSpecificRequest{Datacenter: "dc1", QueryOptions: structs.QueryOptions{MinQueryIndex: 1 << 40, MaxQueryTime: 100 * time.Millisecond}}
	if err := s.RPC("Catalog.ListNodes", args, &out); err != nil {
		t.Fatal(err)
	}
}

func TestThreeServersForwardToLeader(t *testing.T) {
	servers := startCluster(t, "dc1", 3)
	leader := waitForLeader(t, servers)
	var follower *Server
	for _, s := range servers {
		if s != leader {
			follower = s
			break
		}
	}
	reg := &structs.RegisterRequest{Datacenter: "dc1", Node: "n1", Address: "10.1.1.1"}
	if err := follower.RPC("Catalog.Register", reg, &struct{}{}); err != nil {
		t.Fatalf("register through a follower: %v", err)
	}
	for _, s := range servers {
		s := s
		waitFor(t, "n1 on "+s.NodeName(), 5*time.Second, func() error {
			var out structs.IndexedNodeServices
			args := &structs.NodeSpecificRequest{Datacenter: "dc1", Node: "n1", QueryOptions: structs.QueryOptions{AllowStale: true}}
			if err := s.RPC("Catalog.NodeServices", args, &out); err != nil {
				return err
			}
			if out.NodeServices == nil {
				return fmt.Errorf("not there")
			}
			return nil
		})
	}
	// Every server shows up in the catalog with a passing serfHealth.
	waitFor(t, "all servers registered", 10*time.Second, func() error {
		var out structs.IndexedHealthChecks
		if err := leader.RPC("Health.ChecksInState", &structs.ChecksInStateRequest{Datacenter: "dc1", State: structs.HealthPassing}, &out); err != nil {
			return err
		}
		n := 0
		for _, c := range out.HealthChecks {
			if c.CheckID == structs.SerfCheckID {
				n++
			}
		}
		if n != 3 {
			return fmt.Errorf("%d passing serfHealth checks", n)
		}
		return nil
	})
}

func TestLeaderFailoverKeepsWrites(t *testing.T) {
	servers := startCluster(t, "dc1", 3)
	leader := waitForLeader(t, servers)
	for i := 0; i < 5; i++ {
		reg := &structs.RegisterRequest{Datacenter: "dc1", Node: fmt.Sprintf("pre%d", i), Address: "10.2.0.1"}
		if err := leader.RPC("Catalog.Register", reg, &struct{}{}); err != nil {
			t.Fatal(err)
		}
	}
	leader.Shutdown()
	var rest []*Server
	for _, s := range servers {
		if s != leader {
			rest = append(rest, s)
		}
	}
	var newLeader *Server
	waitFor(t, "a new leader", 15*time.Second, func() error {
		for _, s := range rest {
			if s.IsLeader() {
				newLeader = s
				return nil
			}
		}
		return fmt.Errorf("none")
	})
	reg := &structs.RegisterRequest{Datacenter: "dc1", Node: "post", Address: "10.2.0.2"}
	if err := rest[0].RPC("Catalog.Register", reg, &struct{}{}); err != nil {
		t.Fatalf("write after failover: %v", err)
	}
	var out structs.IndexedNodes
	if err := newLeader.RPC("Catalog.ListNodes", &structs.DCSpecificRequest{Datacenter: "dc1"}, &out); err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, n := range out.Nodes {
		have[n.Node] = true
	}
	for _, want := range []string{"pre0", "pre4", "post"} {
		if !have[want] {
			t.Fatalf("node %s lost after failover: %v", want, have)
		}
	}
	// The dead leader's serfHealth turns critical.
	waitFor(t, "old leader critical", 15*time.Second, func() error {
		var hc structs.IndexedHealthChecks
		if err := newLeader.RPC("Health.NodeChecks", &structs.NodeSpecificRequest{Datacenter: "dc1", Node: leader.NodeName()}, &hc); err != nil {
			return err
		}
		for _, c := range hc.HealthChecks {
			if c.CheckID == structs.SerfCheckID && c.Status == structs.HealthCritical {
				return nil
			}
		}
		return fmt.Errorf("checks %+v", hc.HealthChecks)
	})
}

func TestWANForwarding(t *testing.T) {
	dc1 := startCluster(t, "dc1", 1)[0]
	dc2 := startCluster(t, "dc2", 1)[0]
	if _, err := dc1.JoinWAN([]string{wanAddr(dc2)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both dcs known", 10*time.Second, func() error {
		var dcs []string
		if err := dc1.RPC("Catalog.ListDatacenters", &struct{}{}, &dcs); err != nil {
			return err
		}
		if len(dcs) != 2 || dcs[0] != "dc1" {
			return fmt.Errorf("dcs = %v", dcs)
		}
		return nil
	})
	reg := &structs.RegisterRequest{Datacenter: "dc2", Node: "remote", Address: "10.3.0.1"}
	if err := dc1.RPC("Catalog.Register", reg, &struct{}{}); err != nil {
		t.Fatalf("register in dc2 through dc1: %v", err)
	}
	var out structs.IndexedNodes
	if err := dc2.RPC("Catalog.ListNodes", &structs.DCSpecificRequest{}, &out); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, n := range out.Nodes {
		found = found || n.Node == "remote"
	}
	if !found {
		t.Fatalf("write forwarded to dc2 is not in dc2: %+v", out.Nodes)
	}
	err := dc1.RPC("Catalog.ListNodes", &structs.DCSpecificRequest{Datacenter: "nowhere"}, &out)
	if !structs.IsErr(err, structs.ErrNoDCPath) {
		t.Fatalf("unknown dc: err = %v, want %v", err, structs.ErrNoDCPath)
	}
	_ = serf.StatusAlive
}
