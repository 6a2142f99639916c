package config

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/meridian-sd/meridian/structs"
)

// webDefinition is the service the CamelCase and snake_case inputs below
// describe, normalised.
func webDefinition() ServiceDefinition {
	return ServiceDefinition{
		ID:                "web1",
		Name:              "web",
		Tags:              []string{"v1"},
		Address:           "127.0.0.60",
		Port:              8080,
		Meta:              map[string]string{"version": "1"},
		TaggedAddresses:   map[string]structs.ServiceAddress{"lan": {Address: "127.0.0.60", Port: 8080}},
		EnableTagOverride: true,
		Weights:           structs.Weights{Passing: 10, Warning: 1},
		Checks: []CheckDefinition{
			{
				ID: "c1", Name: "Service 'web' check", ServiceID: "web1",
				HTTP: "http://127.0.0.60:8080/health", Method: "GET", Header: map[string][]string{"X-A": {"b"}},
				TLSSkipVerify: true, Interval: 10 * time.Second, Timeout: time.Second,
				DeregisterCriticalServiceAfter: 90 * time.Minute, SuccessBeforePassing: 2, FailuresBeforeCritical: 3,
			},
			{
				ID: "service:web1:2", Name: "tcp", ServiceID: "web1", Notes: "port open",
				TCP: "127.0.0.60:8080", Interval: 5 * time.Second,
			},
			{
				ID: "service:web1:3", Name: "Service 'web' check", ServiceID: "web1",
				Args: []string{"/bin/true"}, Interval: 30 * time.Second, Status: "passing",
			},
		},
	}
}

func TestServiceDefinitionSpellings(t *testing.T) {
	camel := `{"service": {"ID": "web1", "Name": "web", "Tags": ["v1"], "Address": "127.0.0.60", "Port": 8080,
		"Meta": {"version": "1"}, "EnableTagOverride": true,
		"TaggedAddresses": {"lan": {"Address": "127.0.0.60", "Port": 8080}}, "Weights": {"Passing": 10},
		"Checks": [
			{"CheckID": "c1", "HTTP": "http://127.0.0.60:8080/health", "Method": "GET", "Header": {"X-A": ["b"]},
			 "TLSSkipVerify": true, "Interval": "10s", "Timeout": "1s", "DeregisterCriticalServiceAfter": "90m",
			 "SuccessBeforePassing": 2, "FailuresBeforeCritical": 3},
			{"Name": "tcp", "Notes": "port open", "TCP": "127.0.0.60:8080", "Interval": "5s"},
			{"ScriptArgs": ["/bin/true"], "Interval": "30s", "Status": "passing"}
		]}, "enable_local_script_checks": true, "data_dir": "/d"}`
	snake := `{"service": {"id": "web1", "name": "web", "tags": ["v1"], "address": "127.0.0.60", "port": 8080,
		"meta": {"version": "1"}, "enable_tag_override": true,
		"tagged_addresses": {"lan": {"address": "127.0.0.60", "port": 8080}}, "weights": {"passing": 10},
		"checks": [
			{"id": "c1", "http": "http://127.0.0.60:8080/health", "method": "GET", "header": {"X-A": ["b"]},
			 "tls_skip_verify": true, "interval": "10s", "timeout": "1s", "deregister_critical_service_after": "90m",
			 "success_before_passing": 2, "failures_before_critical": 3},
			{"name": "tcp", "notes": "port open", "tcp": "127.0.0.60:8080", "interval": "5s"},
			{"args": ["/bin/true"], "interval": "30s", "status": "passing"}
		]}, "enable_local_script_checks": true, "data_dir": "/d"}`
	dir := writeFiles(t, map[string]string{"camel.json": camel, "snake.json": snake})
	want := []ServiceDefinition{webDefinition()}
	for _, name := range []string{"camel.json", "snake.json"} {
		rc, _ := mustLoad(t, "-config-file", filepath.Join(dir, name))
		if !reflect.DeepEqual(rc.Services, want) {
			t.Errorf("%s:\n got %+v\nwant %+v", name, rc.Services, want)
		}
	}
}

func TestNormalizeDefaults(t *testing.T) {
	s := ServiceDefinition{Name: "api", Checks: []CheckDefinition{{TTL: time.Second}}}
	s.Normalize()
	if s.ID != "api" || s.Weights != (structs.Weights{Passing: 1, Warning: 1}) {
		t.Errorf("ID, Weights = %q, %+v", s.ID, s.Weights)
	}
	c := s.Checks[0]
	if c.ID != "service:api" || c.Name != "Service 'api' check" || c.ServiceID != "api" {
		t.Errorf("single check = %+v, want ID service:api", c)
	}
	if err := s.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestDefinitionConversions(t *testing.T) {
	def := webDefinition()
	ns := def.NodeService()
	want := &structs.NodeService{
		ID: "web1", Service: "web", Tags: []string{"v1"}, Address: "127.0.0.60", Port: 8080,
		Meta:              map[string]string{"version": "1"},
		TaggedAddresses:   map[string]structs.ServiceAddress{"lan": {Address: "127.0.0.60", Port: 8080}},
		Weights:           structs.Weights{Passing: 10, Warning: 1},
		EnableTagOverride: true,
	}
	if !reflect.DeepEqual(ns, want) {
		t.Errorf("NodeService:\n got %+v\nwant %+v", ns, want)
	}
	ns.Tags[0], ns.Meta["version"] = "changed", "changed"
	if def.Tags[0] != "v1" || def.Meta["version"] != "1" {
		t.Errorf("NodeService shares its slices or maps with the definition")
	}

	hc := def.Checks[0].HealthCheck("node1")
	wantHC := &structs.HealthCheck{
		Node: "node1", CheckID: "c1", Name: "Service 'web' check", Status: structs.HealthCritical,
		ServiceID: "web1", Type: CheckTypeHTTP,
		Definition: structs.HealthCheckDefinition{
			HTTP: "http://127.0.0.60:8080/health", Method: "GET", Header: map[string][]string{"X-A": {"b"}},
			TLSSkipVerify: true, Interval: structs.Duration(10 * time.Second), Timeout: structs.Duration(time.Second),
			DeregisterCriticalServiceAfter: structs.Duration(90 * time.Minute),
		},
	}
	if !reflect.DeepEqual(hc, wantHC) {
		t.Errorf("HealthCheck:\n got %+v\nwant %+v", hc, wantHC)
	}
	for i, wantType := range []string{CheckTypeHTTP, CheckTypeTCP, CheckTypeScript} {
		if got := def.Checks[i].Type(); got != wantType {
			t.Errorf("check %d Type = %q, want %q", i, got, wantType)
		}
	}
	if got := def.Checks[2].HealthCheck("n").Status; got != structs.HealthPassing {
		t.Errorf("initial status = %q, want the definition's passing", got)
	}
	if got := (&CheckDefinition{TTL: time.Second}).Type(); got != CheckTypeTTL {
		t.Errorf("ttl check Type = %q", got)
	}
}

func TestLoadServiceFile(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"one.json":   `{"service": {"name": "web", "port": 80, "token": "t"}}`,
		"many.hcl":   "services {\n name = \"a\"\n}\nservices {\n name = \"b\"\n check { ttl = \"10s\" }\n}",
		"both.json":  `{"service": {"name": "a"}, "services": [{"name": "b"}]}`,
		"other.json": `{"service": {"name": "a"}, "datacenter": "dc1"}`,
		"none.json":  `{}`,
		"dup.json":   `{"services": [{"name": "a"}, {"id": "a", "name": "b"}]}`,
		"bad.json":   `{"service": {"port": 80}}`,
	})
	cases := []struct {
		file      string
		wantNames []string
		wantWarn  string
		wantErr   string
	}{
		{file: "one.json", wantNames: []string{"web"}, wantWarn: `key "service.token" is not supported`},
		{file: "many.hcl", wantNames: []string{"a", "b"}},
		{file: "both.json", wantNames: []string{"a", "b"}},
		{file: "other.json", wantErr: `unknown key "datacenter"`},
		{file: "none.json", wantErr: "no service or services defined"},
		{file: "dup.json", wantErr: `service ID "a" is defined twice`},
		{file: "bad.json", wantErr: "service: a service needs a name"},
		{file: "missing.json", wantErr: "no such file or directory"},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join(dir, tc.file)
			defs, warnings, err := ReadServiceFile(path)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), path) {
					t.Fatalf("err = %v, want one naming %s and containing %q", err, path, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, d := range defs {
				names = append(names, d.Name)
				if d.ID == "" || d.Weights.Passing != 1 {
					t.Errorf("definition %q not normalised: %+v", d.Name, d)
				}
			}
			if !reflect.DeepEqual(names, tc.wantNames) {
				t.Errorf("names = %v, want %v", names, tc.wantNames)
			}
			if tc.wantWarn != "" && !strings.Contains(strings.Join(warnings, "\n"), tc.wantWarn) {
				t.Errorf("warnings %q do not contain %q", warnings, tc.wantWarn)
			}
		})
	}
	defs, err := LoadServiceFile(filepath.Join(dir, "many.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	if c := defs[1].Checks[0]; c.ID != "service:b" || c.ServiceID != "b" || c.TTL != 10*time.Second {
		t.Errorf("check of b = %+v", c)
	}
}

// TestParseServiceDefinitionFromAPIClient feeds the JSON that the official
// Consul api client sends to /v1/agent/service/register.
func TestParseServiceDefinitionFromAPIClient(t *testing.T) {
	reg := &api.AgentServiceRegistration{
		ID: "web1", Name: "web", Tags: []string{"v1"}, Port: 8080, Address: "127.0.0.60",
		Meta:              map[string]string{"version": "1"},
		EnableTagOverride: true,
		TaggedAddresses:   map[string]api.ServiceAddress{"lan": {Address: "127.0.0.60", Port: 8080}},
		Weights:           &api.AgentWeights{Passing: 10, Warning: 1},
		Check: &api.AgentServiceCheck{
			CheckID: "c1", HTTP: "http://127.0.0.60:8080/health", Method: "GET", Header: map[string][]string{"X-A": {"b"}},
			TLSSkipVerify: true, Interval: "10s", Timeout: "1s", DeregisterCriticalServiceAfter: "90m",
			SuccessBeforePassing: 2, FailuresBeforeCritical: 3,
		},
		Checks: api.AgentServiceChecks{
			{Name: "tcp", Notes: "port open", TCP: "127.0.0.60:8080", Interval: "5s"},
			{Args: []string{"/bin/true"}, Interval: "30s", Status: "passing"},
		},
	}
	body, err := json.Marshal(reg)
	if err != nil {
		t.Fatal(err)
	}
	def, warnings, err := ParseServiceDefinition(body)
	if err != nil {
		t.Fatalf("ParseServiceDefinition(%s): %v", body, err)
	}
	if want := webDefinition(); !reflect.DeepEqual(*def, want) {
		t.Errorf("\n got %+v\nwant %+v", *def, want)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings = %q, want none", warnings)
	}

	reg.Namespace = "ns1"
	reg.Check = nil
	body, _ = json.Marshal(reg)
	_, warnings, err = ParseServiceDefinition(body)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], `"namespace"`) {
		t.Errorf("warnings = %q, want one about namespace", warnings)
	}

	for _, tc := range []struct{ body, want string }{
		{`{"Name": "web", "Frob": 1}`, `service definition: unknown key "Frob"`},
		{`{"Port": 80}`, `service definition: a service needs a name`},
		{`{"Name": "web", "Check": {"GRPC": "127.0.0.1:1", "Interval": "1s"}}`, `check: grpc checks are not supported`},
		{`{"Name": "web", "Check": {"HTTP": "http://127.0.0.1/"}}`, `check.interval: an interval is required for http checks`},
		{`[1]`, `invalid JSON`},
	} {
		if _, _, err := ParseServiceDefinition([]byte(tc.body)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseServiceDefinition(%s) = %v, want %q", tc.body, err, tc.want)
		}
	}
}

// TestParseCheckDefinitionFromAPIClient feeds the JSON the api client sends
// to /v1/agent/check/register.
func TestParseCheckDefinitionFromAPIClient(t *testing.T) {
	reg := &api.AgentCheckRegistration{
		ID: "mem", Name: "Memory", Notes: "free memory", ServiceID: "web1",
		AgentServiceCheck: api.AgentServiceCheck{TTL: "30s", Status: "warning"},
	}
	body, err := json.Marshal(reg)
	if err != nil {
		t.Fatal(err)
	}
	def, _, err := ParseCheckDefinition(body)
	if err != nil {
		t.Fatalf("ParseCheckDefinition(%s): %v", body, err)
	}
	want := &CheckDefinition{ID: "mem", Name: "Memory", Notes: "free memory", ServiceID: "web1", TTL: 30 * time.Second, Status: "warning"}
	if !reflect.DeepEqual(def, want) {
		t.Errorf("\n got %+v\nwant %+v", def, want)
	}

	def, _, err = ParseCheckDefinition([]byte(`{"Name": "disk", "Args": ["/bin/df"], "Interval": "1m"}`))
	if err != nil {
		t.Fatal(err)
	}
	if def.ID != "disk" {
		t.Errorf("ID = %q, want the name", def.ID)
	}
	for _, tc := range []struct{ body, want string }{
		{`{"Name": "x"}`, `a check needs one of ttl, http, tcp or args`},
		{`{"Name": "x", "TTL": "10x"}`, `ttl: invalid duration "10x"`},
		{`{"Name": "x", "DockerContainerID": "abc", "Interval": "1s"}`, `docker checks are not supported`},
	} {
		if _, _, err := ParseCheckDefinition([]byte(tc.body)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseCheckDefinition(%s) = %v, want %q", tc.body, err, tc.want)
		}
	}
}

func TestSanitized(t *testing.T) {
	rc, _ := mustLoad(t, "-dev", "-encrypt", "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s=",
		"-hcl", `service { name = "web" check { ttl = "10s" } }`)
	m := rc.Sanitized()
	checks := map[string]any{
		"EncryptKey":           "hidden",
		"SerfAdvertiseAddrLAN": "tcp://127.0.0.1:8301",
		"RetryJoinIntervalLAN": "30s",
		"AdvertiseAddrLAN":     "127.0.0.1",
		"DevMode":              true,
		"Datacenter":           "dc1",
	}
	for k, want := range checks {
		if got := m[k]; !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %#v, want %#v", k, got, want)
		}
	}
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	if strings.Contains(string(out), "pUqJrVyVRj5j") {
		t.Errorf("the encrypt key leaks: %s", out)
	}
	services := m["Services"].([]any)
	check := services[0].(map[string]any)["Checks"].([]any)[0].(map[string]any)
	if check["TTL"] != "10s" {
		t.Errorf("service check TTL = %v", check["TTL"])
	}
	rc.EncryptKey = ""
	if got := rc.Sanitized()["EncryptKey"]; got != "" {
		t.Errorf("empty EncryptKey sanitised to %q", got)
	}
}

func TestEmptyDurationIsUnset(t *testing.T) {
	def, _, err := ParseCheckDefinition([]byte(`{"Name": "x", "TTL": "30s", "Interval": "", "Timeout": " "}`))
	if err != nil {
		t.Fatalf("ParseCheckDefinition: %v", err)
	}
	if def.Interval != 0 || def.Timeout != 0 || def.TTL != 30*time.Second {
		t.Errorf("Interval, Timeout, TTL = %s, %s, %s", def.Interval, def.Timeout, def.TTL)
	}
}
