package state

import (
	"bufio"
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/meridian-sd/meridian/structs"
)

// testRichStore fills a store with every kind of record.
func testRichStore(t testing.TB) *Store {
	t.Helper()
	s := testStore(t)
	if err := s.EnsureRegistration(1, testFullRegistration()); err != nil {
		t.Fatal(err)
	}
	req := &structs.RegisterRequest{
		Node: "n2", Address: "127.0.0.2", Datacenter: "dc1",
		Service: &structs.NodeService{ID: "db1", Service: "db", Port: 5432, Tags: []string{"primary"},
			TaggedAddresses: map[string]structs.ServiceAddress{"lan": {Address: "127.0.0.2", Port: 5432}}},
		Checks: structs.HealthChecks{
			{CheckID: structs.SerfCheckID, Status: structs.HealthPassing},
			{CheckID: "db-check", ServiceID: "db1", Status: structs.HealthWarning, Notes: "slow",
				Definition: structs.HealthCheckDefinition{TCP: "127.0.0.2:5432", Interval: structs.Duration(10 * time.Second)}},
		},
	}
	if err := s.EnsureRegistration(2, req); err != nil {
		t.Fatal(err)
	}
	testRegisterService(t, s, 3, "n2", "web2", "web", "z")
	sess := &structs.Session{ID: "sess-1", Name: "locker", Node: "n1", Behavior: structs.SessionKeysDelete,
		LockDelay: 15 * time.Second, TTL: "30s", NodeChecks: []string{structs.SerfCheckID},
		ServiceChecks: []structs.ServiceCheck{{ID: "web-http"}}}
	if err := s.SessionCreate(4, sess); err != nil {
		t.Fatal(err)
	}
	testSession(t, s, 5, "sess-2", "n2")
	testSetKV(t, s, 6, "a/b", "1")
	if err := s.KVSSet(7, &structs.DirEntry{Key: "a/flags", Flags: 42}); err != nil {
		t.Fatal(err)
	}
	testSetKV(t, s, 8, "deleted", "x")
	if err := s.KVSDelete(9, "deleted"); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.KVSLock(10, &structs.DirEntry{Key: "lock", Value: []byte("held"), Session: "sess-1"}); !ok || err != nil {
		t.Fatalf("lock = %v %v", ok, err)
	}
	c := testCoord()
	c.Vec[1] = 0.125
	if err := s.CoordinateBatchUpdate(11, structs.Coordinates{{Node: "n1", Coord: c}, {Node: "n2", Segment: "seg", Coord: testCoord()}}); err != nil {
		t.Fatal(err)
	}
	testRegisterService(t, s, 12, "n2", "gone", "gone")
	if err := s.DeleteService(13, "n2", "gone"); err != nil {
		t.Fatal(err)
	}
	testSetKV(t, s, 14, "reaped", "x")
	if err := s.KVSDelete(15, "reaped"); err != nil {
		t.Fatal(err)
	}
	if err := s.ReapTombstones(15); err != nil {
		t.Fatal(err)
	}
	testSetKV(t, s, 16, "reaped2", "x")
	if err := s.KVSDelete(17, "reaped2"); err != nil {
		t.Fatal(err)
	}
	testACLData(t, s, 18)
	testPreparedQueryData(t, s, 19)
	return s
}

func testPersist(t testing.TB, s *Store) []byte {
	t.Helper()
	snap := s.Snapshot()
	defer snap.Close()
	var buf bytes.Buffer
	if err := snap.Persist(&buf); err != nil {
		t.Fatalf("Persist: %v", err)
	}
	return buf.Bytes()
}

// storeView reads everything a client can see, with indexes.
func storeView(t testing.TB, s *Store) map[string]any {
	t.Helper()
	v := map[string]any{}
	add := func(name string, idx uint64, val any, err error) {
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		v[name] = []any{idx, val}
	}
	i, a, err := s.Nodes(nil, nil)
	add("Nodes", i, a, err)
	i, b, err := s.Services(nil, nil)
	add("Services", i, b, err)
	for _, svc := range []string{"web", "db", "gone", "never"} {
		i, c, err := s.ServiceNodes(nil, svc, nil, nil)
		add("ServiceNodes/"+svc, i, c, err)
		i, d, err := s.CheckServiceNodes(nil, svc, nil, nil)
		add("CheckServiceNodes/"+svc, i, d, err)
		i, e, err := s.ServiceChecks(nil, svc, nil)
		add("ServiceChecks/"+svc, i, e, err)
	}
	for _, n := range []string{"n1", "n2"} {
		i, f, err := s.NodeServices(nil, n)
		add("NodeServices/"+n, i, f, err)
		i, g, err := s.NodeChecks(nil, n)
		add("NodeChecks/"+n, i, g, err)
		i, h, err := s.NodeSessions(nil, n)
		add("NodeSessions/"+n, i, h, err)
		i, j, err := s.Coordinate(nil, n)
		add("Coordinate/"+n, i, j, err)
	}
	i, k, err := s.ChecksInState(nil, structs.HealthAny, nil)
	add("ChecksInState", i, k, err)
	i, l, err := s.SessionList(nil)
	add("SessionList", i, l, err)
	for _, p := range []string{"", "a/", "deleted", "reaped", "zzz"} {
		i, m, err := s.KVSList(nil, p)
		add("KVSList/"+p, i, m, err)
		i, n, err := s.KVSListKeys(nil, p, "/")
		add("KVSListKeys/"+p, i, n, err)
		i, o, err := s.KVSGet(nil, p)
		add("KVSGet/"+p, i, o, err)
	}
	i, q, err := s.Coordinates(nil)
	add("Coordinates", i, q, err)
	ts, err := s.Tombstones("")
	add("Tombstones", 0, ts, err)
	aclView(t, s, add)
	preparedQueryView(t, s, add)
	v["ACLBootstrapIndex"] = s.ACLBootstrapIndex()
	for _, tbl := range []string{"nodes", "services", "checks", "kvs", "tombstones", "sessions", "coordinates"} {
		v["MaxIndex/"+tbl] = s.MaxIndex(tbl)
	}
	v["MaxIndex"] = s.MaxIndex()
	return v
}

func TestSnapshotRestore_RoundTrip(t *testing.T) {
	s := testRichStore(t)
	data := testPersist(t, s)
	r, err := Restore(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	want, got := storeView(t, s), storeView(t, r)
	for k := range want {
		if !reflect.DeepEqual(got[k], want[k]) {
			t.Errorf("%s after restore:\n got %#v\nwant %#v", k, got[k], want[k])
		}
	}
	if len(got) != len(want) {
		t.Errorf("views differ in size: %d vs %d", len(got), len(want))
	}
	// A second round trip gives the same view again.
	r2, err := Restore(bytes.NewReader(testPersist(t, r)))
	if err != nil {
		t.Fatalf("second Restore: %v", err)
	}
	if !reflect.DeepEqual(storeView(t, r2), want) {
		t.Error("second round trip differs")
	}
}

func TestSnapshotRestore_BehaviourSurvives(t *testing.T) {
	s := testRichStore(t)
	r, err := Restore(bytes.NewReader(testPersist(t, s)))
	if err != nil {
		t.Fatal(err)
	}
	// Session-to-check bindings were rebuilt: the web check turning
	// critical invalidates sess-1, whose delete behaviour removes its key.
	testRegisterCheck(t, r, 100, "n1", "web-http", "web1", structs.HealthCritical)
	if _, sess, _ := r.SessionGet(nil, "sess-1"); sess != nil {
		t.Fatal("restored session not invalidated by its check")
	}
	if _, e, _ := r.KVSGet(nil, "lock"); e != nil {
		t.Fatalf("restored lock not deleted: %+v", e)
	}
	// Indexes carry on from where they were: nothing goes backwards.
	if idx, _, _ := r.KVSList(nil, "reaped"); idx < 17 {
		t.Fatalf("reaped prefix index = %d, want >= 17", idx)
	}
	// The extinct service keeps its extinction index.
	if idx, _, _ := r.ServiceNodes(nil, "gone", nil, nil); idx != 13 {
		t.Fatalf("extinct service index = %d, want 13", idx)
	}
}

func TestSnapshot_PointInTime(t *testing.T) {
	s := testStore(t)
	testSetKV(t, s, 1, "before", "x")
	snap := s.Snapshot()
	defer snap.Close()
	testSetKV(t, s, 2, "after", "y")
	testRegisterNode(t, s, 3, "n1")
	if snap.LastIndex() != 1 {
		t.Fatalf("LastIndex = %d, want 1", snap.LastIndex())
	}
	var buf bytes.Buffer
	if err := snap.Persist(&buf); err != nil {
		t.Fatal(err)
	}
	r, err := Restore(&buf)
	if err != nil {
		t.Fatal(err)
	}
	_, keys, _ := r.KVSListKeys(nil, "", "")
	if !reflect.DeepEqual(keys, []string{"before"}) {
		t.Fatalf("keys = %v, want only the write before the snapshot", keys)
	}
	if _, n, _ := r.GetNode(nil, "n1"); n != nil {
		t.Fatal("node written after the snapshot was restored")
	}
	if r.MaxIndex() != 1 {
		t.Fatalf("restored MaxIndex = %d, want 1", r.MaxIndex())
	}
}

// craft builds a snapshot from hand-made records.
func craft(t testing.TB, version byte, records ...func(*recordWriter) error) []byte {
	t.Helper()
	var buf bytes.Buffer
	bw := bufio.NewWriter(&buf)
	bw.WriteString(snapshotMagic)
	bw.WriteByte(version)
	rw := &recordWriter{w: bw, h: structs.NewMsgpackHandle()}
	for _, rec := range records {
		if err := rec(rw); err != nil {
			t.Fatal(err)
		}
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func rec(typ recordType, obj any) func(*recordWriter) error {
	return func(rw *recordWriter) error { return rw.write(typ, obj) }
}

func raw(b ...byte) func(*recordWriter) error {
	return func(rw *recordWriter) error { _, err := rw.w.Write(b); return err }
}

func TestRestore_RejectsGarbage(t *testing.T) {
	end := rec(recordEnd, nil)
	node := rec(recordNode, &structs.Node{Node: "n1"})
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"short header", []byte("MRDN")},
		{"wrong magic", []byte("NOTSNAPS\x01\xff\x00")},
		{"json", []byte(`{"nodes": []}`)},
		{"future version", craft(t, snapshotVersion+1, end)},
		{"no end record", craft(t, snapshotVersion, node)},
		{"end with payload", craft(t, snapshotVersion, raw(0xff, 1, 0))},
		{"unknown record type", craft(t, snapshotVersion, rec(77, &structs.Node{Node: "n1"}), end)},
		{"huge length", craft(t, snapshotVersion, raw(byte(recordNode), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f))},
		{"length past the data", craft(t, snapshotVersion, raw(byte(recordNode), 100, 1, 2, 3))},
		{"bad varint", craft(t, snapshotVersion, raw(byte(recordNode), 0x80))},
		{"payload not msgpack", craft(t, snapshotVersion, raw(byte(recordNode), 3, 0xc1, 0xc1, 0xc1), end)},
		{"payload of the wrong shape", craft(t, snapshotVersion, rec(recordNode, "just a string"), end)},
		{"stray bytes in a record", craft(t, snapshotVersion, raw(byte(recordNode), 2, 0xc0, 0xc0), end)},
		{"node without name", craft(t, snapshotVersion, rec(recordNode, &structs.Node{Address: "x"}), end)},
		{"duplicate node", craft(t, snapshotVersion, node, node, end)},
		{"service before its node", craft(t, snapshotVersion, rec(recordService, &structs.ServiceNode{Node: "n1", ServiceID: "a", ServiceName: "a"}), end)},
		{"check of unknown service", craft(t, snapshotVersion, node, rec(recordCheck, &structs.HealthCheck{Node: "n1", CheckID: "c", Status: "passing", ServiceID: "x"}), end)},
		{"check with bad status", craft(t, snapshotVersion, node, rec(recordCheck, &structs.HealthCheck{Node: "n1", CheckID: "c", Status: "odd"}), end)},
		{"session on unknown check", craft(t, snapshotVersion, node, rec(recordSession, &structs.Session{ID: "s", Node: "n1", NodeChecks: []string{"c"}}), end)},
		{"key held by unknown session", craft(t, snapshotVersion, rec(recordKV, &structs.DirEntry{Key: "k", Session: "s"}), end)},
		{"key without name", craft(t, snapshotVersion, rec(recordKV, &structs.DirEntry{Value: []byte("v")}), end)},
		{"tombstone without key", craft(t, snapshotVersion, rec(recordTombstone, &Tombstone{Index: 3}), end)},
		{"coordinate of unknown node", craft(t, snapshotVersion, rec(recordCoordinate, &structs.Coordinate{Node: "n9", Coord: testCoord()}), end)},
		{"coordinate without value", craft(t, snapshotVersion, node, rec(recordCoordinate, &structs.Coordinate{Node: "n1"}), end)},
		{"index row without key", craft(t, snapshotVersion, rec(recordIndex, &indexEntry{Value: 3}), end)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := Restore(bytes.NewReader(tt.data))
			if err == nil {
				t.Fatal("garbage accepted")
			}
			if st != nil {
				t.Fatal("a store returned with an error")
			}
			if !errors.Is(err, ErrCorruptSnapshot) {
				t.Fatalf("err = %v, want it to wrap ErrCorruptSnapshot", err)
			}
			if errors.Is(err, errRecoveredPanic) {
				t.Fatalf("restore panicked: %v", err)
			}
			if !strings.HasPrefix(err.Error(), "restore: ") {
				t.Fatalf("err = %q, want context", err)
			}
		})
	}
	// The crafted records themselves are fine: only the faults above fail.
	ok := craft(t, snapshotVersion, node, rec(recordKV, &structs.DirEntry{Key: "k"}), end)
	if _, err := Restore(bytes.NewReader(ok)); err != nil {
		t.Fatalf("well-formed crafted snapshot refused: %v", err)
	}
}

func TestRestore_EveryTruncationFails(t *testing.T) {
	data := testPersist(t, testRichStore(t))
	for n := 0; n < len(data); n++ {
		if _, err := Restore(bytes.NewReader(data[:n])); err == nil {
			t.Fatalf("snapshot truncated to %d of %d bytes was accepted", n, len(data))
		}
	}
}

// FuzzRestore feeds arbitrary bytes to Restore: it must return an error or
// a usable store, and never panic.
func FuzzRestore(f *testing.F) {
	valid := testPersist(f, testRichStore(f))
	f.Add(valid)
	f.Add([]byte{})
	f.Add([]byte(snapshotMagic))
	f.Add(craft(f, snapshotVersion, rec(recordEnd, nil)))
	f.Add(craft(f, snapshotVersion, rec(recordNode, &structs.Node{Node: "n1"}), rec(recordKV, &structs.DirEntry{Key: "k"}), rec(recordEnd, nil)))
	f.Add(valid[:len(valid)/2])
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := Restore(bytes.NewReader(data))
		if errors.Is(err, errRecoveredPanic) {
			t.Fatalf("restore panicked: %v", err)
		}
		if err != nil {
			return
		}
		// Whatever was accepted must persist and restore again.
		again, err := Restore(bytes.NewReader(testPersist(t, st)))
		if err != nil {
			t.Fatalf("accepted snapshot does not round-trip: %v", err)
		}
		if again.MaxIndex() != st.MaxIndex() {
			t.Fatalf("MaxIndex %d after second round trip, want %d", again.MaxIndex(), st.MaxIndex())
		}
	})
}
