package config

import "time"

// Autopilot configuration: the autopilot block, as Consul's. It seeds the
// configuration the first leader stores through Raft; afterwards
// `meridian operator autopilot set-config` changes the stored one.

// Defaults of the autopilot block, as Consul's.
const (
	DefaultAutopilotLastContactThreshold    = 200 * time.Millisecond
	DefaultAutopilotMaxTrailingLogs         = 250
	DefaultAutopilotServerStabilizationTime = 10 * time.Second
)

// rawAutopilot is the autopilot block.
type rawAutopilot struct {
	CleanupDeadServers      *bool          `cfg:"cleanup_dead_servers"`
	LastContactThreshold    *time.Duration `cfg:"last_contact_threshold" check:"positive"`
	MaxTrailingLogs         *int           `cfg:"max_trailing_logs" check:"nonneg"`
	MinQuorum               *int           `cfg:"min_quorum" check:"nonneg"`
	ServerStabilizationTime *time.Duration `cfg:"server_stabilization_time" check:"nonneg"`
	RedundancyZoneTag       *string        `cfg:"redundancy_zone_tag"`
	DisableUpgradeMigration *bool          `cfg:"disable_upgrade_migration"`
	UpgradeVersionTag       *string        `cfg:"upgrade_version_tag"`
}

// AutopilotConfig is the resolved autopilot block.
type AutopilotConfig struct {
	// CleanupDeadServers removes failed servers from Raft. Key
	// autopilot.cleanup_dead_servers; default true.
	CleanupDeadServers bool
	// LastContactThreshold is how long a server may go without hearing
	// from the leader and still be healthy. Key
	// autopilot.last_contact_threshold; default 200ms.
	LastContactThreshold time.Duration
	// MaxTrailingLogs is how many entries a healthy server may be behind.
	// Key autopilot.max_trailing_logs; default 250.
	MaxTrailingLogs int
	// MinQuorum is the fewest voters dead-server cleanup leaves. Key
	// autopilot.min_quorum; default 0 (no minimum).
	MinQuorum int
	// ServerStabilizationTime is how long a new server must be healthy
	// before it votes. Key autopilot.server_stabilization_time; default
	// 10s.
	ServerStabilizationTime time.Duration
	// RedundancyZoneTag is the node_meta key that places servers in
	// redundancy zones (one voter per zone). Key
	// autopilot.redundancy_zone_tag; default none.
	RedundancyZoneTag string
	// DisableUpgradeMigration and UpgradeVersionTag are stored for
	// Consul's clients; Meridian does not migrate upgrades. Keys
	// autopilot.disable_upgrade_migration, autopilot.upgrade_version_tag.
	DisableUpgradeMigration bool
	UpgradeVersionTag       string
}

// buildAutopilot resolves the autopilot block.
func (l *loader) buildAutopilot(rc *RuntimeConfig, c *rawConfig, fail func(string, ...any)) {
	a := c.Autopilot
	rc.Autopilot = AutopilotConfig{
		CleanupDeadServers:      or(a.CleanupDeadServers, true),
		LastContactThreshold:    or(a.LastContactThreshold, DefaultAutopilotLastContactThreshold),
		MaxTrailingLogs:         or(a.MaxTrailingLogs, DefaultAutopilotMaxTrailingLogs),
		MinQuorum:               deref(a.MinQuorum),
		ServerStabilizationTime: or(a.ServerStabilizationTime, DefaultAutopilotServerStabilizationTime),
		RedundancyZoneTag:       deref(a.RedundancyZoneTag),
		DisableUpgradeMigration: deref(a.DisableUpgradeMigration),
		UpgradeVersionTag:       deref(a.UpgradeVersionTag),
	}
	ap := rc.Autopilot
	if ap.LastContactThreshold > 24*time.Hour || ap.ServerStabilizationTime > 24*time.Hour {
		fail("autopilot.last_contact_threshold and autopilot.server_stabilization_time must be at most 24h")
	}
	if ap.MinQuorum > 1024 {
		fail("autopilot.min_quorum %d is more than 1024", ap.MinQuorum)
	}
	if tag := ap.RedundancyZoneTag; tag != "" {
		if _, ok := rc.NodeMeta[tag]; !ok && rc.ServerMode {
			l.warnings = append(l.warnings, "autopilot.redundancy_zone_tag is "+tag+" but this server's node_meta has no "+tag+": it is in no redundancy zone")
		}
	}
}
