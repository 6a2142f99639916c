package agent

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/consul/api"
	"github.com/miekg/dns"
)

// TestACLRouteTableCoversRouter: every route and method the router serves
// has an ACL rule, and every rule names a real route, so a new endpoint
// without an ACL rule fails here (and answers 500 rather than serving
// unchecked).
func TestACLRouteTableCoversRouter(t *testing.T) {
	ta := StartTestAgent(t, "-server", "-bootstrap")
	routes := ta.acl.routes
	if len(routes) < 60 {
		t.Fatalf("only %d routes recorded: the guard does not see the router", len(routes))
	}
	table := aclRouteTable()
	var problems []string
	for pattern, methods := range routes {
		rules, ok := table[pattern]
		if !ok {
			problems = append(problems, "no ACL rule for route "+pattern)
			continue
		}
		for _, m := range strings.Split(methods, ",") {
			rule, ok := rules[m]
			switch {
			case !ok:
				problems = append(problems, fmt.Sprintf("no ACL rule for %s %s", m, pattern))
			case rule.public == "" && rule.check == nil && !rule.filter:
				problems = append(problems, fmt.Sprintf("the rule of %s %s neither checks, filters nor says why not", m, pattern))
			}
		}
		for m := range rules {
			if !strings.Contains(","+methods+",", ","+m+",") {
				problems = append(problems, fmt.Sprintf("rule for %s %s, a method the route does not serve", m, pattern))
			}
		}
	}
	for pattern := range table {
		if _, ok := routes[pattern]; !ok {
			problems = append(problems, "ACL rule for "+pattern+", which is not a route")
		}
	}
	sort.Strings(problems)
	for _, p := range problems {
		t.Error(p)
	}
	// With ACLs off every answer still says the default policy.
	resp, err := http.Get("http://" + ta.HTTPAddr + "/v1/catalog/datacenters")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("X-Consul-Default-Acl-Policy"); got != "allow" {
		t.Errorf("X-Consul-Default-Acl-Policy = %q, want allow", got)
	}
}

func TestACLEnforcementHTTP(t *testing.T) {
	ta := startACLAgent(t)
	boot, _, err := ta.Client.ACL().Bootstrap()
	if err != nil {
		t.Fatal(err)
	}
	mgmt := withToken(t, ta, boot.SecretID)
	if _, err := mgmt.KV().Put(&api.KVPair{Key: "app/seed", Value: []byte("1")}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := mgmt.KV().Put(&api.KVPair{Key: "other/seed", Value: []byte("1")}, nil); err != nil {
		t.Fatal(err)
	}
	p, _, err := mgmt.ACL().PolicyCreate(&api.ACLPolicy{Name: "app", Rules: `key_prefix "app/" { policy = "write" }`}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := mgmt.ACL().TokenCreate(&api.ACLToken{Policies: []*api.ACLTokenPolicyLink{{ID: p.ID}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	app := withToken(t, ta, tok.SecretID)

	// Anonymous writes: Consul's sentence, nothing written.
	_, err = ta.Client.KV().Put(&api.KVPair{Key: "app/x", Value: []byte("v")}, nil)
	wantStatus(t, "anonymous write", err, 403,
		`Permission denied: anonymous token lacks permission 'key:write' on "app/x". The anonymous token is used implicitly when a request does not specify a token.`)
	if kv, _, _ := mgmt.KV().Get("app/x", nil); kv != nil {
		t.Error("the refused write was applied")
	}
	// The app token writes app/ but not other/.
	if _, err := app.KV().Put(&api.KVPair{Key: "app/x", Value: []byte("v")}, nil); err != nil {
		t.Fatalf("app write: %v", err)
	}
	_, err = app.KV().Put(&api.KVPair{Key: "other/z", Value: []byte("v")}, nil)
	wantStatus(t, "app writes other/z", err, 403,
		fmt.Sprintf(`Permission denied: token with AccessorID '%s' lacks permission 'key:write' on "other/z"`, tok.AccessorID))
	_, err = app.KV().DeleteTree("", nil)
	wantStatus(t, "app deletes everything", err, 403, `lacks permission 'key:write' on ""`)
	// A recursive read shows only what the token may read, flagged.
	pairs, _, err := app.KV().List("", nil)
	if err == nil {
		t.Fatalf("listing the root needs key:list on it: %v", pairs)
	}
	pairs, _, err = app.KV().List("app/", nil)
	if err != nil || len(pairs) != 2 {
		t.Fatalf("app list: %v %v", pairs, err)
	}
	// An unknown secret.
	_, _, err = withToken(t, ta, "2f0f4f1e-0000-4000-8000-000000000000").KV().Get("app/x", nil)
	wantStatus(t, "unknown secret", err, 403, "ACL not found")

	get := func(path, token string) (int, http.Header, string) {
		req, _ := http.NewRequest("GET", "http://"+ta.HTTPAddr+path, nil)
		if token != "" {
			req.Header.Set("X-Consul-Token", token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, strings.TrimSpace(string(b))
	}
	// Catalog reads: anonymous sees nothing and no filter header; a token
	// that may see nothing gets the header; management sees the node.
	code, h, body := get("/v1/catalog/nodes", "")
	if code != 200 || body != "[]" || h.Get("X-Consul-Results-Filtered-By-ACLs") != "" || h.Get("X-Consul-Default-Acl-Policy") != "deny" {
		t.Errorf("anonymous nodes: %d %q %v", code, body, h)
	}
	code, h, body = get("/v1/catalog/nodes", tok.SecretID)
	if code != 200 || body != "[]" || h.Get("X-Consul-Results-Filtered-By-ACLs") != "true" {
		t.Errorf("app token nodes: %d %q %v", code, body, h)
	}
	WaitFor(t, "the node in the catalog", 10e9, func() error {
		nodes, _, err := mgmt.Catalog().Nodes(nil)
		if err != nil || len(nodes) != 1 {
			return fmt.Errorf("%d nodes, %v", len(nodes), err)
		}
		return nil
	})
	if ms, err := ta.Client.Agent().Members(false); err != nil || len(ms) != 0 {
		t.Errorf("anonymous members: %v %v", ms, err)
	}
	if ms, err := mgmt.Agent().Members(false); err != nil || len(ms) != 1 {
		t.Errorf("management members: %v %v", ms, err)
	}
	_, err = ta.Client.Agent().Self()
	wantStatus(t, "anonymous agent self", err, 403, "lacks permission 'agent:read' on \""+ta.Name+"\"")
	// Public routes stay open.
	if _, err := ta.Client.Status().Leader(); err != nil {
		t.Errorf("status leader: %v", err)
	}
	// Operator and service writes.
	_, err = app.Operator().RaftGetConfiguration(nil)
	wantStatus(t, "raft configuration", err, 403, "lacks permission 'operator:read'")
	err = app.Agent().ServiceRegister(&api.AgentServiceRegistration{Name: "web", Port: 80})
	wantStatus(t, "service register", err, 403, `lacks permission 'service:write' on "web"`)
	// A transaction is checked op by op.
	ok, _, _, err := app.Txn().Txn(api.TxnOps{
		{KV: &api.KVTxnOp{Verb: api.KVSet, Key: "app/t", Value: []byte("1")}},
		{KV: &api.KVTxnOp{Verb: api.KVSet, Key: "other/t", Value: []byte("1")}},
	}, nil)
	if ok || err == nil || !strings.Contains(err.Error(), `lacks permission 'key:write' on "other/t"`) {
		t.Errorf("txn: ok=%v err=%v", ok, err)
	}
}

func TestACLAgentTokens(t *testing.T) {
	dir := t.TempDir()
	persist := "-hcl=acl { enable_token_persistence = true }"
	ta := startACLAgent(t, "-data-dir="+dir, persist)
	boot, _, err := ta.Client.ACL().Bootstrap()
	if err != nil {
		t.Fatal(err)
	}
	mgmt := withToken(t, ta, boot.SecretID)
	p, _, err := mgmt.ACL().PolicyCreate(&api.ACLPolicy{Name: "app", Rules: `key_prefix "app/" { policy = "write" }`}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := mgmt.ACL().TokenCreate(&api.ACLToken{Policies: []*api.ACLTokenPolicyLink{{ID: p.ID}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = ta.Client.Agent().UpdateDefaultACLToken(tok.SecretID, nil)
	wantStatus(t, "anonymous token update", err, 403, "lacks permission 'acl:write'")
	for _, f := range []func(string, *api.WriteOptions) (*api.WriteMeta, error){
		mgmt.Agent().UpdateAgentACLToken, mgmt.Agent().UpdateAgentRecoveryACLToken,
		mgmt.Agent().UpdateAgentMasterACLToken, mgmt.Agent().UpdateReplicationACLToken,
	} {
		if _, err := f("9a1b2c3d-0000-4000-8000-000000000000", nil); err != nil {
			t.Fatalf("update: %v", err)
		}
	}
	if _, err := mgmt.Agent().UpdateDefaultACLToken(tok.SecretID, nil); err != nil {
		t.Fatal(err)
	}
	// Requests without a token now act with the default token.
	if _, err := ta.Client.KV().Put(&api.KVPair{Key: "app/x", Value: []byte("v")}, nil); err != nil {
		t.Fatalf("write with the default token: %v", err)
	}
	_, err = ta.Client.KV().Put(&api.KVPair{Key: "other/x", Value: []byte("v")}, nil)
	wantStatus(t, "default token writes other/", err, 403, "token with AccessorID '"+tok.AccessorID+"'")
	req, _ := http.NewRequest("PUT", "http://"+ta.HTTPAddr+"/v1/agent/token/nope", strings.NewReader(`{"Token": "x"}`))
	req.Header.Set("X-Consul-Token", boot.SecretID)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("unknown token kind: %d", resp.StatusCode)
	}
	buf, err := os.ReadFile(filepath.Join(dir, "acl-tokens.json"))
	if err != nil || !strings.Contains(string(buf), tok.SecretID) {
		t.Fatalf("persisted tokens: %s %v", buf, err)
	}

	// After a restart on the same data dir the default token is back.
	ta.Shutdown()
	ta2 := StartTestAgent(t, "-server", "-bootstrap", "-hcl="+aclDenyHCL, "-data-dir="+dir, persist)
	ta2.WaitForLeader(t)
	WaitFor(t, "a write with the persisted default token", 10e9, func() error {
		_, err := ta2.Client.KV().Put(&api.KVPair{Key: "app/y", Value: []byte("v")}, nil)
		return err
	})
}

// TestACLDNS: DNS answers with the agent's default token: under default
// deny, anonymous lookups find nothing until the default token may read.
func TestACLDNS(t *testing.T) {
	ta := startACLAgent(t, "-dns-port=0")
	boot, _, err := ta.Client.ACL().Bootstrap()
	if err != nil {
		t.Fatal(err)
	}
	mgmt := withToken(t, ta, boot.SecretID)
	reg := &api.CatalogRegistration{Node: "db1", Address: "10.1.0.1", Service: &api.AgentService{ID: "db", Service: "db", Port: 5432}}
	if _, err := mgmt.Catalog().Register(reg, nil); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"db1.node.consul", "db.service.consul"} {
		if m := dnsQuery(t, ta, name, dns.TypeA, "udp"); m.Rcode != dns.RcodeNameError || len(m.Answer) != 0 {
			t.Errorf("%s under default deny: rcode %d, %v", name, m.Rcode, m.Answer)
		}
	}
	p, _, err := mgmt.ACL().PolicyCreate(&api.ACLPolicy{Name: "dns", Rules: `node_prefix "" { policy = "read" } service "db" { policy = "read" }`}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := mgmt.ACL().TokenCreate(&api.ACLToken{Policies: []*api.ACLTokenPolicyLink{{ID: p.ID}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mgmt.Agent().UpdateDefaultACLToken(tok.SecretID, nil); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"db1.node.consul", "db.service.consul"} {
		if m := dnsQuery(t, ta, name, dns.TypeA, "udp"); len(answerAddrs(m)) != 1 || answerAddrs(m)[0] != "10.1.0.1" {
			t.Errorf("%s with the default token: rcode %d, %v", name, m.Rcode, m.Answer)
		}
	}
}
