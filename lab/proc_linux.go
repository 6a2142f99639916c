//go:build linux

package lab

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// errUnsupported is nil where the lab runs.
var errUnsupported error

// terminate asks an agent to stop.
func terminate(p *os.Process) error { return p.Signal(syscall.SIGTERM) }

// killGroup kills the process group pid leads.
func killGroup(pid int) { syscall.Kill(-pid, syscall.SIGKILL) }

// killPID kills one process.
func killPID(pid int) error { return syscall.Kill(pid, syscall.SIGKILL) }

// alive reports whether pid exists.
func alive(pid int) bool { return pid > 0 && syscall.Kill(pid, 0) == nil }

// procAttr puts an agent in a process group of its own (a ^C in the
// terminal reaches only the lab, which stops the agents in order) and has
// the kernel kill it when the thread that started it ends, which happens
// when the lab dies, even by SIGKILL.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// lockFile takes an exclusive lock on path without waiting; the kernel
// drops it when the process dies.
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errLocked
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return f, nil
}

// cmdline is the command line of pid, arguments separated by spaces; ""
// when the process is gone.
func cmdline(pid int) string {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	if err != nil {
		return ""
	}
	return strings.ReplaceAll(strings.TrimRight(string(b), "\x00"), "\x00", " ")
}

// tcpOwner returns the process among pids that holds the other end of c, a
// connection accepted from a process on this machine, or 0; or -1 when the
// other end is already closed (a caller that gave up, on a loaded
// machine, before the relay got to its connection).
//
// /proc/net/tcp lists every TCP socket with its local and remote address
// and its inode; the other end of c is the socket whose local address is
// c's remote address and whose remote address is c's local address. A
// process holding it has the link socket:[inode] among its /proc/PID/fd.
func tcpOwner(c net.Conn, pids []int) int {
	la, ok1 := c.LocalAddr().(*net.TCPAddr)
	ra, ok2 := c.RemoteAddr().(*net.TCPAddr)
	if !ok1 || !ok2 || la.IP.To4() == nil || ra.IP.To4() == nil {
		return 0
	}
	inode := peerInode(procHex(ra), procHex(la))
	switch inode {
	case "":
		return 0
	case "0": // no process holds it any more
		return -1
	}
	want := "socket:[" + inode + "]"
	for _, pid := range pids {
		dir := filepath.Join("/proc", strconv.Itoa(pid), "fd")
		ents, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range ents {
			if l, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil && l == want {
				return pid
			}
		}
	}
	return 0
}

// procHex renders an IPv4 address and port as /proc/net/tcp does, in both
// byte orders the kernel may use for the address (host order).
func procHex(a *net.TCPAddr) [2]string {
	ip := a.IP.To4()
	port := fmt.Sprintf(":%04X", a.Port)
	return [2]string{
		fmt.Sprintf("%02X%02X%02X%02X", ip[3], ip[2], ip[1], ip[0]) + port, // little-endian hosts
		fmt.Sprintf("%02X%02X%02X%02X", ip[0], ip[1], ip[2], ip[3]) + port, // big-endian hosts
	}
}

// peerInode finds the inode of the socket from local to remote in
// /proc/net/tcp.
func peerInode(local, remote [2]string) string {
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 10 {
			continue
		}
		for i := range local {
			if fs[1] == local[i] && fs[2] == remote[i] {
				return fs[9]
			}
		}
	}
	return ""
}
