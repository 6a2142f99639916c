package server

import (
	"regexp"
	"strings"
	"testing"
)

// TestACLNameRules: the hand-written name checks accept exactly what
// Consul's patterns do.
func TestACLNameRules(t *testing.T) {
	patterns := []struct {
		name string
		fn   func(string) bool
		re   *regexp.Regexp
	}{
		{"policy", aclPolicyName, regexp.MustCompile(`^[A-Za-z0-9\-_]{1,128}$`)},
		{"role", aclRoleName, regexp.MustCompile(`^[A-Za-z0-9\-_]{1,256}$`)},
		{"dc", aclDCName, regexp.MustCompile(`^[a-z0-9_-]{1,64}$`)},
	}
	inputs := []string{"", "a", "A", "dc1", "DC1", "web-read_only", "a b", "a.b", "é", "a\n", "-", "_",
		strings.Repeat("a", 64), strings.Repeat("a", 65), strings.Repeat("x", 128), strings.Repeat("x", 129),
		strings.Repeat("y", 256), strings.Repeat("y", 257), "name/", "x:y", "\x00"}
	for _, p := range patterns {
		for _, in := range inputs {
			if got, want := p.fn(in), p.re.MatchString(in); got != want {
				t.Errorf("%s name %q: got %v, the pattern says %v", p.name, in, got, want)
			}
		}
	}
}
