package agent

import (
	"testing"

	"github.com/hashicorp/consul/api"
)

// BenchmarkACLHTTP is the cost of ACLs on a catalog read and a KV write
// through the HTTP API and the official client, on one server agent:
// ACLs off, and ACLs on (default deny) with a token whose policy allows
// the request (its resolution cached, as it is after the first request):
//
//	go test -run '^$' -bench 'BenchmarkACLHTTP' -benchtime 2000x ./agent
func BenchmarkACLHTTP(b *testing.B) {
	for _, mode := range []string{"acl-off", "acl-on"} {
		var ta *TestAgent
		var c *api.Client
		if mode == "acl-off" {
			ta = StartTestAgent(b, "-server", "-bootstrap")
			ta.WaitForLeader(b)
			c = ta.Client
		} else {
			ta = StartTestAgent(b, "-server", "-bootstrap", "-hcl="+aclDenyHCL)
			ta.WaitForLeader(b)
			boot, _, err := ta.Client.ACL().Bootstrap()
			if err != nil {
				b.Fatal(err)
			}
			m := withToken(b, ta, boot.SecretID).ACL()
			p, _, err := m.PolicyCreate(&api.ACLPolicy{Name: "bench", Rules: `key_prefix "bench/" { policy = "write" }
node_prefix "" { policy = "read" }`}, nil)
			if err != nil {
				b.Fatal(err)
			}
			tok, _, err := m.TokenCreate(&api.ACLToken{Policies: []*api.ACLTokenPolicyLink{{ID: p.ID}}}, nil)
			if err != nil {
				b.Fatal(err)
			}
			c = withToken(b, ta, tok.SecretID)
		}
		WaitFor(b, "the node in the catalog", 10e9, func() error {
			_, _, err := c.Catalog().Node(ta.Name, nil)
			return err
		})
		b.Run(mode+"/catalog-nodes", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				nodes, _, err := c.Catalog().Nodes(nil)
				if err != nil || len(nodes) != 1 {
					b.Fatalf("nodes %v: %v", nodes, err)
				}
			}
		})
		b.Run(mode+"/kv-put", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := c.KV().Put(&api.KVPair{Key: "bench/k", Value: []byte("v")}, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
