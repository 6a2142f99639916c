package server

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/go-memdb"
	"github.com/hashicorp/go-uuid"

	"github.com/meridian-sd/meridian/acl"
	"github.com/meridian-sd/meridian/state"
	"github.com/meridian-sd/meridian/structs"
)

// ACL serves tokens, policies and roles, and token resolution.
//
// Every ACL write, and every read of tokens, policies and roles, is
// answered by the primary datacenter (primary_datacenter): the endpoint
// points the request there before it forwards, so any server of any
// datacenter takes it. Local tokens are the exception: they are created,
// read and deleted in the datacenter that holds them.
//
// Reads need acl:read, writes acl:write (a management token), checked on
// the server that answers. A SecretID is shown only to a caller who may
// write ACLs; others see "<hidden>".
type ACL struct{ s *Server }

// Validation bounds.
const (
	aclMaxDescription = 8 * 1024
	aclMaxLinks       = 256
	aclMaxDatacenters = 64
	// Token expiry bounds, as Consul's defaults.
	aclMinExpirationTTL = time.Minute
	aclMaxExpirationTTL = 24 * time.Hour
)

var (
	// aclReservedPrefix starts the IDs Meridian (and Consul) keep for
	// built-in tokens and policies.
	aclReservedPrefix = "00000000-0000-0000-0000-0000000000"
)

// route points an ACL request at the primary datacenter (or, for local
// tokens, at the given one) and forwards it.
func (a *ACL) route(ctx context.Context, method string, dc *string, local bool, info structs.RPCInfo, args, reply any) (bool, error) {
	if !a.s.acls.cfg.Enabled {
		return true, structs.ErrACLDisabled
	}
	if !local || *dc == "" {
		*dc = a.s.acls.cfg.PrimaryDatacenter
	}
	return a.s.forward(ctx, method, info, args, reply)
}

// routeRead points a read at the datacenter that answers it. A secondary
// datacenter that holds replicated copies (of tokens when tokens is true,
// of policies and roles otherwise) answers reads addressed to it itself,
// as Consul's do; other reads go to the primary.
func (a *ACL) routeRead(ctx context.Context, method string, dc *string, tokens bool, info structs.RPCInfo, args, reply any) (bool, error) {
	s := a.s
	if !s.acls.cfg.Enabled {
		return true, structs.ErrACLDisabled
	}
	primary := s.acls.cfg.PrimaryDatacenter
	switch {
	case *dc != "" && *dc != s.config.Datacenter && *dc != primary:
		// Another datacenter: it decides where its reads are answered.
	case *dc == s.config.Datacenter && !s.isPrimary() && s.aclReplicatedHere(tokens):
	default:
		*dc = primary
	}
	return s.forward(ctx, method, info, args, reply)
}

// missAskPrimary is for a read a secondary answered from its replicated
// copies and found nothing: what was just created in the primary may not
// have arrived yet, so unless the read blocks, the primary is asked, and
// its answer kept when it gives one.
func missAskPrimary[T any](ctx context.Context, a *ACL, method string, dc *string, opts *structs.QueryOptions, args any, reply *T) {
	s := a.s
	if s.isPrimary() || opts.MinQueryIndex != 0 {
		return
	}
	*dc = s.acls.cfg.PrimaryDatacenter
	var out T
	if err := s.forwardDC(ctx, method, *dc, args, &out); err == nil {
		*reply = out
	}
}

// redact hides a secret from a caller who may not write ACLs.
func redact(authz *acl.Authorizer, t *structs.ACLToken) *structs.ACLToken {
	if t == nil || authz.Allowed(acl.ResourceACL, "", acl.Write) {
		return t
	}
	c := t.Clone()
	c.SecretID = structs.ACLRedactedSecret
	return c
}

// Bootstrap creates the first management token, once. After that it is
// refused with the index an operator writes to
// <data_dir>/acl-bootstrap-reset to allow one more.
func (a *ACL) Bootstrap(ctx context.Context, args *structs.ACLBootstrapRequest, reply *structs.ACLToken) error {
	if done, err := a.route(ctx, "ACL.Bootstrap", &args.Datacenter, false, args, args, reply); done {
		return err
	}
	s := a.s
	if idx := s.fsm.State().ACLBootstrapIndex(); idx > 0 {
		reset, _, err := s.bootstrapResetIndex()
		if err != nil {
			return err
		}
		if reset != idx {
			return structs.ACLBootstrapNotAllowed(idx)
		}
		args.ResetIndex = reset
	}
	tok := &args.Token
	*tok = structs.ACLToken{}
	var err error
	if tok.AccessorID, err = uuid.GenerateUUID(); err != nil {
		return err
	}
	if secret := strings.TrimSpace(args.BootstrapSecret); secret != "" {
		if err := checkUserID("BootstrapSecret", secret); err != nil {
			return err
		}
		if _, t, err := s.fsm.State().ACLTokenGetBySecret(nil, secret); err != nil {
			return err
		} else if t != nil {
			return structs.BadRequest("invalid token: the SecretID is already in use")
		}
		tok.SecretID = secret
	} else if tok.SecretID, err = uuid.GenerateUUID(); err != nil {
		return err
	}
	args.BootstrapSecret = ""
	tok.Description = "Bootstrap Token (Global Management)"
	tok.Policies = []structs.ACLLink{{ID: acl.GlobalManagementPolicyID}}
	tok.CreateTime = time.Now().UTC()
	tok.SetHash()
	if _, err := s.raftApply(structs.ACLBootstrapRequestType, args); err != nil {
		return err
	}
	if args.ResetIndex > 0 {
		if _, path, _ := s.bootstrapResetIndex(); path != "" {
			if err := os.Remove(path); err != nil {
				s.logger.Warn("remove the bootstrap reset file", "error", err)
			}
		}
	}
	_, out, err := s.fsm.State().ACLTokenGetByAccessor(nil, tok.AccessorID)
	if err != nil {
		return err
	}
	if out == nil {
		return fmt.Errorf("bootstrap token missing after the write")
	}
	s.logger.Info("ACL system bootstrapped", "accessor_id", out.AccessorID)
	*reply = *out
	return nil
}

// TokenSet creates (Create) or updates a token.
func (a *ACL) TokenSet(ctx context.Context, args *structs.ACLTokenSetRequest, reply *structs.ACLToken) error {
	local := args.ACLToken.Local || (!args.Create && a.s.localTokenHere(args.Datacenter, args.ACLToken.AccessorID))
	if done, err := a.route(ctx, "ACL.TokenSet", &args.Datacenter, local, args, args, reply); done {
		return err
	}
	s := a.s
	if args.ACLToken.Local && !s.isPrimary() && !s.localTokensHere() {
		// Its policies would not be here to link and resolve it with.
		return structs.BadRequest("invalid token: local tokens can only be created in the primary datacenter %q, or in a datacenter with token replication on (acl.enable_token_replication and acl.tokens.replication)", s.acls.cfg.PrimaryDatacenter)
	}
	if _, _, err := s.aclAuthorize(args.Token, acl.ResourceACL, "", acl.Write); err != nil {
		return err
	}
	st := s.fsm.State()
	tok := args.ACLToken.Clone()
	if err := validateDescription(tok.Description); err != nil {
		return err
	}
	if args.Create {
		if err := a.prepareNewToken(st, tok, args.ExpirationTTL); err != nil {
			return err
		}
	} else {
		if tok.AccessorID == "" {
			return structs.BadRequest("invalid token: an AccessorID is required to update a token")
		}
		_, old, err := st.ACLTokenGetByAccessor(nil, tok.AccessorID)
		if err != nil {
			return err
		}
		if old == nil {
			return structs.BadRequest("invalid token: cannot find token %q to update", tok.AccessorID)
		}
		switch {
		case tok.SecretID != "" && tok.SecretID != old.SecretID:
			return structs.BadRequest("invalid token: changing a token's SecretID is not permitted")
		case tok.Local != old.Local:
			return structs.BadRequest("invalid token: a token cannot change between local and global")
		case args.ExpirationTTL != 0 || (tok.ExpirationTime != nil && (old.ExpirationTime == nil || !tok.ExpirationTime.Equal(*old.ExpirationTime))):
			return structs.BadRequest("invalid token: a token's expiration cannot be changed")
		}
		tok.AccessorID = old.AccessorID
		tok.SecretID = old.SecretID
		tok.ExpirationTime = old.ExpirationTime
		tok.CreateTime = old.CreateTime
	}
	var err error
	if tok.Policies, err = resolvePolicyLinks(st, tok.Policies); err != nil {
		return err
	}
	if tok.Roles, err = resolveRoleLinks(st, tok.Roles); err != nil {
		return err
	}
	tok.SetHash()
	return a.writeToken(tok, reply)
}

// writeToken stores tok and answers with it as stored.
func (a *ACL) writeToken(tok *structs.ACLToken, reply *structs.ACLToken) error {
	s := a.s
	if _, err := s.raftApply(structs.ACLTokenSetRequestType, &structs.ACLTokenBatchSetRequest{Tokens: structs.ACLTokens{tok}}); err != nil {
		return err
	}
	_, out, err := s.fsm.State().ACLTokenGetByAccessor(nil, tok.AccessorID)
	if err != nil {
		return err
	}
	if out == nil {
		return fmt.Errorf("token %s missing after the write", tok.AccessorID)
	}
	*reply = *out
	return nil
}

// prepareNewToken checks the IDs and expiry of a token to create and
// fills in what is missing.
func (a *ACL) prepareNewToken(st *state.Store, tok *structs.ACLToken, ttl time.Duration) error {
	var err error
	if tok.AccessorID == "" {
		if tok.AccessorID, err = uuid.GenerateUUID(); err != nil {
			return err
		}
	} else {
		if err := checkUserID("AccessorID", tok.AccessorID); err != nil {
			return err
		}
		if _, t, err := st.ACLTokenGetByAccessor(nil, tok.AccessorID); err != nil {
			return err
		} else if t != nil {
			return structs.BadRequest("invalid token: a token with AccessorID %q already exists", tok.AccessorID)
		}
	}
	if tok.SecretID == "" {
		if tok.SecretID, err = uuid.GenerateUUID(); err != nil {
			return err
		}
	} else {
		if err := checkUserID("SecretID", tok.SecretID); err != nil {
			return err
		}
		if _, t, err := st.ACLTokenGetBySecret(nil, tok.SecretID); err != nil {
			return err
		} else if t != nil {
			return structs.BadRequest("invalid token: the SecretID is already in use")
		}
	}
	now := time.Now().UTC()
	switch {
	case ttl != 0 && tok.ExpirationTime != nil:
		return structs.BadRequest("invalid token: give ExpirationTime or ExpirationTTL, not both")
	case ttl < 0:
		return structs.BadRequest("invalid token: ExpirationTTL must not be negative")
	case ttl != 0:
		if ttl < aclMinExpirationTTL || ttl > aclMaxExpirationTTL {
			return structs.BadRequest("invalid token: ExpirationTTL must be between %s and %s", aclMinExpirationTTL, aclMaxExpirationTTL)
		}
		exp := now.Add(ttl)
		tok.ExpirationTime = &exp
	case tok.ExpirationTime != nil:
		d := tok.ExpirationTime.Sub(now)
		if d < aclMinExpirationTTL || d > aclMaxExpirationTTL {
			return structs.BadRequest("invalid token: ExpirationTime must be between %s and %s from now", aclMinExpirationTTL, aclMaxExpirationTTL)
		}
	}
	tok.CreateTime = now
	return nil
}

// checkUserID checks an ID a caller chose for a new token.
func checkUserID(field, id string) error {
	if _, err := uuid.ParseUUID(id); err != nil {
		return structs.BadRequest("invalid token: %s is not a valid UUID", field)
	}
	if strings.HasPrefix(strings.ToLower(id), aclReservedPrefix) {
		return structs.BadRequest("invalid token: %s is in the range reserved for built-in tokens", field)
	}
	return nil
}

func validateDescription(d string) error {
	if len(d) > aclMaxDescription {
		return structs.BadRequest("invalid description: %d bytes is longer than the %d allowed", len(d), aclMaxDescription)
	}
	return nil
}

// resolvePolicyLinks turns links given by ID or by name into links by ID
// to existing policies, without repeats.
func resolvePolicyLinks(st *state.Store, links []structs.ACLLink) ([]structs.ACLLink, error) {
	if len(links) > aclMaxLinks {
		return nil, structs.BadRequest("invalid policy links: %d is more than the %d allowed", len(links), aclMaxLinks)
	}
	var out []structs.ACLLink
	seen := map[string]bool{}
	for _, l := range links {
		var (
			p   *structs.ACLPolicy
			err error
		)
		switch {
		case l.ID != "":
			_, p, err = st.ACLPolicyGetByID(nil, l.ID)
			if err == nil && p == nil {
				return nil, structs.BadRequest("invalid policy link: no policy with ID %q", l.ID)
			}
		case l.Name != "":
			_, p, err = st.ACLPolicyGetByName(nil, l.Name)
			if err == nil && p == nil {
				return nil, structs.BadRequest("invalid policy link: no policy named %q", l.Name)
			}
		default:
			return nil, structs.BadRequest("invalid policy link: give an ID or a Name")
		}
		if err != nil {
			return nil, err
		}
		if !seen[p.ID] {
			seen[p.ID] = true
			out = append(out, structs.ACLLink{ID: p.ID, Name: p.Name})
		}
	}
	return out, nil
}

// resolveRoleLinks is resolvePolicyLinks for roles.
func resolveRoleLinks(st *state.Store, links []structs.ACLLink) ([]structs.ACLLink, error) {
	if len(links) > aclMaxLinks {
		return nil, structs.BadRequest("invalid role links: %d is more than the %d allowed", len(links), aclMaxLinks)
	}
	var out []structs.ACLLink
	seen := map[string]bool{}
	for _, l := range links {
		var (
			r   *structs.ACLRole
			err error
		)
		switch {
		case l.ID != "":
			_, r, err = st.ACLRoleGetByID(nil, l.ID)
			if err == nil && r == nil {
				return nil, structs.BadRequest("invalid role link: no role with ID %q", l.ID)
			}
		case l.Name != "":
			_, r, err = st.ACLRoleGetByName(nil, l.Name)
			if err == nil && r == nil {
				return nil, structs.BadRequest("invalid role link: no role named %q", l.Name)
			}
		default:
			return nil, structs.BadRequest("invalid role link: give an ID or a Name")
		}
		if err != nil {
			return nil, err
		}
		if !seen[r.ID] {
			seen[r.ID] = true
			out = append(out, structs.ACLLink{ID: r.ID, Name: r.Name})
		}
	}
	return out, nil
}

// TokenClone creates a token with the policies, roles and locality of
// ACLToken.AccessorID, new IDs, and ACLToken.Description.
func (a *ACL) TokenClone(ctx context.Context, args *structs.ACLTokenSetRequest, reply *structs.ACLToken) error {
	local := args.ACLToken.Local || a.s.localTokenHere(args.Datacenter, args.ACLToken.AccessorID)
	if done, err := a.route(ctx, "ACL.TokenClone", &args.Datacenter, local, args, args, reply); done {
		return err
	}
	s := a.s
	if _, _, err := s.aclAuthorize(args.Token, acl.ResourceACL, "", acl.Write); err != nil {
		return err
	}
	if err := validateDescription(args.ACLToken.Description); err != nil {
		return err
	}
	st := s.fsm.State()
	_, src, err := st.ACLTokenGetByAccessor(nil, args.ACLToken.AccessorID)
	if err != nil {
		return err
	}
	if src == nil || src.Expired(time.Now()) {
		return structs.ErrACLNotFound
	}
	tok := &structs.ACLToken{
		Description: args.ACLToken.Description,
		Policies:    src.Policies,
		Roles:       src.Roles,
		Local:       src.Local,
	}
	if err := a.prepareNewToken(st, tok, 0); err != nil {
		return err
	}
	// A clone expires with its source.
	tok.ExpirationTime = src.ExpirationTime
	tok.SetHash()
	return a.writeToken(tok, reply)
}

// TokenRead reads a token by AccessorID (acl:read), or by SecretID, which
// needs no permission: the secret is the credential (token/self).
func (a *ACL) TokenRead(ctx context.Context, args *structs.ACLTokenGetRequest, reply *structs.ACLTokenResponse) error {
	if done, err := a.routeRead(ctx, "ACL.TokenRead", &args.Datacenter, true, args, args, reply); done {
		return err
	}
	s := a.s
	var authz *acl.Authorizer
	if args.BySecret {
		authz = acl.ManageAll()
	} else {
		var err error
		if authz, _, err = s.aclAuthorize(args.Token, acl.ResourceACL, "", acl.Read); err != nil {
			return err
		}
	}
	if err := s.blockingQuery(ctx, &args.QueryOptions, &reply.QueryMeta, func(ws memdb.WatchSet, st *state.Store) error {
		var (
			idx uint64
			tok *structs.ACLToken
			err error
		)
		if args.BySecret {
			idx, tok, err = st.ACLTokenGetBySecret(ws, args.TokenID)
		} else {
			idx, tok, err = st.ACLTokenGetByAccessor(ws, args.TokenID)
		}
		if err != nil {
			return err
		}
		if tok != nil && tok.Expired(time.Now()) {
			tok = nil
		}
		reply.Index, reply.Token = idx, redact(authz, tok)
		return nil
	}); err != nil {
		return err
	}
	if reply.Token == nil {
		missAskPrimary(ctx, a, "ACL.TokenRead", &args.Datacenter, &args.QueryOptions, args, reply)
	}
	return nil
}

// TokenDelete deletes a token. The anonymous token, and the token making
// the request, cannot be deleted.
func (a *ACL) TokenDelete(ctx context.Context, args *structs.ACLTokenDeleteRequest, reply *string) error {
	local := a.s.localTokenHere(args.Datacenter, args.TokenID)
	if done, err := a.route(ctx, "ACL.TokenDelete", &args.Datacenter, local, args, args, reply); done {
		return err
	}
	s := a.s
	_, ident, err := s.aclAuthorize(args.Token, acl.ResourceACL, "", acl.Write)
	if err != nil {
		return err
	}
	if strings.EqualFold(args.TokenID, acl.AnonymousTokenID) {
		return structs.BadRequest("invalid token: the anonymous token cannot be deleted")
	}
	if ident != nil && strings.EqualFold(ident.AccessorID, args.TokenID) {
		return structs.BadRequest("invalid token: a token cannot delete itself")
	}
	_, tok, err := s.fsm.State().ACLTokenGetByAccessor(nil, args.TokenID)
	if err != nil {
		return err
	}
	if tok == nil {
		// Consul answers a delete of an unknown token with success.
		*reply = args.TokenID
		return nil
	}
	if _, err := s.raftApply(structs.ACLTokenDeleteRequestType, &structs.ACLTokenBatchDeleteRequest{TokenIDs: []string{tok.AccessorID}}); err != nil {
		return err
	}
	*reply = tok.AccessorID
	return nil
}

// TokenList lists tokens, by policy or by role when asked.
func (a *ACL) TokenList(ctx context.Context, args *structs.ACLTokenListRequest, reply *structs.ACLTokenListResponse) error {
	if done, err := a.routeRead(ctx, "ACL.TokenList", &args.Datacenter, true, args, args, reply); done {
		return err
	}
	s := a.s
	authz, _, err := s.aclAuthorize(args.Token, acl.ResourceACL, "", acl.Read)
	if err != nil {
		return err
	}
	return s.blockingQuery(ctx, &args.QueryOptions, &reply.QueryMeta, func(ws memdb.WatchSet, st *state.Store) error {
		idx, toks, err := st.ACLTokenList(ws, args.Policy, args.Role)
		if err != nil {
			return err
		}
		for i, t := range toks {
			toks[i] = redact(authz, t)
		}
		reply.Index, reply.Tokens = idx, toks
		return nil
	})
}

// PolicySet creates (no ID) or updates a policy.
func (a *ACL) PolicySet(ctx context.Context, args *structs.ACLPolicySetRequest, reply *structs.ACLPolicy) error {
	if done, err := a.route(ctx, "ACL.PolicySet", &args.Datacenter, false, args, args, reply); done {
		return err
	}
	s := a.s
	if _, _, err := s.aclAuthorize(args.Token, acl.ResourceACL, "", acl.Write); err != nil {
		return err
	}
	p := args.Policy.Clone()
	if err := validatePolicy(p); err != nil {
		return err
	}
	st := s.fsm.State()
	if p.ID == "" {
		var err error
		if p.ID, err = uuid.GenerateUUID(); err != nil {
			return err
		}
	} else {
		_, old, err := st.ACLPolicyGetByID(nil, p.ID)
		if err != nil {
			return err
		}
		if old == nil {
			return structs.BadRequest("invalid policy: cannot find policy %q to update", p.ID)
		}
		if old.ID == acl.GlobalManagementPolicyID {
			switch {
			case p.Rules != old.Rules:
				return structs.BadRequest("invalid policy: changing the rules of the built-in global-management policy is not permitted")
			case p.Name != old.Name:
				return structs.BadRequest("invalid policy: renaming the built-in global-management policy is not permitted")
			case len(p.Datacenters) > 0:
				return structs.BadRequest("invalid policy: the built-in global-management policy applies in every datacenter")
			}
		}
		p.ID = old.ID
	}
	if _, other, err := st.ACLPolicyGetByName(nil, p.Name); err != nil {
		return err
	} else if other != nil && other.ID != p.ID {
		return structs.BadRequest("invalid policy: a policy named %q already exists", p.Name)
	}
	p.SetHash()
	if _, err := s.raftApply(structs.ACLPolicySetRequestType, &structs.ACLPolicyBatchSetRequest{Policies: structs.ACLPolicies{p}}); err != nil {
		return err
	}
	_, out, err := s.fsm.State().ACLPolicyGetByID(nil, p.ID)
	if err != nil {
		return err
	}
	if out == nil {
		return fmt.Errorf("policy %s missing after the write", p.ID)
	}
	*reply = *out
	return nil
}

// validatePolicy checks a policy's fields, its rules with package acl.
func validatePolicy(p *structs.ACLPolicy) error {
	if !aclPolicyName(p.Name) {
		return structs.BadRequest("invalid policy name %q: use 1 to 128 letters, digits, '-' and '_'", p.Name)
	}
	if err := validateDescription(p.Description); err != nil {
		return err
	}
	if _, err := acl.Parse(p.Rules); err != nil {
		return structs.WithCode(structs.CodeBadRequest, err)
	}
	if len(p.Datacenters) > aclMaxDatacenters {
		return structs.BadRequest("invalid policy datacenters: %d is more than the %d allowed", len(p.Datacenters), aclMaxDatacenters)
	}
	for _, dc := range p.Datacenters {
		if !aclDCName(dc) {
			return structs.BadRequest("invalid policy datacenter %q: use lower-case letters, digits, '-' and '_'", dc)
		}
	}
	return nil
}

// PolicyRead reads a policy by ID or, without one, by name.
func (a *ACL) PolicyRead(ctx context.Context, args *structs.ACLPolicyGetRequest, reply *structs.ACLPolicyResponse) (err error) {
	if done, err := a.routeRead(ctx, "ACL.PolicyRead", &args.Datacenter, false, args, args, reply); done {
		return err
	}
	if _, _, err := a.s.aclAuthorize(args.Token, acl.ResourceACL, "", acl.Read); err != nil {
		return err
	}
	defer func() {
		if err == nil && reply.Policy == nil {
			missAskPrimary(ctx, a, "ACL.PolicyRead", &args.Datacenter, &args.QueryOptions, args, reply)
		}
	}()
	return a.s.blockingQuery(ctx, &args.QueryOptions, &reply.QueryMeta, func(ws memdb.WatchSet, st *state.Store) error {
		var err error
		if args.PolicyID != "" {
			reply.Index, reply.Policy, err = st.ACLPolicyGetByID(ws, args.PolicyID)
		} else {
			reply.Index, reply.Policy, err = st.ACLPolicyGetByName(ws, args.PolicyName)
		}
		return err
	})
}

// PolicyDelete deletes a policy; the built-in one cannot be.
func (a *ACL) PolicyDelete(ctx context.Context, args *structs.ACLPolicyDeleteRequest, reply *string) error {
	if done, err := a.route(ctx, "ACL.PolicyDelete", &args.Datacenter, false, args, args, reply); done {
		return err
	}
	s := a.s
	if _, _, err := s.aclAuthorize(args.Token, acl.ResourceACL, "", acl.Write); err != nil {
		return err
	}
	if strings.EqualFold(args.PolicyID, acl.GlobalManagementPolicyID) {
		return structs.BadRequest("invalid policy: the built-in global-management policy cannot be deleted")
	}
	_, p, err := s.fsm.State().ACLPolicyGetByID(nil, args.PolicyID)
	if err != nil {
		return err
	}
	if p == nil {
		*reply = args.PolicyID
		return nil
	}
	if _, err := s.raftApply(structs.ACLPolicyDeleteRequestType, &structs.ACLPolicyBatchDeleteRequest{PolicyIDs: []string{p.ID}}); err != nil {
		return err
	}
	*reply = p.Name
	return nil
}

// PolicyList lists every policy.
func (a *ACL) PolicyList(ctx context.Context, args *structs.ACLPolicyListRequest, reply *structs.ACLPolicyListResponse) error {
	if done, err := a.routeRead(ctx, "ACL.PolicyList", &args.Datacenter, false, args, args, reply); done {
		return err
	}
	if _, _, err := a.s.aclAuthorize(args.Token, acl.ResourceACL, "", acl.Read); err != nil {
		return err
	}
	return a.s.blockingQuery(ctx, &args.QueryOptions, &reply.QueryMeta, func(ws memdb.WatchSet, st *state.Store) error {
		var err error
		reply.Index, reply.Policies, err = st.ACLPolicyList(ws)
		return err
	})
}

// RoleSet creates (no ID) or updates a role.
func (a *ACL) RoleSet(ctx context.Context, args *structs.ACLRoleSetRequest, reply *structs.ACLRole) error {
	if done, err := a.route(ctx, "ACL.RoleSet", &args.Datacenter, false, args, args, reply); done {
		return err
	}
	s := a.s
	if _, _, err := s.aclAuthorize(args.Token, acl.ResourceACL, "", acl.Write); err != nil {
		return err
	}
	r := args.Role.Clone()
	if !aclRoleName(r.Name) {
		return structs.BadRequest("invalid role name %q: use 1 to 256 letters, digits, '-' and '_'", r.Name)
	}
	if err := validateDescription(r.Description); err != nil {
		return err
	}
	st := s.fsm.State()
	if r.ID == "" {
		var err error
		if r.ID, err = uuid.GenerateUUID(); err != nil {
			return err
		}
	} else {
		_, old, err := st.ACLRoleGetByID(nil, r.ID)
		if err != nil {
			return err
		}
		if old == nil {
			return structs.BadRequest("invalid role: cannot find role %q to update", r.ID)
		}
		r.ID = old.ID
	}
	if _, other, err := st.ACLRoleGetByName(nil, r.Name); err != nil {
		return err
	} else if other != nil && other.ID != r.ID {
		return structs.BadRequest("invalid role: a role named %q already exists", r.Name)
	}
	var err error
	if r.Policies, err = resolvePolicyLinks(st, r.Policies); err != nil {
		return err
	}
	r.SetHash()
	if _, err := s.raftApply(structs.ACLRoleSetRequestType, &structs.ACLRoleBatchSetRequest{Roles: structs.ACLRoles{r}}); err != nil {
		return err
	}
	_, out, err := s.fsm.State().ACLRoleGetByID(nil, r.ID)
	if err != nil {
		return err
	}
	if out == nil {
		return fmt.Errorf("role %s missing after the write", r.ID)
	}
	*reply = *out
	return nil
}

// RoleRead reads a role by ID or, without one, by name.
func (a *ACL) RoleRead(ctx context.Context, args *structs.ACLRoleGetRequest, reply *structs.ACLRoleResponse) (err error) {
	if done, err := a.routeRead(ctx, "ACL.RoleRead", &args.Datacenter, false, args, args, reply); done {
		return err
	}
	if _, _, err := a.s.aclAuthorize(args.Token, acl.ResourceACL, "", acl.Read); err != nil {
		return err
	}
	defer func() {
		if err == nil && reply.Role == nil {
			missAskPrimary(ctx, a, "ACL.RoleRead", &args.Datacenter, &args.QueryOptions, args, reply)
		}
	}()
	return a.s.blockingQuery(ctx, &args.QueryOptions, &reply.QueryMeta, func(ws memdb.WatchSet, st *state.Store) error {
		var err error
		if args.RoleID != "" {
			reply.Index, reply.Role, err = st.ACLRoleGetByID(ws, args.RoleID)
		} else {
			reply.Index, reply.Role, err = st.ACLRoleGetByName(ws, args.RoleName)
		}
		return err
	})
}

// RoleDelete deletes a role.
func (a *ACL) RoleDelete(ctx context.Context, args *structs.ACLRoleDeleteRequest, reply *string) error {
	if done, err := a.route(ctx, "ACL.RoleDelete", &args.Datacenter, false, args, args, reply); done {
		return err
	}
	s := a.s
	if _, _, err := s.aclAuthorize(args.Token, acl.ResourceACL, "", acl.Write); err != nil {
		return err
	}
	_, r, err := s.fsm.State().ACLRoleGetByID(nil, args.RoleID)
	if err != nil {
		return err
	}
	if r == nil {
		*reply = args.RoleID
		return nil
	}
	if _, err := s.raftApply(structs.ACLRoleDeleteRequestType, &structs.ACLRoleBatchDeleteRequest{RoleIDs: []string{r.ID}}); err != nil {
		return err
	}
	*reply = r.Name
	return nil
}

// RoleList lists roles, by policy when asked.
func (a *ACL) RoleList(ctx context.Context, args *structs.ACLRoleListRequest, reply *structs.ACLRoleListResponse) error {
	if done, err := a.routeRead(ctx, "ACL.RoleList", &args.Datacenter, false, args, args, reply); done {
		return err
	}
	if _, _, err := a.s.aclAuthorize(args.Token, acl.ResourceACL, "", acl.Read); err != nil {
		return err
	}
	return a.s.blockingQuery(ctx, &args.QueryOptions, &reply.QueryMeta, func(ws memdb.WatchSet, st *state.Store) error {
		var err error
		reply.Index, reply.Roles, err = st.ACLRoleList(ws, args.Policy)
		return err
	})
}

// ResolveToken answers what the secret in args.Token grants: the token
// (its SecretID blanked) and its policies. It is how client agents and
// servers of other datacenters resolve tokens; it needs no permission,
// since it only describes the caller's own token. It is answered by the
// primary datacenter, by any of its servers (stale).
func (a *ACL) ResolveToken(ctx context.Context, args *structs.ACLResolveRequest, reply *structs.ACLResolveResponse) error {
	s := a.s
	if !s.acls.cfg.Enabled {
		reply.Enabled = false
		return nil
	}
	// Any server may answer, unless a follower sent it on to its leader.
	args.AllowStale = !args.RequireConsistent
	if !s.isPrimary() && (args.Datacenter == "" || args.Datacenter == s.config.Datacenter) {
		// A secondary answers for the tokens it holds (replicated, or
		// its local ones), and asks the primary about the others.
		args.Datacenter = s.config.Datacenter
		if done, err := s.forward(ctx, "ACL.ResolveToken", args, args, reply); done {
			return err
		}
		tok, policies, found, err := s.lookupReplicated(args.Token)
		if err != nil {
			return err
		}
		if found {
			return a.resolved(args, reply, tok, policies)
		}
		args.AllowStale, args.RequireConsistent = true, false
	}
	args.Datacenter = s.acls.cfg.PrimaryDatacenter
	if done, err := s.forward(ctx, "ACL.ResolveToken", args, args, reply); done {
		return err
	}
	tok, policies, err := s.lookupToken(args.Token)
	if isACLNotFound(err) && args.AllowStale && !s.IsLeader() {
		// A follower may not have applied a token created a moment ago:
		// its leader decides.
		args.AllowStale, args.RequireConsistent = false, true
		if done, err := s.forward(ctx, "ACL.ResolveToken", args, args, reply); done {
			return err
		}
		tok, policies, err = s.lookupToken(args.Token)
	}
	if err != nil {
		return err
	}
	return a.resolved(args, reply, tok, policies)
}

// resolved fills in the answer of ResolveToken.
func (a *ACL) resolved(args *structs.ACLResolveRequest, reply *structs.ACLResolveResponse, tok *structs.ACLToken, policies structs.ACLPolicies) error {
	s := a.s
	if tok.Local && args.FromDatacenter != "" && args.FromDatacenter != s.config.Datacenter {
		// A local token is good only in the datacenter that holds it.
		return structs.ErrACLNotFound
	}
	t := tok.Clone()
	t.SecretID = ""
	reply.Enabled = true
	reply.Token = t
	reply.Policies = policies
	reply.DefaultPolicy = string(s.acls.cfg.DefaultPolicy)
	s.setQueryMeta(&args.QueryOptions, &reply.QueryMeta)
	return nil
}

// The names ACL objects may have, as Consul's: policies
// ^[A-Za-z0-9\-_]{1,128}$, roles the same up to 256, datacenters
// ^[a-z0-9_-]{1,64}$. Checked by hand: the bounded repetitions compile to
// regexps that held 147 KB of every server's heap.

func aclPolicyName(s string) bool { return nameOf(s, 128, true) }

func aclRoleName(s string) bool { return nameOf(s, 256, true) }

func aclDCName(s string) bool { return nameOf(s, 64, false) }

// nameOf reports whether s is 1 to max bytes of lower-case letters
// (upper-case too when upper), digits, '-' and '_'.
func nameOf(s string, max int, upper bool) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
		case upper && c >= 'A' && c <= 'Z':
		default:
			return false
		}
	}
	return true
}
