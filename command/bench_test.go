package command

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/cli"

	"github.com/meridian-sd/meridian/agent"
)

// runBenchCmd runs bench with args and returns its exit code, its parsed
// result (nil when it printed none) and its stderr.
func runBenchCmd(t *testing.T, args ...string) (int, *BenchResult, string) {
	t.Helper()
	ui := cli.NewMockUi()
	code := (&BenchCommand{UI: ui}).Run(args)
	out := ui.OutputWriter.String()
	if strings.TrimSpace(out) == "" {
		return code, nil, ui.ErrorWriter.String()
	}
	var res BenchResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("bench printed something that is not its JSON result: %v\n%s", err, out)
	}
	return code, &res, ui.ErrorWriter.String()
}

// checkResult checks the invariants of a successful run.
func checkResult(t *testing.T, res *BenchResult, workload string) {
	t.Helper()
	if res == nil {
		t.Fatal("no result printed")
	}
	if res.Workload != workload {
		t.Errorf("workload = %q, want %q", res.Workload, workload)
	}
	if res.Ops <= 0 {
		t.Errorf("ops = %d, want some", res.Ops)
	}
	if res.Errors != 0 {
		t.Errorf("errors = %d (first: %s), want none", res.Errors, res.FirstError)
	}
	if res.OpsPerSec <= 0 || res.DurationSec <= 0 {
		t.Errorf("ops/s = %v over %vs, want both positive", res.OpsPerSec, res.DurationSec)
	}
	if !(res.P50Micros > 0 && res.P50Micros <= res.P90Micros && res.P90Micros <= res.P99Micros && res.P99Micros <= res.MaxMicros) {
		t.Errorf("percentiles out of order: p50 %v, p90 %v, p99 %v, max %v", res.P50Micros, res.P90Micros, res.P99Micros, res.MaxMicros)
	}
}

func TestBenchWorkloads(t *testing.T) {
	ta := agent.StartTestAgent(t, "-server", "-bootstrap")
	ta.WaitForLeader(t)
	addr := "-http-addr=" + ta.HTTPAddr
	common := []string{addr, "-warmup=0", "-duration=300ms", "-concurrency=2", "-keys=5", "-prefix=bt/"}

	cases := []struct {
		workload    string
		consistency string
		extra       []string
	}{
		{"catalog-read", "default", nil},
		{"kv-write", "", nil},
		{"kv-read", "default", nil},
		{"kv-read", "stale", nil},
		{"kv-read", "consistent", nil},
		// Blocking reads wake on writes every 20ms: a few wake-ups for
		// each watcher even on a busy machine.
		{"blocking", "default", []string{"-interval=20ms", "-duration=1s"}},
	}
	for _, tc := range cases {
		t.Run(tc.workload+"/"+tc.consistency, func(t *testing.T) {
			args := append(append([]string{}, common...), tc.extra...)
			if tc.consistency != "" {
				args = append(args, "-consistency="+tc.consistency)
			}
			args = append(args, tc.workload)
			code, res, stderr := runBenchCmd(t, args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			checkResult(t, res, tc.workload)
			if res.Consistency != tc.consistency {
				t.Errorf("consistency = %q, want %q", res.Consistency, tc.consistency)
			}
			if res.Concurrency != 2 {
				t.Errorf("concurrency = %d, want 2", res.Concurrency)
			}
			if tc.workload == "blocking" {
				// Counted from the write's answer, a wake-up is shorter
				// than counted from its start, which includes the write.
				if res.AfterWriteP50Micros >= res.P50Micros || res.AfterWriteP99Micros > res.P99Micros {
					t.Errorf("after the write p50/p99 %.0f/%.0f µs, from its start %.0f/%.0f µs",
						res.AfterWriteP50Micros, res.AfterWriteP99Micros, res.P50Micros, res.P99Micros)
				}
			} else if res.AfterWriteP50Micros != 0 || res.AfterWriteP99Micros != 0 {
				t.Errorf("after_write figures on %s", tc.workload)
			}
		})
	}

	// The KV workloads wrote their keys under the prefix, and only there.
	pairs, _, err := ta.Client.KV().List("bt/", nil)
	if err != nil {
		t.Fatalf("list the workloads' keys: %v", err)
	}
	names := map[string]bool{}
	for _, p := range pairs {
		names[p.Key] = true
	}
	for _, want := range []string{"bt/k0000000", "bt/k0000004", "bt/watch"} {
		if !names[want] {
			t.Errorf("key %s missing; the workloads left %v", want, names)
		}
	}
	if names["bt/k0000005"] {
		t.Errorf("a key past -keys=5 was written: %v", names)
	}
}

func TestBenchCrossDC(t *testing.T) {
	dc1 := agent.StartTestAgent(t, "-server", "-bootstrap", "-datacenter=dc1")
	dc2 := agent.StartTestAgent(t, "-server", "-bootstrap", "-datacenter=dc2")
	dc1.WaitForLeader(t)
	dc2.WaitForLeader(t)
	if err := dc1.Client.Agent().Join(dc2.WANAddr(), true); err != nil {
		t.Fatalf("join -wan: %v", err)
	}
	agent.WaitFor(t, "dc2 known to dc1", 15*time.Second, func() error {
		dcs, err := dc1.Client.Catalog().Datacenters()
		if err != nil {
			return err
		}
		if len(dcs) != 2 {
			return fmt.Errorf("datacenters %v", dcs)
		}
		return nil
	})

	code, res, stderr := runBenchCmd(t, "-http-addr="+dc1.HTTPAddr, "-warmup=0", "-duration=300ms",
		"-concurrency=2", "-keys=3", "-prefix=x/", "-datacenter=dc2", "kv-read")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	checkResult(t, res, "kv-read")
	if res.Datacenter != "dc2" {
		t.Errorf("datacenter = %q, want dc2", res.Datacenter)
	}
	// The keys were written to dc2 (through dc1's agent), not to dc1.
	if p, _, err := dc2.Client.KV().Get("x/k0000002", nil); err != nil || p == nil {
		t.Errorf("dc2 lacks the key written for its reads: %v, %v", p, err)
	}
	if p, _, err := dc1.Client.KV().Get("x/k0000002", nil); err != nil || p != nil {
		t.Errorf("dc1 holds a key meant for dc2: %v, %v", p, err)
	}

	// An unknown datacenter fails every operation: exit 1 with the agent's
	// words.
	code, _, stderr = runBenchCmd(t, "-http-addr="+dc1.HTTPAddr, "-warmup=0", "-duration=200ms",
		"-concurrency=1", "-datacenter=nowhere", "catalog-read")
	if code != 1 || !strings.Contains(stderr, "No path to datacenter") {
		t.Errorf("unknown datacenter: exit %d, stderr %q; want 1 and No path to datacenter", code, stderr)
	}
}

func TestBenchBadInput(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{nil, "one workload"},
		{[]string{"kv-read", "extra"}, "one workload"},
		{[]string{"kv-delete"}, `unknown workload "kv-delete"`},
		{[]string{"-concurrency=0", "kv-read"}, "-concurrency must be between"},
		{[]string{"-duration=0s", "kv-read"}, "-duration must be positive"},
		{[]string{"-warmup=-1s", "kv-read"}, "-warmup must not be negative"},
		{[]string{"-keys=0", "kv-read"}, "-keys must be between"},
		{[]string{"-value-size=-1", "kv-write"}, "-value-size must be between"},
		{[]string{"-consistency=strong", "kv-read"}, "-consistency must be default, stale or consistent"},
		{[]string{"-interval=0s", "blocking"}, "-interval must be positive"},
		{[]string{"-prefix=/abs", "kv-write"}, "-prefix must be a KV path"},
		{[]string{"-nope", "kv-read"}, "flag provided but not defined"},
	}
	for _, tc := range cases {
		code, res, stderr := runBenchCmd(t, tc.args...)
		if code != 1 || res != nil || !strings.Contains(stderr, tc.want) {
			t.Errorf("bench %v: exit %d, result %v, stderr %q; want 1, none, %q", tc.args, code, res, stderr, tc.want)
		}
	}
	if help := (&BenchCommand{}).Help(); !strings.Contains(help, "blocking") || !strings.Contains(help, "-concurrency") {
		t.Errorf("help lacks the workloads or flags:\n%s", help)
	}
}
