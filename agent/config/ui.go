package config

// The web UI's configuration: Consul's ui_config block and its older
// top-level ui key.

// rawUIConfig is the ui_config block. Only enabled means something to
// Meridian: the UI is built into the binary, served at /ui/ and has no
// metrics provider.
type rawUIConfig struct {
	Enabled *bool `cfg:"enabled"`
}

func (rawUIConfig) ignoredKeys() []string {
	return []string{
		"dir", "content_path", "metrics_provider", "metrics_provider_files",
		"metrics_provider_options_json", "metrics_proxy", "dashboard_url_templates",
	}
}

// buildUI resolves ui_config.enabled; the deprecated top-level ui key
// counts when ui_config.enabled is not set, as in Consul.
func (l *loader) buildUI(rc *RuntimeConfig, c *rawConfig) {
	rc.UIEnabled = or(c.UIConfig.Enabled, deref(c.UI))
}
