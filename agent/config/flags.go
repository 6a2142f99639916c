package config

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Flags are the command-line flags of `meridian agent`, in Consul's
// spelling. Most flags set a config key and take part in the merge as one
// source laid over the config files; -dev, -config-file, -config-dir,
// -config-format and -hcl steer the loading itself.
type Flags struct {
	fs *flag.FlagSet

	// set holds the values of the flags that were given, by key path; a
	// repeatable flag holds a []string, -node-meta a map.
	set map[string]any
	// flagOf maps key paths to the flag that set them, for messages.
	flagOf map[string]string

	dev          bool
	configPaths  []configPath
	configFormat string
	hcl          []string
}

// configPath is one -config-file or -config-dir.
type configPath struct {
	path string
	dir  bool
}

// flag kinds
const (
	kindString = iota
	kindBool
	kindInt
	kindList
	kindMeta
)

// keyFlag is a flag.Value that records the value for a config key.
type keyFlag struct {
	f    *Flags
	name string
	key  string
	kind int
}

func (v *keyFlag) String() string { return "" }

// IsBoolFlag lets a bool flag be given without a value.
func (v *keyFlag) IsBoolFlag() bool { return v.kind == kindBool }

func (v *keyFlag) Set(s string) error {
	var val any
	switch v.kind {
	case kindString:
		val = s
	case kindBool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("want true or false")
		}
		val = b
	case kindInt:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return fmt.Errorf("want an integer")
		}
		val = n
	case kindList:
		prev, _ := v.f.set[v.key].([]any)
		val = append(prev, s)
	case kindMeta:
		k, value, ok := strings.Cut(s, ":")
		if !ok {
			return fmt.Errorf("want key:value")
		}
		prev, _ := v.f.set[v.key].(map[string]any)
		if prev == nil {
			prev = map[string]any{}
		}
		prev[k] = value
		val = prev
	}
	v.f.set[v.key] = val
	v.f.flagOf[v.key] = "-" + v.name
	return nil
}

// listFlag collects a repeatable flag that steers loading.
type listFlag struct{ add func(string) }

func (l listFlag) String() string     { return "" }
func (l listFlag) Set(s string) error { l.add(s); return nil }

// NewFlags returns the agent's flag set. Parsing errors are returned, not
// printed; Help gives the usage text.
func NewFlags() *Flags {
	f := &Flags{
		fs:     flag.NewFlagSet("agent", flag.ContinueOnError),
		set:    map[string]any{},
		flagOf: map[string]string{},
	}
	f.fs.SetOutput(io.Discard)
	key := func(name, cfgKey string, kind int, usage string) {
		f.fs.Var(&keyFlag{f: f, name: name, key: cfgKey, kind: kind}, name, usage)
	}

	f.fs.BoolVar(&f.dev, "dev", false,
		"Start a single in-memory server for development: server, bootstrap, loopback addresses, fast gossip, no data dir.")
	f.fs.Var(listFlag{func(s string) { f.configPaths = append(f.configPaths, configPath{path: s}) }}, "config-file",
		"A JSON or HCL config file to load. May be given several times; later files override earlier ones.")
	f.fs.Var(listFlag{func(s string) { f.configPaths = append(f.configPaths, configPath{path: s, dir: true}) }}, "config-dir",
		"A directory of .json and .hcl config files, loaded in lexical order. May be given several times.")
	f.fs.StringVar(&f.configFormat, "config-format", "",
		"Read every config file as \"json\" or \"hcl\" whatever its extension.")
	f.fs.Var(listFlag{func(s string) { f.hcl = append(f.hcl, s) }}, "hcl",
		"An HCL config snippet, applied after the flags. May be given several times.")

	key("server", "server", kindBool, "Run the agent as a server.")
	key("bootstrap", "bootstrap", kindBool, "Let this server elect itself leader without peers (single-server clusters only).")
	key("bootstrap-expect", "bootstrap_expect", kindInt, "How many servers to wait for before the first leader election.")
	key("datacenter", "datacenter", kindString, "The datacenter of the agent. Default dc1.")
	key("node", "node_name", kindString, "The node's name, unique in the datacenter. Default the hostname.")
	key("node-id", "node_id", kindString, "The node's UUID. Default a random UUID kept in the data dir.")
	key("node-meta", "node_meta", kindMeta, "A key:value pair of node metadata. May be given several times.")
	key("data-dir", "data_dir", kindString, "The directory of the agent's state. Required unless -dev.")
	key("pid-file", "pid_file", kindString, "A file to write the agent's process ID to.")
	key("bind", "bind_addr", kindString, "The address the server RPC and gossip listeners bind. Default 0.0.0.0.")
	key("advertise", "advertise_addr", kindString, "The address advertised to the LAN pool. Default the bind address, or a private IP.")
	key("advertise-wan", "advertise_addr_wan", kindString, "The address advertised to the WAN pool. Default the -advertise address.")
	key("serf-lan-bind", "serf_lan", kindString, "The address the LAN gossip listener binds. Default the bind address.")
	key("serf-wan-bind", "serf_wan", kindString, "The address the WAN gossip listener binds. Default the bind address.")
	key("client", "client_addr", kindString, "The address(es, space separated) the HTTP and DNS listeners bind. Default 127.0.0.1.")
	key("http-port", "ports.http", kindInt, "The HTTP API port; -1 turns it off. Default 8500.")
	key("dns-port", "ports.dns", kindInt, "The DNS port; -1 turns it off. Default 8600.")
	key("https-port", "ports.https", kindInt, "The HTTPS API port (8501 by convention); -1 turns it off. Default -1.")
	key("server-port", "ports.server", kindInt, "The server RPC port. Default 8300.")
	key("serf-lan-port", "ports.serf_lan", kindInt, "The LAN gossip port. Default 8301.")
	key("serf-wan-port", "ports.serf_wan", kindInt, "The WAN gossip port; -1 keeps a server out of the WAN pool. Default 8302.")
	key("join", "start_join", kindList, "An agent to join at start; failing fails the start. May be given several times.")
	key("join-wan", "start_join_wan", kindList, "A server to join in the WAN pool at start. May be given several times.")
	key("retry-join", "retry_join", kindList, "An agent to join, retrying until it works. May be given several times.")
	key("retry-join-wan", "retry_join_wan", kindList, "A server to join in the WAN pool, retrying until it works. May be given several times.")
	key("retry-interval", "retry_interval", kindString, "The wait between LAN join attempts. Default 30s.")
	key("retry-interval-wan", "retry_interval_wan", kindString, "The wait between WAN join attempts. Default 30s.")
	key("retry-max", "retry_max", kindInt, "The most LAN join attempts; 0 means no limit.")
	key("retry-max-wan", "retry_max_wan", kindInt, "The most WAN join attempts; 0 means no limit.")
	key("rejoin", "rejoin_after_leave", kindBool, "Rejoin the cluster from the snapshot even after a graceful leave.")
	key("encrypt", "encrypt", kindString, "The gossip encryption key: base64 of 16, 24 or 32 bytes (see meridian keygen).")
	key("log-level", "log_level", kindString, "The log level: trace, debug, info, warn or error. Default info.")
	key("log-json", "log_json", kindBool, "Write logs as JSON.")
	key("enable-script-checks", "enable_script_checks", kindBool, "Allow script checks, including from the HTTP API.")
	key("enable-local-script-checks", "enable_local_script_checks", kindBool, "Allow script checks from config files only.")
	key("domain", "domain", kindString, "The DNS domain served. Default consul.")
	key("alt-domain", "alt_domain", kindString, "A second DNS domain served.")
	key("recursor", "recursors", kindList, "An upstream DNS server. May be given several times.")
	key("default-query-time", "default_query_time", kindString, "A blocking query's wait when it names none. Default 5m.")
	key("max-query-time", "max_query_time", kindString, "The longest wait of a blocking query. Default 10m.")
	key("ui", "ui_config.enabled", kindBool, "Serve the web UI at /ui/ on the HTTP API.")

	// Consul flags of features Meridian lacks: accepted and reported as
	// ignored, like their config keys.
	ignored := func(name, cfgKey string, kind int) {
		key(name, cfgKey, kind, "Accepted for compatibility with Consul and ignored.")
	}
	ignored("ui-dir", "ui_dir", kindString)
	ignored("ui-content-path", "ui_content_path", kindString)
	ignored("grpc-port", "ports.grpc", kindInt)
	ignored("grpc-tls-port", "ports.grpc_tls", kindInt)
	ignored("syslog", "enable_syslog", kindBool)
	ignored("log-file", "log_file", kindString)
	ignored("log-rotate-bytes", "log_rotate_bytes", kindInt)
	ignored("log-rotate-duration", "log_rotate_duration", kindString)
	ignored("log-rotate-max-files", "log_rotate_max_files", kindInt)
	ignored("disable-host-node-id", "disable_host_node_id", kindBool)
	ignored("disable-keyring-file", "disable_keyring_file", kindBool)
	ignored("raft-protocol", "raft_protocol", kindInt)
	ignored("protocol", "protocol", kindInt)
	ignored("segment", "segment", kindString)
	ignored("non-voting-server", "non_voting_server", kindBool)
	ignored("read-replica", "read_replica", kindBool)
	ignored("primary-gateway", "primary_gateways", kindList)
	ignored("serf-lan-allowed-cidrs", "serf_lan_allowed_cidrs", kindList)
	ignored("serf-wan-allowed-cidrs", "serf_wan_allowed_cidrs", kindList)
	ignored("auto-reload-config", "auto_reload_config", kindBool)
	return f
}

// FlagSet returns the underlying flag set, for commands that print usage.
func (f *Flags) FlagSet() *flag.FlagSet { return f.fs }

// Parse parses the arguments after "agent". It returns flag.ErrHelp for -h,
// and an error for an unknown flag, a malformed value, a bad
// -config-format, or any argument that is not a flag.
func (f *Flags) Parse(args []string) error {
	if err := f.fs.Parse(args); err != nil {
		return err
	}
	if rest := f.fs.Args(); len(rest) > 0 {
		return fmt.Errorf("unexpected argument %q: the agent takes only flags", rest[0])
	}
	switch f.configFormat {
	case "", FormatJSON, FormatHCL:
	default:
		return fmt.Errorf("invalid value %q for flag -config-format: want %q or %q", f.configFormat, FormatJSON, FormatHCL)
	}
	return nil
}

// Help returns the flags' usage text, one flag after another.
func (f *Flags) Help() string {
	var b bytes.Buffer
	f.fs.SetOutput(&b)
	f.fs.PrintDefaults()
	f.fs.SetOutput(io.Discard)
	return b.String()
}

// tree returns the values of the flags given as a generic configuration
// tree, and which flag set each key path.
func (f *Flags) tree() (map[string]any, map[string]string) {
	root := map[string]any{}
	for path, val := range f.set {
		m := root
		parts := strings.Split(path, ".")
		for _, p := range parts[:len(parts)-1] {
			next, ok := m[p].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[p] = next
			}
			m = next
		}
		m[parts[len(parts)-1]] = val
	}
	return root, f.flagOf
}
