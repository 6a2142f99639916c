package e2e

// Issue 11 shown with real processes: prepared queries failing over across
// three datacenters with injected WAN latency (dc1-dc2 about 80ms, dc1-dc3
// about 20ms: the nearest datacenter is not the first by name), Consul's
// policy and Meridian's sticky one. dc1 has three servers (its leader is killed in one scenario), dc2
// and dc3 one each. The instances of the queried services are catalog
// registrations whose checks the test turns critical and passing.

import (
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/miekg/dns"
)

// queryDelay is the relay delay of each remote datacenter.
var queryDelay = map[string]time.Duration{"dc2": 80 * time.Millisecond, "dc3": 20 * time.Millisecond}

// queryRelayHost is the relay standing for host x of this file: hosts
// 258-299 use relays 127.1.n.58-99, which no other file uses.
func queryRelayHost(x int) string { return relayHost(x - 200) }

type queryDCs struct {
	dc1     []*agentProc
	dc2     *agentProc
	dc3     *agentProc
	servers []*agentProc
}

func startQueryDCs(t *testing.T, c *cluster) *queryDCs {
	t.Helper()
	f := &queryDCs{}
	x := c.first
	for i := 1; i <= 3; i++ {
		o := agentOpts{Name: fmt.Sprintf("q1-s%d", i), DC: "dc1", Server: true, BootstrapExpect: 3}
		if i == 1 {
			o.Args = []string{"-dns-port=8600"}
		} else {
			o.Join = []string{f.dc1[0].LANAddr}
		}
		f.dc1 = append(f.dc1, c.startOn(host(x), o))
		x++
	}
	for _, dc := range []string{"dc2", "dc3"} {
		h := host(x)
		startRelay(t, queryRelayHost(x), h, queryDelay[dc], []int{portServer, portSerfWAN}, []int{portSerfWAN})
		a := c.startOn(h, agentOpts{Name: "q-" + dc, DC: dc, Server: true, Bootstrap: true,
			Args: []string{"-advertise-wan=" + queryRelayHost(x)}})
		if dc == "dc2" {
			f.dc2 = a
		} else {
			f.dc3 = a
		}
		x++
	}
	f.servers = append(append([]*agentProc{}, f.dc1...), f.dc2, f.dc3)
	return f
}

// setInstance registers (or re-registers) an instance of svc on node in
// dc through a, with its one check in status.
func setInstance(t *testing.T, a *agentProc, dc, svc, node, status string) {
	t.Helper()
	reg := &api.CatalogRegistration{Datacenter: dc, Node: node, Address: "10.0.0." + strconv.Itoa(len(node)),
		Service: &api.AgentService{ID: svc, Service: svc, Port: 5432},
		Check:   &api.AgentCheck{Node: node, CheckID: svc + "-alive", Name: svc, Status: status, ServiceID: svc}}
	if _, err := a.API.Catalog().Register(reg, &api.WriteOptions{Datacenter: dc}); err != nil {
		t.Fatalf("register %s on %s in %s: %v", svc, node, dc, err)
	}
}

// answeredBy executes a query through a and returns the datacenter that
// answered, with the answer.
func answeredBy(a *agentProc, name string) (string, *api.PreparedQueryExecuteResponse, error) {
	out, _, err := a.API.PreparedQuery().Execute(name, nil)
	if err != nil {
		return "", nil, err
	}
	if len(out.Nodes) == 0 {
		return "", out, fmt.Errorf("query %s: no instances (datacenter %s, %d failovers)", name, out.Datacenter, out.Failovers)
	}
	return out.Datacenter, out, nil
}

func waitAnswer(t *testing.T, a *agentProc, name, dc string, failovers int) {
	t.Helper()
	waitFor(t, 20*time.Second, fmt.Sprintf("query %s answered by %s", name, dc), func() error {
		got, out, err := answeredBy(a, name)
		if err != nil {
			return err
		}
		if got != dc || out.Failovers != failovers {
			return fmt.Errorf("answered by %s after %d failovers", got, out.Failovers)
		}
		return nil
	})
}

// waitSRV waits until the dc1 server's DNS answers name with exactly the
// SRV target want (DNS reads are stale by default: a follower may lag the
// write by a moment).
func waitSRV(t *testing.T, a *agentProc, name, want string) {
	t.Helper()
	waitFor(t, 10*time.Second, "SRV "+name+" -> "+want, func() error {
		got, _, err := srvTargets(a, name)
		if err != nil {
			return err
		}
		if strings.Join(got, ",") != want {
			return fmt.Errorf("SRV %s = %v", name, got)
		}
		return nil
	})
}

// srvTargets asks the dc1 server's DNS for name's SRV records.
func srvTargets(a *agentProc, name string) ([]string, uint32, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeSRV)
	c := &dns.Client{Net: "tcp", Timeout: 5 * time.Second}
	resp, _, err := c.Exchange(m, net.JoinHostPort(a.Host, "8600"))
	if err != nil {
		return nil, 0, err
	}
	var out []string
	var ttl uint32
	for _, rr := range resp.Answer {
		if srv, ok := rr.(*dns.SRV); ok {
			out = append(out, srv.Target)
			ttl = srv.Hdr.Ttl
		}
	}
	sort.Strings(out)
	return out, ttl, nil
}

type failoverStatusJSON struct {
	Active     bool
	Datacenter string
	Reason     string
}

func failoverStatusOf(t *testing.T, a *agentProc, name string) failoverStatusJSON {
	t.Helper()
	var st failoverStatusJSON
	if _, err := a.API.Raw().Query("/v1/query/"+name+"/failover", &st, nil); err != nil {
		t.Fatalf("failover status of %s: %v", name, err)
	}
	return st
}

// switchLines counts the leader log lines of query switches.
func switchLines(servers []*agentProc, what, query string) int {
	n := 0
	for _, s := range servers {
		n += strings.Count(s.Log(), "prepared query "+what+": query="+query+" ")
	}
	return n
}

func TestPreparedQueryFailoverE2E(t *testing.T) {
	c := newCluster(t, 258, 299)
	f := startQueryDCs(t, c)
	q1 := f.dc1[0]

	step(t, "three datacenters federated, ordered by the injected latency", func(t *testing.T) {
		waitLeader(t, 30*time.Second, f.dc1...)
		f.dc2.mustCLI("join", "-wan", q1.Host)
		f.dc3.mustCLI("join", "-wan", q1.Host)
		waitPool(t, 60*time.Second, true, allAlive(wanNames(f.servers...)...), f.servers...)
		waitFor(t, 60*time.Second, "datacenters by RTT from dc1", func() error {
			dcs, err := q1.API.Catalog().Datacenters()
			if err != nil {
				return err
			}
			if strings.Join(dcs, ",") != "dc1,dc3,dc2" {
				return fmt.Errorf("datacenters = %v", dcs)
			}
			return nil
		})
	})

	step(t, "Consul's semantics: nearest DC, then the next, then dc1 again at once", func(t *testing.T) {
		for _, in := range []struct{ dc, node string }{{"dc1", "db1"}, {"dc2", "db2"}, {"dc3", "db3"}} {
			setInstance(t, q1, in.dc, "db", in.node, api.HealthPassing)
		}
		if _, _, err := q1.API.PreparedQuery().Create(&api.PreparedQueryDefinition{Name: "db",
			Service: api.ServiceQuery{Service: "db", Failover: api.QueryFailoverOptions{NearestN: 2}}}, nil); err != nil {
			t.Fatal(err)
		}
		waitAnswer(t, q1, "db", "dc1", 0)
		setInstance(t, q1, "dc1", "db", "db1", api.HealthCritical)
		waitAnswer(t, q1, "db", "dc3", 1)
		waitSRV(t, q1, "db.query.consul", "db3.node.dc3.consul.")
		setInstance(t, q1, "dc3", "db", "db3", api.HealthCritical)
		waitAnswer(t, q1, "db", "dc2", 2)
		waitSRV(t, q1, "db.query.consul", "db2.node.dc2.consul.")
		setInstance(t, q1, "dc1", "db", "db1", api.HealthPassing)
		// At once: the very next execution after the write.
		if dc, out, err := answeredBy(q1, "db"); err != nil || dc != "dc1" || out.Failovers != 0 {
			t.Fatalf("right after dc1 recovered: %s %v", dc, err)
		}
		waitSRV(t, q1, "db.query.consul", "db1.node.dc1.consul.")
	})

	// Each sticky scenario has its own service, two instances in dc1 and
	// one in dc2 and dc3.
	sticky := func(t *testing.T, svc string, mode, after string) {
		t.Helper()
		setInstance(t, q1, "dc1", svc, svc+"-1a", api.HealthPassing)
		setInstance(t, q1, "dc1", svc, svc+"-1b", api.HealthPassing)
		setInstance(t, q1, "dc2", svc, svc+"-2", api.HealthPassing)
		setInstance(t, q1, "dc3", svc, svc+"-3", api.HealthPassing)
		args := []string{"-name=" + svc, "-service=" + svc, "-nearest-n=2", "-min-passing=2"}
		if after != "" {
			args = append(args, "-failback-after="+after)
		}
		if mode != "" {
			args = append(args, "-failback-mode="+mode)
		}
		q1.mustCLI("query create", args...)
		waitAnswer(t, q1, svc, "dc1", 0)
	}
	const failbackAfter = 2 * time.Second

	step(t, "sticky: one of two dc1 instances failing fails over, return only after FailbackAfter", func(t *testing.T) {
		sticky(t, "st", "", failbackAfter.String())
		before := switchLines(f.dc1, "failed over", "st")
		setInstance(t, q1, "dc1", "st", "st-1b", api.HealthCritical)
		waitAnswer(t, q1, "st", "dc3", 1)
		waitFor(t, 10*time.Second, "the leader's failover state", func() error {
			if st := failoverStatusOf(t, q1, "st"); !st.Active || st.Datacenter != "dc3" {
				return fmt.Errorf("status %+v", st)
			}
			return nil
		})
		setInstance(t, q1, "dc1", "st", "st-1b", api.HealthPassing)
		recovered := time.Now()
		var back time.Duration
		waitFor(t, 20*time.Second, "the failback", func() error {
			dc, _, err := answeredBy(q1, "st")
			if err != nil {
				return err
			}
			if dc != "dc1" {
				return fmt.Errorf("answered by %s", dc)
			}
			back = time.Since(recovered)
			return nil
		})
		if back < failbackAfter {
			t.Fatalf("back on dc1 %s after recovery, before FailbackAfter %s", back, failbackAfter)
		}
		if n := switchLines(f.dc1, "failed over", "st") - before; n != 1 {
			t.Fatalf("%d log lines for one failover", n)
		}
		t.Logf("back on dc1 %s after recovery (FailbackAfter %s)", back.Round(time.Millisecond), failbackAfter)
	})

	step(t, "sticky: an instance flapping every second for ten seconds moves the answers at most twice", func(t *testing.T) {
		sticky(t, "fl", "", failbackAfter.String())
		stop := make(chan struct{})
		flapped := make(chan error, 1)
		go func() {
			status := api.HealthCritical
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			for i := 0; i < 10; i++ {
				reg := &api.CatalogRegistration{Node: "fl-1b", Address: "10.0.0.5",
					Service: &api.AgentService{ID: "fl", Service: "fl", Port: 5432},
					Check:   &api.AgentCheck{Node: "fl-1b", CheckID: "fl-alive", Name: "fl", Status: status, ServiceID: "fl"}}
				if _, err := q1.API.Catalog().Register(reg, nil); err != nil {
					flapped <- err
					return
				}
				if status == api.HealthCritical {
					status = api.HealthPassing
				} else {
					status = api.HealthCritical
				}
				select {
				case <-stop:
					flapped <- nil
					return
				case <-tick.C:
				}
			}
			flapped <- nil
		}()
		defer close(stop)
		var seq []string
		last := ""
		deadline := time.Now().Add(25 * time.Second)
		flapDone := false
		for time.Now().Before(deadline) {
			dc, _, err := answeredBy(q1, "fl")
			if err != nil {
				t.Fatal(err)
			}
			if dc != last {
				seq = append(seq, dc)
				last = dc
			}
			if !flapDone {
				select {
				case err := <-flapped:
					if err != nil {
						t.Fatal(err)
					}
					flapDone = true
				default:
				}
			}
			// The flapping ended on passing (ten writes from critical):
			// done once the answers are back on dc1.
			if flapDone && dc == "dc1" {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if !flapDone || last != "dc1" {
			t.Fatalf("did not settle back on dc1: answers went %v", seq)
		}
		if changes := len(seq) - 1; changes > 2 {
			t.Fatalf("answers moved %d times while one instance flapped: %v", changes, seq)
		}
		t.Logf("answers went %v while one of two instances flapped for 10s", seq)
	})

	step(t, "sticky: the dc1 leader killed while failed over keeps the state", func(t *testing.T) {
		sticky(t, "ld", "", failbackAfter.String())
		setInstance(t, q1, "dc1", "ld", "ld-1b", api.HealthCritical)
		waitFor(t, 10*time.Second, "the failover state", func() error {
			if st := failoverStatusOf(t, q1, "ld"); !st.Active {
				return fmt.Errorf("status %+v", st)
			}
			return nil
		})
		old, err := leaderOf(q1)
		if err != nil {
			t.Fatal(err)
		}
		leader := byRPCAddr(t, old, f.dc1...)
		var rest []*agentProc
		for _, s := range f.dc1 {
			if s != leader {
				rest = append(rest, s)
			}
		}
		leader.Signal(syscall.SIGKILL)
		leader.WaitExit(stopTimeout)
		waitLeaderNot(t, 30*time.Second, old, rest...)
		asker := rest[0]
		if st := failoverStatusOf(t, asker, "ld"); !st.Active || st.Datacenter != "dc3" {
			t.Fatalf("after the leader change: %+v", st)
		}
		// Recovery: the new leader fails back, after FailbackAfter.
		setInstance(t, asker, "dc1", "ld", "ld-1b", api.HealthPassing)
		if dc, _, err := answeredBy(asker, "ld"); err != nil || dc != "dc3" {
			t.Fatalf("right after recovery under the new leader: %s %v", dc, err)
		}
		waitAnswer(t, asker, "ld", "dc1", 0)
		leader.Restart()
		if leader == q1 {
			q1 = rest[0]
		}
	})

	step(t, "sticky, manual: back only on failback", func(t *testing.T) {
		sticky(t, "mn", "manual", "")
		setInstance(t, q1, "dc1", "mn", "mn-1b", api.HealthCritical)
		waitFor(t, 10*time.Second, "the failover state", func() error {
			if st := failoverStatusOf(t, q1, "mn"); !st.Active {
				return fmt.Errorf("status %+v", st)
			}
			return nil
		})
		if r := q1.CLI("query failback", "mn"); r.Code != 1 || !strings.Contains(r.Stderr, "Cannot fail back") {
			t.Fatalf("failback while dc1 is short: %s", r)
		}
		setInstance(t, q1, "dc1", "mn", "mn-1b", api.HealthPassing)
		// Well past what an auto failback would take, still on dc3.
		end := time.Now().Add(2 * failbackAfter)
		for time.Now().Before(end) {
			if dc, _, err := answeredBy(q1, "mn"); err != nil || dc != "dc3" {
				t.Fatalf("manual mode, dc1 healthy: answered by %s %v", dc, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
		r := q1.mustCLI("query failback", "mn")
		if !strings.Contains(r.Stdout, "answers from dc1 again (it answered from dc3)") {
			t.Fatalf("failback: %s", r)
		}
		if dc, _, err := answeredBy(q1, "mn"); err != nil || dc != "dc1" {
			t.Fatalf("after failback: %s %v", dc, err)
		}
	})

	step(t, "figures (MERIDIAN_MEASURE=1): execute latency local and failed over, time to fail over", func(t *testing.T) {
		if os.Getenv("MERIDIAN_MEASURE") == "" {
			t.Skip("set MERIDIAN_MEASURE=1 for the figures")
		}
		measureQueryFailover(t, q1)
	})
}

// measureQueryFailover logs execute latencies (p50, p99) answered in dc1
// and failed over to dc3 (20ms away), and the time from the write that
// makes the last dc1 instance critical to the first answer from dc3.
func measureQueryFailover(t *testing.T, a *agentProc) {
	setInstance(t, a, "dc1", "ms", "ms-1", api.HealthPassing)
	setInstance(t, a, "dc3", "ms", "ms-3", api.HealthPassing)
	if _, _, err := a.API.PreparedQuery().Create(&api.PreparedQueryDefinition{Name: "ms",
		Service: api.ServiceQuery{Service: "ms", Failover: api.QueryFailoverOptions{NearestN: 1}}}, nil); err != nil {
		t.Fatal(err)
	}
	lat := func(wantDC string) (time.Duration, time.Duration) {
		var d []time.Duration
		for i := 0; i < 300; i++ {
			start := time.Now()
			dc, _, err := answeredBy(a, "ms")
			if err != nil || dc != wantDC {
				t.Fatalf("execute: %s %v", dc, err)
			}
			d = append(d, time.Since(start))
		}
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		return d[len(d)/2], d[len(d)*99/100]
	}
	p50, p99 := lat("dc1")
	t.Logf("FIGURE execute answered in dc1: p50 %s p99 %s (300 executions)", p50.Round(10*time.Microsecond), p99.Round(10*time.Microsecond))
	var switches []time.Duration
	for i := 0; i < 5; i++ {
		setInstance(t, a, "dc1", "ms", "ms-1", api.HealthPassing)
		waitAnswer(t, a, "ms", "dc1", 0)
		start := time.Now()
		setInstance(t, a, "dc1", "ms", "ms-1", api.HealthCritical)
		for {
			dc, _, err := answeredBy(a, "ms")
			if err != nil {
				t.Fatal(err)
			}
			if dc == "dc3" {
				break
			}
			if time.Since(start) > 20*time.Second {
				t.Fatal("no failover within 20s")
			}
		}
		switches = append(switches, time.Since(start))
	}
	sort.Slice(switches, func(i, j int) bool { return switches[i] < switches[j] })
	p50, p99 = lat("dc3")
	t.Logf("FIGURE execute failed over to dc3 (20ms away): p50 %s p99 %s (300 executions)", p50.Round(10*time.Microsecond), p99.Round(10*time.Microsecond))
	t.Logf("FIGURE last dc1 instance critical (write acknowledged) to first answer from dc3: median %s, max %s of 5 (includes the write's own round trip)",
		switches[2].Round(10*time.Microsecond), switches[4].Round(10*time.Microsecond))
}
