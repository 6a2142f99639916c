package acl

import (
	"errors"
	"strings"
	"testing"
)

func mustParse(t *testing.T, rules string) *Policy {
	t.Helper()
	p, err := Parse(rules)
	if err != nil {
		t.Fatalf("parse %q: %v", rules, err)
	}
	return p
}

func TestParseHCLAndJSON(t *testing.T) {
	hclRules := `
key_prefix "app/" { policy = "write" }
key "app/secret" { policy = "deny" }
service_prefix "" { policy = "read" }
service "web" {
  policy = "write"
  intentions = "read"
}
node "n1" { policy = "read" }
session_prefix "" { policy = "write" }
agent_prefix "a" { policy = "read" }
event "deploy" { policy = "write" }
query_prefix "q" { policy = "read" }
keyring = "read"
operator = "write"
acl = "read"
`
	jsonRules := `{
  "key_prefix": {"app/": {"policy": "write"}},
  "key": {"app/secret": {"policy": "deny"}},
  "service_prefix": {"": {"policy": "read"}},
  "service": {"web": {"policy": "write", "intentions": "read"}},
  "node": {"n1": {"policy": "read"}},
  "session_prefix": {"": {"policy": "write"}},
  "agent_prefix": {"a": {"policy": "read"}},
  "event": {"deploy": {"policy": "write"}},
  "query_prefix": {"q": {"policy": "read"}},
  "keyring": "read",
  "operator": "write",
  "acl": "read"
}`
	for name, text := range map[string]string{"hcl": hclRules, "json": jsonRules} {
		t.Run(name, func(t *testing.T) {
			p := mustParse(t, text)
			if len(p.Rules) != 12 {
				t.Fatalf("got %d rules, want 12: %+v", len(p.Rules), p.Rules)
			}
			want := map[ruleKey]Access{
				{ResourceKey, "app/", true}:        Write,
				{ResourceKey, "app/secret", false}: Deny,
				{ResourceService, "", true}:        Read,
				{ResourceService, "web", false}:    Write,
				{ResourceNode, "n1", false}:        Read,
				{ResourceSession, "", true}:        Write,
				{ResourceAgent, "a", true}:         Read,
				{ResourceEvent, "deploy", false}:   Write,
				{ResourceQuery, "q", true}:         Read,
				{ResourceKeyring, "", false}:       Read,
				{ResourceOperator, "", false}:      Write,
				{ResourceACL, "", false}:           Read,
			}
			for _, r := range p.Rules {
				k := ruleKey{r.Resource, r.Segment, r.Prefix}
				if w, ok := want[k]; !ok || w != r.Access {
					t.Errorf("rule %+v: want %v (known %v)", r, w, ok)
				}
			}
		})
	}
}

func TestParseEmptyAndBuiltin(t *testing.T) {
	for _, s := range []string{"", "  \n", "# nothing\n"} {
		p := mustParse(t, s)
		if len(p.Rules) != 0 {
			t.Errorf("%q: got rules %+v", s, p.Rules)
		}
	}
	mustParse(t, GlobalManagementRules)
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		name, rules string
		line        int
		reason      string
	}{
		{"unknown rule", "key_prefix \"a\" { policy = \"read\" }\nfoo \"x\" { policy = \"read\" }", 2, `unknown rule "foo"`},
		{"bad policy", "\n\nkey \"a\" { policy = \"writ\" }", 3, `invalid policy "writ"`},
		{"list on service", `service "a" { policy = "list" }`, 1, `policy "list" applies to key rules only`},
		{"missing policy", "node \"x\" {\n}", 1, `node "x": missing policy`},
		{"unknown field", "node \"x\" {\n  policy = \"read\"\n  polcy = \"write\"\n}", 3, `unknown field "polcy"`},
		{"scalar with name", `operator "x" { policy = "read" }`, 1, "operator takes a policy directly"},
		{"scalar prefix", `operator_prefix "x" { policy = "read" }`, 1, `unknown rule "operator_prefix"`},
		{"scalar bad", "acl = \"list\"", 1, `acl: policy "list" applies to key rules only`},
		{"scalar not string", "keyring = 3", 1, "the policy must be a string"},
		{"duplicate", "key \"a\" { policy = \"read\" }\nkey \"a\" { policy = \"write\" }", 2, `key "a" is already defined on line 1`},
		{"intentions on key", `key "a" { policy = "read" intentions = "read" }`, 1, "intentions apply to service rules only"},
		{"no block", `key "a" = "read"`, 1, "syntax error"},
		{"no block json", `{"key": {"a": "read"}}`, 1, "expected a block"},
		{"syntax", "key \"a\" {\n policy = \"read\"\n", 0, "syntax error"},
		{"json unknown", `{"kye": {"a": {"policy": "read"}}}`, 1, `unknown rule "kye"`},
		{"json bad policy", "{\n\"key\": {\"a\": {\"policy\": \"all\"}}\n}", 2, `invalid policy "all"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse(c.rules)
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("got %v, want a ParseError", err)
			}
			if c.line != 0 && pe.Line != c.line {
				t.Errorf("line %d, want %d (%v)", pe.Line, c.line, err)
			}
			if !strings.Contains(pe.Reason, c.reason) {
				t.Errorf("reason %q, want it to contain %q", pe.Reason, c.reason)
			}
			if !strings.HasPrefix(err.Error(), "invalid ACL rules: ") {
				t.Errorf("error %q should start with invalid ACL rules", err)
			}
		})
	}
	// The syntax error still reports a line.
	_, err := Parse("key \"a\" {\n policy = \"read\"\n")
	if pe := err.(*ParseError); pe.Line == 0 {
		t.Errorf("syntax error without a line: %v", err)
	}
	if _, err := Parse(strings.Repeat(" ", MaxRulesSize+1)); err == nil {
		t.Error("oversized rules accepted")
	}
}

func TestAuthorizerPrecedence(t *testing.T) {
	p := mustParse(t, `
key_prefix "" { policy = "read" }
key_prefix "app/" { policy = "write" }
key_prefix "app/secret/" { policy = "deny" }
key "app/secret/open" { policy = "read" }
key "app/exact" { policy = "deny" }
key_prefix "app/exact" { policy = "write" }
key_prefix "lst/" { policy = "list" }
service_prefix "web" { policy = "write" }
service "web-ro" { policy = "read" }
node_prefix "" { policy = "deny" }
operator = "read"
`)
	a := NewAuthorizer(PolicyDeny, p)
	cases := []struct {
		res  Resource
		name string
		want Access
		ok   bool
	}{
		{ResourceKey, "other/z", Read, true},
		{ResourceKey, "other/z", Write, false},
		{ResourceKey, "app/x", Write, true},
		{ResourceKey, "app/x", List, true},
		{ResourceKey, "app/secret/k", Read, false},   // longest prefix wins
		{ResourceKey, "app/secret/open", Read, true}, // exact beats prefix
		{ResourceKey, "app/secret/open", Write, false},
		{ResourceKey, "app/exact", Write, false},  // exact beats an equal prefix
		{ResourceKey, "app/exactly", Write, true}, // the prefix rule still applies beyond
		{ResourceKey, "lst/a", List, true},
		{ResourceKey, "lst/a", Read, true},
		{ResourceKey, "lst/a", Write, false},
		{ResourceKey, "other/z", List, false}, // read does not list keys
		{ResourceService, "web", Write, true},
		{ResourceService, "web-ro", Write, false},
		{ResourceService, "web-ro", Read, true},
		{ResourceService, "db", Read, false}, // default deny
		{ResourceService, "web", List, true}, // list is read outside keys
		{ResourceNode, "n1", Read, false},
		{ResourceOperator, "", Read, true},
		{ResourceOperator, "", Write, false},
		{ResourceKeyring, "", Read, false},
		{ResourceACL, "", Read, false},
		{ResourceSession, "s", Read, false},
	}
	for _, c := range cases {
		if got := a.Allowed(c.res, c.name, c.want); got != c.ok {
			t.Errorf("%s:%s on %q = %v, want %v (rule %v)", c.res, c.want, c.name, got, c.ok, a.Rule(c.res, c.name))
		}
	}
}

func TestAuthorizerDefaults(t *testing.T) {
	empty := &Policy{}
	allow := NewAuthorizer(PolicyAllow, empty)
	deny := NewAuthorizer(PolicyDeny, empty)
	for _, res := range []Resource{ResourceKey, ResourceNode, ResourceService, ResourceOperator, ResourceKeyring} {
		if !allow.Allowed(res, "x", Write) {
			t.Errorf("default allow refuses %s:write", res)
		}
		if deny.Allowed(res, "x", Read) {
			t.Errorf("default deny grants %s:read", res)
		}
	}
	// ACL management is never granted by default.
	if allow.Allowed(ResourceACL, "", Read) || AllowAll().Allowed(ResourceACL, "", Write) {
		t.Error("default allow grants acl access")
	}
	// A deny rule still applies under default allow.
	a := NewAuthorizer(PolicyAllow, mustParse(t, `key_prefix "priv/" { policy = "deny" }`))
	if a.Allowed(ResourceKey, "priv/x", Read) || !a.Allowed(ResourceKey, "pub/x", Write) {
		t.Error("deny rule under default allow")
	}
	if DenyAll().Allowed(ResourceKey, "", Read) {
		t.Error("DenyAll grants")
	}
	m := ManageAll()
	if !m.Allowed(ResourceACL, "", Write) || !m.IsManagement() {
		t.Error("ManageAll does not manage")
	}
	gm := NewAuthorizer(PolicyDeny, mustParse(t, GlobalManagementRules))
	for _, res := range append(append([]Resource{}, segmented...), scalar...) {
		if !gm.Allowed(res, "anything", Write) {
			t.Errorf("global-management refuses %s:write", res)
		}
	}
	if !gm.IsManagement() {
		t.Error("global-management is not management")
	}
}

func TestAuthorizerMerge(t *testing.T) {
	cases := []struct {
		name   string
		rules  []string
		key    string
		want   Access
		result Access
	}{
		{"greater wins", []string{`key_prefix "a/" { policy = "read" }`, `key_prefix "a/" { policy = "write" }`}, "a/x", Write, Write},
		{"deny wins at the same segment", []string{`key_prefix "a/" { policy = "write" }`, `key_prefix "a/" { policy = "deny" }`}, "a/x", Read, Deny},
		{"deny wins either order", []string{`key "a" { policy = "deny" }`, `key "a" { policy = "write" }`}, "a", Read, Deny},
		{"longer prefix from another policy", []string{`key_prefix "a/" { policy = "deny" }`, `key_prefix "a/b/" { policy = "write" }`}, "a/b/c", Write, Write},
		{"exact from another policy", []string{`key_prefix "a/" { policy = "write" }`, `key "a/b" { policy = "read" }`}, "a/b", Read, Read},
		{"list and read", []string{`key_prefix "a/" { policy = "list" }`, `key_prefix "a/" { policy = "read" }`}, "a/b", List, List},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var ps []*Policy
			for _, r := range c.rules {
				ps = append(ps, mustParse(t, r))
			}
			a := NewAuthorizer(PolicyDeny, ps...)
			if got := a.Rule(ResourceKey, c.key); got != c.result {
				t.Errorf("rule on %q = %v, want %v", c.key, got, c.result)
			}
			if ok := a.Allowed(ResourceKey, c.key, c.want); ok != (c.result != Deny) {
				t.Errorf("allowed %v on %q = %v", c.want, c.key, ok)
			}
		})
	}
}

func TestKeyWritePrefix(t *testing.T) {
	a := NewAuthorizer(PolicyDeny, mustParse(t, `
key_prefix "app/" { policy = "write" }
key_prefix "app/ro/" { policy = "read" }
key "app/locked" { policy = "deny" }
key_prefix "free/" { policy = "write" }
`))
	for prefix, want := range map[string]bool{"app/": false, "app/rw/": true, "app/ro/": false, "free/": true, "": false, "app/lo": false} {
		if got := a.KeyWritePrefix(prefix); got != want {
			t.Errorf("KeyWritePrefix(%q) = %v, want %v", prefix, got, want)
		}
	}
}

func TestPermissionDeniedText(t *testing.T) {
	a := NewAuthorizer(PolicyDeny, mustParse(t, `key_prefix "app/" { policy = "write" }`))
	err := a.Check(ResourceKey, "other/z", Write)
	if err == nil {
		t.Fatal("write on other/z allowed")
	}
	got := WithAccessor(err, "5e2ea5f4-8a2c-4a4e-9f2c-1d1f0c7b0d11").Error()
	want := `Permission denied: token with AccessorID '5e2ea5f4-8a2c-4a4e-9f2c-1d1f0c7b0d11' lacks permission 'key:write' on "other/z"`
	if got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
	if err := WithAccessor(a.Check(ResourceKey, "app/x", Read), AnonymousTokenID); err != nil {
		t.Errorf("read of app/x refused: %v", err)
	}
	got2 := WithAccessor(DenyAll().Check(ResourceKey, "app/x", Write), AnonymousTokenID).Error()
	want2 := `Permission denied: anonymous token lacks permission 'key:write' on "app/x". The anonymous token is used implicitly when a request does not specify a token.`
	if got2 != want2 {
		t.Errorf("got %q\nwant %q", got2, want2)
	}
	got3 := WithAccessor(DenyAll().Check(ResourceOperator, "", Read), "id").Error()
	if got3 != "Permission denied: token with AccessorID 'id' lacks permission 'operator:read'" {
		t.Errorf("scalar text %q", got3)
	}
}
