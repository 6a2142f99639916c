package e2e

// ACL management with real processes (hosts 176-191): two datacenters
// with ACLs on (dc1 primary, an initial management token from the config
// file) and a client agent. Policies, roles and tokens are managed with
// the CLI through dc2 and the client, answered by dc1; refusals carry
// Consul's sentences; anonymous member lists are empty; every server
// restarted keeps every token and policy; no secret ever reaches an
// agent's log.

import (
	"errors"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

const aclMgmtSecret = "8e6f3a52-94b1-4c2e-9d7a-35c1f0b2e4a6"

func aclHCL(extra string) string {
	return `primary_datacenter = "dc1"
acl {
  enabled = true
  default_policy = "deny"
  tokens { initial_management = "` + aclMgmtSecret + `" }
}
` + extra
}

// cliField reads "Name:   value" from the pretty output of an acl verb.
func cliField(t *testing.T, out, name string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `:\s+(\S.*)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no %s in %q", name, out)
	}
	return strings.TrimSpace(m[1])
}

func TestACLManagement(t *testing.T) {
	c := newCluster(t, 176, 191)
	dc1 := c.start(agentOpts{Name: "acl-dc1", Server: true, Bootstrap: true, HCL: aclHCL("")})
	// Joining over the API needs agent:write, which dc2 can only resolve
	// once it reaches dc1: dc2 joins the WAN pool from its flags.
	dc2 := c.start(agentOpts{Name: "acl-dc2", DC: "dc2", Server: true, Bootstrap: true, HCL: aclHCL(""), Args: []string{"-join-wan=" + dc1.WANAddr}})
	// The client logs every request (debug), URLs with ?token= included.
	cl := c.start(agentOpts{Name: "acl-c1", Join: []string{dc1.LANAddr}, HCL: aclHCL(""), Args: []string{"-log-level=debug"}})
	// The harness's API clients read members: give them the management
	// token (anonymous reads see no members under default deny).
	for _, a := range []*agentProc{dc1, dc2, cl} {
		cfg := api.DefaultNonPooledConfig()
		cfg.Address, cfg.Token = a.HTTPAddr, aclMgmtSecret
		var err error
		if a.API, err = api.NewClient(cfg); err != nil {
			t.Fatal(err)
		}
	}
	waitLeader(t, 20*time.Second, dc1, cl)
	waitFor(t, 20*time.Second, "the initial management token", func() error {
		_, _, err := dc1.API.ACL().TokenReadSelf(nil)
		return err
	})
	waitPool(t, gossipTimeout, true, allAlive(wanName(dc1), wanName(dc2)), dc1, dc2)
	// Anonymous, the pools look empty.
	anon, _ := api.NewClient(&api.Config{Address: cl.HTTPAddr})
	if ms, err := anon.Agent().Members(false); err != nil || len(ms) != 0 {
		t.Errorf("anonymous members: %d %v", len(ms), err)
	}
	r0 := runMeridian(t, cliTimeout, "members", "-http-addr="+cl.HTTPAddr)
	if r0.Code != 2 || r0.Stdout != "" {
		t.Errorf("anonymous meridian members: want no output and exit 2, as Consul's: %s", r0)
	}

	mgmt := []string{"MERIDIAN_HTTP_TOKEN=" + aclMgmtSecret}
	cli := func(a *agentProc, env []string, verb string, args ...string) cliResult {
		t.Helper()
		all := append(strings.Fields(verb), "-http-addr="+a.HTTPAddr)
		return runMeridianEnv(t, cliTimeout, env, append(all, args...)...)
	}
	must := func(a *agentProc, env []string, verb string, args ...string) string {
		t.Helper()
		r := cli(a, env, verb, args...)
		if r.Code != 0 || r.TimedOut {
			t.Fatalf("want success, got %s", r)
		}
		return r.Stdout
	}

	// A bootstrap is refused with the reset index.
	r := cli(dc2, nil, "acl bootstrap")
	if r.Code != 1 || !strings.Contains(r.Stderr, "Permission denied: ACL bootstrap no longer allowed (reset index: ") {
		t.Errorf("bootstrap: %s", r)
	}
	// Anonymous: Consul's sentence, nothing written.
	r = cli(cl, nil, "acl policy create", "-name=x")
	if r.Code != 1 || !strings.Contains(r.Stderr, "Permission denied: anonymous token lacks permission 'acl:write'") {
		t.Errorf("anonymous create: %s", r)
	}

	// Through dc2, answered by dc1.
	out := must(dc2, mgmt, "acl policy create", "-name=app", "-rules", `key_prefix "app/" { policy = "write" }`)
	pid := cliField(t, out, "ID")
	out = must(dc2, mgmt, "acl role create", "-name=apps", "-policy-id="+pid)
	rid := cliField(t, out, "ID")
	out = must(cl, mgmt, "acl token create", "-description=app deployer", "-role-name=apps")
	acc, secret := cliField(t, out, "AccessorID"), cliField(t, out, "SecretID")
	p, _, err := dc1.API.ACL().PolicyRead(pid, &api.QueryOptions{Token: aclMgmtSecret})
	if err != nil || p.Name != "app" {
		t.Fatalf("policy in dc1: %+v %v", p, err)
	}
	// The new token reads itself anywhere; it may not list tokens.
	for _, a := range []*agentProc{dc1, dc2, cl} {
		if out := must(a, []string{"CONSUL_HTTP_TOKEN=" + secret}, "acl token read", "-self"); cliField(t, out, "AccessorID") != acc {
			t.Errorf("self through %s:\n%s", a.Name, out)
		}
	}
	r = cli(dc2, []string{"CONSUL_HTTP_TOKEN=" + secret}, "acl token list")
	if r.Code != 1 || !strings.Contains(r.Stderr, "Permission denied: token with AccessorID '"+acc+"' lacks permission 'acl:read'") {
		t.Errorf("list with the app token: %s", r)
	}
	const unknown = "6d3c8b1e-0000-4000-8000-000000000000"
	code, body := cl.httpDo(http.MethodGet, "/v1/acl/policies?token="+unknown, nil)
	if code != 403 || body != "ACL not found" {
		t.Errorf("unknown secret: %d %q", code, body)
	}

	// Every server restarted keeps every token, role and policy.
	dc1.Stop(15)
	dc2.Stop(15)
	dc1.Restart()
	dc2.Restart()
	waitLeader(t, 30*time.Second, dc1)
	waitFor(t, 30*time.Second, "the token after the restart", func() error {
		tok, _, err := dc2.API.ACL().TokenRead(acc, &api.QueryOptions{Token: aclMgmtSecret})
		if err != nil {
			return err
		}
		if len(tok.Roles) != 1 || tok.Roles[0].ID != rid || tok.SecretID != secret {
			return errors.New("token changed")
		}
		return nil
	})
	list, _, err := dc1.API.ACL().TokenList(&api.QueryOptions{Token: aclMgmtSecret})
	if err != nil || len(list) != 3 {
		t.Errorf("tokens after the restart (anonymous, initial management, app): %d %v", len(list), err)
	}

	// No secret in any log.
	if !strings.Contains(cl.Log(), "/v1/acl/policies?token=") {
		t.Error("the client did not log the request with ?token=; the check below proves nothing")
	}
	for _, a := range []*agentProc{dc1, dc2, cl} {
		log := a.Log()
		for _, s := range []string{aclMgmtSecret, secret, unknown} {
			if strings.Contains(log, s) {
				t.Errorf("%s's log holds a secret", a.Name)
			}
		}
	}
}
