package agent

import (
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// TestKVSurvivesRestart: a single durable server is stopped and started
// again on its data dir (same node name and server port, as a restarted
// process): keys, deletions, sessions and the locks they hold are all
// there, and the index goes on from where it was.
func TestKVSurvivesRestart(t *testing.T) {
	first := startKVServer(t, "-node=durable1", fastSessions)
	kv, sess := first.Client.KV(), first.Client.Session()
	for i := 0; i < 20; i++ {
		mustPut(t, kv, fmt.Sprintf("dur/k%02d", i), fmt.Sprintf("v%d", i))
	}
	if _, err := kv.Put(&api.KVPair{Key: "dur/flagged", Value: []byte("f"), Flags: 7}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Delete("dur/k00", nil); err != nil {
		t.Fatal(err)
	}
	holder, _, err := sess.Create(&api.SessionEntry{Name: "holder", LockDelay: 2 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _, err := kv.Acquire(&api.KVPair{Key: "dur/lock", Value: []byte("mine"), Session: holder}, nil); err != nil || !ok {
		t.Fatalf("acquire = %v, %v", ok, err)
	}
	// A session with a TTL comes back too, and its timer starts again.
	ttl, _, err := sess.Create(&api.SessionEntry{Name: "ttl", TTL: "1s"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	before, meta, err := kv.List("dur/", nil)
	if err != nil {
		t.Fatal(err)
	}
	indexBefore := meta.LastIndex
	port := first.Server().RPCAddr().Port
	first.Shutdown()

	second := startKVServer(t, "-node=durable1", "-data-dir="+first.DataDir, fmt.Sprintf("-server-port=%d", port), fastSessions)
	kv, sess = second.Client.KV(), second.Client.Session()
	after, meta, err := kv.List("dur/", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) || len(after) != 21 || meta.LastIndex < indexBefore {
		t.Fatalf("after restart: %d keys (was %d), index %d (was %d)", len(after), len(before), meta.LastIndex, indexBefore)
	}
	for i := range before {
		b, a := before[i], after[i]
		if a.Key != b.Key || string(a.Value) != string(b.Value) || a.Flags != b.Flags || a.Session != b.Session ||
			a.CreateIndex != b.CreateIndex || a.ModifyIndex != b.ModifyIndex || a.LockIndex != b.LockIndex {
			t.Fatalf("key %d after restart = %+v, was %+v", i, a, b)
		}
	}
	if p := mustGet(t, kv, "dur/k00"); p != nil {
		t.Fatalf("a deleted key came back: %+v", p)
	}
	if p := mustGet(t, kv, "dur/lock"); p == nil || p.Session != holder {
		t.Fatalf("lock after restart = %+v", p)
	}
	info, _, err := sess.Info(holder, nil)
	if err != nil || info == nil || info.LockDelay != 2*time.Second || info.Name != "holder" {
		t.Fatalf("holder session after restart = %+v, %v", info, err)
	}
	// The restarted leader expires the TTL session it was not renewing.
	WaitFor(t, "the TTL session to expire after the restart", 10*time.Second, func() error {
		info, _, err := sess.Info(ttl, nil)
		if err != nil {
			return err
		}
		if info != nil {
			return fmt.Errorf("still there")
		}
		return nil
	})
	// New writes carry higher indexes than anything before the restart.
	mustPut(t, kv, "dur/new", "n")
	if p := mustGet(t, kv, "dur/new"); p.CreateIndex <= indexBefore {
		t.Fatalf("new key index %d is not past %d", p.CreateIndex, indexBefore)
	}
}
