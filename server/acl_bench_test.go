package server

import (
	"context"
	"fmt"
	"strings"
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

// BenchmarkRPCACL is the cost of the ACL check on the server port
// (acl_rpc.go), warm: the token is resolved once before the timer starts.
// Each case runs on a server with ACLs off ("off": no check at all) and
// on one with default deny and a token allowed what is asked ("on"):
//
//   - kv-write: KVS.Apply of one key through the dispatcher (in-process,
//     as the agent on a server calls it), a Raft write included;
//   - catalog-read: Catalog.ListNodes of 64 nodes, filtered by node:read
//     (the token may read half of them);
//   - check-only: the interceptor and the check of a KVS.Apply with a
//     method that does nothing else, which isolates the ACL work;
//   - catalog-check-filter-only: the same for Catalog.ListNodes, with
//     the filter over the 65 nodes of a prepared answer.
func BenchmarkRPCACL(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "off"
		if on {
			name = "on"
		}
		cfg := testConfig(b, "dc1")
		cfg.Bootstrap = true
		if on {
			cfg.ACL = ACLConfig{Enabled: true, DefaultPolicy: acl.PolicyDeny}
		}
		s := startServer(b, cfg)
		waitForLeader(b, []*Server{s})
		var token string
		mgmt := ""
		if on {
			var boot structs.ACLToken
			waitFor(b, "bootstrap", 10e9, func() error { return s.RPC("ACL.Bootstrap", &structs.ACLBootstrapRequest{}, &boot) })
			mgmt = boot.SecretID
			f := &aclRPCFixture{s: s, mgmt: mgmt}
			token = f.listToken(b, `key_prefix "app/" { policy = "write" } node_prefix "n-a" { policy = "read" }`)
		}
		for i := 0; i < 64; i++ {
			r := &structs.RegisterRequest{Node: fmt.Sprintf("n-%c%02d", 'a'+i%2, i), Address: "10.0.0.1"}
			r.Token = mgmt
			if err := s.RPC("Catalog.Register", r, &struct{}{}); err != nil {
				b.Fatal(err)
			}
		}
		b.Run("kv-write/"+name, func(b *testing.B) {
			req := &structs.KVSRequest{Op: structs.KVSSet, DirEnt: structs.DirEntry{Key: "app/config", Value: []byte("v")}}
			req.Token = token
			var ok bool
			for i := 0; i < b.N; i++ {
				if err := s.RPC("KVS.Apply", req, &ok); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("catalog-read/"+name, func(b *testing.B) {
			req := &structs.DCSpecificRequest{}
			req.Token = token
			want := 64
			if on {
				want = 32
			}
			for i := 0; i < b.N; i++ {
				var out structs.IndexedNodes
				if err := s.RPC("Catalog.ListNodes", req, &out); err != nil {
					b.Fatal(err)
				}
				n := 0
				for _, node := range out.Nodes {
					if strings.HasPrefix(node.Node, "n-") { // not the server's own
						n++
					}
				}
				if n != want {
					b.Fatalf("%d nodes, want %d", n, want)
				}
			}
		})
		b.Run("catalog-check-filter-only/"+name, func(b *testing.B) {
			req := &structs.DCSpecificRequest{}
			req.Token = token
			var all structs.IndexedNodes
			if err := s.RPC("Catalog.ListNodes", &structs.DCSpecificRequest{QueryOptions: structs.QueryOptions{Token: mgmt}}, &all); err != nil {
				b.Fatal(err)
			}
			out := new(structs.IndexedNodes)
			next := func(ctx context.Context) error {
				out.Nodes = all.Nodes
				return s.aclPreCheck(ctx)
			}
			for i := 0; i < b.N; i++ {
				if err := s.aclIntercept(context.Background(), "Catalog.ListNodes", req, out, next); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("check-only/"+name, func(b *testing.B) {
			req := &structs.KVSRequest{Op: structs.KVSSet, DirEnt: structs.DirEntry{Key: "app/config"}}
			req.Token = token
			next := func(ctx context.Context) error { return s.aclPreCheck(ctx) }
			for i := 0; i < b.N; i++ {
				if err := s.aclIntercept(context.Background(), "KVS.Apply", req, new(bool), next); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
