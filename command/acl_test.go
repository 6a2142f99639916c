package command

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/cli"

	"github.com/meridian-sd/meridian/agent"
)

// aclRun runs one acl verb against addr.
func aclRun(t *testing.T, addr string, verb string, args ...string) (int, string, string) {
	t.Helper()
	ui := cli.NewMockUi()
	f, ok := aclCommands(ui)[verb]
	if !ok {
		t.Fatalf("no verb %q", verb)
	}
	cmd, err := f()
	if err != nil {
		t.Fatal(err)
	}
	code := cmd.Run(append([]string{"-http-addr=" + addr}, args...))
	return code, ui.OutputWriter.String(), ui.ErrorWriter.String()
}

func mustRun(t *testing.T, addr, verb string, args ...string) string {
	t.Helper()
	code, out, errOut := aclRun(t, addr, verb, args...)
	if code != 0 {
		t.Fatalf("acl %s %v: exit %d: %s", verb, args, code, errOut)
	}
	return out
}

// field reads "Name:   value" from pretty output.
func field(t *testing.T, out, name string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `:\s+(.*)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no %s in %q", name, out)
	}
	return strings.TrimSpace(m[1])
}

func TestACLCommands(t *testing.T) {
	ta := agent.StartTestAgent(t, "-server", "-bootstrap", `-hcl=acl { enabled = true default_policy = "deny" }`)
	ta.WaitForLeader(t)
	addr := ta.HTTPAddr

	out := mustRun(t, addr, "acl bootstrap")
	secret := field(t, out, "SecretID")
	if field(t, out, "Description") != "Bootstrap Token (Global Management)" ||
		!strings.Contains(out, "Policies:\n   00000000-0000-0000-0000-000000000001 - global-management") {
		t.Errorf("bootstrap output:\n%s", out)
	}
	code, _, errOut := aclRun(t, addr, "acl bootstrap")
	if code != 1 {
		t.Fatal("second bootstrap succeeded")
	}
	oneLineError(t, errOut, "ACL bootstrap no longer allowed (reset index: ")

	// Without a token: refused, one line.
	code, _, errOut = aclRun(t, addr, "acl policy list")
	if code != 1 {
		t.Fatal("anonymous policy list succeeded")
	}
	oneLineError(t, errOut, "Permission denied: anonymous token lacks permission 'acl:read'")

	tk := "-token=" + secret
	rulesFile := filepath.Join(t.TempDir(), "app.hcl")
	if err := os.WriteFile(rulesFile, []byte(`key_prefix "app/" { policy = "write" }`), 0o600); err != nil {
		t.Fatal(err)
	}
	out = mustRun(t, addr, "acl policy create", tk, "-name=app", "-description=app keys", "-rules=@"+rulesFile, "-valid-datacenter=dc1")
	pid := field(t, out, "ID")
	if field(t, out, "Name") != "app" || field(t, out, "Datacenters") != "dc1" || !strings.Contains(out, "Rules:\nkey_prefix \"app/\"") {
		t.Errorf("policy create output:\n%s", out)
	}
	code, _, errOut = aclRun(t, addr, "acl policy create", tk, "-name=bad", "-rules=key \"a\" { policy = \"nope\" }")
	if code != 1 {
		t.Fatal("bad rules accepted")
	}
	oneLineError(t, errOut, `invalid ACL rules: line 1`, `invalid policy "nope"`)
	code, _, errOut = aclRun(t, addr, "acl policy create", tk)
	if code != 1 {
		t.Fatal("policy without a name accepted")
	}
	oneLineError(t, errOut, "missing -name")
	if out := mustRun(t, addr, "acl policy read", tk, "-name=app"); field(t, out, "ID") != pid {
		t.Errorf("read by name:\n%s", out)
	}
	if out := mustRun(t, addr, "acl policy read", tk, "-id="+pid[:8]); field(t, out, "Name") != "app" {
		t.Errorf("read by ID prefix:\n%s", out)
	}
	out = mustRun(t, addr, "acl policy update", tk, "-id="+pid, "-description=changed")
	if field(t, out, "Description") != "changed" || !strings.Contains(out, `key_prefix "app/"`) {
		t.Errorf("update keeps the rules:\n%s", out)
	}
	out = mustRun(t, addr, "acl policy list", tk)
	if !strings.Contains(out, "app:\n   ID:           "+pid) || !strings.Contains(out, "global-management:") {
		t.Errorf("policy list:\n%s", out)
	}
	out = mustRun(t, addr, "acl policy list", tk, "-format=json")
	var plist []map[string]any
	if err := json.Unmarshal([]byte(out), &plist); err != nil || len(plist) != 2 {
		t.Errorf("policy list json: %v %s", err, out)
	}

	// Roles.
	out = mustRun(t, addr, "acl role create", tk, "-name=apps", "-policy-name=app")
	rid := field(t, out, "ID")
	if !strings.Contains(out, "Policies:\n   "+pid+" - app") {
		t.Errorf("role create:\n%s", out)
	}
	mustRun(t, addr, "acl role update", tk, "-id="+rid, "-description=app role")
	if out := mustRun(t, addr, "acl role read", tk, "-name=apps"); field(t, out, "Description") != "app role" {
		t.Errorf("role read:\n%s", out)
	}
	if out := mustRun(t, addr, "acl role list", tk); !strings.Contains(out, "apps:\n   ID:           "+rid) {
		t.Errorf("role list:\n%s", out)
	}

	// Tokens.
	out = mustRun(t, addr, "acl token create", tk, "-description=app token", "-policy-name=app")
	acc, appSecret := field(t, out, "AccessorID"), field(t, out, "SecretID")
	if !strings.Contains(out, "Policies:\n   "+pid+" - app") || field(t, out, "Local") != "false" {
		t.Errorf("token create:\n%s", out)
	}
	out = mustRun(t, addr, "acl token create", tk, "-role-name=apps", "-expires-ttl=1h", "-local")
	roleTok := field(t, out, "AccessorID")
	if field(t, out, "Local") != "true" || !strings.Contains(out, "Expiration Time:") || !strings.Contains(out, "Roles:\n   "+rid+" - apps") {
		t.Errorf("token with a role:\n%s", out)
	}
	out = mustRun(t, addr, "acl token update", tk, "-id="+acc[:10], "-description=renamed", "-append-role-name=apps")
	if field(t, out, "Description") != "renamed" || !strings.Contains(out, "Roles:\n   "+rid) || !strings.Contains(out, pid+" - app") {
		t.Errorf("token update:\n%s", out)
	}
	out = mustRun(t, addr, "acl token clone", tk, "-id="+acc, "-description=copy")
	cloneAcc := field(t, out, "AccessorID")
	if cloneAcc == acc || field(t, out, "Description") != "copy" {
		t.Errorf("clone:\n%s", out)
	}
	if out := mustRun(t, addr, "acl token read", tk, "-id=anonymous"); field(t, out, "AccessorID") != "00000000-0000-0000-0000-000000000002" {
		t.Errorf("anonymous read:\n%s", out)
	}
	out = mustRun(t, addr, "acl token list", tk, "-role-id="+rid)
	if strings.Count(out, "AccessorID:") != 3 || !strings.Contains(out, roleTok) {
		t.Errorf("tokens of the role:\n%s", out)
	}
	if out := mustRun(t, addr, "acl token list", tk); strings.Count(out, "AccessorID:") != 5 {
		t.Errorf("token list:\n%s", out)
	}
	if out := mustRun(t, addr, "acl token delete", tk, "-id="+cloneAcc); !strings.Contains(out, "deleted successfully") {
		t.Errorf("delete: %s", out)
	}
	code, _, errOut = aclRun(t, addr, "acl token read", tk, "-id="+cloneAcc)
	if code != 1 {
		t.Fatal("deleted token readable")
	}
	oneLineError(t, errOut, "ACL not found")

	// The token sources: -token-file, MERIDIAN_HTTP_TOKEN, CONSUL_HTTP_TOKEN,
	// in that order of precedence after -token.
	file := filepath.Join(t.TempDir(), "tok")
	if err := os.WriteFile(file, []byte(appSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := mustRun(t, addr, "acl token read", "-self", "-token-file="+file); field(t, out, "AccessorID") != acc {
		t.Errorf("-token-file:\n%s", out)
	}
	t.Setenv("CONSUL_HTTP_TOKEN", secret)
	if out := mustRun(t, addr, "acl token read", "-self"); field(t, out, "Description") != "Bootstrap Token (Global Management)" {
		t.Errorf("CONSUL_HTTP_TOKEN:\n%s", out)
	}
	t.Setenv("MERIDIAN_HTTP_TOKEN", appSecret)
	if out := mustRun(t, addr, "acl token read", "-self"); field(t, out, "AccessorID") != acc {
		t.Errorf("MERIDIAN_HTTP_TOKEN over CONSUL_HTTP_TOKEN:\n%s", out)
	}
	if out := mustRun(t, addr, "acl token read", "-self", tk); field(t, out, "Description") != "Bootstrap Token (Global Management)" {
		t.Errorf("-token over the environment:\n%s", out)
	}
	code, _, errOut = aclRun(t, addr, "acl token read", "-self", "-token-file="+filepath.Join(t.TempDir(), "missing"))
	if code != 1 {
		t.Fatal("missing token file accepted")
	}
	oneLineError(t, errOut, "cannot read the token file")
	t.Setenv("MERIDIAN_HTTP_TOKEN", "")
	t.Setenv("CONSUL_HTTP_TOKEN", "")

	// The agent's default token: requests without one act with it.
	if out := mustRun(t, addr, "acl set-agent-token", tk, "default", appSecret); out != `ACL token "default" set successfully`+"\n" {
		t.Errorf("set-agent-token: %q", out)
	}
	if out := mustRun(t, addr, "acl token read", "-self"); field(t, out, "AccessorID") != acc {
		t.Errorf("self with the default token:\n%s", out)
	}
	code, _, errOut = aclRun(t, addr, "acl set-agent-token", tk, "dns", "x")
	if code != 1 {
		t.Fatal("unknown token type accepted")
	}
	oneLineError(t, errOut, `unknown token type "dns"`)
	mustRun(t, addr, "acl set-agent-token", tk, "default", "")

	// Deletes by name.
	mustRun(t, addr, "acl role delete", tk, "-name=apps")
	mustRun(t, addr, "acl policy delete", tk, "-name=app")
	if out := mustRun(t, addr, "acl policy list", tk); strings.Contains(out, "app:") {
		t.Errorf("policy still listed:\n%s", out)
	}
	code, _, errOut = aclRun(t, addr, "acl policy read", tk, "-id=zzz")
	if code != 1 {
		t.Fatal("unknown prefix accepted")
	}
	oneLineError(t, errOut, `no policy ID starts with "zzz"`)
}
