package server

import (
	"bytes"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/meridian-sd/meridian/state"
	"github.com/meridian-sd/meridian/structs"
)

// memSink is a raft.SnapshotSink in memory.
type memSink struct {
	bytes.Buffer
	cancelled bool
}

func (m *memSink) ID() string    { return "mem" }
func (m *memSink) Cancel() error { m.cancelled = true; return nil }
func (m *memSink) Close() error  { return nil }

// kvFixture writes keys, a lock held by a session, a session with a TTL and
// a deleted key (a tombstone) through a server's endpoints.
func kvFixture(t testing.TB, s *Server) (holder, ttlSession string) {
	t.Helper()
	dc := s.config.Datacenter
	if err := s.RPC("Catalog.Register", &structs.RegisterRequest{Datacenter: dc, Node: "app1", Address: "10.0.0.1"}, &struct{}{}); err != nil {
		t.Fatal(err)
	}
	create := func(sess structs.Session) string {
		var id string
		if err := s.RPC("Session.Apply", &structs.SessionRequest{Datacenter: dc, Op: structs.SessionCreate, Session: sess}, &id); err != nil {
			t.Fatalf("create session: %v", err)
		}
		return id
	}
	holder = create(structs.Session{Node: "app1", Name: "holder", LockDelay: time.Second, Behavior: structs.SessionKeysDelete})
	ttlSession = create(structs.Session{Node: "app1", Name: "ttl", TTL: "10s"})
	kvApply(t, s, structs.KVSSet, "snap/a", "alpha")
	kvApply(t, s, structs.KVSSet, "snap/b", "beta")
	kvApply(t, s, structs.KVSSet, "snap/deleted", "x")
	kvApply(t, s, structs.KVSDelete, "snap/deleted", "")
	var ok bool
	lock := &structs.KVSRequest{Datacenter: dc, Op: structs.KVSLock, DirEnt: structs.DirEntry{Key: "snap/lock", Value: []byte("held"), Session: holder}}
	if err := s.RPC("KVS.Apply", lock, &ok); err != nil || !ok {
		t.Fatalf("lock = %v, %v", ok, err)
	}
	return holder, ttlSession
}

// kvView is what the fixture must look like after a restore.
type kvView struct {
	Entries    structs.DirEntries
	ListIndex  uint64
	Tombstones []state.Tombstone
	Sessions   structs.Sessions
}

func viewOf(t testing.TB, st *state.Store) kvView {
	t.Helper()
	idx, entries, err := st.KVSList(nil, "snap/")
	if err != nil {
		t.Fatal(err)
	}
	tombs, err := st.Tombstones("")
	if err != nil {
		t.Fatal(err)
	}
	_, sessions, err := st.SessionList(nil)
	if err != nil {
		t.Fatal(err)
	}
	return kvView{Entries: entries, ListIndex: idx, Tombstones: tombs, Sessions: sessions}
}

func checkFixture(t testing.TB, v kvView, holder, ttlSession string) {
	t.Helper()
	keys := map[string]*structs.DirEntry{}
	for _, e := range v.Entries {
		keys[e.Key] = e
	}
	if len(keys) != 3 || string(keys["snap/a"].Value) != "alpha" || keys["snap/lock"] == nil ||
		keys["snap/lock"].Session != holder || keys["snap/lock"].LockIndex != 1 {
		t.Fatalf("keys = %+v", v.Entries)
	}
	if len(v.Tombstones) != 1 || v.Tombstones[0].Key != "snap/deleted" || v.ListIndex < v.Tombstones[0].Index {
		t.Fatalf("tombstones %+v, list index %d", v.Tombstones, v.ListIndex)
	}
	ids := map[string]*structs.Session{}
	for _, s := range v.Sessions {
		ids[s.ID] = s
	}
	if h := ids[holder]; h == nil || h.Behavior != structs.SessionKeysDelete || h.LockDelay != time.Second {
		t.Fatalf("holder session = %+v", h)
	}
	if s := ids[ttlSession]; s == nil || s.TTL != "10s" {
		t.Fatalf("ttl session = %+v", s)
	}
}

// TestFSMSnapshotRestoreKV: an FSM snapshot carries KV entries, tombstones
// and sessions, and a restored FSM answers as the original did.
func TestFSMSnapshotRestoreKV(t *testing.T) {
	s := startCluster(t, "dc1", 1)[0]
	holder, ttlSession := kvFixture(t, s)
	want := viewOf(t, s.fsm.State())
	checkFixture(t, want, holder, ttlSession)

	snap, err := s.fsm.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil || sink.cancelled {
		t.Fatalf("persist = %v (cancelled %v)", err, sink.cancelled)
	}
	snap.Release()

	fsm, err := newFSM(hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	old := fsm.State()
	if err := fsm.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	select {
	case <-old.AbandonCh():
	default:
		t.Fatal("the replaced store was not abandoned")
	}
	got := viewOf(t, fsm.State())
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("restored view differs:\n got %+v\nwant %+v", got, want)
	}
	// The restored store keeps working: the lock holder's session still
	// governs its key.
	if err := fsm.State().SessionDestroy(want.ListIndex+10, holder); err != nil {
		t.Fatal(err)
	}
	if _, e, _ := fsm.State().KVSGet(nil, "snap/lock"); e != nil {
		t.Fatalf("key of a destroyed delete-session after restore = %+v", e)
	}
}

// TestRestartFromSnapshot: a server restarted on its data dir, whose log was
// compacted into a snapshot, comes back with its KV entries, tombstones and
// sessions, and its TTL timers running again.
func TestRestartFromSnapshot(t *testing.T) {
	cfg := testConfig(t, "dc1")
	cfg.Bootstrap = true
	cfg.SessionTTLMin = 100 * time.Millisecond
	// Keep no log behind the snapshot, so that the restart can only come
	// back through Restore.
	cfg.RaftConfig.TrailingLogs = 0
	s := startServer(t, cfg)
	waitForLeader(t, []*Server{s})
	holder, ttlSession := kvFixture(t, s)
	want := viewOf(t, s.fsm.State())

	if err := s.raft.Snapshot().Error(); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	id := identityOf(s)
	id.tweak = func(c *Config) { c.SessionTTLMin = 100 * time.Millisecond }
	s.Shutdown()

	r := startServer(t, restartConfig(t, id))
	waitForLeader(t, []*Server{r})
	if n, _ := strconv.Atoi(r.raft.Stats()["last_snapshot_index"]); n == 0 {
		t.Fatalf("restarted server has no snapshot: %v", r.raft.Stats())
	}
	checkFixture(t, viewOf(t, r.fsm.State()), holder, ttlSession)
	got := viewOf(t, r.fsm.State())
	if !reflect.DeepEqual(got.Entries, want.Entries) || !reflect.DeepEqual(got.Tombstones, want.Tombstones) {
		t.Fatalf("after restart:\n got %+v\nwant %+v", got, want)
	}
	// Writes go on from there with higher indexes.
	kvApply(t, r, structs.KVSSet, "snap/after", "y")
	if e := kvGet(t, r, "snap/after"); len(e.Entries) != 1 || e.Entries[0].ModifyIndex <= want.ListIndex {
		t.Fatalf("write after restart = %+v (list index before %d)", e, want.ListIndex)
	}
	// The new leader started the TTL timer of the restored session
	// (TestSessionTTLAcrossLeaderChange watches one fire).
	waitFor(t, "the restored session's TTL timer", 5*time.Second, func() error {
		if n := r.sessionTimers.len(); n != 1 {
			return fmt.Errorf("%d session timers, want 1", n)
		}
		return nil
	})
}
