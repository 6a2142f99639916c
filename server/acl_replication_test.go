package server

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meridian-sd/meridian/acl"
	"github.com/meridian-sd/meridian/structs"
)

const replMgmt = "7c1d4e2a-5b3f-4a6e-9d8c-1f2e3a4b5c6d"

// startReplicatingPair starts dc1 (primary, an initial management token)
// and a dc2 server replicating with that token, joined over the WAN.
func startReplicatingPair(t *testing.T, tweak2 func(*Config)) (*Server, *Server) {
	t.Helper()
	dc1 := startACLServer(t, "dc1", func(c *Config) { c.ACL.InitialManagementToken = replMgmt })
	dc2 := startACLServer(t, "dc2", func(c *Config) {
		c.ACL.ReplicationToken = replMgmt
		c.ACL.EnableTokenReplication = true
		c.CrossDCTimeout = 2 * time.Second
		if tweak2 != nil {
			tweak2(c)
		}
	})
	joinWAN(t, dc2, dc1)
	waitWANMembers(t, dc2, 2)
	return dc1, dc2
}

// aclWrite calls an ACL write RPC on s with the management token.
func aclWrite(t *testing.T, s *Server, method string, args any, reply any) {
	t.Helper()
	reflect.ValueOf(args).Elem().FieldByName("Token").SetString(replMgmt)
	if err := s.RPC(method, args, reply); err != nil {
		t.Fatalf("%s: %v", method, err)
	}
}

func replStatus(t *testing.T, s *Server, dc string) structs.ACLReplicationStatus {
	t.Helper()
	var st structs.ACLReplicationStatus
	if err := s.RPC("ACL.ReplicationStatus", &structs.ACLReplicationStatusRequest{Datacenter: dc}, &st); err != nil {
		t.Fatalf("replication status of %s: %v", dc, err)
	}
	return st
}

// TestACLReplication: policies, roles and global tokens created, changed
// and deleted in dc1 appear, change and disappear in dc2; dc1's local
// tokens stay in dc1 and dc2's in dc2; dc2 answers ACL reads and resolves
// tokens from its copies, with dc1 gone too; the status says so.
func TestACLReplication(t *testing.T) {
	dc1, dc2 := startReplicatingPair(t, nil)
	var pol structs.ACLPolicy
	aclWrite(t, dc1, "ACL.PolicySet", &structs.ACLPolicySetRequest{Policy: structs.ACLPolicy{Name: "app", Rules: `key_prefix "app/" { policy = "read" }`}}, &pol)
	var role structs.ACLRole
	aclWrite(t, dc1, "ACL.RoleSet", &structs.ACLRoleSetRequest{Role: structs.ACLRole{Name: "app-role", Policies: []structs.ACLLink{{ID: pol.ID}}}}, &role)
	var tok structs.ACLToken
	aclWrite(t, dc1, "ACL.TokenSet", &structs.ACLTokenSetRequest{Create: true, ACLToken: structs.ACLToken{Description: "app token", Roles: []structs.ACLLink{{ID: role.ID}}}}, &tok)
	var local1 structs.ACLToken
	aclWrite(t, dc1, "ACL.TokenSet", &structs.ACLTokenSetRequest{Datacenter: "dc1", Create: true, ACLToken: structs.ACLToken{Local: true, Policies: []structs.ACLLink{{ID: pol.ID}}}}, &local1)

	waitFor(t, "policy, role and token in dc2", 10*time.Second, func() error {
		st := dc2.fsm.State()
		if _, p, _ := st.ACLPolicyGetByID(nil, pol.ID); p == nil || p.Rules != pol.Rules {
			return fmt.Errorf("policy: %+v", p)
		}
		if _, r, _ := st.ACLRoleGetByID(nil, role.ID); r == nil || len(r.Policies) != 1 {
			return fmt.Errorf("role: %+v", r)
		}
		if _, tk, _ := st.ACLTokenGetByAccessor(nil, tok.AccessorID); tk == nil || tk.SecretID != tok.SecretID {
			return fmt.Errorf("token missing")
		}
		return nil
	})
	st := dc2.fsm.State()
	for _, id := range []string{acl.AnonymousTokenID} {
		if _, tk, _ := st.ACLTokenGetByAccessor(nil, id); tk == nil {
			t.Errorf("built-in token %s not replicated", id)
		}
	}
	if _, p, _ := st.ACLPolicyGetByID(nil, acl.GlobalManagementPolicyID); p == nil {
		t.Error("global-management not replicated")
	}
	if _, tk, _ := st.ACLTokenGetByAccessor(nil, local1.AccessorID); tk != nil {
		t.Error("dc1's local token was replicated to dc2")
	}

	// dc2 resolves the replicated token by itself.
	authz, ident, err := dc2.ResolveToken(tok.SecretID)
	if err != nil || ident.AccessorID != tok.AccessorID {
		t.Fatalf("resolve in dc2: %v %+v", err, ident)
	}
	if !authz.Allowed(acl.ResourceKey, "app/x", acl.Read) || authz.Allowed(acl.ResourceKey, "app/x", acl.Write) {
		t.Error("dc2's authorizer for the replicated token is wrong")
	}
	if _, _, err := dc2.ResolveToken(local1.SecretID); !structs.IsErr(err, structs.ErrACLNotFound) {
		t.Errorf("dc1's local token in dc2: %v", err)
	}

	// Updates: the policy's rules, the role's name, the token's description.
	pol.Rules = `key_prefix "app/" { policy = "write" }`
	aclWrite(t, dc1, "ACL.PolicySet", &structs.ACLPolicySetRequest{Policy: pol}, &pol)
	role.Name = "app-role-2"
	aclWrite(t, dc1, "ACL.RoleSet", &structs.ACLRoleSetRequest{Role: role}, &role)
	tok.Description = "changed"
	aclWrite(t, dc1, "ACL.TokenSet", &structs.ACLTokenSetRequest{ACLToken: tok}, &tok)
	waitFor(t, "updates in dc2", 10*time.Second, func() error {
		st := dc2.fsm.State()
		if _, p, _ := st.ACLPolicyGetByID(nil, pol.ID); p == nil || p.Rules != pol.Rules {
			return fmt.Errorf("policy: %+v", p)
		}
		if _, r, _ := st.ACLRoleGetByID(nil, role.ID); r == nil || r.Name != "app-role-2" {
			return fmt.Errorf("role: %+v", r)
		}
		if _, tk, _ := st.ACLTokenGetByAccessor(nil, tok.AccessorID); tk == nil || tk.Description != "changed" {
			return fmt.Errorf("token: %+v", tk)
		}
		return nil
	})
	if authz, id, err := dc2.ResolveToken(tok.SecretID); err != nil || !authz.Allowed(acl.ResourceKey, "app/x", acl.Write) {
		_, p, _ := dc2.fsm.State().ACLPolicyGetByID(nil, pol.ID)
		_, r, _ := dc2.fsm.State().ACLRoleGetByID(nil, role.ID)
		t.Errorf("the changed policy does not apply in dc2: %v %+v %+v %+v", err, id, p, r)
	}

	// A local token of dc2, created through dc1: held and resolved by dc2
	// only, read and listed through dc2, kept by later replication rounds.
	var local2 structs.ACLToken
	aclWrite(t, dc1, "ACL.TokenSet", &structs.ACLTokenSetRequest{Datacenter: "dc2", Create: true, ACLToken: structs.ACLToken{Local: true, Description: "dc2 local", Policies: []structs.ACLLink{{Name: "app"}}}}, &local2)
	if _, tk, _ := dc1.fsm.State().ACLTokenGetByAccessor(nil, local2.AccessorID); tk != nil {
		t.Error("dc2's local token is in dc1")
	}
	if _, tk, _ := dc2.fsm.State().ACLTokenGetByAccessor(nil, local2.AccessorID); tk == nil || !tk.Local {
		t.Fatal("dc2's local token is not in dc2")
	}
	if _, _, err := dc2.ResolveToken(local2.SecretID); err != nil {
		t.Errorf("dc2's local token in dc2: %v", err)
	}
	if _, _, err := dc1.ResolveToken(local2.SecretID); !structs.IsErr(err, structs.ErrACLNotFound) {
		t.Errorf("dc2's local token in dc1: %v", err)
	}
	var other structs.ACLPolicy
	aclWrite(t, dc1, "ACL.PolicySet", &structs.ACLPolicySetRequest{Policy: structs.ACLPolicy{Name: "other"}}, &other)
	waitFor(t, "the other policy in dc2", 10*time.Second, func() error {
		if _, p, _ := dc2.fsm.State().ACLPolicyGetByID(nil, other.ID); p == nil {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	if _, tk, _ := dc2.fsm.State().ACLTokenGetByAccessor(nil, local2.AccessorID); tk == nil {
		t.Fatal("replication deleted dc2's local token")
	}
	var read structs.ACLTokenResponse
	rreq := &structs.ACLTokenGetRequest{Datacenter: "dc2", TokenID: local2.AccessorID}
	rreq.Token = replMgmt
	if err := dc1.RPC("ACL.TokenRead", rreq, &read); err != nil || read.Token == nil || read.Token.Description != "dc2 local" {
		t.Errorf("read of dc2's local token through dc2: %+v %v", read.Token, err)
	}

	// Status.
	s2 := replStatus(t, dc1, "dc2")
	if !s2.Enabled || !s2.Running || s2.SourceDatacenter != "dc1" || s2.ReplicationType != "tokens" ||
		s2.ReplicatedIndex == 0 || s2.ReplicatedRoleIndex == 0 || s2.ReplicatedTokenIndex == 0 ||
		s2.LastSuccess.IsZero() || !s2.LastSuccess.After(s2.LastError) {
		t.Errorf("dc2 status: %+v", s2)
	}
	if s2.ReplicatedTokenIndex < tok.ModifyIndex || s2.ReplicatedIndex < other.ModifyIndex {
		t.Errorf("dc2 status indexes %+v behind dc1's writes (%d, %d)", s2, tok.ModifyIndex, other.ModifyIndex)
	}
	if s1 := replStatus(t, dc2, "dc1"); s1.Enabled || s1.Running {
		t.Errorf("dc1 status: %+v", s1)
	}

	// Deletions.
	var gone string
	aclWrite(t, dc1, "ACL.TokenDelete", &structs.ACLTokenDeleteRequest{TokenID: tok.AccessorID}, &gone)
	aclWrite(t, dc1, "ACL.RoleDelete", &structs.ACLRoleDeleteRequest{RoleID: role.ID}, &gone)
	aclWrite(t, dc1, "ACL.PolicyDelete", &structs.ACLPolicyDeleteRequest{PolicyID: other.ID}, &gone)
	waitFor(t, "deletions in dc2", 10*time.Second, func() error {
		st := dc2.fsm.State()
		if _, tk, _ := st.ACLTokenGetByAccessor(nil, tok.AccessorID); tk != nil {
			return fmt.Errorf("token still there")
		}
		if _, r, _ := st.ACLRoleGetByID(nil, role.ID); r != nil {
			return fmt.Errorf("role still there")
		}
		if _, p, _ := st.ACLPolicyGetByID(nil, other.ID); p != nil {
			return fmt.Errorf("policy still there")
		}
		return nil
	})
	if _, _, err := dc2.ResolveToken(tok.SecretID); !structs.IsErr(err, structs.ErrACLNotFound) {
		t.Errorf("deleted token in dc2: %v", err)
	}
	// dc2's local token is deleted through dc2, not dc1.
	dreq := &structs.ACLTokenDeleteRequest{Datacenter: "dc2", TokenID: local2.AccessorID}
	aclWrite(t, dc2, "ACL.TokenDelete", dreq, &gone)
	if _, tk, _ := dc2.fsm.State().ACLTokenGetByAccessor(nil, local2.AccessorID); tk != nil {
		t.Error("dc2's local token survived its delete")
	}

	// A token created just now resolves in dc2 (asked of dc1 until it
	// arrives), then dc1 goes away: dc2 answers from its copies.
	var late structs.ACLToken
	aclWrite(t, dc1, "ACL.TokenSet", &structs.ACLTokenSetRequest{Create: true, ACLToken: structs.ACLToken{Policies: []structs.ACLLink{{ID: pol.ID}}}}, &late)
	if _, _, err := dc2.ResolveToken(late.SecretID); err != nil {
		t.Errorf("a token just created, in dc2: %v", err)
	}
	waitFor(t, "the late token in dc2", 10*time.Second, func() error {
		if _, tk, _ := dc2.fsm.State().ACLTokenGetByAccessor(nil, late.AccessorID); tk == nil {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	dc1.Shutdown()
	authz, _, err = dc2.ResolveToken(late.SecretID)
	if err != nil || !authz.Allowed(acl.ResourceKey, "app/x", acl.Write) || authz.Allowed(acl.ResourceKey, "other/z", acl.Write) {
		t.Errorf("replicated token with dc1 down: %v", err)
	}
	lreq := &structs.ACLPolicyListRequest{Datacenter: "dc2"}
	lreq.Token = replMgmt
	var list structs.ACLPolicyListResponse
	if err := dc2.RPC("ACL.PolicyList", lreq, &list); err != nil {
		t.Fatalf("policy list in dc2 with dc1 down: %v", err)
	}
	names := []string{}
	for _, p := range list.Policies {
		names = append(names, p.Name)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"app", "global-management"}) {
		t.Errorf("dc2's policies with dc1 down: %v", names)
	}
	sreq := &structs.ACLTokenGetRequest{Datacenter: "dc2", TokenID: late.SecretID, BySecret: true}
	var self structs.ACLTokenResponse
	if err := dc2.RPC("ACL.TokenRead", sreq, &self); err != nil || self.Token == nil || self.Token.AccessorID != late.AccessorID {
		t.Errorf("token self in dc2 with dc1 down: %+v %v", self.Token, err)
	}
	waitFor(t, "the error in dc2's status", 20*time.Second, func() error {
		s := replStatus(t, dc2, "dc2")
		if s.LastError.IsZero() || s.LastErrorMessage == "" || !s.Running {
			return fmt.Errorf("status %+v", s)
		}
		return nil
	})
}

// TestACLReplicationPoliciesOnly: without token replication, dc2 holds
// policies and roles but no tokens; tokens are resolved through dc1; a
// local token cannot be created in dc2.
func TestACLReplicationPoliciesOnly(t *testing.T) {
	dc1, dc2 := startReplicatingPair(t, func(c *Config) { c.ACL.EnableTokenReplication = false })
	var pol structs.ACLPolicy
	aclWrite(t, dc1, "ACL.PolicySet", &structs.ACLPolicySetRequest{Policy: structs.ACLPolicy{Name: "p", Rules: `node_prefix "" { policy = "read" }`}}, &pol)
	var tok structs.ACLToken
	aclWrite(t, dc1, "ACL.TokenSet", &structs.ACLTokenSetRequest{Create: true, ACLToken: structs.ACLToken{Policies: []structs.ACLLink{{ID: pol.ID}}}}, &tok)
	waitFor(t, "policy in dc2", 10*time.Second, func() error {
		if _, p, _ := dc2.fsm.State().ACLPolicyGetByID(nil, pol.ID); p == nil {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	if _, toks, _ := dc2.fsm.State().ACLTokenList(nil, "", ""); len(toks) != 0 {
		t.Errorf("tokens replicated without token replication: %d", len(toks))
	}
	if authz, _, err := dc2.ResolveToken(tok.SecretID); err != nil || !authz.Allowed(acl.ResourceNode, "n", acl.Read) {
		t.Errorf("resolve through dc1: %v", err)
	}
	if s := replStatus(t, dc2, "dc2"); s.ReplicationType != "policies" || s.ReplicatedTokenIndex != 0 || s.ReplicatedIndex == 0 {
		t.Errorf("status: %+v", s)
	}
	req := &structs.ACLTokenSetRequest{Datacenter: "dc2", Create: true, ACLToken: structs.ACLToken{Local: true}}
	req.Token = replMgmt
	err := dc1.RPC("ACL.TokenSet", req, &structs.ACLToken{})
	if err == nil || !strings.Contains(err.Error(), "local tokens can only be created in the primary") {
		t.Errorf("local token in dc2 without token replication: %v", err)
	}
}

// TestACLReplicationNeedsWriteToken: a replication token that may only
// read ACLs cannot replicate tokens (their secrets are hidden from it):
// the status says why.
func TestACLReplicationNeedsWriteToken(t *testing.T) {
	const reader = "3f1e9c2b-6a4d-4e8f-b1c2-d3e4f5a6b7c8"
	dc1 := startACLServer(t, "dc1", func(c *Config) { c.ACL.InitialManagementToken = replMgmt })
	var pol structs.ACLPolicy
	waitFor(t, "initial management token", 10*time.Second, func() error {
		req := &structs.ACLPolicySetRequest{Policy: structs.ACLPolicy{Name: "acl-read", Rules: `acl = "read"`}}
		req.Token = replMgmt
		return dc1.RPC("ACL.PolicySet", req, &pol)
	})
	aclWrite(t, dc1, "ACL.TokenSet", &structs.ACLTokenSetRequest{Create: true, ACLToken: structs.ACLToken{SecretID: reader, Policies: []structs.ACLLink{{ID: pol.ID}}}}, &structs.ACLToken{})
	dc2 := startACLServer(t, "dc2", func(c *Config) {
		c.ACL.ReplicationToken = reader
		c.ACL.EnableTokenReplication = true
	})
	joinWAN(t, dc2, dc1)
	waitFor(t, "the error in dc2's status", 20*time.Second, func() error {
		s := replStatus(t, dc2, "dc2")
		if !strings.Contains(s.LastErrorMessage, `token replication needs a token with acl = "write"`) {
			return fmt.Errorf("status %+v", s)
		}
		return nil
	})
}

// TestACLDownPolicies: a secondary without token replication resolves
// through the primary and caches for token_ttl; with the primary stopped
// each down_policy does what it says, for a token resolved before and for
// one never seen.
func TestACLDownPolicies(t *testing.T) {
	dc1 := startACLServer(t, "dc1", func(c *Config) { c.ACL.InitialManagementToken = replMgmt })
	policies := []acl.DownPolicy{acl.DownExtendCache, acl.DownAsyncCache, acl.DownDeny, acl.DownAllow}
	secondaries := make([]*Server, len(policies))
	for i, dp := range policies {
		secondaries[i] = startACLServer(t, fmt.Sprintf("dc%d", i+2), func(c *Config) {
			c.ACL.DownPolicy = dp
			// Every entry has always expired.
			c.ACL.TokenTTL = time.Nanosecond
			c.CrossDCTimeout = time.Second
		})
		joinWAN(t, secondaries[i], dc1)
	}
	waitWANMembers(t, dc1, len(policies)+1)
	var pol structs.ACLPolicy
	waitFor(t, "initial management token", 10*time.Second, func() error {
		req := &structs.ACLPolicySetRequest{Policy: structs.ACLPolicy{Name: "app", Rules: `key_prefix "app/" { policy = "write" }`}}
		req.Token = replMgmt
		return dc1.RPC("ACL.PolicySet", req, &pol)
	})
	var seen, unseen structs.ACLToken
	for _, tk := range []*structs.ACLToken{&seen, &unseen} {
		aclWrite(t, dc1, "ACL.TokenSet", &structs.ACLTokenSetRequest{Create: true, ACLToken: structs.ACLToken{Policies: []structs.ACLLink{{ID: pol.ID}}}}, tk)
	}
	for _, s := range secondaries {
		waitFor(t, "resolve through dc1", 10*time.Second, func() error {
			_, _, err := s.ResolveToken(seen.SecretID)
			return err
		})
	}

	// async-cache, primary up: an expired entry is answered at once, old,
	// and fetched again behind the request.
	async := secondaries[1]
	pol.Rules = `key_prefix "app/" { policy = "read" }`
	aclWrite(t, dc1, "ACL.PolicySet", &structs.ACLPolicySetRequest{Policy: pol}, &pol)
	waitFor(t, "async-cache refresh", 10*time.Second, func() error {
		authz, _, err := async.ResolveToken(seen.SecretID)
		if err != nil {
			return err
		}
		if authz.Allowed(acl.ResourceKey, "app/x", acl.Write) {
			return fmt.Errorf("still the old rights")
		}
		return nil
	})
	pol.Rules = `key_prefix "app/" { policy = "write" }`
	aclWrite(t, dc1, "ACL.PolicySet", &structs.ACLPolicySetRequest{Policy: pol}, &pol)
	for _, s := range secondaries {
		waitFor(t, "write rights back", 10*time.Second, func() error {
			authz, _, err := s.ResolveToken(seen.SecretID)
			if err != nil {
				return err
			}
			if !authz.Allowed(acl.ResourceKey, "app/x", acl.Write) {
				return fmt.Errorf("not yet")
			}
			return nil
		})
	}

	dc1.Shutdown()
	for i, s := range secondaries {
		dp := policies[i]
		authz, _, err := s.ResolveToken(seen.SecretID)
		if err != nil {
			t.Errorf("%s: a token seen before: %v", dp, err)
			continue
		}
		app := authz.Allowed(acl.ResourceKey, "app/x", acl.Write)
		other := authz.Allowed(acl.ResourceKey, "other/z", acl.Write)
		switch dp {
		case acl.DownExtendCache, acl.DownAsyncCache:
			if !app || other {
				t.Errorf("%s: cached rights not kept: app %v other %v", dp, app, other)
			}
		case acl.DownDeny:
			if app || other {
				t.Errorf("%s: not denied: app %v other %v", dp, app, other)
			}
		case acl.DownAllow:
			if !app || !other || authz.Allowed(acl.ResourceACL, "", acl.Write) {
				t.Errorf("%s: not allowed: app %v other %v", dp, app, other)
			}
		}
		authz, _, err = s.ResolveToken(unseen.SecretID)
		switch dp {
		case acl.DownExtendCache, acl.DownAsyncCache:
			if err == nil || structs.IsErr(err, structs.ErrACLNotFound) {
				t.Errorf("%s: a token never seen: %v", dp, err)
			}
		case acl.DownDeny:
			if err != nil || authz.Allowed(acl.ResourceKey, "app/x", acl.Read) {
				t.Errorf("%s: a token never seen: %v", dp, err)
			}
		case acl.DownAllow:
			if err != nil || !authz.Allowed(acl.ResourceKey, "other/z", acl.Write) {
				t.Errorf("%s: a token never seen: %v", dp, err)
			}
		}
	}
}

// TestACLReplicationNameSwap: two policies (and two roles) whose names
// were swapped in the primary arrive in one round: the names move without
// clashing.
func TestACLReplicationNameSwap(t *testing.T) {
	s := startACLServer(t, "dc2", func(c *Config) { c.ACL.ReplicationToken = replMgmt })
	mk := func(id, name string) *structs.ACLPolicy {
		p := &structs.ACLPolicy{ID: id, Name: name, Rules: `key "` + name + `" { policy = "read" }`}
		p.SetHash()
		return p
	}
	a, b := "9a1b2c3d-0000-4000-8000-00000000000a", "9a1b2c3d-0000-4000-8000-00000000000b"
	if err := s.replicatePolicies(structs.ACLPolicies{mk(a, "x"), mk(b, "y")}); err != nil {
		t.Fatal(err)
	}
	if err := s.replicatePolicies(structs.ACLPolicies{mk(a, "y"), mk(b, "x")}); err != nil {
		t.Fatalf("swapped policy names: %v", err)
	}
	_, pols, _ := s.fsm.State().ACLPolicyList(nil)
	got := map[string]string{}
	for _, p := range pols {
		got[p.ID] = p.Name
	}
	if got[a] != "y" || got[b] != "x" || len(got) != 2 {
		t.Errorf("policies after the swap: %v", got)
	}
	role := func(id, name string) *structs.ACLRole {
		r := &structs.ACLRole{ID: id, Name: name, Policies: []structs.ACLLink{{ID: a}}}
		r.SetHash()
		return r
	}
	if err := s.replicateRoles(structs.ACLRoles{role(a, "r1"), role(b, "r2")}); err != nil {
		t.Fatal(err)
	}
	if err := s.replicateRoles(structs.ACLRoles{role(a, "r2"), role(b, "r1")}); err != nil {
		t.Fatalf("swapped role names: %v", err)
	}
	_, roles, _ := s.fsm.State().ACLRoleList(nil, "")
	gotR := map[string]string{}
	for _, r := range roles {
		gotR[r.ID] = r.Name
	}
	if gotR[a] != "r2" || gotR[b] != "r1" || len(gotR) != 2 {
		t.Errorf("roles after the swap: %v", gotR)
	}
}
