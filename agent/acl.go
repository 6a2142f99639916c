package agent

import (
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
	if tok := req.URL.Query().Get("token"); tok != "" {
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
	return a.agentToken("default")
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
	return a.acl.cache.Resolve(secret, isNotFound, func() (*acl.Authorizer, *structs.ACLToken, error) {
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
