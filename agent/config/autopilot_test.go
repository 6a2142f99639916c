package config

import (
	"strings"
	"testing"
	"time"
)

func TestLoadAutopilot(t *testing.T) {
	want := AutopilotConfig{
		CleanupDeadServers: false, LastContactThreshold: 500 * time.Millisecond, MaxTrailingLogs: 100,
		MinQuorum: 3, ServerStabilizationTime: 5 * time.Second, RedundancyZoneTag: "zone",
		DisableUpgradeMigration: true, UpgradeVersionTag: "build",
	}
	hcl := `node_meta { zone = "a" }
autopilot {
  cleanup_dead_servers      = false
  last_contact_threshold    = "500ms"
  max_trailing_logs         = 100
  min_quorum                = 3
  server_stabilization_time = "5s"
  redundancy_zone_tag       = "zone"
  disable_upgrade_migration = true
  upgrade_version_tag       = "build"
}`
	json := `{"node_meta": {"zone": "a"}, "autopilot": {"cleanup_dead_servers": false, "last_contact_threshold": "500ms",
"max_trailing_logs": 100, "min_quorum": 3, "server_stabilization_time": "5s", "redundancy_zone_tag": "zone",
"disable_upgrade_migration": true, "upgrade_version_tag": "build"}}`
	dir := writeFiles(t, map[string]string{"a.hcl": hcl, "a.json": json})
	for _, f := range []string{"a.hcl", "a.json"} {
		rc, warnings := mustLoad(t, "-data-dir", "/d", "-server", "-config-file", dir+"/"+f)
		if rc.Autopilot != want {
			t.Errorf("%s: autopilot %+v, want %+v", f, rc.Autopilot, want)
		}
		for _, w := range warnings {
			if strings.Contains(w, "autopilot") {
				t.Errorf("%s: warning %q", f, w)
			}
		}
	}

	// A server whose node_meta lacks the zone key is warned about.
	_, warnings := mustLoad(t, "-data-dir", "/d", "-server", "-hcl", `autopilot { redundancy_zone_tag = "zone" }`)
	if !strings.Contains(strings.Join(warnings, "\n"), "no zone") {
		t.Errorf("warnings %q: want one about the missing zone", warnings)
	}

	for _, tc := range []struct{ hcl, key string }{
		{`autopilot { last_contact_threshold = "0s" }`, "last_contact_threshold"},
		{`autopilot { max_trailing_logs = -1 }`, "max_trailing_logs"},
		{`autopilot { server_stabilization_time = "72h" }`, "server_stabilization_time"},
		{`autopilot { min_quorum = 5000 }`, "min_quorum"},
		{`autopilot { frobnicate = 1 }`, "frobnicate"},
	} {
		_, _, err := Load(testOpts("-data-dir", "/d", "-server", "-hcl", tc.hcl))
		if err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s: error %v, want one naming %s", tc.hcl, err, tc.key)
		}
	}
}
