package config

import (
	"encoding/base64"
	"fmt"
	"net/netip"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-sockaddr/template"
	"github.com/hashicorp/go-uuid"
)

// Value checks applied while decoding, named by the raw types' check tags.
// Each returns "" when the value is fine, or the rest of a sentence saying
// what is wrong; the decoder prefixes the source and key. String checks may
// also return a normalised value (a lower-cased datacenter, a resolved
// go-sockaddr template).

// Limits on metadata, as Consul's.
const (
	// MetaMaxPairs is the most key/value pairs node_meta or a service's
	// meta may hold.
	MetaMaxPairs = 64
	// MetaKeyMaxLength is the longest a metadata key may be.
	MetaKeyMaxLength = 128
	// MetaValueMaxLength is the longest a metadata value may be.
	MetaValueMaxLength = 512
	// MetaReservedPrefix starts node metadata keys reserved for the agent.
	MetaReservedPrefix = "consul-"
)

// RaftMultiplierMax is the largest performance.raft_multiplier, as Consul's.
const RaftMultiplierMax = 10

var (
	datacenterRE = regexp.MustCompile(`^[a-z0-9_-]+$`)
	metaKeyRE    = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)
)

// checkString applies a string check and returns the value to store.
func checkString(check, s string) (string, string) {
	switch check {
	case "":
		return s, ""
	case "nonempty":
		if strings.TrimSpace(s) == "" {
			return "", "must not be empty"
		}
		return s, ""
	case "datacenter":
		return validDatacenter(s)
	case "uuid":
		if _, err := uuid.ParseUUID(s); err != nil {
			return "", fmt.Sprintf("%q is not a valid UUID (want the form 8-4-4-4-12 of hex digits)", s)
		}
		return strings.ToLower(s), ""
	case "loglevel":
		return validLogLevel(s)
	case "encrypt":
		if msg := validEncryptKey(s); msg != "" {
			return "", msg
		}
		return s, ""
	case "ip":
		addrs, msg := resolveAddrs(s)
		if msg != "" {
			return "", msg
		}
		if len(addrs) != 1 {
			return "", fmt.Sprintf("%q gives %d addresses, want exactly one", s, len(addrs))
		}
		return addrs[0].String(), ""
	case "ips_or_unix":
		paths, rest, msg := splitUnixAddrs(s)
		if msg != "" {
			return "", msg
		}
		if len(paths) > 0 && strings.TrimSpace(rest) == "" {
			return s, ""
		}
		if _, msg := checkString("ips", rest); msg != "" {
			return "", msg
		}
		return s, ""
	case "filemode":
		m, err := strconv.ParseUint(s, 8, 32)
		if err != nil || m > 0o777 {
			return "", fmt.Sprintf("%q is not a file mode: give octal permission bits like \"0770\"", s)
		}
		return s, ""
	case "ips":
		addrs, msg := resolveAddrs(s)
		if msg != "" {
			return "", msg
		}
		if len(addrs) == 0 {
			return "", fmt.Sprintf("%q gives no address", s)
		}
		parts := make([]string, len(addrs))
		for i, a := range addrs {
			parts[i] = a.String()
		}
		return strings.Join(parts, " "), ""
	}
	panic("config: unknown string check " + check)
}

// validDatacenter lower-cases a datacenter name, as Consul does, and checks
// it against Consul's rule.
func validDatacenter(s string) (string, string) {
	lower := strings.ToLower(s)
	if !datacenterRE.MatchString(lower) {
		return "", fmt.Sprintf("%q is not a valid datacenter name: use only letters, digits, '-' and '_'", s)
	}
	return lower, ""
}

// Log levels, as hclog names them.
var logLevels = map[string]string{
	"trace": "trace", "debug": "debug", "info": "info",
	"warn": "warn", "warning": "warn", "err": "error", "error": "error",
}

// validLogLevel returns the canonical name of a log level.
func validLogLevel(s string) (string, string) {
	if l, ok := logLevels[strings.ToLower(strings.TrimSpace(s))]; ok {
		return l, ""
	}
	return "", fmt.Sprintf("unknown log level %q (want trace, debug, info, warn or error)", s)
}

// validEncryptKey checks a gossip key: the base64 encoding of an AES-128,
// AES-192 or AES-256 key. The key itself never appears in messages.
func validEncryptKey(s string) string {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return "the key is not valid base64: it must be the base64 encoding of 16, 24 or 32 bytes (see meridian keygen)"
	}
	switch len(b) {
	case 16, 24, 32:
		return ""
	}
	return fmt.Sprintf("the key decodes to %d bytes: it must be the base64 encoding of 16, 24 or 32 bytes (see meridian keygen)", len(b))
}

// resolveAddrs turns an address setting into IP addresses. The setting is a
// space-separated list of IP addresses, or a go-sockaddr template (like
// `{{ GetPrivateIP }}` or `{{ GetInterfaceIP "eth0" }}`) that expands to
// one, as in Consul.
func resolveAddrs(s string) ([]netip.Addr, string) {
	expanded := s
	if strings.Contains(s, "{{") {
		out, err := template.Parse(s)
		if err != nil {
			return nil, fmt.Sprintf("go-sockaddr template %q failed: %v", s, err)
		}
		expanded = out
	}
	fields := strings.Fields(expanded)
	if len(fields) == 0 && expanded != s {
		return nil, fmt.Sprintf("go-sockaddr template %q gives no address", s)
	}
	addrs := make([]netip.Addr, 0, len(fields))
	for _, f := range fields {
		if strings.HasPrefix(f, "unix://") {
			return nil, fmt.Sprintf("%q is a unix socket, which only addresses.http accepts: give an IP address", f)
		}
		a, err := netip.ParseAddr(strings.Trim(f, "[]"))
		if err != nil || a.Zone() != "" {
			return nil, fmt.Sprintf("%q is not an IP address", f)
		}
		addrs = append(addrs, a.Unmap())
	}
	return addrs, ""
}

// splitUnixAddrs takes the unix:///path entries out of a space-separated
// address list (addresses.http may mix them with IP addresses, as in
// Consul) and returns their paths and the rest of the list.
func splitUnixAddrs(s string) (paths []string, rest string, msg string) {
	var others []string
	for _, f := range strings.Fields(s) {
		p, ok := strings.CutPrefix(f, "unix://")
		if !ok {
			others = append(others, f)
			continue
		}
		if !filepath.IsAbs(p) {
			return nil, "", fmt.Sprintf("%q: a unix socket needs an absolute path, as in unix:///run/meridian/http.sock", f)
		}
		paths = append(paths, filepath.Clean(p))
	}
	return paths, strings.Join(others, " "), ""
}

// checkInt applies an integer check.
func checkInt(check string, n int64) string {
	switch check {
	case "":
		return ""
	case "nonneg":
		if n < 0 {
			return fmt.Sprintf("%d must not be negative", n)
		}
	case "positive":
		if n <= 0 {
			return fmt.Sprintf("%d must be greater than zero", n)
		}
	case "value_size":
		// A KV value or a transaction's values of this size must leave
		// room in one Raft entry (structs.MaxRaftEntrySize) for the keys.
		if n <= 0 || n > MaxKVValueSize {
			return fmt.Sprintf("%d is not a valid size (want 1 to %d bytes)", n, MaxKVValueSize)
		}
	case "port":
		if n < 0 || n > 65535 {
			return fmt.Sprintf("%d is not a valid port (want 0 to 65535)", n)
		}
	case "port_or_off":
		if n < -1 || n > 65535 {
			return fmt.Sprintf("%d is not a valid port (want 0 to 65535, or -1 to turn the listener off)", n)
		}
	case "raft_multiplier":
		if n < 1 || n > RaftMultiplierMax {
			return fmt.Sprintf("%d is out of range (want 1 to %d)", n, RaftMultiplierMax)
		}
	default:
		panic("config: unknown integer check " + check)
	}
	return ""
}

// checkDuration applies a duration check; no duration may be negative.
func checkDuration(check string, d time.Duration) string {
	if d < 0 {
		return fmt.Sprintf("duration %s must not be negative", d)
	}
	if check == "positive" && d == 0 {
		return "duration must be greater than zero"
	}
	return ""
}

// checkMap applies a map check.
func checkMap(check string, m any) string {
	switch check {
	case "nodemeta":
		return validMeta(m.(map[string]string), true)
	case "servicemeta":
		return validMeta(m.(map[string]string), false)
	}
	panic("config: unknown map check " + check)
}

// validMeta checks metadata against Consul's limits.
func validMeta(m map[string]string, node bool) string {
	if len(m) > MetaMaxPairs {
		return fmt.Sprintf("%d pairs is too many (the limit is %d)", len(m), MetaMaxPairs)
	}
	for _, k := range sortedKeys(m) {
		switch {
		case k == "":
			return "a key must not be empty"
		case len(k) > MetaKeyMaxLength:
			return fmt.Sprintf("key %q is longer than %d characters", k, MetaKeyMaxLength)
		case !metaKeyRE.MatchString(k):
			return fmt.Sprintf("key %q is invalid: use only letters, digits, '-' and '_'", k)
		case node && strings.HasPrefix(k, MetaReservedPrefix):
			return fmt.Sprintf("key %q uses the reserved prefix %q", k, MetaReservedPrefix)
		case len(m[k]) > MetaValueMaxLength:
			return fmt.Sprintf("the value of %q is longer than %d characters", k, MetaValueMaxLength)
		}
	}
	return ""
}
