package e2e

// meridian lab as a user runs it (issue 15): two datacenters of three
// servers and a client with 60ms of WAN round trip, on a subnet of its own
// (127.2.n.0/24, n the suite's network; TestLabKilled takes its upper
// half): the WAN pool, the injected latency as rtt -wan estimates it, a
// partition and its healing, and that nothing is left running after ^C,
// or after the lab is killed outright.

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// labSubnet is TestLab's network; TestLabKilled takes its upper half, so
// that a lab left dying by one test cannot hold an address of the other.
func labSubnet() string { return fmt.Sprintf("127.2.%d.0/25", suite.net) }

func labKilledSubnet() string { return fmt.Sprintf("127.2.%d.128/25", suite.net) }

// labHost is address x of the lab subnet.
func labHost(x int) string { return fmt.Sprintf("127.2.%d.%d", suite.net, x) }

// syncBuffer is a bytes.Buffer safe for a writer and readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// labProc is a running `meridian lab up`.
type labProc struct {
	dir    string
	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan struct{}
	err    error
}

var dcLine = regexp.MustCompile(`(?m)^(dc[0-9]+)  (http://\S+)$`)

// startLab runs `meridian lab up -dir dir args...` and waits until it
// prints its datacenters; the process is killed when the test ends.
func startLab(t *testing.T, dir, subnet string, args ...string) (*labProc, map[string]string) {
	t.Helper()
	all := append([]string{"lab", "up", "-dir", dir, "-subnet", subnet, "-log-level", suite.logLevel}, args...)
	l := &labProc{dir: dir, out: &syncBuffer{}, exited: make(chan struct{})}
	l.cmd = exec.Command(suite.bin, all...)
	l.cmd.Stdout, l.cmd.Stderr = l.out, l.out
	l.cmd.Env = cleanEnv()
	l.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	start := time.Now()
	if err := l.cmd.Start(); err != nil {
		t.Fatalf("start lab: %v", err)
	}
	go func() { l.err = l.cmd.Wait(); close(l.exited) }()
	t.Cleanup(func() {
		select {
		case <-l.exited:
		default:
			l.cmd.Process.Signal(syscall.SIGKILL)
			<-l.exited
		}
		// The agents die with the lab (parent-death signal); wait for
		// them before the directory is removed.
		deadline := time.Now().Add(15 * time.Second)
		for len(processesNaming(dir)) > 0 && time.Now().Before(deadline) {
			time.Sleep(pollEvery)
		}
		if t.Failed() {
			t.Logf("---- lab output ----\n%s", l.out.String())
		}
	})
	dcs := map[string]string{}
	waitFor(t, 90*time.Second, "the lab's datacenter lines", func() error {
		select {
		case <-l.exited:
			t.Fatalf("lab up exited (%v) before it was ready:\n%s", l.err, l.out.String())
		default:
		}
		for _, m := range dcLine.FindAllStringSubmatch(l.out.String(), -1) {
			dcs[m[1]] = m[2]
		}
		if !strings.Contains(l.out.String(), "Lab running") {
			return fmt.Errorf("not ready yet")
		}
		return nil
	})
	t.Logf("lab up %s: ready after %s", strings.Join(args, " "), time.Since(start).Round(10*time.Millisecond))
	return l, dcs
}

// wait waits for the lab process to exit and returns its exit code.
func (l *labProc) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-l.exited:
	case <-time.After(timeout):
		t.Fatalf("lab up did not exit within %s", timeout)
	}
	return l.cmd.ProcessState.ExitCode()
}

// processesNaming lists the processes whose command line contains s.
func processesNaming(s string) []string {
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		cl := strings.ReplaceAll(string(b), "\x00", " ")
		if strings.Contains(cl, s) {
			out = append(out, fmt.Sprintf("%d: %s", pid, cl))
		}
	}
	return out
}

func waitNoProcesses(t *testing.T, dir string) {
	t.Helper()
	waitFor(t, 15*time.Second, "no process naming "+dir, func() error {
		if ps := processesNaming(dir); len(ps) > 0 {
			return fmt.Errorf("still running:\n%s", strings.Join(ps, "\n"))
		}
		return nil
	})
}

func apiClient(t *testing.T, httpURL string) *api.Client {
	t.Helper()
	cfg := api.DefaultNonPooledConfig()
	cfg.Address = strings.TrimPrefix(httpURL, "http://")
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestLab(t *testing.T) {
	dir := t.TempDir()
	l, dcs := startLab(t, dir, labSubnet(), "-dcs", "2", "-servers", "3", "-clients", "1", "-wan-rtt", "dc1-dc2=60ms")
	// The plan: per datacenter its client (the entry point), then its
	// servers; relays after every agent.
	if dcs["dc1"] != "http://"+labHost(1)+":8500" || dcs["dc2"] != "http://"+labHost(5)+":8500" || len(dcs) != 2 {
		t.Fatalf("datacenter lines: %v", dcs)
	}
	dc1, dc2 := apiClient(t, dcs["dc1"]), apiClient(t, dcs["dc2"])
	server1 := labHost(2) + ":8500" // dc1-s1
	lab := func(args ...string) cliResult {
		return runMeridian(t, 90*time.Second, append([]string{"lab"}, args...)...)
	}

	step(t, "lab status shows both datacenters connected with leaders", func(t *testing.T) {
		r := lab("status", "-dir", dir)
		if r.Code != 0 {
			t.Fatalf("%s", r)
		}
		rows := parseTable(t, strings.Split(r.Stdout, "\n\n")[0])
		if len(rows) != 2 {
			t.Fatalf("status rows: %v", rows)
		}
		for i, row := range rows {
			dc := fmt.Sprintf("dc%d", i+1)
			if row["DC"] != dc || row["HTTP"] != dcs[dc] || row["Servers"] != "3" || row["Clients"] != "1" ||
				row["WAN"] != "connected" || !strings.HasPrefix(row["Leader"], dc+"-s") {
				t.Errorf("status row %d: %v", i, row)
			}
		}
	})

	step(t, "members -wan shows the six servers alive", func(t *testing.T) {
		r := runMeridian(t, cliTimeout, "members", "-wan", "-http-addr="+server1)
		if r.Code != 0 {
			t.Fatalf("%s", r)
		}
		var alive []string
		for _, row := range parseTable(t, r.Stdout) {
			if row["Status"] == "alive" && row["Type"] == "server" {
				alive = append(alive, row["Node"])
			}
		}
		want := "dc1-s1.dc1 dc1-s2.dc1 dc1-s3.dc1 dc2-s1.dc2 dc2-s2.dc2 dc2-s3.dc2"
		if strings.Join(alive, " ") != want {
			t.Errorf("alive WAN servers %v, want %s\n%s", alive, want, r.Stdout)
		}
	})

	step(t, "rtt -wan between the datacenters is near the injected 60ms", func(t *testing.T) {
		var rtt float64
		waitFor(t, 60*time.Second, "a WAN coordinate estimate near 60ms", func() error {
			r := runMeridian(t, cliTimeout, "rtt", "-wan", "-http-addr="+strings.TrimPrefix(dcs["dc1"], "http://"), "dc1-s1.dc1", "dc2-s2.dc2")
			m := rttLine.FindStringSubmatch(r.Stdout)
			if r.Code != 0 || m == nil {
				return fmt.Errorf("%s", r)
			}
			rtt, _ = strconv.ParseFloat(m[1], 64)
			// A loose band: Vivaldi estimates, on a loaded machine.
			if rtt < 50 || rtt > 90 {
				return fmt.Errorf("estimated %.1fms", rtt)
			}
			return nil
		})
		t.Logf("rtt -wan dc1-s1.dc1 <-> dc2-s2.dc2: %.1f ms (injected 60)", rtt)
	})

	step(t, "dc1 reads dc2 through the WAN", func(t *testing.T) {
		if _, err := dc2.KV().Put(&api.KVPair{Key: "lab/where", Value: []byte("dc2")}, nil); err != nil {
			t.Fatal(err)
		}
		kv, _, err := dc1.KV().Get("lab/where", &api.QueryOptions{Datacenter: "dc2"})
		if err != nil || kv == nil || string(kv.Value) != "dc2" {
			t.Fatalf("dc2's key through dc1: %v %+v", err, kv)
		}
	})

	step(t, "lab partition dc2 fails dc1's requests for dc2 while dc2 serves itself", func(t *testing.T) {
		r := lab("partition", "-dir", dir, "dc2")
		if r.Code != 0 || !strings.Contains(r.Stdout, "dc2 is partitioned") {
			t.Fatalf("%s", r)
		}
		// Consul's texts for a datacenter nobody can reach.
		consulText := regexp.MustCompile(`No path to datacenter|Remote DC has no server currently reachable`)
		waitFor(t, 30*time.Second, "dc1's request for dc2 to fail", func() error {
			_, _, err := dc1.KV().Get("lab/where", &api.QueryOptions{Datacenter: "dc2"})
			if err == nil {
				return fmt.Errorf("dc2 still answers through dc1")
			}
			if !consulText.MatchString(err.Error()) || !strings.Contains(err.Error(), "500") {
				return fmt.Errorf("error %q is not Consul's", err)
			}
			return nil
		})
		// dc2's LAN works: its own reads and writes.
		if _, err := dc2.KV().Put(&api.KVPair{Key: "lab/during", Value: []byte("cut")}, nil); err != nil {
			t.Fatalf("dc2 writes its own KV while partitioned: %v", err)
		}
		kv, _, err := dc2.KV().Get("lab/during", nil)
		if err != nil || kv == nil || string(kv.Value) != "cut" {
			t.Fatalf("dc2 reads its own KV while partitioned: %v %+v", err, kv)
		}
		// And dc2 cannot reach dc1 either.
		if _, _, err := dc2.KV().Get("x", &api.QueryOptions{Datacenter: "dc1"}); err == nil || !consulText.MatchString(err.Error()) {
			t.Errorf("dc2's request for dc1: %v", err)
		}
		r = lab("status", "-dir", dir)
		if rows := parseTable(t, strings.Split(r.Stdout, "\n\n")[0]); len(rows) != 2 || rows[1]["WAN"] != "partitioned" || rows[0]["WAN"] != "connected" {
			t.Errorf("status during the partition:\n%s", r.Stdout)
		}
		if r := lab("partition", "-dir", dir, "dc7"); r.Code != 1 || oneSentence(r.Stderr) != nil || !strings.Contains(r.Stderr, `unknown datacenter "dc7"`) {
			t.Errorf("partition of an unknown datacenter: %s", r)
		}
	})

	step(t, "lab heal brings dc2 back", func(t *testing.T) {
		r := lab("heal", "-dir", dir)
		if r.Code != 0 || !strings.Contains(r.Stdout, "dc2 healed") {
			t.Fatalf("%s", r)
		}
		waitFor(t, 30*time.Second, "dc1's request for dc2 to succeed", func() error {
			kv, _, err := dc1.KV().Get("lab/during", &api.QueryOptions{Datacenter: "dc2"})
			if err != nil {
				return err
			}
			if kv == nil || string(kv.Value) != "cut" {
				return fmt.Errorf("got %+v", kv)
			}
			return nil
		})
	})

	step(t, "partitioning both datacenters and healing one at a time", func(t *testing.T) {
		if r := lab("partition", "-dir", dir, "dc1", "dc2"); r.Code != 0 {
			t.Fatalf("%s", r)
		}
		r := lab("heal", "-dir", dir, "dc2")
		if r.Code != 0 || !strings.Contains(r.Stdout, "dc2 healed: the servers of dc2 see each other") {
			t.Fatalf("heal dc2 while dc1 is still cut: %s", r)
		}
		r = lab("status", "-dir", dir)
		if rows := parseTable(t, strings.Split(r.Stdout, "\n\n")[0]); len(rows) != 2 || rows[0]["WAN"] != "partitioned" || rows[1]["WAN"] != "connected" {
			t.Errorf("status with dc1 cut:\n%s", r.Stdout)
		}
		if _, _, err := dc2.KV().Get("x", &api.QueryOptions{Datacenter: "dc1"}); err == nil {
			t.Error("dc2 reaches dc1 while dc1 is partitioned")
		}
		r = lab("heal", "-dir", dir)
		if r.Code != 0 || !strings.Contains(r.Stdout, "dc1 healed: every server sees every other") {
			t.Fatalf("heal the rest: %s", r)
		}
		waitFor(t, 30*time.Second, "dc2's request for dc1 to succeed", func() error {
			_, _, err := dc2.KV().Get("x", &api.QueryOptions{Datacenter: "dc1"})
			return err
		})
	})

	step(t, "a second lab in the same directory is refused", func(t *testing.T) {
		r := runMeridian(t, cliTimeout, "lab", "up", "-dir", dir, "-subnet", labSubnet())
		if r.Code != 1 || oneSentence(r.Stderr) != nil || !strings.Contains(r.Stderr, "is in use by a running lab") {
			t.Errorf("%s", r)
		}
	})

	step(t, "^C stops every process of the lab", func(t *testing.T) {
		// The lab itself and its eight agents.
		if ps := processesNaming(dir); len(ps) != 9 {
			t.Errorf("before ^C: want the lab and 8 agents naming the lab's directory, got:\n%s", strings.Join(ps, "\n"))
		}
		l.cmd.Process.Signal(syscall.SIGINT)
		if code := l.wait(t, 60*time.Second); code != 0 {
			t.Errorf("lab up exited with %d after ^C", code)
		}
		waitNoProcesses(t, dir)
		if _, err := os.Stat(filepath.Join(dir, "lab.sock")); !os.IsNotExist(err) {
			t.Errorf("the control socket is left behind: %v", err)
		}
		if r := lab("status", "-dir", dir); r.Code != 1 || !strings.Contains(r.Stderr, "no lab is running") {
			t.Errorf("status after ^C: %s", r)
		}
	})
}

// A lab killed outright takes its agents with it.
func TestLabKilled(t *testing.T) {
	dir := t.TempDir()
	l, _ := startLab(t, dir, labKilledSubnet(), "-dcs", "1", "-servers", "1", "-clients", "0")
	if ps := processesNaming(dir); len(ps) != 2 {
		t.Fatalf("want the lab and its agent naming the lab's directory, got:\n%s", strings.Join(ps, "\n"))
	}
	l.cmd.Process.Signal(syscall.SIGKILL)
	l.wait(t, 10*time.Second)
	waitNoProcesses(t, dir)
	r := runMeridian(t, cliTimeout, "lab", "down", "-dir", dir)
	if r.Code != 0 || !strings.Contains(r.Stdout, "No lab is running") {
		t.Errorf("down after a kill: %s", r)
	}
}
