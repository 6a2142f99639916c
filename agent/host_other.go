//go:build !linux

package agent

import "runtime"

// collectHostInfo has no reader for this system: every section is empty
// and Errors says so.
func collectHostInfo(path string) *hostInfo {
	return &hostInfo{Errors: []string{"host information is only collected on Linux, not on " + runtime.GOOS}}
}
