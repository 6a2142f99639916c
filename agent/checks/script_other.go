//go:build !unix

package checks

import "os/exec"

// setProcessGroup leaves cmd as it is: without Unix process groups a timed-out
// script's process alone is killed (exec's default cancellation).
func setProcessGroup(cmd *exec.Cmd) {}
