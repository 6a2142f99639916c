package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/meridian-sd/meridian/structs"
)

// ACL HTTP API, as Consul's (the official client's api.ACL()):
//
//	PUT    /v1/acl/bootstrap                first management token, once
//	PUT    /v1/acl/token                    create a token
//	GET    /v1/acl/token/self               the request's own token
//	GET    /v1/acl/token/<accessor>         read
//	PUT    /v1/acl/token/<accessor>         update
//	PUT    /v1/acl/token/<accessor>/clone   clone, body {"Description": ...}
//	DELETE /v1/acl/token/<accessor>         delete
//	GET    /v1/acl/tokens                   list, ?policy=<id> ?role=<id>
//	PUT    /v1/acl/policy                   create a policy
//	GET    /v1/acl/policy/<id>              read; /v1/acl/policy/name/<name> by name
//	PUT    /v1/acl/policy/<id>              update
//	DELETE /v1/acl/policy/<id>              delete
//	GET    /v1/acl/policies                 list
//	PUT    /v1/acl/role, GET|PUT|DELETE /v1/acl/role/<id>, GET /v1/acl/role/name/<name>
//	GET    /v1/acl/roles                    list, ?policy=<id>
//
// The servers check the permissions (acl:read for reads, acl:write for
// writes) and answer from the primary datacenter. With ACLs off every
// endpoint answers 401 "ACL support disabled". An unknown token or policy
// ID is 403 "ACL not found", an unknown policy or role name, or role ID,
// is 404, as Consul's.

// maxACLBody bounds an ACL request body.
const maxACLBody = 256 * 1024

// decodeACLBody decodes a body strictly: unknown fields are refused.
func decodeACLBody(req *http.Request, out any) error {
	if req.Body == nil {
		return badRequest("Request body is empty")
	}
	dec := json.NewDecoder(http.MaxBytesReader(nil, req.Body, maxACLBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(out); err != nil {
		if err.Error() == "EOF" {
			return badRequest("Request body is empty")
		}
		return badRequest("Request decode failed: %v", err)
	}
	return nil
}

// refuseIdentities refuses the Consul features tokens and roles may name
// that Meridian does not have, rather than drop them silently.
func refuseIdentities(fields map[string]json.RawMessage) error {
	for name, raw := range fields {
		v := strings.TrimSpace(string(raw))
		if v == "" || v == "null" || v == "[]" || v == `""` || v == `"default"` {
			continue
		}
		return badRequest("%s are not supported by Meridian", name)
	}
	return nil
}

// aclTokenBody is the body of a token create or update: Consul's ACLToken
// fields, of which Meridian takes the ones it supports.
type aclTokenBody struct {
	AccessorID          string
	SecretID            string
	Description         string
	Policies            []structs.ACLLink
	Roles               []structs.ACLLink
	Local               bool
	ExpirationTime      *time.Time
	ExpirationTTL       structs.Duration
	ServiceIdentities   json.RawMessage
	NodeIdentities      json.RawMessage
	TemplatedPolicies   json.RawMessage
	AuthMethod          json.RawMessage
	Namespace           json.RawMessage
	Partition           json.RawMessage
	AuthMethodNamespace json.RawMessage
	Rules               json.RawMessage
	// Read-only fields the client sends back on update; ignored.
	Name        string
	CreateIndex uint64
	ModifyIndex uint64
	CreateTime  time.Time
	Hash        []byte
}

func (b *aclTokenBody) check() error {
	if err := refuseIdentities(map[string]json.RawMessage{
		"ServiceIdentities": b.ServiceIdentities, "NodeIdentities": b.NodeIdentities,
		"TemplatedPolicies": b.TemplatedPolicies, "Auth methods": b.AuthMethod,
		"Namespaces": b.Namespace, "Admin partitions": b.Partition,
		"Auth method namespaces": b.AuthMethodNamespace,
	}); err != nil {
		return err
	}
	if v := strings.TrimSpace(string(b.Rules)); v != "" && v != "null" && v != `""` {
		return badRequest("Rules on tokens are legacy ACLs, which Meridian does not support: put the rules in a policy")
	}
	return nil
}

func (b *aclTokenBody) token() structs.ACLToken {
	return structs.ACLToken{
		AccessorID: b.AccessorID, SecretID: b.SecretID, Description: b.Description,
		Policies: b.Policies, Roles: b.Roles, Local: b.Local, ExpirationTime: b.ExpirationTime,
	}
}

// aclPolicyBody is the body of a policy create or update.
type aclPolicyBody struct {
	ID          string
	Name        string
	Description string
	Rules       string
	Datacenters []string
	Namespace   json.RawMessage
	Partition   json.RawMessage
	Hash        []byte
	CreateIndex uint64
	ModifyIndex uint64
}

// aclRoleBody is the body of a role create or update.
type aclRoleBody struct {
	ID                string
	Name              string
	Description       string
	Policies          []structs.ACLLink
	ServiceIdentities json.RawMessage
	NodeIdentities    json.RawMessage
	TemplatedPolicies json.RawMessage
	Namespace         json.RawMessage
	Partition         json.RawMessage
	Hash              []byte
	CreateIndex       uint64
	ModifyIndex       uint64
}

// aclBootstrap serves PUT /v1/acl/bootstrap.
func (a *Agent) aclBootstrap(resp http.ResponseWriter, req *http.Request) (any, error) {
	args := &structs.ACLBootstrapRequest{Datacenter: a.datacenter()}
	if req.ContentLength != 0 {
		var body struct{ BootstrapSecret string }
		if err := decodeACLBody(req, &body); err != nil {
			return nil, err
		}
		args.BootstrapSecret = body.BootstrapSecret
	}
	var out structs.ACLToken
	if err := a.RPC("ACL.Bootstrap", args, &out); err != nil {
		if strings.Contains(err.Error(), structs.ErrACLBootstrapNotAllowed.Error()) {
			return nil, HTTPError{Code: http.StatusForbidden, Reason: "Permission denied: " + err.Error()}
		}
		return nil, err
	}
	return &out, nil
}

// aclTokenCreate serves PUT /v1/acl/token.
func (a *Agent) aclTokenCreate(resp http.ResponseWriter, req *http.Request) (any, error) {
	var body aclTokenBody
	if err := decodeACLBody(req, &body); err != nil {
		return nil, err
	}
	if err := body.check(); err != nil {
		return nil, err
	}
	args := &structs.ACLTokenSetRequest{
		Datacenter: a.parseDC(req), ACLToken: body.token(), Create: true,
		ExpirationTTL: time.Duration(body.ExpirationTTL),
	}
	args.Token = a.requestToken(req)
	var out structs.ACLToken
	if err := a.RPC("ACL.TokenSet", args, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// aclTokenSpecific serves /v1/acl/token/<accessor>[/clone] and /self.
func (a *Agent) aclTokenSpecific(resp http.ResponseWriter, req *http.Request) (any, error) {
	rest := pathSuffix(req, "/v1/acl/token/")
	if id, ok := strings.CutSuffix(rest, "/clone"); ok {
		if req.Method != http.MethodPut && req.Method != http.MethodPost {
			return nil, HTTPError{Code: http.StatusMethodNotAllowed, Reason: fmt.Sprintf("method %s not allowed", req.Method)}
		}
		return a.aclTokenClone(resp, req, id)
	}
	if rest == "" || strings.Contains(rest, "/") {
		return nil, badRequest("Missing token AccessorID: use /v1/acl/token/<AccessorID>")
	}
	switch req.Method {
	case http.MethodGet:
		if rest == "self" {
			return a.aclTokenSelf(resp, req)
		}
		return a.aclTokenRead(resp, req, rest)
	case http.MethodPut, http.MethodPost:
		return a.aclTokenUpdate(resp, req, rest)
	case http.MethodDelete:
		args := &structs.ACLTokenDeleteRequest{Datacenter: a.parseDC(req), TokenID: rest}
		args.Token = a.requestToken(req)
		var out string
		if err := a.RPC("ACL.TokenDelete", args, &out); err != nil {
			return nil, err
		}
		return true, nil
	}
	return nil, HTTPError{Code: http.StatusMethodNotAllowed, Reason: fmt.Sprintf("method %s not allowed", req.Method)}
}

func (a *Agent) aclTokenRead(resp http.ResponseWriter, req *http.Request, id string) (any, error) {
	args := &structs.ACLTokenGetRequest{TokenID: id}
	dc, err := a.parseQuery(req, &args.QueryOptions)
	if err != nil {
		return nil, err
	}
	args.Datacenter = dc
	args.Token = a.requestToken(req)
	var out structs.ACLTokenResponse
	if err := a.RPC("ACL.TokenRead", args, &out); err != nil {
		return nil, err
	}
	setMeta(resp, &out.QueryMeta)
	if out.Token == nil {
		return nil, structs.ErrACLNotFound
	}
	if _, ok := reqQuery(req)["expanded"]; ok {
		return a.expandToken(args, out.Token)
	}
	return out.Token, nil
}

// tokenExpanded is Consul's answer to GET /v1/acl/token/<id>?expanded:
// the token with the policies it holds (directly and through its roles)
// and its roles, and how this agent resolves tokens.
type tokenExpanded struct {
	ExpandedPolicies          []*structs.ACLPolicy
	ExpandedRoles             []*structs.ACLRole
	NamespaceDefaultPolicyIDs []string
	NamespaceDefaultRoleIDs   []string
	AgentACLDefaultPolicy     string
	AgentACLDownPolicy        string
	ResolvedByAgent           string
	*structs.ACLToken
}

// expandToken reads the roles and policies of tok with the request's
// token and options (read: the token could read tok, so acl:read). A link
// to something deleted since is left out, as Consul does.
func (a *Agent) expandToken(q *structs.ACLTokenGetRequest, tok *structs.ACLToken) (*tokenExpanded, error) {
	rc := a.cfg()
	out := &tokenExpanded{
		ExpandedPolicies: []*structs.ACLPolicy{}, ExpandedRoles: []*structs.ACLRole{},
		NamespaceDefaultPolicyIDs: []string{}, NamespaceDefaultRoleIDs: []string{},
		AgentACLDefaultPolicy: rc.ACL.DefaultPolicy, AgentACLDownPolicy: rc.ACL.DownPolicy,
		ResolvedByAgent: a.nodeName(), ACLToken: tok,
	}
	qo := q.QueryOptions
	qo.MinQueryIndex = 0
	seen := map[string]bool{}
	addPolicy := func(l structs.ACLLink) error {
		if seen[l.ID] {
			return nil
		}
		seen[l.ID] = true
		pargs := &structs.ACLPolicyGetRequest{Datacenter: q.Datacenter, PolicyID: l.ID, QueryOptions: qo}
		var pr structs.ACLPolicyResponse
		if err := a.RPC("ACL.PolicyRead", pargs, &pr); err != nil {
			return err
		}
		if pr.Policy != nil {
			out.ExpandedPolicies = append(out.ExpandedPolicies, pr.Policy)
		}
		return nil
	}
	for _, l := range tok.Policies {
		if err := addPolicy(l); err != nil {
			return nil, err
		}
	}
	for _, l := range tok.Roles {
		rargs := &structs.ACLRoleGetRequest{Datacenter: q.Datacenter, RoleID: l.ID, QueryOptions: qo}
		var rr structs.ACLRoleResponse
		if err := a.RPC("ACL.RoleRead", rargs, &rr); err != nil {
			return nil, err
		}
		if rr.Role == nil {
			continue
		}
		out.ExpandedRoles = append(out.ExpandedRoles, rr.Role)
		for _, pl := range rr.Role.Policies {
			if err := addPolicy(pl); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

func (a *Agent) aclTokenSelf(resp http.ResponseWriter, req *http.Request) (any, error) {
	secret := a.requestToken(req)
	notFound := HTTPError{Code: http.StatusForbidden, Reason: "token does not exist: " + structs.ErrACLNotFound.Error()}
	if secret == "" {
		return nil, notFound
	}
	args := &structs.ACLTokenGetRequest{TokenID: secret, BySecret: true}
	dc, err := a.parseQuery(req, &args.QueryOptions)
	if err != nil {
		return nil, err
	}
	args.Datacenter = dc
	args.Token = secret
	var out structs.ACLTokenResponse
	if err := a.RPC("ACL.TokenRead", args, &out); err != nil {
		return nil, err
	}
	setMeta(resp, &out.QueryMeta)
	if out.Token == nil {
		return nil, notFound
	}
	return out.Token, nil
}

func (a *Agent) aclTokenUpdate(resp http.ResponseWriter, req *http.Request, id string) (any, error) {
	var body aclTokenBody
	if err := decodeACLBody(req, &body); err != nil {
		return nil, err
	}
	if err := body.check(); err != nil {
		return nil, err
	}
	if body.AccessorID != "" && !strings.EqualFold(body.AccessorID, id) {
		return nil, badRequest("Token AccessorID in the URL and the payload do not match")
	}
	tok := body.token()
	tok.AccessorID = id
	args := &structs.ACLTokenSetRequest{Datacenter: a.parseDC(req), ACLToken: tok, ExpirationTTL: time.Duration(body.ExpirationTTL)}
	args.Token = a.requestToken(req)
	var out structs.ACLToken
	if err := a.RPC("ACL.TokenSet", args, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func (a *Agent) aclTokenClone(resp http.ResponseWriter, req *http.Request, id string) (any, error) {
	var body struct{ Description string }
	if req.ContentLength != 0 {
		if err := decodeACLBody(req, &body); err != nil {
			return nil, err
		}
	}
	args := &structs.ACLTokenSetRequest{Datacenter: a.parseDC(req), ACLToken: structs.ACLToken{AccessorID: id, Description: body.Description}}
	args.Token = a.requestToken(req)
	var out structs.ACLToken
	if err := a.RPC("ACL.TokenClone", args, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// aclTokenList serves GET /v1/acl/tokens.
func (a *Agent) aclTokenList(resp http.ResponseWriter, req *http.Request) (any, error) {
	q := reqQuery(req)
	for _, p := range []string{"authmethod", "servicename", "authmethod-ns"} {
		if q.Get(p) != "" {
			return nil, badRequest("Filtering tokens by %s is not supported by Meridian", p)
		}
	}
	args := &structs.ACLTokenListRequest{Policy: q.Get("policy"), Role: q.Get("role")}
	if args.Policy != "" && args.Role != "" {
		return nil, badRequest("Filter tokens by policy or by role, not both")
	}
	dc, err := a.parseQuery(req, &args.QueryOptions)
	if err != nil {
		return nil, err
	}
	args.Datacenter = dc
	args.Token = a.requestToken(req)
	var out structs.ACLTokenListResponse
	if err := a.RPC("ACL.TokenList", args, &out); err != nil {
		return nil, err
	}
	setMeta(resp, &out.QueryMeta)
	if out.Tokens == nil {
		out.Tokens = structs.ACLTokens{}
	}
	return out.Tokens, nil
}

func (b *aclPolicyBody) policy() (structs.ACLPolicy, error) {
	if err := refuseIdentities(map[string]json.RawMessage{"Namespaces": b.Namespace, "Admin partitions": b.Partition}); err != nil {
		return structs.ACLPolicy{}, err
	}
	return structs.ACLPolicy{ID: b.ID, Name: b.Name, Description: b.Description, Rules: b.Rules, Datacenters: b.Datacenters}, nil
}

// aclPolicyCreate serves PUT /v1/acl/policy.
func (a *Agent) aclPolicyCreate(resp http.ResponseWriter, req *http.Request) (any, error) {
	var body aclPolicyBody
	if err := decodeACLBody(req, &body); err != nil {
		return nil, err
	}
	if body.ID != "" {
		return nil, badRequest("Cannot specify an ID in policy creation")
	}
	return a.aclPolicyWrite(req, &body)
}

func (a *Agent) aclPolicyWrite(req *http.Request, body *aclPolicyBody) (any, error) {
	p, err := body.policy()
	if err != nil {
		return nil, err
	}
	args := &structs.ACLPolicySetRequest{Datacenter: a.parseDC(req), Policy: p}
	args.Token = a.requestToken(req)
	var out structs.ACLPolicy
	if err := a.RPC("ACL.PolicySet", args, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// aclPolicySpecific serves /v1/acl/policy/<id> and /v1/acl/policy/name/<name>.
func (a *Agent) aclPolicySpecific(resp http.ResponseWriter, req *http.Request) (any, error) {
	rest := pathSuffix(req, "/v1/acl/policy/")
	if name, ok := strings.CutPrefix(rest, "name/"); ok {
		if req.Method != http.MethodGet {
			return nil, HTTPError{Code: http.StatusMethodNotAllowed, Reason: fmt.Sprintf("method %s not allowed", req.Method)}
		}
		if name == "" {
			return nil, badRequest("Missing policy name")
		}
		return a.aclPolicyRead(resp, req, "", name)
	}
	if rest == "" || strings.Contains(rest, "/") {
		return nil, badRequest("Missing policy ID: use /v1/acl/policy/<ID>")
	}
	switch req.Method {
	case http.MethodGet:
		return a.aclPolicyRead(resp, req, rest, "")
	case http.MethodPut, http.MethodPost:
		var body aclPolicyBody
		if err := decodeACLBody(req, &body); err != nil {
			return nil, err
		}
		if body.ID != "" && !strings.EqualFold(body.ID, rest) {
			return nil, badRequest("Policy ID in the URL and the payload do not match")
		}
		body.ID = rest
		return a.aclPolicyWrite(req, &body)
	case http.MethodDelete:
		args := &structs.ACLPolicyDeleteRequest{Datacenter: a.parseDC(req), PolicyID: rest}
		args.Token = a.requestToken(req)
		var out string
		if err := a.RPC("ACL.PolicyDelete", args, &out); err != nil {
			return nil, err
		}
		return true, nil
	}
	return nil, HTTPError{Code: http.StatusMethodNotAllowed, Reason: fmt.Sprintf("method %s not allowed", req.Method)}
}

func (a *Agent) aclPolicyRead(resp http.ResponseWriter, req *http.Request, id, name string) (any, error) {
	args := &structs.ACLPolicyGetRequest{PolicyID: id, PolicyName: name}
	dc, err := a.parseQuery(req, &args.QueryOptions)
	if err != nil {
		return nil, err
	}
	args.Datacenter = dc
	args.Token = a.requestToken(req)
	var out structs.ACLPolicyResponse
	if err := a.RPC("ACL.PolicyRead", args, &out); err != nil {
		return nil, err
	}
	setMeta(resp, &out.QueryMeta)
	if out.Policy == nil {
		if name != "" {
			return nil, notFound("ACL policy not found")
		}
		return nil, structs.ErrACLNotFound
	}
	return out.Policy, nil
}

// aclPolicyListEntry is a policy in a list: without its rules, as Consul's.
type aclPolicyListEntry struct {
	ID          string
	Name        string
	Description string
	Datacenters []string
	Hash        []byte
	CreateIndex uint64
	ModifyIndex uint64
}

// aclPolicyList serves GET /v1/acl/policies.
func (a *Agent) aclPolicyList(resp http.ResponseWriter, req *http.Request) (any, error) {
	args := &structs.ACLPolicyListRequest{}
	dc, err := a.parseQuery(req, &args.QueryOptions)
	if err != nil {
		return nil, err
	}
	args.Datacenter = dc
	args.Token = a.requestToken(req)
	var out structs.ACLPolicyListResponse
	if err := a.RPC("ACL.PolicyList", args, &out); err != nil {
		return nil, err
	}
	setMeta(resp, &out.QueryMeta)
	list := make([]aclPolicyListEntry, 0, len(out.Policies))
	for _, p := range out.Policies {
		list = append(list, aclPolicyListEntry{ID: p.ID, Name: p.Name, Description: p.Description,
			Datacenters: p.Datacenters, Hash: p.Hash, CreateIndex: p.CreateIndex, ModifyIndex: p.ModifyIndex})
	}
	return list, nil
}

func (b *aclRoleBody) role() (structs.ACLRole, error) {
	if err := refuseIdentities(map[string]json.RawMessage{
		"ServiceIdentities": b.ServiceIdentities, "NodeIdentities": b.NodeIdentities,
		"TemplatedPolicies": b.TemplatedPolicies, "Namespaces": b.Namespace, "Admin partitions": b.Partition,
	}); err != nil {
		return structs.ACLRole{}, err
	}
	return structs.ACLRole{ID: b.ID, Name: b.Name, Description: b.Description, Policies: b.Policies}, nil
}

// aclRoleCreate serves PUT /v1/acl/role.
func (a *Agent) aclRoleCreate(resp http.ResponseWriter, req *http.Request) (any, error) {
	var body aclRoleBody
	if err := decodeACLBody(req, &body); err != nil {
		return nil, err
	}
	if body.ID != "" {
		return nil, badRequest("Cannot specify an ID in role creation")
	}
	return a.aclRoleWrite(req, &body)
}

func (a *Agent) aclRoleWrite(req *http.Request, body *aclRoleBody) (any, error) {
	r, err := body.role()
	if err != nil {
		return nil, err
	}
	args := &structs.ACLRoleSetRequest{Datacenter: a.parseDC(req), Role: r}
	args.Token = a.requestToken(req)
	var out structs.ACLRole
	if err := a.RPC("ACL.RoleSet", args, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// aclRoleSpecific serves /v1/acl/role/<id> and /v1/acl/role/name/<name>.
func (a *Agent) aclRoleSpecific(resp http.ResponseWriter, req *http.Request) (any, error) {
	rest := pathSuffix(req, "/v1/acl/role/")
	if name, ok := strings.CutPrefix(rest, "name/"); ok {
		if req.Method != http.MethodGet {
			return nil, HTTPError{Code: http.StatusMethodNotAllowed, Reason: fmt.Sprintf("method %s not allowed", req.Method)}
		}
		if name == "" {
			return nil, badRequest("Missing role name")
		}
		return a.aclRoleRead(resp, req, "", name)
	}
	if rest == "" || strings.Contains(rest, "/") {
		return nil, badRequest("Missing role ID: use /v1/acl/role/<ID>")
	}
	switch req.Method {
	case http.MethodGet:
		return a.aclRoleRead(resp, req, rest, "")
	case http.MethodPut, http.MethodPost:
		var body aclRoleBody
		if err := decodeACLBody(req, &body); err != nil {
			return nil, err
		}
		if body.ID != "" && !strings.EqualFold(body.ID, rest) {
			return nil, badRequest("Role ID in the URL and the payload do not match")
		}
		body.ID = rest
		return a.aclRoleWrite(req, &body)
	case http.MethodDelete:
		args := &structs.ACLRoleDeleteRequest{Datacenter: a.parseDC(req), RoleID: rest}
		args.Token = a.requestToken(req)
		var out string
		if err := a.RPC("ACL.RoleDelete", args, &out); err != nil {
			return nil, err
		}
		return true, nil
	}
	return nil, HTTPError{Code: http.StatusMethodNotAllowed, Reason: fmt.Sprintf("method %s not allowed", req.Method)}
}

func (a *Agent) aclRoleRead(resp http.ResponseWriter, req *http.Request, id, name string) (any, error) {
	args := &structs.ACLRoleGetRequest{RoleID: id, RoleName: name}
	dc, err := a.parseQuery(req, &args.QueryOptions)
	if err != nil {
		return nil, err
	}
	args.Datacenter = dc
	args.Token = a.requestToken(req)
	var out structs.ACLRoleResponse
	if err := a.RPC("ACL.RoleRead", args, &out); err != nil {
		return nil, err
	}
	setMeta(resp, &out.QueryMeta)
	if out.Role == nil {
		return nil, notFound("ACL role not found")
	}
	return out.Role, nil
}

// aclRoleList serves GET /v1/acl/roles.
func (a *Agent) aclRoleList(resp http.ResponseWriter, req *http.Request) (any, error) {
	args := &structs.ACLRoleListRequest{Policy: reqQuery(req).Get("policy")}
	dc, err := a.parseQuery(req, &args.QueryOptions)
	if err != nil {
		return nil, err
	}
	args.Datacenter = dc
	args.Token = a.requestToken(req)
	var out structs.ACLRoleListResponse
	if err := a.RPC("ACL.RoleList", args, &out); err != nil {
		return nil, err
	}
	setMeta(resp, &out.QueryMeta)
	if out.Roles == nil {
		out.Roles = structs.ACLRoles{}
	}
	return out.Roles, nil
}

// aclError maps the ACL errors that cross RPC as text to their status:
// 403 for a refusal or an unknown token, 401 when ACLs are off. It
// returns 0 for other errors.
func aclErrorStatus(err error) int {
	msg := err.Error()
	switch {
	case strings.HasPrefix(msg, structs.ErrPermissionDenied.Error()), structs.IsErr(err, structs.ErrACLNotFound),
		strings.HasPrefix(msg, "token does not exist: "):
		return http.StatusForbidden
	case structs.IsErr(err, structs.ErrACLDisabled), errors.Is(err, structs.ErrACLDisabled):
		return http.StatusUnauthorized
	}
	return 0
}
