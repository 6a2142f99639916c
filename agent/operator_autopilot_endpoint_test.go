package agent

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/meridian-sd/meridian/server"
)

// apHealth returns the autopilot health of every server by name.
func apHealth(c *api.Client) (*api.OperatorHealthReply, map[string]api.ServerHealth, error) {
	h, err := c.Operator().AutopilotServerHealth(nil)
	if err != nil {
		return nil, nil, err
	}
	by := make(map[string]api.ServerHealth)
	for _, s := range h.Servers {
		by[s.Name] = s
	}
	return h, by, nil
}

// leaderAgent returns the agent that leads, nil if none does.
func leaderAgent(as ...*TestAgent) *TestAgent {
	for _, a := range as {
		if a.Server().IsLeader() {
			return a
		}
	}
	return nil
}

// startAPServer starts a server agent with Raft timings that survive a
// loaded machine under -race: leadership changes mid-test would only make
// the steps below wait.
func startAPServer(t *testing.T, args ...string) *TestAgent {
	t.Helper()
	return startTestAgent(t, func(o *Options) {
		base := o.ServerConfig
		o.ServerConfig = func(sc *server.Config) {
			base(sc)
			sc.RaftConfig.HeartbeatTimeout = time.Second
			sc.RaftConfig.ElectionTimeout = time.Second
			sc.RaftConfig.LeaderLeaseTimeout = 500 * time.Millisecond
		}
	}, append([]string{"-server"}, args...)...)
}

// TestOperatorAutopilotAPI drives autopilot and the Raft operations
// through the official client on three in-process servers: new servers
// join as non-voters and are promoted after the stabilization time, the
// health, state and configuration endpoints, check-and-set, leadership
// transfer, removal of a live peer, and dead-server cleanup with a 429
// health answer.
func TestOperatorAutopilotAPI(t *testing.T) {
	const hcl = `-hcl=autopilot {
  server_stabilization_time = "2s"
  last_contact_threshold    = "3s"
}`
	s1 := startAPServer(t, "-bootstrap", hcl)
	s1.WaitForLeader(t)
	c := s1.Client

	// Stabilization is only enforced once autopilot has run that long
	// (before, every server counts as stable): wait for it.
	WaitFor(t, "autopilot running for the stabilization time", 15*time.Second, func() error {
		_, by, err := apHealth(c)
		if err != nil {
			return err
		}
		h, ok := by[s1.Name]
		if !ok || !h.Healthy || !h.Leader || !h.Voter {
			return fmt.Errorf("leader health %+v", h)
		}
		if time.Since(h.StableSince) < 3*time.Second {
			return fmt.Errorf("stable since %s", h.StableSince)
		}
		return nil
	})

	t.Run("configuration from the agent's autopilot block", func(t *testing.T) {
		conf, err := c.Operator().AutopilotGetConfiguration(nil)
		if err != nil {
			t.Fatal(err)
		}
		if !conf.CleanupDeadServers || conf.LastContactThreshold.Duration() != 3*time.Second ||
			conf.ServerStabilizationTime.Duration() != 2*time.Second || conf.MaxTrailingLogs != 250 || conf.ModifyIndex == 0 {
			t.Errorf("configuration %+v (threshold %s, stabilization %s)", conf, conf.LastContactThreshold, conf.ServerStabilizationTime)
		}
	})

	s2 := startAPServer(t, hcl)
	s3 := startAPServer(t, hcl)
	all := []*TestAgent{s1, s2, s3}
	for _, a := range all[1:] {
		if err := a.Client.Agent().Join(s1.LANAddr(), false); err != nil {
			t.Fatalf("join: %v", err)
		}
	}

	t.Run("a new server is a non-voter until it is stable", func(t *testing.T) {
		sawNonVoter := map[string]bool{}
		WaitFor(t, "s2 and s3 voters", 30*time.Second, func() error {
			_, by, err := apHealth(c)
			if err != nil {
				return err
			}
			var waiting []string
			for _, a := range all[1:] {
				h, ok := by[a.Name]
				if !ok {
					waiting = append(waiting, a.Name+" (not in raft)")
					continue
				}
				if !h.Voter {
					sawNonVoter[a.Name] = true
					waiting = append(waiting, a.Name)
				}
			}
			if len(waiting) > 0 {
				return fmt.Errorf("not voters yet: %v", waiting)
			}
			return nil
		})
		for _, a := range all[1:] {
			if !sawNonVoter[a.Name] {
				t.Errorf("%s was never seen as a non-voter before its promotion", a.Name)
			}
		}
	})

	t.Run("health and state", func(t *testing.T) {
		var h *api.OperatorHealthReply
		WaitFor(t, "every server healthy", 15*time.Second, func() error {
			var err error
			h, _, err = apHealth(s2.Client)
			if err != nil {
				return err
			}
			if !h.Healthy || h.FailureTolerance != 1 || len(h.Servers) != 3 {
				return fmt.Errorf("health %+v", h)
			}
			return nil
		})
		leaders := 0
		for _, s := range h.Servers {
			if s.ID == "" || s.Address == "" || s.SerfStatus != "alive" || s.Version == "" || !s.Voter ||
				s.LastTerm == 0 || s.LastIndex == 0 || s.StableSince.IsZero() || s.LastContact == nil {
				t.Errorf("server health %+v", s)
			}
			if s.Leader {
				leaders++
			}
		}
		if leaders != 1 {
			t.Errorf("%d leaders in %+v", leaders, h.Servers)
		}
		st, err := s3.Client.Operator().AutopilotState(nil)
		if err != nil {
			t.Fatal(err)
		}
		if !st.Healthy || len(st.Voters) != 3 || len(st.Servers) != 3 || st.Leader == "" || st.FailureTolerance != 1 {
			t.Fatalf("state %+v", st)
		}
		statuses := map[api.AutopilotServerStatus]int{}
		for id, s := range st.Servers {
			statuses[s.Status]++
			if s.ID != id || s.NodeType != api.AutopilotTypeVoter || s.NodeStatus != "alive" || !s.Healthy {
				t.Errorf("state server %+v", s)
			}
		}
		if statuses[api.AutopilotServerLeader] != 1 || statuses[api.AutopilotServerVoter] != 2 {
			t.Errorf("statuses %v", statuses)
		}
	})

	t.Run("set and check-and-set the configuration", func(t *testing.T) {
		conf, err := c.Operator().AutopilotGetConfiguration(nil)
		if err != nil {
			t.Fatal(err)
		}
		conf.MaxTrailingLogs = 100
		conf.MinQuorum = 2
		if err := s2.Client.Operator().AutopilotSetConfiguration(conf, nil); err != nil {
			t.Fatal(err)
		}
		got, err := s3.Client.Operator().AutopilotGetConfiguration(nil)
		if err != nil {
			t.Fatal(err)
		}
		if got.MaxTrailingLogs != 100 || got.MinQuorum != 2 || got.ModifyIndex <= conf.ModifyIndex || got.CreateIndex != conf.CreateIndex {
			t.Fatalf("after set: %+v (before %+v)", got, conf)
		}
		// conf carries the old ModifyIndex: the CAS must fail.
		conf.MaxTrailingLogs = 7
		if ok, err := c.Operator().AutopilotCASConfiguration(conf, nil); err != nil || ok {
			t.Fatalf("CAS with a stale index: %v, %v; want false", ok, err)
		}
		got.MaxTrailingLogs = 300
		if ok, err := c.Operator().AutopilotCASConfiguration(got, nil); err != nil || !ok {
			t.Fatalf("CAS with the current index: %v, %v; want true", ok, err)
		}
		final, err := c.Operator().AutopilotGetConfiguration(nil)
		if err != nil || final.MaxTrailingLogs != 300 {
			t.Fatalf("after CAS: %+v, %v", final, err)
		}
	})

	t.Run("bad configuration is refused with 400", func(t *testing.T) {
		for _, tc := range []struct{ query, body, says string }{
			{"", `{"LastContactThreshold": "-1s"}`, "LastContactThreshold"},
			{"", `{"ServerStabilizationTime": "48h"}`, "ServerStabilizationTime"},
			{"", `{"LastContactThreshold": "soon"}`, "invalid duration"},
			{"?cas=abc", `{}`, "cas"},
			{"", `[1,2]`, "decode"},
		} {
			req, _ := http.NewRequest("PUT", "http://"+s1.HTTPAddr+"/v1/operator/autopilot/configuration"+tc.query, strings.NewReader(tc.body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 512)
			n, _ := resp.Body.Read(buf)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(buf[:n]), tc.says) {
				t.Errorf("PUT %s %s: %d %q, want 400 naming %s", tc.query, tc.body, resp.StatusCode, buf[:n], tc.says)
			}
		}
	})

	t.Run("transfer-leader moves the leader", func(t *testing.T) {
		old := leaderAgent(all...)
		if old == nil {
			t.Fatal("no leader")
		}
		out, err := s2.Client.Operator().RaftLeaderTransfer("", nil)
		if err != nil || !out.Success {
			t.Fatalf("transfer: %+v, %v", out, err)
		}
		WaitFor(t, "a new leader", 15*time.Second, func() error {
			if l := leaderAgent(all...); l == nil || l == old {
				return errors.New("leader unchanged or none")
			}
			return nil
		})
		// To a chosen server.
		var target *TestAgent
		for _, a := range all {
			if !a.Server().IsLeader() {
				target = a
				break
			}
		}
		id := target.cfg().NodeID
		WaitFor(t, "a transfer to "+target.Name, 15*time.Second, func() error {
			_, err := c.Operator().RaftLeaderTransfer(id, nil)
			return err
		})
		WaitFor(t, target.Name+" leading", 15*time.Second, func() error {
			if !target.Server().IsLeader() {
				return errors.New("not yet")
			}
			return nil
		})
		if _, err := c.Operator().RaftLeaderTransfer("no-such-id", nil); err == nil || !strings.Contains(err.Error(), "400") {
			t.Errorf("transfer to an unknown id: %v, want a 400", err)
		}
	})

	t.Run("remove-peer removes a live server, which comes back as a non-voter", func(t *testing.T) {
		var victim *TestAgent
		for _, a := range all {
			if !a.Server().IsLeader() {
				victim = a
				break
			}
		}
		id := victim.cfg().NodeID
		WaitFor(t, "remove "+victim.Name, 15*time.Second, func() error {
			return c.Operator().RaftRemovePeerByID(id, nil)
		})
		// Gone at once from the leader's configuration; then the leader's
		// reconcile adds it back, and autopilot promotes it again.
		WaitFor(t, victim.Name+" back as a voter", 30*time.Second, func() error {
			cfg, err := c.Operator().RaftGetConfiguration(nil)
			if err != nil {
				return err
			}
			for _, s := range cfg.Servers {
				if s.ID == id && s.Voter {
					return nil
				}
			}
			return fmt.Errorf("%s not a voter in %d servers", victim.Name, len(cfg.Servers))
		})
		if err := c.Operator().RaftRemovePeerByAddress("192.0.2.1:8300", nil); err == nil || !strings.Contains(err.Error(), "400") {
			t.Errorf("remove an unknown address: %v, want a 400", err)
		}
	})

	t.Run("a dead server makes health 429 and is cleaned up", func(t *testing.T) {
		var victim *TestAgent
		for _, a := range all {
			if !a.Server().IsLeader() {
				victim = a
				break
			}
		}
		var survivor *TestAgent
		for _, a := range all {
			if a != victim {
				survivor = a
				break
			}
		}
		// Cleanup waits until health has been seen unhealthy: with the
		// tests' fast gossip, autopilot can otherwise remove the dead
		// server before its last contact passes the 3 s threshold, and
		// health never turns.
		setCleanup := func(on bool) {
			t.Helper()
			conf, err := survivor.Client.Operator().AutopilotGetConfiguration(nil)
			if err != nil {
				t.Fatal(err)
			}
			conf.CleanupDeadServers = on
			if err := survivor.Client.Operator().AutopilotSetConfiguration(conf, nil); err != nil {
				t.Fatal(err)
			}
		}
		setCleanup(false)
		// MinQuorum 2 (set above) still allows going from three to two.
		victim.Shutdown()
		WaitFor(t, "unhealthy health answer", 20*time.Second, func() error {
			req, _ := http.NewRequest("GET", "http://"+survivor.HTTPAddr+"/v1/operator/autopilot/health", nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusTooManyRequests {
				return fmt.Errorf("status %d", resp.StatusCode)
			}
			h, _, err := apHealth(survivor.Client)
			if err != nil {
				return err
			}
			if h.Healthy {
				return errors.New("healthy through the client")
			}
			return nil
		})
		setCleanup(true)
		WaitFor(t, "the dead server removed from raft", 30*time.Second, func() error {
			cfg, err := survivor.Client.Operator().RaftGetConfiguration(nil)
			if err != nil {
				return err
			}
			for _, s := range cfg.Servers {
				if s.Node == victim.Name {
					return fmt.Errorf("%s still in raft", victim.Name)
				}
			}
			if len(cfg.Servers) != 2 {
				return fmt.Errorf("%d servers", len(cfg.Servers))
			}
			return nil
		})
	})
}
