//go:build !linux

package telemetry

// processFamilies returns nothing outside Linux: the process_* figures
// come from /proc.
func processFamilies() []promFamily { return nil }
