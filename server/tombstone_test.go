package server

import (
	"fmt"
	"testing"
	"time"

	"github.com/meridian-sd/meridian/structs"
)

// kvApply writes through the server's KVS endpoint.
func kvApply(t testing.TB, s *Server, op structs.KVSOp, key, value string) {
	t.Helper()
	var ok bool
	args := &structs.KVSRequest{Datacenter: s.config.Datacenter, Op: op, DirEnt: structs.DirEntry{Key: key, Value: []byte(value)}}
	if err := s.RPC("KVS.Apply", args, &ok); err != nil {
		t.Fatalf("%s %s: %v", op, key, err)
	}
}

func kvList(t testing.TB, s *Server, prefix string, minIndex uint64, wait time.Duration) structs.IndexedDirEntries {
	t.Helper()
	var out structs.IndexedDirEntries
	args := &structs.KeyRequest{Datacenter: s.config.Datacenter, Key: prefix,
		QueryOptions: structs.QueryOptions{MinQueryIndex: minIndex, MaxQueryTime: wait}}
	if err := s.RPC("KVS.List", args, &out); err != nil {
		t.Fatalf("list %s: %v", prefix, err)
	}
	return out
}

func kvGet(t testing.TB, s *Server, key string) structs.IndexedDirEntries {
	t.Helper()
	var out structs.IndexedDirEntries
	if err := s.RPC("KVS.Get", &structs.KeyRequest{Datacenter: s.config.Datacenter, Key: key}, &out); err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	return out
}

// TestTombstoneReaping: the leader reaps tombstones once they are older
// than TombstoneTTL, and the indexes of KV reads never go backwards
// because of it, so blocking queries neither return early with an older
// index nor miss later changes.
func TestTombstoneReaping(t *testing.T) {
	cfg := testConfig(t, "dc1")
	cfg.Bootstrap = true
	cfg.TombstoneTTL = 300 * time.Millisecond
	cfg.TombstoneTTLGranularity = 50 * time.Millisecond
	s := startServer(t, cfg)
	waitForLeader(t, []*Server{s})

	kvApply(t, s, structs.KVSSet, "tomb/a", "1")
	kvApply(t, s, structs.KVSSet, "tomb/b", "2")
	kvApply(t, s, structs.KVSSet, "gone/x", "3")
	kvApply(t, s, structs.KVSDelete, "tomb/a", "")
	kvApply(t, s, structs.KVSDelete, "gone/x", "")
	kvApply(t, s, structs.KVSSet, "other", "4")

	before := kvList(t, s, "tomb/", 0, 0)
	goneBefore := kvList(t, s, "gone/", 0, 0)
	missingBefore := kvGet(t, s, "tomb/a")
	tombs, err := s.fsm.State().Tombstones("")
	if err != nil || len(tombs) != 2 {
		t.Fatalf("tombstones before reaping = %v, %v", tombs, err)
	}
	// The deletes moved the prefixes' indexes past their remaining keys.
	if before.Index <= before.Entries[0].ModifyIndex || goneBefore.Index == 0 || len(goneBefore.Entries) != 0 {
		t.Fatalf("before reaping: tomb/ %+v, gone/ %+v", before, goneBefore)
	}

	// A blocking query at the current index waits through the reap.
	type result struct {
		out structs.IndexedDirEntries
		at  time.Time
	}
	done := make(chan result, 1)
	go func() {
		var out structs.IndexedDirEntries
		args := &structs.KeyRequest{Datacenter: "dc1", Key: "tomb/",
			QueryOptions: structs.QueryOptions{MinQueryIndex: before.Index, MaxQueryTime: 10 * time.Second}}
		if err := s.RPC("KVS.List", args, &out); err != nil {
			t.Errorf("blocking list: %v", err)
		}
		done <- result{out, time.Now()}
	}()

	waitFor(t, "tombstones reaped", 5*time.Second, func() error {
		tombs, err := s.fsm.State().Tombstones("")
		if err != nil {
			return err
		}
		if len(tombs) != 0 {
			return fmt.Errorf("%d tombstones left", len(tombs))
		}
		return nil
	})
	select {
	case r := <-done:
		t.Fatalf("blocking query returned on the reap, with index %d (was %d)", r.out.Index, before.Index)
	case <-time.After(200 * time.Millisecond):
	}

	for _, c := range []struct {
		what      string
		got, was  uint64
		wantEqual bool
	}{
		{"list tomb/", kvList(t, s, "tomb/", 0, 0).Index, before.Index, false},
		{"list gone/", kvList(t, s, "gone/", 0, 0).Index, goneBefore.Index, false},
		{"get of the deleted key", kvGet(t, s, "tomb/a").Index, missingBefore.Index, false},
	} {
		if c.got < c.was {
			t.Errorf("%s: index went back from %d to %d after the reap", c.what, c.was, c.got)
		}
	}

	// A write under the prefix still wakes the waiting query.
	kvApply(t, s, structs.KVSSet, "tomb/c", "5")
	select {
	case r := <-done:
		if r.out.Index <= before.Index || len(r.out.Entries) != 2 {
			t.Fatalf("blocking query after the write = index %d, %d entries (was %d)", r.out.Index, len(r.out.Entries), before.Index)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a write after the reap did not wake the blocking query")
	}
}

// TestTombstoneReapIndex: the reap index is the newest sampled index that
// is at least TombstoneTTL old, and nothing is reaped without tombstones.
func TestTombstoneReapIndex(t *testing.T) {
	cfg := testConfig(t, "dc1")
	cfg.Bootstrap = true
	cfg.TombstoneTTL = time.Hour
	cfg.TombstoneTTLGranularity = time.Hour
	s := startServer(t, cfg)
	waitForLeader(t, []*Server{s})
	kvApply(t, s, structs.KVSSet, "r/a", "1")
	kvApply(t, s, structs.KVSDelete, "r/a", "")
	if idx := s.tombstoneReapIndex(); idx != 0 {
		t.Fatalf("reap index of fresh tombstones = %d, want 0", idx)
	}
	// Age the samples by hand.
	s.tombstones.mu.Lock()
	for i := range s.tombstones.samples {
		s.tombstones.samples[i].at = s.tombstones.samples[i].at.Add(-2 * time.Hour)
	}
	sampled := s.tombstones.samples[len(s.tombstones.samples)-1].index
	s.tombstones.mu.Unlock()
	if idx := s.tombstoneReapIndex(); idx != sampled {
		t.Fatalf("reap index = %d, want the old sample %d", idx, sampled)
	}
	// Those samples are used up; the one just taken is fresh.
	if idx := s.tombstoneReapIndex(); idx != 0 {
		t.Fatalf("second reap index = %d, want 0", idx)
	}
}
