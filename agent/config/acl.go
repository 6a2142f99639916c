package config

import "time"

// ACL configuration: primary_datacenter and the acl block, as Consul's.

// Defaults of the acl block, as Consul's.
const (
	DefaultACLDefaultPolicy = "allow"
	DefaultACLDownPolicy    = "extend-cache"
	DefaultACLTokenTTL      = 30 * time.Second
	DefaultACLPolicyTTL     = 30 * time.Second
)

// rawACL is the acl block.
type rawACL struct {
	Enabled                *bool          `cfg:"enabled"`
	DefaultPolicy          *string        `cfg:"default_policy"`
	DownPolicy             *string        `cfg:"down_policy"`
	TokenTTL               *time.Duration `cfg:"token_ttl" check:"positive"`
	PolicyTTL              *time.Duration `cfg:"policy_ttl" check:"positive"`
	EnableTokenPersistence *bool          `cfg:"enable_token_persistence"`
	EnableTokenReplication *bool          `cfg:"enable_token_replication"`
	Tokens                 rawACLTokens   `cfg:"tokens"`
}

func (rawACL) ignoredKeys() []string {
	return []string{"role_ttl", "disabled_ttl", "enable_key_list_policy", "msp_disable_bootstrap"}
}

// rawACLTokens is acl.tokens. The pre-1.11 names master and agent_master
// are accepted as Consul still accepts them.
type rawACLTokens struct {
	InitialManagement *string `cfg:"initial_management" alias:"master"`
	Agent             *string `cfg:"agent"`
	AgentRecovery     *string `cfg:"agent_recovery" alias:"agent_master"`
	Default           *string `cfg:"default"`
	Replication       *string `cfg:"replication"`
}

func (rawACLTokens) ignoredKeys() []string {
	return []string{"config_file_service_registration", "dns", "managed_service_provider"}
}

// ACLConfig is the resolved acl block.
type ACLConfig struct {
	// Enabled turns access control on. Key acl.enabled; default false.
	Enabled bool
	// DefaultPolicy decides when no rule matches: "allow" or "deny". Key
	// acl.default_policy; default "allow".
	DefaultPolicy string
	// DownPolicy applies when the primary datacenter cannot be asked about
	// a token: "extend-cache", "async-cache", "deny" or "allow". Key
	// acl.down_policy; default "extend-cache".
	DownPolicy string
	// TokenTTL is how long a token resolved through another agent or
	// datacenter is cached. Key acl.token_ttl; default 30s.
	TokenTTL time.Duration
	// PolicyTTL is how long a policy is cached. Key acl.policy_ttl;
	// default 30s.
	PolicyTTL time.Duration
	// EnableTokenPersistence keeps tokens set through the agent token API
	// in the data dir. Key acl.enable_token_persistence; default false.
	EnableTokenPersistence bool
	// EnableTokenReplication replicates global tokens to secondary
	// datacenters. Key acl.enable_token_replication; default false.
	EnableTokenReplication bool
	// InitialManagementToken is the SecretID of a management token the
	// leader of the primary datacenter creates. Key
	// acl.tokens.initial_management (or master).
	InitialManagementToken string `sanitize:"hidden"`
	// AgentToken is the token the agent uses for its own requests
	// (anti-entropy). Key acl.tokens.agent.
	AgentToken string `sanitize:"hidden"`
	// AgentRecoveryToken may use the agent endpoints even when the servers
	// cannot be reached. Key acl.tokens.agent_recovery (or agent_master).
	AgentRecoveryToken string `sanitize:"hidden"`
	// DefaultToken is used for requests that carry no token, DNS included.
	// Key acl.tokens.default.
	DefaultToken string `sanitize:"hidden"`
	// ReplicationToken is what secondary datacenters replicate with. Key
	// acl.tokens.replication.
	ReplicationToken string `sanitize:"hidden"`
}

// maxTokenLength bounds a configured token.
const maxTokenLength = 256

// buildACL resolves primary_datacenter and the acl block.
func (l *loader) buildACL(rc *RuntimeConfig, c *rawConfig, fail func(string, ...any)) {
	rc.PrimaryDatacenter = or(c.PrimaryDatacenter, rc.Datacenter)
	a := c.ACL
	rc.ACL = ACLConfig{
		Enabled:                deref(a.Enabled),
		DefaultPolicy:          or(a.DefaultPolicy, DefaultACLDefaultPolicy),
		DownPolicy:             or(a.DownPolicy, DefaultACLDownPolicy),
		TokenTTL:               or(a.TokenTTL, DefaultACLTokenTTL),
		PolicyTTL:              or(a.PolicyTTL, DefaultACLPolicyTTL),
		EnableTokenPersistence: deref(a.EnableTokenPersistence),
		EnableTokenReplication: deref(a.EnableTokenReplication),
		InitialManagementToken: deref(a.Tokens.InitialManagement),
		AgentToken:             deref(a.Tokens.Agent),
		AgentRecoveryToken:     deref(a.Tokens.AgentRecovery),
		DefaultToken:           deref(a.Tokens.Default),
		ReplicationToken:       deref(a.Tokens.Replication),
	}
	switch rc.ACL.DefaultPolicy {
	case "allow", "deny":
	default:
		fail("acl.default_policy %q is not valid: use \"allow\" or \"deny\"", rc.ACL.DefaultPolicy)
	}
	switch rc.ACL.DownPolicy {
	case "allow", "deny", "extend-cache", "async-cache":
	default:
		fail("acl.down_policy %q is not valid: use \"extend-cache\", \"async-cache\", \"deny\" or \"allow\"", rc.ACL.DownPolicy)
	}
	for _, t := range []struct{ key, val string }{
		{"initial_management", rc.ACL.InitialManagementToken},
		{"agent", rc.ACL.AgentToken},
		{"agent_recovery", rc.ACL.AgentRecoveryToken},
		{"default", rc.ACL.DefaultToken},
		{"replication", rc.ACL.ReplicationToken},
	} {
		// The value itself never appears in a message.
		if len(t.val) > maxTokenLength {
			fail("acl.tokens.%s is %d characters long, more than the %d allowed", t.key, len(t.val), maxTokenLength)
		}
		if t.val == "anonymous" && t.key == "initial_management" {
			fail("acl.tokens.initial_management cannot be %q, the anonymous token's secret", "anonymous")
		}
	}
	if rc.ACL.InitialManagementToken != "" && !rc.ServerMode {
		l.warnings = append(l.warnings, "acl.tokens.initial_management is only used by servers; this agent is a client and ignores it")
	}
}
