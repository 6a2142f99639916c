package server

import (
	"testing"

	"github.com/meridian-sd/meridian/acl"
	"github.com/meridian-sd/meridian/structs"
)

// BenchmarkResolveToken is the cost of resolving a secret on a server of
// the primary datacenter, with the compiled policies cached (warm): the
// state lookups of the token, its role and policies, and the merge into
// an Authorizer; then one check, as a request would make.
func BenchmarkResolveToken(b *testing.B) {
	cfg := testConfig(b, "dc1")
	cfg.Bootstrap = true
	cfg.ACL = ACLConfig{Enabled: true, DefaultPolicy: acl.PolicyDeny}
	s := startServer(b, cfg)
	waitForLeader(b, []*Server{s})
	var boot structs.ACLToken
	waitFor(b, "bootstrap", 10e9, func() error { return s.RPC("ACL.Bootstrap", &structs.ACLBootstrapRequest{}, &boot) })
	var p1, p2 structs.ACLPolicy
	for i, p := range []*structs.ACLPolicy{&p1, &p2} {
		req := &structs.ACLPolicySetRequest{Policy: structs.ACLPolicy{
			Name:  []string{"kv", "catalog"}[i],
			Rules: []string{`key_prefix "app/" { policy = "write" }`, `node_prefix "" { policy = "read" } service_prefix "" { policy = "read" }`}[i]}}
		req.Token = boot.SecretID
		if err := s.RPC("ACL.PolicySet", req, p); err != nil {
			b.Fatal(err)
		}
	}
	var role structs.ACLRole
	rreq := &structs.ACLRoleSetRequest{Role: structs.ACLRole{Name: "reader", Policies: []structs.ACLLink{{ID: p2.ID}}}}
	rreq.Token = boot.SecretID
	if err := s.RPC("ACL.RoleSet", rreq, &role); err != nil {
		b.Fatal(err)
	}
	var tok structs.ACLToken
	treq := &structs.ACLTokenSetRequest{Create: true, ACLToken: structs.ACLToken{
		Policies: []structs.ACLLink{{ID: p1.ID}}, Roles: []structs.ACLLink{{ID: role.ID}}}}
	treq.Token = boot.SecretID
	if err := s.RPC("ACL.TokenSet", treq, &tok); err != nil {
		b.Fatal(err)
	}
	b.Run("kv-write", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			authz, _, err := s.ResolveToken(tok.SecretID)
			if err != nil || !authz.Allowed(acl.ResourceKey, "app/config", acl.Write) {
				b.Fatal("refused", err)
			}
		}
	})
	b.Run("catalog-read", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			authz, _, err := s.ResolveToken(tok.SecretID)
			if err != nil || !authz.Allowed(acl.ResourceNode, "node-1", acl.Read) {
				b.Fatal("refused", err)
			}
		}
	})
	b.Run("anonymous", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			authz, _, err := s.ResolveToken("")
			if err != nil || authz.Allowed(acl.ResourceNode, "node-1", acl.Read) {
				b.Fatal("wrong", err)
			}
		}
	})
}
