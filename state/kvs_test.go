package state

import (
	"errors"
	"reflect"
	"testing"
	"time"

	memdb "github.com/hashicorp/go-memdb"

	"github.com/meridian-sd/meridian/structs"
)

func testSetKV(t testing.TB, s *Store, idx uint64, key, value string) {
	t.Helper()
	if err := s.KVSSet(idx, &structs.DirEntry{Key: key, Value: []byte(value)}); err != nil {
		t.Fatalf("KVSSet(%q): %v", key, err)
	}
}

// testLockedKey registers node n1 with a passing serfHealth check, a
// session sessID on it and a key held by that session.
func testLockedKey(t testing.TB, s *Store, idx uint64, sessID, key string, behavior structs.SessionBehavior, delay time.Duration) {
	t.Helper()
	if _, n, _ := s.GetNode(nil, "n1"); n == nil {
		testRegisterNode(t, s, idx, "n1")
		testRegisterCheck(t, s, idx, "n1", structs.SerfCheckID, "", structs.HealthPassing)
	}
	sess := &structs.Session{ID: sessID, Node: "n1", Behavior: behavior, LockDelay: delay, NodeChecks: []string{structs.SerfCheckID}}
	if err := s.SessionCreate(idx, sess); err != nil {
		t.Fatalf("SessionCreate: %v", err)
	}
	ok, err := s.KVSLock(idx, &structs.DirEntry{Key: key, Value: []byte("held"), Session: sessID})
	if !ok || err != nil {
		t.Fatalf("KVSLock(%q) = %v, %v", key, ok, err)
	}
}

func TestKVSSet_Indexes(t *testing.T) {
	s := testStore(t)
	in := &structs.DirEntry{Key: "foo", Value: []byte("bar"), Flags: 3}
	if err := s.KVSSet(1, in); err != nil {
		t.Fatal(err)
	}
	if in.CreateIndex != 0 || in.ModifyIndex != 0 {
		t.Fatalf("input mutated: %+v", in)
	}
	idx, e, err := s.KVSGet(nil, "foo")
	if err != nil {
		t.Fatal(err)
	}
	if idx != 1 || e.CreateIndex != 1 || e.ModifyIndex != 1 || string(e.Value) != "bar" || e.Flags != 3 {
		t.Fatalf("KVSGet = %d %+v", idx, e)
	}
	testSetKV(t, s, 2, "foo", "baz")
	idx, e, _ = s.KVSGet(nil, "foo")
	if idx != 2 || e.CreateIndex != 1 || e.ModifyIndex != 2 {
		t.Fatalf("after update: %d %+v", idx, e)
	}
	// An identical write keeps the ModifyIndex.
	testSetKV(t, s, 3, "foo", "baz")
	idx, e, _ = s.KVSGet(nil, "foo")
	if idx != 2 || e.ModifyIndex != 2 || s.MaxIndex("kvs") != 2 {
		t.Fatalf("after identical write: %d %+v", idx, e)
	}
	if err := s.KVSSet(4, &structs.DirEntry{}); err == nil {
		t.Fatal("empty key accepted")
	}
}

func TestKVSSet_KeepsLock(t *testing.T) {
	s := testStore(t)
	testLockedKey(t, s, 1, "s1", "lock", "", 0)
	// A plain set neither drops nor takes the lock, even if it names
	// another session.
	if err := s.KVSSet(2, &structs.DirEntry{Key: "lock", Value: []byte("new"), Session: "other"}); err != nil {
		t.Fatal(err)
	}
	_, e, _ := s.KVSGet(nil, "lock")
	if e.Session != "s1" || e.LockIndex != 1 || string(e.Value) != "new" || e.ModifyIndex != 2 {
		t.Fatalf("after plain set: %+v", e)
	}
	// A plain set of a new key does not take a lock.
	if err := s.KVSSet(3, &structs.DirEntry{Key: "fresh", Session: "s1", LockIndex: 9}); err != nil {
		t.Fatal(err)
	}
	_, e, _ = s.KVSGet(nil, "fresh")
	if e.Session != "" || e.LockIndex != 0 {
		t.Fatalf("plain set took a lock: %+v", e)
	}
}

func TestKVSGet_IndexNeverGoesBackwards(t *testing.T) {
	s := testStore(t)
	var last uint64
	step := func(what string) {
		t.Helper()
		idx, _, err := s.KVSGet(nil, "k")
		if err != nil {
			t.Fatal(err)
		}
		if idx < last {
			t.Fatalf("%s: index went back from %d to %d", what, last, idx)
		}
		last = idx
	}
	step("empty")
	testSetKV(t, s, 5, "other", "x")
	step("other key set")
	testSetKV(t, s, 6, "k", "v")
	step("set")
	testSetKV(t, s, 7, "other", "y")
	step("other key updated")
	if err := s.KVSDelete(8, "k"); err != nil {
		t.Fatal(err)
	}
	step("delete")
	if last < 8 {
		t.Fatalf("index after delete = %d, want >= 8", last)
	}
	if err := s.ReapTombstones(8); err != nil {
		t.Fatal(err)
	}
	step("reap")
}

func TestKVSGet_Watch(t *testing.T) {
	s := testStore(t)
	testSetKV(t, s, 1, "a", "1")
	testSetKV(t, s, 2, "b", "1")
	ws := memdb.NewWatchSet()
	s.KVSGet(ws, "a")
	testSetKV(t, s, 3, "b", "2")
	if watchFired(ws) {
		t.Fatal("a write to b fired the watch on a")
	}
	testSetKV(t, s, 4, "a", "2")
	if !watchFired(ws) {
		t.Fatal("a write to a did not fire its watch")
	}
	ws = memdb.NewWatchSet()
	s.KVSGet(ws, "missing")
	testSetKV(t, s, 5, "missing", "now")
	if !watchFired(ws) {
		t.Fatal("creating a watched missing key did not fire")
	}
}

func TestKVSList_TombstonesKeepIndexMonotonic(t *testing.T) {
	s := testStore(t)
	testSetKV(t, s, 1, "foo/a", "1")
	testSetKV(t, s, 2, "foo/b", "1")
	testSetKV(t, s, 3, "bar/x", "1")

	idx, entries, err := s.KVSList(nil, "foo/")
	if err != nil {
		t.Fatal(err)
	}
	if idx != 2 || len(entries) != 2 {
		t.Fatalf("KVSList = %d %v", idx, entries)
	}

	ws := memdb.NewWatchSet()
	s.KVSList(ws, "foo/")
	wsOther := memdb.NewWatchSet()
	s.KVSList(wsOther, "bar/")
	if err := s.KVSDelete(4, "foo/b"); err != nil {
		t.Fatal(err)
	}
	if !watchFired(ws) {
		t.Fatal("delete under the prefix did not wake the list watcher")
	}
	if watchFired(wsOther) {
		t.Fatal("delete under foo/ woke the bar/ watcher")
	}
	idx, entries, _ = s.KVSList(nil, "foo/")
	if idx != 4 || len(entries) != 1 {
		t.Fatalf("after delete: %d %v, want index 4 (the tombstone) and one key", idx, entries)
	}
	if idx, _, _ := s.KVSList(nil, "bar/"); idx != 3 {
		t.Fatalf("bar/ index = %d, want 3 (unaffected)", idx)
	}

	// Reaping the tombstone must not move the index back to 1.
	if err := s.ReapTombstones(4); err != nil {
		t.Fatal(err)
	}
	if ts, _ := s.Tombstones(""); len(ts) != 0 {
		t.Fatalf("tombstones after reap: %v", ts)
	}
	idx, _, _ = s.KVSList(nil, "foo/")
	if idx < 4 {
		t.Fatalf("after reap: index %d went backwards from 4", idx)
	}
	idx, _, _ = s.KVSListKeys(nil, "foo/", "")
	if idx < 4 {
		t.Fatalf("keys after reap: index %d went backwards from 4", idx)
	}
	// Deleting everything and reaping leaves an index past the delete.
	if err := s.KVSDeleteTree(5, "foo/"); err != nil {
		t.Fatal(err)
	}
	if idx, _, _ := s.KVSList(nil, "foo/"); idx != 5 {
		t.Fatalf("after delete-tree: index %d, want 5", idx)
	}
	if err := s.ReapTombstones(10); err != nil {
		t.Fatal(err)
	}
	if idx, e, _ := s.KVSList(nil, "foo/"); idx < 5 || len(e) != 0 {
		t.Fatalf("after final reap: index %d (want >= 5), entries %v", idx, e)
	}
}

func TestReapTombstones_OnlyUpToIndex(t *testing.T) {
	s := testStore(t)
	for i, k := range []string{"a", "b", "c"} {
		testSetKV(t, s, uint64(i+1), k, "v")
	}
	for i, k := range []string{"a", "b", "c"} {
		if err := s.KVSDelete(uint64(i+10), k); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.ReapTombstones(11); err != nil {
		t.Fatal(err)
	}
	ts, _ := s.Tombstones("")
	if want := []Tombstone{{Key: "c", Index: 12}}; !reflect.DeepEqual(ts, want) {
		t.Fatalf("tombstones = %v, want %v", ts, want)
	}
}

func TestKVSListKeys(t *testing.T) {
	s := testStore(t)
	for i, k := range []string{"a/b/1", "a/b/2", "a/b-c/1", "a/c", "a/", "b", "a/b/"} {
		testSetKV(t, s, uint64(i+1), k, "v")
	}
	tests := []struct {
		prefix, sep string
		want        []string
	}{
		{"", "", []string{"a/", "a/b-c/1", "a/b/", "a/b/1", "a/b/2", "a/c", "b"}},
		{"", "/", []string{"a/", "b"}},
		{"a/", "/", []string{"a/", "a/b-c/", "a/b/", "a/c"}},
		{"a/b", "/", []string{"a/b-c/", "a/b/"}},
		{"a/b/", "/", []string{"a/b/", "a/b/1", "a/b/2"}},
		{"zzz", "/", []string{}},
	}
	for _, tt := range tests {
		idx, keys, err := s.KVSListKeys(nil, tt.prefix, tt.sep)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(keys, tt.want) {
			t.Errorf("KVSListKeys(%q, %q) = %q, want %q", tt.prefix, tt.sep, keys, tt.want)
		}
		if idx == 0 {
			t.Errorf("KVSListKeys(%q, %q) index 0", tt.prefix, tt.sep)
		}
	}
}

func TestKVSDelete(t *testing.T) {
	s := testStore(t)
	testSetKV(t, s, 1, "k", "v")
	if err := s.KVSDelete(2, "k"); err != nil {
		t.Fatal(err)
	}
	if _, e, _ := s.KVSGet(nil, "k"); e != nil {
		t.Fatalf("key still there: %+v", e)
	}
	if ts, _ := s.Tombstones("k"); len(ts) != 1 || ts[0].Index != 2 {
		t.Fatalf("tombstones = %v", ts)
	}
	if s.MaxIndex("kvs") != 2 || s.MaxIndex("tombstones") != 2 {
		t.Fatalf("indexes kvs=%d tombstones=%d, want 2", s.MaxIndex("kvs"), s.MaxIndex("tombstones"))
	}
	// Deleting a missing key changes nothing.
	if err := s.KVSDelete(3, "k"); err != nil {
		t.Fatal(err)
	}
	if s.MaxIndex("kvs") != 2 {
		t.Fatal("deleting a missing key moved the index")
	}
}

func TestKVSDeleteCAS(t *testing.T) {
	s := testStore(t)
	testSetKV(t, s, 5, "k", "v")
	tests := []struct {
		name    string
		key     string
		cidx    uint64
		want    bool
		present bool
	}{
		{"stale index", "k", 4, false, true},
		{"zero index", "k", 0, false, true},
		{"matching index", "k", 5, true, false},
		{"missing key", "nope", 3, true, false},
	}
	for i, tt := range tests {
		ok, err := s.KVSDeleteCAS(uint64(10+i), tt.cidx, tt.key)
		if err != nil {
			t.Fatal(err)
		}
		if ok != tt.want {
			t.Errorf("%s: ok = %v, want %v", tt.name, ok, tt.want)
		}
		_, e, _ := s.KVSGet(nil, tt.key)
		if (e != nil) != tt.present {
			t.Errorf("%s: present = %v, want %v", tt.name, e != nil, tt.present)
		}
	}
}

func TestKVSDeleteTree(t *testing.T) {
	s := testStore(t)
	for i, k := range []string{"a/1", "a/2", "a/b/3", "ab", "b"} {
		testSetKV(t, s, uint64(i+1), k, "v")
	}
	if err := s.KVSDeleteTree(10, "a/"); err != nil {
		t.Fatal(err)
	}
	_, keys, _ := s.KVSListKeys(nil, "", "")
	if want := []string{"ab", "b"}; !reflect.DeepEqual(keys, want) {
		t.Fatalf("keys = %v, want %v", keys, want)
	}
	ts, _ := s.Tombstones("")
	if len(ts) != 3 {
		t.Fatalf("tombstones = %v, want one per deleted key", ts)
	}
	if err := s.KVSDeleteTree(11, "zzz"); err != nil {
		t.Fatal(err)
	}
	if s.MaxIndex("kvs") != 10 {
		t.Fatal("deleting an empty tree moved the index")
	}
}

func TestKVSSetCAS(t *testing.T) {
	s := testStore(t)
	tests := []struct {
		name   string
		idx    uint64
		key    string
		modify uint64
		want   bool
		value  string // the stored value afterwards
	}{
		{"create-only on missing key", 1, "k", 0, true, "v1"},
		{"create-only on existing key", 2, "k", 0, false, "v1"},
		{"stale index", 3, "k", 7, false, "v1"},
		{"matching index", 4, "k", 1, true, "v4"},
		{"old index after update", 5, "k", 1, false, "v4"},
		{"non-zero index on missing key", 6, "other", 1, false, ""},
	}
	for _, tt := range tests {
		e := &structs.DirEntry{Key: tt.key, Value: []byte("v" + string(rune('0'+tt.idx))), ModifyIndex: tt.modify}
		ok, err := s.KVSSetCAS(tt.idx, e)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if ok != tt.want {
			t.Errorf("%s: ok = %v, want %v", tt.name, ok, tt.want)
		}
		_, got, _ := s.KVSGet(nil, tt.key)
		var value string
		if got != nil {
			value = string(got.Value)
		}
		if value != tt.value {
			t.Errorf("%s: value = %q, want %q", tt.name, value, tt.value)
		}
	}
	_, e, _ := s.KVSGet(nil, "k")
	if e.CreateIndex != 1 || e.ModifyIndex != 4 {
		t.Fatalf("indexes = %d/%d, want 1/4", e.CreateIndex, e.ModifyIndex)
	}
}

func TestKVSLock(t *testing.T) {
	s := testStore(t)
	testRegisterNode(t, s, 1, "n1")
	testSession(t, s, 2, "s1", "n1")
	testSession(t, s, 3, "s2", "n1")

	_, err := s.KVSLock(4, &structs.DirEntry{Key: "k", Session: "nope"})
	if !errors.Is(err, structs.ErrSessionNotFound) {
		t.Fatalf("lock with unknown session: err = %v, want ErrSessionNotFound", err)
	}
	if _, err := s.KVSLock(4, &structs.DirEntry{Key: "k"}); err == nil {
		t.Fatal("lock without session accepted")
	}

	steps := []struct {
		name      string
		op        func(idx uint64, e *structs.DirEntry) (bool, error)
		session   string
		value     string
		want      bool
		holder    string
		lockIndex uint64
	}{
		{"s1 acquires", s.KVSLock, "s1", "a", true, "s1", 1},
		{"s2 refused", s.KVSLock, "s2", "b", false, "s1", 1},
		{"s1 re-acquires without a new LockIndex", s.KVSLock, "s1", "c", true, "s1", 1},
		{"s2 cannot release", s.KVSUnlock, "s2", "d", false, "s1", 1},
		{"s1 releases", s.KVSUnlock, "s1", "e", true, "", 1},
		{"s2 acquires", s.KVSLock, "s2", "f", true, "s2", 2},
	}
	wantValue := "a"
	for i, st := range steps {
		ok, err := st.op(uint64(10+i), &structs.DirEntry{Key: "k", Value: []byte(st.value), Session: st.session})
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if ok != st.want {
			t.Fatalf("%s: ok = %v, want %v", st.name, ok, st.want)
		}
		if ok {
			wantValue = st.value
		}
		_, e, _ := s.KVSGet(nil, "k")
		if e.Session != st.holder || e.LockIndex != st.lockIndex || string(e.Value) != wantValue {
			t.Fatalf("%s: entry = %+v, want holder %q lock index %d value %q", st.name, e, st.holder, st.lockIndex, wantValue)
		}
	}
	if ok, err := s.KVSUnlock(20, &structs.DirEntry{Key: "missing", Session: "s1"}); ok || err != nil {
		t.Fatalf("unlock of a missing key = %v, %v", ok, err)
	}
}

func TestKVSLockDelay(t *testing.T) {
	s := testStore(t)
	clock := newFakeClock()
	s.SetClock(clock.Now)
	testLockedKey(t, s, 1, "s1", "k", structs.SessionKeysRelease, 10*time.Second)
	testLockedKey(t, s, 2, "s0", "nodelay", structs.SessionKeysRelease, 0)
	testSession(t, s, 3, "s2", "n1")

	if !s.KVSLockDelay("k").IsZero() {
		t.Fatal("lock delay before the session ended")
	}
	if err := s.SessionDestroy(4, "s1"); err != nil {
		t.Fatal(err)
	}
	if got, want := s.KVSLockDelay("k"), clock.Now().Add(10*time.Second); !got.Equal(want) {
		t.Fatalf("KVSLockDelay = %v, want %v", got, want)
	}
	// The delay does not stop plain writes.
	testSetKV(t, s, 6, "k", "plain")

	// A session without delay leaves none.
	if err := s.SessionDestroy(7, "s0"); err != nil {
		t.Fatal(err)
	}
	if !s.KVSLockDelay("nodelay").IsZero() {
		t.Fatal("a session without lock delay left one")
	}

	clock.Advance(10*time.Second + time.Millisecond)
	if !s.KVSLockDelay("k").IsZero() {
		t.Fatal("lock delay still active after it expired")
	}
}

// TestKVSLock_IgnoresLockDelay: applying a lock entry must not depend on
// the in-memory lock delays, or a server replaying its log after a restart
// (when the delay it rebuilds is fresh again) would refuse a lock that the
// others accepted. Servers check the delay before they submit the entry.
func TestKVSLock_IgnoresLockDelay(t *testing.T) {
	s := testStore(t)
	clock := newFakeClock()
	s.SetClock(clock.Now)
	testLockedKey(t, s, 1, "s1", "k", structs.SessionKeysRelease, time.Minute)
	testSession(t, s, 2, "s2", "n1")
	if err := s.SessionDestroy(3, "s1"); err != nil {
		t.Fatal(err)
	}
	if s.KVSLockDelay("k").IsZero() {
		t.Fatal("no lock delay after the holder ended")
	}
	ok, err := s.KVSLock(4, &structs.DirEntry{Key: "k", Session: "s2"})
	if !ok || err != nil {
		t.Fatalf("lock applied during the delay = %v, %v, want taken", ok, err)
	}
	_, e, err := s.KVSGet(nil, "k")
	if err != nil || e == nil || e.Session != "s2" {
		t.Fatalf("after lock: %+v, %v", e, err)
	}
}

func TestKVSLockDelay_NotSetByRolledBackInvalidation(t *testing.T) {
	s := testStore(t)
	testLockedKey(t, s, 1, "s1", "k", structs.SessionKeysRelease, time.Minute)
	// The serfHealth check turns critical, which invalidates s1, but a
	// later check of the same registration fails: nothing may stick.
	req := &structs.RegisterRequest{
		Node: "n1", Address: "127.0.0.1",
		Checks: structs.HealthChecks{
			{CheckID: structs.SerfCheckID, Status: structs.HealthCritical},
			{CheckID: "bad", ServiceID: "no-such-service", Status: structs.HealthPassing},
		},
	}
	if err := s.EnsureRegistration(2, req); !errors.Is(err, ErrMissingService) {
		t.Fatalf("EnsureRegistration err = %v, want ErrMissingService", err)
	}
	if !s.KVSLockDelay("k").IsZero() {
		t.Fatal("a rolled-back invalidation set a lock delay")
	}
	if _, sess, _ := s.SessionGet(nil, "s1"); sess == nil {
		t.Fatal("a rolled-back invalidation destroyed the session")
	}
	if _, e, _ := s.KVSGet(nil, "k"); e.Session != "s1" {
		t.Fatalf("a rolled-back invalidation released the lock: %+v", e)
	}
}

// TestKVSLockDelay_SetBeforeReleaseIsVisible: a reader that sees a key
// released by a session's invalidation also sees the lock delay on it.
// memdb publishes the new state and wakes watchers before it runs a
// transaction's deferred functions, so a delay started from tx.Defer left
// a window in which a contender saw the key free and no delay.
func TestKVSLockDelay_SetBeforeReleaseIsVisible(t *testing.T) {
	for round := 0; round < 200; round++ {
		s := testStore(t)
		testLockedKey(t, s, 1, "s1", "k", structs.SessionKeysRelease, time.Minute)
		ws := memdb.NewWatchSet()
		if _, e, err := s.KVSGet(ws, "k"); err != nil || e == nil || e.Session != "s1" {
			t.Fatalf("locked key = %+v, %v", e, err)
		}
		seen := make(chan error, 1)
		go func() {
			// Spin on the key, as a busy contender would, until it is free.
			deadline := time.Now().Add(10 * time.Second)
			for time.Now().Before(deadline) {
				_, e, err := s.KVSGet(nil, "k")
				if err != nil {
					seen <- err
					return
				}
				if e != nil && e.Session == "" {
					if s.KVSLockDelay("k").IsZero() {
						seen <- errors.New("the key was free with no lock delay on it")
						return
					}
					seen <- nil
					return
				}
			}
			seen <- errors.New("the key was never released")
		}()
		if err := s.SessionDestroy(3, "s1"); err != nil {
			t.Fatal(err)
		}
		if err := <-seen; err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
}
