package state

import (
	"strings"
	"testing"
	"time"

	memdb "github.com/hashicorp/go-memdb"

	"github.com/meridian-sd/meridian/structs"
)

const (
	testQueryID1 = "11111111-2222-3333-4444-555555555555"
	testQueryID2 = "21111111-2222-3333-4444-555555555555"
	testQueryID3 = "31111111-2222-3333-4444-555555555555"
)

// testPreparedQueryData adds a query bound to session sess-2, a template
// and a sticky failover state, at indexes idx and on.
func testPreparedQueryData(t testing.TB, s *Store, idx uint64) {
	t.Helper()
	for i, q := range []*structs.PreparedQuery{
		{ID: testQueryID1, Session: "sess-2", Service: structs.ServiceQuery{Service: "db", Tags: []string{"primary"}}},
		{ID: testQueryID2, Name: "geo-", Template: structs.QueryTemplateOptions{Type: structs.QueryTemplateTypeNamePrefixMatch, Regexp: "^geo-(.*)$"},
			Service: structs.ServiceQuery{Service: "${match(1)}"}},
		{ID: testQueryID3, Name: "sticky", Service: structs.ServiceQuery{Service: "db",
			Failover: structs.QueryFailoverOptions{Datacenters: []string{"dc2"}, MinPassing: 2, FailbackAfter: "30s"}}},
	} {
		if err := s.PreparedQuerySet(idx+uint64(i), q); err != nil {
			t.Fatal(err)
		}
	}
	st := &structs.PreparedQueryFailoverStatus{QueryID: testQueryID3, Active: true, Datacenter: "dc2",
		Since: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Reason: "dc1 has 1 passing instance"}
	if err := s.PreparedQueryFailoverSet(idx+3, st); err != nil {
		t.Fatal(err)
	}
}

func preparedQueryView(t testing.TB, s *Store, add func(string, uint64, any, error)) {
	i, qs, err := s.PreparedQueryList(nil)
	add("PreparedQueryList", i, qs, err)
	i, fs, err := s.PreparedQueryFailoverList(nil)
	add("PreparedQueryFailoverList", i, fs, err)
	for _, name := range []string{testQueryID1, "sticky", "STICKY", "geo-db", "geo-", "nope"} {
		i, q, err := s.PreparedQueryResolve(nil, name)
		add("PreparedQueryResolve/"+name, i, q, err)
	}
}

func TestPreparedQueryStore(t *testing.T) {
	s := testRichStore(t)

	// Resolution: ID, exact name (any case), longest template prefix.
	ws := memdb.NewWatchSet()
	_, q, err := s.PreparedQueryResolve(ws, "STICKY")
	if err != nil || q == nil || q.ID != testQueryID3 {
		t.Fatalf("resolve by name: %+v %v", q, err)
	}
	if err := s.PreparedQuerySet(30, &structs.PreparedQuery{ID: "41111111-2222-3333-4444-555555555555", Name: "geo-eu-",
		Template: structs.QueryTemplateOptions{Type: structs.QueryTemplateTypeNamePrefixMatch}, Service: structs.ServiceQuery{Service: "x"}}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"geo-eu-db": "geo-eu-", "geo-us-db": "geo-", "GEO-EU-x": "geo-eu-", testQueryID1: ""} {
		_, q, err := s.PreparedQueryResolve(nil, name)
		if err != nil || q == nil || q.Name != want {
			t.Errorf("resolve %s = %+v, %v; want the query named %q", name, q, err, want)
		}
	}
	if _, q, err := s.PreparedQueryResolve(nil, "other"); err != nil || q != nil {
		t.Fatalf("resolve other = %+v, %v", q, err)
	}

	// Names may not alias another query's name or ID.
	for _, tc := range []struct {
		q    structs.PreparedQuery
		want string
	}{
		{structs.PreparedQuery{ID: "51111111-2222-3333-4444-555555555555", Name: "Sticky"}, "name 'Sticky' aliases an existing query name"},
		{structs.PreparedQuery{ID: "51111111-2222-3333-4444-555555555555", Name: testQueryID1}, "aliases an existing query ID"},
		{structs.PreparedQuery{ID: "51111111-2222-3333-4444-555555555555", Session: "nope"}, "invalid session"},
	} {
		if err := s.PreparedQuerySet(31, &tc.q); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("set %+v: %v, want %q", tc.q, err, tc.want)
		}
	}

	// Invalidating the session deletes its query, and wakes watchers.
	ws = memdb.NewWatchSet()
	if _, _, err := s.PreparedQueryGet(ws, testQueryID1); err != nil {
		t.Fatal(err)
	}
	if err := s.SessionDestroy(32, "sess-2"); err != nil {
		t.Fatal(err)
	}
	if !watchFired(ws) {
		t.Fatal("session invalidation did not wake the query's watcher")
	}
	if idx, q, err := s.PreparedQueryGet(nil, testQueryID1); err != nil || q != nil || idx != 32 {
		t.Fatalf("query of the destroyed session: %+v idx %d %v", q, idx, err)
	}

	// Deleting a query drops its failover state.
	if err := s.PreparedQueryDelete(33, testQueryID3); err != nil {
		t.Fatal(err)
	}
	if _, st, err := s.PreparedQueryFailoverGet(nil, testQueryID3); err != nil || st != nil {
		t.Fatalf("failover state of a deleted query: %+v %v", st, err)
	}
	if err := s.PreparedQueryDelete(34, testQueryID3); structs.CodeOf(err) != structs.CodeNotFound {
		t.Fatalf("delete twice: %v", err)
	}
	if err := s.PreparedQueryFailoverSet(35, &structs.PreparedQueryFailoverStatus{QueryID: testQueryID3}); !structs.IsQueryNotFound(err) {
		t.Fatalf("failover state for a deleted query: %v", err)
	}
}
