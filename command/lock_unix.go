//go:build unix

package command

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
)

// childProcessGroup makes the child lead a process group of its own, so
// that stopping it also stops what it started (a shell's commands).
func childProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// signalChild sends sig to the child's whole process group. A group that
// is already gone is not an error.
func signalChild(cmd *exec.Cmd, sig syscall.Signal) error {
	err := syscall.Kill(-cmd.Process.Pid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	if err != nil {
		return &os.SyscallError{Syscall: "kill", Err: err}
	}
	return nil
}
