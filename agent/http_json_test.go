package agent

import (
	"encoding/json"
	"math"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// TestWriteJSONMatchesMarshal: responses encoded into reused buffers are
// byte for byte what json.Marshal (and, with ?pretty, json.MarshalIndent
// plus a newline) would give, with their Content-Length, one after another
// in any order of sizes; a value that cannot be encoded writes no body.
func TestWriteJSONMatchesMarshal(t *testing.T) {
	a := &Agent{logger: hclog.NewInterceptLogger(&hclog.LoggerOptions{Output: newTestLogWriter(t)})}
	long := strings.Repeat("<&> ", 5000)
	objs := []any{
		map[string]any{"Key": "a", "Value": []byte("hello"), "Flags": 0},
		[]string{long, "x"},
		struct{ A, B int }{1, 2},
		"short",
		nil,
		[]int{},
	}
	for round := 0; round < 2; round++ {
		for i, obj := range objs {
			for _, pretty := range []bool{false, true} {
				want, err := json.Marshal(obj)
				if pretty {
					want, err = json.MarshalIndent(obj, "", "    ")
					want = append(want, '\n')
				}
				if err != nil {
					t.Fatal(err)
				}
				rec := httptest.NewRecorder()
				a.writeJSON(rec, httptest.NewRequest("GET", "/v1/x", nil), obj, pretty)
				if got := rec.Body.String(); got != string(want) {
					t.Errorf("round %d, obj %d, pretty %v: got %.80q, want %.80q", round, i, pretty, got, want)
				}
				if got := rec.Header().Get("Content-Length"); got != strconv.Itoa(len(want)) {
					t.Errorf("obj %d: Content-Length %q, want %d", i, got, len(want))
				}
				if got := rec.Header().Get("Content-Type"); got != "application/json" {
					t.Errorf("obj %d: Content-Type %q", i, got)
				}
			}
		}
	}
	rec := httptest.NewRecorder()
	a.writeJSON(rec, httptest.NewRequest("GET", "/v1/x", nil), math.Inf(1), false)
	if rec.Code != 500 || rec.Header().Get("Content-Type") == "application/json" || !strings.HasPrefix(rec.Body.String(), "encode response") {
		t.Errorf("unencodable value: status %d, body %q; want 500 naming the encoding", rec.Code, rec.Body.String())
	}
}
