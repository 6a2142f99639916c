package state

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	memdb "github.com/hashicorp/go-memdb"

	"github.com/meridian-sd/meridian/structs"
)

func TestSessionCreate_Validation(t *testing.T) {
	s := testStore(t)
	testRegisterNode(t, s, 1, "n1")
	testRegisterService(t, s, 2, "n1", "web", "web")
	testRegisterCheck(t, s, 3, "n1", structs.SerfCheckID, "", structs.HealthCritical)
	testRegisterCheck(t, s, 4, "n1", "ok", "", structs.HealthPassing)
	testRegisterCheck(t, s, 5, "n1", "web-check", "web", structs.HealthCritical)

	tests := []struct {
		name    string
		sess    structs.Session
		wantErr string
		is      error
	}{
		{"missing ID", structs.Session{Node: "n1"}, "missing session ID", nil},
		{"unknown node", structs.Session{ID: "a", Node: "nope"}, "Missing node registration", ErrMissingNode},
		{"bad behavior", structs.Session{ID: "a", Node: "n1", Behavior: "explode"}, "invalid session behavior", nil},
		{"unknown check", structs.Session{ID: "a", Node: "n1", NodeChecks: []string{"nope"}}, "Missing check 'nope' registration", nil},
		{"critical node check", structs.Session{ID: "a", Node: "n1", NodeChecks: []string{"ok", structs.SerfCheckID}}, "Check 'serfHealth' is in critical state", nil},
		{"critical legacy check", structs.Session{ID: "a", Node: "n1", Checks: []string{structs.SerfCheckID}}, "Check 'serfHealth' is in critical state", nil},
		{"critical service check", structs.Session{ID: "a", Node: "n1", ServiceChecks: []structs.ServiceCheck{{ID: "web-check"}}}, "Check 'web-check' is in critical state", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.SessionCreate(10, &tt.sess)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %q, want it to contain %q", err, tt.wantErr)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Fatalf("err = %v, want errors.Is %v", err, tt.is)
			}
		})
	}
	if got := s.MaxIndex("sessions"); got != 0 {
		t.Fatalf("failed creates moved the sessions index to %d", got)
	}
	_, list, _ := s.SessionList(nil)
	if len(list) != 0 {
		t.Fatalf("sessions = %+v", list)
	}
}

func TestSessionCreate_DefaultsAndFold(t *testing.T) {
	s := testStore(t)
	testRegisterNode(t, s, 1, "n1")
	testRegisterCheck(t, s, 2, "n1", "a", "", structs.HealthPassing)
	testRegisterCheck(t, s, 3, "n1", "b", "", structs.HealthWarning)
	in := &structs.Session{ID: "s1", Node: "N1", Name: "x", NodeChecks: []string{"a"}, Checks: []string{"b", "a"}, TTL: "15s", LockDelay: time.Second}
	if err := s.SessionCreate(4, in); err != nil {
		t.Fatal(err)
	}
	if in.CreateIndex != 0 || in.Behavior != "" {
		t.Fatalf("input mutated: %+v", in)
	}
	idx, got, err := s.SessionGet(nil, "s1")
	if err != nil || got == nil {
		t.Fatalf("SessionGet = %+v, %v", got, err)
	}
	if idx != 4 || got.CreateIndex != 4 || got.ModifyIndex != 4 {
		t.Fatalf("indexes: %d %+v", idx, got)
	}
	if got.Behavior != structs.SessionKeysRelease || got.Node != "n1" || got.TTL != "15s" || got.LockDelay != time.Second {
		t.Fatalf("session = %+v", got)
	}
	if want := []string{"a", "b"}; !reflect.DeepEqual(got.NodeChecks, want) {
		t.Fatalf("NodeChecks = %v, want %v", got.NodeChecks, want)
	}
	// Each folded check invalidates it.
	testRegisterCheck(t, s, 5, "n1", "b", "", structs.HealthCritical)
	if _, got, _ := s.SessionGet(nil, "s1"); got != nil {
		t.Fatal("a folded legacy check turning critical did not invalidate the session")
	}
	if err := s.SessionCreate(6, &structs.Session{ID: "s2", Node: "n1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SessionCreate(7, &structs.Session{ID: "s2", Node: "n1"}); err == nil {
		t.Fatal("a repeated session ID was accepted")
	}
}

func TestSessionLists(t *testing.T) {
	s := testStore(t)
	testRegisterNode(t, s, 1, "n1")
	testRegisterNode(t, s, 2, "n2")
	testSession(t, s, 3, "a", "n1")
	testSession(t, s, 4, "b", "n2")
	testSession(t, s, 5, "c", "n1")
	// A second session on n2 keeps memdb's radix tree from merging nodes
	// when b goes, which would close n1's channel too (a spurious but
	// harmless wakeup).
	testSession(t, s, 5, "d", "n2")
	ids := func(ss structs.Sessions) []string {
		var out []string
		for _, x := range ss {
			out = append(out, x.ID)
		}
		return out
	}
	idx, all, _ := s.SessionList(nil)
	if idx != 5 || !reflect.DeepEqual(ids(all), []string{"a", "b", "c", "d"}) {
		t.Fatalf("SessionList = %d %v", idx, ids(all))
	}
	wsN1 := memdb.NewWatchSet()
	_, n1, _ := s.NodeSessions(wsN1, "n1")
	if !reflect.DeepEqual(ids(n1), []string{"a", "c"}) {
		t.Fatalf("NodeSessions(n1) = %v", ids(n1))
	}
	wsGet := memdb.NewWatchSet()
	s.SessionGet(wsGet, "a")
	if err := s.SessionDestroy(6, "b"); err != nil {
		t.Fatal(err)
	}
	if watchFired(wsN1) || watchFired(wsGet) {
		t.Fatal("destroying a session of n2 woke n1's session watchers")
	}
	if err := s.SessionDestroy(7, "a"); err != nil {
		t.Fatal(err)
	}
	if !watchFired(wsN1) || !watchFired(wsGet) {
		t.Fatal("destroying a session of n1 did not wake its watchers")
	}
	if err := s.SessionDestroy(8, "a"); err != nil {
		t.Fatalf("destroying a missing session: %v", err)
	}
	if s.MaxIndex("sessions") != 7 {
		t.Fatalf("sessions index = %d, want 7", s.MaxIndex("sessions"))
	}
}

func TestSessionInvalidation(t *testing.T) {
	type outcome int
	const (
		released outcome = iota
		deleted
	)
	tests := []struct {
		name       string
		behavior   structs.SessionBehavior
		invalidate func(t *testing.T, s *Store, idx uint64)
		want       outcome
	}{
		{"destroy release", structs.SessionKeysRelease, func(t *testing.T, s *Store, idx uint64) {
			if err := s.SessionDestroy(idx, "s1"); err != nil {
				t.Fatal(err)
			}
		}, released},
		{"destroy delete", structs.SessionKeysDelete, func(t *testing.T, s *Store, idx uint64) {
			if err := s.SessionDestroy(idx, "s1"); err != nil {
				t.Fatal(err)
			}
		}, deleted},
		{"check critical", structs.SessionKeysRelease, func(t *testing.T, s *Store, idx uint64) {
			testRegisterCheck(t, s, idx, "n1", structs.SerfCheckID, "", structs.HealthCritical)
		}, released},
		{"check critical through registration", structs.SessionKeysDelete, func(t *testing.T, s *Store, idx uint64) {
			req := &structs.RegisterRequest{Node: "n1", Address: "127.0.0.1", SkipNodeUpdate: true,
				Check: &structs.HealthCheck{CheckID: structs.SerfCheckID, Status: structs.HealthCritical}}
			if err := s.EnsureRegistration(idx, req); err != nil {
				t.Fatal(err)
			}
		}, deleted},
		{"check deleted", structs.SessionKeysRelease, func(t *testing.T, s *Store, idx uint64) {
			if err := s.DeleteCheck(idx, "n1", structs.SerfCheckID); err != nil {
				t.Fatal(err)
			}
		}, released},
		{"node deleted", structs.SessionKeysDelete, func(t *testing.T, s *Store, idx uint64) {
			if err := s.DeleteNode(idx, "n1"); err != nil {
				t.Fatal(err)
			}
		}, deleted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := testStore(t)
			clock := newFakeClock()
			s.SetClock(clock.Now)
			testLockedKey(t, s, 1, "s1", "k", tt.behavior, 5*time.Second)
			testSetKV(t, s, 2, "unrelated", "v")
			ws := memdb.NewWatchSet()
			s.KVSGet(ws, "k")
			tt.invalidate(t, s, 10)
			if !watchFired(ws) {
				t.Fatal("invalidation did not wake the lock's watcher")
			}
			if _, sess, _ := s.SessionGet(nil, "s1"); sess != nil {
				t.Fatal("session survived")
			}
			_, e, _ := s.KVSGet(nil, "k")
			switch tt.want {
			case released:
				if e == nil || e.Session != "" || string(e.Value) != "held" || e.ModifyIndex != 10 || e.LockIndex != 1 {
					t.Fatalf("key = %+v, want released at 10 with value and LockIndex kept", e)
				}
			case deleted:
				if e != nil {
					t.Fatalf("key = %+v, want deleted", e)
				}
				if ts, _ := s.Tombstones("k"); len(ts) != 1 || ts[0].Index != 10 {
					t.Fatalf("tombstones = %v", ts)
				}
			}
			if s.MaxIndex("kvs") != 10 || s.MaxIndex("sessions") != 10 {
				t.Fatalf("indexes kvs=%d sessions=%d, want 10", s.MaxIndex("kvs"), s.MaxIndex("sessions"))
			}
			if got, want := s.KVSLockDelay("k"), clock.Now().Add(5*time.Second); !got.Equal(want) {
				t.Fatalf("lock delay = %v, want %v", got, want)
			}
			if _, e, _ := s.KVSGet(nil, "unrelated"); e == nil || e.ModifyIndex != 2 {
				t.Fatalf("unrelated key touched: %+v", e)
			}
		})
	}
}

func TestSessionInvalidation_OnlyDependents(t *testing.T) {
	s := testStore(t)
	testRegisterNode(t, s, 1, "n1")
	testRegisterCheck(t, s, 2, "n1", "a", "", structs.HealthPassing)
	testRegisterCheck(t, s, 3, "n1", "b", "", structs.HealthPassing)
	testSession(t, s, 4, "on-a", "n1", "a")
	testSession(t, s, 5, "on-b", "n1", "b")
	testSession(t, s, 6, "on-none", "n1")
	// Warning is not critical: nothing happens.
	testRegisterCheck(t, s, 7, "n1", "a", "", structs.HealthWarning)
	if _, list, _ := s.SessionList(nil); len(list) != 3 {
		t.Fatalf("a warning invalidated sessions: %d left", len(list))
	}
	testRegisterCheck(t, s, 8, "n1", "a", "", structs.HealthCritical)
	_, list, _ := s.SessionList(nil)
	var ids []string
	for _, x := range list {
		ids = append(ids, x.ID)
	}
	if want := []string{"on-b", "on-none"}; !reflect.DeepEqual(ids, want) {
		t.Fatalf("sessions = %v, want %v", ids, want)
	}
}

func TestSessionInvalidation_ServiceCheck(t *testing.T) {
	s := testStore(t)
	testRegisterNode(t, s, 1, "n1")
	testRegisterService(t, s, 2, "n1", "web", "web")
	testRegisterCheck(t, s, 3, "n1", "web-check", "web", structs.HealthPassing)
	sess := &structs.Session{ID: "s1", Node: "n1", ServiceChecks: []structs.ServiceCheck{{ID: "web-check"}}}
	if err := s.SessionCreate(4, sess); err != nil {
		t.Fatal(err)
	}
	// Deleting the service deletes its check, which invalidates s1.
	if err := s.DeleteService(5, "n1", "web"); err != nil {
		t.Fatal(err)
	}
	if _, got, _ := s.SessionGet(nil, "s1"); got != nil {
		t.Fatal("session on a deleted service's check survived")
	}
}
