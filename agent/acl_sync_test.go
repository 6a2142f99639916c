package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// TestACLServiceTokenSyncAndPersist: under default deny, a service
// registered through the agent with a token reaches the catalog through
// anti-entropy made with that token; the token is kept in the service's
// file (owner-only) and comes back after a restart; the service's later
// syncs still use it.
func TestACLServiceTokenSyncAndPersist(t *testing.T) {
	const root = "5d1f0a2b-7c3e-4f60-9a8b-1c2d3e4f5a6b"
	dir := t.TempDir()
	args := []string{"-server", "-bootstrap", "-hcl=" + aclDenyHCL, "-hcl=acl { tokens { initial_management = \"" + root + "\" } }", "-data-dir=" + dir}
	ta := StartTestAgent(t, args...)
	ta.WaitForLeader(t)
	mgmt := withToken(t, ta, root)
	WaitFor(t, "the initial management token", 10*time.Second, func() error {
		_, _, err := mgmt.ACL().TokenReadSelf(nil)
		return err
	})
	p, _, err := mgmt.ACL().PolicyCreate(&api.ACLPolicy{Name: "web", Rules: `service "web" { policy = "write" }`}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := mgmt.ACL().TokenCreate(&api.ACLToken{Policies: []*api.ACLTokenPolicyLink{{ID: p.ID}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	web := withToken(t, ta, tok.SecretID)
	if err := web.Agent().ServiceRegister(&api.AgentServiceRegistration{Name: "web", Port: 80}); err != nil {
		t.Fatalf("register web: %v", err)
	}
	// The restarted agent may take another node name: look at the
	// instance of the agent asked.
	inCatalog := func(c *api.Client, port int) func() error {
		return func() error {
			name, err := c.Agent().NodeName()
			if err != nil {
				return err
			}
			ss, _, err := c.Catalog().Service("web", "", nil)
			for _, s := range ss {
				if s.Node == name && s.ServicePort == port {
					return nil
				}
			}
			return fmt.Errorf("web on %s, port %d, in the catalog: %d instances, %v", name, port, len(ss), err)
		}
	}
	WaitFor(t, "web synced with its token", 10*time.Second, inCatalog(mgmt, 80))
	if got := ta.svc.state.ServiceToken("web"); got != tok.SecretID {
		t.Errorf("the service's token in the local state is not the one it was registered with")
	}
	path := filepath.Join(dir, servicesDir, fileName("web"))
	buf, err := os.ReadFile(path)
	if err != nil || !strings.Contains(string(buf), tok.SecretID) {
		t.Fatalf("the service's file does not keep its token: %v", err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the service's file is not owner-only: %v %v", fi.Mode(), err)
	}

	// A change made in the catalog behind the agent's back is repaired
	// with the service's token (the agent has no token of its own that
	// could write web).
	if _, err := mgmt.Catalog().Register(&api.CatalogRegistration{Node: ta.Name, Address: "127.0.0.1", SkipNodeUpdate: true,
		Service: &api.AgentService{ID: "web", Service: "web", Port: 81}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := inCatalog(mgmt, 81)(); err != nil {
		t.Fatal(err)
	}
	ta.svc.syncer.SyncFull()
	WaitFor(t, "web repaired by a full sync", 10*time.Second, inCatalog(mgmt, 80))

	ta.Shutdown()
	ta2 := StartTestAgent(t, args...)
	if got := ta2.svc.state.ServiceToken("web"); got != tok.SecretID {
		t.Errorf("after a restart the service lost its token")
	}
}

// TestACLCachedReadsPerToken: ?cached answers are kept per token and
// fetched with it, so one token never sees what another may read.
func TestACLCachedReadsPerToken(t *testing.T) {
	ta := startACLAgent(t)
	boot, _, err := ta.Client.ACL().Bootstrap()
	if err != nil {
		t.Fatal(err)
	}
	mgmt := withToken(t, ta, boot.SecretID)
	for _, svc := range []string{"web", "db"} {
		reg := &api.CatalogRegistration{Node: "n-" + svc, Address: "10.1.0.1", Service: &api.AgentService{ID: svc, Service: svc, Port: 80}}
		if _, err := mgmt.Catalog().Register(reg, nil); err != nil {
			t.Fatal(err)
		}
	}
	reader := func(svc string) *api.Client {
		p, _, err := mgmt.ACL().PolicyCreate(&api.ACLPolicy{Name: "read-" + svc, Rules: `service "` + svc + `" { policy = "read" }`}, nil)
		if err != nil {
			t.Fatal(err)
		}
		tok, _, err := mgmt.ACL().TokenCreate(&api.ACLToken{Policies: []*api.ACLTokenPolicyLink{{ID: p.ID}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return withToken(t, ta, tok.SecretID)
	}
	for _, svc := range []string{"web", "db"} {
		c := reader(svc)
		for i := 0; i < 2; i++ { // a miss, then a hit
			got, meta, err := c.Catalog().Services(&api.QueryOptions{UseCache: true})
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := got[svc]; !ok || len(got) != 1 {
				t.Errorf("cached services with a token reading %s (read %d, cache hit %v): %v", svc, i, meta.CacheHit, got)
			}
		}
	}
}

// TestACLTokenReadExpanded: GET /v1/acl/token/<id>?expanded answers as
// Consul's (api.ACL().TokenReadExpanded): the token with its roles and
// every policy it holds, directly or through a role, once each.
func TestACLTokenReadExpanded(t *testing.T) {
	ta := startACLAgent(t)
	boot, _, err := ta.Client.ACL().Bootstrap()
	if err != nil {
		t.Fatal(err)
	}
	mgmt := withToken(t, ta, boot.SecretID)
	p1, _, err := mgmt.ACL().PolicyCreate(&api.ACLPolicy{Name: "kv", Rules: `key_prefix "app/" { policy = "write" }`}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p2, _, err := mgmt.ACL().PolicyCreate(&api.ACLPolicy{Name: "nodes", Rules: `node_prefix "" { policy = "read" }`}, nil)
	if err != nil {
		t.Fatal(err)
	}
	role, _, err := mgmt.ACL().RoleCreate(&api.ACLRole{Name: "reader", Policies: []*api.ACLRolePolicyLink{{ID: p2.ID}, {ID: p1.ID}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := mgmt.ACL().TokenCreate(&api.ACLToken{Policies: []*api.ACLTokenPolicyLink{{ID: p1.ID}}, Roles: []*api.ACLTokenRoleLink{{ID: role.ID}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ex, _, err := mgmt.ACL().TokenReadExpanded(tok.AccessorID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ex.AccessorID != tok.AccessorID || ex.SecretID != tok.SecretID {
		t.Errorf("token: %+v", ex.ACLToken)
	}
	var names []string
	for _, p := range ex.ExpandedPolicies {
		names = append(names, p.Name)
		if p.Rules == "" {
			t.Errorf("policy %s without its rules", p.Name)
		}
	}
	if strings.Join(names, ",") != "kv,nodes" {
		t.Errorf("expanded policies: %v, want kv,nodes", names)
	}
	if len(ex.ExpandedRoles) != 1 || ex.ExpandedRoles[0].Name != "reader" || len(ex.ExpandedRoles[0].Policies) != 2 {
		t.Errorf("expanded roles: %+v", ex.ExpandedRoles)
	}
	if ex.AgentACLDefaultPolicy != "deny" || ex.AgentACLDownPolicy != "extend-cache" || ex.ResolvedByAgent != ta.Name {
		t.Errorf("agent fields: %q %q %q", ex.AgentACLDefaultPolicy, ex.AgentACLDownPolicy, ex.ResolvedByAgent)
	}
	// Anonymous: refused as a plain read is.
	if _, _, err := ta.Client.ACL().TokenReadExpanded(tok.AccessorID, nil); err == nil || !strings.Contains(err.Error(), "Permission denied") {
		t.Errorf("anonymous expanded read: %v", err)
	}
}
