package server

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meridian-sd/meridian/acl"
	"github.com/meridian-sd/meridian/rpc"
	"github.com/meridian-sd/meridian/structs"
)

// TestRPCACLRulesCoverDispatcher keeps the RPC ACL table complete: every
// registered method has an entry, every entry names a registered method,
// and a method that is checked takes a request that carries a token.
func TestRPCACLRulesCoverDispatcher(t *testing.T) {
	s := &Server{dispatcher: rpc.NewDispatcher(nil)}
	if err := s.registerEndpoints(); err != nil {
		t.Fatal(err)
	}
	rules := rpcACLRules()
	carrier := reflect.TypeFor[structs.TokenCarrier]()
	var registered []string
	for _, m := range s.dispatcher.Methods() {
		registered = append(registered, m.Name)
		r, ok := rules[m.Name]
		switch {
		case !ok:
			t.Errorf("RPC method %s has no entry in rpcACLRules (server/acl_rpc.go): add the permission it needs", m.Name)
		case r.public == "" && r.check == nil && r.filter == nil:
			t.Errorf("RPC method %s: its entry has neither a check, a filter nor a reason to be public", m.Name)
		case r.public != "" && (r.check != nil || r.filter != nil):
			t.Errorf("RPC method %s: a public entry with a check or filter", m.Name)
		case r.public == "" && !reflect.PointerTo(m.Args).Implements(carrier):
			t.Errorf("RPC method %s: checked, but its args %s carry no token", m.Name, m.Args)
		}
	}
	for name := range rules {
		if !slices.Contains(registered, name) {
			t.Errorf("rpcACLRules has an entry for %s, which is not registered", name)
		}
	}
}

// aclRPCFixture is a server with default deny, bootstrapped, with an
// "app" token: write on app/ keys, read on every node and on the web
// service.
type aclRPCFixture struct {
	s          *Server
	mgmt       string
	app        structs.ACLToken
	foreign    *foreignClient
	appAllowed []string
}

func newACLRPCFixture(t *testing.T) *aclRPCFixture {
	t.Helper()
	s := startACLServer(t, "dc1", nil)
	var boot structs.ACLToken
	waitFor(t, "bootstrap", 10e9, func() error { return s.RPC("ACL.Bootstrap", &structs.ACLBootstrapRequest{}, &boot) })
	var pol structs.ACLPolicy
	preq := &structs.ACLPolicySetRequest{Policy: structs.ACLPolicy{Name: "app", Rules: `
key_prefix "app/" { policy = "write" }
node_prefix "" { policy = "read" }
service "web" { policy = "read" }
session_prefix "n1" { policy = "write" }
`}}
	preq.Token = boot.SecretID
	if err := s.RPC("ACL.PolicySet", preq, &pol); err != nil {
		t.Fatal(err)
	}
	f := &aclRPCFixture{s: s, mgmt: boot.SecretID}
	treq := &structs.ACLTokenSetRequest{Create: true, ACLToken: structs.ACLToken{Policies: []structs.ACLLink{{ID: pol.ID}}}}
	treq.Token = boot.SecretID
	if err := s.RPC("ACL.TokenSet", treq, &f.app); err != nil {
		t.Fatal(err)
	}
	f.foreign = dialForeign(t, s)
	// Seed with the management token: two nodes, two services, keys.
	for _, r := range []*structs.RegisterRequest{
		{Node: "n1", Address: "10.0.0.1", Service: &structs.NodeService{Service: "web", Port: 80}},
		{Node: "n2", Address: "10.0.0.2", Service: &structs.NodeService{Service: "db", Port: 5432}},
	} {
		r.Token = f.mgmt
		if err := f.foreign.call(t, "Catalog.Register", r, &struct{}{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []string{"app/a", "app/b", "other/z"} {
		kreq := &structs.KVSRequest{Op: structs.KVSSet, DirEnt: structs.DirEntry{Key: k, Value: []byte("v")}}
		kreq.Token = f.mgmt
		var ok bool
		if err := f.foreign.call(t, "KVS.Apply", kreq, &ok); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func TestRPCACLRefusesWithoutToken(t *testing.T) {
	f := newACLRPCFixture(t)
	anonDenied := func(perm, name string) string {
		return fmt.Sprintf("Permission denied: anonymous token lacks permission '%s' on %q. The anonymous token is used implicitly when a request does not specify a token.", perm, name)
	}
	appDenied := func(perm, name string) string {
		return fmt.Sprintf("Permission denied: token with AccessorID '%s' lacks permission '%s' on %q", f.app.AccessorID, perm, name)
	}
	var ok bool
	// Writes: anonymous and out of the token's rules are refused, with
	// Consul's sentence, and nothing is written.
	for _, tc := range []struct{ token, key, want string }{
		{"", "app/x", anonDenied("key:write", "app/x")},
		{f.app.SecretID, "other/z", appDenied("key:write", "other/z")},
		{"b16b00b5-0000-4000-8000-000000000000", "app/x", "ACL not found"},
	} {
		req := &structs.KVSRequest{Op: structs.KVSSet, DirEnt: structs.DirEntry{Key: tc.key, Value: []byte("evil")}}
		req.Token = tc.token
		err := f.foreign.call(t, "KVS.Apply", req, &ok)
		if err == nil || err.Error() != tc.want {
			t.Errorf("KVS.Apply %s: got %v, want %q", tc.key, err, tc.want)
		}
	}
	if _, e, _ := f.s.fsm.State().KVSGet(nil, "app/x"); e != nil {
		t.Error("a refused write was applied")
	}
	if _, e, _ := f.s.fsm.State().KVSGet(nil, "other/z"); e == nil || string(e.Value) != "v" {
		t.Errorf("other/z after a refused write: %+v", e)
	}
	// The good token writes.
	req := &structs.KVSRequest{Op: structs.KVSSet, DirEnt: structs.DirEntry{Key: "app/x", Value: []byte("good")}}
	req.Token = f.app.SecretID
	if err := f.foreign.call(t, "KVS.Apply", req, &ok); err != nil || !ok {
		t.Fatalf("app token write: %v %v", ok, err)
	}
	// A delete of a tree holding keys the token may not write is refused.
	dreq := &structs.KVSRequest{Op: structs.KVSDeleteTree, DirEnt: structs.DirEntry{Key: ""}}
	dreq.Token = f.app.SecretID
	if err := f.foreign.call(t, "KVS.Apply", dreq, &ok); err == nil || !strings.HasPrefix(err.Error(), "Permission denied") {
		t.Errorf("delete-tree of everything: %v", err)
	}

	// Catalog writes: anonymous registration refused, nothing written.
	reg := &structs.RegisterRequest{Node: "evil", Address: "10.6.6.6", Service: &structs.NodeService{Service: "web"}}
	if err := f.foreign.call(t, "Catalog.Register", reg, &struct{}{}); err == nil || err.Error() != anonDenied("node:write", "evil") {
		t.Errorf("anonymous register: %v", err)
	}
	dereg := &structs.DeregisterRequest{Node: "n2"}
	dereg.Token = f.app.SecretID
	if err := f.foreign.call(t, "Catalog.Deregister", dereg, &struct{}{}); err == nil || err.Error() != appDenied("node:write", "n2") {
		t.Errorf("app deregister: %v", err)
	}
	if _, n, _ := f.s.fsm.State().GetNode(nil, "evil"); n != nil {
		t.Error("a refused registration was applied")
	}
	// Operator and keyring need their own permission.
	if err := f.foreign.call(t, "Operator.RaftGetConfiguration", &structs.DCSpecificRequest{}, &structs.RaftConfigurationResponse{}); err == nil ||
		!strings.HasPrefix(err.Error(), "Permission denied: anonymous token lacks permission 'operator:read'") {
		t.Errorf("anonymous raft configuration: %v", err)
	}
	kr := &structs.KeyringRequest{Operation: structs.KeyringList}
	kr.Token = f.app.SecretID
	if err := f.foreign.call(t, "Operator.KeyringOperation", kr, &structs.KeyringResponses{}); err == nil ||
		err.Error() != fmt.Sprintf("Permission denied: token with AccessorID '%s' lacks permission 'keyring:read'", f.app.AccessorID) {
		t.Errorf("app keyring list: %v", err)
	}
	kr.Token = f.mgmt
	// Past the check, the server says it has no keyring.
	if err := f.foreign.call(t, "Operator.KeyringOperation", kr, &structs.KeyringResponses{}); err == nil || strings.HasPrefix(err.Error(), "Permission denied") {
		t.Errorf("management keyring list: %v", err)
	}
	// Reads of one thing: refused without the permission.
	get := &structs.KeyRequest{Key: "other/z"}
	get.Token = f.app.SecretID
	if err := f.foreign.call(t, "KVS.Get", get, &structs.IndexedDirEntries{}); err != nil {
		// key:read on other/z: default deny.
		if err.Error() != appDenied("key:read", "other/z") {
			t.Errorf("app read other/z: %v", err)
		}
	} else {
		t.Error("app read other/z: allowed")
	}
	sn := &structs.ServiceSpecificRequest{ServiceName: "db"}
	sn.Token = f.app.SecretID
	if err := f.foreign.call(t, "Health.ServiceNodes", sn, &structs.IndexedCheckServiceNodes{}); err == nil || err.Error() != appDenied("service:read", "db") {
		t.Errorf("app health of db: %v", err)
	}
	// Sessions: on the token's nodes only.
	sreq := &structs.SessionRequest{Op: structs.SessionCreate, Session: structs.Session{Node: "n2"}}
	sreq.Token = f.app.SecretID
	var sid string
	if err := f.foreign.call(t, "Session.Apply", sreq, &sid); err == nil || err.Error() != appDenied("session:write", "n2") {
		t.Errorf("app session on n2: %v", err)
	}
	// Public methods need nothing.
	var leader string
	if err := f.foreign.call(t, "Status.Leader", &structs.StatusRequest{}, &leader); err != nil || leader == "" {
		t.Errorf("anonymous Status.Leader: %q %v", leader, err)
	}
}

func TestRPCACLFiltersLists(t *testing.T) {
	f := newACLRPCFixture(t)
	// Anonymous: nothing to see, and the answer says it was filtered.
	var nodes structs.IndexedNodes
	if err := f.foreign.call(t, "Catalog.ListNodes", &structs.DCSpecificRequest{}, &nodes); err != nil {
		t.Fatal(err)
	}
	if len(nodes.Nodes) != 0 || !nodes.ResultsFilteredByACLs {
		t.Errorf("anonymous nodes: %d, filtered %v", len(nodes.Nodes), nodes.ResultsFilteredByACLs)
	}
	app := func() structs.QueryOptions { return structs.QueryOptions{Token: f.app.SecretID} }
	var svcs structs.IndexedServices
	if err := f.foreign.call(t, "Catalog.ListServices", &structs.DCSpecificRequest{QueryOptions: app()}, &svcs); err != nil {
		t.Fatal(err)
	}
	if _, ok := svcs.Services["web"]; !ok || len(svcs.Services) != 1 || !svcs.ResultsFilteredByACLs {
		t.Errorf("app services: %v, filtered %v", svcs.Services, svcs.ResultsFilteredByACLs)
	}
	nodes = structs.IndexedNodes{}
	if err := f.foreign.call(t, "Catalog.ListNodes", &structs.DCSpecificRequest{QueryOptions: app()}, &nodes); err != nil {
		t.Fatal(err)
	}
	// node_prefix "" read: every node (the server's own too), unfiltered.
	if len(nodes.Nodes) < 2 || nodes.ResultsFilteredByACLs {
		t.Errorf("app nodes: %d, filtered %v", len(nodes.Nodes), nodes.ResultsFilteredByACLs)
	}
	var ns structs.IndexedNodeServices
	if err := f.foreign.call(t, "Catalog.NodeServices", &structs.NodeSpecificRequest{Node: "n2", QueryOptions: app()}, &ns); err != nil {
		t.Fatal(err)
	}
	if ns.NodeServices == nil || len(ns.NodeServices.Services) != 0 || !ns.ResultsFilteredByACLs {
		t.Errorf("app services of n2: %+v", ns.NodeServices)
	}
	var keys structs.IndexedKeyList
	if err := f.foreign.call(t, "KVS.ListKeys", &structs.KeyListRequest{Prefix: "app/", QueryOptions: app()}, &keys); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(keys.Keys, []string{"app/a", "app/b"}) || keys.ResultsFilteredByACLs {
		t.Errorf("app keys under app/: %v", keys.Keys)
	}
	// Listing everything needs key:list on "": refused.
	if err := f.foreign.call(t, "KVS.List", &structs.KeyRequest{Key: "", QueryOptions: app()}, &structs.IndexedDirEntries{}); err == nil ||
		!strings.HasPrefix(err.Error(), "Permission denied") {
		t.Errorf("app list of everything: %v", err)
	}
	// With list on "" but read on app/ only, other/z is left out.
	lt := f.listToken(t, `key_prefix "" { policy = "list" } key_prefix "other/" { policy = "deny" }`)
	var ents structs.IndexedDirEntries
	if err := f.foreign.call(t, "KVS.List", &structs.KeyRequest{Key: "", QueryOptions: structs.QueryOptions{Token: lt}}, &ents); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents.Entries {
		got = append(got, e.Key)
	}
	if !slices.Equal(got, []string{"app/a", "app/b"}) || !ents.ResultsFilteredByACLs {
		t.Errorf("list with other/ denied: %v, filtered %v", got, ents.ResultsFilteredByACLs)
	}
	// Health lists are filtered by node and service.
	var checks structs.IndexedHealthChecks
	if err := f.foreign.call(t, "Health.ChecksInState", &structs.ChecksInStateRequest{State: structs.HealthAny, QueryOptions: app()}, &checks); err != nil {
		t.Fatal(err)
	}
	for _, c := range checks.HealthChecks {
		if c.ServiceName == "db" {
			t.Errorf("a check of db reached the app token: %+v", c)
		}
	}
	// The management token sees everything, unfiltered.
	svcs = structs.IndexedServices{}
	if err := f.foreign.call(t, "Catalog.ListServices", &structs.DCSpecificRequest{QueryOptions: structs.QueryOptions{Token: f.mgmt}}, &svcs); err != nil {
		t.Fatal(err)
	}
	if _, ok := svcs.Services["db"]; !ok || svcs.ResultsFilteredByACLs {
		t.Errorf("management services: %v", svcs.Services)
	}
}

// listToken creates a token with rules and returns its secret.
func (f *aclRPCFixture) listToken(t testing.TB, rules string) string {
	t.Helper()
	var pol structs.ACLPolicy
	preq := &structs.ACLPolicySetRequest{Policy: structs.ACLPolicy{Name: fmt.Sprintf("p%d", len(rules)), Rules: rules}}
	preq.Token = f.mgmt
	if err := f.s.RPC("ACL.PolicySet", preq, &pol); err != nil {
		t.Fatal(err)
	}
	var tok structs.ACLToken
	treq := &structs.ACLTokenSetRequest{Create: true, ACLToken: structs.ACLToken{Policies: []structs.ACLLink{{ID: pol.ID}}}}
	treq.Token = f.mgmt
	if err := f.s.RPC("ACL.TokenSet", treq, &tok); err != nil {
		t.Fatal(err)
	}
	return tok.SecretID
}

// TestRPCACLForwardedCarriesToken: a request sent to a follower, or to
// a server of another datacenter, is checked where it is answered, with
// the token it carries.
func TestRPCACLForwardedCarriesToken(t *testing.T) {
	var servers []*Server
	for i := 0; i < 3; i++ {
		cfg := testConfig(t, "dc1")
		cfg.BootstrapExpect = 3
		cfg.ACL = ACLConfig{Enabled: true, PrimaryDatacenter: "dc1", DefaultPolicy: acl.PolicyDeny}
		servers = append(servers, startServer(t, cfg))
	}
	for _, s := range servers[1:] {
		if _, err := s.JoinLAN([]string{lanAddr(servers[0])}); err != nil {
			t.Fatal(err)
		}
	}
	leader := waitForLeader(t, servers)
	var follower *Server
	for _, s := range servers {
		if s != leader {
			follower = s
		}
	}
	dc2 := startACLServer(t, "dc2", nil)
	joinWAN(t, dc2, leader)
	waitWANMembers(t, dc2, 4)

	var boot structs.ACLToken
	waitFor(t, "bootstrap", 10e9, func() error { return leader.RPC("ACL.Bootstrap", &structs.ACLBootstrapRequest{}, &boot) })
	f := &aclRPCFixture{s: leader, mgmt: boot.SecretID}
	secret := f.listToken(t, `key_prefix "app/" { policy = "write" }`)

	var ok bool
	for _, tc := range []struct {
		name string
		to   *Server
		dc   string
	}{{"follower", follower, ""}, {"dc2 for dc1", dc2, "dc1"}} {
		c := dialForeign(t, tc.to)
		req := &structs.KVSRequest{Datacenter: tc.dc, Op: structs.KVSSet, DirEnt: structs.DirEntry{Key: "app/" + tc.name, Value: []byte("v")}}
		if err := c.call(t, "KVS.Apply", req, &ok); err == nil || !strings.HasPrefix(err.Error(), "Permission denied: anonymous token lacks permission 'key:write'") {
			t.Errorf("%s, anonymous: %v", tc.name, err)
		}
		req.Token = secret
		// A follower may not have applied the token yet: it does not
		// resolve it, the leader does.
		if err := c.call(t, "KVS.Apply", req, &ok); err != nil || !ok {
			t.Errorf("%s, with the token: %v %v", tc.name, ok, err)
		}
		if _, e, _ := leader.fsm.State().KVSGet(nil, "app/"+tc.name); e == nil {
			t.Errorf("%s: the write did not land in dc1", tc.name)
		}
	}
}

// TestACLExpiredTokensReaped: a token is refused as soon as its expiration
// time passes, and the leader deletes it soon after.
func TestACLExpiredTokensReaped(t *testing.T) {
	s := startACLServer(t, "dc1", func(c *Config) { c.ACL.TokenReapInterval = 50 * time.Millisecond })
	var boot structs.ACLToken
	waitFor(t, "bootstrap", 10e9, func() error { return s.RPC("ACL.Bootstrap", &structs.ACLBootstrapRequest{}, &boot) })
	// Written straight to Raft: the API refuses lifetimes under a minute.
	exp := time.Now().Add(time.Second)
	tok := &structs.ACLToken{AccessorID: "6b1d0c8e-0000-4000-8000-00000000e4b1", SecretID: "6b1d0c8e-0000-4000-8000-00000000e5ec",
		Policies: []structs.ACLLink{{ID: acl.GlobalManagementPolicyID}}, ExpirationTime: &exp, CreateTime: time.Now()}
	tok.SetHash()
	if _, err := s.raftApply(structs.ACLTokenSetRequestType, &structs.ACLTokenBatchSetRequest{Tokens: structs.ACLTokens{tok}}); err != nil {
		t.Fatal(err)
	}
	req := &structs.KVSRequest{Op: structs.KVSSet, DirEnt: structs.DirEntry{Key: "k", Value: []byte("v")}}
	req.Token = tok.SecretID
	var ok bool
	if err := s.RPC("KVS.Apply", req, &ok); err != nil {
		t.Fatalf("before it expires: %v", err)
	}
	if _, got, _ := s.fsm.State().ACLTokenGetByAccessor(nil, tok.AccessorID); got == nil {
		t.Fatal("the token was reaped before it expired")
	}
	time.Sleep(time.Until(exp))
	if err := s.RPC("KVS.Apply", req, &ok); err == nil || err.Error() != "ACL not found" {
		t.Errorf("once expired: %v, want ACL not found", err)
	}
	waitFor(t, "the expired token deleted", 10*time.Second, func() error {
		if _, got, _ := s.fsm.State().ACLTokenGetByAccessor(nil, tok.AccessorID); got != nil {
			return errors.New("still there")
		}
		return nil
	})
	// The bootstrap token, which never expires, stays.
	if _, got, _ := s.fsm.State().ACLTokenGetByAccessor(nil, boot.AccessorID); got == nil {
		t.Error("the reaper deleted a token without an expiration time")
	}
}

// TestRPCACLTxnCatalogOps: a transaction's catalog operations need what
// their RPCs need, checked on the server port too.
func TestRPCACLTxnCatalogOps(t *testing.T) {
	f := newACLRPCFixture(t)
	for _, tc := range []struct {
		op   *structs.TxnOp
		want string
	}{
		{&structs.TxnOp{Node: &structs.TxnNodeOp{Verb: "set", Node: structs.Node{Node: "evil", Address: "10.6.6.6"}}}, "'node:write' on \"evil\""},
		{&structs.TxnOp{Service: &structs.TxnServiceOp{Verb: "set", Node: "n1", Service: structs.NodeService{ID: "db", Service: "db"}}}, "'service:write' on \"db\""},
		{&structs.TxnOp{Check: &structs.TxnCheckOp{Verb: "set", Check: structs.HealthCheck{Node: "n1", CheckID: "c", Name: "c"}}}, "'node:write' on \"n1\""},
	} {
		req := &structs.TxnRequest{Ops: structs.TxnOps{tc.op}}
		req.Token = f.app.SecretID
		err := f.foreign.call(t, "Txn.Apply", req, &structs.TxnResponse{})
		if err == nil || !strings.HasPrefix(err.Error(), "Permission denied") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("txn %+v: %v, want a refusal naming %s", tc.op, err, tc.want)
		}
	}
	if _, n, _ := f.s.fsm.State().GetNode(nil, "evil"); n != nil {
		t.Error("a refused transaction wrote a node")
	}
}
