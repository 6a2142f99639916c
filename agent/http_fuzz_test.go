package agent

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/meridian-sd/meridian/structs"
)

// Fuzz tests of the HTTP bodies, in the shape of FuzzCatalogRegisterBody:
// arbitrary bodies to one endpoint of a bootstrapped server agent; the
// answer may be any error, but never a panic and never a 5xx for bad input
// the agent could have recognised. `go test` runs the seeds; `go test
// -fuzz=FuzzAgentServiceRegisterBody ./agent/` (for example) mutates them.

// fuzzBodies drives method path of a fresh server agent with the seeds
// and the fuzzer's bodies; after each body, after (if set) cleans up.
func fuzzBodies(f *testing.F, method, path string, seeds []string, after func(a *TestAgent)) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	a := StartTestAgent(f, "-server", "-bootstrap")
	a.WaitForLeader(f)
	// Logging from inside a fuzz target is not allowed.
	a.logger.SetLevel(hclog.Off)
	handler := a.routes()
	f.Fuzz(func(t *testing.T, body []byte) {
		if probesOutsideLoopback(body) {
			// A check that would probe another host: tests touch
			// loopback only.
			return
		}
		req := httptest.NewRequest(method, path, bytes.NewReader(body))
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		// An unknown ?dc in the body is Consul's contract 500, not a
		// failure to recognise bad input.
		if rec.Code >= 500 && rec.Body.String() != structs.ErrNoDCPath.Error() {
			t.Fatalf("status %d (%s) for %q", rec.Code, rec.Body.String(), body)
		}
		if after != nil {
			after(a)
		}
	})
}

// probesOutsideLoopback reports whether a JSON body holds a string naming
// a host that is not a loopback IP (a URL or host:port), which an HTTP,
// TCP or gRPC check registered from it would probe.
func probesOutsideLoopback(body []byte) bool {
	var v any
	if json.Unmarshal(body, &v) != nil {
		return false
	}
	var walk func(v any) bool
	walk = func(v any) bool {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				if walk(k) || walk(e) {
					return true
				}
			}
		case []any:
			for _, e := range v {
				if walk(e) {
					return true
				}
			}
		case string:
			host := ""
			if u, err := url.Parse(v); err == nil && u.Host != "" {
				host = u.Hostname()
			} else if h, _, err := net.SplitHostPort(v); err == nil {
				host = h
			}
			if host != "" {
				ip := net.ParseIP(host)
				return ip == nil || !ip.IsLoopback()
			}
		}
		return false
	}
	return walk(v)
}

// dropLocal deregisters every local service and check, so that the
// fuzzer's registrations do not pile up.
func dropLocal(a *TestAgent) {
	ag := a.Client.Agent()
	if svcs, err := ag.Services(); err == nil {
		for id := range svcs {
			_ = ag.ServiceDeregister(id)
		}
	}
	if checks, err := ag.Checks(); err == nil {
		for id := range checks {
			_ = ag.CheckDeregister(id)
		}
	}
}

func FuzzCatalogDeregisterBody(f *testing.F) {
	fuzzBodies(f, http.MethodPut, "/v1/catalog/deregister", []string{
		`{"Node":"n"}`, `{"Node":"n","ServiceID":"web"}`, `{"Node":"n","CheckID":"c"}`,
		`{"Node":"n","ServiceID":"web","CheckID":"c"}`, `{"Node":"n","Datacenter":"nowhere"}`,
		`{"Node":""}`, `{"Node":null,"ServiceID":1}`, `{"Node":"n","Address":"1.2.3.4"}`,
		`[]`, `null`, `{`, ``, `{"Node":"` + string(bytes.Repeat([]byte("n"), 300)) + `"}`,
	}, nil)
}

func FuzzAgentServiceRegisterBody(f *testing.F) {
	fuzzBodies(f, http.MethodPut, "/v1/agent/service/register", []string{
		`{"Name":"web","Port":80}`,
		`{"ID":"web1","Name":"web","Tags":["a","b"],"Address":"127.0.0.1","Port":8080,"Meta":{"k":"v"}}`,
		`{"Name":"web","Check":{"TTL":"10s"}}`,
		`{"Name":"web","Checks":[{"TTL":"10s"},{"HTTP":"http://127.0.0.1:1/health","Interval":"10s"}]}`,
		`{"Name":"web","Check":{"TCP":"127.0.0.1:1","Interval":"5s","Timeout":"1s"}}`,
		`{"Name":"web","Checks":[null]}`, `{"Name":"web","Check":{}}`, `{"Name":"web","Weights":{"Passing":-1}}`,
		`{"Name":"web","Port":-1}`, `{"Name":"web","Port":70000}`, `{"Name":""}`, `{"Name":1}`,
		`{"Name":"web","Check":{"Args":["/bin/true"],"Interval":"10s"}}`,
		`{"Name":"web","Check":{"TTL":"forever"}}`, `{"Name":"web","Meta":{"":"v"}}`,
		`[]`, `null`, `{`, ``,
	}, dropLocal)
}

func FuzzAgentCheckRegisterBody(f *testing.F) {
	fuzzBodies(f, http.MethodPut, "/v1/agent/check/register", []string{
		`{"Name":"mem","TTL":"30s"}`,
		`{"ID":"c1","Name":"c1","TTL":"30s","Status":"passing","Notes":"n"}`,
		`{"Name":"web","HTTP":"http://127.0.0.1:1/","Interval":"10s","Timeout":"1s","Method":"POST","Header":{"X":["a"]}}`,
		`{"Name":"tcp","TCP":"127.0.0.1:1","Interval":"10s"}`,
		`{"Name":"c","ServiceID":"missing","TTL":"10s"}`,
		`{"Name":"c","TTL":"10s","DeregisterCriticalServiceAfter":"-1s"}`,
		`{"Name":"c","Interval":"10s"}`, `{"Name":"c","TTL":"-5s"}`, `{"Name":"c","Status":"bogus","TTL":"1s"}`,
		`{"Name":""}`, `{"Name":null}`, `{"Name":"c","Args":["/bin/true"],"Interval":"1s"}`,
		`[]`, `null`, `{`, ``,
	}, dropLocal)
}

func FuzzCoordinateUpdateBody(f *testing.F) {
	fuzzBodies(f, http.MethodPut, "/v1/coordinate/update", []string{
		`{"Node":"n","Coord":{"Vec":[0,0,0,0,0,0,0,0],"Error":1.5,"Adjustment":0,"Height":0.00001}}`,
		`{"Node":"n","Coord":{"Vec":[0.1],"Error":1.5,"Adjustment":0,"Height":0.00001}}`,
		`{"Node":"n","Coord":{"Vec":[1e308,1e308,0,0,0,0,0,0],"Error":1e308,"Adjustment":-1e308,"Height":-1}}`,
		`{"Node":"n","Coord":null}`, `{"Node":"n"}`, `{"Node":"","Coord":{}}`, `{"Node":"n","Coord":{"Vec":null}}`,
		`{"Node":"n","Coord":{"Vec":"x"}}`, `[]`, `null`, `{`, ``,
	}, nil)
}

func FuzzTxnBody(f *testing.F) {
	fuzzBodies(f, http.MethodPut, "/v1/txn", []string{
		`[{"KV":{"Verb":"set","Key":"k","Value":"dg=="}}]`,
		`[{"KV":{"Verb":"get","Key":"k"}}]`,
		`[{"KV":{"Verb":"cas","Key":"k","Value":"dg==","Index":1}},{"KV":{"Verb":"delete-tree","Key":""}}]`,
		`[{"KV":{"Verb":"lock","Key":"k","Session":"not-a-session"}}]`,
		`[{"KV":{"Verb":"bogus","Key":"k"}}]`, `[{"KV":null}]`, `[{}]`, `[null]`,
		`[{"Node":{"Verb":"get","Node":{"Node":"n"}}}]`, `[{"KV":{"Verb":"set","Key":"k","Value":"not base64"}}]`,
		`[{"KV":{"Verb":"set","Key":"` + string(bytes.Repeat([]byte("k"), 600)) + `"}}]`,
		`[]`, `{}`, `null`, `[`, ``,
	}, nil)
}
