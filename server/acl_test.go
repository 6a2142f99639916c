package server

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/meridian-sd/meridian/acl"
	"github.com/meridian-sd/meridian/structs"
)

// startACLServer starts a single bootstrapped server of dc with ACLs on,
// default deny, dc1 primary.
func startACLServer(t *testing.T, dc string, tweak func(*Config)) *Server {
	t.Helper()
	cfg := testConfig(t, dc)
	cfg.Bootstrap = true
	cfg.ACL = ACLConfig{Enabled: true, PrimaryDatacenter: "dc1", DefaultPolicy: acl.PolicyDeny}
	if tweak != nil {
		tweak(cfg)
	}
	s := startServer(t, cfg)
	waitForLeader(t, []*Server{s})
	return s
}

func TestACLAcrossDatacenters(t *testing.T) {
	dc1 := startACLServer(t, "dc1", nil)
	dc2 := startACLServer(t, "dc2", func(c *Config) {
		// Every resolution asks the primary again.
		c.ACL.TokenTTL = time.Nanosecond
		c.CrossDCTimeout = 2 * time.Second
	})
	joinWAN(t, dc2, dc1)
	waitWANMembers(t, dc2, 2)

	// Bootstrap through dc2: it is answered by dc1.
	var boot structs.ACLToken
	waitFor(t, "bootstrap through dc2", 10*time.Second, func() error {
		return dc2.RPC("ACL.Bootstrap", &structs.ACLBootstrapRequest{}, &boot)
	})
	if dc1.fsm.State().ACLBootstrapIndex() == 0 || dc2.fsm.State().ACLBootstrapIndex() != 0 {
		t.Fatal("bootstrap did not land in the primary only")
	}
	var pol structs.ACLPolicy
	req := &structs.ACLPolicySetRequest{Datacenter: "dc2", Policy: structs.ACLPolicy{Name: "app", Rules: `key_prefix "app/" { policy = "write" }`}}
	req.Token = boot.SecretID
	if err := dc2.RPC("ACL.PolicySet", req, &pol); err != nil {
		t.Fatal(err)
	}
	if _, p, _ := dc1.fsm.State().ACLPolicyGetByID(nil, pol.ID); p == nil {
		t.Fatal("a policy written through dc2 is not in dc1")
	}
	var tok structs.ACLToken
	treq := &structs.ACLTokenSetRequest{Create: true, ACLToken: structs.ACLToken{Policies: []structs.ACLLink{{Name: "app"}}}}
	treq.Token = boot.SecretID
	if err := dc2.RPC("ACL.TokenSet", treq, &tok); err != nil {
		t.Fatal(err)
	}

	// dc2 resolves through dc1.
	authz, ident, err := dc2.ResolveToken(tok.SecretID)
	if err != nil {
		t.Fatal(err)
	}
	if ident.AccessorID != tok.AccessorID || ident.SecretID != "" {
		t.Errorf("identity from the primary: %+v", ident)
	}
	if !authz.Allowed(acl.ResourceKey, "app/1", acl.Write) || authz.Allowed(acl.ResourceKey, "other/z", acl.Write) {
		t.Error("dc2's authorizer is wrong")
	}
	if _, _, err := dc2.ResolveToken("b16b00b5-0000-4000-8000-000000000000"); !structs.IsErr(err, structs.ErrACLNotFound) {
		t.Errorf("unknown secret in dc2: %v", err)
	}
	// A refusal in dc2 names the token.
	lreq := &structs.ACLTokenListRequest{Datacenter: "dc2"}
	lreq.Token = tok.SecretID
	err = dc2.RPC("ACL.TokenList", lreq, &structs.ACLTokenListResponse{})
	want := fmt.Sprintf("Permission denied: token with AccessorID '%s' lacks permission 'acl:read'", tok.AccessorID)
	if err == nil || err.Error() != want {
		t.Errorf("list with the app token: %v, want %q", err, want)
	}

	// Local tokens: refused in dc2 (nothing would resolve them there yet);
	// one of dc1 works in dc1 only.
	lt := &structs.ACLTokenSetRequest{Datacenter: "dc2", Create: true, ACLToken: structs.ACLToken{Local: true}}
	lt.Token = boot.SecretID
	if err := dc1.RPC("ACL.TokenSet", lt, &structs.ACLToken{}); err == nil || !strings.Contains(err.Error(), "local tokens can only be created in the primary") {
		t.Errorf("local token in dc2: %v", err)
	}
	var local structs.ACLToken
	lt.Datacenter = "dc1"
	if err := dc2.RPC("ACL.TokenSet", lt, &local); err != nil || !local.Local {
		t.Fatalf("local token in dc1: %+v %v", local, err)
	}
	if _, _, err := dc1.ResolveToken(local.SecretID); err != nil {
		t.Errorf("local token in its datacenter: %v", err)
	}
	if _, _, err := dc2.ResolveToken(local.SecretID); !structs.IsErr(err, structs.ErrACLNotFound) {
		t.Errorf("dc1's local token in dc2: %v", err)
	}

	// dc1 goes away: dc2 keeps the token it resolved (extend-cache) and
	// cannot resolve one it never saw.
	dc1.Shutdown()
	authz, _, err = dc2.ResolveToken(tok.SecretID)
	if err != nil {
		t.Fatalf("resolve with the primary down: %v", err)
	}
	if !authz.Allowed(acl.ResourceKey, "app/1", acl.Write) || authz.Allowed(acl.ResourceKey, "other/z", acl.Write) {
		t.Error("the extended authorizer is wrong")
	}
	if _, _, err := dc2.ResolveToken(boot.SecretID + "x"); err == nil || structs.IsErr(err, structs.ErrACLNotFound) {
		t.Errorf("a never-seen secret with the primary down: %v", err)
	}
}

func TestACLDownPolicyDeny(t *testing.T) {
	now := time.Unix(1000, 0)
	c := acl.NewCache[string](time.Second, acl.DownDeny, func() time.Time { return now })
	fetches := 0
	fetch := func() (*acl.Authorizer, string, error) {
		fetches++
		if fetches > 1 {
			return nil, "", fmt.Errorf("primary unreachable")
		}
		return acl.ManageAll(), "id", nil
	}
	notFound := func(err error) bool { return strings.Contains(err.Error(), "ACL not found") }
	if a, _, err := c.Resolve("s", notFound, fetch); err != nil || !a.IsManagement() {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Second)
	a, _, err := c.Resolve("s", notFound, fetch)
	if err != nil || a.Allowed(acl.ResourceKey, "x", acl.Read) {
		t.Errorf("down_policy deny: %v %v", a, err)
	}
	allow := acl.NewCache[string](time.Hour, acl.DownAllow, nil)
	a, _, err = allow.Resolve("t", notFound, func() (*acl.Authorizer, string, error) { return nil, "", fmt.Errorf("down") })
	if err != nil || !a.Allowed(acl.ResourceKey, "x", acl.Write) || a.Allowed(acl.ResourceACL, "", acl.Read) {
		t.Errorf("down_policy allow: %v %v", a, err)
	}
	// Not found is passed on and not cached.
	n := 0
	_, _, err = allow.Resolve("u", notFound, func() (*acl.Authorizer, string, error) {
		n++
		return nil, "", structs.ErrACLNotFound
	})
	if !structs.IsErr(err, structs.ErrACLNotFound) {
		t.Errorf("not found under down_policy allow: %v", err)
	}
	allow.Resolve("u", notFound, func() (*acl.Authorizer, string, error) { n++; return acl.DenyAll(), "", nil })
	if n != 2 {
		t.Errorf("not found was cached: %d fetches", n)
	}
}

func TestACLRestartKeepsEverything(t *testing.T) {
	s := startACLServer(t, "dc1", func(c *Config) { c.ACL.InitialManagementToken = "2b7e1516-28ae-4d2a-a6ab-f7158809cf4f" })
	mgmt := "2b7e1516-28ae-4d2a-a6ab-f7158809cf4f"
	waitFor(t, "initial management token", 5*time.Second, func() error {
		_, _, err := s.ResolveToken(mgmt)
		return err
	})
	var pol structs.ACLPolicy
	preq := &structs.ACLPolicySetRequest{Policy: structs.ACLPolicy{Name: "p", Rules: `node_prefix "" { policy = "read" }`}}
	preq.Token = mgmt
	if err := s.RPC("ACL.PolicySet", preq, &pol); err != nil {
		t.Fatal(err)
	}
	var role structs.ACLRole
	rreq := &structs.ACLRoleSetRequest{Role: structs.ACLRole{Name: "r", Policies: []structs.ACLLink{{ID: pol.ID}}}}
	rreq.Token = mgmt
	if err := s.RPC("ACL.RoleSet", rreq, &role); err != nil {
		t.Fatal(err)
	}
	var tok structs.ACLToken
	treq := &structs.ACLTokenSetRequest{Create: true, ACLToken: structs.ACLToken{Roles: []structs.ACLLink{{ID: role.ID}}}}
	treq.Token = mgmt
	if err := s.RPC("ACL.TokenSet", treq, &tok); err != nil {
		t.Fatal(err)
	}
	// A snapshot, then more writes in the log after it, so the restart
	// goes through both restore and replay.
	if err := s.raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	var pol2 structs.ACLPolicy
	preq.Policy = structs.ACLPolicy{Name: "after-snapshot"}
	if err := s.RPC("ACL.PolicySet", preq, &pol2); err != nil {
		t.Fatal(err)
	}
	bootIdx := s.fsm.State().ACLBootstrapIndex()

	id := identityOf(s)
	id.tweak = func(c *Config) {
		c.ACL = ACLConfig{Enabled: true, PrimaryDatacenter: "dc1", DefaultPolicy: acl.PolicyDeny, InitialManagementToken: mgmt}
	}
	s.Shutdown()
	s = startServer(t, restartConfig(t, id))
	waitForLeader(t, []*Server{s})
	var authz *acl.Authorizer
	waitFor(t, "the token after the restart", 10*time.Second, func() error {
		var err error
		authz, _, err = s.ResolveToken(tok.SecretID)
		return err
	})
	if !authz.Allowed(acl.ResourceNode, "n", acl.Read) || authz.Allowed(acl.ResourceNode, "n", acl.Write) {
		t.Error("restored token's rights are wrong")
	}
	// A read through the endpoint waits until the new leader has applied
	// its log, after which the state holds everything.
	gp := &structs.ACLPolicyGetRequest{PolicyName: "after-snapshot"}
	gp.Token = mgmt
	var got structs.ACLPolicyResponse
	if err := s.RPC("ACL.PolicyRead", gp, &got); err != nil {
		t.Fatal(err)
	}
	st := s.fsm.State()
	if st.ACLBootstrapIndex() != bootIdx {
		t.Errorf("bootstrap index %d after the restart, want %d", st.ACLBootstrapIndex(), bootIdx)
	}
	if got.Policy == nil {
		t.Error("policy written after the snapshot is lost")
	}
	_, toks, _ := st.ACLTokenList(nil, "", "")
	// anonymous, initial management, the role's token: the initial
	// management token is not created twice.
	if len(toks) != 3 {
		t.Errorf("%d tokens after the restart: %+v", len(toks), toks)
	}
	var boot structs.ACLToken
	err := s.RPC("ACL.Bootstrap", &structs.ACLBootstrapRequest{}, &boot)
	if err == nil || !strings.HasPrefix(err.Error(), "ACL bootstrap no longer allowed (reset index: ") {
		t.Errorf("bootstrap after the restart: %v", err)
	}
}

// TestACLResolveSeesChangesAtOnce: the primary's cache of resolved tokens
// never outlives a change to a token, its role or its policies.
func TestACLResolveSeesChangesAtOnce(t *testing.T) {
	s := startACLServer(t, "dc1", nil)
	var boot structs.ACLToken
	if err := s.RPC("ACL.Bootstrap", &structs.ACLBootstrapRequest{}, &boot); err != nil {
		t.Fatal(err)
	}
	write := func(method string, args interface{ SetToken(string) }, reply any) {
		t.Helper()
		args.SetToken(boot.SecretID)
		if err := s.RPC(method, args, reply); err != nil {
			t.Fatalf("%s: %v", method, err)
		}
	}
	var pol structs.ACLPolicy
	write("ACL.PolicySet", &structs.ACLPolicySetRequest{Policy: structs.ACLPolicy{Name: "p", Rules: `key_prefix "a/" { policy = "read" }`}}, &pol)
	var role structs.ACLRole
	write("ACL.RoleSet", &structs.ACLRoleSetRequest{Role: structs.ACLRole{Name: "r", Policies: []structs.ACLLink{{ID: pol.ID}}}}, &role)
	var tok structs.ACLToken
	write("ACL.TokenSet", &structs.ACLTokenSetRequest{Create: true, ACLToken: structs.ACLToken{Roles: []structs.ACLLink{{ID: role.ID}}}}, &tok)

	check := func(what string, want bool) {
		t.Helper()
		authz, _, err := s.ResolveToken(tok.SecretID)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if got := authz.Allowed(acl.ResourceKey, "a/x", acl.Write); got != want {
			t.Fatalf("%s: write on a/x = %v, want %v", what, got, want)
		}
	}
	check("read-only policy", false)
	check("read-only policy, cached", false)
	pol.Rules = `key_prefix "a/" { policy = "write" }`
	write("ACL.PolicySet", &structs.ACLPolicySetRequest{Policy: pol}, &pol)
	check("policy made writable", true)
	role.Policies = nil
	write("ACL.RoleSet", &structs.ACLRoleSetRequest{Role: role}, &role)
	check("role emptied", false)
	var id string
	write("ACL.TokenDelete", &structs.ACLTokenDeleteRequest{TokenID: tok.AccessorID}, &id)
	if _, _, err := s.ResolveToken(tok.SecretID); !structs.IsErr(err, structs.ErrACLNotFound) {
		t.Fatalf("deleted token resolves: %v", err)
	}
}
