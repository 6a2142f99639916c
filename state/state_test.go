package state

import (
	"sync"
	"testing"
	"time"

	memdb "github.com/hashicorp/go-memdb"
	"github.com/hashicorp/serf/coordinate"

	"github.com/meridian-sd/meridian/structs"
)

func testStore(t testing.TB) *Store {
	t.Helper()
	s, err := NewStore()
	if err != nil {
		t.Fatalf("NewStore: %v", err)
	}
	return s
}

func testRegisterNode(t testing.TB, s *Store, idx uint64, node string) {
	t.Helper()
	if err := s.EnsureNode(idx, &structs.Node{Node: node, Address: "127.0.0.1"}); err != nil {
		t.Fatalf("EnsureNode(%q): %v", node, err)
	}
}

func testRegisterNodeMeta(t testing.TB, s *Store, idx uint64, node string, meta map[string]string) {
	t.Helper()
	if err := s.EnsureNode(idx, &structs.Node{Node: node, Address: "127.0.0.1", Meta: meta}); err != nil {
		t.Fatalf("EnsureNode(%q): %v", node, err)
	}
}

func testRegisterService(t testing.TB, s *Store, idx uint64, node, id, name string, tags ...string) {
	t.Helper()
	svc := &structs.NodeService{ID: id, Service: name, Tags: tags, Port: 8080}
	if err := s.EnsureService(idx, node, svc); err != nil {
		t.Fatalf("EnsureService(%q, %q): %v", node, id, err)
	}
}

func testRegisterCheck(t testing.TB, s *Store, idx uint64, node, checkID, serviceID, status string) {
	t.Helper()
	hc := &structs.HealthCheck{Node: node, CheckID: checkID, Name: checkID, ServiceID: serviceID, Status: status}
	if err := s.EnsureCheck(idx, hc); err != nil {
		t.Fatalf("EnsureCheck(%q, %q): %v", node, checkID, err)
	}
}

func testSession(t testing.TB, s *Store, idx uint64, id, node string, checks ...string) {
	t.Helper()
	sess := &structs.Session{ID: id, Node: node, NodeChecks: checks}
	if err := s.SessionCreate(idx, sess); err != nil {
		t.Fatalf("SessionCreate(%q): %v", id, err)
	}
}

// watchFired reports whether any channel of ws is closed, without
// blocking.
func watchFired(ws memdb.WatchSet) bool {
	for ch := range ws {
		select {
		case <-ch:
			return true
		default:
		}
	}
	return false
}

// fakeClock is a settable clock for lock delays.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestStore_EmptyReadsNeverIndexZero(t *testing.T) {
	s := testStore(t)
	if got := s.MaxIndex(); got != 0 {
		t.Fatalf("MaxIndex() of empty store = %d, want 0", got)
	}
	reads := map[string]func() (uint64, error){
		"Nodes": func() (uint64, error) { i, _, err := s.Nodes(nil, nil); return i, err },
		"GetNode": func() (uint64, error) {
			i, _, err := s.GetNode(nil, "x")
			return i, err
		},
		"Services": func() (uint64, error) { i, _, err := s.Services(nil, nil); return i, err },
		"ServiceNodes": func() (uint64, error) {
			i, _, err := s.ServiceNodes(nil, "web", nil, nil)
			return i, err
		},
		"CheckServiceNodes": func() (uint64, error) {
			i, _, err := s.CheckServiceNodes(nil, "web", nil, nil)
			return i, err
		},
		"NodeServices": func() (uint64, error) {
			i, _, err := s.NodeServices(nil, "x")
			return i, err
		},
		"NodeChecks": func() (uint64, error) { i, _, err := s.NodeChecks(nil, "x"); return i, err },
		"ServiceChecks": func() (uint64, error) {
			i, _, err := s.ServiceChecks(nil, "web", nil)
			return i, err
		},
		"ChecksInState": func() (uint64, error) {
			i, _, err := s.ChecksInState(nil, structs.HealthAny, nil)
			return i, err
		},
		"KVSGet":      func() (uint64, error) { i, _, err := s.KVSGet(nil, "k"); return i, err },
		"KVSList":     func() (uint64, error) { i, _, err := s.KVSList(nil, "k"); return i, err },
		"KVSListKeys": func() (uint64, error) { i, _, err := s.KVSListKeys(nil, "", "/"); return i, err },
		"SessionGet":  func() (uint64, error) { i, _, err := s.SessionGet(nil, "x"); return i, err },
		"SessionList": func() (uint64, error) { i, _, err := s.SessionList(nil); return i, err },
		"NodeSessions": func() (uint64, error) {
			i, _, err := s.NodeSessions(nil, "x")
			return i, err
		},
		"Coordinates": func() (uint64, error) { i, _, err := s.Coordinates(nil); return i, err },
		"Coordinate":  func() (uint64, error) { i, _, err := s.Coordinate(nil, "x"); return i, err },
	}
	for name, read := range reads {
		t.Run(name, func(t *testing.T) {
			idx, err := read()
			if err != nil {
				t.Fatalf("error: %v", err)
			}
			if idx == 0 {
				t.Fatalf("index = 0, want >= 1 so blocking queries do not spin")
			}
		})
	}
}

func TestStore_MaxIndex(t *testing.T) {
	s := testStore(t)
	testRegisterNode(t, s, 3, "n1")
	testRegisterService(t, s, 5, "n1", "web", "web")
	if err := s.KVSSet(7, &structs.DirEntry{Key: "k", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		tables []string
		want   uint64
	}{
		{[]string{"nodes"}, 3},
		{[]string{"services"}, 5},
		{[]string{"nodes", "services"}, 5},
		{[]string{"kvs"}, 7},
		{[]string{"checks"}, 0},
		{[]string{"sessions", "coordinates", "tombstones"}, 0},
		{nil, 7},
	}
	for _, tt := range tests {
		if got := s.MaxIndex(tt.tables...); got != tt.want {
			t.Errorf("MaxIndex(%v) = %d, want %d", tt.tables, got, tt.want)
		}
	}
}

func TestStore_Abandon(t *testing.T) {
	s := testStore(t)
	ch := s.AbandonCh()
	select {
	case <-ch:
		t.Fatal("abandon channel closed before Abandon")
	default:
	}
	s.Abandon()
	s.Abandon() // second call must not panic
	select {
	case <-ch:
	default:
		t.Fatal("abandon channel still open after Abandon")
	}
}

func TestLockDelays(t *testing.T) {
	clock := newFakeClock()
	l := newLockDelays(clock.Now)
	if !l.get("a").IsZero() {
		t.Fatal("delay on a key never delayed")
	}
	l.set([]string{"a", "b"}, 10*time.Second)
	want := clock.Now().Add(10 * time.Second)
	if got := l.get("a"); !got.Equal(want) {
		t.Fatalf("get(a) = %v, want %v", got, want)
	}
	// A shorter delay does not cut a longer one short.
	l.set([]string{"a"}, time.Second)
	if got := l.get("a"); !got.Equal(want) {
		t.Fatalf("after shorter set, get(a) = %v, want %v", got, want)
	}
	clock.Advance(10 * time.Second)
	if l.active("a") || l.active("b") {
		t.Fatal("delays still active at their expiry")
	}
	l.set([]string{"c"}, time.Second)
	l.mu.Lock()
	n := len(l.expiry)
	l.mu.Unlock()
	if n != 1 {
		t.Fatalf("expired delays not pruned: %d entries, want 1", n)
	}
}

func TestStore_ConcurrentReadersAndWriters(t *testing.T) {
	s := testStore(t)
	testRegisterNode(t, s, 1, "n1")
	const writes = 200
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, nodes, err := s.Nodes(nil, nil)
				if err != nil {
					t.Errorf("Nodes: %v", err)
					return
				}
				for _, n := range nodes {
					_ = n.Meta["k"]
				}
				_, entries, err := s.KVSList(nil, "")
				if err != nil {
					t.Errorf("KVSList: %v", err)
					return
				}
				for _, e := range entries {
					_ = len(e.Value)
				}
				if _, _, err := s.CheckServiceNodes(nil, "web", nil, nil); err != nil {
					t.Errorf("CheckServiceNodes: %v", err)
					return
				}
			}
		}()
	}
	for i := uint64(2); i < writes; i++ {
		meta := map[string]string{"k": string(rune('a' + i%26))}
		if err := s.EnsureNode(i, &structs.Node{Node: "n1", Address: "127.0.0.1", Meta: meta}); err != nil {
			t.Fatal(err)
		}
		if err := s.KVSSet(i, &structs.DirEntry{Key: "k", Value: []byte{byte(i)}}); err != nil {
			t.Fatal(err)
		}
		testRegisterService(t, s, i, "n1", "web", "web", string(rune('a'+i%26)))
	}
	close(stop)
	wg.Wait()
}

func testCoord() *coordinate.Coordinate {
	return coordinate.NewCoordinate(coordinate.DefaultConfig())
}
