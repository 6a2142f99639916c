package agent

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/meridian-sd/meridian/structs"
)

// TestWriteErrorFollowsCode checks that the HTTP status of an error comes
// from its code, whatever its text says.
func TestWriteErrorFollowsCode(t *testing.T) {
	a := &Agent{logger: hclog.NewInterceptLogger(&hclog.LoggerOptions{Output: io.Discard})}
	tests := []struct {
		err  error
		want int
	}{
		{structs.BadRequest("node name is fine but something is not"), http.StatusBadRequest},
		{structs.NewError(structs.CodeTooLarge, "too much"), http.StatusRequestEntityTooLarge},
		{structs.NewError(structs.CodeNotFound, "nothing here"), http.StatusNotFound},
		{structs.NewError(structs.CodeConflict, "conflict"), http.StatusConflict},
		{structs.NewError(structs.CodePermissionDenied, "no"), http.StatusForbidden},
		// A decoded remote error, as the connection pool returns it.
		{structs.DecodeRPCError(structs.EncodeRPCError(structs.BadRequest("missing node name"))), http.StatusBadRequest},
		// Texts that once meant 400 by their first word no longer do.
		{io.ErrUnexpectedEOF, http.StatusInternalServerError},
		{errorString("invalid memory address or nil pointer dereference"), http.StatusInternalServerError},
		{structs.ErrNoLeader, http.StatusInternalServerError},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		a.writeError(rec, httptest.NewRequest("GET", "/v1/catalog/nodes", nil), tt.err)
		if rec.Code != tt.want {
			t.Errorf("%q: status %d, want %d", tt.err, rec.Code, tt.want)
		}
		if body := rec.Body.String(); body != tt.err.Error() {
			t.Errorf("%q: body %q, want the message alone", tt.err, body)
		}
	}
}

type errorString string

func (e errorString) Error() string { return string(e) }

// TestServerBadInputStatus checks codes end to end: an agent's server
// refuses input with a code, and the HTTP status follows it.
func TestServerBadInputStatus(t *testing.T) {
	a := StartTestAgent(t, "-server", "-bootstrap")
	a.WaitForLeader(t)
	put := func(body string) (int, string) {
		req, err := http.NewRequest("PUT", "http://"+a.HTTPAddr+"/v1/catalog/register", bytes.NewBufferString(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	long := strings.Repeat("n", structs.MaxNameLen+1)
	if code, text := put(`{"Node":"` + long + `","Address":"10.0.0.1"}`); code != http.StatusRequestEntityTooLarge || !strings.Contains(text, "node name") {
		t.Errorf("node name over the bound: %d %q, want 413 naming the node name", code, text)
	}
	if code, text := put(`{"Node":"n1","Address":"10.0.0.1","Service":{"Service":"web","Port":70000}}`); code != http.StatusBadRequest || !strings.Contains(text, "port") {
		t.Errorf("service port 70000: %d %q, want 400 naming the port", code, text)
	}
	if code, text := put(`{"Node":"n1","Address":"10.0.0.1","Service":{"Service":"web","Weights":{"Passing":-1,"Warning":1}}}`); code != http.StatusBadRequest || !strings.HasPrefix(text, "invalid service weights") {
		t.Errorf("negative weights: %d %q, want 400 naming the weights", code, text)
	}
}
