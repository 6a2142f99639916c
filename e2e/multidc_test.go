package e2e

// Issue 4 shown with real processes: three datacenters of three servers,
// clients in dc1 and dc2, WAN latency injected by relays (dc1-dc2 about
// 20ms, dc1-dc3 about 80ms), federated with one `join -wan` per datacenter.
// Everything is asked of the client in dc1.

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// Relay delays per datacenter; a round trip between two datacenters is the
// sum of theirs.
var dcDelay = map[string]time.Duration{"dc1": 0, "dc2": 20 * time.Millisecond, "dc3": 80 * time.Millisecond}

type threeDCs struct {
	servers map[string][]*agentProc
	clients map[string]*agentProc
	all     []*agentProc
}

func startThreeDCs(t *testing.T, c *cluster) *threeDCs {
	t.Helper()
	f := &threeDCs{servers: map[string][]*agentProc{}, clients: map[string]*agentProc{}}
	x := c.first
	for _, dc := range []string{"dc1", "dc2", "dc3"} {
		var servers []*agentProc
		for i := 1; i <= 3; i++ {
			h := host(x)
			// Nine servers learn of each other through WAN gossip; more
			// retransmissions make it converge without waiting for the
			// WAN pool's 60s push/pull.
			o := agentOpts{Name: fmt.Sprintf("%s-s%d", dc, i), DC: dc, Server: true, BootstrapExpect: 3,
				Args: []string{"-hcl=gossip_wan { retransmit_mult = 8 }"}}
			if d := dcDelay[dc]; d > 0 {
				startRelay(t, relayHost(x), h, d, []int{portServer, portSerfWAN}, []int{portSerfWAN})
				o.Args = append(o.Args, "-advertise-wan="+relayHost(x))
			}
			if i > 1 {
				o.Join = []string{servers[0].LANAddr}
			}
			servers = append(servers, c.startOn(h, o))
			x++
		}
		f.servers[dc] = servers
		f.all = append(f.all, servers...)
		if dc != "dc3" {
			cl := c.startOn(host(x), agentOpts{Name: dc + "-c1", DC: dc, Join: []string{servers[0].LANAddr},
				HCL: "sync_coordinate_interval_min = \"500ms\"\n"})
			x++
			f.clients[dc] = cl
			f.all = append(f.all, cl)
		}
	}
	return f
}

// nodesIn reads dc's node names through a.
func nodesIn(a *agentProc, dc string, stale bool) ([]string, error) {
	nodes, _, err := a.API.Catalog().Nodes(&api.QueryOptions{Datacenter: dc, AllowStale: stale})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range nodes {
		out = append(out, n.Node)
	}
	return out, nil
}

func statusBody(err error) string {
	var se api.StatusError
	if errors.As(err, &se) {
		return se.Body
	}
	if err == nil {
		return ""
	}
	return err.Error()
}

var rttLine = regexp.MustCompile(`rtt: ([0-9.]+) ms`)

func wanRTT(t *testing.T, a *agentProc, from, to string) (float64, error) {
	r := a.CLI("rtt", "-wan", from, to)
	if r.Code != 0 {
		return 0, fmt.Errorf("rtt -wan %s %s: %s", from, to, r)
	}
	m := rttLine.FindStringSubmatch(r.Stdout)
	if m == nil {
		return 0, fmt.Errorf("rtt output %q", r.Stdout)
	}
	return strconv.ParseFloat(m[1], 64)
}

func TestMultiDatacenter(t *testing.T) {
	c := newCluster(t, 100, 139)
	f := startThreeDCs(t, c)
	client := f.clients["dc1"]
	var servers []*agentProc
	for _, dc := range []string{"dc1", "dc2", "dc3"} {
		servers = append(servers, f.servers[dc]...)
	}

	step(t, "one join -wan per datacenter federates all nine servers", func(t *testing.T) {
		for _, dc := range []string{"dc1", "dc2", "dc3"} {
			waitLeader(t, 30*time.Second, f.servers[dc]...)
		}
		start := time.Now()
		f.servers["dc2"][0].mustCLI("join", "-wan", f.servers["dc1"][0].Host)
		f.servers["dc3"][0].mustCLI("join", "-wan", f.servers["dc1"][0].Host)
		waitPool(t, 90*time.Second, true, allAlive(wanNames(servers...)...), servers...)
		t.Logf("nine servers of three datacenters all alive in the WAN pool %s after the joins", time.Since(start).Round(time.Millisecond))
	})

	step(t, "datacenters are ordered by RTT and rtt -wan reports the injected latency", func(t *testing.T) {
		var r12, r13 float64
		waitFor(t, 90*time.Second, "coordinates matching the injected latency", func() error {
			dcs, err := client.API.Catalog().Datacenters()
			if err != nil {
				return err
			}
			if strings.Join(dcs, ",") != "dc1,dc2,dc3" {
				return fmt.Errorf("datacenters = %v", dcs)
			}
			if r12, err = wanRTT(t, client, "dc1-s1.dc1", "dc2-s1.dc2"); err != nil {
				return err
			}
			if r13, err = wanRTT(t, client, "dc1-s1.dc1", "dc3-s1.dc3"); err != nil {
				return err
			}
			// Loose bands: Vivaldi estimates, on a loaded machine.
			if r12 < 12 || r12 > 35 || r13 < 60 || r13 > 110 {
				return fmt.Errorf("rtt dc1-dc2 %.1fms, dc1-dc3 %.1fms", r12, r13)
			}
			return nil
		})
		t.Logf("estimated rtt dc1-dc2 %.1f ms (injected 20), dc1-dc3 %.1f ms (injected 80)", r12, r13)
		// The same order from a dc2 agent: dc2, then dc1 (20ms), then dc3 (100ms).
		waitFor(t, 30*time.Second, "dc2's view", func() error {
			dcs, err := f.clients["dc2"].API.Catalog().Datacenters()
			if err != nil {
				return err
			}
			if strings.Join(dcs, ",") != "dc2,dc1,dc3" {
				return fmt.Errorf("datacenters from dc2 = %v", dcs)
			}
			return nil
		})
	})

	step(t, "catalog and health reads and writes with ?dc=dc3 reach dc3", func(t *testing.T) {
		reg := &api.CatalogRegistration{Datacenter: "dc3", Node: "db-dc3", Address: "10.3.0.1",
			Service: &api.AgentService{ID: "db", Service: "db", Port: 5432},
			Check:   &api.AgentCheck{CheckID: "db-alive", Name: "db", Status: api.HealthPassing, ServiceID: "db"}}
		if _, err := client.API.Catalog().Register(reg, &api.WriteOptions{Datacenter: "dc3"}); err != nil {
			t.Fatalf("register in dc3 via a dc1 client: %v", err)
		}
		svc, meta, err := client.API.Catalog().Service("db", "", &api.QueryOptions{Datacenter: "dc3"})
		if err != nil || len(svc) != 1 || svc[0].Datacenter != "dc3" || meta.LastIndex == 0 {
			t.Fatalf("catalog service db in dc3: %v %+v", err, svc)
		}
		health, _, err := client.API.Health().Service("db", "", true, &api.QueryOptions{Datacenter: "dc3"})
		if err != nil || len(health) != 1 {
			t.Fatalf("health service db in dc3: %v %+v", err, health)
		}
		// Written to dc3's own servers, not to dc1's.
		local, _, err := f.servers["dc3"][1].API.Catalog().Service("db", "", &api.QueryOptions{AllowStale: true})
		if err != nil || len(local) != 1 {
			t.Fatalf("db as dc3 sees it: %v %+v", err, local)
		}
		if mine, _, _ := client.API.Catalog().Service("db", "", nil); len(mine) != 0 {
			t.Fatalf("dc1 has dc3's service: %+v", mine)
		}
	})

	step(t, "a blocking query with ?dc=dc2 wakes on a write made in dc2", func(t *testing.T) {
		_, meta, err := client.API.Catalog().Services(&api.QueryOptions{Datacenter: "dc2"})
		if err != nil {
			t.Fatal(err)
		}
		type res struct {
			svcs map[string][]string
			err  error
		}
		done := make(chan res, 1)
		go func() {
			svcs, _, err := client.API.Catalog().Services(&api.QueryOptions{Datacenter: "dc2", WaitIndex: meta.LastIndex, WaitTime: 60 * time.Second})
			done <- res{svcs, err}
		}()
		reg := &api.CatalogRegistration{Node: "cache-dc2", Address: "10.2.0.9", Service: &api.AgentService{Service: "cache"}}
		if _, err := f.clients["dc2"].API.Catalog().Register(reg, nil); err != nil {
			t.Fatal(err)
		}
		select {
		case r := <-done:
			if r.err != nil || r.svcs["cache"] == nil {
				t.Fatalf("blocking ?dc=dc2 query: %v %v", r.err, r.svcs)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("blocking ?dc=dc2 query did not wake on the dc2 write")
		}
	})

	step(t, "dc2 answers again after its leader is killed", func(t *testing.T) {
		leader := waitLeader(t, 20*time.Second, f.servers["dc2"]...)
		victim := byRPCAddr(t, leader, f.servers["dc2"]...)
		// It comes back below without -join, from its member file.
		var peers []*agentProc
		for _, s := range f.servers["dc2"] {
			if s != victim {
				peers = append(peers, s)
			}
		}
		waitPeersFile(t, victim, false, names(peers...)...)
		victim.Kill()
		start := time.Now()
		waitFor(t, 30*time.Second, "?dc=dc2 answering after the election", func() error {
			_, err := nodesIn(client, "dc2", false)
			return err
		})
		t.Logf("?dc=dc2 answered again %s after its leader was killed", time.Since(start).Round(time.Millisecond))
		victim.Restart()
		waitLeader(t, 30*time.Second, f.servers["dc2"]...)
		// Restarted without -join, the victim rejoins the LAN pool from
		// the members it kept on disk (serf's snapshot of a quiet pool
		// may never have been flushed before the kill), and is a voter
		// again: a server left out of the LAN pool is removed from Raft
		// as failed while it runs.
		var other *agentProc
		for _, s := range f.servers["dc2"] {
			if s != victim {
				other = s
				break
			}
		}
		waitFor(t, 20*time.Second, victim.Name+" alive in dc2's LAN pool and a voter", func() error {
			ms, err := pool(other, false)
			if err != nil {
				return err
			}
			if m := ms[victim.Name]; m == nil || statusName(m.Status) != "alive" {
				return fmt.Errorf("%s sees %s as %v", other.Name, victim.Name, m)
			}
			cfg, err := other.API.Operator().RaftGetConfiguration(nil)
			if err != nil {
				return err
			}
			for _, srv := range cfg.Servers {
				if srv.Node == victim.Name && srv.Voter {
					return nil
				}
			}
			return fmt.Errorf("%s is not a raft voter: %+v", victim.Name, cfg.Servers)
		})
	})

	step(t, "with every dc3 server dead, ?dc=dc3 fails fast while dc1 and dc2 answer; restarted, dc3 answers again", func(t *testing.T) {
		for _, s := range f.servers["dc3"] {
			s.Kill()
		}
		start := time.Now()
		_, err := nodesIn(client, "dc3", false)
		if body := statusBody(err); body != "Remote DC has no server currently reachable" {
			t.Fatalf("?dc=dc3 with dc3 dead: %v, want %q", err, "Remote DC has no server currently reachable")
		}
		t.Logf("?dc=dc3 failed %s after the request, with all dc3 servers dead", time.Since(start).Round(time.Millisecond))
		for _, dc := range []string{"dc1", "dc2"} {
			if _, err := nodesIn(client, dc, false); err != nil {
				t.Fatalf("?dc=%s while dc3 is down: %v", dc, err)
			}
		}
		out := client.mustCLI("operator federation").Stdout
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, "dc3") && !strings.Contains(line, " no ") {
				t.Errorf("operator federation shows dead dc3 as reachable:\n%s", out)
			}
		}
		for _, s := range f.servers["dc3"] {
			s.Restart()
		}
		start = time.Now()
		waitFor(t, 60*time.Second, "dc3 answering again with its data", func() error {
			svc, _, err := client.API.Catalog().Service("db", "", &api.QueryOptions{Datacenter: "dc3"})
			if err != nil {
				return err
			}
			if len(svc) != 1 {
				return fmt.Errorf("dc3 lost db: %+v", svc)
			}
			return nil
		})
		t.Logf("dc3 answered again %s after its servers restarted, with no operator action", time.Since(start).Round(time.Millisecond))
	})

	step(t, "dc1 without quorum still reads dc2 with ?stale", func(t *testing.T) {
		dc1 := f.servers["dc1"]
		dc1[0].Stop(syscall.SIGKILL)
		dc1[1].Stop(syscall.SIGKILL)
		survivor := dc1[2]
		waitFor(t, 30*time.Second, "dc1 without a leader", func() error {
			_, err := nodesIn(survivor, "dc1", false)
			if statusBody(err) == "No cluster leader" {
				return nil
			}
			return fmt.Errorf("dc1 read: %v", err)
		})
		if _, err := nodesIn(survivor, "dc2", true); err != nil {
			t.Fatalf("?dc=dc2&stale from dc1 without quorum: %v", err)
		}
		if _, err := nodesIn(survivor, "dc2", false); err != nil {
			t.Fatalf("?dc=dc2 (default) from dc1 without quorum: %v", err)
		}
	})
}
