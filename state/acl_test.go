package state

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	memdb "github.com/hashicorp/go-memdb"

	"github.com/meridian-sd/meridian/structs"
)

const (
	testPolicyA = "11111111-0000-0000-0000-00000000000a"
	testPolicyB = "11111111-0000-0000-0000-00000000000b"
	testRoleR   = "22222222-0000-0000-0000-00000000000r"
	testTokenT1 = "33333333-0000-0000-0000-000000000001"
	testTokenT2 = "33333333-0000-0000-0000-000000000002"
	testBuiltin = "00000000-0000-0000-0000-000000000001"
)

// testACLData writes policies a and b, role r (linking b), tokens t1
// (linking a) and t2 (linking r and a deleted policy), and bootstraps,
// using indexes idx to idx+4.
func testACLData(t testing.TB, s *Store, idx uint64) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.ACLPolicySet(idx, structs.ACLPolicies{
		{ID: testPolicyA, Name: "pa", Rules: `key_prefix "a/" { policy = "write" }`, Datacenters: []string{"dc1"}},
		{ID: testPolicyB, Name: "pb", Rules: `node_prefix "" { policy = "read" }`},
		{ID: "gone", Name: "gone"},
	}))
	must(s.ACLRoleSet(idx+1, structs.ACLRoles{{ID: testRoleR, Name: "r", Policies: []structs.ACLLink{{ID: testPolicyB}}}}))
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	exp := created.Add(time.Hour)
	must(s.ACLTokenSet(idx+2, structs.ACLTokens{
		{AccessorID: testTokenT1, SecretID: "secret-1", Description: "one", Policies: []structs.ACLLink{{ID: testPolicyA}}, CreateTime: created},
		{AccessorID: testTokenT2, SecretID: "secret-2", Local: true, Roles: []structs.ACLLink{{ID: testRoleR}},
			Policies: []structs.ACLLink{{ID: "gone"}}, CreateTime: created, ExpirationTime: &exp},
	}, false))
	must(s.ACLPolicyDelete(idx+3, []string{"gone"}))
	must(s.ACLBootstrap(idx+4, 0, &structs.ACLToken{AccessorID: "boot", SecretID: "boot-secret",
		Policies: []structs.ACLLink{{ID: testBuiltin}}}, &structs.ACLPolicy{ID: testBuiltin, Name: "global-management", Rules: `acl = "write"`}))
}

// aclView reads the ACL records for snapshot comparisons.
func aclView(t testing.TB, s *Store, add func(string, uint64, any, error)) {
	t.Helper()
	i, a, err := s.ACLTokenList(nil, "", "")
	add("ACLTokenList", i, a, err)
	i, b, err := s.ACLTokenList(nil, testPolicyA, "")
	add("ACLTokenList/policy", i, b, err)
	i, c, err := s.ACLTokenGetBySecret(nil, "secret-2")
	add("ACLTokenGetBySecret", i, c, err)
	i, d, err := s.ACLPolicyList(nil)
	add("ACLPolicyList", i, d, err)
	i, e, err := s.ACLRoleList(nil, "")
	add("ACLRoleList", i, e, err)
	i, f, err := s.ACLRoleGetByName(nil, "R")
	add("ACLRoleGetByName", i, f, err)
}

func TestACLTokens(t *testing.T) {
	s := testStore(t)
	testACLData(t, s, 10)

	_, tok, err := s.ACLTokenGetByAccessor(nil, testTokenT2)
	if err != nil || tok == nil {
		t.Fatalf("get t2: %v %v", tok, err)
	}
	// The link to the deleted policy is dropped; the role's is named.
	if len(tok.Policies) != 0 || len(tok.Roles) != 1 || tok.Roles[0].Name != "r" {
		t.Errorf("t2 links: %+v %+v", tok.Policies, tok.Roles)
	}
	if tok.CreateIndex != 12 || tok.ModifyIndex != 12 || !tok.Local || tok.ExpirationTime == nil {
		t.Errorf("t2 = %+v", tok)
	}
	// By secret, case-insensitive accessor.
	if _, tok, _ := s.ACLTokenGetBySecret(nil, "secret-1"); tok == nil || tok.AccessorID != testTokenT1 {
		t.Errorf("by secret: %+v", tok)
	}
	if _, tok, _ := s.ACLTokenGetByAccessor(nil, strings.ToUpper(testTokenT1)); tok == nil {
		t.Error("accessor lookup is case-sensitive")
	}
	if _, tok, _ := s.ACLTokenGetBySecret(nil, "SECRET-1"); tok != nil {
		t.Error("secret lookup must be exact")
	}
	if _, tok, _ := s.ACLTokenGetBySecret(nil, ""); tok != nil {
		t.Error("empty secret found a token")
	}

	// Filters.
	for _, c := range []struct {
		policy, role string
		want         []string
	}{
		{"", "", []string{testTokenT1, testTokenT2, "boot"}},
		{testPolicyA, "", []string{testTokenT1}},
		{testPolicyB, "", nil},
		{"", testRoleR, []string{testTokenT2}},
		{testBuiltin, "", []string{"boot"}},
	} {
		_, list, err := s.ACLTokenList(nil, c.policy, c.role)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, tk := range list {
			got = append(got, tk.AccessorID)
		}
		if strings.Join(got, ",") != strings.Join(sortedCopy(c.want), ",") {
			t.Errorf("list policy=%q role=%q = %v, want %v", c.policy, c.role, got, c.want)
		}
	}
	if _, _, err := s.ACLTokenList(nil, testPolicyA, testRoleR); err == nil {
		t.Error("both filters accepted")
	}

	// Refusals.
	for name, tk := range map[string]*structs.ACLToken{
		"secret reused":   {AccessorID: "x1", SecretID: "secret-1"},
		"secret changed":  {AccessorID: testTokenT1, SecretID: "other"},
		"unknown policy":  {AccessorID: "x2", SecretID: "s2", Policies: []structs.ACLLink{{ID: "nope"}}},
		"unknown role":    {AccessorID: "x3", SecretID: "s3", Roles: []structs.ACLLink{{ID: "nope"}}},
		"missing secret":  {AccessorID: "x4"},
		"missing accessr": {SecretID: "s5"},
	} {
		if err := s.ACLTokenSet(20, structs.ACLTokens{tk}, false); err == nil || !strings.HasPrefix(err.Error(), "invalid ") {
			t.Errorf("%s: got %v", name, err)
		}
	}
	if s.MaxIndex("acl-tokens") == 20 {
		t.Error("a refused write moved the index")
	}
	// A batch is all or nothing.
	err = s.ACLTokenSet(21, structs.ACLTokens{{AccessorID: "ok", SecretID: "ok"}, {AccessorID: "bad", SecretID: "secret-1"}}, false)
	if err == nil {
		t.Fatal("bad batch accepted")
	}
	if _, tk, _ := s.ACLTokenGetByAccessor(nil, "ok"); tk != nil {
		t.Error("half a batch was written")
	}

	// Update keeps CreateIndex and CreateTime; a watch fires.
	ws := memdb.NewWatchSet()
	_, old, _ := s.ACLTokenGetByAccessor(ws, testTokenT1)
	upd := old.Clone()
	upd.Description = "changed"
	upd.CreateTime = time.Time{}
	if err := s.ACLTokenSet(22, structs.ACLTokens{upd}, false); err != nil {
		t.Fatal(err)
	}
	if !watchFired(ws) {
		t.Error("watch did not fire")
	}
	idx, got, _ := s.ACLTokenGetByAccessor(nil, testTokenT1)
	if got.CreateIndex != 12 || got.ModifyIndex != 22 || !got.CreateTime.Equal(old.CreateTime) || idx != 22 {
		t.Errorf("after update: %+v idx %d", got, idx)
	}

	// Delete.
	if err := s.ACLTokenDelete(23, []string{testTokenT1, "unknown"}); err != nil {
		t.Fatal(err)
	}
	if _, tk, _ := s.ACLTokenGetBySecret(nil, "secret-1"); tk != nil {
		t.Error("deleted token still found")
	}
}

func sortedCopy(in []string) []string {
	out := append([]string(nil), in...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestACLPoliciesAndRoles(t *testing.T) {
	s := testStore(t)
	testACLData(t, s, 10)
	if _, p, _ := s.ACLPolicyGetByName(nil, "PA"); p == nil || p.ID != testPolicyA {
		t.Errorf("by name, case-insensitive: %+v", p)
	}
	// Names are unique.
	if err := s.ACLPolicySet(20, structs.ACLPolicies{{ID: "new", Name: "pa"}}); err == nil || !strings.Contains(err.Error(), `a policy named "pa" already exists`) {
		t.Errorf("duplicate name: %v", err)
	}
	if err := s.ACLRoleSet(20, structs.ACLRoles{{ID: "new", Name: "R"}}); err == nil {
		t.Error("duplicate role name accepted")
	}
	if err := s.ACLRoleSet(20, structs.ACLRoles{{ID: "new", Name: "n", Policies: []structs.ACLLink{{ID: "nope"}}}}); err == nil {
		t.Error("role with an unknown policy accepted")
	}
	// A rename shows through the links of tokens and roles.
	_, pb, _ := s.ACLPolicyGetByID(nil, testPolicyB)
	pb.Name = "renamed"
	if err := s.ACLPolicySet(21, structs.ACLPolicies{pb}); err != nil {
		t.Fatal(err)
	}
	_, r, _ := s.ACLRoleGetByID(nil, testRoleR)
	if len(r.Policies) != 1 || r.Policies[0].Name != "renamed" {
		t.Errorf("role links after rename: %+v", r.Policies)
	}
	_, roles, _ := s.ACLRoleList(nil, testPolicyB)
	if len(roles) != 1 {
		t.Errorf("roles by policy: %+v", roles)
	}
	ps, _ := s.ACLPoliciesByID([]string{testPolicyB, "nope", testPolicyA, testPolicyB})
	if len(ps) != 2 || ps[0].ID != testPolicyB || ps[1].ID != testPolicyA {
		t.Errorf("ACLPoliciesByID: %+v", ps)
	}
	rs, _ := s.ACLRolesByID([]string{testRoleR, "nope"})
	if len(rs) != 1 || rs[0].Policies[0].Name != "renamed" {
		t.Errorf("ACLRolesByID: %+v", rs)
	}
	// Deleting the policy empties the role's links.
	if err := s.ACLPolicyDelete(22, []string{testPolicyB}); err != nil {
		t.Fatal(err)
	}
	_, r, _ = s.ACLRoleGetByID(nil, testRoleR)
	if len(r.Policies) != 0 {
		t.Errorf("role links after delete: %+v", r.Policies)
	}
	if err := s.ACLRoleDelete(23, []string{testRoleR}); err != nil {
		t.Fatal(err)
	}
	if _, r, _ := s.ACLRoleGetByName(nil, "r"); r != nil {
		t.Error("deleted role found")
	}
}

func TestACLBootstrapOnce(t *testing.T) {
	s := testStore(t)
	builtin := &structs.ACLPolicy{ID: testBuiltin, Name: "global-management"}
	tok := &structs.ACLToken{AccessorID: "a1", SecretID: "s1", Policies: []structs.ACLLink{{ID: testBuiltin}}}
	if err := s.ACLBootstrap(5, 0, tok, builtin); err != nil {
		t.Fatal(err)
	}
	if s.ACLBootstrapIndex() != 5 {
		t.Errorf("bootstrap index %d", s.ACLBootstrapIndex())
	}
	tok2 := &structs.ACLToken{AccessorID: "a2", SecretID: "s2", Policies: []structs.ACLLink{{ID: testBuiltin}}}
	err := s.ACLBootstrap(6, 0, tok2, builtin)
	if !errors.Is(err, structs.ErrACLBootstrapNotAllowed) || err.Error() != "ACL bootstrap no longer allowed (reset index: 5)" {
		t.Fatalf("second bootstrap: %v", err)
	}
	if err := s.ACLBootstrap(7, 4, tok2, builtin); err == nil {
		t.Fatal("wrong reset index accepted")
	}
	if err := s.ACLBootstrap(8, 5, tok2, builtin); err != nil {
		t.Fatalf("bootstrap with the reset index: %v", err)
	}
	if s.ACLBootstrapIndex() != 8 {
		t.Errorf("bootstrap index %d after reset", s.ACLBootstrapIndex())
	}
	if err := s.ACLBootstrap(9, 5, tok2, builtin); err == nil || !strings.Contains(err.Error(), "reset index: 8") {
		t.Errorf("reuse of an old reset index: %v", err)
	}
}

func TestACLSnapshotRefusesDuplicates(t *testing.T) {
	p := &structs.ACLPolicy{ID: "p1", Name: "n"}
	tk := &structs.ACLToken{AccessorID: "t1", SecretID: "s"}
	for name, recs := range map[string][]func(*recordWriter) error{
		"policy name": {rec(recordACLPolicy, p), rec(recordACLPolicy, &structs.ACLPolicy{ID: "p2", Name: "N"})},
		"secret":      {rec(recordACLToken, tk), rec(recordACLToken, &structs.ACLToken{AccessorID: "t2", SecretID: "s"})},
		"no secret":   {rec(recordACLToken, &structs.ACLToken{AccessorID: "t2"})},
		"no name":     {rec(recordACLRole, &structs.ACLRole{ID: "r"})},
	} {
		recs = append(recs, rec(recordEnd, nil))
		if _, err := Restore(bytes.NewReader(craft(t, snapshotVersion, recs...))); !errors.Is(err, ErrCorruptSnapshot) {
			t.Errorf("%s: got %v", name, err)
		}
	}
}
