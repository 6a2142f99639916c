package agent

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/hashicorp/consul/api"

	"github.com/meridian-sd/meridian/structs"
)

// do sends a request to the agent's API and returns status and body.
func do(t *testing.T, ta *TestAgent, method, path, body string) (int, string) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://"+ta.HTTPAddr+path, r)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestAgentEndpointsBadInput(t *testing.T) {
	ta := StartTestAgent(t, "-server", "-bootstrap")
	ag := ta.Client.Agent()
	if err := ag.ServiceRegister(&api.AgentServiceRegistration{ID: "web1", Name: "web",
		Check: &api.AgentServiceCheck{HTTP: "http://127.0.0.1:1/", Interval: "10s"}}); err != nil {
		t.Fatal(err)
	}
	if err := ag.CheckRegister(&api.AgentCheckRegistration{Name: "ttl", AgentServiceCheck: api.AgentServiceCheck{TTL: "30s"}}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, method, path, body string
		code                     int
		want                     string // in the body
	}{
		{"invalid ttl", "PUT", "/v1/agent/service/register", `{"Name":"web","Check":{"TTL":"abc"}}`, 400, "ttl"},
		{"negative ttl", "PUT", "/v1/agent/check/register", `{"Name":"x","TTL":"-5s"}`, 400, "ttl"},
		{"invalid interval", "PUT", "/v1/agent/service/register", `{"Name":"web","Check":{"HTTP":"http://127.0.0.1/","Interval":"soon"}}`, 400, "interval"},
		{"missing interval", "PUT", "/v1/agent/check/register", `{"Name":"x","TCP":"127.0.0.1:1"}`, 400, "interval"},
		{"unparsable url", "PUT", "/v1/agent/service/register", `{"Name":"web","Check":{"HTTP":"::not a url","Interval":"10s"}}`, 400, "http"},
		{"service without name", "PUT", "/v1/agent/service/register", `{"Port":80}`, 400, "a service needs a name"},
		{"check without type", "PUT", "/v1/agent/check/register", `{"Name":"x"}`, 400, "a check needs one of ttl, http, tcp or args"},
		{"check without name", "PUT", "/v1/agent/check/register", `{"ID":"x","TTL":"10s"}`, 400, "Missing check name"},
		{"check of unknown service", "PUT", "/v1/agent/check/register", `{"Name":"x","TTL":"10s","ServiceID":"nope"}`, 400, `ServiceID "nope" does not exist`},
		{"unknown key", "PUT", "/v1/agent/service/register", `{"Name":"web","Colour":"red"}`, 400, "Colour"},
		{"bad json", "PUT", "/v1/agent/service/register", `{"Name":`, 400, "decode"},
		{"empty body", "PUT", "/v1/agent/check/register", ``, 400, "empty"},
		{"pass unknown", "PUT", "/v1/agent/check/pass/nope", "", 404, `Unknown check ID "nope"`},
		{"fail unknown", "PUT", "/v1/agent/check/fail/nope", "", 404, `Unknown check ID "nope"`},
		{"update unknown", "PUT", "/v1/agent/check/update/nope", `{"Status":"passing"}`, 404, `Unknown check ID "nope"`},
		{"update bad status", "PUT", "/v1/agent/check/update/ttl", `{"Status":"sick"}`, 400, "Invalid check status"},
		{"pass a non-TTL check", "PUT", "/v1/agent/check/pass/service:web1", "", 400, "not a TTL check"},
		{"deregister unknown service", "PUT", "/v1/agent/service/deregister/nope", "", 404, `Unknown service ID "nope"`},
		{"deregister unknown check", "PUT", "/v1/agent/check/deregister/nope", "", 404, `Unknown check ID "nope"`},
		{"get unknown service", "GET", "/v1/agent/service/nope", "", 404, "unknown service ID"},
		{"maintenance unknown service", "PUT", "/v1/agent/service/maintenance/nope?enable=true", "", 404, `No service registered with ID "nope"`},
		{"maintenance without enable", "PUT", "/v1/agent/maintenance", "", 400, "Missing value for enable"},
		{"maintenance bad enable", "PUT", "/v1/agent/maintenance?enable=maybe", "", 400, "Invalid value for enable"},
		{"register with GET", "GET", "/v1/agent/service/register", "", 405, "not allowed"},
		{"reserved check ID", "PUT", "/v1/agent/check/register", `{"ID":"serfHealth","Name":"x","TTL":"10s"}`, 400, "reserved"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := do(t, ta, tt.method, tt.path, tt.body)
			if code != tt.code || !strings.Contains(body, tt.want) {
				t.Fatalf("%s %s: %d %q, want %d containing %q", tt.method, tt.path, code, body, tt.code, tt.want)
			}
			if strings.Contains(body, "\n") {
				t.Errorf("error body spans several lines: %q", body)
			}
		})
	}
	// Nothing of the refused registrations was kept.
	svcs, _ := ag.Services()
	checks, _ := ag.Checks()
	if len(svcs) != 1 || len(checks) != 2 {
		t.Fatalf("after bad input: %d services, %d checks; want 1 and 2", len(svcs), len(checks))
	}
}

func TestAgentHealthServiceEndpoints(t *testing.T) {
	ta := StartTestAgent(t, "-server", "-bootstrap")
	ag := ta.Client.Agent()
	for _, id := range []string{"web1", "web2"} {
		if err := ag.ServiceRegister(&api.AgentServiceRegistration{ID: id, Name: "web",
			Check: &api.AgentServiceCheck{TTL: "30s", Status: api.HealthPassing}}); err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		status string
		code   int
	}{
		{api.HealthPassing, 200},
		{api.HealthWarning, 429},
		{api.HealthCritical, 503},
	}
	for _, st := range steps {
		if err := ag.UpdateTTL("service:web1", "", st.status); err != nil {
			t.Fatal(err)
		}
		status, info, err := ag.AgentHealthServiceByID("web1")
		if err != nil || status != st.status || info == nil || info.AggregatedStatus != st.status ||
			info.Service == nil || info.Service.ID != "web1" || len(info.Checks) != 1 {
			t.Fatalf("by id with %s: %s %+v %v", st.status, status, info, err)
		}
		code, body := do(t, ta, "GET", "/v1/agent/health/service/id/web1?format=text", "")
		if code != st.code || body != st.status {
			t.Fatalf("text by id with %s: %d %q, want %d %q", st.status, code, body, st.code, st.status)
		}
		// By name, the worst instance decides.
		status, infos, err := ag.AgentHealthServiceByName("web")
		if err != nil || status != st.status || len(infos) != 2 {
			t.Fatalf("by name with %s: %s %d entries %v", st.status, status, len(infos), err)
		}
	}
	// Unknown: 404, which the client reads as critical with nothing.
	status, info, err := ag.AgentHealthServiceByID("nope")
	if err != nil || status != api.HealthCritical || info != nil {
		t.Fatalf("unknown id: %s %+v %v", status, info, err)
	}
	code, body := do(t, ta, "GET", "/v1/agent/health/service/name/nope?format=text", "")
	if code != 404 || body != "ServiceName nope Not Found" {
		t.Fatalf("unknown name: %d %q", code, body)
	}
}

func TestAgentServiceShapes(t *testing.T) {
	ta := StartTestAgent(t, "-server", "-bootstrap")
	ag := ta.Client.Agent()
	// The AgentService shape (Service for the name, read-only fields) and
	// durations in nanoseconds are accepted as Consul accepts them.
	code, body := do(t, ta, "PUT", "/v1/agent/service/register",
		`{"ID":"db1","Service":"db","Port":5432,"ContentHash":"abc","Datacenter":"dc1","CreateIndex":3,`+
			`"Check":{"TTL":30000000000},"Weights":{"Passing":3,"Warning":1},"EnableTagOverride":true}`)
	if code != 200 {
		t.Fatalf("register in the AgentService shape: %d %q", code, body)
	}
	svc, _, err := ag.Service("db1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if svc.Service != "db" || svc.Port != 5432 || svc.Weights.Passing != 3 || !svc.EnableTagOverride ||
		svc.ContentHash == "" || svc.Tags == nil || svc.Meta == nil {
		t.Fatalf("service = %+v", svc)
	}
	checks, err := ag.Checks()
	if err != nil {
		t.Fatal(err)
	}
	if c := checks["service:db1"]; c == nil || c.Type != "ttl" || c.Status != api.HealthCritical {
		t.Fatalf("check = %+v", c)
	}
	// Snake case, as in config files, works too.
	code, body = do(t, ta, "PUT", "/v1/agent/check/register",
		`{"name":"disk","ttl":"10s","service_id":"db1","notes":"df"}`)
	if code != 200 {
		t.Fatalf("snake case check: %d %q", code, body)
	}
	checks, _ = ag.Checks()
	if c := checks["disk"]; c == nil || c.ServiceID != "db1" || c.Notes != "df" {
		t.Fatalf("snake case check = %+v", c)
	}
	// Deregistering a maintenance check directly is refused.
	if err := ag.EnableNodeMaintenance("x"); err != nil {
		t.Fatal(err)
	}
	err = ag.CheckDeregister("_node_maintenance")
	var se api.StatusError
	if !errors.As(err, &se) || se.Code != 400 {
		t.Fatalf("deregister a maintenance check: %v, want 400", err)
	}
}

func TestAggregatedStatus(t *testing.T) {
	chk := func(id, status string) *structs.HealthCheck {
		return &structs.HealthCheck{CheckID: id, Status: status}
	}
	tests := []struct {
		name   string
		checks structs.HealthChecks
		want   string
		code   int
	}{
		{"no checks", nil, structs.HealthPassing, 200},
		{"passing", structs.HealthChecks{chk("a", "passing"), chk("b", "passing")}, structs.HealthPassing, 200},
		{"warning wins over passing", structs.HealthChecks{chk("a", "passing"), chk("b", "warning")}, structs.HealthWarning, 429},
		{"critical wins over warning", structs.HealthChecks{chk("a", "critical"), chk("b", "warning")}, structs.HealthCritical, 503},
		{"maintenance wins", structs.HealthChecks{chk("a", "passing"), chk(structs.NodeMaintCheckID, "critical")}, structs.HealthMaint, 503},
		{"service maintenance", structs.HealthChecks{chk(structs.ServiceMaintPrefix+"x", "critical")}, structs.HealthMaint, 503},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := aggregatedStatus(tt.checks)
			if got != tt.want || statusCode(got) != tt.code {
				t.Fatalf("aggregatedStatus = %s (%d), want %s (%d)", got, statusCode(got), tt.want, tt.code)
			}
		})
	}
}
