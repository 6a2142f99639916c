//go:build !linux

package lab

import (
	"errors"
	"net"
	"os"
	"syscall"
)

// errUnsupported says why the lab does not run here: it needs the whole
// 127.0.0.0/8 network on the loopback interface, the parent-death signal
// and /proc, which Linux has.
var errUnsupported = errors.New("meridian lab runs on Linux only: it needs every 127.x.y.z address on the loopback interface and /proc")

func procAttr() *syscall.SysProcAttr { return nil }

func lockFile(path string) (*os.File, error) { return nil, errUnsupported }

func cmdline(pid int) string { return "" }

func tcpOwner(c net.Conn, pids []int) int { return 0 }

func terminate(p *os.Process) error { return p.Kill() }

func killGroup(pid int) {}

func killPID(pid int) error { return errUnsupported }

func alive(pid int) bool { return false }
