// Package version holds Meridian's version, set at build time.
package version

import (
	"fmt"
	"runtime/debug"
)

// These are set with -ldflags "-X" by the build; the defaults describe a
// plain `go build`.
var (
	// Version is the release number.
	Version = "0.1.0"
	// Prerelease marks a development build ("dev") or is empty for a release.
	Prerelease = "dev"
	// GitCommit is the short commit the binary was built from.
	GitCommit = ""
	// BuildTime is the build's date (RFC 3339); empty means the commit's
	// time that the Go toolchain records (see BuildDate).
	BuildTime = ""
)

// BuildDate is BuildTime, or else the time of the commit the binary was
// built from as the Go toolchain records it, or else "" when unknown.
func BuildDate() string {
	if BuildTime != "" {
		return BuildTime
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.time" {
				return s.Value
			}
		}
	}
	return ""
}

// ProtocolVersion is the gossip protocol version Meridian speaks, shown in
// the Protocol column of `members` (Consul's current value).
const (
	ProtocolVersion    = 2
	ProtocolVersionMin = 2
	ProtocolVersionMax = 3
)

// Human returns "0.1.0-dev" style text.
func Human() string {
	v := Version
	if Prerelease != "" {
		v += "-" + Prerelease
	}
	return v
}

// BuildTag returns the value of the `build` member tag: "<version>:<commit>".
func BuildTag() string {
	return fmt.Sprintf("%s:%s", Human(), GitCommit)
}
