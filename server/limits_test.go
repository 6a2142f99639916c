package server

import (
	"strings"
	"testing"
	"time"

	"github.com/meridian-sd/meridian/structs"
)

// startLimitedServer starts one bootstrapped server with adjusted limits.
func startLimitedServer(t *testing.T, adjust func(*Config)) *Server {
	t.Helper()
	cfg := testConfig(t, "dc1")
	cfg.Bootstrap = true
	adjust(cfg)
	s := startServer(t, cfg)
	waitForLeader(t, []*Server{s})
	return s
}

// TestConfiguredQueryTimes: a blocking query waits DefaultQueryTime when it
// names no wait and at most MaxQueryTime (each plus its jitter), and the
// forwarding timeout follows the same values.
func TestConfiguredQueryTimes(t *testing.T) {
	const def, maxWait = 150 * time.Millisecond, 300 * time.Millisecond
	s := startLimitedServer(t, func(c *Config) {
		c.DefaultQueryTime = def
		c.MaxQueryTime = maxWait
	})
	kvApply(t, s, structs.KVSSet, "q/key", "v")
	idx := kvGet(t, s, "q/key").Index

	for _, tc := range []struct {
		name      string
		requested time.Duration
		want      time.Duration
	}{
		{"no wait: the default", 0, def},
		{"a wait under the cap", 200 * time.Millisecond, 200 * time.Millisecond},
		{"a wait over the cap", time.Hour, maxWait},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := &structs.KeyRequest{Datacenter: "dc1", Key: "q/key",
				QueryOptions: structs.QueryOptions{MinQueryIndex: idx, MaxQueryTime: tc.requested}}
			if got, want := s.blockingTime(args), tc.want+tc.want/structs.JitterFraction; got != want {
				t.Errorf("blockingTime = %s, want %s", got, want)
			}
			done := make(chan time.Duration, 1)
			go func() {
				start := time.Now()
				var out structs.IndexedDirEntries
				if err := s.RPC("KVS.Get", args, &out); err != nil {
					t.Errorf("blocking get: %v", err)
				}
				done <- time.Since(start)
			}()
			select {
			case took := <-done:
				if took < tc.want || took > tc.want+tc.want/structs.JitterFraction+time.Second {
					t.Errorf("blocking get returned after %s, want about %s", took, tc.want)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("blocking get still waiting after 5s, want about %s", tc.want)
			}
		})
	}
}

func TestConfigValidateQueryTimesAndLimits(t *testing.T) {
	for _, tc := range []struct {
		name   string
		adjust func(*Config)
		want   string
	}{
		{"default over max", func(c *Config) { c.DefaultQueryTime, c.MaxQueryTime = time.Minute, time.Second }, "exceeds max query time"},
		{"zero max", func(c *Config) { c.MaxQueryTime = 0 }, "must be positive"},
		{"zero value size", func(c *Config) { c.KVMaxValueSize = 0 }, "kv max value size"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, "dc1")
			tc.adjust(cfg)
			if err := cfg.validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("validate: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestConfiguredKVMaxValueSize: KV writes and transactions refuse values
// over KVMaxValueSize and accept one at the limit.
func TestConfiguredKVMaxValueSize(t *testing.T) {
	const limit = 16
	s := startLimitedServer(t, func(c *Config) { c.KVMaxValueSize = limit })
	atLimit, over := strings.Repeat("a", limit), strings.Repeat("b", limit+1)

	kvApply(t, s, structs.KVSSet, "lim/ok", atLimit)
	var ok bool
	err := s.RPC("KVS.Apply", &structs.KVSRequest{Datacenter: "dc1", Op: structs.KVSSet,
		DirEnt: structs.DirEntry{Key: "lim/big", Value: []byte(over)}}, &ok)
	if err == nil || !strings.Contains(err.Error(), "larger than the 16 byte limit") {
		t.Fatalf("KVS.Apply over the limit: %v, want it refused", err)
	}

	txn := func(value string) structs.TxnResponse {
		t.Helper()
		var out structs.TxnResponse
		args := &structs.TxnRequest{Datacenter: "dc1", Ops: structs.TxnOps{
			{KV: &structs.TxnKVOp{Verb: structs.KVSSet, DirEnt: structs.DirEntry{Key: "lim/txn", Value: []byte(value)}}},
		}}
		if err := s.RPC("Txn.Apply", args, &out); err != nil {
			t.Fatalf("Txn.Apply: %v", err)
		}
		return out
	}
	if out := txn(over); len(out.Errors) != 1 || !strings.Contains(out.Errors[0].What, "larger than") {
		t.Fatalf("transaction over the limit: %+v, want one error", out)
	}
	if out := txn(atLimit); len(out.Errors) != 0 {
		t.Fatalf("transaction at the limit: %+v", out.Errors)
	}
	if got := kvGet(t, s, "lim/big"); len(got.Entries) != 0 {
		t.Fatalf("refused value was written: %+v", got.Entries)
	}
}
