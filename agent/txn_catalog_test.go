package agent

import (
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// TestTxnCatalogOperations drives Node, Service and Check operations of
// /v1/txn through the official client, mixed with KV operations: a
// transaction that commits, reads of it, and transactions that roll back
// and leave nothing behind.
func TestTxnCatalogOperations(t *testing.T) {
	ta := StartTestAgent(t, "-server", "-bootstrap")
	ta.WaitForLeader(t)
	txn, kv, cat := ta.Client.Txn(), ta.Client.KV(), ta.Client.Catalog()
	proxy := testProxyRegistration()
	svc := api.AgentService{Kind: proxy.Kind, ID: "web-proxy", Service: "web-sidecar-proxy", Port: 21000,
		Tags: []string{"a"}, Proxy: proxy.Proxy, Locality: proxy.Locality}
	check := api.HealthCheck{Node: "tx-node", CheckID: "web-alive", Name: "web alive", Status: api.HealthPassing,
		ServiceID: "web-proxy", Output: "ok"}

	var nodeIndex, svcIndex, checkIndex uint64
	t.Run("commit", func(t *testing.T) {
		ok, resp, _, err := txn.Txn(api.TxnOps{
			{KV: &api.KVTxnOp{Verb: api.KVSet, Key: "txc/a", Value: []byte("1")}},
			{Node: &api.NodeTxnOp{Verb: api.NodeSet, Node: api.Node{Node: "tx-node", Address: "127.0.0.70",
				TaggedAddresses: map[string]string{"lan": "127.0.0.70"}, Meta: map[string]string{"rack": "r1"}}}},
			{Service: &api.ServiceTxnOp{Verb: api.ServiceSet, Node: "tx-node", Service: svc}},
			{Check: &api.CheckTxnOp{Verb: api.CheckSet, Check: check}},
			{KV: &api.KVTxnOp{Verb: api.KVGet, Key: "txc/a"}},
		}, nil)
		if err != nil || !ok {
			t.Fatalf("txn = %v, %+v, %v", ok, resp, err)
		}
		if len(resp.Results) != 5 {
			t.Fatalf("%d results, want 5: %+v", len(resp.Results), resp.Results)
		}
		n, s, c := resp.Results[1].Node, resp.Results[2].Service, resp.Results[3].Check
		if n == nil || n.Node != "tx-node" || n.Address != "127.0.0.70" || n.Meta["rack"] != "r1" || n.Datacenter != "dc1" || n.ModifyIndex == 0 {
			t.Fatalf("node result = %+v", n)
		}
		if s == nil || s.ID != "web-proxy" || s.Kind != proxy.Kind || !reflect.DeepEqual(s.Proxy, proxy.Proxy) ||
			s.Weights != (api.AgentWeights{Passing: 1, Warning: 1}) || s.ModifyIndex != n.ModifyIndex {
			t.Fatalf("service result = %+v", s)
		}
		if c == nil || c.CheckID != "web-alive" || c.Status != api.HealthPassing || c.ServiceName != "web-sidecar-proxy" || c.ModifyIndex != n.ModifyIndex {
			t.Fatalf("check result = %+v", c)
		}
		if string(resp.Results[4].KV.Value) != "1" {
			t.Fatalf("kv get result = %+v", resp.Results[4].KV)
		}
		nodeIndex, svcIndex, checkIndex = n.ModifyIndex, s.ModifyIndex, c.ModifyIndex

		// Everything is in the catalog and the KV store.
		entries, _, err := ta.Client.Health().Service("web-sidecar-proxy", "", true, nil)
		if err != nil || len(entries) != 1 || entries[0].Node.Node != "tx-node" || !reflect.DeepEqual(entries[0].Service.Proxy, proxy.Proxy) {
			t.Fatalf("health service = %+v, %v", entries, err)
		}
		if p, _, err := kv.Get("txc/a", nil); err != nil || p == nil || string(p.Value) != "1" {
			t.Fatalf("txc/a = %+v, %v", p, err)
		}
	})

	t.Run("read only", func(t *testing.T) {
		ok, resp, meta, err := txn.Txn(api.TxnOps{
			{Node: &api.NodeTxnOp{Verb: api.NodeGet, Node: api.Node{Node: "tx-node"}}},
			{Service: &api.ServiceTxnOp{Verb: api.ServiceGet, Node: "tx-node", Service: api.AgentService{ID: "web-proxy"}}},
			{Check: &api.CheckTxnOp{Verb: api.CheckGet, Check: api.HealthCheck{Node: "tx-node", CheckID: "web-alive"}}},
		}, nil)
		if err != nil || !ok || len(resp.Results) != 3 {
			t.Fatalf("txn = %v, %+v, %v", ok, resp, err)
		}
		if !meta.KnownLeader {
			t.Error("a read-only transaction does not report a known leader")
		}
		if resp.Results[0].Node.ModifyIndex != nodeIndex || resp.Results[1].Service.ModifyIndex != svcIndex ||
			resp.Results[2].Check.Output != "ok" || !reflect.DeepEqual(resp.Results[1].Service.Locality, proxy.Locality) {
			t.Fatalf("read results = %+v %+v %+v", resp.Results[0].Node, resp.Results[1].Service, resp.Results[2].Check)
		}
	})

	t.Run("rollback", func(t *testing.T) {
		stale := svc
		stale.ModifyIndex = svcIndex + 100
		stale.Tags = []string{"b"}
		ok, resp, _, err := txn.Txn(api.TxnOps{
			{KV: &api.KVTxnOp{Verb: api.KVSet, Key: "txc/rolled-back", Value: []byte("x")}},
			{Node: &api.NodeTxnOp{Verb: api.NodeSet, Node: api.Node{Node: "tx-other", Address: "127.0.0.71"}}},
			{Service: &api.ServiceTxnOp{Verb: api.ServiceCAS, Node: "tx-node", Service: stale}},
			{Check: &api.CheckTxnOp{Verb: api.CheckDelete, Check: api.HealthCheck{Node: "tx-node", CheckID: "web-alive"}}},
			{Node: &api.NodeTxnOp{Verb: api.NodeGet, Node: api.Node{Node: "tx-missing"}}},
		}, nil)
		if err != nil || ok {
			t.Fatalf("txn = %v, %+v, %v; want a rollback", ok, resp, err)
		}
		want := api.TxnErrors{
			{OpIndex: 2, What: `failed to set service "web-proxy" on node "tx-node", index is stale`},
			{OpIndex: 4, What: `node "tx-missing" doesn't exist`},
		}
		if !reflect.DeepEqual(resp.Errors, want) || len(resp.Results) != 0 {
			t.Fatalf("errors = %+v results %+v, want %+v", resp.Errors, resp.Results, want)
		}
		// Nothing was applied.
		if p, _, err := kv.Get("txc/rolled-back", nil); err != nil || p != nil {
			t.Fatalf("txc/rolled-back = %+v, %v", p, err)
		}
		if n, _, err := cat.Node("tx-other", nil); err != nil || n != nil {
			t.Fatalf("tx-other = %+v, %v", n, err)
		}
		checks, _, err := ta.Client.Health().Node("tx-node", nil)
		if err != nil || len(checks) != 1 || checks[0].ModifyIndex != checkIndex {
			t.Fatalf("checks of tx-node = %+v, %v", checks, err)
		}
		entries, _, err := cat.Service("web-sidecar-proxy", "", nil)
		if err != nil || len(entries) != 1 || !reflect.DeepEqual(entries[0].ServiceTags, []string{"a"}) {
			t.Fatalf("service after rollback = %+v, %v", entries, err)
		}
	})

	t.Run("cas and delete-cas", func(t *testing.T) {
		// cas with index 0 fails for an existing node; with its index it
		// applies.
		ok, resp, _, err := txn.Txn(api.TxnOps{
			{Node: &api.NodeTxnOp{Verb: api.NodeCAS, Node: api.Node{Node: "tx-node", Address: "127.0.0.72"}}},
		}, nil)
		if err != nil || ok || len(resp.Errors) != 1 || resp.Errors[0].What != `failed to set node "tx-node", index is stale` {
			t.Fatalf("node cas 0 = %v %+v %v", ok, resp, err)
		}
		ok, resp, _, err = txn.Txn(api.TxnOps{
			{Node: &api.NodeTxnOp{Verb: api.NodeCAS, Node: api.Node{Node: "tx-node", Address: "127.0.0.72", ModifyIndex: nodeIndex}}},
			{Check: &api.CheckTxnOp{Verb: api.CheckDeleteCAS, Check: api.HealthCheck{Node: "tx-node", CheckID: "web-alive", ModifyIndex: checkIndex}}},
			{Service: &api.ServiceTxnOp{Verb: api.ServiceDeleteCAS, Node: "tx-node", Service: api.AgentService{ID: "web-proxy", ModifyIndex: svcIndex}}},
		}, nil)
		if err != nil || !ok {
			t.Fatalf("cas txn = %v %+v %v", ok, resp, err)
		}
		// Deletes answer nothing: one result, the node's.
		if len(resp.Results) != 1 || resp.Results[0].Node == nil || resp.Results[0].Node.Address != "127.0.0.72" {
			t.Fatalf("cas results = %+v", resp.Results)
		}
		n, _, err := cat.Node("tx-node", nil)
		if err != nil || n == nil || n.Node.Address != "127.0.0.72" || len(n.Services) != 0 {
			t.Fatalf("tx-node after cas = %+v, %v", n, err)
		}
		ok, resp, _, err = txn.Txn(api.TxnOps{
			{Node: &api.NodeTxnOp{Verb: api.NodeDeleteCAS, Node: api.Node{Node: "tx-node", ModifyIndex: nodeIndex}}},
		}, nil)
		if err != nil || ok || resp.Errors[0].What != `failed to delete node "tx-node", index is stale` {
			t.Fatalf("stale node delete-cas = %v %+v %v", ok, resp, err)
		}
		ok, _, _, err = txn.Txn(api.TxnOps{
			{Node: &api.NodeTxnOp{Verb: api.NodeDelete, Node: api.Node{Node: "tx-node"}}},
		}, nil)
		if err != nil || !ok {
			t.Fatalf("node delete = %v %v", ok, err)
		}
		if n, _, err := cat.Node("tx-node", nil); err != nil || n != nil {
			t.Fatalf("tx-node after delete = %+v, %v", n, err)
		}
	})

	t.Run("bad operations", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			op   *api.TxnOp
			what string
		}{
			{"unknown node verb", &api.TxnOp{Node: &api.NodeTxnOp{Verb: "frob", Node: api.Node{Node: "n"}}}, `unknown Node verb "frob"`},
			{"service on a missing node", &api.TxnOp{Service: &api.ServiceTxnOp{Verb: api.ServiceSet, Node: "nowhere", Service: api.AgentService{Service: "s"}}}, "Missing node registration"},
			{"service without a name", &api.TxnOp{Service: &api.ServiceTxnOp{Verb: api.ServiceSet, Node: "n"}}, "missing service ID"},
			{"check with a bad status", &api.TxnOp{Check: &api.CheckTxnOp{Verb: api.CheckSet, Check: api.HealthCheck{Node: "n", CheckID: "c", Status: "fine"}}}, `invalid check status "fine"`},
			{"missing service get", &api.TxnOp{Service: &api.ServiceTxnOp{Verb: api.ServiceGet, Node: "n", Service: api.AgentService{ID: "s"}}}, `service "s" on node "n" doesn't exist`},
		} {
			ok, resp, _, err := txn.Txn(api.TxnOps{tc.op}, nil)
			if err != nil || ok || len(resp.Errors) != 1 || !strings.Contains(resp.Errors[0].What, tc.what) {
				t.Errorf("%s: %v %+v %v, want an error containing %q", tc.name, ok, resp, err, tc.what)
			}
		}
	})

	t.Run("session delete", func(t *testing.T) {
		id, _, err := ta.Client.Session().Create(nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := kv.Acquire(&api.KVPair{Key: "txc/lock", Value: []byte("held"), Session: id}, nil); err != nil {
			t.Fatal(err)
		}
		code, body := do(t, ta, "PUT", "/v1/txn", `[{"Session":{"Verb":"delete","Session":{"ID":"`+id+`"}}},{"KV":{"Verb":"get","Key":"txc/lock"}}]`)
		if code != http.StatusOK || !strings.Contains(body, `"Key":"txc/lock"`) || strings.Contains(body, id) {
			t.Fatalf("session delete txn: %d %s", code, body)
		}
		if s, _, err := ta.Client.Session().Info(id, nil); err != nil || s != nil {
			t.Fatalf("session after delete = %+v, %v", s, err)
		}
		code, body = do(t, ta, "PUT", "/v1/txn", `[{"Session":{"Verb":"renew","Session":{"ID":"`+id+`"}}}]`)
		if code != http.StatusConflict || !strings.Contains(body, `unknown Session verb \"renew\"`) {
			t.Fatalf("unknown session verb: %d %s", code, body)
		}
	})
}

// TestTxnCatalogACL: catalog operations of a transaction need node:write
// and service:write, as Consul's.
func TestTxnCatalogACL(t *testing.T) {
	ta := startACLAgent(t)
	boot, _, err := ta.Client.ACL().Bootstrap()
	if err != nil {
		t.Fatal(err)
	}
	mc := withToken(t, ta, boot.SecretID)
	pol, _, err := mc.ACL().PolicyCreate(&api.ACLPolicy{Name: "web-only",
		Rules: `node "tx-acl" { policy = "write" }
service "web" { policy = "write" }`}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := mc.ACL().TokenCreate(&api.ACLToken{Policies: []*api.ACLTokenPolicyLink{{ID: pol.ID}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tc := withToken(t, ta, tok.SecretID).Txn()
	ok, resp, _, err := tc.Txn(api.TxnOps{
		{Node: &api.NodeTxnOp{Verb: api.NodeSet, Node: api.Node{Node: "tx-acl", Address: "127.0.0.73"}}},
		{Service: &api.ServiceTxnOp{Verb: api.ServiceSet, Node: "tx-acl", Service: api.AgentService{Service: "web"}}},
	}, nil)
	if err != nil || !ok {
		t.Fatalf("allowed txn = %v %+v %v", ok, resp, err)
	}
	for _, op := range []*api.TxnOp{
		{Node: &api.NodeTxnOp{Verb: api.NodeSet, Node: api.Node{Node: "other", Address: "127.0.0.74"}}},
		{Service: &api.ServiceTxnOp{Verb: api.ServiceSet, Node: "tx-acl", Service: api.AgentService{Service: "db"}}},
		{Check: &api.CheckTxnOp{Verb: api.CheckSet, Check: api.HealthCheck{Node: "other", CheckID: "c"}}},
	} {
		_, _, _, err := tc.Txn(api.TxnOps{op}, nil)
		if err == nil || !strings.Contains(err.Error(), "Permission denied") || !strings.Contains(err.Error(), ":write' on") {
			t.Errorf("op %+v: err %v, want permission denied", op, err)
		}
	}
	WaitFor(t, "nothing of the denied operations", 5*time.Second, func() error {
		n, _, err := mc.Catalog().Node("other", nil)
		if err != nil {
			return err
		}
		if n != nil {
			return errors.New("node other was written")
		}
		return nil
	})
}
