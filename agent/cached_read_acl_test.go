package agent

import (
	"net/http"
	"testing"

	"github.com/hashicorp/consul/api"
)

// TestCachedReadsTokenIsolation: on a client agent with ACLs on (default
// deny), two tokens with service:read on different services never share a
// cache entry, even on hits. (A revoked token's refreshed entries are
// dropped: agent/cache TestRevokedEntriesAreDropped.)
func TestCachedReadsTokenIsolation(t *testing.T) {
	srv := startACLAgent(t)
	boot, _, err := srv.Client.ACL().Bootstrap()
	if err != nil {
		t.Fatal(err)
	}
	mgmt := withToken(t, srv, boot.SecretID)
	waitForNode(t, mgmt, srv.Name)
	for _, svc := range []string{"web", "db"} {
		reg := &api.CatalogRegistration{Node: "ext-" + svc, Address: "10.0.0.9",
			Service: &api.AgentService{ID: svc + "1", Service: svc, Port: 80}}
		if _, err := mgmt.Catalog().Register(reg, nil); err != nil {
			t.Fatal(err)
		}
	}
	tokenFor := func(svc string) *api.ACLToken {
		t.Helper()
		p, _, err := mgmt.ACL().PolicyCreate(&api.ACLPolicy{Name: "read-" + svc,
			Rules: `service "` + svc + `" { policy = "read" } node_prefix "" { policy = "read" }`}, nil)
		if err != nil {
			t.Fatal(err)
		}
		tok, _, err := mgmt.ACL().TokenCreate(&api.ACLToken{Policies: []*api.ACLTokenPolicyLink{{ID: p.ID}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	webTok, dbTok := tokenFor("web"), tokenFor("db")

	const recovery = "6f1d8b2e-8c9f-4a4b-8d3e-2f1a3b4c5d6e"
	cl := StartTestAgent(t, "-hcl="+aclDenyHCL, "-hcl=acl { tokens { agent_recovery = \""+recovery+"\" } }")
	if err := withToken(t, cl, recovery).Agent().Join(srv.LANAddr(), false); err != nil {
		t.Fatalf("join: %v", err)
	}
	web, db := withToken(t, cl, webTok.SecretID), withToken(t, cl, dbTok.SecretID)
	WaitFor(t, "the client to reach the servers", 10e9, func() error {
		_, _, err := web.Catalog().Services(nil)
		return err
	})
	cached := &api.QueryOptions{UseCache: true}

	// Catalog services (a simple entry) and a service's health (a
	// refreshed one): each token, read twice, sees only its own.
	for round := 0; round < 2; round++ {
		for _, c := range []struct {
			name   string
			client *api.Client
			want   string
		}{{"web token", web, "web"}, {"db token", db, "db"}} {
			svcs, meta, err := c.client.Catalog().Services(cached)
			if err != nil {
				t.Fatalf("%s: catalog services: %v", c.name, err)
			}
			if _, ok := svcs[c.want]; !ok || len(svcs) != 1 || meta.CacheHit != (round == 1) {
				t.Fatalf("%s round %d: catalog services %v hit %v; want only %s", c.name, round, svcs, meta.CacheHit, c.want)
			}
			for _, svc := range []string{"web", "db"} {
				nodes, meta, err := c.client.Health().Service(svc, "", false, cached)
				if svc != c.want {
					if se, ok := err.(api.StatusError); !ok || se.Code != http.StatusForbidden {
						t.Fatalf("%s round %d: health of %s: %d instances, %v; want a 403", c.name, round, svc, len(nodes), err)
					}
					continue
				}
				if err != nil || len(nodes) != 1 || meta.CacheHit != (round == 1) {
					t.Fatalf("%s round %d: health of %s: %d instances hit %v, %v; want 1", c.name, round, svc, len(nodes), meta.CacheHit, err)
				}
			}
		}
	}

}
