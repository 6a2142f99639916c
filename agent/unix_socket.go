package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/user"
	"strconv"

	"github.com/meridian-sd/meridian/agent/config"
)

// HTTP on a unix socket (addresses.http = "unix:///path"), with the owner
// and mode of unix_sockets, as in Consul. A socket file left by an agent
// that did not shut down cleanly is replaced; any other file at the path
// is an error, so a typo cannot delete an operator's file.

// listenUnix listens on the unix socket path and applies the owner and
// mode. The listener removes the socket file when it is closed.
func listenUnix(path string, sc config.UnixSocketConfig) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("%s exists and is not a unix socket; remove it or choose another path", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("remove the stale socket: %w", err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := applySocketOwner(path, sc); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

// applySocketOwner sets the socket's mode, user and group from
// unix_sockets; empty settings are left as created.
func applySocketOwner(path string, sc config.UnixSocketConfig) error {
	if sc.Mode != "" {
		m, err := strconv.ParseUint(sc.Mode, 8, 32) // checked by the config loader
		if err != nil {
			return fmt.Errorf("unix_sockets.mode %q: %w", sc.Mode, err)
		}
		if err := os.Chmod(path, fs.FileMode(m)); err != nil {
			return fmt.Errorf("unix_sockets.mode: %w", err)
		}
	}
	if sc.User == "" && sc.Group == "" {
		return nil
	}
	uid, gid := -1, -1
	if sc.User != "" {
		id, err := lookupID(sc.User, func(n string) (string, error) {
			u, err := user.Lookup(n)
			if err != nil {
				return "", err
			}
			return u.Uid, nil
		})
		if err != nil {
			return fmt.Errorf("unix_sockets.user %q: %w", sc.User, err)
		}
		uid = id
	}
	if sc.Group != "" {
		id, err := lookupID(sc.Group, func(n string) (string, error) {
			g, err := user.LookupGroup(n)
			if err != nil {
				return "", err
			}
			return g.Gid, nil
		})
		if err != nil {
			return fmt.Errorf("unix_sockets.group %q: %w", sc.Group, err)
		}
		gid = id
	}
	if err := os.Chown(path, uid, gid); err != nil {
		return fmt.Errorf("unix_sockets: set the owner: %w", err)
	}
	return nil
}

// lookupID reads a numeric ID, or looks a name up.
func lookupID(s string, byName func(string) (string, error)) (int, error) {
	if id, err := strconv.Atoi(s); err == nil {
		if id < 0 {
			return 0, fmt.Errorf("negative ID")
		}
		return id, nil
	}
	idStr, err := byName(s)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(idStr)
}

// HTTPAddrString shows a listener's address as an operator would write it:
// host:port, or unix:///path for a socket.
func HTTPAddrString(addr net.Addr) string {
	if addr.Network() == "unix" {
		return "unix://" + addr.String()
	}
	return addr.String()
}
