package e2e

// Issue 2 shown with real processes: two datacenters of three servers and
// a client each, LAN and WAN pools, the members/join/force-leave verbs,
// failures, restarts from the data dir, and the signals.

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

// gossipTimeout bounds a gossip convergence: with 200ms probes a change
// spreads in well under a second; the slack is for a loaded machine.
const gossipTimeout = 20 * time.Second

// twoDCs is the federation the subtests share.
type twoDCs struct {
	dc1, dc2           []*agentProc // servers
	client1, client2   *agentProc
	all1, all2         []*agentProc // servers and client
	allServers         []*agentProc
	lanWant1, lanWant2 map[string]string
}

// startTwoDCs starts dc1 (hosts 20-23) and dc2 (hosts 24-27), each three
// servers with -bootstrap-expect 3 and a client, joined in their LAN pools
// but not yet over the WAN.
func startTwoDCs(t *testing.T, c *cluster) *twoDCs {
	t.Helper()
	f := &twoDCs{}
	for _, dc := range []string{"dc1", "dc2"} {
		var servers []*agentProc
		for i := 1; i <= 3; i++ {
			o := agentOpts{Name: dc + "-s" + string(rune('0'+i)), DC: dc, Server: true, BootstrapExpect: 3}
			if i > 1 {
				o.Join = []string{servers[0].LANAddr}
			}
			servers = append(servers, c.start(o))
		}
		// leave_on_terminate = false lets a test stop the client with
		// SIGTERM and restart it from its snapshot; SIGINT still leaves.
		client := c.start(agentOpts{Name: dc + "-c1", DC: dc, Join: []string{servers[0].LANAddr}, HCL: "leave_on_terminate = false\n"})
		all := append(append([]*agentProc(nil), servers...), client)
		want := allAlive(names(all...)...)
		if dc == "dc1" {
			f.dc1, f.client1, f.all1, f.lanWant1 = servers, client, all, want
		} else {
			f.dc2, f.client2, f.all2, f.lanWant2 = servers, client, all, want
		}
	}
	f.allServers = append(append([]*agentProc(nil), f.dc1...), f.dc2...)
	return f
}

func TestFederation(t *testing.T) {
	c := newCluster(t, 20, 49)
	f := startTwoDCs(t, c)

	step(t, "members lists the LAN pool with roles", func(t *testing.T) {
		waitPool(t, gossipTimeout, false, f.lanWant1, f.all1...)
		waitPool(t, gossipTimeout, false, f.lanWant2, f.all2...)
		for _, a := range []*agentProc{f.dc1[1], f.client2} {
			rows := parseTable(t, a.mustCLI("members").Stdout)
			if len(rows) != 4 {
				t.Fatalf("members on %s: %d rows, want 4:\n%v", a.Name, len(rows), rows)
			}
			for _, r := range rows {
				wantType := "server"
				if strings.HasSuffix(r["Node"], "-c1") {
					wantType = "client"
				}
				if r["Type"] != wantType || r["Status"] != "alive" || r["DC"] != a.DC {
					t.Errorf("members on %s: row %v, want Type %s, Status alive, DC %s", a.Name, r, wantType, a.DC)
				}
				if !strings.HasPrefix(r["Node"], a.DC+"-") {
					t.Errorf("members on %s lists %s of another datacenter", a.Name, r["Node"])
				}
			}
		}
		// -detailed shows the tags; -status filters.
		out := f.dc1[0].mustCLI("members", "-detailed").Stdout
		if !strings.Contains(out, "role=consul") || !strings.Contains(out, "role=node") || !strings.Contains(out, "dc=dc1") {
			t.Errorf("members -detailed lacks role or dc tags:\n%s", out)
		}
		if r := f.dc1[0].CLI("members", "-status=failed"); r.Code != 2 || r.Stdout != "" {
			t.Errorf("members -status=failed with nobody failed: want exit 2 and no output, got %s", r)
		}
	})

	step(t, "join -wan once federates every server", func(t *testing.T) {
		start := time.Now()
		// No port: the WAN default, 8302.
		r := f.dc1[0].mustCLI("join", "-wan", f.dc2[0].Host)
		if !strings.Contains(r.Stdout, "Successfully joined cluster by contacting 1 nodes") {
			t.Errorf("join -wan output: %q", r.Stdout)
		}
		waitPool(t, gossipTimeout, true, allAlive(wanNames(f.allServers...)...), f.allServers...)
		t.Logf("every server saw all %d WAN members alive %s after join -wan", len(f.allServers), time.Since(start).Round(time.Millisecond))

		// The CLI shows node.dc names and each member's datacenter.
		rows := parseTable(t, f.dc2[2].mustCLI("members", "-wan").Stdout)
		if len(rows) != 6 {
			t.Fatalf("members -wan: %d rows, want 6:\n%v", len(rows), rows)
		}
		for _, r := range rows {
			_, dc, ok := strings.Cut(r["Node"], ".")
			if !ok || r["DC"] != dc || r["Status"] != "alive" || r["Type"] != "server" {
				t.Errorf("members -wan row %v: want Node node.dc, matching DC, alive server", r)
			}
		}
		// Clients are not in the WAN pool; the LAN pools stay apart.
		if err := poolIs(f.dc1[0], false, f.lanWant1); err != nil {
			t.Error(err)
		}
	})

	step(t, "a killed server shows as failed in both pools", func(t *testing.T) {
		victim := f.dc2[2]
		// It comes back below without -join, from its member files.
		waitPeersFile(t, victim, false, names(f.dc2[0], f.dc2[1])...)
		waitPeersFile(t, victim, true, wanNames(f.dc1...)...)
		victim.Kill()
		lan := allAlive(names(f.all2...)...)
		lan[victim.Name] = "failed"
		waitPool(t, gossipTimeout, false, lan, f.dc2[0], f.dc2[1], f.client2)
		wan := allAlive(wanNames(f.allServers...)...)
		wan[wanName(victim)] = "failed"
		waitPool(t, gossipTimeout, true, wan, f.dc1[0], f.dc1[1], f.dc2[0])
		rows := parseTable(t, f.dc1[1].mustCLI("members", "-wan", "-status=failed").Stdout)
		if len(rows) != 1 || rows[0]["Node"] != wanName(victim) {
			t.Errorf("members -wan -status=failed: %v, want only %s", rows, wanName(victim))
		}

		// Back without -join: serf may not have flushed its snapshot
		// before the kill, but the pools' member files bring it back
		// into both pools (gossip/peers.go).
		victim.Restart()
		waitPool(t, gossipTimeout, false, f.lanWant2, f.all2...)
		waitPool(t, gossipTimeout, true, allAlive(wanNames(f.allServers...)...), f.allServers...)
	})

	step(t, "restarted agents rejoin from their data dir", func(t *testing.T) {
		// A server stopped with SIGTERM does not leave; restarted without
		// -join, its LAN and WAN snapshots bring it back into both pools.
		// The client was started with leave_on_terminate = false so that
		// SIGTERM stops it without leaving either. One at a time: an agent
		// whose first contact after a restart is another freshly restarted
		// agent can stay failed in the others' eyes until the next
		// push/pull (memberlist trusts the dead record's higher
		// incarnation over the restarted agent's alive one).
		for _, a := range []*agentProc{f.dc2[1], f.client2} {
			a.Stop(syscall.SIGTERM)
			lan := allAlive(names(f.all2...)...)
			lan[a.Name] = "failed"
			waitPool(t, gossipTimeout, false, lan, f.dc2[0], f.dc2[2])
			a.Restart()
			waitPool(t, gossipTimeout, false, f.lanWant2, f.all2...)
			if !strings.Contains(a.LastLog(), "Re-joined to previously known node") {
				t.Errorf("%s did not rejoin from its snapshot", a.Name)
			}
		}
		waitPool(t, gossipTimeout, true, allAlive(wanNames(f.allServers...)...), f.allServers...)
	})

	step(t, "SIGINT on a client leaves", func(t *testing.T) {
		if code := f.client1.Stop(syscall.SIGINT); code != 0 {
			t.Errorf("client exit code after SIGINT: %d, want 0", code)
		}
		lan := allAlive(names(f.all1...)...)
		lan[f.client1.Name] = "left"
		waitPool(t, gossipTimeout, false, lan, f.dc1...)
	})

	step(t, "SIGTERM on a server does not leave", func(t *testing.T) {
		victim := f.dc1[2]
		victim.Stop(syscall.SIGTERM)
		lan := allAlive(names(f.dc1...)...)
		lan[f.client1.Name] = "left"
		lan[victim.Name] = "failed"
		waitPool(t, gossipTimeout, false, lan, f.dc1[0], f.dc1[1])
		wan := allAlive(wanNames(f.allServers...)...)
		wan[wanName(victim)] = "failed"
		waitPool(t, gossipTimeout, true, wan, f.dc1[0], f.dc2[1])
		if !strings.Contains(victim.Log(), "Caught signal: terminated") {
			t.Errorf("the server's log does not show SIGTERM")
		}
	})

	step(t, "force-leave -prune removes a failed member", func(t *testing.T) {
		victim := f.dc1[2] // failed since the SIGTERM above
		r := f.dc1[0].mustCLI("force-leave", "-prune", victim.Name)
		if strings.TrimSpace(r.Stderr) != "" {
			t.Errorf("force-leave wrote to stderr: %q", r.Stderr)
		}
		lan := allAlive(names(f.dc1[:2]...)...)
		lan[f.client1.Name] = "left"
		waitPool(t, gossipTimeout, false, lan, f.dc1[0], f.dc1[1])
		// Pruning a server's LAN member prunes its WAN member too.
		wan := allAlive(wanNames(f.dc1[0], f.dc1[1])...)
		for k, v := range allAlive(wanNames(f.dc2...)...) {
			wan[k] = v
		}
		waitPool(t, gossipTimeout, true, wan, f.dc1[0], f.dc2[0])
		// A name nobody has is an error, not a silent success.
		if r := f.dc1[0].CLI("force-leave", "no-such-node"); r.Code == 0 || oneSentence(r.Stderr) != nil {
			t.Errorf("force-leave of an unknown node: want one-sentence error and non-zero exit, got %s", r)
		}
	})
}
