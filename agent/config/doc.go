// Package config loads the configuration of a Meridian agent: the flags of
// `meridian agent`, Consul-style JSON and HCL configuration files, and the
// defaults, and turns them into one validated, fully resolved RuntimeConfig.
//
// # Sources and their order
//
// Load reads, from lowest to highest precedence:
//
//  1. the built-in defaults (Consul's: dc1, ports 8500/8600/8300/8301/8302,
//     client address 127.0.0.1, bind address 0.0.0.0, ...);
//  2. the -dev defaults when -dev is given (server, bootstrap, loopback
//     addresses, fast gossip, raft_multiplier 1, log level debug);
//  3. every -config-file and -config-dir, in command-line order; a directory
//     contributes its *.json and *.hcl files in lexical order and skips other
//     names (with -config-format set, it contributes every file);
//  4. the command-line flags;
//  5. every -hcl snippet, in order.
//
// Sources are merged the way Consul merges them: a scalar from a later
// source replaces an earlier one, lists (retry_join, services, checks, ...)
// are appended, and a map (node_meta, ...) from a later source replaces the
// whole earlier map.
//
// # Keys
//
// Files use Consul's snake_case keys. Keys returns them all, by kind:
//
//   - supported: decoded, validated and carried into RuntimeConfig;
//   - known but ignored: a Consul key for a feature Meridian does not have
//     (connect, telemetry, ui_dir, ...). It is accepted and
//     reported once in the warnings Load returns, naming the key and the
//     sources that set it. Whatever is nested inside an ignored block is
//     not looked at. The Consul flags of such features (-ui-dir, -grpc-port,
//     ...) are accepted and reported the same way;
//   - quiet: disable_update_check and disable_anonymous_signature, accepted
//     without a warning since Meridian never phones home anyway;
//   - rejected: the check types Meridian does not run (grpc, udp, h2ping,
//     docker, alias, os_service); a check using one is an error, because
//     dropping a health check silently would make a service look healthy;
//   - unknown: anything else, an error naming the file and the full key path
//     (`config file "a.json": unknown key "ports.htpt"`).
//
// Cloud auto-join entries in retry_join ("provider=aws ...") are dropped
// with a warning.
//
// Keys match case-insensitively, as with Consul's decoder. Inside service
// and check definitions underscores do not matter either, so the CamelCase
// spellings of Consul's HTTP API (ServiceID, TLSSkipVerify,
// DeregisterCriticalServiceAfter, ScriptArgs, ...) are accepted as well.
//
// HCL is parsed with HCL v1 into the same generic tree that JSON produces,
// after which both go through one decoder, so a configuration means the same
// in either syntax. HCL's habit of turning every block into a list of maps is
// undone by the decoder: where one block is expected a single-element list
// is unwrapped, and several blocks of a plain section (two ports blocks) are
// merged in order.
//
// # Validation
//
// Errors about one value name the source and the key (`config file "a.hcl":
// ports.http: ...`, or `flag -http-port: ...` for flags). Errors about how
// values combine (bootstrap with bootstrap_expect, a data_dir that is
// missing) name the keys involved. All errors found are returned together.
//
// Load has no side effects besides reading the files and the network
// interfaces (for go-sockaddr templates and the default advertise address),
// so the agent can call it again on SIGHUP and compare the results.
package config
