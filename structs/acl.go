package structs

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"sort"
	"time"
)

// ACL error texts, Consul's, which clients match.
var (
	// ErrACLNotFound is an unknown token secret (HTTP 403).
	ErrACLNotFound = errors.New("ACL not found")
	// ErrACLDisabled is returned by the ACL endpoints when ACLs are off
	// (HTTP 401).
	ErrACLDisabled = errors.New("ACL support disabled")
	// ErrACLBootstrapNotAllowed prefixes the refusal of a second bootstrap;
	// the full text carries the reset index.
	ErrACLBootstrapNotAllowed = errors.New("ACL bootstrap no longer allowed")
)

// ACLBootstrapNotAllowed is the refusal of a bootstrap after the first,
// with the index to write to <data_dir>/acl-bootstrap-reset to allow one
// more, as Consul's.
func ACLBootstrapNotAllowed(resetIndex uint64) error {
	return fmt.Errorf("%w (reset index: %d)", ErrACLBootstrapNotAllowed, resetIndex)
}

// ACLRedactedSecret replaces a SecretID shown to a caller who may read
// but not write ACLs.
const ACLRedactedSecret = "<hidden>"

// ACLLink names a policy or role from a token or role. Either field may be
// given on input; the server resolves names to IDs and stores both.
type ACLLink struct {
	ID   string
	Name string
}

// ACLToken is a token, in Consul's JSON shape.
type ACLToken struct {
	CreateIndex uint64
	ModifyIndex uint64
	AccessorID  string
	// SecretID is the bearer credential. Never logged.
	SecretID    string
	Description string
	Policies    []ACLLink `json:",omitempty"`
	Roles       []ACLLink `json:",omitempty"`
	// Local tokens live only in the datacenter that created them; the
	// others are global and (later) replicated from the primary.
	Local bool
	// ExpirationTime, when set, is when the token stops working.
	ExpirationTime *time.Time `json:",omitempty"`
	CreateTime     time.Time
	Hash           []byte
}

// SetHash sets Hash from the token's content (not its indexes).
func (t *ACLToken) SetHash() {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%t\x00", t.SecretID, t.Description, t.Local)
	for _, l := range t.Policies {
		fmt.Fprintf(h, "p:%s\x00", l.ID)
	}
	for _, l := range t.Roles {
		fmt.Fprintf(h, "r:%s\x00", l.ID)
	}
	if t.ExpirationTime != nil {
		fmt.Fprintf(h, "e:%d\x00", t.ExpirationTime.UnixNano())
	}
	t.Hash = h.Sum(nil)
}

// Expired reports whether the token has expired at now.
func (t *ACLToken) Expired(now time.Time) bool {
	return t.ExpirationTime != nil && !now.Before(*t.ExpirationTime)
}

// Clone returns a deep copy.
func (t *ACLToken) Clone() *ACLToken {
	if t == nil {
		return nil
	}
	c := *t
	c.Policies = append([]ACLLink(nil), t.Policies...)
	c.Roles = append([]ACLLink(nil), t.Roles...)
	c.Hash = append([]byte(nil), t.Hash...)
	if t.ExpirationTime != nil {
		e := *t.ExpirationTime
		c.ExpirationTime = &e
	}
	return &c
}

// ACLTokens is a list of tokens.
type ACLTokens []*ACLToken

// ACLPolicy is a policy, in Consul's JSON shape.
type ACLPolicy struct {
	ID          string
	Name        string
	Description string
	// Rules are in HCL or JSON (package acl).
	Rules string
	// Datacenters, when not empty, limits where the policy applies.
	Datacenters []string
	Hash        []byte
	CreateIndex uint64
	ModifyIndex uint64
}

// SetHash sets Hash from the policy's content.
func (p *ACLPolicy) SetHash() {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00", p.Name, p.Description, p.Rules)
	dcs := append([]string(nil), p.Datacenters...)
	sort.Strings(dcs)
	for _, dc := range dcs {
		fmt.Fprintf(h, "dc:%s\x00", dc)
	}
	p.Hash = h.Sum(nil)
}

// AppliesTo reports whether the policy is in force in dc.
func (p *ACLPolicy) AppliesTo(dc string) bool {
	if len(p.Datacenters) == 0 {
		return true
	}
	for _, d := range p.Datacenters {
		if d == dc {
			return true
		}
	}
	return false
}

// Clone returns a deep copy.
func (p *ACLPolicy) Clone() *ACLPolicy {
	if p == nil {
		return nil
	}
	c := *p
	c.Datacenters = append([]string(nil), p.Datacenters...)
	c.Hash = append([]byte(nil), p.Hash...)
	return &c
}

// ACLPolicies is a list of policies.
type ACLPolicies []*ACLPolicy

// ACLRole is a named set of policies, in Consul's JSON shape.
type ACLRole struct {
	ID          string
	Name        string
	Description string
	Policies    []ACLLink `json:",omitempty"`
	Hash        []byte
	CreateIndex uint64
	ModifyIndex uint64
}

// SetHash sets Hash from the role's content.
func (r *ACLRole) SetHash() {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00", r.Name, r.Description)
	for _, l := range r.Policies {
		fmt.Fprintf(h, "p:%s\x00", l.ID)
	}
	r.Hash = h.Sum(nil)
}

// Clone returns a deep copy.
func (r *ACLRole) Clone() *ACLRole {
	if r == nil {
		return nil
	}
	c := *r
	c.Policies = append([]ACLLink(nil), r.Policies...)
	c.Hash = append([]byte(nil), r.Hash...)
	return &c
}

// ACLRoles is a list of roles.
type ACLRoles []*ACLRole

// Raft entries. Each carries complete records: validation and IDs are the
// endpoint's business, the FSM only stores.

// ACLBootstrapRequest creates the first management token once.
type ACLBootstrapRequest struct {
	Datacenter string
	// Token is the token to create (filled in by the leader).
	Token ACLToken
	// ResetIndex, when not 0, allows a bootstrap after an earlier one if
	// it equals the index of that earlier one.
	ResetIndex uint64
	// BootstrapSecret, when set, is the SecretID to give the token (a
	// UUID); otherwise one is generated. Never logged.
	BootstrapSecret string
	WriteRequest
}

// RequestDatacenter implements RPCInfo.
func (r *ACLBootstrapRequest) RequestDatacenter() string { return r.Datacenter }

// ACLTokenBatchSetRequest stores tokens.
type ACLTokenBatchSetRequest struct {
	Tokens ACLTokens
	// AllowMissingLinks skips the check that linked policies and roles
	// exist (set by the leader for built-in tokens).
	AllowMissingLinks bool
}

// ACLTokenBatchDeleteRequest deletes tokens by AccessorID.
type ACLTokenBatchDeleteRequest struct {
	TokenIDs []string
}

// ACLPolicyBatchSetRequest stores policies.
type ACLPolicyBatchSetRequest struct {
	Policies ACLPolicies
}

// ACLPolicyBatchDeleteRequest deletes policies by ID.
type ACLPolicyBatchDeleteRequest struct {
	PolicyIDs []string
}

// ACLRoleBatchSetRequest stores roles.
type ACLRoleBatchSetRequest struct {
	Roles ACLRoles
}

// ACLRoleBatchDeleteRequest deletes roles by ID.
type ACLRoleBatchDeleteRequest struct {
	RoleIDs []string
}

func aclMessageName(t MessageType) string {
	switch t {
	case ACLBootstrapRequestType:
		return "ACLBootstrap"
	case ACLTokenSetRequestType:
		return "ACLTokenSet"
	case ACLTokenDeleteRequestType:
		return "ACLTokenDelete"
	case ACLPolicySetRequestType:
		return "ACLPolicySet"
	case ACLPolicyDeleteRequestType:
		return "ACLPolicyDelete"
	case ACLRoleSetRequestType:
		return "ACLRoleSet"
	case ACLRoleDeleteRequestType:
		return "ACLRoleDelete"
	}
	return fmt.Sprintf("MessageType(%d)", uint8(t))
}

// RPC requests and replies of the ACL endpoint.

// ACLTokenSetRequest creates, updates or clones a token.
type ACLTokenSetRequest struct {
	Datacenter string
	ACLToken   ACLToken
	// Create is true for a new token (PUT /v1/acl/token), false for an
	// update of ACLToken.AccessorID.
	Create bool
	// ExpirationTTL, on create, sets ExpirationTime to now plus it.
	ExpirationTTL time.Duration
	WriteRequest
}

// RequestDatacenter implements RPCInfo.
func (r *ACLTokenSetRequest) RequestDatacenter() string { return r.Datacenter }

// ACLTokenGetRequest reads one token.
type ACLTokenGetRequest struct {
	Datacenter string
	// TokenID is an AccessorID, or with BySecret a SecretID.
	TokenID  string
	BySecret bool
	QueryOptions
}

// RequestDatacenter implements RPCInfo.
func (r *ACLTokenGetRequest) RequestDatacenter() string { return r.Datacenter }

// ACLTokenDeleteRequest deletes one token.
type ACLTokenDeleteRequest struct {
	Datacenter string
	TokenID    string
	WriteRequest
}

// RequestDatacenter implements RPCInfo.
func (r *ACLTokenDeleteRequest) RequestDatacenter() string { return r.Datacenter }

// ACLTokenListRequest lists tokens, optionally those linking one policy
// or one role.
type ACLTokenListRequest struct {
	Datacenter string
	Policy     string
	Role       string
	QueryOptions
}

// RequestDatacenter implements RPCInfo.
func (r *ACLTokenListRequest) RequestDatacenter() string { return r.Datacenter }

// ACLTokenResponse is one token.
type ACLTokenResponse struct {
	Token *ACLToken
	QueryMeta
}

// ACLTokenListResponse is a list of tokens.
type ACLTokenListResponse struct {
	Tokens ACLTokens
	QueryMeta
}

// ACLPolicySetRequest creates or updates a policy.
type ACLPolicySetRequest struct {
	Datacenter string
	Policy     ACLPolicy
	WriteRequest
}

// RequestDatacenter implements RPCInfo.
func (r *ACLPolicySetRequest) RequestDatacenter() string { return r.Datacenter }

// ACLPolicyGetRequest reads a policy by ID, or by name when ID is empty.
type ACLPolicyGetRequest struct {
	Datacenter string
	PolicyID   string
	PolicyName string
	QueryOptions
}

// RequestDatacenter implements RPCInfo.
func (r *ACLPolicyGetRequest) RequestDatacenter() string { return r.Datacenter }

// ACLPolicyDeleteRequest deletes a policy.
type ACLPolicyDeleteRequest struct {
	Datacenter string
	PolicyID   string
	WriteRequest
}

// RequestDatacenter implements RPCInfo.
func (r *ACLPolicyDeleteRequest) RequestDatacenter() string { return r.Datacenter }

// ACLPolicyListRequest lists policies.
type ACLPolicyListRequest struct {
	Datacenter string
	QueryOptions
}

// RequestDatacenter implements RPCInfo.
func (r *ACLPolicyListRequest) RequestDatacenter() string { return r.Datacenter }

// ACLPolicyResponse is one policy.
type ACLPolicyResponse struct {
	Policy *ACLPolicy
	QueryMeta
}

// ACLPolicyListResponse is a list of policies.
type ACLPolicyListResponse struct {
	Policies ACLPolicies
	QueryMeta
}

// ACLRoleSetRequest creates or updates a role.
type ACLRoleSetRequest struct {
	Datacenter string
	Role       ACLRole
	WriteRequest
}

// RequestDatacenter implements RPCInfo.
func (r *ACLRoleSetRequest) RequestDatacenter() string { return r.Datacenter }

// ACLRoleGetRequest reads a role by ID, or by name when ID is empty.
type ACLRoleGetRequest struct {
	Datacenter string
	RoleID     string
	RoleName   string
	QueryOptions
}

// RequestDatacenter implements RPCInfo.
func (r *ACLRoleGetRequest) RequestDatacenter() string { return r.Datacenter }

// ACLRoleDeleteRequest deletes a role.
type ACLRoleDeleteRequest struct {
	Datacenter string
	RoleID     string
	WriteRequest
}

// RequestDatacenter implements RPCInfo.
func (r *ACLRoleDeleteRequest) RequestDatacenter() string { return r.Datacenter }

// ACLRoleListRequest lists roles, optionally those linking one policy.
type ACLRoleListRequest struct {
	Datacenter string
	Policy     string
	QueryOptions
}

// RequestDatacenter implements RPCInfo.
func (r *ACLRoleListRequest) RequestDatacenter() string { return r.Datacenter }

// ACLRoleResponse is one role.
type ACLRoleResponse struct {
	Role *ACLRole
	QueryMeta
}

// ACLRoleListResponse is a list of roles.
type ACLRoleListResponse struct {
	Roles ACLRoles
	QueryMeta
}

// ACLResolveRequest asks a server for what a secret grants; the secret is
// QueryOptions.Token.
type ACLResolveRequest struct {
	Datacenter string
	// FromDatacenter is the datacenter the token is used in: a local
	// token resolves only in its own.
	FromDatacenter string
	QueryOptions
}

// RequestDatacenter implements RPCInfo.
func (r *ACLResolveRequest) RequestDatacenter() string { return r.Datacenter }

// ACLResolveResponse is a resolved token: its identity (without its
// secret) and every policy it holds, directly or through roles, that
// applies in the asking datacenter. Enabled is false when the answering
// server has ACLs off.
type ACLResolveResponse struct {
	Enabled       bool
	Token         *ACLToken
	Policies      ACLPolicies
	DefaultPolicy string
	QueryMeta
}
