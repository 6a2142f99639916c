package config

import (
	"errors"
	"flag"
	"net/netip"
	"strings"
	"testing"
)

// server is the smallest valid server config, to build error cases on.
const serverHCL = `server = true
data_dir = "/tmp/meridian-test"
`

// TestLoadErrors covers every validation error: each must name the source
// (file or flag) and the key, and say what is wrong.
func TestLoadErrors(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		args  []string
		// want are substrings of the error text; {dir} is the temp dir.
		want []string
		// key, when set, must be the Key of one of the *Error values.
		key string
	}{
		// Durations.
		{
			name:  "bad duration json",
			files: map[string]string{"a.json": `{"data_dir": "/d", "retry_interval": "10x"}`},
			args:  []string{"-config-file", "{dir}/a.json"},
			want:  []string{`config file "{dir}/a.json": retry_interval: invalid duration "10x"`},
			key:   "retry_interval",
		},
		{
			name:  "bad duration hcl nested",
			files: map[string]string{"a.hcl": serverHCL + `gossip_lan { probe_interval = "1 second" }`},
			args:  []string{"-config-file", "{dir}/a.hcl"},
			want:  []string{`config file "{dir}/a.hcl": gossip_lan.probe_interval: invalid duration "1 second"`},
			key:   "gossip_lan.probe_interval",
		},
		{
			name:  "duration as number",
			files: map[string]string{"a.json": `{"data_dir": "/d", "reconnect_timeout": 10}`},
			args:  []string{"-config-file", "{dir}/a.json"},
			want:  []string{`reconnect_timeout: want a duration like "10s", got the number 10`},
		},
		{
			name:  "negative duration",
			files: map[string]string{"a.json": `{"data_dir": "/d", "session_ttl_min": "-1s"}`},
			args:  []string{"-config-file", "{dir}/a.json"},
			want:  []string{`session_ttl_min: duration -1s must not be negative`},
		},
		{
			name: "bad duration flag",
			args: []string{"-data-dir", "/d", "-retry-interval", "10x"},
			want: []string{`flag -retry-interval: invalid duration "10x"`},
			key:  "retry_interval",
		},

		// Limits.
		{
			name:  "kv value size beyond a snapshot record",
			files: map[string]string{"a.hcl": `data_dir = "/d"` + "\nlimits { kv_max_value_size = 67108864 }"},
			args:  []string{"-config-file", "{dir}/a.hcl"},
			want:  []string{`config file "{dir}/a.hcl": limits.kv_max_value_size: 67108864 is not a valid size (want 1 to 33554432 bytes)`},
			key:   "limits.kv_max_value_size",
		},
		{
			name:  "txn request length beyond a raft entry",
			files: map[string]string{"a.hcl": `data_dir = "/d"` + "\nlimits { txn_max_req_len = 67108864 }"},
			args:  []string{"-config-file", "{dir}/a.hcl"},
			want:  []string{`config file "{dir}/a.hcl": limits.txn_max_req_len: 67108864 is not a valid size (want 1 to 33554432 bytes)`},
			key:   "limits.txn_max_req_len",
		},

		// Ports.
		{
			name:  "negative port",
			files: map[string]string{"a.json": `{"data_dir": "/d", "ports": {"server": -5}}`},
			args:  []string{"-config-file", "{dir}/a.json"},
			want:  []string{`config file "{dir}/a.json": ports.server: -5 is not a valid port (want 0 to 65535)`},
			key:   "ports.server",
		},
		{
			name:  "port -1 only turns off http and dns",
			files: map[string]string{"a.hcl": `data_dir = "/d"` + "\nports { serf_lan = -1 }"},
			args:  []string{"-config-file", "{dir}/a.hcl"},
			want:  []string{`ports.serf_lan: -1 is not a valid port`},
		},
		{
			name:  "port too large",
			files: map[string]string{"a.hcl": `data_dir = "/d"` + "\nports { http = 70000 }"},
			args:  []string{"-config-file", "{dir}/a.hcl"},
			want:  []string{`config file "{dir}/a.hcl": ports.http: 70000 is not a valid port`},
			key:   "ports.http",
		},
		{
			name: "port too large flag",
			args: []string{"-data-dir", "/d", "-dns-port", "65536"},
			want: []string{`flag -dns-port: 65536 is not a valid port`},
		},
		{
			name: "port not a number flag",
			args: []string{"-http-port", "http"},
			want: []string{`invalid value "http" for flag -http-port: want an integer`},
		},
		{
			name:  "port as string",
			files: map[string]string{"a.json": `{"data_dir": "/d", "ports": {"http": "8500"}}`},
			args:  []string{"-config-file", "{dir}/a.json"},
			want:  []string{`ports.http: want an integer, got the string "8500"`},
		},
		{
			name:  "service port out of range",
			files: map[string]string{"a.json": `{"data_dir": "/d", "service": {"name": "web", "port": 65536}}`},
			args:  []string{"-config-file", "{dir}/a.json"},
			want:  []string{`service.port: 65536 is not a valid port`},
		},
		{
			name: "listeners collide",
			args: []string{"-data-dir", "/d", "-server", "-server-port", "8301"},
			want: []string{`ports.server and ports.serf_lan are both port 8301`},
		},

		// Server modes.
		{
			name:  "bootstrap with bootstrap_expect",
			files: map[string]string{"a.hcl": serverHCL + "bootstrap = true\nbootstrap_expect = 3\n"},
			args:  []string{"-config-file", "{dir}/a.hcl"},
			want:  []string{`bootstrap and bootstrap_expect cannot both be set`},
		},
		{
			name: "bootstrap_expect on a client",
			args: []string{"-data-dir", "/d", "-bootstrap-expect", "3"},
			want: []string{`bootstrap_expect is set but the agent is not a server`},
		},
		{
			name: "bootstrap on a client",
			args: []string{"-data-dir", "/d", "-bootstrap"},
			want: []string{`bootstrap is set but the agent is not a server`},
		},
		{
			name: "bootstrap_expect in dev mode",
			args: []string{"-dev", "-bootstrap-expect", "3"},
			want: []string{`bootstrap_expect cannot be used in -dev mode`},
		},
		{
			name: "negative bootstrap_expect",
			args: []string{"-data-dir", "/d", "-server", "-bootstrap-expect", "-1"},
			want: []string{`flag -bootstrap-expect: -1 must not be negative`},
		},
		{
			name: "wan join on a client",
			args: []string{"-data-dir", "/d", "-retry-join-wan", "127.0.0.5"},
			want: []string{`retry_join_wan are for servers`},
		},

		// Identity.
		{
			name: "encrypt not base64",
			args: []string{"-data-dir", "/d", "-encrypt", "not base64!"},
			want: []string{`flag -encrypt: the key is not valid base64: it must be the base64 encoding of 16, 24 or 32 bytes`},
			key:  "encrypt",
		},
		{
			name:  "encrypt wrong length",
			files: map[string]string{"a.json": `{"data_dir": "/d", "encrypt": "MTIzNDU2Nzg5MA=="}`},
			args:  []string{"-config-file", "{dir}/a.json"},
			want:  []string{`config file "{dir}/a.json": encrypt: the key decodes to 10 bytes: it must be the base64 encoding of 16, 24 or 32 bytes`},
		},
		{
			name:  "node_id not a uuid",
			files: map[string]string{"a.json": `{"data_dir": "/d", "node_id": "abc"}`},
			args:  []string{"-config-file", "{dir}/a.json"},
			want:  []string{`config file "{dir}/a.json": node_id: "abc" is not a valid UUID`},
			key:   "node_id",
		},
		{
			name: "node-id flag not a uuid",
			args: []string{"-data-dir", "/d", "-node-id", "12345678-1234-1234-1234-12345678901"},
			want: []string{`flag -node-id: "12345678-1234-1234-1234-12345678901" is not a valid UUID`},
		},
		{
			name:  "log level",
			files: map[string]string{"a.hcl": `data_dir = "/d"` + "\nlog_level = \"verbose\""},
			args:  []string{"-config-file", "{dir}/a.hcl"},
			want:  []string{`config file "{dir}/a.hcl": log_level: unknown log level "verbose" (want trace, debug, info, warn or error)`},
		},
		{
			name: "log level flag",
			args: []string{"-data-dir", "/d", "-log-level", "loud"},
			want: []string{`flag -log-level: unknown log level "loud"`},
		},
		{
			name: "data_dir missing",
			args: []string{"-server"},
			want: []string{`data_dir is required (set data_dir or -data-dir) unless the agent runs with -dev`},
		},
		{
			name:  "data_dir is a file",
			files: map[string]string{"file": "x"},
			args:  []string{"-data-dir", "{dir}/file"},
			want:  []string{`data_dir "{dir}/file" is not a directory`},
		},
		{
			name:  "datacenter with a space",
			files: map[string]string{"a.json": `{"data_dir": "/d", "datacenter": "dc 1"}`},
			args:  []string{"-config-file", "{dir}/a.json"},
			want:  []string{`config file "{dir}/a.json": datacenter: "dc 1" is not a valid datacenter name: use only letters, digits, '-' and '_'`},
			key:   "datacenter",
		},
		{
			name: "datacenter with a dot",
			args: []string{"-data-dir", "/d", "-datacenter", "eu.west"},
			want: []string{`flag -datacenter: "eu.west" is not a valid datacenter name`},
		},
		{
			name:  "empty node name",
			files: map[string]string{"a.json": `{"data_dir": "/d", "node_name": ""}`},
			args:  []string{"-config-file", "{dir}/a.json"},
			want:  []string{`node_name: must not be empty`},
		},
		{
			name:  "node_meta reserved prefix",
			files: map[string]string{"a.json": `{"data_dir": "/d", "node_meta": {"consul-x": "1"}}`},
			args:  []string{"-config-file", "{dir}/a.json"},
			want:  []string{`node_meta: key "consul-x" uses the reserved prefix "consul-"`},
		},
		{
			name: "node-meta flag without a colon",
			args: []string{"-node-meta", "rack"},
			want: []string{`invalid value "rack" for flag -node-meta: want key:value`},
		},
		{
			name: "node-meta flag bad key",
			args: []string{"-data-dir", "/d", "-node-meta", "a b:c"},
			want: []string{`flag -node-meta: key "a b" is invalid`},
		},
		{
			name:  "node_meta value not a string",
			files: map[string]string{"a.hcl": "data_dir = \"/d\"\nnode_meta { rack = 3 }"},
			args:  []string{"-config-file", "{dir}/a.hcl"},
			want:  []string{`node_meta.rack: want a string, got the number 3`},
		},

		// Addresses.
		{
			name:  "bind not an IP",
			files: map[string]string{"a.json": `{"data_dir": "/d", "bind_addr": "1.2.3"}`},
			args:  []string{"-config-file", "{dir}/a.json"},
			want:  []string{`config file "{dir}/a.json": bind_addr: "1.2.3" is not an IP address`},
			key:   "bind_addr",
		},
		{
			name: "advertise not an IP",
			args: []string{"-data-dir", "/d", "-advertise", "example.com"},
			want: []string{`flag -advertise: "example.com" is not an IP address`},
		},
		{
			name: "client list with a bad entry",
			args: []string{"-data-dir", "/d", "-client", "127.0.0.1 nope"},
			want: []string{`flag -client: "nope" is not an IP address`},
		},
		{
			name: "bind with two addresses",
			args: []string{"-data-dir", "/d", "-bind", "127.0.0.1 127.0.0.2"},
			want: []string{`flag -bind: "127.0.0.1 127.0.0.2" gives 2 addresses, want exactly one`},
		},
		{
			name:  "bad template",
			files: map[string]string{"a.hcl": "data_dir = \"/d\"\nbind_addr = \"{{ GetNoSuchThing }}\""},
			args:  []string{"-config-file", "{dir}/a.hcl"},
			want:  []string{`config file "{dir}/a.hcl": bind_addr: go-sockaddr template "{{ GetNoSuchThing }}" failed`},
		},
		{
			name:  "unix socket for dns",
			files: map[string]string{"a.hcl": "data_dir = \"/d\"\naddresses { dns = \"unix:///tmp/m.sock\" }"},
			args:  []string{"-config-file", "{dir}/a.hcl"},
			want:  []string{`addresses.dns: "unix:///tmp/m.sock" is a unix socket, which only addresses.http accepts`},
		},
		{
			name:  "relative unix socket",
			files: map[string]string{"a.hcl": "data_dir = \"/d\"\naddresses { http = \"unix://m.sock\" }"},
			args:  []string{"-config-file", "{dir}/a.hcl"},
			want:  []string{`addresses.http: "unix://m.sock": a unix socket needs an absolute path`},
		},
		{
			name:  "bad socket mode",
			files: map[string]string{"a.hcl": "data_dir = \"/d\"\nunix_sockets { mode = \"rwx\" }"},
			args:  []string{"-config-file", "{dir}/a.hcl"},
			want:  []string{`unix_sockets.mode: "rwx" is not a file mode`},
		},
		{
			name: "advertise unspecified",
			args: []string{"-data-dir", "/d", "-advertise", "0.0.0.0"},
			want: []string{`advertise_addr cannot be 0.0.0.0`},
		},

		// Services and checks.
		{
			name:  "service without a name",
			files: map[string]string{"a.json": `{"data_dir": "/d", "services": [{"name": "ok"}, {"port": 80}]}`},
			args:  []string{"-config-file", "{dir}/a.json"},
			want:  []string{`config file "{dir}/a.json": services[1]: a service needs a name`},
			key:   "services[1]",
		},
		{
			name: "check with a bad interval",
			files: map[string]string{"a.hcl": `data_dir = "/d"
service {
  name = "web"
  check { http = "http://127.0.0.1:80/health" interval = "5x" }
}`},
			args: []string{"-config-file", "{dir}/a.hcl"},
			want: []string{`config file "{dir}/a.hcl": service.check.interval: invalid duration "5x"`},
			key:  "service.check.interval",
		},
		{
			name:  "check of no kind",
			files: map[string]string{"a.json": `{"data_dir": "/d", "service": {"name": "web", "checks": [{"ttl": "10s"}, {"name": "x", "interval": "10s"}]}}`},
			args:  []string{"-config-file", "{dir}/a.json"},
			want:  []string{`config file "{dir}/a.json": service.checks[1]: a check needs one of ttl, http, tcp or args`},
			key:   "service.checks[1]",
		},
		{
			name:  "http check without interval",
			files: map[string]string{"a.json": `{"data_dir": "/d", "check": {"name": "up", "http": "http://127.0.0.1:80/"}}`},
			args:  []string{"-config-file", "{dir}/a.json"},
			want:  []string{`config file "{dir}/a.json": check.interval: an interval is required for http checks`},
			key:   "check.interval",
		},
		{
			name:  "script check without interval",
			files: map[string]string{"a.json": `{"data_dir": "/d", "enable_local_script_checks": true, "checks": [{"name": "s", "args": ["/bin/true"]}]}`},
			args:  []string{"-config-file", "{dir}/a.json"},
			want:  []string{`checks[0].interval: an interval is required for script checks`},
		},
		{
			name:  "unparsable http url",
			files: map[string]string{"a.json": `{"data_dir": "/d", "check": {"name": "up", "http": "http://[::1", "interval": "10s"}}`},
			args:  []string{"-config-file", "{dir}/a.json"},
			want:  []string{`check.http: "http://[::1" is not a valid URL`},
			key:   "check.http",
		},
		{
			name:  "http url without scheme",
			files: map[string]string{"a.json": `{"data_dir": "/d", "check": {"name": "up", "http": "127.0.0.1:80/health", "interval": "10s"}}`},
			args:  []string{"-config-file", "{dir}/a.json"},
			want:  []string{`check.http: "127.0.0.1:80/health" must start with http:// or https://`},
		},
		{
			name:  "tcp without port",
			files: map[string]string{"a.json": `{"data_dir": "/d", "check": {"name": "up", "tcp": "127.0.0.1", "interval": "10s"}}`},
			args:  []string{"-config-file", "{dir}/a.json"},
			want:  []string{`check.tcp: "127.0.0.1" is not a host:port address`},
		},
		{
			name:  "two kinds",
			files: map[string]string{"a.json": `{"data_dir": "/d", "check": {"name": "up", "ttl": "10s", "tcp": "127.0.0.1:1"}}`},
			args:  []string{"-config-file", "{dir}/a.json"},
			want:  []string{`check: a check may have only one of ttl, http, tcp or args, not ttl and tcp`},
		},
		{
			name:  "ttl with interval",
			files: map[string]string{"a.json": `{"data_dir": "/d", "check": {"name": "up", "ttl": "10s", "interval": "10s"}}`},
			args:  []string{"-config-file", "{dir}/a.json"},
			want:  []string{`check.interval: a ttl check takes no interval`},
		},
		{
			name:  "bad status",
			files: map[string]string{"a.json": `{"data_dir": "/d", "check": {"name": "up", "ttl": "10s", "status": "ok"}}`},
			args:  []string{"-config-file", "{dir}/a.json"},
			want:  []string{`check.status: "ok" is not a check status`},
		},
		{
			name:  "node check without a name",
			files: map[string]string{"a.json": `{"data_dir": "/d", "check": {"ttl": "10s"}}`},
			args:  []string{"-config-file", "{dir}/a.json"},
			want:  []string{`config file "{dir}/a.json": check: a check needs a name`},
		},
		{
			name:  "grpc check",
			files: map[string]string{"a.json": `{"data_dir": "/d", "service": {"name": "api", "check": {"grpc": "127.0.0.1:9000", "interval": "10s"}}}`},
			args:  []string{"-config-file", "{dir}/a.json"},
			want:  []string{`config file "{dir}/a.json": service.check: grpc checks are not supported by Meridian`},
		},
		{
			name:  "script checks disabled",
			files: map[string]string{"a.json": `{"data_dir": "/d", "service": {"name": "db", "check": {"args": ["/bin/check"], "interval": "10s"}}}`},
			args:  []string{"-config-file", "{dir}/a.json"},
			want:  []string{`config file "{dir}/a.json": service: check "service:db" runs a script, and script checks are disabled`},
		},
		{
			name: "duplicate service ids across files",
			files: map[string]string{
				"a.json": `{"data_dir": "/d", "service": {"name": "web"}}`,
				"b.hcl":  `services { name = "web" }`,
			},
			args: []string{"-config-dir", "{dir}"},
			want: []string{`config file "{dir}/b.hcl": services[0]: service ID "web" is already defined at service in config file "{dir}/a.json"`},
		},
		{
			name:  "duplicate check ids",
			files: map[string]string{"a.json": `{"data_dir": "/d", "checks": [{"name": "x", "ttl": "1s"}, {"name": "x", "ttl": "2s"}]}`},
			args:  []string{"-config-file", "{dir}/a.json"},
			want:  []string{`checks[1]: check ID "x" is already defined at checks[0]`},
		},
		{
			name:  "weights passing zero",
			files: map[string]string{"a.json": `{"data_dir": "/d", "service": {"name": "web", "weights": {"passing": 0}}}`},
			args:  []string{"-config-file", "{dir}/a.json"},
			want:  []string{`service.weights.passing: 0 must be at least 1`},
		},

		// Types and shapes.
		{
			name:  "bool as string",
			files: map[string]string{"a.json": `{"data_dir": "/d", "server": "yes"}`},
			args:  []string{"-config-file", "{dir}/a.json"},
			want:  []string{`server: want true or false, got the string "yes"`},
		},
		{
			name:  "list as string",
			files: map[string]string{"a.json": `{"data_dir": "/d", "retry_join": "127.0.0.5"}`},
			args:  []string{"-config-file", "{dir}/a.json"},
			want:  []string{`retry_join: want a list of strings, got the string "127.0.0.5"`},
		},
		{
			name:  "block as number",
			files: map[string]string{"a.json": `{"data_dir": "/d", "ports": 8500}`},
			args:  []string{"-config-file", "{dir}/a.json"},
			want:  []string{`ports: want a block of keys, got the number 8500`},
		},
		{
			name:  "two service blocks",
			files: map[string]string{"a.hcl": "data_dir = \"/d\"\nservice { name = \"a\" }\nservice { name = \"b\" }"},
			args:  []string{"-config-file", "{dir}/a.hcl"},
			want:  []string{`service: want one block, got 2`},
		},
		{
			name:  "raft multiplier out of range",
			files: map[string]string{"a.hcl": serverHCL + "performance { raft_multiplier = 11 }"},
			args:  []string{"-config-file", "{dir}/a.hcl"},
			want:  []string{`performance.raft_multiplier: 11 is out of range (want 1 to 10)`},
		},
		{
			name:  "gossip multiplier zero",
			files: map[string]string{"a.hcl": serverHCL + "gossip_wan { suspicion_mult = 0 }"},
			args:  []string{"-config-file", "{dir}/a.hcl"},
			want:  []string{`gossip_wan.suspicion_mult: 0 must be greater than zero`},
		},
		{
			name:  "probe timeout above interval",
			files: map[string]string{"a.hcl": serverHCL + `gossip_lan { probe_interval = "1s" probe_timeout = "2s" }`},
			args:  []string{"-config-file", "{dir}/a.hcl"},
			want:  []string{`gossip_lan.probe_timeout 2s must not exceed gossip_lan.probe_interval 1s`},
		},
		{
			name: "default query time above max",
			args: []string{"-data-dir", "/d", "-default-query-time", "20m"},
			want: []string{`default_query_time 20m0s must not exceed max_query_time 10m0s`},
		},
		{
			name: "alt domain equals domain",
			args: []string{"-data-dir", "/d", "-alt-domain", "consul"},
			want: []string{`alt_domain "consul" must differ from domain`},
		},

		// Unknown keys.
		{
			name:  "unknown top-level key",
			files: map[string]string{"a.json": `{"data_dir": "/d", "frobnicate": 1}`},
			args:  []string{"-config-file", "{dir}/a.json"},
			want:  []string{`config file "{dir}/a.json": unknown key "frobnicate"`},
			key:   "frobnicate",
		},
		{
			name:  "unknown nested key hcl",
			files: map[string]string{"a.hcl": "data_dir = \"/d\"\nports { htpt = 1 }"},
			args:  []string{"-config-file", "{dir}/a.hcl"},
			want:  []string{`config file "{dir}/a.hcl": unknown key "ports.htpt"`},
			key:   "ports.htpt",
		},
		{
			name:  "unknown key in a service's check",
			files: map[string]string{"a.json": `{"data_dir": "/d", "services": [{"name": "a"}, {"name": "b", "checks": [{"ttl": "1s", "frob": true}]}]}`},
			args:  []string{"-config-file", "{dir}/a.json"},
			want:  []string{`config file "{dir}/a.json": unknown key "services[1].checks[0].frob"`},
		},
		{
			name:  "unknown key in a supported block",
			files: map[string]string{"a.json": `{"data_dir": "/d", "dns_config": {"allow_stale": true, "stale_max": "1s"}}`},
			args:  []string{"-config-file", "{dir}/a.json"},
			want:  []string{`unknown key "dns_config.stale_max"`},
		},

		// Syntax and files.
		{
			name:  "json syntax",
			files: map[string]string{"a.json": "{\n  \"data_dir\": \"/d\",\n  \"server\": true,,\n}"},
			args:  []string{"-config-file", "{dir}/a.json"},
			want:  []string{`config file "{dir}/a.json": invalid JSON: line 3:`},
		},
		{
			name:  "json not an object",
			files: map[string]string{"a.json": `["data_dir"]`},
			args:  []string{"-config-file", "{dir}/a.json"},
			want:  []string{`invalid JSON: the top level must be an object, not a list`},
		},
		{
			name:  "json trailing data",
			files: map[string]string{"a.json": `{"data_dir": "/d"} {}`},
			args:  []string{"-config-file", "{dir}/a.json"},
			want:  []string{`invalid JSON: unexpected data after the top-level object`},
		},
		{
			name:  "hcl syntax",
			files: map[string]string{"a.hcl": "data_dir = \"/d\"\nports {"},
			args:  []string{"-config-file", "{dir}/a.hcl"},
			want:  []string{`config file "{dir}/a.hcl": invalid HCL:`},
		},
		{
			name:  "hcl key without a value at the end",
			files: map[string]string{"a.hcl": "data_dir = \"/d\"\ndatacenter =\n# trailing comment\n"},
			args:  []string{"-config-file", "{dir}/a.hcl"},
			want:  []string{`config file "{dir}/a.hcl": invalid HCL: at line 2, the key before "=" has no value`},
		},
		{
			name: "missing config file",
			args: []string{"-config-file", "{dir}/nope.json"},
			want: []string{`config file "{dir}/nope.json": no such file or directory`},
		},
		{
			name: "missing config dir",
			args: []string{"-config-dir", "{dir}/nope"},
			want: []string{`config dir "{dir}/nope": no such file or directory`},
		},
		{
			name: "bad -hcl snippet",
			args: []string{"-data-dir", "/d", "-hcl", "ports { http = 1 }", "-hcl", "frob = 1"},
			want: []string{`-hcl snippet 2: unknown key "frob"`},
		},

		// Flags.
		{
			name: "unknown flag",
			args: []string{"-frobnicate"},
			want: []string{`flag provided but not defined: -frobnicate`},
		},
		{
			name: "positional argument",
			args: []string{"-dev", "extra"},
			want: []string{`unexpected argument "extra"`},
		},
		{
			name: "bad config format",
			args: []string{"-config-format", "yaml"},
			want: []string{`invalid value "yaml" for flag -config-format`},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeFiles(t, tc.files)
			rc, _, err := Load(testOpts(expandArgs(tc.args, dir)...))
			if err == nil {
				t.Fatalf("Load succeeded, want an error containing %q", tc.want)
			}
			if rc != nil {
				t.Errorf("Load returned a config along with the error")
			}
			for _, w := range tc.want {
				w = strings.ReplaceAll(w, "{dir}", dir)
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
			if tc.key != "" {
				found := false
				for _, ce := range configErrors(err) {
					found = found || ce.Key == tc.key
				}
				if !found {
					t.Errorf("no *Error has Key %q in %q", tc.key, err)
				}
			}
		})
	}
}

// TestLoadErrorsAreAllReported checks that one Load reports the problems of
// every file, not just the first.
func TestLoadErrorsAreAllReported(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"a.json": `{"frob": 1, "ports": {"http": -7}}`,
		"b.hcl":  `log_level = "loud"`,
	})
	_, _, err := Load(testOpts("-config-dir", dir, "-datacenter", "a b"))
	if err == nil {
		t.Fatal("Load succeeded")
	}
	errs := configErrors(err)
	want := map[string]bool{"frob": false, "ports.http": false, "log_level": false, "datacenter": false}
	for _, e := range errs {
		if _, ok := want[e.Key]; ok {
			want[e.Key] = true
		}
	}
	for k, seen := range want {
		if !seen {
			t.Errorf("no error about %q in %q", k, err)
		}
	}
}

func TestLoadHelp(t *testing.T) {
	_, _, err := Load(testOpts("-h"))
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("Load(-h) = %v, want flag.ErrHelp", err)
	}
	help := NewFlags().Help()
	for _, f := range []string{"-bootstrap-expect", "-retry-join-wan", "-config-dir", "-node-meta", "-hcl", "-serf-wan-bind"} {
		if !strings.Contains(help, f) {
			t.Errorf("help does not mention %s", f)
		}
	}
}

func TestLoadHostnameAndAdvertiseFailures(t *testing.T) {
	opts := testOpts("-data-dir", "/d")
	opts.Hostname = func() (string, error) { return "", errors.New("uname failed") }
	opts.AdvertiseIP = func(netip.Addr) (netip.Addr, error) { return netip.Addr{}, errors.New("no private IPv4 address found") }
	_, _, err := Load(opts)
	if err == nil {
		t.Fatal("Load succeeded")
	}
	for _, w := range []string{
		"node_name is not set and the hostname cannot be read (uname failed)",
		"bind_addr is 0.0.0.0 and no address to advertise was found (no private IPv4 address found): set advertise_addr (-advertise)",
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q\ndoes not contain %q", err, w)
		}
	}
}
