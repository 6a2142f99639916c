package acl

import (
	"fmt"
	"sort"
	"strings"
)

// Built-in identities, as Consul's.
const (
	// GlobalManagementPolicyID is the ID of the built-in global-management
	// policy, which grants write on everything.
	GlobalManagementPolicyID = "00000000-0000-0000-0000-000000000001"
	// GlobalManagementPolicyName is its name.
	GlobalManagementPolicyName = "global-management"
	// GlobalManagementRules are its rules: write on every resource.
	GlobalManagementRules = `acl = "write"
agent_prefix "" { policy = "write" }
event_prefix "" { policy = "write" }
key_prefix "" { policy = "write" }
keyring = "write"
node_prefix "" { policy = "write" }
operator = "write"
query_prefix "" { policy = "write" }
service_prefix "" { policy = "write" intentions = "write" }
session_prefix "" { policy = "write" }
`
	// AnonymousTokenID is the AccessorID of the anonymous token, which
	// stands for every request that carries no token.
	AnonymousTokenID = "00000000-0000-0000-0000-000000000002"
	// AnonymousTokenSecret is the anonymous token's SecretID.
	AnonymousTokenSecret = "anonymous"
)

// DefaultPolicy is what happens when no rule matches: acl.default_policy.
type DefaultPolicy string

// Default policies.
const (
	PolicyAllow DefaultPolicy = "allow"
	PolicyDeny  DefaultPolicy = "deny"
)

// Authorizer answers access questions for one token: its policies merged,
// over a default policy. It is immutable and safe for concurrent use.
type Authorizer struct {
	// manage grants everything, the ACL system included.
	manage bool
	// def decides when no rule matches.
	def DefaultPolicy
	// scalar holds the rules of keyring, operator and acl.
	scalar map[Resource]Access
	// exact holds exact rules by resource and name.
	exact map[Resource]map[string]Access
	// prefixes holds prefix rules by resource, longest first.
	prefixes map[Resource][]prefixRule
}

type prefixRule struct {
	prefix string
	access Access
}

// AllowAll grants everything but the ACL system itself: the authorizer of
// default_policy "allow" without rules, and of a cluster without ACLs for
// everything but ACL management.
func AllowAll() *Authorizer { return &Authorizer{def: PolicyAllow} }

// DenyAll refuses everything.
func DenyAll() *Authorizer { return &Authorizer{def: PolicyDeny} }

// ManageAll grants everything: a management token, or ACLs disabled.
func ManageAll() *Authorizer { return &Authorizer{manage: true, def: PolicyAllow} }

// NewAuthorizer merges policies over the default policy def. Where two
// policies have a rule on the same resource, kind (exact or prefix) and
// segment, deny wins, otherwise the greater access.
func NewAuthorizer(def DefaultPolicy, policies ...*Policy) *Authorizer {
	a := &Authorizer{
		def:      def,
		scalar:   map[Resource]Access{},
		exact:    map[Resource]map[string]Access{},
		prefixes: map[Resource][]prefixRule{},
	}
	pre := map[Resource]map[string]Access{}
	for _, p := range policies {
		if p == nil {
			continue
		}
		for _, r := range p.Rules {
			switch {
			case !isSegmented(r.Resource):
				a.scalar[r.Resource] = merge(a.scalar[r.Resource], r.Access)
			case r.Prefix:
				if pre[r.Resource] == nil {
					pre[r.Resource] = map[string]Access{}
				}
				pre[r.Resource][r.Segment] = merge(pre[r.Resource][r.Segment], r.Access)
			default:
				if a.exact[r.Resource] == nil {
					a.exact[r.Resource] = map[string]Access{}
				}
				a.exact[r.Resource][r.Segment] = merge(a.exact[r.Resource][r.Segment], r.Access)
			}
		}
	}
	for res, m := range pre {
		list := make([]prefixRule, 0, len(m))
		for p, acc := range m {
			list = append(list, prefixRule{p, acc})
		}
		sort.Slice(list, func(i, j int) bool {
			if len(list[i].prefix) != len(list[j].prefix) {
				return len(list[i].prefix) > len(list[j].prefix)
			}
			return list[i].prefix < list[j].prefix
		})
		a.prefixes[res] = list
	}
	return a
}

// merge combines two rules on the same segment: deny wins, otherwise the
// greater access.
func merge(a, b Access) Access {
	if a == Deny || b == Deny {
		return Deny
	}
	return max(a, b)
}

// Rule returns the access the deciding rule grants on name of res, and
// Default when no rule matches.
func (a *Authorizer) Rule(res Resource, name string) Access {
	if a.manage {
		return Write
	}
	if !isSegmented(res) {
		return a.scalar[res]
	}
	if acc, ok := a.exact[res][name]; ok {
		return acc
	}
	for _, p := range a.prefixes[res] {
		if strings.HasPrefix(name, p.prefix) {
			return p.access
		}
	}
	return Default
}

// Allowed reports whether want (Read, List or Write) is granted on name
// of res. Write needs a write rule; List a list or write rule (keys only:
// elsewhere read suffices); Read any of read, list, write.
func (a *Authorizer) Allowed(res Resource, name string, want Access) bool {
	if a.manage {
		return true
	}
	got := a.Rule(res, name)
	if got == Default {
		// The ACL system is never open by default, as in Consul: only a
		// rule (or a management token) grants it.
		return a.def == PolicyAllow && res != ResourceACL
	}
	if want == List && res != ResourceKey {
		want = Read
	}
	return got != Deny && got >= want
}

// Check is Allowed as an error: nil when granted, otherwise a
// *PermissionDeniedError for the caller to complete with the token's
// identity.
func (a *Authorizer) Check(res Resource, name string, want Access) error {
	if a.Allowed(res, name, want) {
		return nil
	}
	return &PermissionDeniedError{Resource: res, Access: want, Name: name}
}

// KeyWritePrefix reports whether every key under prefix may be written (a
// recursive delete): the prefix itself must be writable and no rule on a
// longer segment under it may grant less.
func (a *Authorizer) KeyWritePrefix(prefix string) bool {
	if a.manage {
		return true
	}
	if !a.Allowed(ResourceKey, prefix, Write) {
		return false
	}
	for seg, acc := range a.exact[ResourceKey] {
		if strings.HasPrefix(seg, prefix) && acc != Write {
			return false
		}
	}
	for _, p := range a.prefixes[ResourceKey] {
		if len(p.prefix) > len(prefix) && strings.HasPrefix(p.prefix, prefix) && p.access != Write {
			return false
		}
	}
	return true
}

// IsManagement reports whether the authorizer grants everything.
func (a *Authorizer) IsManagement() bool {
	return a.manage || a.Rule(ResourceACL, "") == Write
}

// PermissionDeniedError is a refused access, in Consul's words.
type PermissionDeniedError struct {
	// AccessorID is the token's; empty when not known.
	AccessorID string
	Resource   Resource
	Access     Access
	// Name is the resource's name; empty for keyring, operator, acl.
	Name string
}

// Error implements error with Consul's text, which clients match.
func (e *PermissionDeniedError) Error() string {
	perm := fmt.Sprintf("'%s:%s'", e.Resource, e.Access)
	on := ""
	if isSegmented(e.Resource) {
		on = fmt.Sprintf(" on %q", e.Name)
	}
	switch e.AccessorID {
	case AnonymousTokenID:
		return "Permission denied: anonymous token lacks permission " + perm + on +
			". The anonymous token is used implicitly when a request does not specify a token."
	case "":
		return "Permission denied: token lacks permission " + perm + on
	}
	return fmt.Sprintf("Permission denied: token with AccessorID '%s' lacks permission %s%s", e.AccessorID, perm, on)
}

// WithAccessor returns err with the token's AccessorID filled in when it is
// a *PermissionDeniedError, and err unchanged otherwise.
func WithAccessor(err error, accessorID string) error {
	if pd, ok := err.(*PermissionDeniedError); ok {
		c := *pd
		c.AccessorID = accessorID
		return &c
	}
	return err
}
