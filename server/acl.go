package server

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-uuid"

	"github.com/meridian-sd/meridian/acl"
	"github.com/meridian-sd/meridian/state"
	"github.com/meridian-sd/meridian/structs"
)

// ACLConfig configures access control on a server. The zero value leaves
// ACLs off: every request is allowed, and the ACL endpoints answer
// "ACL support disabled".
type ACLConfig struct {
	// Enabled turns ACLs on (acl.enabled). Default false.
	Enabled bool
	// PrimaryDatacenter is the datacenter whose servers hold the ACL
	// records and take every ACL write (primary_datacenter). Default the
	// server's own datacenter.
	PrimaryDatacenter string
	// DefaultPolicy decides when no rule matches (acl.default_policy):
	// "allow" or "deny". Default "allow", as Consul's.
	DefaultPolicy acl.DefaultPolicy
	// DownPolicy is used by a server of a secondary datacenter when the
	// primary cannot be asked (acl.down_policy). Default "extend-cache".
	DownPolicy acl.DownPolicy
	// TokenTTL is how long such a server keeps a token it resolved
	// through the primary (acl.token_ttl). Default 30s.
	TokenTTL time.Duration
	// PolicyTTL bounds, with TokenTTL, how long such a server keeps the
	// policies of a token it resolved through the primary
	// (acl.policy_ttl). Default 30s.
	PolicyTTL time.Duration
	// ReplicationToken is the token a server of a secondary datacenter
	// replicates policies, roles and tokens from the primary with
	// (acl.tokens.replication). Without one it does not replicate. Never
	// logged.
	ReplicationToken string
	// EnableTokenReplication replicates global tokens too, so that they
	// resolve in the secondary without the primary, and lets local tokens
	// be created there (acl.enable_token_replication).
	EnableTokenReplication bool
	// InitialManagementToken, when set, is the SecretID of a management
	// token the leader of the primary datacenter creates when it takes
	// office (acl.tokens.initial_management). Never logged.
	InitialManagementToken string
	// TokenReapInterval is how often the leader deletes the tokens whose
	// expiration time has passed (they are refused as soon as it passes,
	// deleted or not). Default 30s.
	TokenReapInterval time.Duration
}

func (c *ACLConfig) withDefaults(dc string) ACLConfig {
	out := *c
	if out.PrimaryDatacenter == "" {
		out.PrimaryDatacenter = dc
	}
	if out.DefaultPolicy == "" {
		out.DefaultPolicy = acl.PolicyAllow
	}
	if out.DownPolicy == "" {
		out.DownPolicy = acl.DownExtendCache
	}
	if out.TokenTTL <= 0 {
		out.TokenTTL = 30 * time.Second
	}
	if out.PolicyTTL <= 0 {
		out.PolicyTTL = 30 * time.Second
	}
	if out.TokenReapInterval <= 0 {
		out.TokenReapInterval = 30 * time.Second
	}
	return out
}

// aclBootstrapResetFile is the file in the data dir where an operator
// writes the reset index to allow one more bootstrap, as in Consul.
const aclBootstrapResetFile = "acl-bootstrap-reset"

// aclState is a server's ACL resolution state: compiled policies, and the
// cache of tokens resolved through the primary datacenter.
type aclState struct {
	cfg ACLConfig

	mu       sync.Mutex
	compiled map[string]compiledPolicy
	// resolved caches, by secret, what resolveLocal answered, valid while
	// the ACL tables and the store stay the same.
	resolved map[string]resolvedToken

	remote *acl.Cache[*structs.ACLToken]

	// repl is the ACL replication status (acl_replication.go).
	repl replicationStatus
	// replToken is the replication token in use: cfg.ReplicationToken,
	// or what the agent token API set since (SetACLReplicationToken).
	replMu    sync.Mutex
	replToken string
}

type resolvedToken struct {
	store *state.Store
	index uint64
	authz *acl.Authorizer
	token *structs.ACLToken
}

// compiledPolicy is a parsed policy, kept with the rules it was parsed
// from: a secondary compiles both its own copies and the primary's
// answers, whose indexes are not comparable.
type compiledPolicy struct {
	rules  string
	policy *acl.Policy
}

// maxCompiledPolicies bounds the compiled-policy cache.
const maxCompiledPolicies = 4096

func newACLState(cfg ACLConfig, dc string) *aclState {
	c := cfg.withDefaults(dc)
	a := &aclState{
		cfg:      c,
		compiled: map[string]compiledPolicy{},
		resolved: map[string]resolvedToken{},
		remote:   acl.NewCache[*structs.ACLToken](min(c.TokenTTL, c.PolicyTTL), c.DownPolicy, nil),
	}
	a.initReplicationStatus(dc)
	return a
}

// compile parses a policy's rules, once per version of its rules.
func (a *aclState) compile(p *structs.ACLPolicy) (*acl.Policy, error) {
	a.mu.Lock()
	c, ok := a.compiled[p.ID]
	a.mu.Unlock()
	if ok && c.rules == p.Rules {
		return c.policy, nil
	}
	parsed, err := acl.Parse(p.Rules)
	if err != nil {
		return nil, fmt.Errorf("policy %s: %w", p.ID, err)
	}
	a.mu.Lock()
	if len(a.compiled) >= maxCompiledPolicies {
		clear(a.compiled)
	}
	a.compiled[p.ID] = compiledPolicy{rules: p.Rules, policy: parsed}
	a.mu.Unlock()
	return parsed, nil
}

// ACLsEnabled reports whether this server enforces ACLs.
func (s *Server) ACLsEnabled() bool { return s.acls.cfg.Enabled }

// ACLDefaultPolicy is the configured default policy, for the
// X-Consul-Default-Acl-Policy header.
func (s *Server) ACLDefaultPolicy() string { return string(s.acls.cfg.DefaultPolicy) }

// PrimaryDatacenter is where ACLs are managed.
func (s *Server) PrimaryDatacenter() string { return s.acls.cfg.PrimaryDatacenter }

func (s *Server) isPrimary() bool { return s.acls.cfg.PrimaryDatacenter == s.config.Datacenter }

// ResolveToken turns a secret into what it may do: an Authorizer and the
// token it belongs to. An empty secret is the anonymous token; an unknown
// or expired one is structs.ErrACLNotFound. With ACLs off every secret
// may do everything and the token is nil.
//
// A server of the primary datacenter reads its own state. A server of
// another datacenter resolves from its own state the tokens it holds
// (replicated global tokens, its local tokens); others it asks the
// primary about and keeps the answer for token_ttl (at most policy_ttl),
// falling back on down_policy while the primary cannot be reached.
// Answers are shared between callers: do not modify the token.
func (s *Server) ResolveToken(secret string) (*acl.Authorizer, *structs.ACLToken, error) {
	if !s.acls.cfg.Enabled {
		return acl.ManageAll(), nil, nil
	}
	if s.isPrimary() {
		return s.resolveLocal(secret)
	}
	if authz, tok, ok, err := s.resolveReplicated(secret); ok {
		return authz, tok, err
	}
	authz, tok, err := s.acls.remote.Resolve(secret, isACLNotFound, func() (*acl.Authorizer, *structs.ACLToken, error) {
		var out structs.ACLResolveResponse
		args := &structs.ACLResolveRequest{Datacenter: s.acls.cfg.PrimaryDatacenter, FromDatacenter: s.config.Datacenter}
		args.Token = secret
		args.AllowStale = true
		if err := s.forwardDC(s.ctx, "ACL.ResolveToken", args.Datacenter, args, &out); err != nil {
			return nil, nil, err
		}
		return s.authorizerFor(out.Token, out.Policies)
	})
	if err == nil && tok != nil && tok.Expired(time.Now()) {
		// Cached before it expired: refused from the moment it does.
		return nil, nil, structs.ErrACLNotFound
	}
	return authz, tok, err
}

func isACLNotFound(err error) bool { return structs.IsErr(err, structs.ErrACLNotFound) }

// resolveLocal resolves a secret from this server's state. The answer is
// cached until any ACL table changes (or a snapshot restore replaces the
// store), so a warm resolution costs one index read.
func (s *Server) resolveLocal(secret string) (*acl.Authorizer, *structs.ACLToken, error) {
	st := s.fsm.State()
	idx := st.ACLIndex()
	a := s.acls
	a.mu.Lock()
	r, ok := a.resolved[secret]
	a.mu.Unlock()
	if ok && r.store == st && r.index == idx && !r.token.Expired(time.Now()) {
		return r.authz, r.token, nil
	}
	tok, policies, err := s.lookupToken(secret)
	if isACLNotFound(err) && s.IsLeader() && !s.readyForConsistentReads.Load() {
		// A new leader that has not re-applied its log yet may lack a
		// token its predecessor created: wait for it, then look again.
		if werr := s.waitReady(); werr != nil {
			return nil, nil, werr
		}
		st = s.fsm.State()
		idx = st.ACLIndex()
		tok, policies, err = s.lookupToken(secret)
	}
	if err != nil {
		return nil, nil, err
	}
	authz, tok, err := s.authorizerFor(tok, policies)
	if err != nil {
		return nil, nil, err
	}
	a.mu.Lock()
	if len(a.resolved) >= maxCompiledPolicies {
		clear(a.resolved)
	}
	a.resolved[secret] = resolvedToken{store: st, index: idx, authz: authz, token: tok}
	a.mu.Unlock()
	return authz, tok, nil
}

// lookupToken finds a secret's token and every policy it holds, directly
// or through its roles.
func (s *Server) lookupToken(secret string) (*structs.ACLToken, structs.ACLPolicies, error) {
	st := s.fsm.State()
	var (
		tok *structs.ACLToken
		err error
	)
	if secret == "" || secret == acl.AnonymousTokenSecret {
		_, tok, err = st.ACLTokenGetByAccessor(nil, acl.AnonymousTokenID)
		if err == nil && tok == nil {
			// Not written yet (the leader creates it): no policies.
			tok = anonymousToken()
		}
	} else {
		_, tok, err = st.ACLTokenGetBySecret(nil, secret)
	}
	if err != nil {
		return nil, nil, err
	}
	if tok == nil || tok.Expired(time.Now()) {
		return nil, nil, structs.ErrACLNotFound
	}
	ids := make([]string, 0, len(tok.Policies))
	for _, l := range tok.Policies {
		ids = append(ids, l.ID)
	}
	if len(tok.Roles) > 0 {
		roleIDs := make([]string, 0, len(tok.Roles))
		for _, l := range tok.Roles {
			roleIDs = append(roleIDs, l.ID)
		}
		roles, err := st.ACLRolesByID(roleIDs)
		if err != nil {
			return nil, nil, err
		}
		for _, r := range roles {
			for _, l := range r.Policies {
				ids = append(ids, l.ID)
			}
		}
	}
	policies, err := st.ACLPoliciesByID(ids)
	if err != nil {
		return nil, nil, err
	}
	return tok, policies, nil
}

// authorizerFor compiles a token's policies that apply in this
// datacenter over the default policy.
func (s *Server) authorizerFor(tok *structs.ACLToken, policies structs.ACLPolicies) (*acl.Authorizer, *structs.ACLToken, error) {
	if tok == nil {
		return nil, nil, structs.ErrACLNotFound
	}
	compiled := make([]*acl.Policy, 0, len(policies))
	for _, p := range policies {
		if !p.AppliesTo(s.config.Datacenter) {
			continue
		}
		if p.ID == acl.GlobalManagementPolicyID {
			return acl.ManageAll(), tok, nil
		}
		c, err := s.acls.compile(p)
		if err != nil {
			// A stored policy always parsed when it was written; one that
			// no longer does grants nothing rather than failing requests.
			s.logger.Warn("ignoring ACL policy that does not parse", "policy", p.ID, "error", err)
			continue
		}
		compiled = append(compiled, c)
	}
	return acl.NewAuthorizer(s.acls.cfg.DefaultPolicy, compiled...), tok, nil
}

// anonymousToken is the built-in token of requests without one.
func anonymousToken() *structs.ACLToken {
	return &structs.ACLToken{
		AccessorID:  acl.AnonymousTokenID,
		SecretID:    acl.AnonymousTokenSecret,
		Description: "Anonymous Token",
	}
}

// globalManagementPolicy is the built-in management policy.
func globalManagementPolicy() *structs.ACLPolicy {
	p := &structs.ACLPolicy{
		ID:          acl.GlobalManagementPolicyID,
		Name:        acl.GlobalManagementPolicyName,
		Description: "Builtin Policy that grants unlimited access",
		Rules:       acl.GlobalManagementRules,
	}
	p.SetHash()
	return p
}

// aclAuthorize resolves token and checks one permission, answering with
// Consul's refusal text.
func (s *Server) aclAuthorize(token string, res acl.Resource, name string, want acl.Access) (*acl.Authorizer, *structs.ACLToken, error) {
	authz, ident, err := s.ResolveToken(token)
	if err != nil {
		return nil, nil, err
	}
	if err := authz.Check(res, name, want); err != nil {
		id := ""
		if ident != nil {
			id = ident.AccessorID
		}
		return nil, nil, acl.WithAccessor(err, id)
	}
	return authz, ident, nil
}

// initializeACLs runs when a leader of the primary datacenter takes
// office: it creates the built-in global-management policy and anonymous
// token when missing, and the acl.tokens.initial_management token.
func (s *Server) initializeACLs() error {
	if !s.acls.cfg.Enabled || !s.isPrimary() {
		return nil
	}
	st := s.fsm.State()
	if _, p, err := st.ACLPolicyGetByID(nil, acl.GlobalManagementPolicyID); err != nil {
		return err
	} else if p == nil {
		if _, err := s.raftApply(structs.ACLPolicySetRequestType, &structs.ACLPolicyBatchSetRequest{
			Policies: structs.ACLPolicies{globalManagementPolicy()}}); err != nil {
			return fmt.Errorf("create the global-management policy: %w", err)
		}
	}
	if _, t, err := st.ACLTokenGetByAccessor(nil, acl.AnonymousTokenID); err != nil {
		return err
	} else if t == nil {
		anon := anonymousToken()
		anon.CreateTime = time.Now().UTC()
		anon.SetHash()
		if _, err := s.raftApply(structs.ACLTokenSetRequestType, &structs.ACLTokenBatchSetRequest{
			Tokens: structs.ACLTokens{anon}, AllowMissingLinks: true}); err != nil {
			return fmt.Errorf("create the anonymous token: %w", err)
		}
	}
	secret := s.acls.cfg.InitialManagementToken
	if secret == "" {
		return nil
	}
	if _, t, err := st.ACLTokenGetBySecret(nil, secret); err != nil {
		return err
	} else if t != nil {
		return nil
	}
	accessor, err := uuid.GenerateUUID()
	if err != nil {
		return err
	}
	tok := structs.ACLToken{
		AccessorID:  accessor,
		SecretID:    secret,
		Description: "Initial Management Token",
		Policies:    []structs.ACLLink{{ID: acl.GlobalManagementPolicyID}},
		CreateTime:  time.Now().UTC(),
	}
	tok.SetHash()
	if st.ACLBootstrapIndex() == 0 {
		// As Consul: the initial management token bootstraps ACLs.
		_, err = s.raftApply(structs.ACLBootstrapRequestType, &structs.ACLBootstrapRequest{Token: tok})
	} else {
		_, err = s.raftApply(structs.ACLTokenSetRequestType, &structs.ACLTokenBatchSetRequest{Tokens: structs.ACLTokens{&tok}})
	}
	if err != nil {
		return fmt.Errorf("create the initial management token: %w", err)
	}
	s.logger.Info("created the initial management token", "accessor_id", accessor)
	return nil
}

// bootstrapResetIndex reads the reset index an operator wrote to the data
// dir, 0 when there is none.
func (s *Server) bootstrapResetIndex() (uint64, string, error) {
	if s.config.DataDir == "" {
		return 0, "", nil
	}
	path := filepath.Join(s.config.DataDir, aclBootstrapResetFile)
	buf, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, "", nil
	}
	if err != nil {
		return 0, "", fmt.Errorf("read %s: %w", path, err)
	}
	idx, err := strconv.ParseUint(strings.TrimSpace(string(buf)), 10, 64)
	if err != nil {
		return 0, "", structs.BadRequest("invalid reset index in %s: %q is not a number", path, strings.TrimSpace(string(buf)))
	}
	return idx, path, nil
}

// maxTokenReapBatch bounds the tokens one Raft entry of the reaper
// deletes.
const maxTokenReapBatch = 128

// reapExpiredACLTokens deletes, on the leader, the tokens whose expiration
// time has passed: every such token in the primary datacenter, the local
// ones in a secondary (global tokens go with the primary's deletion,
// through replication). Expired tokens are refused before they are
// reaped (lookupToken); this only frees their records.
func (s *Server) reapExpiredACLTokens() {
	if !s.acls.cfg.Enabled {
		return
	}
	_, toks, err := s.fsm.State().ACLTokenList(nil, "", "")
	if err != nil {
		s.logger.Error("list ACL tokens to reap the expired ones", "error", err)
		return
	}
	now := time.Now()
	primary := s.isPrimary()
	var ids []string
	for _, t := range toks {
		if t.ExpirationTime != nil && t.Expired(now) && (primary || t.Local) {
			ids = append(ids, t.AccessorID)
		}
	}
	for len(ids) > 0 {
		n := min(len(ids), maxTokenReapBatch)
		if _, err := s.raftApply(structs.ACLTokenDeleteRequestType, &structs.ACLTokenBatchDeleteRequest{TokenIDs: ids[:n]}); err != nil {
			s.logger.Error("delete expired ACL tokens", "error", err)
			return
		}
		s.logger.Info("deleted expired ACL tokens", "count", n)
		ids = ids[n:]
	}
}
