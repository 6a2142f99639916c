package agent

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/meridian-sd/meridian/acl"
	"github.com/meridian-sd/meridian/agent/config"
	"github.com/meridian-sd/meridian/server"
	"github.com/meridian-sd/meridian/structs"
)

// Access control on the agent: which token a request carries, and what
// that token may do.

// agentACL holds a client agent's cache of resolved tokens.
type agentACL struct {
	once  sync.Once
	cache *acl.Cache[*structs.ACLToken]
	// routes are the HTTP routes registered, pattern to methods, for the
	// test that every route has an ACL rule (acl_routes.go).
	routes map[string]string
	// tokens are the agent's tokens set through the API (acl_tokens.go).
	tokens agentTokens
}

// shutdown waits for the cache's background fetches (async-cache); no
// cache is made afterwards.
func (x *agentACL) shutdown() {
	x.once.Do(func() {})
	if x.cache != nil {
		x.cache.Close()
	}
}

// serverACLConfig maps the acl block onto the server's configuration.
func serverACLConfig(rc *config.RuntimeConfig) server.ACLConfig {
	return server.ACLConfig{
		Enabled:                rc.ACL.Enabled,
		PrimaryDatacenter:      rc.PrimaryDatacenter,
		DefaultPolicy:          acl.DefaultPolicy(rc.ACL.DefaultPolicy),
		DownPolicy:             acl.DownPolicy(rc.ACL.DownPolicy),
		TokenTTL:               rc.ACL.TokenTTL,
		PolicyTTL:              rc.ACL.PolicyTTL,
		ReplicationToken:       rc.ACL.ReplicationToken,
		EnableTokenReplication: rc.ACL.EnableTokenReplication,
		InitialManagementToken: rc.ACL.InitialManagementToken,
	}
}

// requestToken returns the ACL token a request carries, looked for as
// Consul does: ?token=, then X-Consul-Token, then Authorization: Bearer.
// A request without one uses the agent's acl.tokens.default, and failing
// that the anonymous token (""). The token is never logged.
func (a *Agent) requestToken(req *http.Request) string {
	if tok := explicitToken(req); tok != "" {
		return tok
	}
	return a.agentToken("default")
}

// explicitToken is the token the request itself names, "" for none.
func explicitToken(req *http.Request) string {
	if tok := reqQuery(req).Get("token"); tok != "" {
		return tok
	}
	if tok := strings.TrimSpace(req.Header.Get("X-Consul-Token")); tok != "" {
		return tok
	}
	if auth := strings.TrimSpace(req.Header.Get("Authorization")); auth != "" {
		scheme, tok, ok := strings.Cut(auth, " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			if tok = strings.TrimSpace(tok); tok != "" {
				return tok
			}
		}
	}
	return ""
}

// ResolveToken turns a secret into an Authorizer and the token's identity
// in one call, for the HTTP layer to check permissions with. On a server
// it is the server's resolver; a client agent asks its servers and keeps
// the answer for acl.token_ttl, applying acl.down_policy when they cannot
// be reached. With ACLs off it grants everything and the identity is nil.
// An unknown secret is structs.ErrACLNotFound.
func (a *Agent) ResolveToken(secret string) (*acl.Authorizer, *structs.ACLToken, error) {
	rc := a.cfg()
	if !rc.ACL.Enabled {
		return acl.ManageAll(), nil, nil
	}
	if a.server != nil {
		return a.server.ResolveToken(secret)
	}
	a.acl.once.Do(func() {
		a.acl.cache = acl.NewCache[*structs.ACLToken](rc.ACL.TokenTTL, acl.DownPolicy(rc.ACL.DownPolicy), time.Now)
	})
	if a.acl.cache == nil {
		return nil, nil, errors.New("the agent is shutting down")
	}
	isNotFound := func(err error) bool { return structs.IsErr(err, structs.ErrACLNotFound) }
	authz, tok, err := a.acl.cache.Resolve(secret, isNotFound, func() (*acl.Authorizer, *structs.ACLToken, error) {
		args := &structs.ACLResolveRequest{Datacenter: rc.Datacenter, FromDatacenter: rc.Datacenter}
		args.Token = secret
		args.AllowStale = true
		var out structs.ACLResolveResponse
		if err := a.RPC("ACL.ResolveToken", args, &out); err != nil {
			return nil, nil, err
		}
		if !out.Enabled {
			return acl.ManageAll(), nil, nil
		}
		return compileResolved(rc.Datacenter, &out)
	})
	if err == nil && tok != nil && tok.Expired(time.Now()) {
		// Cached before it expired: refused from the moment it does.
		return nil, nil, structs.ErrACLNotFound
	}
	return authz, tok, err
}

// compileResolved builds the Authorizer of a token a server described.
func compileResolved(dc string, out *structs.ACLResolveResponse) (*acl.Authorizer, *structs.ACLToken, error) {
	if out.Token == nil {
		return nil, nil, structs.ErrACLNotFound
	}
	var policies []*acl.Policy
	for _, p := range out.Policies {
		if !p.AppliesTo(dc) {
			continue
		}
		if p.ID == acl.GlobalManagementPolicyID {
			return acl.ManageAll(), out.Token, nil
		}
		parsed, err := acl.Parse(p.Rules)
		if err != nil {
			// Stored policies parsed when written: one that does not any
			// more grants nothing.
			continue
		}
		policies = append(policies, parsed)
	}
	return acl.NewAuthorizer(acl.DefaultPolicy(out.DefaultPolicy), policies...), out.Token, nil
}

// redactedURL is a request URL for the log: a ?token= value reads
// <hidden>, so that secrets never reach the log.
func redactedURL(u *url.URL) string {
	q := u.Query()
	if _, ok := q["token"]; !ok {
		return u.String()
	}
	q.Set("token", "<hidden>")
	c := *u
	c.RawQuery = q.Encode()
	return c.String()
}

// requestTokenKey carries, in an HTTP request's context, the token the
// request's RPCs are made with (see tokenFromContext).
type requestTokenKey struct{}

// contextWithToken returns ctx carrying token for the RPCs made on its
// behalf.
func contextWithToken(ctx context.Context, token string) context.Context {
	return context.WithValue(ctx, requestTokenKey{}, token)
}

// tokenFromContext gives args the token of the HTTP request ctx belongs to when
// they carry none yet, so that the servers check every RPC made for a
// request with the request's own token (or the agent's default token):
// handlers need not copy it into each request they build.
func tokenFromContext(ctx context.Context, args any) {
	var tok string
	if st, _ := ctx.Value(reqStateKey{}).(*reqState); st != nil && st.tokenSet {
		tok = st.token
	} else {
		tok, _ = ctx.Value(requestTokenKey{}).(string)
	}
	if tok == "" {
		return
	}
	if tc, ok := args.(structs.TokenCarrier); ok && tc.RequestToken() == "" {
		tc.SetToken(tok)
	}
}

// syncToken is the token of the agent's own catalog writes (its node, its
// coordinate, anti-entropy of what carries no token of its own):
// acl.tokens.agent, falling back to acl.tokens.default, as Consul's.
func (a *Agent) syncToken() string {
	if tok := a.agentToken("agent"); tok != "" {
		return tok
	}
	return a.agentToken("default")
}

// userToken is the token of a service or check registered without one:
// acl.tokens.default.
func (a *Agent) userToken() string { return a.agentToken("default") }

// syncTokens gives anti-entropy the agent's tokens (local.Tokens), read
// at each sync.
type syncTokens struct{ a *Agent }

func (t syncTokens) AgentToken() string { return t.a.syncToken() }
func (t syncTokens) UserToken() string  { return t.a.userToken() }
