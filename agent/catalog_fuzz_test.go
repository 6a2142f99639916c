package agent

import (
	"bytes"

	"github.com/hashicorp/go-hclog"
	"net/http"
	"net/http/httptest"
	"testing"
)

// FuzzCatalogRegisterBody sends arbitrary bodies to PUT
// /v1/catalog/register: the answer may be any error, but never a panic
// and never a 5xx for bad input that the agent could have recognised.
func FuzzCatalogRegisterBody(f *testing.F) {
	for _, s := range []string{
		`{"Node":"n","Address":"1.2.3.4"}`,
		`{"Node":"n","Address":"1.2.3.4","Service":{"Service":"web","Port":80,"Tags":["a"]}}`,
		`{"Node":"n","Address":"1.2.3.4","Check":{"CheckID":"c","Status":"passing","Definition":{"Interval":"10s"}}}`,
		`{"Node":"n","Address":"1.2.3.4","Checks":[{"CheckID":"c","ServiceID":"missing"}]}`,
		`{"Node":"n","Address":"1.2.3.4","Check":{"CheckID":"c","Definition":{"Interval":12}}}`,
		`{"Node":"","Address":""}`, `[]`, `null`, `{`, ``, `{"Node":1}`,
	} {
		f.Add([]byte(s))
	}
	a := StartTestAgent(f, "-server", "-bootstrap")
	a.WaitForLeader(f)
	// Logging from inside a fuzz target is not allowed.
	a.logger.SetLevel(hclog.Off)
	handler := a.routes()
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPut, "/v1/catalog/register", bytes.NewReader(body))
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("status %d (%s) for %q", rec.Code, rec.Body.String(), body)
		}
	})
}
