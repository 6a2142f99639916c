package e2e

// ACLs on the server port and agent tokens, with real processes (hosts
// 514-540): a server with default deny and a client agent. The client
// starts without an agent token, so anti-entropy cannot write its node
// (node meta missing from the catalog); once `acl set-agent-token agent`
// gives it one, the next sync writes the node. A service registered
// through the client with a service token reaches the catalog, synced
// with that token. An outsider speaking msgpack RPC straight to the
// server port without a token is refused with Consul's sentences and
// writes nothing; anonymous list reads come back filtered.

import (
	"errors"
	"fmt"
	"net"
	netrpc "net/rpc"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	msgpackrpc "github.com/hashicorp/net-rpc-msgpackrpc/v2"
)

func TestACLRPCAndAgentTokens(t *testing.T) {
	c := newCluster(t, 514, 540)
	srv := c.start(agentOpts{Name: "aclrpc-s1", Server: true, Bootstrap: true, HCL: aclHCL("")})
	cl := c.start(agentOpts{Name: "aclrpc-c1", Join: []string{srv.LANAddr}, HCL: aclHCL(`node_meta { role = "e2e" }`)})
	mgmtClient := func(a *agentProc) *api.Client {
		cfg := api.DefaultNonPooledConfig()
		cfg.Address, cfg.Token = a.HTTPAddr, aclMgmtSecret
		client, err := api.NewClient(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return client
	}
	for _, a := range []*agentProc{srv, cl} {
		a.API = mgmtClient(a)
	}
	waitLeader(t, 20*time.Second, srv, cl)
	mgmt := srv.API
	waitFor(t, 20*time.Second, "the initial management token", func() error {
		_, _, err := mgmt.ACL().TokenReadSelf(nil)
		return err
	})
	mkToken := func(name, rules string) string {
		t.Helper()
		p, _, err := mgmt.ACL().PolicyCreate(&api.ACLPolicy{Name: name, Rules: rules}, nil)
		if err != nil {
			t.Fatalf("policy %s: %v", name, err)
		}
		tok, _, err := mgmt.ACL().TokenCreate(&api.ACLToken{Description: name, Policies: []*api.ACLTokenPolicyLink{{ID: p.ID}}}, nil)
		if err != nil {
			t.Fatalf("token %s: %v", name, err)
		}
		return tok.SecretID
	}
	agentTok := mkToken("agent-c1", `node "aclrpc-c1" { policy = "write" } service_prefix "" { policy = "read" }`)
	webTok := mkToken("web", `service "web" { policy = "write" }`)

	// Without an agent token the client cannot write its node: the
	// leader registered it from gossip, without its meta.
	waitFor(t, 20*time.Second, "the client's node registration refused", func() error {
		if !strings.Contains(cl.Log(), "node registration blocked by ACLs") {
			return errors.New("no refusal in the client's log yet")
		}
		return nil
	})
	if n, _, err := mgmt.Catalog().Node("aclrpc-c1", nil); err != nil || n.Node.Meta["role"] == "e2e" {
		t.Fatalf("the client's node was written without an agent token: %+v %v", n, err)
	}

	// A service registered through the client with its own token syncs
	// with it.
	webCfg := api.DefaultNonPooledConfig()
	webCfg.Address, webCfg.Token = cl.HTTPAddr, webTok
	webClient, err := api.NewClient(webCfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := webClient.Agent().ServiceRegister(&api.AgentServiceRegistration{Name: "web", Port: 8080}); err != nil {
		t.Fatalf("register web with its token: %v", err)
	}
	waitFor(t, 20*time.Second, "web in the catalog, synced with its token", func() error {
		ss, _, err := mgmt.Catalog().Service("web", "", nil)
		if err != nil || len(ss) != 1 || ss[0].Node != "aclrpc-c1" || ss[0].ServicePort != 8080 {
			return fmt.Errorf("web: %v %v", ss, err)
		}
		return nil
	})

	// `meridian acl set-agent-token agent` takes effect at the next sync.
	r := runMeridianEnv(t, cliTimeout, []string{"MERIDIAN_HTTP_TOKEN=" + aclMgmtSecret},
		"acl", "set-agent-token", "-http-addr="+cl.HTTPAddr, "agent", agentTok)
	if r.Code != 0 {
		t.Fatalf("set-agent-token: %s", r)
	}
	waitFor(t, 20*time.Second, "the client's node meta, written with the agent token", func() error {
		n, _, err := mgmt.Catalog().Node("aclrpc-c1", nil)
		if err != nil || n == nil || n.Node == nil || n.Node.Meta["role"] != "e2e" {
			return fmt.Errorf("node: %+v %v", n, err)
		}
		return nil
	})

	// An outsider on the server port, without a token.
	rpcAddr := srv.Host + ":" + strconv.Itoa(srv.Ports.Server)
	anonDenied := func(perm, name string) string {
		return fmt.Sprintf("Permission denied: anonymous token lacks permission '%s' on %q. The anonymous token is used implicitly when a request does not specify a token.", perm, name)
	}
	for _, tc := range []struct {
		method string
		body   map[string]any
		want   string
	}{
		{"KVS.Apply", map[string]any{"Op": "set", "DirEnt": map[string]any{"Key": "evil/k", "Value": []byte("x")}}, anonDenied("key:write", "evil/k")},
		{"Catalog.Register", map[string]any{"Node": "evil-node", "Address": "10.6.6.6"}, anonDenied("node:write", "evil-node")},
		{"Catalog.Deregister", map[string]any{"Node": "aclrpc-c1"}, anonDenied("node:write", "aclrpc-c1")},
		{"Session.Apply", map[string]any{"Op": "create", "Session": map[string]any{"Node": "aclrpc-s1"}}, anonDenied("session:write", "aclrpc-s1")},
		{"KVS.Apply", map[string]any{"Op": "set", "DirEnt": map[string]any{"Key": "evil/k"}, "Token": "b16b00b5-0000-4000-8000-000000000000"}, "ACL not found"},
		{"Operator.RaftRemovePeer", map[string]any{"Address": "127.0.0.1:1"}, "Permission denied: anonymous token lacks permission 'operator:write'. The anonymous token is used implicitly when a request does not specify a token."},
	} {
		text, err := foreignCall(t, rpcAddr, tc.method, tc.body)
		if err != nil || text != tc.want {
			t.Errorf("raw %s without a token: got %q (%v), want %q", tc.method, text, err, tc.want)
		}
	}
	// Nothing was written.
	if kv, _, err := mgmt.KV().Get("evil/k", nil); err != nil || kv != nil {
		t.Errorf("evil/k after refused writes: %+v %v", kv, err)
	}
	if n, _, err := mgmt.Catalog().Node("evil-node", nil); err != nil || (n != nil && n.Node != nil) {
		t.Errorf("evil-node after a refused registration: %+v %v", n, err)
	}
	if n, _, err := mgmt.Catalog().Node("aclrpc-c1", nil); err != nil || n == nil || n.Node == nil {
		t.Errorf("the client after a refused deregistration: %+v %v", n, err)
	}
	// The same call with a token in the body is served.
	if text, err := foreignCall(t, rpcAddr, "KVS.Apply", map[string]any{"Op": "set", "DirEnt": map[string]any{"Key": "ok/k", "Value": []byte("v")}, "Token": aclMgmtSecret}); err != nil || text != "" {
		t.Errorf("raw KVS.Apply with the management token: %q %v", text, err)
	}
	if kv, _, err := mgmt.KV().Get("ok/k", nil); err != nil || kv == nil || string(kv.Value) != "v" {
		t.Errorf("ok/k: %+v %v", kv, err)
	}
	// Anonymous reads come back filtered: no service, no node.
	var services struct {
		Services              map[string][]string
		ResultsFilteredByACLs bool
	}
	if text, err := foreignCallReply(t, rpcAddr, "Catalog.ListServices", map[string]any{}, &services); err != nil || text != "" {
		t.Fatalf("raw anonymous Catalog.ListServices: %q %v", text, err)
	}
	if len(services.Services) != 0 || !services.ResultsFilteredByACLs {
		t.Errorf("raw anonymous services: %v, filtered %v", services.Services, services.ResultsFilteredByACLs)
	}
	var nodes struct {
		Nodes                 []map[string]any
		ResultsFilteredByACLs bool
	}
	if text, err := foreignCallReply(t, rpcAddr, "Catalog.ListNodes", map[string]any{}, &nodes); err != nil || text != "" {
		t.Fatalf("raw anonymous Catalog.ListNodes: %q %v", text, err)
	}
	if len(nodes.Nodes) != 0 || !nodes.ResultsFilteredByACLs {
		t.Errorf("raw anonymous nodes: %v, filtered %v", nodes.Nodes, nodes.ResultsFilteredByACLs)
	}
	// No token ever reaches a log.
	for _, a := range []*agentProc{srv, cl} {
		for _, secret := range []string{aclMgmtSecret, agentTok, webTok} {
			if strings.Contains(a.Log(), secret) {
				t.Errorf("%s's log holds a secret", a.Name)
			}
		}
	}
	// A key read out of reach is refused on the wire as over HTTP.
	if text, err := foreignCall(t, rpcAddr, "KVS.Get", map[string]any{"Key": "ok/k"}); err != nil || !strings.HasPrefix(text, "Permission denied: anonymous token lacks permission 'key:read'") {
		t.Errorf("raw anonymous KVS.Get: %q %v", text, err)
	}
}

// foreignCallReply is foreignCall decoding the reply into reply.
func foreignCallReply(t *testing.T, addr, method string, body, reply any) (string, error) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "", fmt.Errorf("dial %s: %w", addr, err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(15 * time.Second)); err != nil {
		return "", err
	}
	if _, err := conn.Write([]byte{0x01}); err != nil {
		return "", fmt.Errorf("write protocol byte: %w", err)
	}
	client := netrpc.NewClientWithCodec(msgpackrpc.NewCodecFromHandle(true, true, conn, foreignHandle()))
	defer client.Close()
	err = client.Call(method, body, reply)
	var se netrpc.ServerError
	switch {
	case err == nil:
		return "", nil
	case errors.As(err, &se):
		return string(se), nil
	}
	return "", fmt.Errorf("%s to %s: %w", method, addr, err)
}
