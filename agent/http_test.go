package agent

import (
	"net/http"
	"strings"
	"testing"

	"github.com/hashicorp/consul/api"
)

// TestFilterRefused checks that ?filter= is refused with a 400 on the
// endpoints that do not evaluate one, instead of being ignored, and that
// an empty one is not.
func TestFilterRefused(t *testing.T) {
	a := startKVServer(t)
	mustPut(t, a.Client.KV(), "f/one", "1")
	q := &api.QueryOptions{Filter: `Node == "nobody"`}
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"kv list", func() error { _, _, err := a.Client.KV().List("f/", q); return err }},
		{"session list", func() error { _, _, err := a.Client.Session().List(q); return err }},
		{"coordinate nodes", func() error { _, _, err := a.Client.Coordinate().Nodes(q); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			var se api.StatusError
			if !asStatusError(err, &se) || se.Code != http.StatusBadRequest || !strings.Contains(se.Body, "not supported on this endpoint") {
				t.Fatalf("with a filter: %v, want a 400 saying filters are not supported", err)
			}
		})
	}
	// An empty filter is no filter.
	for _, path := range []string{"/v1/catalog/nodes?filter=", "/v1/kv/f/?recurse&filter="} {
		if code, body, _ := httpDo(t, a, "GET", path, nil); code != http.StatusOK {
			t.Errorf("GET %s: %d %q, want 200", path, code, body)
		}
	}
}
