package config

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testAdvertise is what the tests' AdvertiseIP "finds" for an unspecified
// bind address; a loopback address so nothing here names a real network.
var testAdvertise = netip.MustParseAddr("127.0.0.2")

// testOpts returns LoadOpts that do not depend on the machine: a fixed
// hostname and a fixed detected advertise address.
func testOpts(args ...string) LoadOpts {
	return LoadOpts{
		Args:        args,
		Hostname:    func() (string, error) { return "host1", nil },
		AdvertiseIP: func(netip.Addr) (netip.Addr, error) { return testAdvertise, nil },
	}
}

// writeFiles writes name -> content under a new temporary directory and
// returns the directory. Names may contain subdirectories.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// expandArgs replaces {dir} in every argument.
func expandArgs(args []string, dir string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = strings.ReplaceAll(a, "{dir}", dir)
	}
	return out
}

// mustLoad loads with testOpts and fails the test on error.
func mustLoad(t *testing.T, args ...string) (*RuntimeConfig, []string) {
	t.Helper()
	rc, warnings, err := Load(testOpts(args...))
	if err != nil {
		t.Fatalf("Load(%q) failed: %v", args, err)
	}
	return rc, warnings
}

// configErrors returns the *Error values inside a (joined) error.
func configErrors(err error) []*Error {
	var out []*Error
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		if ce, ok := e.(*Error); ok {
			out = append(out, ce)
			return
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, inner := range j.Unwrap() {
				walk(inner)
			}
			return
		}
		walk(errors.Unwrap(e))
	}
	walk(err)
	return out
}
