package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/meridian-sd/meridian/version"
)

// testProxyRegistration is a connect-proxy registration with every opaque
// field set, as a mesh tool would send it.
func testProxyRegistration() *api.AgentServiceRegistration {
	return &api.AgentServiceRegistration{
		Kind: api.ServiceKindConnectProxy, ID: "web-proxy", Name: "web-sidecar-proxy", Port: 21000,
		Address:           "127.0.0.1",
		Tags:              []string{"proxy", "v2"},
		Meta:              map[string]string{"team": "edge"},
		SocketPath:        "/run/web.sock",
		EnableTagOverride: true,
		Weights:           &api.AgentWeights{Passing: 3, Warning: 2},
		TaggedAddresses:   map[string]api.ServiceAddress{"lan_ipv4": {Address: "127.0.0.1", Port: 21000}},
		Ports:             api.ServicePorts{{Name: "http", Port: 8080, Default: true}, {Name: "admin", Port: 9090}},
		Locality:          &api.Locality{Region: "eu-west-1", Zone: "eu-west-1a"},
		Proxy: &api.AgentServiceConnectProxyConfig{
			DestinationServiceName: "web", DestinationServiceID: "web1",
			LocalServiceAddress: "127.0.0.1", LocalServicePort: 8080, Mode: api.ProxyModeTransparent,
			Config: map[string]interface{}{"protocol": "http", "envoy_stats_bind_addr": "0.0.0.0:9102"},
			Upstreams: []api.Upstream{{
				DestinationType: api.UpstreamDestTypeService, DestinationName: "db", Datacenter: "dc2",
				LocalBindAddress: "127.0.0.1", LocalBindPort: 9191,
				Config:      map[string]interface{}{"connect_timeout_ms": float64(1000)},
				MeshGateway: api.MeshGatewayConfig{Mode: api.MeshGatewayModeRemote},
			}},
			MeshGateway:      api.MeshGatewayConfig{Mode: api.MeshGatewayModeLocal},
			TransparentProxy: &api.TransparentProxyConfig{OutboundListenerPort: 15001, DialedDirectly: true},
			Expose:           api.ExposeConfig{Paths: []api.ExposePath{{Path: "/metrics", LocalPathPort: 8080, ListenerPort: 21500, Protocol: "http"}}},
		},
		Connect: &api.AgentServiceConnect{SidecarService: &api.AgentServiceRegistration{Port: 21001}},
	}
}

// checkProxyService compares a read-back service with the registration,
// field for field.
func checkProxyService(t *testing.T, where string, got *api.AgentService, reg *api.AgentServiceRegistration) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: no service", where)
	}
	if got.Kind != reg.Kind || got.ID != reg.ID || got.Service != reg.Name || got.Port != reg.Port ||
		got.Address != reg.Address || got.SocketPath != reg.SocketPath || got.EnableTagOverride != reg.EnableTagOverride {
		t.Errorf("%s: scalar fields differ: %+v", where, got)
	}
	if !reflect.DeepEqual(got.Tags, reg.Tags) || !reflect.DeepEqual(got.Meta, reg.Meta) {
		t.Errorf("%s: tags %v meta %v", where, got.Tags, got.Meta)
	}
	if got.Weights != *reg.Weights {
		t.Errorf("%s: weights %+v, want %+v", where, got.Weights, *reg.Weights)
	}
	if !reflect.DeepEqual(got.TaggedAddresses, reg.TaggedAddresses) {
		t.Errorf("%s: tagged addresses %+v", where, got.TaggedAddresses)
	}
	if !reflect.DeepEqual(got.Ports, reg.Ports) {
		t.Errorf("%s: ports %+v, want %+v", where, got.Ports, reg.Ports)
	}
	if !reflect.DeepEqual(got.Locality, reg.Locality) {
		t.Errorf("%s: locality %+v, want %+v", where, got.Locality, reg.Locality)
	}
	if !reflect.DeepEqual(got.Proxy, reg.Proxy) {
		t.Errorf("%s: proxy\n got %+v\nwant %+v", where, got.Proxy, reg.Proxy)
	}
	if !reflect.DeepEqual(got.Connect, reg.Connect) {
		t.Errorf("%s: connect %+v, want %+v", where, got.Connect, reg.Connect)
	}
}

// TestConnectProxyRegistrationReadsBack registers a connect-proxy with
// every opaque field through the official client and reads it back field
// for field from the agent, catalog and health endpoints.
func TestConnectProxyRegistrationReadsBack(t *testing.T) {
	ta := StartTestAgent(t, "-server", "-bootstrap")
	ta.WaitForLeader(t)
	reg := testProxyRegistration()
	if err := ta.Client.Agent().ServiceRegister(reg); err != nil {
		t.Fatal(err)
	}
	svc, _, err := ta.Client.Agent().Service(reg.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkProxyService(t, "agent service", svc, reg)
	if svc.ContentHash == "" {
		t.Error("agent service: no ContentHash")
	}
	all, err := ta.Client.Agent().Services()
	if err != nil {
		t.Fatal(err)
	}
	checkProxyService(t, "agent services", all[reg.ID], reg)

	var entries []*api.ServiceEntry
	WaitFor(t, "the proxy in the catalog", 10*time.Second, func() error {
		entries, _, err = ta.Client.Health().Service(reg.Name, "", false, nil)
		if err != nil {
			return err
		}
		if len(entries) != 1 {
			return errors.New("not in the catalog yet")
		}
		return nil
	})
	checkProxyService(t, "health service", entries[0].Service, reg)

	node, _, err := ta.Client.Catalog().Node(ta.Name, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkProxyService(t, "catalog node", node.Services[reg.ID], reg)

	cs, _, err := ta.Client.Catalog().Service(reg.Name, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 {
		t.Fatalf("catalog service: %d entries", len(cs))
	}
	if !reflect.DeepEqual(cs[0].ServiceProxy, reg.Proxy) || !reflect.DeepEqual(cs[0].ServiceLocality, reg.Locality) ||
		!reflect.DeepEqual(cs[0].ServiceTaggedAddresses, reg.TaggedAddresses) || cs[0].ServiceWeights != (api.Weights{Passing: reg.Weights.Passing, Warning: reg.Weights.Warning}) ||
		!cs[0].ServiceEnableTagOverride {
		t.Errorf("catalog service: %+v", cs[0])
	}
	// The stored fields can be filtered on, as in Consul.
	filtered, err := ta.Client.Agent().ServicesWithFilter(`Kind == "connect-proxy" and Port == 21000`)
	if err != nil || len(filtered) != 1 {
		t.Errorf("agent services filtered by kind = %v, %v", filtered, err)
	}
	hf, _, err := ta.Client.Health().Service(reg.Name, "", false, &api.QueryOptions{Filter: `Service.Kind == "connect-proxy"`})
	if err != nil || len(hf) != 1 {
		t.Errorf("health service filtered by kind = %v, %v", hf, err)
	}
	// The fields the client's CatalogService lacks are on the wire too.
	_, body := do(t, ta, "GET", "/v1/catalog/service/"+reg.Name, "")
	var raw []map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &raw); err != nil {
		t.Fatal(err)
	}
	if len(raw) != 1 || string(raw[0]["ServiceKind"]) != `"connect-proxy"` || string(raw[0]["ServiceSocketPath"]) != `"/run/web.sock"` ||
		!strings.Contains(string(raw[0]["ServiceConnect"]), `"SidecarService"`) || len(raw[0]["ServicePorts"]) == 0 {
		t.Errorf("catalog service on the wire: %s", body)
	}
}

// TestAgentServiceHashBlocking: /v1/agent/service/<id>?hash= blocks until
// the service changes, and answers the same hash when the wait runs out.
func TestAgentServiceHashBlocking(t *testing.T) {
	ta := StartTestAgent(t, "-server", "-bootstrap")
	ag := ta.Client.Agent()
	reg := &api.AgentServiceRegistration{ID: "web1", Name: "web", Port: 80, Tags: []string{"v1"}}
	if err := ag.ServiceRegister(reg); err != nil {
		t.Fatal(err)
	}
	svc, meta, err := ag.Service("web1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if meta.LastContentHash == "" || meta.LastContentHash != svc.ContentHash {
		t.Fatalf("header hash %q, body hash %q", meta.LastContentHash, svc.ContentHash)
	}
	hash := svc.ContentHash

	// Nothing changes: the wait runs out and the same hash comes back.
	_, meta, err = ag.Service("web1", &api.QueryOptions{WaitHash: hash, WaitTime: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if meta.LastContentHash != hash {
		t.Errorf("after an idle wait the hash is %q, want %q", meta.LastContentHash, hash)
	}

	type result struct {
		svc *api.AgentService
		err error
	}
	done := make(chan result, 1)
	go func() {
		s, _, err := ag.Service("web1", &api.QueryOptions{WaitHash: hash, WaitTime: time.Minute})
		done <- result{s, err}
	}()
	// The query is blocked until the change below.
	select {
	case r := <-done:
		t.Fatalf("blocking query answered before any change: %+v, %v", r.svc, r.err)
	case <-time.After(100 * time.Millisecond):
	}
	reg.Tags = []string{"v2"}
	if err := ag.ServiceRegister(reg); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatal(r.err)
		}
		if r.svc.ContentHash == hash || !reflect.DeepEqual(r.svc.Tags, []string{"v2"}) {
			t.Errorf("woken with hash %q tags %v, want a new hash and [v2]", r.svc.ContentHash, r.svc.Tags)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("blocking query not woken by the change")
	}
}

// TestNodeTaggedAddressesAndMeta: the agent registers its node with the
// tagged addresses and meta Consul's agent fills in.
func TestNodeTaggedAddressesAndMeta(t *testing.T) {
	ta := StartTestAgent(t, "-server", "-bootstrap")
	ta.WaitForLeader(t)
	want := map[string]string{"lan": "127.0.0.1", "lan_ipv4": "127.0.0.1", "wan": "127.0.0.1", "wan_ipv4": "127.0.0.1"}
	WaitFor(t, "the node's tagged addresses", 10*time.Second, func() error {
		n, _, err := ta.Client.Catalog().Node(ta.Name, nil)
		if err != nil {
			return err
		}
		if n == nil || n.Node == nil {
			return errors.New("no node yet")
		}
		if !reflect.DeepEqual(n.Node.TaggedAddresses, want) {
			return fmt.Errorf("tagged addresses %v, want %v", n.Node.TaggedAddresses, want)
		}
		if v, ok := n.Node.Meta["consul-network-segment"]; !ok || v != "" {
			return fmt.Errorf("meta %v lacks consul-network-segment \"\"", n.Node.Meta)
		}
		if n.Node.Meta["consul-version"] != version.Version {
			return fmt.Errorf("meta %v, want consul-version %s", n.Node.Meta, version.Version)
		}
		return nil
	})
	self, err := ta.Client.Agent().Self()
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := self["Meta"]; !ok || m["consul-version"] != version.Version {
		t.Errorf("agent self Meta = %v", self["Meta"])
	}
}

// TestCatalogRegisterOpaqueFields: the opaque fields registered through
// /v1/catalog/register read back unchanged; a Proxy that is not an object
// is refused.
func TestCatalogRegisterOpaqueFields(t *testing.T) {
	ta := StartTestAgent(t, "-server", "-bootstrap")
	ta.WaitForLeader(t)
	p := testProxyRegistration()
	svc := &api.AgentService{Kind: p.Kind, ID: p.ID, Service: p.Name, Port: p.Port, Proxy: p.Proxy, Connect: p.Connect,
		Ports: p.Ports, SocketPath: p.SocketPath, Locality: p.Locality, Weights: api.AgentWeights{Passing: 1, Warning: 1}}
	if _, err := ta.Client.Catalog().Register(&api.CatalogRegistration{Node: "ext1", Address: "127.0.0.9", Service: svc}, nil); err != nil {
		t.Fatal(err)
	}
	node, _, err := ta.Client.Catalog().Node("ext1", nil)
	if err != nil {
		t.Fatal(err)
	}
	got := node.Services[p.ID]
	if got == nil || got.Kind != p.Kind || !reflect.DeepEqual(got.Proxy, p.Proxy) || !reflect.DeepEqual(got.Connect, p.Connect) ||
		!reflect.DeepEqual(got.Ports, p.Ports) || got.SocketPath != p.SocketPath || !reflect.DeepEqual(got.Locality, p.Locality) {
		t.Errorf("catalog node service = %+v", got)
	}
	code, body := do(t, ta, "PUT", "/v1/catalog/register", `{"Node":"ext2","Address":"127.0.0.9","Service":{"Service":"x","Proxy":[1]}}`)
	if code != 400 || !strings.Contains(body, "Proxy must be a JSON object") {
		t.Errorf("a list as Proxy: %d %s", code, body)
	}
	code, body = do(t, ta, "PUT", "/v1/catalog/register", `{"Node":"ext2","Address":"127.0.0.9","Service":{"Service":"x","Kind":"bogus"}}`)
	if code != 400 || !strings.Contains(body, "invalid service kind") {
		t.Errorf("a bogus kind: %d %s", code, body)
	}
}
