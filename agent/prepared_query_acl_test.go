package agent

import (
	"net/http"
	"testing"

	"github.com/hashicorp/consul/api"
)

// TestPreparedQueryACLs: query:write and query:read by name, the list
// filtered, tokens hidden from readers without acl:write, and executions
// filtered with the query's token, else the caller's, as Consul's.
func TestPreparedQueryACLs(t *testing.T) {
	ta := startACLAgent(t)
	boot, _, err := ta.Client.ACL().Bootstrap()
	if err != nil {
		t.Fatal(err)
	}
	mgmt := withToken(t, ta, boot.SecretID)
	waitForNode(t, mgmt, ta.Name)
	reg := &api.CatalogRegistration{Node: "db1", Address: "10.0.0.1",
		Service: &api.AgentService{ID: "db", Service: "db", Port: 5432},
		Check:   &api.AgentCheck{CheckID: "alive", Name: "alive", Status: api.HealthPassing, ServiceID: "db"}}
	if _, err := mgmt.Catalog().Register(reg, nil); err != nil {
		t.Fatal(err)
	}
	pol, _, err := mgmt.ACL().PolicyCreate(&api.ACLPolicy{Name: "app-queries",
		Rules: `query_prefix "app-" { policy = "write" } service_prefix "" { policy = "read" } node_prefix "" { policy = "read" }`}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := mgmt.ACL().TokenCreate(&api.ACLToken{Policies: []*api.ACLTokenPolicyLink{{ID: pol.ID}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	app := withToken(t, ta, tok.SecretID)
	anon := ta.Client

	id, _, err := app.PreparedQuery().Create(&api.PreparedQueryDefinition{Name: "app-db", Service: api.ServiceQuery{Service: "db"}}, nil)
	if err != nil {
		t.Fatalf("create with query:write: %v", err)
	}
	_, _, err = app.PreparedQuery().Create(&api.PreparedQueryDefinition{Name: "other", Service: api.ServiceQuery{Service: "db"}}, nil)
	wantStatus(t, "create without query:write", err, http.StatusForbidden, "lacks permission 'query:write' on \"other\"")
	otherID, _, err := mgmt.PreparedQuery().Create(&api.PreparedQueryDefinition{Name: "other", Token: tok.SecretID, Service: api.ServiceQuery{Service: "db"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = app.PreparedQuery().Delete(otherID, nil)
	wantStatus(t, "delete without query:write", err, http.StatusForbidden, "query:write")

	if list, _, err := app.PreparedQuery().List(nil); err != nil || len(list) != 1 || list[0].ID != id {
		t.Fatalf("list with query:read on app-: %v %v", list, err)
	}
	if list, _, err := anon.PreparedQuery().List(nil); err != nil || len(list) != 0 {
		t.Fatalf("anonymous list: %v %v", list, err)
	}
	if list, _, err := mgmt.PreparedQuery().List(nil); err != nil || len(list) != 2 {
		t.Fatalf("management list: %v %v", list, err)
	}
	_, _, err = anon.PreparedQuery().Get(id, nil)
	wantStatus(t, "anonymous get", err, http.StatusForbidden, "query:read")

	// The query's token is hidden from readers without acl:write.
	if got, _, err := mgmt.PreparedQuery().Get(otherID, nil); err != nil || got[0].Token != tok.SecretID {
		t.Fatalf("management reads the token: %v %v", got, err)
	}
	if _, err := mgmt.PreparedQuery().Update(&api.PreparedQueryDefinition{ID: id, Name: "app-db", Token: tok.SecretID,
		Service: api.ServiceQuery{Service: "db"}}, nil); err != nil {
		t.Fatal(err)
	}
	if got, _, err := app.PreparedQuery().Get(id, nil); err != nil || got[0].Token != "<hidden>" {
		t.Fatalf("token seen by a reader without acl:write: %v %v", got, err)
	}

	// Executions need no query permission and are filtered with the
	// query's token: anonymous (which may read nothing) sees db1 through
	// app-db, whose token may read it, but not through a query without
	// a token.
	if out, _, err := anon.PreparedQuery().Execute("app-db", nil); err != nil || len(out.Nodes) != 1 {
		t.Fatalf("anonymous execute of a query with a token: %+v %v", out, err)
	}
	bare, _, err := mgmt.PreparedQuery().Create(&api.PreparedQueryDefinition{Name: "bare", Service: api.ServiceQuery{Service: "db"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if out, _, err := anon.PreparedQuery().Execute(bare, nil); err != nil || len(out.Nodes) != 0 {
		t.Fatalf("anonymous execute of a query without a token: %+v %v", out, err)
	}
	if out, _, err := app.PreparedQuery().Execute("bare", nil); err != nil || len(out.Nodes) != 1 {
		t.Fatalf("execute with the caller's token: %+v %v", out, err)
	}

	// The sticky policy counts health, not what a token may see: a query
	// without a token, whose instance anonymous may not read, counts it
	// (server/prepared_query_failover.go: stickyLocalPassing, which the
	// leader's decisions use too).
	if _, err := ta.Client.Raw().Write("/v1/query", map[string]any{"Name": "sticky",
		"Service": map[string]any{"Service": "db", "Failover": map[string]any{"Datacenters": []string{"dc1"}, "FailbackAfter": "1h"}}},
		nil, &api.WriteOptions{Token: boot.SecretID}); err != nil {
		t.Fatal(err)
	}
	var st struct {
		Active       bool
		LocalPassing int
	}
	if _, err := mgmt.Raw().Query("/v1/query/sticky/failover", &st, nil); err != nil || st.Active || st.LocalPassing != 1 {
		t.Fatalf("sticky query without a token under default deny: %+v %v", st, err)
	}
}
