//go:build !unix

package command

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
)

// childProcessGroup does nothing where process groups do not exist.
func childProcessGroup(cmd *exec.Cmd) {}

// signalChild stops the child; only a kill is possible here.
func signalChild(cmd *exec.Cmd, sig syscall.Signal) error {
	err := cmd.Process.Kill()
	if errors.Is(err, os.ErrProcessDone) {
		return nil
	}
	return err
}
