package server

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/meridian-sd/meridian/acl"
	"github.com/meridian-sd/meridian/structs"
)

// ACL replication: the leader of a secondary datacenter copies the
// primary's policies, roles and (with acl.enable_token_replication) global
// tokens into its own Raft log, so that its servers resolve tokens and
// answer ACL reads without the primary.
//
// One loop runs on the leader while it leads. Each round starts with a
// blocking list against the primary (tokens with token replication, roles
// otherwise: those lists' indexes cover every table they depend on, so
// the query returns on any change that matters), then lists roles and
// policies, in that order, so that what tokens and roles link was fetched
// after them. The differences with the local copies are applied through
// Raft in bounded batches: deletions first (a name or secret freed in the
// primary may be reused by another entry), then upserts, policies before
// roles before tokens. Errors back off exponentially; rounds are at least
// aclReplMinInterval apart.
//
// Entries keep the primary's Hash, so whether a local copy is current is
// a comparison of contents; their indexes are the secondary's own.

const (
	// aclReplWait is how long a blocking list against the primary waits.
	aclReplWait = time.Minute
	// aclReplMinInterval spaces rounds, bounding the load a primary under
	// constant change puts on a secondary (and the reverse).
	aclReplMinInterval = 20 * time.Millisecond
	// aclReplBackoffMin and aclReplBackoffMax bound the wait after an error.
	aclReplBackoffMin = 200 * time.Millisecond
	aclReplBackoffMax = 30 * time.Second
	// aclReplIdle is how often a leader without a replication token looks
	// for one (set through the agent token API).
	aclReplIdle = time.Second
	// aclReplBatchItems and aclReplBatchBytes bound one Raft entry.
	aclReplBatchItems = 128
	aclReplBatchBytes = 256 * 1024
	// Bounds on what a primary can make a secondary hold.
	aclReplMaxPolicies = 1 << 16
	aclReplMaxRoles    = 1 << 16
	aclReplMaxTokens   = 1 << 18
	aclReplMaxRules    = 256 * 1024
	aclReplMaxID       = 128
	aclReplMaxSecret   = 256
)

// replicationStatus is the ACL replication status a leader reports.
type replicationStatus struct {
	mu sync.Mutex
	st structs.ACLReplicationStatus
}

func (r *replicationStatus) get() structs.ACLReplicationStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.st
}

func (r *replicationStatus) update(fn func(*structs.ACLReplicationStatus)) {
	r.mu.Lock()
	fn(&r.st)
	r.mu.Unlock()
}

// initReplicationStatus fills in what does not change while the server
// runs.
func (a *aclState) initReplicationStatus(dc string) {
	c := a.cfg
	a.replToken = c.ReplicationToken
	if !c.Enabled || c.PrimaryDatacenter == dc {
		return
	}
	a.repl.update(func(st *structs.ACLReplicationStatus) {
		st.SourceDatacenter = c.PrimaryDatacenter
		st.ReplicationType = structs.ACLReplicatePolicies
		if c.EnableTokenReplication {
			st.ReplicationType = structs.ACLReplicateTokens
		}
	})
}

// aclReplicates reports whether this server's datacenter replicates ACLs
// from the primary: ACLs on, a secondary, a replication token.
func (s *Server) aclReplicates() bool {
	return s.aclSecondary() && s.replicationToken() != ""
}

// aclSecondary reports whether ACLs are on and this server is not in the
// primary datacenter.
func (s *Server) aclSecondary() bool { return s.acls.cfg.Enabled && !s.isPrimary() }

// replicationToken is the token replication uses now.
func (s *Server) replicationToken() string {
	s.acls.replMu.Lock()
	defer s.acls.replMu.Unlock()
	return s.acls.replToken
}

// SetACLReplicationToken replaces the replication token while the server
// runs (PUT /v1/agent/token/replication); the next round uses it, and an
// empty one stops replication.
func (s *Server) SetACLReplicationToken(token string) {
	s.acls.replMu.Lock()
	s.acls.replToken = token
	s.acls.replMu.Unlock()
}

// aclReplicatedHere reports whether this datacenter's state holds
// replicated copies to answer from: policies and roles once the built-in
// policy has arrived; with tokens, global tokens once the anonymous token
// has (token replication on). Every server of the datacenter sees the
// same, through Raft, and it survives restarts.
func (s *Server) aclReplicatedHere(tokens bool) bool {
	if !s.aclReplicates() {
		return false
	}
	st := s.fsm.State()
	if tokens {
		if !s.acls.cfg.EnableTokenReplication {
			return false
		}
		_, t, err := st.ACLTokenGetByAccessor(nil, acl.AnonymousTokenID)
		return err == nil && t != nil
	}
	_, p, err := st.ACLPolicyGetByID(nil, acl.GlobalManagementPolicyID)
	return err == nil && p != nil
}

// localTokensHere reports whether local tokens may be created, read and
// deleted in this (secondary) datacenter: with token replication on, as
// in Consul, once policies have arrived to link them to.
func (s *Server) localTokensHere() bool {
	return s.aclReplicatedHere(false) && s.acls.cfg.EnableTokenReplication
}

// localTokenHere reports whether a request addressed to datacenter dc is
// about accessor, a local token this secondary datacenter holds.
func (s *Server) localTokenHere(dc, accessor string) bool {
	if dc != s.config.Datacenter || s.isPrimary() || accessor == "" || !s.localTokensHere() {
		return false
	}
	_, t, err := s.fsm.State().ACLTokenGetByAccessor(nil, accessor)
	return err == nil && t != nil && t.Local
}

// holdsToken reports whether this secondary datacenter holds secret's
// token (replicated, or one of its local tokens).
func (s *Server) holdsToken(secret string) (bool, error) {
	if !s.aclReplicates() {
		return false, nil
	}
	st := s.fsm.State()
	var (
		t   *structs.ACLToken
		err error
	)
	if secret == "" || secret == acl.AnonymousTokenSecret {
		_, t, err = st.ACLTokenGetByAccessor(nil, acl.AnonymousTokenID)
	} else {
		_, t, err = st.ACLTokenGetBySecret(nil, secret)
	}
	return t != nil, err
}

// resolveReplicated resolves, in a secondary datacenter, a secret whose
// token this datacenter holds. ok is false when it holds none: the caller
// asks the primary.
func (s *Server) resolveReplicated(secret string) (authz *acl.Authorizer, tok *structs.ACLToken, ok bool, err error) {
	held, err := s.holdsToken(secret)
	if err != nil || !held {
		return nil, nil, err != nil, err
	}
	authz, tok, err = s.resolveLocal(secret)
	return authz, tok, true, err
}

// lookupReplicated is lookupToken for a secret this secondary datacenter
// holds; found is false when it holds none.
func (s *Server) lookupReplicated(secret string) (*structs.ACLToken, structs.ACLPolicies, bool, error) {
	held, err := s.holdsToken(secret)
	if err != nil || !held {
		return nil, nil, false, err
	}
	tok, policies, err := s.lookupToken(secret)
	if isACLNotFound(err) {
		// Expired.
		return nil, nil, true, err
	}
	return tok, policies, err == nil, err
}

// ReplicationStatus answers GET /v1/acl/replication: the status kept by
// the leader of the datacenter asked. It needs no token, as in Consul: it
// holds nothing secret and health checks poll it.
func (a *ACL) ReplicationStatus(ctx context.Context, args *structs.ACLReplicationStatusRequest, reply *structs.ACLReplicationStatus) error {
	if !a.s.acls.cfg.Enabled {
		return structs.ErrACLDisabled
	}
	args.AllowStale = false
	if done, err := a.s.forward(ctx, "ACL.ReplicationStatus", args, args, reply); done {
		return err
	}
	*reply = a.s.acls.repl.get()
	reply.Enabled = a.s.aclReplicates()
	return nil
}

// runACLReplication replicates until ctx ends (leadership lost). It
// idles while there is no replication token.
func (s *Server) runACLReplication(ctx context.Context) {
	r := &s.acls.repl
	running := false
	setRunning := func(on bool) {
		if on == running {
			return
		}
		running = on
		r.update(func(st *structs.ACLReplicationStatus) { st.Running = on })
		if on {
			st := r.get()
			s.logger.Info("ACL replication started", "source_datacenter", st.SourceDatacenter, "type", st.ReplicationType)
		} else {
			s.logger.Info("ACL replication stopped")
		}
	}
	defer setRunning(false)

	var (
		last    uint64
		backoff time.Duration
		started time.Time
	)
	for {
		if !sleepCtx(ctx, aclReplMinInterval-time.Since(started)) {
			return
		}
		if s.replicationToken() == "" {
			setRunning(false)
			last = 0
			if !sleepCtx(ctx, aclReplIdle) {
				return
			}
			continue
		}
		setRunning(true)
		started = time.Now()
		idx, err := s.replicateACLsOnce(ctx, last)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			backoff = min(max(2*backoff, aclReplBackoffMin), aclReplBackoffMax)
			now := time.Now().UTC()
			r.update(func(st *structs.ACLReplicationStatus) {
				st.LastError = now
				st.LastErrorMessage = err.Error()
			})
			s.logger.Warn("ACL replication failed", "error", err, "retry_in", backoff)
			if !sleepCtx(ctx, backoff) {
				return
			}
			// Start again from a full comparison.
			last = 0
			continue
		}
		backoff = 0
		last = idx
	}
}

// sleepCtx waits d, or less when ctx ends; false when it ended.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// replicateACLsOnce runs one round: it waits for the primary's state to
// pass index last, then applies the differences. It returns the index to
// wait past next.
func (s *Server) replicateACLsOnce(ctx context.Context, last uint64) (uint64, error) {
	c := s.acls.cfg
	primary := c.PrimaryDatacenter
	token := s.replicationToken()
	opts := func(min uint64) structs.QueryOptions {
		return structs.QueryOptions{MinQueryIndex: min, MaxQueryTime: aclReplWait, Token: token}
	}
	var (
		tokens   structs.ACLTokenListResponse
		roles    structs.ACLRoleListResponse
		policies structs.ACLPolicyListResponse
		blockIdx uint64
	)
	if c.EnableTokenReplication {
		args := &structs.ACLTokenListRequest{Datacenter: primary, QueryOptions: opts(last)}
		if err := s.forwardDC(ctx, "ACL.TokenList", primary, args, &tokens); err != nil {
			return 0, fmt.Errorf("list tokens in %s: %w", primary, err)
		}
		blockIdx = tokens.Index
	} else {
		args := &structs.ACLRoleListRequest{Datacenter: primary, QueryOptions: opts(last)}
		if err := s.forwardDC(ctx, "ACL.RoleList", primary, args, &roles); err != nil {
			return 0, fmt.Errorf("list roles in %s: %w", primary, err)
		}
		blockIdx = roles.Index
	}
	if last != 0 && blockIdx == last {
		// The wait ended without a change.
		now := time.Now().UTC()
		s.acls.repl.update(func(st *structs.ACLReplicationStatus) { st.LastSuccess = now })
		return last, nil
	}
	if c.EnableTokenReplication {
		args := &structs.ACLRoleListRequest{Datacenter: primary, QueryOptions: opts(0)}
		if err := s.forwardDC(ctx, "ACL.RoleList", primary, args, &roles); err != nil {
			return 0, fmt.Errorf("list roles in %s: %w", primary, err)
		}
	}
	pargs := &structs.ACLPolicyListRequest{Datacenter: primary, QueryOptions: opts(0)}
	if err := s.forwardDC(ctx, "ACL.PolicyList", primary, pargs, &policies); err != nil {
		return 0, fmt.Errorf("list policies in %s: %w", primary, err)
	}
	if err := checkReplicatedPolicies(policies.Policies); err != nil {
		return 0, fmt.Errorf("policies from %s: %w", primary, err)
	}
	if err := checkReplicatedRoles(roles.Roles); err != nil {
		return 0, fmt.Errorf("roles from %s: %w", primary, err)
	}
	if c.EnableTokenReplication {
		if err := checkReplicatedTokens(tokens.Tokens); err != nil {
			return 0, fmt.Errorf("tokens from %s: %w", primary, err)
		}
	}

	if err := s.replicatePolicies(policies.Policies); err != nil {
		return 0, err
	}
	if err := s.replicateRoles(roles.Roles); err != nil {
		return 0, err
	}
	if c.EnableTokenReplication {
		if err := s.replicateTokens(tokens.Tokens); err != nil {
			return 0, err
		}
	}
	done := time.Now().UTC()
	s.acls.repl.update(func(st *structs.ACLReplicationStatus) {
		st.ReplicatedIndex = policies.Index
		st.ReplicatedRoleIndex = roles.Index
		if c.EnableTokenReplication {
			st.ReplicatedTokenIndex = tokens.Index
		}
		st.LastSuccess = done
	})
	return blockIdx, nil
}

// replicatePolicies makes the local policies those of the primary.
func (s *Server) replicatePolicies(remote structs.ACLPolicies) error {
	_, local, err := s.fsm.State().ACLPolicyList(nil)
	if err != nil {
		return err
	}
	want := make(map[string]*structs.ACLPolicy, len(remote))
	for _, p := range remote {
		want[p.ID] = p
	}
	var deletes []string
	have := make(map[string]*structs.ACLPolicy, len(local))
	for _, p := range local {
		have[p.ID] = p
		if want[p.ID] == nil {
			deletes = append(deletes, p.ID)
		}
	}
	var upserts structs.ACLPolicies
	for _, p := range remote {
		if old := have[p.ID]; old == nil || !samePolicy(old, p) {
			upserts = append(upserts, p)
		}
	}
	if err := inBatches(deletes, func(string) int { return aclReplMaxID }, func(ids []string) error {
		_, err := s.raftApply(structs.ACLPolicyDeleteRequestType, &structs.ACLPolicyBatchDeleteRequest{PolicyIDs: ids})
		return err
	}); err != nil {
		return fmt.Errorf("delete replicated policies: %w", err)
	}
	// A name that moved to another policy (two swapped in one round)
	// would clash inside a batch: its holder gets a passing name first.
	var moved []*structs.ACLPolicy
	for _, p := range upserts {
		for _, old := range local {
			if old.Name == p.Name && old.ID != p.ID && want[old.ID] != nil {
				c := old.Clone()
				c.Name = passingName(old.ID, 128)
				moved = append(moved, c)
			}
		}
	}
	if err := inBatches(moved, policySize, func(ps []*structs.ACLPolicy) error {
		_, err := s.raftApply(structs.ACLPolicySetRequestType, &structs.ACLPolicyBatchSetRequest{Policies: ps})
		return err
	}); err != nil {
		return fmt.Errorf("rename replicated policies: %w", err)
	}
	if err := inBatches(upserts, policySize, func(ps []*structs.ACLPolicy) error {
		_, err := s.raftApply(structs.ACLPolicySetRequestType, &structs.ACLPolicyBatchSetRequest{Policies: ps})
		return err
	}); err != nil {
		return fmt.Errorf("store replicated policies: %w", err)
	}
	if len(deletes)+len(upserts) > 0 {
		s.logger.Debug("ACL policies replicated", "upserted", len(upserts), "deleted", len(deletes))
	}
	return nil
}

// replicateRoles makes the local roles those of the primary. Links to
// policies this datacenter does not have (deleted in the primary after
// the roles were listed) are dropped, as reads would drop them.
func (s *Server) replicateRoles(remote structs.ACLRoles) error {
	st := s.fsm.State()
	_, local, err := st.ACLRoleList(nil, "")
	if err != nil {
		return err
	}
	_, pols, err := st.ACLPolicyList(nil)
	if err != nil {
		return err
	}
	havePolicy := make(map[string]bool, len(pols))
	for _, p := range pols {
		havePolicy[p.ID] = true
	}
	want := make(map[string]*structs.ACLRole, len(remote))
	for _, r := range remote {
		want[r.ID] = r
	}
	var deletes []string
	have := make(map[string]*structs.ACLRole, len(local))
	for _, r := range local {
		have[r.ID] = r
		if want[r.ID] == nil {
			deletes = append(deletes, r.ID)
		}
	}
	var upserts structs.ACLRoles
	for _, r := range remote {
		c := r.Clone()
		c.Policies = slices.DeleteFunc(c.Policies, func(l structs.ACLLink) bool { return !havePolicy[l.ID] })
		if old := have[r.ID]; old == nil || !sameRole(old, c) {
			upserts = append(upserts, c)
		}
	}
	if err := inBatches(deletes, func(string) int { return aclReplMaxID }, func(ids []string) error {
		_, err := s.raftApply(structs.ACLRoleDeleteRequestType, &structs.ACLRoleBatchDeleteRequest{RoleIDs: ids})
		return err
	}); err != nil {
		return fmt.Errorf("delete replicated roles: %w", err)
	}
	var moved []*structs.ACLRole
	for _, r := range upserts {
		for _, old := range local {
			if old.Name == r.Name && old.ID != r.ID && want[old.ID] != nil {
				c := old.Clone()
				c.Name = passingName(old.ID, 256)
				moved = append(moved, c)
			}
		}
	}
	if err := inBatches(moved, roleSize, func(rs []*structs.ACLRole) error {
		_, err := s.raftApply(structs.ACLRoleSetRequestType, &structs.ACLRoleBatchSetRequest{Roles: rs})
		return err
	}); err != nil {
		return fmt.Errorf("rename replicated roles: %w", err)
	}
	if err := inBatches(upserts, roleSize, func(rs []*structs.ACLRole) error {
		_, err := s.raftApply(structs.ACLRoleSetRequestType, &structs.ACLRoleBatchSetRequest{Roles: rs})
		return err
	}); err != nil {
		return fmt.Errorf("store replicated roles: %w", err)
	}
	if len(deletes)+len(upserts) > 0 {
		s.logger.Debug("ACL roles replicated", "upserted", len(upserts), "deleted", len(deletes))
	}
	return nil
}

// replicateTokens makes the local global tokens those of the primary. The
// primary's local tokens are not copied, and this datacenter's own local
// tokens are left alone. A remote token whose secret a local token of
// this datacenter already uses is skipped (and reported): it could never
// be stored.
func (s *Server) replicateTokens(remote structs.ACLTokens) error {
	_, local, err := s.fsm.State().ACLTokenList(nil, "", "")
	if err != nil {
		return err
	}
	want := make(map[string]*structs.ACLToken, len(remote))
	for _, t := range remote {
		if !t.Local {
			want[t.AccessorID] = t
		}
	}
	var deletes []string
	have := make(map[string]*structs.ACLToken, len(local))
	localSecrets := map[string]string{}
	for _, t := range local {
		have[t.AccessorID] = t
		if t.Local {
			localSecrets[t.SecretID] = t.AccessorID
			continue
		}
		if want[t.AccessorID] == nil {
			deletes = append(deletes, t.AccessorID)
		}
	}
	var (
		upserts structs.ACLTokens
		clashes int
	)
	for _, t := range remote {
		if t.Local {
			continue
		}
		if id, ok := localSecrets[t.SecretID]; ok && id != t.AccessorID {
			clashes++
			continue
		}
		if old := have[t.AccessorID]; old == nil || !sameToken(old, t) {
			upserts = append(upserts, t)
		}
	}
	if err := inBatches(deletes, func(string) int { return aclReplMaxID }, func(ids []string) error {
		_, err := s.raftApply(structs.ACLTokenDeleteRequestType, &structs.ACLTokenBatchDeleteRequest{TokenIDs: ids})
		return err
	}); err != nil {
		return fmt.Errorf("delete replicated tokens: %w", err)
	}
	if err := inBatches(upserts, tokenSize, func(ts []*structs.ACLToken) error {
		_, err := s.raftApply(structs.ACLTokenSetRequestType, &structs.ACLTokenBatchSetRequest{Tokens: ts, AllowMissingLinks: true})
		return err
	}); err != nil {
		return fmt.Errorf("store replicated tokens: %w", err)
	}
	if len(deletes)+len(upserts) > 0 {
		s.logger.Debug("ACL tokens replicated", "upserted", len(upserts), "deleted", len(deletes))
	}
	if clashes > 0 {
		return fmt.Errorf("%d global tokens of the primary use the secret of a local token of this datacenter and were not replicated", clashes)
	}
	return nil
}

// passingName is a name no policy or role of the primary has (IDs are
// unique, and the primary's names are checked by a pattern that this one
// matches), held for a moment while names move between entries.
func passingName(id string, max int) string {
	n := "replicating-" + id
	if len(n) > max {
		n = n[:max]
	}
	return n
}

// inBatches calls apply on consecutive runs of items, each of at most
// aclReplBatchItems items and, unless one item alone is larger,
// aclReplBatchBytes bytes as estimated by size.
func inBatches[T any](items []T, size func(T) int, apply func([]T) error) error {
	start, bytes := 0, 0
	for i, it := range items {
		n := size(it)
		if i > start && (i-start >= aclReplBatchItems || bytes+n > aclReplBatchBytes) {
			if err := apply(items[start:i]); err != nil {
				return err
			}
			start, bytes = i, 0
		}
		bytes += n
	}
	if start < len(items) {
		return apply(items[start:])
	}
	return nil
}

func linksSize(ls []structs.ACLLink) int {
	n := 0
	for _, l := range ls {
		n += len(l.ID) + len(l.Name) + 16
	}
	return n
}

func policySize(p *structs.ACLPolicy) int {
	n := 128 + len(p.ID) + len(p.Name) + len(p.Description) + len(p.Rules) + len(p.Hash)
	for _, dc := range p.Datacenters {
		n += len(dc) + 4
	}
	return n
}

func roleSize(r *structs.ACLRole) int {
	return 128 + len(r.ID) + len(r.Name) + len(r.Description) + len(r.Hash) + linksSize(r.Policies)
}

func tokenSize(t *structs.ACLToken) int {
	return 160 + len(t.AccessorID) + len(t.SecretID) + len(t.Description) + len(t.Hash) +
		linksSize(t.Policies) + linksSize(t.Roles)
}

func linkIDs(ls []structs.ACLLink) []string {
	out := make([]string, 0, len(ls))
	for _, l := range ls {
		out = append(out, l.ID)
	}
	return out
}

func samePolicy(a, b *structs.ACLPolicy) bool {
	return a.ID == b.ID && a.Name == b.Name && a.Description == b.Description && a.Rules == b.Rules &&
		slices.Equal(a.Datacenters, b.Datacenters) && slices.Equal(a.Hash, b.Hash)
}

func sameRole(a, b *structs.ACLRole) bool {
	return a.ID == b.ID && a.Name == b.Name && a.Description == b.Description &&
		slices.Equal(linkIDs(a.Policies), linkIDs(b.Policies)) && slices.Equal(a.Hash, b.Hash)
}

func sameToken(a, b *structs.ACLToken) bool {
	sameExp := (a.ExpirationTime == nil) == (b.ExpirationTime == nil) &&
		(a.ExpirationTime == nil || a.ExpirationTime.Equal(*b.ExpirationTime))
	return a.AccessorID == b.AccessorID && a.SecretID == b.SecretID && a.Description == b.Description &&
		a.Local == b.Local && sameExp && a.CreateTime.Equal(b.CreateTime) &&
		slices.Equal(linkIDs(a.Policies), linkIDs(b.Policies)) &&
		slices.Equal(linkIDs(a.Roles), linkIDs(b.Roles)) && slices.Equal(a.Hash, b.Hash)
}

var errReplicationNeedsWrite = errors.New("the replication token may read but not write ACLs, so the primary hides token secrets: token replication needs a token with acl = \"write\"")

// checkID checks an ID from the primary.
func checkID(what, id string, seen map[string]bool) error {
	switch {
	case id == "":
		return fmt.Errorf("a %s without an ID", what)
	case len(id) > aclReplMaxID:
		return fmt.Errorf("a %s ID of %d bytes, more than the %d allowed", what, len(id), aclReplMaxID)
	case seen[id]:
		return fmt.Errorf("%s %s listed twice", what, id)
	}
	seen[id] = true
	return nil
}

func checkLinks(what, id string, ls []structs.ACLLink) error {
	if len(ls) > aclMaxLinks {
		return fmt.Errorf("%s %s has %d links, more than the %d allowed", what, id, len(ls), aclMaxLinks)
	}
	for _, l := range ls {
		if l.ID == "" || len(l.ID) > aclReplMaxID {
			return fmt.Errorf("%s %s has a link with an invalid ID", what, id)
		}
	}
	return nil
}

// checkReplicatedPolicies checks the policies a primary sent.
func checkReplicatedPolicies(ps structs.ACLPolicies) error {
	if len(ps) > aclReplMaxPolicies {
		return fmt.Errorf("%d policies, more than the %d a secondary holds", len(ps), aclReplMaxPolicies)
	}
	seen := make(map[string]bool, len(ps))
	for _, p := range ps {
		if p == nil {
			return fmt.Errorf("an empty policy")
		}
		if err := checkID("policy", p.ID, seen); err != nil {
			return err
		}
		switch {
		case !aclPolicyName(p.Name):
			return fmt.Errorf("policy %s has an invalid name", p.ID)
		case len(p.Rules) > aclReplMaxRules:
			return fmt.Errorf("policy %s has %d bytes of rules, more than the %d allowed", p.ID, len(p.Rules), aclReplMaxRules)
		case len(p.Description) > aclMaxDescription:
			return fmt.Errorf("policy %s has a description longer than %d bytes", p.ID, aclMaxDescription)
		case len(p.Datacenters) > aclMaxDatacenters:
			return fmt.Errorf("policy %s names more than %d datacenters", p.ID, aclMaxDatacenters)
		}
	}
	return nil
}

// checkReplicatedRoles checks the roles a primary sent.
func checkReplicatedRoles(rs structs.ACLRoles) error {
	if len(rs) > aclReplMaxRoles {
		return fmt.Errorf("%d roles, more than the %d a secondary holds", len(rs), aclReplMaxRoles)
	}
	seen := make(map[string]bool, len(rs))
	for _, r := range rs {
		if r == nil {
			return fmt.Errorf("an empty role")
		}
		if err := checkID("role", r.ID, seen); err != nil {
			return err
		}
		switch {
		case !aclRoleName(r.Name):
			return fmt.Errorf("role %s has an invalid name", r.ID)
		case len(r.Description) > aclMaxDescription:
			return fmt.Errorf("role %s has a description longer than %d bytes", r.ID, aclMaxDescription)
		}
		if err := checkLinks("role", r.ID, r.Policies); err != nil {
			return err
		}
	}
	return nil
}

// checkReplicatedTokens checks the tokens a primary sent.
func checkReplicatedTokens(ts structs.ACLTokens) error {
	if len(ts) > aclReplMaxTokens {
		return fmt.Errorf("%d tokens, more than the %d a secondary holds", len(ts), aclReplMaxTokens)
	}
	seen := make(map[string]bool, len(ts))
	secrets := make(map[string]bool, len(ts))
	for _, t := range ts {
		if t == nil {
			return fmt.Errorf("an empty token")
		}
		if err := checkID("token", t.AccessorID, seen); err != nil {
			return err
		}
		switch {
		case t.SecretID == structs.ACLRedactedSecret:
			return errReplicationNeedsWrite
		case t.SecretID == "" || len(t.SecretID) > aclReplMaxSecret:
			return fmt.Errorf("token %s has an invalid secret", t.AccessorID)
		case secrets[t.SecretID]:
			return fmt.Errorf("token %s shares its secret with another token", t.AccessorID)
		case len(t.Description) > aclMaxDescription:
			return fmt.Errorf("token %s has a description longer than %d bytes", t.AccessorID, aclMaxDescription)
		}
		secrets[t.SecretID] = true
		if err := checkLinks("token", t.AccessorID, t.Policies); err != nil {
			return err
		}
		if err := checkLinks("token", t.AccessorID, t.Roles); err != nil {
			return err
		}
	}
	return nil
}
