package agent

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/consul/api"

	"github.com/meridian-sd/meridian/acl"
	"github.com/meridian-sd/meridian/structs"
)

const aclDenyHCL = `acl { enabled = true default_policy = "deny" }`

// startACLAgent starts a single server with ACLs on, default deny.
func startACLAgent(t *testing.T, args ...string) *TestAgent {
	t.Helper()
	ta := StartTestAgent(t, append([]string{"-server", "-bootstrap", "-hcl=" + aclDenyHCL}, args...)...)
	ta.WaitForLeader(t)
	return ta
}

// withToken returns a client of ta that sends token.
func withToken(t testing.TB, ta *TestAgent, token string) *api.Client {
	t.Helper()
	cfg := api.DefaultNonPooledConfig()
	cfg.Address = ta.HTTPAddr
	cfg.Token = token
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// wantStatus checks an api error's status and that its body contains text.
func wantStatus(t *testing.T, what string, err error, code int, text string) {
	t.Helper()
	var se api.StatusError
	if !errors.As(err, &se) {
		t.Fatalf("%s: got %v, want HTTP %d", what, err, code)
	}
	if se.Code != code || !strings.Contains(se.Body, text) {
		t.Fatalf("%s: got %d %q, want %d containing %q", what, se.Code, se.Body, code, text)
	}
}

func TestACLDisabled(t *testing.T) {
	ta := StartTestAgent(t, "-server", "-bootstrap")
	ta.WaitForLeader(t)
	_, _, err := ta.Client.ACL().Bootstrap()
	wantStatus(t, "bootstrap", err, http.StatusUnauthorized, "ACL support disabled")
	_, _, err = ta.Client.ACL().PolicyList(nil)
	wantStatus(t, "policy list", err, http.StatusUnauthorized, "ACL support disabled")
	authz, ident, err := ta.ResolveToken("anything")
	if err != nil || ident != nil || !authz.IsManagement() {
		t.Fatalf("resolve with ACLs off: %v %v %v", authz, ident, err)
	}
}

func TestACLBootstrapOnceAndReset(t *testing.T) {
	ta := startACLAgent(t)
	tok, _, err := ta.Client.ACL().Bootstrap()
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessorID == "" || tok.SecretID == "" || len(tok.Policies) != 1 ||
		tok.Policies[0].ID != acl.GlobalManagementPolicyID || tok.Policies[0].Name != "global-management" ||
		tok.Description != "Bootstrap Token (Global Management)" || tok.CreateTime.IsZero() || len(tok.Hash) == 0 {
		t.Fatalf("bootstrap token %+v", tok)
	}
	_, _, err = ta.Client.ACL().Bootstrap()
	var se api.StatusError
	if !errors.As(err, &se) || se.Code != http.StatusForbidden || !strings.HasPrefix(se.Body, "Permission denied: ACL bootstrap no longer allowed (reset index: ") {
		t.Fatalf("second bootstrap: %v", err)
	}
	idx := strings.TrimSuffix(strings.TrimPrefix(se.Body, "Permission denied: ACL bootstrap no longer allowed (reset index: "), ")")
	// A wrong reset index changes nothing; the right one allows one more.
	reset := filepath.Join(ta.DataDir, "acl-bootstrap-reset")
	if err := os.WriteFile(reset, []byte("1"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ta.Client.ACL().Bootstrap(); err == nil {
		t.Fatal("bootstrap with a wrong reset index succeeded")
	}
	if err := os.WriteFile(reset, []byte(idx+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	secret := "5a2e2b5c-9c0e-4a8e-8f5e-0c4a7b1e2d3f"
	tok2, _, err := ta.Client.ACL().BootstrapWithToken(secret)
	if err != nil {
		t.Fatalf("bootstrap after reset: %v", err)
	}
	if tok2.SecretID != secret || tok2.AccessorID == tok.AccessorID {
		t.Fatalf("second bootstrap token %+v", tok2)
	}
	if _, err := os.Stat(reset); !os.IsNotExist(err) {
		t.Errorf("reset file still there: %v", err)
	}
	if _, _, err := ta.Client.ACL().Bootstrap(); err == nil {
		t.Fatal("third bootstrap succeeded")
	}
	// Both management tokens work.
	for _, s := range []string{tok.SecretID, secret} {
		if _, _, err := withToken(t, ta, s).ACL().PolicyList(nil); err != nil {
			t.Errorf("management token: %v", err)
		}
	}
}

func TestACLPoliciesTokensRoles(t *testing.T) {
	ta := startACLAgent(t)
	boot, _, err := ta.Client.ACL().Bootstrap()
	if err != nil {
		t.Fatal(err)
	}
	mc := withToken(t, ta, boot.SecretID).ACL()

	// Anonymous writes are refused with Consul's sentence.
	_, _, err = ta.Client.ACL().PolicyCreate(&api.ACLPolicy{Name: "x", Rules: `key "a" { policy = "read" }`}, nil)
	wantStatus(t, "anonymous policy create", err, 403,
		"Permission denied: anonymous token lacks permission 'acl:write'. The anonymous token is used implicitly when a request does not specify a token.")
	// An unknown secret.
	_, _, err = withToken(t, ta, "6a1f1d2e-0000-4000-8000-000000000000").ACL().PolicyList(nil)
	wantStatus(t, "unknown secret", err, 403, "ACL not found")

	// Policies: bad input first.
	_, _, err = mc.PolicyCreate(&api.ACLPolicy{Name: "bad", Rules: "key \"a\" {\n  policy = \"writ\"\n}"}, nil)
	wantStatus(t, "bad rules", err, 400, `invalid ACL rules: line 2: key "a": invalid policy "writ"`)
	_, _, err = mc.PolicyCreate(&api.ACLPolicy{Name: "no spaces", Rules: ""}, nil)
	wantStatus(t, "bad name", err, 400, `invalid policy name "no spaces"`)
	_, _, err = mc.PolicyCreate(&api.ACLPolicy{Name: "x", Datacenters: []string{"DC 1"}}, nil)
	wantStatus(t, "bad dc", err, 400, `invalid policy datacenter "DC 1"`)

	app, _, err := mc.PolicyCreate(&api.ACLPolicy{Name: "app-write", Description: "app keys",
		Rules: `key_prefix "app/" { policy = "write" }`}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if app.ID == "" || app.CreateIndex == 0 || app.Rules == "" || len(app.Hash) == 0 {
		t.Fatalf("created policy %+v", app)
	}
	_, _, err = mc.PolicyCreate(&api.ACLPolicy{Name: "app-write"}, nil)
	wantStatus(t, "duplicate name", err, 400, `a policy named "app-write" already exists`)
	reader, _, err := mc.PolicyCreate(&api.ACLPolicy{Name: "acl-read", Rules: `acl = "read"`}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := mc.PolicyRead(app.ID, nil)
	if err != nil || got.Name != "app-write" || got.Rules != app.Rules {
		t.Fatalf("policy read: %+v %v", got, err)
	}
	byName, _, err := mc.PolicyReadByName("app-write", nil)
	if err != nil || byName == nil || byName.ID != app.ID {
		t.Fatalf("policy by name: %+v %v", byName, err)
	}
	if none, _, err := mc.PolicyReadByName("nope", nil); err != nil || none != nil {
		t.Fatalf("unknown policy name: %+v %v", none, err)
	}
	_, _, err = mc.PolicyRead("8d1b2c3d-0000-4000-8000-000000000000", nil)
	wantStatus(t, "unknown policy id", err, 403, "ACL not found")
	app.Description = "app keys, updated"
	upd, _, err := mc.PolicyUpdate(app, nil)
	if err != nil || upd.Description != "app keys, updated" || upd.ModifyIndex <= app.CreateIndex || upd.CreateIndex != app.CreateIndex {
		t.Fatalf("policy update: %+v %v", upd, err)
	}
	list, _, err := mc.PolicyList(nil)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, p := range list {
		names[p.Name] = true
	}
	if len(list) != 3 || !names["global-management"] || !names["app-write"] || !names["acl-read"] {
		t.Fatalf("policy list %+v", list)
	}
	_, err = mc.PolicyDelete(acl.GlobalManagementPolicyID, nil)
	// (The client drops the body of a failed policy delete.)
	wantStatus(t, "delete builtin", err, 400, "")
	gm, _, _ := mc.PolicyRead(acl.GlobalManagementPolicyID, nil)
	gm.Rules = `acl = "read"`
	_, _, err = mc.PolicyUpdate(gm, nil)
	wantStatus(t, "change builtin rules", err, 400, "not permitted")

	// Roles.
	role, _, err := mc.RoleCreate(&api.ACLRole{Name: "readers", Policies: []*api.ACLRolePolicyLink{{Name: "acl-read"}}}, nil)
	if err != nil || role.ID == "" || len(role.Policies) != 1 || role.Policies[0].ID != reader.ID {
		t.Fatalf("role create: %+v %v", role, err)
	}
	_, _, err = mc.RoleCreate(&api.ACLRole{Name: "r2", Policies: []*api.ACLRolePolicyLink{{Name: "missing"}}}, nil)
	wantStatus(t, "role with unknown policy", err, 400, `no policy named "missing"`)
	_, _, err = mc.RoleCreate(&api.ACLRole{Name: "r3", ServiceIdentities: []*api.ACLServiceIdentity{{ServiceName: "web"}}}, nil)
	wantStatus(t, "service identities", err, 400, "ServiceIdentities are not supported")
	if r, _, err := mc.RoleReadByName("readers", nil); err != nil || r == nil || r.ID != role.ID {
		t.Fatalf("role by name: %+v %v", r, err)
	}
	if r, _, err := mc.RoleRead("7e1b2c3d-0000-4000-8000-000000000000", nil); err != nil || r != nil {
		t.Fatalf("unknown role: %+v %v", r, err)
	}
	role.Description = "can read ACLs"
	if r, _, err := mc.RoleUpdate(role, nil); err != nil || r.Description != "can read ACLs" {
		t.Fatalf("role update: %+v %v", r, err)
	}
	if roles, _, err := mc.RoleList(nil); err != nil || len(roles) != 1 {
		t.Fatalf("role list: %+v %v", roles, err)
	}

	// Tokens.
	_, _, err = mc.TokenCreate(&api.ACLToken{Policies: []*api.ACLTokenPolicyLink{{ID: "no-such-id"}}}, nil)
	wantStatus(t, "token with unknown policy", err, 400, `no policy with ID "no-such-id"`)
	_, _, err = mc.TokenCreate(&api.ACLToken{AccessorID: "not-a-uuid"}, nil)
	wantStatus(t, "bad accessor", err, 400, "AccessorID is not a valid UUID")
	_, _, err = mc.TokenCreate(&api.ACLToken{SecretID: boot.SecretID}, nil)
	wantStatus(t, "reused secret", err, 400, "already in use")
	_, _, err = mc.TokenCreate(&api.ACLToken{ExpirationTTL: 1}, nil)
	wantStatus(t, "tiny ttl", err, 400, "ExpirationTTL must be between")

	appTok, _, err := mc.TokenCreate(&api.ACLToken{Description: "app", Policies: []*api.ACLTokenPolicyLink{{Name: "app-write"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if appTok.AccessorID == "" || appTok.SecretID == "" || len(appTok.Policies) != 1 || appTok.Policies[0].ID != app.ID || appTok.Local {
		t.Fatalf("token create %+v", appTok)
	}
	readTok, _, err := mc.TokenCreate(&api.ACLToken{Description: "reader", Roles: []*api.ACLTokenRoleLink{{ID: role.ID}}, ExpirationTTL: 3600e9}, nil)
	if err != nil || readTok.ExpirationTime == nil {
		t.Fatalf("token with a role: %+v %v", readTok, err)
	}
	self, _, err := withToken(t, ta, appTok.SecretID).ACL().TokenReadSelf(nil)
	if err != nil || self.AccessorID != appTok.AccessorID || self.SecretID != appTok.SecretID {
		t.Fatalf("self: %+v %v", self, err)
	}
	_, _, err = ta.Client.ACL().TokenReadSelf(nil)
	wantStatus(t, "anonymous self", err, 403, "token does not exist: ACL not found")

	// The app token may not manage ACLs: Consul's sentence with its AccessorID.
	_, _, err = withToken(t, ta, appTok.SecretID).ACL().TokenList(nil)
	wantStatus(t, "app token lists tokens", err, 403,
		fmt.Sprintf("Permission denied: token with AccessorID '%s' lacks permission 'acl:read'", appTok.AccessorID))
	// The reader (through its role) may list, and sees no secrets.
	rl, _, err := withToken(t, ta, readTok.SecretID).ACL().TokenList(nil)
	if err != nil {
		t.Fatalf("reader lists tokens: %v", err)
	}
	for _, e := range rl {
		if e.SecretID != structs.ACLRedactedSecret {
			t.Errorf("reader sees secret of %s", e.AccessorID)
		}
	}
	_, _, err = withToken(t, ta, readTok.SecretID).ACL().TokenCreate(&api.ACLToken{}, nil)
	wantStatus(t, "reader creates a token", err, 403, "lacks permission 'acl:write'")

	// Read, update, clone, list with filters, delete.
	rd, _, err := mc.TokenRead(appTok.AccessorID, nil)
	if err != nil || rd.SecretID != appTok.SecretID || rd.Description != "app" {
		t.Fatalf("token read %+v %v", rd, err)
	}
	rd.Description = "app, updated"
	rd.Policies = append(rd.Policies, &api.ACLTokenPolicyLink{Name: "acl-read"})
	up, _, err := mc.TokenUpdate(rd, nil)
	if err != nil || up.Description != "app, updated" || len(up.Policies) != 2 || up.SecretID != appTok.SecretID || up.CreateIndex != appTok.CreateIndex {
		t.Fatalf("token update %+v %v", up, err)
	}
	rd.SecretID = "4c1b2c3d-0000-4000-8000-000000000000"
	_, _, err = mc.TokenUpdate(rd, nil)
	wantStatus(t, "secret change", err, 400, "SecretID is not permitted")
	cl, _, err := mc.TokenClone(appTok.AccessorID, "a clone", nil)
	if err != nil || cl.AccessorID == appTok.AccessorID || cl.SecretID == appTok.SecretID || cl.Description != "a clone" || len(cl.Policies) != 2 {
		t.Fatalf("clone %+v %v", cl, err)
	}
	all, _, err := mc.TokenList(nil)
	if err != nil {
		t.Fatal(err)
	}
	// anonymous, bootstrap, app, reader, clone
	if len(all) != 5 {
		t.Fatalf("token list has %d entries: %+v", len(all), all)
	}
	byPolicy, _, err := mc.TokenListFiltered(api.ACLTokenFilterOptions{Policy: app.ID}, nil)
	if err != nil || len(byPolicy) != 2 {
		t.Fatalf("tokens of app-write: %+v %v", byPolicy, err)
	}
	byRole, _, err := mc.TokenListFiltered(api.ACLTokenFilterOptions{Role: role.ID}, nil)
	if err != nil || len(byRole) != 1 || byRole[0].AccessorID != readTok.AccessorID {
		t.Fatalf("tokens of role: %+v %v", byRole, err)
	}
	_, err = mc.TokenDelete(acl.AnonymousTokenID, nil)
	wantStatus(t, "delete anonymous", err, 400, "anonymous token cannot be deleted")
	_, err = mc.TokenDelete(boot.AccessorID, nil)
	wantStatus(t, "delete self", err, 400, "cannot delete itself")
	if _, err := mc.TokenDelete(cl.AccessorID, nil); err != nil {
		t.Fatal(err)
	}
	_, _, err = mc.TokenRead(cl.AccessorID, nil)
	wantStatus(t, "read deleted", err, 403, "ACL not found")
	_, _, err = withToken(t, ta, cl.SecretID).ACL().TokenReadSelf(nil)
	wantStatus(t, "deleted token's self", err, 403, "ACL not found")

	// Deleting a policy drops it from tokens; deleting a role too.
	if _, err := mc.PolicyDelete(reader.ID, nil); err != nil {
		t.Fatal(err)
	}
	up2, _, _ := mc.TokenRead(appTok.AccessorID, nil)
	if len(up2.Policies) != 1 || up2.Policies[0].ID != app.ID {
		t.Errorf("token policies after policy delete: %+v", up2.Policies)
	}
	if _, err := mc.RoleDelete(role.ID, nil); err != nil {
		t.Fatal(err)
	}
	if r, _, _ := mc.RoleRead(role.ID, nil); r != nil {
		t.Error("deleted role still readable")
	}

	// What the app token may do, through the resolver.
	authz, ident, err := ta.ResolveToken(appTok.SecretID)
	if err != nil || ident.AccessorID != appTok.AccessorID {
		t.Fatalf("resolve: %v %v", ident, err)
	}
	if !authz.Allowed(acl.ResourceKey, "app/x", acl.Write) || authz.Allowed(acl.ResourceKey, "other/z", acl.Write) {
		t.Error("app token's key access is wrong")
	}
	anon, ident, err := ta.ResolveToken("")
	if err != nil || ident.AccessorID != acl.AnonymousTokenID || anon.Allowed(acl.ResourceKey, "app/x", acl.Read) {
		t.Errorf("anonymous: %v %v", ident, err)
	}
	if _, _, err := ta.ResolveToken("nope"); !structs.IsErr(err, structs.ErrACLNotFound) {
		t.Errorf("unknown secret resolves: %v", err)
	}
}

func TestACLTokenSources(t *testing.T) {
	ta := startACLAgent(t, "-hcl=acl { tokens { initial_management = \"3f6e5c1a-1b2c-4d3e-8f4a-5b6c7d8e9f00\" } }")
	secret := "3f6e5c1a-1b2c-4d3e-8f4a-5b6c7d8e9f00"
	// The initial management token exists once the leader is established,
	// and counts as the bootstrap.
	WaitFor(t, "the initial management token", 10e9, func() error {
		_, _, err := withToken(t, ta, secret).ACL().TokenReadSelf(nil)
		return err
	})
	_, _, err := ta.Client.ACL().Bootstrap()
	wantStatus(t, "bootstrap after initial management", err, 403, "ACL bootstrap no longer allowed")

	get := func(set func(*http.Request)) (int, string) {
		req, _ := http.NewRequest("GET", "http://"+ta.HTTPAddr+"/v1/acl/token/self", nil)
		set(req)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for name, set := range map[string]func(*http.Request){
		"header": func(r *http.Request) { r.Header.Set("X-Consul-Token", secret) },
		"bearer": func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+secret) },
		"query":  func(r *http.Request) { r.URL.RawQuery = "token=" + secret },
	} {
		code, body := get(set)
		if code != 200 || !strings.Contains(body, `"Description":"Initial Management Token"`) {
			t.Errorf("%s: %d %s", name, code, body)
		}
	}
	code, body := get(func(r *http.Request) { r.Header.Set("Authorization", "Basic "+secret) })
	if code != 403 || body != "token does not exist: ACL not found" {
		t.Errorf("basic auth taken as a token: %d %q", code, body)
	}
}

func TestACLBadBodies(t *testing.T) {
	ta := startACLAgent(t)
	boot, _, err := ta.Client.ACL().Bootstrap()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		method, path, body string
		code               int
		text               string
	}{
		{"PUT", "/v1/acl/policy", `{"Name": "x", "Bogus": 1}`, 400, `unknown field "Bogus"`},
		{"PUT", "/v1/acl/policy", `{"ID": "abc", "Name": "x"}`, 400, "Cannot specify an ID"},
		{"PUT", "/v1/acl/policy", `not json`, 400, "Request decode failed"},
		{"PUT", "/v1/acl/token", `{"Rules": "key \"\" {}"}`, 400, "legacy ACLs"},
		{"PUT", "/v1/acl/token", `{"ExpirationTTL": "soon"}`, 400, "Request decode failed"},
		{"PUT", "/v1/acl/token/" + boot.AccessorID, `{"AccessorID": "other"}`, 400, "do not match"},
		{"GET", "/v1/acl/tokens?policy=a&role=b", ``, 400, "not both"},
		{"GET", "/v1/acl/tokens?authmethod=x", ``, 400, "not supported"},
		{"POST", "/v1/acl/token/" + boot.AccessorID + "/clone", `{"Description": 5}`, 400, "Request decode failed"},
		{"DELETE", "/v1/acl/token/", ``, 400, "Missing token AccessorID"},
		{"GET", "/v1/acl/tokens", ``, 200, boot.AccessorID},
		{"PUT", "/v1/acl/token", `{"Description": "` + strings.Repeat("d", 9000) + `"}`, 400, "invalid description"},
	} {
		req, _ := http.NewRequest(c.method, "http://"+ta.HTTPAddr+c.path, strings.NewReader(c.body))
		req.Header.Set("X-Consul-Token", boot.SecretID)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.code || !strings.Contains(string(b), c.text) {
			t.Errorf("%s %s %s: got %d %q, want %d containing %q", c.method, c.path, c.body, resp.StatusCode, b, c.code, c.text)
		}
	}
}

// TestACLClientAgentResolves resolves tokens on a client agent, through its
// server, with the client's cache.
func TestACLClientAgentResolves(t *testing.T) {
	srv := startACLAgent(t)
	boot, _, err := srv.Client.ACL().Bootstrap()
	if err != nil {
		t.Fatal(err)
	}
	mc := withToken(t, srv, boot.SecretID).ACL()
	p, _, err := mc.PolicyCreate(&api.ACLPolicy{Name: "svc", Rules: `service_prefix "web" { policy = "write" }`}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := mc.TokenCreate(&api.ACLToken{Policies: []*api.ACLTokenPolicyLink{{ID: p.ID}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	const recovery = "5e0c7a1d-7b8e-4f3a-9c2d-1e0f2a3b4c5d"
	cl := StartTestAgent(t, "-hcl="+aclDenyHCL, "-hcl=acl { tokens { agent_recovery = \""+recovery+"\" } }")
	// Knowing no server, the client can resolve nothing: anonymous joins
	// fail, the agent recovery token works.
	if err := cl.Client.Agent().Join(srv.LANAddr(), false); err == nil {
		t.Fatal("anonymous join without a server to ask succeeded")
	}
	if err := withToken(t, cl, recovery).Agent().Join(srv.LANAddr(), false); err != nil {
		t.Fatalf("join with the agent recovery token: %v", err)
	}
	// The recovery token is only for the agent's own endpoints.
	if _, _, err := withToken(t, cl, recovery).KV().Get("x", nil); err == nil {
		t.Error("the recovery token reads KV")
	}
	var authz *acl.Authorizer
	WaitFor(t, "the client to resolve", 10e9, func() error {
		var err error
		authz, _, err = cl.ResolveToken(tok.SecretID)
		return err
	})
	if !authz.Allowed(acl.ResourceService, "web-1", acl.Write) || authz.Allowed(acl.ResourceService, "db", acl.Read) {
		t.Error("client-side authorizer is wrong")
	}
	if a2, _, _ := cl.ResolveToken(boot.SecretID); !a2.IsManagement() {
		t.Error("management token is not management on the client")
	}
	if _, _, err := cl.ResolveToken("c0ffee00-0000-4000-8000-000000000000"); !structs.IsErr(err, structs.ErrACLNotFound) {
		t.Errorf("unknown secret on the client: %v", err)
	}
	// ACL endpoints work through the client agent too.
	if _, _, err := withToken(t, cl, boot.SecretID).ACL().TokenRead(tok.AccessorID, nil); err != nil {
		t.Errorf("token read through the client: %v", err)
	}
}

func TestRedactedURL(t *testing.T) {
	for in, want := range map[string]string{
		"/v1/kv/a?token=s3cret&recurse": "/v1/kv/a?recurse=&token=%3Chidden%3E",
		"/v1/kv/a?recurse":              "/v1/kv/a?recurse",
		"/v1/acl/token/self":            "/v1/acl/token/self",
	} {
		u, err := url.Parse(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := redactedURL(u); got != want || strings.Contains(got, "s3cret") {
			t.Errorf("redactedURL(%q) = %q, want %q", in, got, want)
		}
	}
}
