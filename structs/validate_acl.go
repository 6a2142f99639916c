package structs

// MaxACLRulesLen bounds a policy's rules (bytes); the rules are parsed, so
// they get a bound of their own, above any real policy.
const MaxACLRulesLen = 1024 * 1024

// links checks policy or role links.
func (v *validator) links(field string, l []ACLLink) {
	v.list(field, len(l))
	for _, k := range l {
		v.name(field+" id", k.ID)
		v.name(field+" name", k.Name)
	}
}

// aclToken checks a token record's strings and lists.
func (v *validator) aclToken(t *ACLToken) {
	v.name("accessor id", t.AccessorID)
	v.name("secret id", t.SecretID)
	v.text("description", t.Description)
	v.links("policies", t.Policies)
	v.links("roles", t.Roles)
	v.name("hash", string(t.Hash))
}

// Validate implements Validator.
func (r *ACLBootstrapRequest) Validate() error {
	var v validator
	v.dc("datacenter", r.Datacenter)
	v.write(&r.WriteRequest)
	v.aclToken(&r.Token)
	v.name("bootstrap secret", r.BootstrapSecret)
	return v.err
}

// Validate implements Validator.
func (r *ACLTokenSetRequest) Validate() error {
	var v validator
	v.dc("datacenter", r.Datacenter)
	v.write(&r.WriteRequest)
	v.aclToken(&r.ACLToken)
	v.duration("expiration ttl", r.ExpirationTTL)
	return v.err
}

// Validate implements Validator.
func (r *ACLTokenGetRequest) Validate() error {
	var v validator
	v.dc("datacenter", r.Datacenter)
	v.query(&r.QueryOptions)
	v.name("token id", r.TokenID)
	return v.err
}

// Validate implements Validator.
func (r *ACLTokenDeleteRequest) Validate() error {
	var v validator
	v.dc("datacenter", r.Datacenter)
	v.write(&r.WriteRequest)
	v.name("token id", r.TokenID)
	return v.err
}

// Validate implements Validator.
func (r *ACLTokenListRequest) Validate() error {
	var v validator
	v.dc("datacenter", r.Datacenter)
	v.query(&r.QueryOptions)
	v.name("policy", r.Policy)
	v.name("role", r.Role)
	return v.err
}

// Validate implements Validator.
func (r *ACLPolicySetRequest) Validate() error {
	var v validator
	v.dc("datacenter", r.Datacenter)
	v.write(&r.WriteRequest)
	p := &r.Policy
	v.name("policy id", p.ID)
	v.name("policy name", p.Name)
	v.text("policy description", p.Description)
	if len(p.Rules) > MaxACLRulesLen {
		v.fail(CodeTooLarge, "invalid policy rules: %d bytes is longer than the %d byte limit", len(p.Rules), MaxACLRulesLen)
	}
	v.names("policy datacenters", p.Datacenters)
	v.name("policy hash", string(p.Hash))
	return v.err
}

// Validate implements Validator.
func (r *ACLPolicyGetRequest) Validate() error {
	var v validator
	v.dc("datacenter", r.Datacenter)
	v.query(&r.QueryOptions)
	v.name("policy id", r.PolicyID)
	v.name("policy name", r.PolicyName)
	return v.err
}

// Validate implements Validator.
func (r *ACLPolicyDeleteRequest) Validate() error {
	var v validator
	v.dc("datacenter", r.Datacenter)
	v.write(&r.WriteRequest)
	v.name("policy id", r.PolicyID)
	return v.err
}

// Validate implements Validator.
func (r *ACLPolicyListRequest) Validate() error {
	var v validator
	v.dc("datacenter", r.Datacenter)
	v.query(&r.QueryOptions)
	return v.err
}

// Validate implements Validator.
func (r *ACLRoleSetRequest) Validate() error {
	var v validator
	v.dc("datacenter", r.Datacenter)
	v.write(&r.WriteRequest)
	ro := &r.Role
	v.name("role id", ro.ID)
	v.name("role name", ro.Name)
	v.text("role description", ro.Description)
	v.links("role policies", ro.Policies)
	v.name("role hash", string(ro.Hash))
	return v.err
}

// Validate implements Validator.
func (r *ACLRoleGetRequest) Validate() error {
	var v validator
	v.dc("datacenter", r.Datacenter)
	v.query(&r.QueryOptions)
	v.name("role id", r.RoleID)
	v.name("role name", r.RoleName)
	return v.err
}

// Validate implements Validator.
func (r *ACLRoleDeleteRequest) Validate() error {
	var v validator
	v.dc("datacenter", r.Datacenter)
	v.write(&r.WriteRequest)
	v.name("role id", r.RoleID)
	return v.err
}

// Validate implements Validator.
func (r *ACLRoleListRequest) Validate() error {
	var v validator
	v.dc("datacenter", r.Datacenter)
	v.query(&r.QueryOptions)
	v.name("policy", r.Policy)
	return v.err
}

// Validate implements Validator.
func (r *ACLResolveRequest) Validate() error {
	var v validator
	v.dc("datacenter", r.Datacenter)
	v.dc("from datacenter", r.FromDatacenter)
	v.query(&r.QueryOptions)
	return v.err
}
