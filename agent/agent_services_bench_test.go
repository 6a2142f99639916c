package agent

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// Figures for the issue: how long a check's new status takes to reach the
// catalog, and what 500 HTTP checks cost an agent.
//
//	go test -run '^$' -bench BenchmarkCheckStatusToCatalog -benchtime 200x ./agent/
//	go test -run '^$' -bench BenchmarkHTTPCheckToCatalog -benchtime 20x ./agent/
//	MERIDIAN_MEASURE=1 go test -run '^TestMeasureHTTPChecks$' -v -timeout 10m ./agent/

// BenchmarkCheckStatusToCatalog measures the time from a TTL check's
// status change on a client agent to the catalog on the server showing it
// (one partial anti-entropy sync: an RPC to the server and a Raft commit),
// watched with a blocking query.
func BenchmarkCheckStatusToCatalog(b *testing.B) {
	srv := StartTestAgent(b, "-server", "-bootstrap")
	srv.WaitForLeader(b)
	cl := StartTestAgent(b)
	if err := cl.Client.Agent().Join(srv.LANAddr(), false); err != nil {
		b.Fatal(err)
	}
	err := cl.Client.Agent().ServiceRegister(&api.AgentServiceRegistration{
		ID: "web1", Name: "web", Check: &api.AgentServiceCheck{TTL: "10m"},
	})
	if err != nil {
		b.Fatal(err)
	}
	health := srv.Client.Health()
	index := uint64(0)
	wait := func(status string) {
		for {
			checks, meta, err := health.Checks("web", &api.QueryOptions{WaitIndex: index, WaitTime: 10 * time.Second})
			if err != nil {
				b.Fatal(err)
			}
			index = meta.LastIndex
			if len(checks) == 1 && checks[0].Status == status {
				return
			}
		}
	}
	wait(api.HealthCritical)
	statuses := []string{api.HealthPassing, api.HealthCritical}
	samples := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		status := statuses[i%2]
		start := time.Now()
		if err := cl.Client.Agent().UpdateTTL("service:web1", "", status); err != nil {
			b.Fatal(err)
		}
		wait(status)
		samples = append(samples, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(samples)
	b.ReportMetric(float64(samples[len(samples)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(samples[len(samples)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(samples[len(samples)-1].Microseconds())/1000, "max-ms")
}

// BenchmarkHTTPCheckToCatalog measures the time from the service behind
// an HTTP check changing (200 to 503 and back) to the catalog showing the
// new status, with a 1s interval (Consul's minimum): the interval bounds
// the detection, the sync adds about a millisecond.
func BenchmarkHTTPCheckToCatalog(b *testing.B) {
	srv := StartTestAgent(b, "-server", "-bootstrap")
	srv.WaitForLeader(b)
	var code atomic.Int64
	code.Store(http.StatusOK)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(int(code.Load()))
	}))
	defer backend.Close()
	err := srv.Client.Agent().ServiceRegister(&api.AgentServiceRegistration{
		ID: "web1", Name: "web", Check: &api.AgentServiceCheck{HTTP: backend.URL, Interval: "1s"},
	})
	if err != nil {
		b.Fatal(err)
	}
	health := srv.Client.Health()
	index := uint64(0)
	wait := func(status string) {
		for {
			checks, meta, err := health.Checks("web", &api.QueryOptions{WaitIndex: index, WaitTime: 10 * time.Second})
			if err != nil {
				b.Fatal(err)
			}
			index = meta.LastIndex
			if len(checks) == 1 && checks[0].Status == status {
				return
			}
		}
	}
	wait(api.HealthPassing)
	steps := []struct {
		code   int64
		status string
	}{{http.StatusServiceUnavailable, api.HealthCritical}, {http.StatusOK, api.HealthPassing}}
	samples := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		st := steps[i%2]
		// Change at a random point of the check's cycle, as a real
		// failure would.
		b.StopTimer()
		time.Sleep(rand.N(time.Second))
		b.StartTimer()
		start := time.Now()
		code.Store(st.code)
		wait(st.status)
		samples = append(samples, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(samples)
	b.ReportMetric(float64(samples[len(samples)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(samples[len(samples)-1].Microseconds())/1000, "max-ms")
}

// measureEnv turns on the long measurements; measureHelperEnv marks the
// helper process that runs the server and the HTTP backend.
const (
	measureEnv       = "MERIDIAN_MEASURE"
	measureHelperEnv = "MERIDIAN_MEASURE_HELPER"
)

// TestMeasureHelperServer is not a test: it is the second process of
// TestMeasureHTTPChecks, holding the server agent and the HTTP backend the
// checks probe, so that the measured process holds only the client agent.
// It prints "READY <lan addr> <backend url>" and runs until stdin closes.
func TestMeasureHelperServer(t *testing.T) {
	if os.Getenv(measureHelperEnv) == "" {
		t.Skip("helper process of TestMeasureHTTPChecks")
	}
	srv := StartTestAgent(t, "-server", "-bootstrap", "-node=measure-server")
	srv.WaitForLeader(t)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	defer backend.Close()
	fmt.Printf("READY %s %s\n", srv.LANAddr(), backend.URL)
	io.Copy(io.Discard, os.Stdin)
}

// cpuTime is the CPU time the process used so far, user and system.
func cpuTime(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rss reads the resident set size from /proc (Linux), "" elsewhere.
func rss() string {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// heap returns the live heap after a collection, in MiB.
func heap() float64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.HeapAlloc) / (1 << 20)
}

// TestMeasureHTTPChecks measures the CPU and memory of a client agent
// running 500 HTTP checks at a 10s interval. It runs for about two
// minutes and only when MERIDIAN_MEASURE is set.
func TestMeasureHTTPChecks(t *testing.T) {
	if os.Getenv(measureEnv) == "" {
		t.Skipf("set %s=1 to measure (takes about two minutes)", measureEnv)
	}
	const checks = 500
	window := 60 * time.Second

	helper := exec.Command(os.Args[0], "-test.run=^TestMeasureHelperServer$")
	helper.Env = append(os.Environ(), measureHelperEnv+"=1")
	helper.Stderr = os.Stderr
	stdin, err := helper.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		helper.Wait()
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("helper: %v", err)
	}
	var lanAddr, backend string
	if _, err := fmt.Sscanf(line, "READY %s %s", &lanAddr, &backend); err != nil {
		t.Fatalf("helper said %q: %v", line, err)
	}

	cl := StartTestAgent(t, "-node=measure-client")
	if err := cl.Client.Agent().Join(lanAddr, false); err != nil {
		t.Fatal(err)
	}
	WaitFor(t, "a server", 10*time.Second, func() error {
		if !cl.serversReachable() {
			return errors.New("none yet")
		}
		return nil
	})
	idleHeap := heap()
	idleStart, idleCPU := time.Now(), cpuTime(t)
	time.Sleep(window / 3)
	idlePct := 100 * float64(cpuTime(t)-idleCPU) / float64(time.Since(idleStart))

	regStart := time.Now()
	for i := 0; i < checks; i++ {
		err := cl.Client.Agent().ServiceRegister(&api.AgentServiceRegistration{
			ID: fmt.Sprintf("svc%d", i), Name: "svc", Port: 1000 + i,
			Check: &api.AgentServiceCheck{HTTP: fmt.Sprintf("%s/health/%d", backend, i), Interval: "10s", Timeout: "5s"},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	regTime := time.Since(regStart)
	WaitFor(t, "every check passing in the catalog", 60*time.Second, func() error {
		entries, _, err := cl.Client.Health().Service("svc", "", true, nil)
		if err != nil {
			return err
		}
		if len(entries) != checks {
			return fmt.Errorf("%d of %d passing", len(entries), checks)
		}
		return nil
	})
	settled := time.Since(regStart)

	start, cpu0 := time.Now(), cpuTime(t)
	time.Sleep(window)
	busyPct := 100 * float64(cpuTime(t)-cpu0) / float64(time.Since(start))
	busyHeap := heap()

	t.Logf("client agent, %d HTTP checks every 10s, %s window, GOMAXPROCS %d:", checks, window, runtime.GOMAXPROCS(0))
	t.Logf("  CPU idle (no checks): %.2f%% of one core", idlePct)
	t.Logf("  CPU with checks:      %.2f%% of one core", busyPct)
	t.Logf("  live heap: %.1f MiB idle, %.1f MiB with checks (+%.1f KiB per check)",
		idleHeap, busyHeap, (busyHeap-idleHeap)*1024/checks)
	t.Logf("  resident set of the test process: %s; goroutines: %d", rss(), runtime.NumGoroutine())
	t.Logf("  registering %d services took %s; all passing in the catalog after %s", checks, regTime.Round(time.Millisecond), settled.Round(time.Millisecond))
}
