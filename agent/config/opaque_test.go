package config

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/consul/api"

	"github.com/meridian-sd/meridian/structs"
)

// proxyRegistration is a connect-proxy registration as the official client
// sends it.
func proxyRegistration() *api.AgentServiceRegistration {
	return &api.AgentServiceRegistration{
		Kind: api.ServiceKindConnectProxy, ID: "web-proxy", Name: "web-sidecar-proxy", Port: 21000,
		SocketPath: "/run/web.sock",
		Ports:      api.ServicePorts{{Name: "http", Port: 8080, Default: true}, {Name: "admin", Port: 9090}},
		Locality:   &api.Locality{Region: "eu-west-1", Zone: "eu-west-1a"},
		Proxy: &api.AgentServiceConnectProxyConfig{
			DestinationServiceName: "web", DestinationServiceID: "web1",
			LocalServiceAddress: "127.0.0.1", LocalServicePort: 8080, Mode: api.ProxyModeTransparent,
			Config: map[string]interface{}{"protocol": "http", "envoy_stats_bind_addr": "0.0.0.0:9102"},
			Upstreams: []api.Upstream{{
				DestinationName: "db", Datacenter: "dc2", LocalBindPort: 9191,
				Config: map[string]interface{}{"connect_timeout_ms": float64(1000)},
			}},
			MeshGateway:      api.MeshGatewayConfig{Mode: api.MeshGatewayModeLocal},
			TransparentProxy: &api.TransparentProxyConfig{OutboundListenerPort: 15001, DialedDirectly: true},
			Expose:           api.ExposeConfig{Paths: []api.ExposePath{{Path: "/metrics", LocalPathPort: 8080, ListenerPort: 21500, Protocol: "http"}}},
		},
		Connect: &api.AgentServiceConnect{Native: false, SidecarService: &api.AgentServiceRegistration{Port: 21001}},
	}
}

func TestParseServiceDefinitionOpaqueFieldsFromAPIClient(t *testing.T) {
	reg := proxyRegistration()
	body, err := json.Marshal(reg)
	if err != nil {
		t.Fatal(err)
	}
	def, warnings, err := ParseServiceDefinition(body)
	if err != nil {
		t.Fatalf("ParseServiceDefinition(%s): %v", body, err)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings = %q, want none", warnings)
	}
	if def.Kind != "connect-proxy" || def.SocketPath != "/run/web.sock" {
		t.Errorf("kind %q socket path %q", def.Kind, def.SocketPath)
	}
	wantPorts := []structs.ServicePort{{Name: "http", Port: 8080, Default: true}, {Name: "admin", Port: 9090}}
	if !reflect.DeepEqual(def.Ports, wantPorts) {
		t.Errorf("ports = %+v, want %+v", def.Ports, wantPorts)
	}
	if def.Locality == nil || *def.Locality != (structs.Locality{Region: "eu-west-1", Zone: "eu-west-1a"}) {
		t.Errorf("locality = %+v", def.Locality)
	}
	var proxy api.AgentServiceConnectProxyConfig
	if err := json.Unmarshal(def.Proxy, &proxy); err != nil {
		t.Fatalf("stored proxy %s: %v", def.Proxy, err)
	}
	if !reflect.DeepEqual(&proxy, reg.Proxy) {
		t.Errorf("proxy round trip:\n got %+v\nwant %+v", proxy, *reg.Proxy)
	}
	var conn api.AgentServiceConnect
	if err := json.Unmarshal(def.Connect, &conn); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&conn, reg.Connect) {
		t.Errorf("connect round trip: got %+v, want %+v", conn, *reg.Connect)
	}
}

// TestServiceFileOpaqueFieldsSnakeCase: a config file's proxy block in HCL
// is stored with the API's CamelCase keys, one upstream block still a
// list, and the keys of proxy config as written.
func TestServiceFileOpaqueFieldsSnakeCase(t *testing.T) {
	dir := writeFiles(t, map[string]string{"proxy.hcl": `
service {
  kind = "connect-proxy"
  name = "web-sidecar-proxy"
  port = 21000
  locality { region = "r1" zone = "z1" }
  ports = [{ name = "http", port = 8080, default = true }]
  proxy {
    destination_service_name = "web"
    destination_service_id = "web1"
    local_service_port = 8080
    config { envoy_prometheus_bind_addr = "0.0.0.0:9102" }
    upstreams {
      destination_name = "db"
      local_bind_port = 9191
      config { connect_timeout_ms = 1000 }
    }
    mesh_gateway { mode = "local" }
  }
  connect { native = true }
}`})
	defs, warnings, err := ReadServiceFile(filepath.Join(dir, "proxy.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 || len(defs) != 1 {
		t.Fatalf("defs %d warnings %q", len(defs), warnings)
	}
	def := defs[0]
	var proxy api.AgentServiceConnectProxyConfig
	if err := json.Unmarshal(def.Proxy, &proxy); err != nil {
		t.Fatal(err)
	}
	if proxy.DestinationServiceName != "web" || proxy.DestinationServiceID != "web1" || proxy.LocalServicePort != 8080 ||
		proxy.MeshGateway.Mode != api.MeshGatewayModeLocal {
		t.Errorf("proxy = %s", def.Proxy)
	}
	if len(proxy.Upstreams) != 1 || proxy.Upstreams[0].DestinationName != "db" || proxy.Upstreams[0].LocalBindPort != 9191 {
		t.Errorf("upstreams = %s", def.Proxy)
	}
	if proxy.Config["envoy_prometheus_bind_addr"] != "0.0.0.0:9102" || proxy.Upstreams[0].Config["connect_timeout_ms"] == nil {
		t.Errorf("config keys rewritten: %s", def.Proxy)
	}
	if string(def.Connect) != `{"Native":true}` {
		t.Errorf("connect = %s", def.Connect)
	}
	if def.Locality == nil || def.Locality.Region != "r1" || len(def.Ports) != 1 || def.Ports[0].Name != "http" {
		t.Errorf("locality %+v ports %+v", def.Locality, def.Ports)
	}
}

func TestServiceDefinitionOpaqueFieldErrors(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{`{"Name": "a", "Kind": "sidecar"}`, `"sidecar" is not a service kind`},
		{`{"Name": "a", "Proxy": "x"}`, "proxy: want a block of keys"},
		{`{"Name": "a", "Ports": [{"Name": "", "Port": 1}]}`, "a port needs a name"},
		{`{"Name": "a", "Ports": [{"Name": "a", "Port": 1, "Default": true}, {"Name": "b", "Port": 2, "Default": true}]}`, "only one port may be the default"},
		{`{"Name": "a", "Proxy": {"Config": {"x": "` + strings.Repeat("x", structs.MaxOpaqueLen) + `"}}}`, "larger than the"},
	} {
		if _, _, err := ParseServiceDefinition([]byte(tc.body)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseServiceDefinition(%.80s) = %v, want %q", tc.body, err, tc.want)
		}
	}
}
