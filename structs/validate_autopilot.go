package structs

import "time"

// Bounds of the autopilot configuration: far above anything useful, there
// so that a typo (a threshold in hours) is refused with a sentence.
const (
	// MaxAutopilotDuration bounds LastContactThreshold and
	// ServerStabilizationTime.
	MaxAutopilotDuration = 24 * time.Hour
	// MaxAutopilotMinQuorum bounds MinQuorum.
	MaxAutopilotMinQuorum = 1024
)

// Validate checks the configuration's values; a write of it is refused
// with the first problem found.
func (c *AutopilotConfig) Validate() error {
	var v validator
	v.autopilot(c)
	return v.err
}

func (v *validator) autopilot(c *AutopilotConfig) {
	switch {
	case c.LastContactThreshold <= 0 || c.LastContactThreshold.Duration() > MaxAutopilotDuration:
		v.fail(CodeBadRequest, "invalid LastContactThreshold %s: must be positive and at most %s", c.LastContactThreshold.Duration(), MaxAutopilotDuration)
	case c.ServerStabilizationTime < 0 || c.ServerStabilizationTime.Duration() > MaxAutopilotDuration:
		v.fail(CodeBadRequest, "invalid ServerStabilizationTime %s: must not be negative and at most %s", c.ServerStabilizationTime.Duration(), MaxAutopilotDuration)
	case c.MinQuorum > MaxAutopilotMinQuorum:
		v.fail(CodeBadRequest, "invalid MinQuorum %d: must be at most %d", c.MinQuorum, MaxAutopilotMinQuorum)
	}
	v.name("RedundancyZoneTag", c.RedundancyZoneTag)
	v.name("UpgradeVersionTag", c.UpgradeVersionTag)
}

// Validate implements Validator.
func (r *AutopilotSetConfigRequest) Validate() error {
	var v validator
	v.write(&r.WriteRequest)
	v.dc("datacenter", r.Datacenter)
	v.autopilot(&r.Config)
	return v.err
}

// Validate implements Validator.
func (r *TransferLeaderRequest) Validate() error {
	var v validator
	v.write(&r.WriteRequest)
	v.dc("datacenter", r.Datacenter)
	v.name("id", r.ID)
	return v.err
}
