package config

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

func TestKeysAreDisjoint(t *testing.T) {
	ks := Keys()
	seen := map[string]string{}
	for name, list := range map[string][]string{
		"supported": ks.Supported, "ignored": ks.Ignored, "quiet": ks.Quiet, "rejected": ks.Rejected,
	} {
		for _, k := range list {
			if prev, ok := seen[k]; ok {
				t.Errorf("key %q is both %s and %s", k, prev, name)
			}
			seen[k] = name
		}
	}
	for _, k := range []string{"datacenter", "ports.http", "acl.enabled", "acl.tokens.agent", "primary_datacenter", "ui", "ui_config.enabled", "gossip_wan.probe_timeout", "services.checks.deregister_critical_service_after", "services.connect", "services.proxy", "services.kind"} {
		if seen[k] != "supported" {
			t.Errorf("key %q is %q, want supported", k, seen[k])
		}
	}
	for _, k := range []string{"acl.role_ttl", "ui_dir", "ui_config.metrics_provider", "ports.grpc", "services.token", "raft_protocol"} {
		if seen[k] != "ignored" {
			t.Errorf("key %q is %q, want ignored", k, seen[k])
		}
	}
}

// TestEveryIgnoredKeyLoads sets every ignored key outside service and
// check definitions and expects one warning naming it, and no error.
func TestEveryIgnoredKeyLoads(t *testing.T) {
	root := map[string]any{"data_dir": "/d"}
	var want []string
	for _, key := range Keys().Ignored {
		first, _, _ := strings.Cut(key, ".")
		if first == "service" || first == "services" || first == "check" || first == "checks" {
			continue
		}
		m := root
		parts := strings.Split(key, ".")
		for _, p := range parts[:len(parts)-1] {
			next, ok := m[p].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[p] = next
			}
			m = next
		}
		m[parts[len(parts)-1]] = map[string]any{"anything": []any{1, "x"}}
		want = append(want, key)
	}
	data, err := json.Marshal(root)
	if err != nil {
		t.Fatal(err)
	}
	dir := writeFiles(t, map[string]string{"all.json": string(data)})
	_, warnings, err := Load(testOpts("-config-file", filepath.Join(dir, "all.json")))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if len(warnings) != len(want) {
		t.Errorf("%d warnings for %d ignored keys", len(warnings), len(want))
	}
	joined := strings.Join(warnings, "\n")
	for _, k := range want {
		if !strings.Contains(joined, `config key "`+k+`"`) {
			t.Errorf("no warning for %q", k)
		}
	}
}
