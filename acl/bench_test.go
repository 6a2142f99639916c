package acl

import (
	"fmt"
	"strings"
	"testing"
)

// benchPolicy is a policy of n key prefixes, n services and a few scalars.
func benchPolicy(b *testing.B, n int) *Policy {
	b.Helper()
	var sb strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&sb, "key_prefix \"team%d/\" { policy = \"write\" }\n", i)
		fmt.Fprintf(&sb, "service \"svc%d\" { policy = \"read\" }\n", i)
	}
	sb.WriteString("operator = \"read\"\nnode_prefix \"\" { policy = \"read\" }\n")
	p, err := Parse(sb.String())
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkAllowed is the cost of one permission check on a compiled
// token of 20 rules and of 200 rules.
func BenchmarkAllowed(b *testing.B) {
	for _, n := range []int{10, 100} {
		a := NewAuthorizer(PolicyDeny, benchPolicy(b, n))
		b.Run(fmt.Sprintf("rules=%d/key-write", 2*n+2), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if !a.Allowed(ResourceKey, "team3/app/config", Write) {
					b.Fatal("refused")
				}
			}
		})
		b.Run(fmt.Sprintf("rules=%d/node-read", 2*n+2), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if !a.Allowed(ResourceNode, "node-17", Read) {
					b.Fatal("refused")
				}
			}
		})
	}
}

// BenchmarkParse is the cost of compiling a policy (once per policy
// version on a server).
func BenchmarkParse(b *testing.B) {
	var sb strings.Builder
	for i := 0; i < 10; i++ {
		fmt.Fprintf(&sb, "key_prefix \"team%d/\" { policy = \"write\" }\n", i)
	}
	text := sb.String()
	for i := 0; i < b.N; i++ {
		if _, err := Parse(text); err != nil {
			b.Fatal(err)
		}
	}
}
