package e2e

// Figures for the closing notes of issue 2, measured and printed, never
// asserted (hosts 200-219). They run only with MERIDIAN_MEASURE=1:
//
//	MERIDIAN_MEASURE=1 go test -count=1 -run TestMeasure -v ./e2e/
//
// Measured: the time from process start to the HTTP API answering, for a
// client and a server; the resident memory of idle clients and servers; and
// the time from `join -wan` until every server of a two-datacenter
// federation of three servers each shows all six WAN members alive, both
// with the suite's fast gossip timings and with the defaults.

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/cli"

	"github.com/meridian-sd/meridian/command"
)

func skipUnlessMeasuring(t *testing.T) {
	t.Helper()
	if os.Getenv("MERIDIAN_MEASURE") != "1" {
		t.Skip("figures are measured only with MERIDIAN_MEASURE=1")
	}
}

// rssKB reads VmRSS of a process from /proc, in KiB.
func rssKB(pid int) (int, error) {
	return procStatusKB(pid, "VmRSS")
}

// procStatusKB reads one of the memory fields of /proc/<pid>/status
// (VmRSS, RssAnon, RssFile), in KiB.
func procStatusKB(pid int, field string) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				break
			}
			return strconv.Atoi(f[0])
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// clockTicks is the kernel's USER_HZ, the unit of /proc's CPU times (100
// on every Linux this runs on).
const clockTicks = 100

// cpuTicks is the CPU time (user + system, in clock ticks) the agents'
// processes have used.
func cpuTicks(as ...*agentProc) (uint64, error) {
	var sum uint64
	for _, a := range as {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", a.Pid()))
		if err != nil {
			return 0, err
		}
		// Fields after the command name, which is in parentheses and
		// may hold spaces: utime and stime are the 12th and 13th.
		i := strings.LastIndexByte(string(b), ')')
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 13 {
			return 0, fmt.Errorf("short /proc/%d/stat", a.Pid())
		}
		for _, s := range f[11:13] {
			n, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/%d/stat: %w", a.Pid(), err)
			}
			sum += n
		}
	}
	return sum, nil
}

// machineTicks is the CPU time every core of the machine has spent busy
// (user, nice, system, irq, softirq), in clock ticks.
func machineTicks() (uint64, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, fmt.Errorf("unexpected /proc/stat: %q", line)
	}
	var sum uint64
	for _, i := range []int{1, 2, 3, 6, 7} {
		n, err := strconv.ParseUint(f[i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat: %w", err)
		}
		sum += n
	}
	return sum, nil
}

// summary renders min, median and max of ds.
func summary(ds []time.Duration) string {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	r := func(d time.Duration) string { return d.Round(100 * time.Microsecond).String() }
	return fmt.Sprintf("min %s, median %s, max %s (n=%d)", r(s[0]), r(s[len(s)/2]), r(s[len(s)-1]), len(s))
}

func TestMeasureStartup(t *testing.T) {
	skipUnlessMeasuring(t)
	const runs = 7
	for _, kind := range []struct {
		name string
		opts agentOpts
	}{
		{"client", agentOpts{}},
		{"server", agentOpts{Server: true, Bootstrap: true}},
	} {
		var fresh, restarted, leader []time.Duration
		c := newCluster(t, 200, 200+runs-1)
		for i := 0; i < runs; i++ {
			o := kind.opts
			o.Name = fmt.Sprintf("m-%s-%d", kind.name, i)
			a := c.start(o)
			// start returned after waitReady; ask again for the time.
			fresh = append(fresh, a.readyAfterStart())
			if o.Server {
				leader = append(leader, a.untilLeader(t))
			}
			a.Kill()
			a.launch(nil)
			restarted = append(restarted, a.waitReady())
			a.Kill()
		}
		t.Logf("%s, start to HTTP ready, empty data dir:    %s", kind.name, summary(fresh))
		t.Logf("%s, start to HTTP ready, existing data dir: %s", kind.name, summary(restarted))
		if len(leader) > 0 {
			t.Logf("%s (-bootstrap, fast timings), start to leader known: %s", kind.name, summary(leader))
		}
	}
}

// untilLeader polls finely until the agent knows a leader and returns the
// time since the process started.
func (a *agentProc) untilLeader(t *testing.T) time.Duration {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := leaderOf(a); err == nil {
			a.mu.Lock()
			defer a.mu.Unlock()
			return time.Since(a.started)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no leader after 30s", a.Name)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// readyAfterStart is the time from the last start to the API answering,
// as waitReady measured it.
func (a *agentProc) readyAfterStart() time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.readyAfter
}

// startFederation starts two datacenters of three servers each (and a
// client each with clients), unfederated.
func startFederation(t *testing.T, c *cluster, defaults, clients bool) (servers, cls []*agentProc) {
	t.Helper()
	for _, dc := range []string{"dc1", "dc2"} {
		var first *agentProc
		for i := 1; i <= 3; i++ {
			o := agentOpts{Name: fmt.Sprintf("%s-s%d", dc, i), DC: dc, Server: true, BootstrapExpect: 3, DefaultTimings: defaults}
			if first != nil {
				o.Join = []string{first.LANAddr}
			}
			s := c.start(o)
			if first == nil {
				first = s
			}
			servers = append(servers, s)
		}
		if clients {
			cls = append(cls, c.start(agentOpts{Name: dc + "-c1", DC: dc, Join: []string{first.LANAddr}, DefaultTimings: defaults}))
		}
	}
	return servers, cls
}

// wanConvergence runs `join -wan` once and returns the time until every
// server sees all six servers alive in the WAN pool.
func wanConvergence(t *testing.T, servers []*agentProc) time.Duration {
	t.Helper()
	want := allAlive(wanNames(servers...)...)
	// Each datacenter's servers flood-join each other's WAN pool at start;
	// let that finish so the clock does not include it. (A build that does
	// not flood at start never gets there: go on after a few seconds.)
	settle := time.Now().Add(5 * time.Second)
	for time.Now().Before(settle) {
		whole := true
		for _, s := range servers {
			if got, err := pool(s, true); err != nil || len(got) != 3 {
				whole = false
			}
		}
		if whole {
			break
		}
		time.Sleep(pollEvery)
	}
	start := time.Now()
	servers[0].mustCLI("join", "-wan", servers[3].Host)
	deadline := start.Add(5 * time.Minute)
	for {
		done := true
		for _, s := range servers {
			if poolIs(s, true, want) != nil {
				done = false
				break
			}
		}
		if done {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the WAN pools did not converge within 5 minutes")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestMeasureWANConvergence(t *testing.T) {
	skipUnlessMeasuring(t)
	for _, mode := range []struct {
		name     string
		defaults bool
		runs     int
	}{
		{"fast test timings", false, 5},
		{"default timings", true, 3},
	} {
		var ds []time.Duration
		for i := 0; i < mode.runs; i++ {
			t.Run(fmt.Sprintf("%s run %d", mode.name, i), func(t *testing.T) {
				c := newCluster(t, 200, 219)
				servers, _ := startFederation(t, c, mode.defaults, false)
				ds = append(ds, wanConvergence(t, servers))
			})
		}
		if len(ds) > 0 {
			t.Logf("join -wan to all 6 servers seeing 6 alive WAN members, %s: %s", mode.name, summary(ds))
		}
	}
}

func TestMeasureIdleMemory(t *testing.T) {
	skipUnlessMeasuring(t)
	c := newCluster(t, 200, 219)
	servers, clients := startFederation(t, c, true, true)
	servers[0].mustCLI("join", "-wan", servers[3].Host)
	waitPool(t, time.Minute, true, allAlive(wanNames(servers...)...), servers...)
	waitLeader(t, time.Minute, append([]*agentProc{clients[0]}, servers[:3]...)...)
	waitLeader(t, time.Minute, append([]*agentProc{clients[1]}, servers[3:]...)...)
	// Idle means after start-up work: elections, reconciliation, the
	// first coordinate updates. A measurement window, not a wait for an
	// event.
	const idle = 30 * time.Second
	time.Sleep(idle)
	report := func(kind string, as []*agentProc) {
		var kbs []int
		for _, a := range as {
			kb, err := rssKB(a.Pid())
			if err != nil {
				t.Fatal(err)
			}
			kbs = append(kbs, kb)
		}
		sort.Ints(kbs)
		t.Logf("idle %s RSS after %s (default timings, 2 DCs x 3 servers + 1 client): min %.1f MiB, median %.1f MiB, max %.1f MiB (n=%d)",
			kind, idle, float64(kbs[0])/1024, float64(kbs[len(kbs)/2])/1024, float64(kbs[len(kbs)-1])/1024, len(kbs))
	}
	report("server", servers)
	report("client", clients)
}

// The figures of issue 14, measured with `meridian bench` (run in-process
// here, so that the same load tool drives whichever binary MERIDIAN_BIN
// names) against two datacenters of three durable servers each, with the
// default timings an operator gets; the load goes to a follower's HTTP API
// in dc1. Compare two builds by running this once per binary, in turns:
//
//	MERIDIAN_MEASURE=1 MERIDIAN_BIN=/path/to/old go test -count=1 -run TestMeasurePerf -v ./e2e/
//	MERIDIAN_MEASURE=1 MERIDIAN_BIN=/path/to/new go test -count=1 -run TestMeasurePerf -v ./e2e/
//
// MERIDIAN_MEASURE_DURATION sets each row's measured time (default 5s).
func TestMeasurePerf(t *testing.T) {
	skipUnlessMeasuring(t)
	dur := 5 * time.Second
	if v := os.Getenv("MERIDIAN_MEASURE_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("MERIDIAN_MEASURE_DURATION=%q: want a positive duration", v)
		}
		dur = d
	}
	c := newCluster(t, 200, 219)
	servers, _ := startFederation(t, c, true, false)
	servers[0].mustCLI("join", "-wan", servers[3].Host)
	waitPool(t, time.Minute, true, allAlive(wanNames(servers...)...), servers...)
	leader1 := waitLeader(t, time.Minute, servers[:3]...)
	waitLeader(t, time.Minute, servers[3:]...)
	var follower *agentProc
	for _, s := range servers[:3] {
		if !strings.HasPrefix(leader1, s.Host+":") {
			follower = s
			break
		}
	}
	if follower == nil {
		t.Fatalf("no follower in dc1 (leader %s)", leader1)
	}
	t.Logf("load goes to %s (a follower of dc1); binary %s", follower.Name, suite.bin)

	rows := []struct {
		name string
		args []string
	}{
		{"KV read, local, 1 reader", []string{"-concurrency=1", "kv-read"}},
		{"KV read in another DC, 1 reader", []string{"-concurrency=1", "-datacenter=dc2", "kv-read"}},
		{"KV writes, 1 writer", []string{"-concurrency=1", "kv-write"}},
		{"KV writes, 32 writers", []string{"-concurrency=32", "kv-write"}},
		{"?stale KV reads, 16 readers", []string{"-concurrency=16", "-consistency=stale", "kv-read"}},
		{"default KV reads, 16 readers", []string{"-concurrency=16", "kv-read"}},
		{"catalog reads, 16 readers", []string{"-concurrency=16", "catalog-read"}},
		{"blocking-query wake-up, 16 watchers", []string{"-concurrency=16", "-interval=50ms", "blocking"}},
	}
	// ticks reads the CPU time of the three dc1 servers and of the machine.
	ticks := func() (servers3, machine uint64) {
		t.Helper()
		srv, err := cpuTicks(servers[:3]...)
		if err != nil {
			t.Fatal(err)
		}
		all, err := machineTicks()
		if err != nil {
			t.Fatal(err)
		}
		return srv, all
	}
	for _, row := range rows {
		args := append([]string{"-http-addr=" + follower.HTTPAddr, "-duration=" + dur.String(), "-warmup=1s"}, row.args...)
		ui := cli.NewMockUi()
		// CPU spent during the row (warm-up included), by the three dc1
		// servers and by the whole machine: steadier than ops/s on a
		// shared machine.
		srv0, all0 := ticks()
		if code := (&command.BenchCommand{UI: ui}).Run(args); code != 0 {
			t.Fatalf("%s: bench exit %d: %s", row.name, code, ui.ErrorWriter.String())
		}
		srv1, all1 := ticks()
		var res command.BenchResult
		if err := json.Unmarshal(ui.OutputWriter.Bytes(), &res); err != nil {
			t.Fatalf("%s: %v", row.name, err)
		}
		load := 0.0
		if res.LoadAvg1m != nil {
			load = *res.LoadAvg1m
		}
		// The row's operations, warm-up included, estimated from the
		// measured rate (bench reports only the measured window's).
		ops := res.OpsPerSec * (dur + time.Second).Seconds()
		perOp := func(ticks uint64) float64 {
			if ops <= 0 {
				return 0
			}
			return float64(ticks) * 1e6 / clockTicks / ops
		}
		t.Logf("%-38s %9.0f ops/s  p50 %8.1f µs  p99 %8.1f µs  errors %d  load %.2f  CPU/op: servers %6.0f µs, machine %6.0f µs",
			row.name, res.OpsPerSec, res.P50Micros, res.P99Micros, res.Errors, load, perOp(srv1-srv0), perOp(all1-all0))
		if res.Workload == "blocking" {
			t.Logf("%-38s counted from the write's answer: p50 %8.1f µs  p99 %8.1f µs", "", res.AfterWriteP50Micros, res.AfterWriteP99Micros)
		}
	}
	for _, s := range servers[:3] {
		var kb [3]int
		for i, field := range []string{"VmRSS", "RssAnon", "RssFile"} {
			v, err := procStatusKB(s.Pid(), field)
			if err != nil {
				t.Fatal(err)
			}
			kb[i] = v
		}
		t.Logf("RSS after the load, %s: %.1f MiB (anonymous %.1f, file %.1f)", s.Name,
			float64(kb[0])/1024, float64(kb[1])/1024, float64(kb[2])/1024)
	}
}

// TestMeasureFirstLeader times three fresh servers with
// -bootstrap-expect=3 and the default timings from the launch of the
// first to all three naming the same leader.
func TestMeasureFirstLeader(t *testing.T) {
	skipUnlessMeasuring(t)
	const runs = 5
	var ds []time.Duration
	for i := 0; i < runs; i++ {
		t.Run(fmt.Sprintf("run %d", i), func(t *testing.T) {
			c := newCluster(t, 200, 219)
			start := time.Now()
			var as []*agentProc
			for j := 1; j <= 3; j++ {
				o := agentOpts{Name: fmt.Sprintf("fl%d-s%d", i, j), Server: true, BootstrapExpect: 3, DefaultTimings: true, NoWait: true}
				if j > 1 {
					// The first may not listen yet: retry the join.
					o.Args = []string{"-retry-join=" + as[0].LANAddr, "-retry-interval=100ms"}
				}
				as = append(as, c.start(o))
			}
			for {
				if _, err := leaderAgreed(as); err == nil {
					break
				}
				if time.Since(start) > time.Minute {
					t.Fatalf("no leader within a minute")
				}
				time.Sleep(2 * time.Millisecond)
			}
			ds = append(ds, time.Since(start))
		})
	}
	if len(ds) > 0 {
		t.Logf("three servers started -> leader (default timings): %s", summary(ds))
	}
}

// leaderAgreed returns the leader when every agent of as names the same.
func leaderAgreed(as []*agentProc) (string, error) {
	var first string
	for i, a := range as {
		l, err := leaderOf(a)
		if err != nil {
			return "", err
		}
		if i == 0 {
			first = l
		} else if l != first {
			return "", fmt.Errorf("%s names %s, %s names %s", as[0].Name, first, a.Name, l)
		}
	}
	return first, nil
}
