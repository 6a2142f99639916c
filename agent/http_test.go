package agent

import (
	"net/http"
	"strings"
	"testing"

	"github.com/hashicorp/consul/api"
)

// TestFilterRefused checks that ?filter= is refused with a 400 on every
// kind of endpoint instead of being ignored, and that an empty one is not.
func TestFilterRefused(t *testing.T) {
	a := startKVServer(t)
	mustPut(t, a.Client.KV(), "f/one", "1")
	q := &api.QueryOptions{Filter: `Node == "nobody"`}
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"catalog nodes", func() error { _, _, err := a.Client.Catalog().Nodes(q); return err }},
		{"catalog services", func() error { _, _, err := a.Client.Catalog().Services(q); return err }},
		{"health service", func() error { _, _, err := a.Client.Health().Service("x", "", false, q); return err }},
		{"health state", func() error { _, _, err := a.Client.Health().State("any", q); return err }},
		{"kv list", func() error { _, _, err := a.Client.KV().List("f/", q); return err }},
		{"agent services", func() error { _, err := a.Client.Agent().ServicesWithFilter(`Service == "x"`); return err }},
		{"agent checks", func() error { _, err := a.Client.Agent().ChecksWithFilter(`Status == "passing"`); return err }},
		{"agent members", func() error {
			_, err := a.Client.Agent().MembersOpts(api.MembersOpts{Filter: `Name == "x"`})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			var se api.StatusError
			if !asStatusError(err, &se) || se.Code != http.StatusBadRequest || !strings.Contains(se.Body, "not supported") {
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
