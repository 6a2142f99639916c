package config

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestLoadACL(t *testing.T) {
	const hcl = `
primary_datacenter = "DC9"
acl {
  enabled = true
  default_policy = "deny"
  down_policy = "async-cache"
  token_ttl = "5s"
  policy_ttl = "7s"
  enable_token_persistence = true
  enable_token_replication = true
  role_ttl = "1m"
  tokens {
    initial_management = "im"
    agent = "ag"
    agent_recovery = "ar"
    default = "df"
    replication = "rp"
  }
}`
	const json = `{"primary_datacenter": "DC9", "acl": {"enabled": true, "default_policy": "deny",
  "down_policy": "async-cache", "token_ttl": "5s", "policy_ttl": "7s", "enable_token_persistence": true,
  "enable_token_replication": true, "role_ttl": "1m",
  "tokens": {"master": "im", "agent": "ag", "agent_master": "ar", "default": "df", "replication": "rp"}}}`
	want := ACLConfig{
		Enabled: true, DefaultPolicy: "deny", DownPolicy: "async-cache", TokenTTL: 5 * time.Second,
		PolicyTTL: 7 * time.Second, EnableTokenPersistence: true, EnableTokenReplication: true,
		InitialManagementToken: "im", AgentToken: "ag", AgentRecoveryToken: "ar", DefaultToken: "df", ReplicationToken: "rp",
	}
	dir := writeFiles(t, map[string]string{"a.hcl": hcl, "a.json": json})
	for _, f := range []string{"a.hcl", "a.json"} {
		t.Run(f, func(t *testing.T) {
			rc, warnings := mustLoad(t, "-server", "-data-dir", "/d", "-config-file", filepath.Join(dir, f))
			if !reflect.DeepEqual(rc.ACL, want) {
				t.Errorf("acl:\n got %+v\nwant %+v", rc.ACL, want)
			}
			if rc.PrimaryDatacenter != "dc9" {
				t.Errorf("primary_datacenter %q, want dc9 (lower-cased)", rc.PrimaryDatacenter)
			}
			if len(warnings) != 1 || !strings.Contains(warnings[0], `"acl.role_ttl"`) {
				t.Errorf("warnings %q", warnings)
			}
			san := rc.Sanitized()["ACL"].(map[string]any)
			for _, k := range []string{"InitialManagementToken", "AgentToken", "AgentRecoveryToken", "DefaultToken", "ReplicationToken"} {
				if san[k] != "hidden" {
					t.Errorf("sanitized %s = %v, want hidden", k, san[k])
				}
			}
		})
	}
}

func TestLoadACLErrors(t *testing.T) {
	for _, c := range []struct{ hcl, want string }{
		{`acl { default_policy = "maybe" }`, `acl.default_policy "maybe" is not valid`},
		{`acl { down_policy = "retry" }`, `acl.down_policy "retry" is not valid`},
		{`acl { token_ttl = "-1s" }`, "acl.token_ttl"},
		{`acl { tokens { nope = "x" } }`, `unknown key "acl.tokens.nope"`},
		{`acl { tokens { initial_management = "anonymous" } }`, "initial_management cannot be"},
		{`primary_datacenter = "bad dc"`, "not a valid datacenter name"},
		{`acl { tokens { agent = "` + strings.Repeat("x", 300) + `" } }`, "acl.tokens.agent is 300 characters long"},
	} {
		_, _, err := Load(testOpts("-data-dir", "/d", "-hcl", c.hcl))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.hcl, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), strings.Repeat("x", 300)) {
			t.Errorf("error shows the token: %v", err)
		}
	}
}
