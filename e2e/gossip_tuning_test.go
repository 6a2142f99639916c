package e2e

// Figures for issue 14's gossip row, measured and printed, never asserted
// (hosts 560-640). They run only with MERIDIAN_MEASURE=1:
//
//	MERIDIAN_MEASURE=1 go test -count=1 -timeout 60m -run TestMeasureGossipTuning -v ./e2e/
//
// For each gossip setting (memberlist's LAN defaults, given as a gossip_lan
// override, and the agent's own LAN defaults) a pool of 31 real agents
// (3 servers, 28 clients) is started. One client is SIGKILLed and the time
// until the catalog shows its serfHealth check critical is taken through
// the official API client, split by the servers' logs into the gossip part
// (kill until the leader's serf reports the member failed) and the leader
// part (serf event until the catalog shows it). Then, with 30 members
// left, one core is kept busy by spinning goroutines for
// MERIDIAN_GOSSIP_SOAK (default 5m) and the false suspicions are counted
// from the agents' logs: memberlist suspicions of live members, the
// refutations, and serf member-failed events. After the soak more clients
// are killed (MERIDIAN_GOSSIP_KILLS in all, default 5) for the median and
// maximum.

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// memberlistDefaultsHCL gives memberlist's LAN defaults (what Consul runs
// with) explicitly, as an operator would.
const memberlistDefaultsHCL = `gossip_lan {
  gossip_interval = "200ms"
  probe_interval  = "1s"
  probe_timeout   = "500ms"
  suspicion_mult  = 4
}
`

func TestMeasureGossipTuning(t *testing.T) {
	skipUnlessMeasuring(t)
	soak := 5 * time.Minute
	if v := os.Getenv("MERIDIAN_GOSSIP_SOAK"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			t.Fatalf("MERIDIAN_GOSSIP_SOAK=%q: want a duration", v)
		}
		soak = d
	}
	kills := 5
	if v := os.Getenv("MERIDIAN_GOSSIP_KILLS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 20 {
			t.Fatalf("MERIDIAN_GOSSIP_KILLS=%q: want 1 to 20", v)
		}
		kills = n
	}
	variants := []struct {
		name        string
		hcl         string
		first, last int
	}{
		{"memberlist-defaults", memberlistDefaultsHCL, 560, 599},
		{"tuned", "", 600, 640},
	}
	only := os.Getenv("MERIDIAN_GOSSIP_VARIANT")
	for _, v := range variants {
		if only != "" && only != v.name {
			continue
		}
		t.Run(v.name, func(t *testing.T) {
			measureGossipVariant(t, v.hcl, v.first, v.last, kills, soak)
		})
	}
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func measureGossipVariant(t *testing.T, hcl string, first, last, kills int, soak time.Duration) {
	c := newCluster(t, first, last)
	var servers []*agentProc
	for i := range 3 {
		servers = append(servers, c.start(agentOpts{
			Name: fmt.Sprintf("s%d", i+1), Server: true, BootstrapExpect: 3,
			DefaultTimings: true, HCL: hcl, NoWait: true,
		}))
	}
	for _, s := range servers {
		s.waitReady()
	}
	join := []string{servers[0].LANAddr, servers[1].LANAddr, servers[2].LANAddr}
	var clients []*agentProc
	for i := range 28 {
		clients = append(clients, c.start(agentOpts{
			Name: fmt.Sprintf("c%02d", i+1), Join: join,
			DefaultTimings: true, HCL: hcl, NoWait: true,
		}))
	}
	all := append(append([]*agentProc(nil), servers...), clients...)
	for _, a := range clients {
		a.waitReady()
	}
	waitLeader(t, 2*time.Minute, servers...)
	// Every node in the catalog with serfHealth passing.
	waitFor(t, 3*time.Minute, "31 nodes passing in the catalog", func() error {
		checks, _, err := servers[0].API.Health().State("passing", nil)
		if err != nil {
			return err
		}
		n := 0
		for _, ch := range checks {
			if ch.CheckID == "serfHealth" {
				n++
			}
		}
		if n != len(all) {
			return fmt.Errorf("%d of %d serfHealth checks passing", n, len(all))
		}
		return nil
	})

	var took []time.Duration
	kill := func(victim *agentProc) {
		t.Helper()
		start := time.Now()
		victim.Kill()
		var seen time.Duration
		waitFor(t, 2*time.Minute, victim.Name+" serfHealth critical", func() error {
			checks, _, err := servers[0].API.Health().Node(victim.Name, nil)
			if err != nil {
				return err
			}
			for _, ch := range checks {
				if ch.CheckID == "serfHealth" && ch.Status == "critical" {
					seen = time.Since(start)
					return nil
				}
			}
			return fmt.Errorf("serfHealth not critical")
		})
		took = append(took, seen)
		// Split: when the leader's serf reported the member failed.
		leader, err := leaderOf(servers[0])
		if err != nil {
			t.Fatalf("leader: %v", err)
		}
		var gossipPart string
		for _, s := range servers {
			if s.Host+":"+strconv.Itoa(s.Ports.Server) != leader {
				continue
			}
			if at, ok := logTimeOf(s.Log(), "EventMemberFailed: "+victim.Name+" "); ok {
				gp := at.Sub(start)
				gossipPart = fmt.Sprintf("gossip %s + leader/catalog %s", gp.Round(time.Millisecond), (seen - gp).Round(time.Millisecond))
			}
		}
		t.Logf("SIGKILL %s: catalog critical after %s (%s), load %s", victim.Name, seen.Round(time.Millisecond), gossipPart, loadAvg())
	}

	kill(clients[0])

	if soak > 0 {
		alive := all[:0:0]
		for _, a := range all {
			if a != clients[0] {
				alive = append(alive, a)
			}
		}
		// Every live member must know the victim failed before the
		// count starts, so that late news of it is not counted.
		waitFor(t, 2*time.Minute, "every member sees "+clients[0].Name+" failed", func() error {
			for _, a := range alive {
				ms, err := a.API.Agent().Members(false)
				if err != nil {
					return err
				}
				for _, m := range ms {
					if m.Name == clients[0].Name && statusName(m.Status) != "failed" {
						return fmt.Errorf("%s sees %s %s", a.Name, m.Name, statusName(m.Status))
					}
				}
			}
			return nil
		})
		offsets := make([]int, len(alive))
		for i, a := range alive {
			offsets[i] = len(a.Log())
		}
		loadBefore := loadAvg()
		ctx, cancel := context.WithTimeout(context.Background(), soak)
		var wg sync.WaitGroup
		// One core busy: with GOMAXPROCS at least 2, one spinning
		// goroutine holds one CPU until the soak ends.
		for range max(1, runtime.NumCPU()/2) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				x := 0
				for ctx.Err() == nil {
					for i := range 1_000_000 {
						x += i
					}
				}
				_ = x
			}()
		}
		<-ctx.Done()
		cancel()
		wg.Wait()
		var suspect, refute, failed, dead int
		flapped := map[string]int{}
		// memberOf returns the member name following marker in line.
		memberOf := func(line, marker string) (string, bool) {
			_, rest, ok := strings.Cut(line, marker)
			if !ok {
				return "", false
			}
			f := strings.Fields(rest)
			if len(f) == 0 || f[0] == clients[0].Name {
				return "", false
			}
			return f[0], true
		}
		for i, a := range alive {
			for _, line := range strings.Split(a.Log()[offsets[i]:], "\n") {
				if _, ok := memberOf(line, "memberlist: Suspect "); ok {
					suspect++
				}
				if strings.Contains(line, "Refuting a suspect message") {
					refute++
				}
				if _, ok := memberOf(line, "memberlist: Marking "); ok && strings.Contains(line, "suspect timeout reached") {
					dead++
				}
				if m, ok := memberOf(line, "EventMemberFailed: "); ok {
					failed++
					flapped[m]++
				}
			}
		}
		t.Logf("soak %s with one core busy, %d members: %d suspicions, %d refutations, %d declared dead by suspect timeout, %d serf member-failed events of live members (by member: %v); load %s before, %s after",
			soak, len(alive), suspect, refute, dead, failed, flapped, loadBefore, loadAvg())
	}

	for i := 1; i < kills && i < len(clients); i++ {
		kill(clients[i])
	}
	t.Logf("SIGKILLed client to catalog critical: %s; load %s", summary(took), loadAvg())
}

// logTimeOf returns the timestamp of the first log line containing s.
func logTimeOf(log, s string) (time.Time, bool) {
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, s) {
			continue
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			return time.Time{}, false
		}
		at, err := time.Parse("2006-01-02T15:04:05.000Z0700", f[0])
		return at, err == nil
	}
	return time.Time{}, false
}
