package config

import (
	"net/netip"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/meridian-sd/meridian/tlsutil"
)

// Defaults, as Consul's.
const (
	DefaultDatacenter       = "dc1"
	DefaultHTTPPort         = 8500
	DefaultDNSPort          = 8600
	DefaultServerPort       = 8300
	DefaultSerfLANPort      = 8301
	DefaultSerfWANPort      = 8302
	DefaultClientAddr       = "127.0.0.1"
	DefaultBindAddr         = "0.0.0.0"
	DefaultRetryInterval    = 30 * time.Second
	DefaultRaftMultiplier   = 5
	DefaultReconnectTimeout = 72 * time.Hour
	DefaultLogLevel         = "info"
	DefaultDomain           = "consul."
	// DefaultLeaveDrainTime is performance.leave_drain_time.
	DefaultLeaveDrainTime = 5 * time.Second
	// DefaultRPCHoldTimeout is performance.rpc_hold_timeout.
	DefaultRPCHoldTimeout         = 7 * time.Second
	DefaultCheckUpdateInterval    = 5 * time.Minute
	DefaultCheckOutputMaxSize     = 4096
	DefaultSyncCoordinateRate     = 64.0
	DefaultSyncCoordinateInterval = 15 * time.Second
	DefaultSessionTTLMin          = 10 * time.Second
	DefaultQueryTime              = 5 * time.Minute
	DefaultMaxQueryTime           = 10 * time.Minute
	DefaultKVMaxValueSize         = 512 * 1024
	// MaxKVValueSize bounds limits.kv_max_value_size and txn_max_req_len:
	// larger values would not leave room for their keys in one Raft entry
	// (structs.MaxValueSizeLimit).
	MaxKVValueSize            = 32 * 1024 * 1024
	DefaultTxnMaxReqLen       = 512 * 1024
	DefaultDNSMaxStale        = 87600 * time.Hour
	DefaultDNSUDPAnswerLimit  = 3
	DefaultDNSRecursorTimeout = 2 * time.Second
)

// DefaultRPCMaxConnsPerClient is limits.rpc_max_conns_per_client, as
// Consul's.
const DefaultRPCMaxConnsPerClient = 100

// DefaultHTTPMaxConnsPerClient is limits.http_max_conns_per_client, as
// Consul's.
const DefaultHTTPMaxConnsPerClient = 200

// DefaultHTTPSPort turns HTTPS off, as in Consul; 8501 by convention when
// it is on.
const DefaultHTTPSPort = -1

// Raft base timings at raft_multiplier 1, as Consul's; RaftTimings scales
// them.
const (
	RaftBaseHeartbeatTimeout   = 1000 * time.Millisecond
	RaftBaseElectionTimeout    = 1000 * time.Millisecond
	RaftBaseLeaderLeaseTimeout = 500 * time.Millisecond
)

// RuntimeConfig is the agent's fully resolved configuration: every default
// applied, every address resolved, every value checked. The agent treats it
// as read-only; Load returns a new one on every call.
type RuntimeConfig struct {
	// Datacenter is the agent's datacenter, lower-cased. Key datacenter,
	// flag -datacenter; default "dc1".
	Datacenter string
	// NodeName is the node's unique name in the datacenter. Key node_name,
	// flag -node; default the hostname.
	NodeName string
	// NodeID is the node's UUID, lower-cased. Key node_id, flag -node-id.
	// Empty means the agent reads it from, or creates it in,
	// <DataDir>/node-id (a random one in DevMode).
	NodeID string
	// NodeMeta is the node's metadata. Key node_meta, flag -node-meta
	// key:value (repeatable). At most 64 pairs; keys use letters, digits,
	// '-' and '_', and may not start with "consul-".
	NodeMeta map[string]string
	// TaggedAddresses are extra node addresses by tag, added to the "lan"
	// and "wan" ones the agent sets. Key tagged_addresses.
	TaggedAddresses map[string]string

	// DevMode runs a single in-memory server (flag -dev): no data dir is
	// used, and the dev defaults apply (see Load).
	DevMode bool
	// ServerMode makes the agent a server. Key server, flag -server;
	// default false (true in DevMode).
	ServerMode bool
	// Bootstrap lets a server elect itself without peers. Key bootstrap,
	// flag -bootstrap; default false (true in DevMode). Set also when
	// bootstrap_expect is 1.
	Bootstrap bool
	// BootstrapExpect is how many servers to wait for before the first
	// election; 0 means no expectation. Key bootstrap_expect, flag
	// -bootstrap-expect.
	BootstrapExpect int

	// DataDir holds the node ID, raft/ and serf/. Key data_dir, flag
	// -data-dir; required unless DevMode, and not used in DevMode.
	DataDir string
	// PidFile, when set, is where the agent writes its process ID. Key
	// pid_file, flag -pid-file.
	PidFile string

	// BindAddr is the address the server RPC and serf listeners bind by
	// default. Key bind_addr, flag -bind; default 0.0.0.0.
	BindAddr netip.Addr
	// AdvertiseAddrLAN is the address advertised to the LAN pool and for
	// server RPC. Key advertise_addr, flag -advertise; default BindAddr, or
	// the first private IP when BindAddr is unspecified (0.0.0.0 or ::).
	AdvertiseAddrLAN netip.Addr
	// AdvertiseAddrWAN is the address advertised to the WAN pool. Key
	// advertise_addr_wan, flag -advertise-wan; default AdvertiseAddrLAN.
	AdvertiseAddrWAN netip.Addr
	// ClientAddrs are the addresses the HTTP and DNS listeners bind unless
	// addresses.http or addresses.dns say otherwise. Key client_addr (space
	// separated), flag -client; default 127.0.0.1.
	ClientAddrs []netip.Addr

	// HTTPPort is the HTTP API port; -1 turns the listener off. Key
	// ports.http, flag -http-port; default 8500.
	HTTPPort int
	// DNSPort is the DNS port (UDP and TCP); -1 turns it off. Key ports.dns,
	// flag -dns-port; default 8600.
	DNSPort int
	// ServerPort is the server RPC port. Key ports.server, flag
	// -server-port; default 8300.
	ServerPort int
	// SerfPortLAN is the LAN gossip port (TCP and UDP). Key ports.serf_lan,
	// flag -serf-lan-port; default 8301.
	SerfPortLAN int
	// SerfPortWAN is the WAN gossip port of servers; -1 keeps the server
	// out of the WAN pool. Key ports.serf_wan, flag -serf-wan-port; default
	// 8302.
	SerfPortWAN int
	// Port 0 in any of the ports above asks for a free port; the agent then
	// advertises the port it actually bound.

	// HTTPAddrs are the HTTP listeners: addresses.http (or ClientAddrs)
	// with HTTPPort; empty when HTTPPort is -1.
	HTTPAddrs []netip.AddrPort
	// HTTPUnixSockets are the paths of the unix sockets the HTTP API
	// listens on: the unix:///path entries of addresses.http.
	HTTPUnixSockets []string
	// UnixSockets sets the owner and mode of those sockets.
	UnixSockets UnixSocketConfig
	// DNSAddrs are the DNS listeners, UDP and TCP: addresses.dns (or
	// ClientAddrs) with DNSPort; empty when DNSPort is -1.
	DNSAddrs []netip.AddrPort
	// HTTPSPort is the HTTPS API port; -1 (the default) turns it off. Key
	// ports.https, flag -https-port.
	HTTPSPort int
	// HTTPSAddrs are the HTTPS listeners: addresses.https (or ClientAddrs)
	// with HTTPSPort; empty when HTTPSPort is -1.
	HTTPSAddrs []netip.AddrPort
	// RPCBindAddr is the server RPC listener: BindAddr and ServerPort.
	RPCBindAddr netip.AddrPort
	// RPCAdvertiseAddr is the server RPC address others dial:
	// AdvertiseAddrLAN and ServerPort.
	RPCAdvertiseAddr netip.AddrPort
	// SerfBindAddrLAN is where the LAN pool listens: key serf_lan, flag
	// -serf-lan-bind (default BindAddr), with SerfPortLAN.
	SerfBindAddrLAN netip.AddrPort
	// SerfAdvertiseAddrLAN is the LAN pool address others gossip with:
	// AdvertiseAddrLAN and SerfPortLAN.
	SerfAdvertiseAddrLAN netip.AddrPort
	// SerfBindAddrWAN is where the WAN pool listens: key serf_wan, flag
	// -serf-wan-bind (default BindAddr), with SerfPortWAN. Invalid (the
	// zero value) on clients and when SerfPortWAN is -1.
	SerfBindAddrWAN netip.AddrPort
	// SerfAdvertiseAddrWAN is the WAN pool address others gossip with:
	// AdvertiseAddrWAN and SerfPortWAN; invalid like SerfBindAddrWAN.
	SerfAdvertiseAddrWAN netip.AddrPort

	// StartJoinAddrsLAN are joined once at start; failing to join any of
	// them fails the start. Key start_join, flag -join (repeatable).
	StartJoinAddrsLAN []string
	// StartJoinAddrsWAN are the WAN counterpart. Key start_join_wan, flag
	// -join-wan.
	StartJoinAddrsWAN []string
	// RetryJoinLAN are joined in the background until one join succeeds.
	// Key retry_join, flag -retry-join (repeatable). An address without a
	// port means port 8301.
	RetryJoinLAN []string
	// RetryJoinWAN are the WAN counterpart (port 8302 by default). Key
	// retry_join_wan, flag -retry-join-wan.
	RetryJoinWAN []string
	// RetryJoinIntervalLAN is the wait between LAN join attempts. Key
	// retry_interval, flag -retry-interval; default 30s.
	RetryJoinIntervalLAN time.Duration
	// RetryJoinIntervalWAN is the wait between WAN join attempts. Key
	// retry_interval_wan, flag -retry-interval-wan; default 30s.
	RetryJoinIntervalWAN time.Duration
	// RetryJoinMaxAttemptsLAN caps LAN join attempts; 0 means no cap. Key
	// retry_max, flag -retry-max.
	RetryJoinMaxAttemptsLAN int
	// RetryJoinMaxAttemptsWAN caps WAN join attempts; 0 means no cap. Key
	// retry_max_wan, flag -retry-max-wan.
	RetryJoinMaxAttemptsWAN int
	// RejoinAfterLeave makes an agent that left rejoin from its serf
	// snapshot on restart (by default it does not). Key rejoin_after_leave,
	// flag -rejoin.
	RejoinAfterLeave bool

	// EncryptKey is the base64 gossip key (16, 24 or 32 bytes); empty means
	// no encryption unless the keyring in DataDir has keys. Key encrypt,
	// flag -encrypt. Sanitized hides it.
	EncryptKey string `sanitize:"hidden"`
	// EncryptVerifyIncoming rejects unencrypted gossip. Key
	// encrypt_verify_incoming; default true.
	EncryptVerifyIncoming bool
	// EncryptVerifyOutgoing encrypts outgoing gossip. Key
	// encrypt_verify_outgoing; default true.
	EncryptVerifyOutgoing bool
	// GossipLAN overrides memberlist's LAN timings (gossip_lan block).
	GossipLAN GossipConfig
	// GossipWAN overrides memberlist's WAN timings (gossip_wan block).
	GossipWAN GossipConfig
	// ReconnectTimeoutLAN is how long a failed LAN member is kept before it
	// is reaped. Key reconnect_timeout; default 72h.
	ReconnectTimeoutLAN time.Duration
	// ReconnectTimeoutWAN is the WAN counterpart. Key
	// reconnect_timeout_wan; default 72h.
	ReconnectTimeoutWAN time.Duration

	// LeaveOnTerm makes the agent leave gracefully on SIGTERM. Key
	// leave_on_terminate; default false for servers, true for clients.
	LeaveOnTerm bool
	// SkipLeaveOnInt makes the agent skip the graceful leave on SIGINT. Key
	// skip_leave_on_interrupt; default true for servers, false for clients.
	SkipLeaveOnInt bool

	// RaftMultiplier scales the raft timings (see RaftTimings), 1 to 10.
	// Key performance.raft_multiplier; default 5 (1 in DevMode).
	RaftMultiplier int
	// LeaveDrainTime is how long a leaving server keeps serving requests.
	// Key performance.leave_drain_time; default 5s.
	LeaveDrainTime time.Duration
	// RPCHoldTimeout is how long an RPC is retried while there is no leader
	// or no server. Key performance.rpc_hold_timeout; default 7s.
	RPCHoldTimeout time.Duration

	// LogLevel is one of trace, debug, info, warn, error (hclog's names).
	// Key log_level, flag -log-level; default info (debug in DevMode).
	LogLevel string
	// LogJSON writes logs as JSON. Key log_json, flag -log-json.
	LogJSON bool

	// EnableRemoteScriptChecks allows script checks from the HTTP API and
	// from files. Key enable_script_checks, flag -enable-script-checks.
	EnableRemoteScriptChecks bool
	// EnableLocalScriptChecks allows script checks from config files only.
	// Key enable_local_script_checks, flag -enable-local-script-checks.
	EnableLocalScriptChecks bool
	// CheckUpdateInterval is how long a check's output may change without
	// the change being synced to the servers while its status stays the
	// same; 0 syncs every change. Key check_update_interval; default 5m.
	CheckUpdateInterval time.Duration
	// CheckOutputMaxSize caps the bytes of check output kept. Key
	// check_output_max_size; default 4096.
	CheckOutputMaxSize int

	// SyncCoordinateRateTarget is the target rate, across the cluster, of
	// coordinate updates per second. Key sync_coordinate_rate_target;
	// default 64.
	SyncCoordinateRateTarget float64
	// SyncCoordinateIntervalMin is the shortest time between a node's
	// coordinate updates. Key sync_coordinate_interval_min; default 15s.
	SyncCoordinateIntervalMin time.Duration
	// SessionTTLMin is the smallest session TTL allowed. Key
	// session_ttl_min; default 10s.
	SessionTTLMin time.Duration
	// DefaultQueryTime is a blocking query's wait when it names none. Key
	// default_query_time, flag -default-query-time; default 5m.
	DefaultQueryTime time.Duration
	// MaxQueryTime caps a blocking query's wait. Key max_query_time, flag
	// -max-query-time; default 10m.
	MaxQueryTime time.Duration
	// KVMaxValueSize is the largest KV value in bytes. Key
	// limits.kv_max_value_size; default 512 KiB.
	KVMaxValueSize int
	// TxnMaxReqLen is the largest transaction request in bytes. Key
	// limits.txn_max_req_len; default 512 KiB.
	TxnMaxReqLen int
	// HTTPMaxConnsPerClient caps the HTTP connections open at once from
	// one client IP; more are answered 429 and closed. 0 means no limit.
	// Key limits.http_max_conns_per_client; default 200. Reloadable.
	HTTPMaxConnsPerClient int
	// RPCMaxConnsPerClient caps the TCP connections one source IP may hold
	// open to a server's port 8300; 0 means no cap. Key
	// limits.rpc_max_conns_per_client; default 100.
	RPCMaxConnsPerClient int

	// DNSDomain is the DNS domain served, with a trailing dot. Key domain,
	// flag -domain; default "consul.".
	DNSDomain string
	// DNSAltDomain is a second domain served, with a trailing dot; empty
	// means none. Key alt_domain, flag -alt-domain.
	DNSAltDomain string
	// DNSRecursors are upstream resolvers for names outside the domain. Key
	// recursors, flag -recursor (repeatable).
	DNSRecursors []string
	// DNSAllowStale lets any server answer DNS. Key dns_config.allow_stale;
	// default true.
	DNSAllowStale bool
	// DNSMaxStale is how stale a DNS answer may be. Key
	// dns_config.max_stale; default 87600h.
	DNSMaxStale time.Duration
	// DNSNodeTTL is the TTL of node answers. Key dns_config.node_ttl;
	// default 0.
	DNSNodeTTL time.Duration
	// DNSServiceTTL is the TTL of service answers by service name ("*" for
	// all). Key dns_config.service_ttl.
	DNSServiceTTL map[string]time.Duration
	// DNSOnlyPassing leaves out instances whose checks warn. Key
	// dns_config.only_passing; default false.
	DNSOnlyPassing bool
	// DNSNodeMetaTXT adds the node's meta as TXT records to the additional
	// section of node lookups (TXT and ANY queries answer them anyway).
	// Key dns_config.enable_additional_node_meta_txt; default true.
	DNSNodeMetaTXT bool
	// DNSUDPAnswerLimit caps records in a UDP answer. Key
	// dns_config.udp_answer_limit; default 3.
	DNSUDPAnswerLimit int
	// DNSRecursorTimeout bounds a recursive query. Key
	// dns_config.recursor_timeout; default 2s.
	DNSRecursorTimeout time.Duration

	// TLS is the resolved tls stanza (and the deprecated top-level TLS
	// keys): internal RPC and HTTPS, each with the defaults laid under
	// it. See website/docs/tls.md.
	TLS tlsutil.Config

	// Services are the services defined in the config (service, services),
	// validated and normalised, in source order.
	Services []ServiceDefinition
	// Checks are the node-level and service-bound checks defined at the top
	// level (check, checks), validated and normalised, in source order.
	Checks []CheckDefinition

	// PrimaryDatacenter is the datacenter that manages ACLs. Key
	// primary_datacenter; default Datacenter.
	PrimaryDatacenter string
	// ACL is the acl block (acl.go).
	ACL ACLConfig
	// Autopilot is the autopilot block (autopilot.go).
	Autopilot AutopilotConfig

	// UIEnabled serves the web UI at /ui/. Key ui_config.enabled (or the
	// deprecated ui), flag -ui; default false.
	UIEnabled bool

	// Telemetry is the telemetry block (telemetry.go).
	Telemetry TelemetryConfig
	// EnableDebug serves /debug/pprof/ on the HTTP API. Key
	// enable_debug; default false.
	EnableDebug bool

	// Sources are the config files read, in the order they were merged.
	Sources []string
}

// GossipConfig overrides memberlist timings, as Consul's gossip_lan and
// gossip_wan blocks do. A zero field leaves memberlist's value alone.
type GossipConfig struct {
	// GossipNodes is how many nodes each gossip round sends to. Key
	// gossip_nodes; memberlist's default 3 (LAN), 4 (WAN).
	GossipNodes int
	// GossipInterval is the time between gossip rounds. Key
	// gossip_interval; memberlist's default 200ms (LAN), 500ms (WAN).
	GossipInterval time.Duration
	// ProbeInterval is the time between failure probes. Key
	// probe_interval; default 800ms (LAN, gossip.LANProbeInterval), and
	// memberlist's 5s (WAN).
	ProbeInterval time.Duration
	// ProbeTimeout is how long to wait for a probe's ack. Key
	// probe_timeout; default 400ms (LAN, gossip.LANProbeTimeout), and
	// memberlist's 3s (WAN).
	ProbeTimeout time.Duration
	// SuspicionMult scales how long a suspect node has to refute. Key
	// suspicion_mult; default 3 (LAN, gossip.LANSuspicionMult), and
	// memberlist's 6 (WAN). Setting any of the three LAN keys gives the
	// other two memberlist's defaults (see gossip.ProfileLAN).
	SuspicionMult int
	// RetransmitMult scales how often a message is retransmitted. Key
	// retransmit_mult; memberlist's default 4.
	RetransmitMult int
}

// Apply lays the set fields over a memberlist config, typically
// memberlist.DefaultLANConfig() or DefaultWANConfig().
func (g GossipConfig) Apply(c *memberlist.Config) {
	if g.GossipNodes > 0 {
		c.GossipNodes = g.GossipNodes
	}
	if g.GossipInterval > 0 {
		c.GossipInterval = g.GossipInterval
	}
	if g.ProbeInterval > 0 {
		c.ProbeInterval = g.ProbeInterval
	}
	if g.ProbeTimeout > 0 {
		c.ProbeTimeout = g.ProbeTimeout
	}
	if g.SuspicionMult > 0 {
		c.SuspicionMult = g.SuspicionMult
	}
	if g.RetransmitMult > 0 {
		c.RetransmitMult = g.RetransmitMult
	}
}

// localGossip is memberlist's local-network profile, used by -dev.
func localGossip() GossipConfig {
	l := memberlist.DefaultLocalConfig()
	return GossipConfig{
		GossipNodes:    l.GossipNodes,
		GossipInterval: l.GossipInterval,
		ProbeInterval:  l.ProbeInterval,
		ProbeTimeout:   l.ProbeTimeout,
		SuspicionMult:  l.SuspicionMult,
		RetransmitMult: l.RetransmitMult,
	}
}

// RaftTimings returns the raft heartbeat timeout, election timeout and
// leader lease timeout for the configured raft_multiplier, as Consul scales
// them: 1s, 1s and 500ms at multiplier 1, so 5s, 5s and 2.5s by default.
func (c *RuntimeConfig) RaftTimings() (heartbeat, election, leaderLease time.Duration) {
	m := time.Duration(c.RaftMultiplier)
	if m <= 0 {
		m = DefaultRaftMultiplier
	}
	return m * RaftBaseHeartbeatTimeout, m * RaftBaseElectionTimeout, m * RaftBaseLeaderLeaseTimeout
}

// UnixSocketConfig is the unix_sockets block. Empty fields leave the
// socket as the process creates it.
type UnixSocketConfig struct {
	// Mode is the socket file's permission bits, in octal ("0770").
	Mode string
	// User owns the socket: a user name or a numeric ID.
	User string
	// Group is the socket's group: a group name or a numeric ID.
	Group string
}
