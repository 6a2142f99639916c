package config

import "time"

// The raw* types mirror the configuration file format. Every field is a
// pointer, slice, map or nested block so that "not set" can be told from a
// zero value, which merging needs. Struct tags drive the decoder:
//
//	cfg:"name"      the canonical snake_case key
//	alias:"a,b"     other spellings of the key (service and check blocks)
//	check:"kind"    a value check applied when the value is decoded (see
//	                decoder.checkValue); names the file and key on failure
//
// A raw type may list the Consul keys it knows but ignores (ignoredKeys),
// keys it accepts silently because Meridian already behaves as they ask
// (quietKeys), and whether its keys match without regard to underscores
// (looseKeys), which service and check blocks do so that the CamelCase
// spellings of Consul's HTTP API work too.

// rawConfig is one configuration source: a file, the flags, or an -hcl
// snippet.
type rawConfig struct {
	Datacenter      *string           `cfg:"datacenter" check:"datacenter"`
	NodeName        *string           `cfg:"node_name" check:"nonempty"`
	NodeID          *string           `cfg:"node_id" check:"uuid"`
	NodeMeta        map[string]string `cfg:"node_meta" check:"nodemeta"`
	TaggedAddresses map[string]string `cfg:"tagged_addresses"`
	DataDir         *string           `cfg:"data_dir"`
	PidFile         *string           `cfg:"pid_file"`

	Server          *bool `cfg:"server"`
	Bootstrap       *bool `cfg:"bootstrap"`
	BootstrapExpect *int  `cfg:"bootstrap_expect" check:"nonneg"`

	BindAddr         *string        `cfg:"bind_addr" check:"ip"`
	AdvertiseAddr    *string        `cfg:"advertise_addr" check:"ip"`
	AdvertiseAddrWAN *string        `cfg:"advertise_addr_wan" check:"ip"`
	SerfLAN          *string        `cfg:"serf_lan" check:"ip"`
	SerfWAN          *string        `cfg:"serf_wan" check:"ip"`
	ClientAddr       *string        `cfg:"client_addr" check:"ips"`
	Addresses        rawAddresses   `cfg:"addresses"`
	Ports            rawPorts       `cfg:"ports"`
	UnixSockets      rawUnixSockets `cfg:"unix_sockets"`

	StartJoin        []string       `cfg:"start_join"`
	StartJoinWAN     []string       `cfg:"start_join_wan"`
	RetryJoin        []string       `cfg:"retry_join"`
	RetryJoinWAN     []string       `cfg:"retry_join_wan"`
	RetryInterval    *time.Duration `cfg:"retry_interval" check:"positive"`
	RetryIntervalWAN *time.Duration `cfg:"retry_interval_wan" check:"positive"`
	RetryMax         *int           `cfg:"retry_max" check:"nonneg"`
	RetryMaxWAN      *int           `cfg:"retry_max_wan" check:"nonneg"`
	RejoinAfterLeave *bool          `cfg:"rejoin_after_leave"`

	Encrypt               *string        `cfg:"encrypt" check:"encrypt"`
	EncryptVerifyIncoming *bool          `cfg:"encrypt_verify_incoming"`
	EncryptVerifyOutgoing *bool          `cfg:"encrypt_verify_outgoing"`
	ReconnectTimeout      *time.Duration `cfg:"reconnect_timeout" check:"positive"`
	ReconnectTimeoutWAN   *time.Duration `cfg:"reconnect_timeout_wan" check:"positive"`
	GossipLAN             rawGossip      `cfg:"gossip_lan"`
	GossipWAN             rawGossip      `cfg:"gossip_wan"`

	LeaveOnTerminate     *bool `cfg:"leave_on_terminate"`
	SkipLeaveOnInterrupt *bool `cfg:"skip_leave_on_interrupt"`

	Performance rawPerformance `cfg:"performance"`
	Limits      rawLimits      `cfg:"limits"`

	LogLevel                *string        `cfg:"log_level" check:"loglevel"`
	LogJSON                 *bool          `cfg:"log_json"`
	EnableScriptChecks      *bool          `cfg:"enable_script_checks"`
	EnableLocalScriptChecks *bool          `cfg:"enable_local_script_checks"`
	CheckUpdateInterval     *time.Duration `cfg:"check_update_interval"`
	CheckOutputMaxSize      *int           `cfg:"check_output_max_size" check:"positive"`

	SyncCoordinateRateTarget  *float64       `cfg:"sync_coordinate_rate_target" check:"positive"`
	SyncCoordinateIntervalMin *time.Duration `cfg:"sync_coordinate_interval_min" check:"positive"`
	SessionTTLMin             *time.Duration `cfg:"session_ttl_min"`
	DefaultQueryTime          *time.Duration `cfg:"default_query_time" check:"positive"`
	MaxQueryTime              *time.Duration `cfg:"max_query_time" check:"positive"`

	Domain    *string  `cfg:"domain" check:"nonempty"`
	AltDomain *string  `cfg:"alt_domain"`
	Recursors []string `cfg:"recursors"`
	DNSConfig rawDNS   `cfg:"dns_config"`

	Service  *rawService  `cfg:"service"`
	Services []rawService `cfg:"services"`
	Check    *rawCheck    `cfg:"check"`
	Checks   []rawCheck   `cfg:"checks"`

	PrimaryDatacenter *string `cfg:"primary_datacenter" check:"datacenter"`
	ACL               rawACL  `cfg:"acl"`

	Autopilot rawAutopilot `cfg:"autopilot"`

	// UI is the deprecated top-level ui key; UIConfig the ui_config block
	// (ui.go).
	UI       *bool       `cfg:"ui"`
	UIConfig rawUIConfig `cfg:"ui_config"`

	// Telemetry is the telemetry block; EnableDebug serves /debug/pprof
	// (telemetry.go).
	Telemetry   rawTelemetry `cfg:"telemetry"`
	EnableDebug *bool        `cfg:"enable_debug"`

	// TLS is the tls stanza; the keys below it are the top-level TLS keys
	// of Consul before 1.12, deprecated (tls.go).
	TLS                  rawTLS  `cfg:"tls"`
	CAFile               *string `cfg:"ca_file"`
	CAPath               *string `cfg:"ca_path"`
	CertFile             *string `cfg:"cert_file"`
	KeyFile              *string `cfg:"key_file"`
	VerifyIncoming       *bool   `cfg:"verify_incoming"`
	VerifyIncomingRPC    *bool   `cfg:"verify_incoming_rpc"`
	VerifyIncomingHTTPS  *bool   `cfg:"verify_incoming_https"`
	VerifyOutgoing       *bool   `cfg:"verify_outgoing"`
	VerifyServerHostname *bool   `cfg:"verify_server_hostname"`
	TLSMinVersion        *string `cfg:"tls_min_version"`
	TLSCipherSuites      *string `cfg:"tls_cipher_suites"`
}

// ignoredKeys are the top-level Consul agent keys of features Meridian does
// not have. Collected from Consul's agent configuration reference (1.x up to
// 1.22), including the deprecated spellings Consul still accepts.
func (rawConfig) ignoredKeys() []string {
	return []string{
		// The pre-1.4 ACL keys (acl and primary_datacenter are supported).
		"acl_agent_master_token", "acl_agent_token", "acl_datacenter",
		"acl_default_policy", "acl_down_policy", "acl_enable_key_list_policy",
		"acl_enforce_version_8", "acl_master_token", "acl_replication_token",
		"acl_token", "acl_ttl", "acl_disabled_ttl", "enable_acl_replication",
		// Dual-stack advertise addresses and reconnect advertising.
		"advertise_addr_ipv4", "advertise_addr_ipv6", "advertise_addr_wan_ipv4",
		"advertise_addr_wan_ipv6", "advertise_reconnect_timeout", "translate_wan_addrs",
		"serf_lan_allowed_cidrs", "serf_wan_allowed_cidrs",
		// Enterprise features.
		"audit", "license_path", "non_voting_server", "read_replica", "partition",
		"segment", "segments", "reporting", "license_poll_base_time",
		"license_poll_max_time", "license_update_base_time", "license_update_max_time",
		// Auto-config, TLS, and the pre-1.12 top-level TLS keys.
		"auto_config", "auto_encrypt", "server_name",
		"tls_prefer_server_cipher_suites", "enable_agent_tls_for_checks",
		// Service mesh, peering, cloud, xDS, config entries.
		"connect", "config_entries", "enable_central_service_config", "peering",
		"cloud", "xds", "primary_gateways", "primary_gateways_interval",
		// UI: ui and ui_config are supported (ui.go); these are not.
		"ui_dir", "ui_content_path",
		// Logging destinations other than stderr.
		"enable_syslog", "syslog_facility", "log_file", "log_rotate_bytes",
		"log_rotate_duration", "log_rotate_max_files", "log_sublevels",
		// Raft and storage tuning Meridian sets itself.
		"raft_protocol", "raft_boltdb", "raft_logstore", "raft_snapshot_threshold",
		"raft_snapshot_interval", "raft_trailing_logs", "protocol",
		// Agent features Meridian does not have.
		"watches", "http_config", "cache", "rpc",
		"use_streaming_backend", "snapshot_agent", "experiments", "locality",
		"auto_reload_config", "disable_remote_exec", "disable_host_node_id",
		"disable_keyring_file", "disable_coordinates",
		"disable_http_unprintable_char_filter", "discard_check_output",
		"discovery_max_stale",
		// Consul's internal, undocumented tunables.
		"consul", "ae_interval", "check_deregister_interval_min",
		"check_reap_interval", "segment_limit", "segment_name_limit", "revision",
		"version", "version_prerelease", "version_metadata", "build_date",
	}
}

// quietKeys are accepted without a warning: Meridian never phones home, so
// both already hold.
func (rawConfig) quietKeys() []string {
	return []string{"disable_update_check", "disable_anonymous_signature"}
}

// rawAddresses is the addresses block: per-listener bind addresses that
// override client_addr.
type rawAddresses struct {
	HTTP  *string `cfg:"http" check:"ips_or_unix"`
	DNS   *string `cfg:"dns" check:"ips"`
	HTTPS *string `cfg:"https" check:"ips"`
}

func (rawAddresses) ignoredKeys() []string {
	return []string{"grpc", "grpc_tls"}
}

// rawUnixSockets is the unix_sockets block: the owner and mode of the
// unix sockets the agent listens on (addresses.http = "unix:///path").
type rawUnixSockets struct {
	Mode  *string `cfg:"mode" check:"filemode"`
	User  *string `cfg:"user" check:"nonempty"`
	Group *string `cfg:"group" check:"nonempty"`
}

// rawPorts is the ports block.
type rawPorts struct {
	HTTP    *int `cfg:"http" check:"port_or_off"`
	DNS     *int `cfg:"dns" check:"port_or_off"`
	Server  *int `cfg:"server" check:"port"`
	SerfLAN *int `cfg:"serf_lan" check:"port"`
	SerfWAN *int `cfg:"serf_wan" check:"port_or_off"`
	HTTPS   *int `cfg:"https" check:"port_or_off"`
}

func (rawPorts) ignoredKeys() []string {
	return []string{
		"grpc", "grpc_tls", "proxy_min_port", "proxy_max_port",
		"sidecar_min_port", "sidecar_max_port", "expose_min_port", "expose_max_port",
	}
}

// rawGossip is a gossip_lan or gossip_wan block.
type rawGossip struct {
	GossipNodes    *int           `cfg:"gossip_nodes" check:"positive"`
	GossipInterval *time.Duration `cfg:"gossip_interval" check:"positive"`
	ProbeInterval  *time.Duration `cfg:"probe_interval" check:"positive"`
	ProbeTimeout   *time.Duration `cfg:"probe_timeout" check:"positive"`
	SuspicionMult  *int           `cfg:"suspicion_mult" check:"positive"`
	RetransmitMult *int           `cfg:"retransmit_mult" check:"positive"`
}

// rawPerformance is the performance block.
type rawPerformance struct {
	RaftMultiplier *int           `cfg:"raft_multiplier" check:"raft_multiplier"`
	LeaveDrainTime *time.Duration `cfg:"leave_drain_time"`
	RPCHoldTimeout *time.Duration `cfg:"rpc_hold_timeout" check:"positive"`
}

// rawLimits is the limits block.
type rawLimits struct {
	KVMaxValueSize *int `cfg:"kv_max_value_size" check:"value_size"`
	TxnMaxReqLen   *int `cfg:"txn_max_req_len" check:"value_size"`

	HTTPMaxConnsPerClient *int `cfg:"http_max_conns_per_client" check:"nonneg"`
	RPCMaxConnsPerClient  *int `cfg:"rpc_max_conns_per_client" check:"nonneg"`
}

func (rawLimits) ignoredKeys() []string {
	return []string{
		"https_handshake_timeout", "request_limits",
		"rpc_client_timeout", "rpc_handshake_timeout", "rpc_max_burst",
		"rpc_rate",
	}
}

// rawDNS is the dns_config block.
type rawDNS struct {
	AllowStale      *bool                    `cfg:"allow_stale"`
	MaxStale        *time.Duration           `cfg:"max_stale"`
	NodeTTL         *time.Duration           `cfg:"node_ttl"`
	ServiceTTL      map[string]time.Duration `cfg:"service_ttl"`
	OnlyPassing     *bool                    `cfg:"only_passing"`
	UDPAnswerLimit  *int                     `cfg:"udp_answer_limit" check:"positive"`
	RecursorTimeout *time.Duration           `cfg:"recursor_timeout" check:"positive"`
	NodeMetaTXT     *bool                    `cfg:"enable_additional_node_meta_txt"`
}

func (rawDNS) ignoredKeys() []string {
	return []string{
		"a_record_limit", "disable_compression", "enable_truncate",
		"soa", "use_cache", "cache_max_age",
		"prefer_namespace", "recursor_strategy",
	}
}

// rawService is a service definition (Consul's service block, or the body
// of /v1/agent/service/register).
type rawService struct {
	ID                *string                      `cfg:"id"`
	Name              *string                      `cfg:"name"`
	Tags              []string                     `cfg:"tags"`
	Address           *string                      `cfg:"address"`
	Port              *int                         `cfg:"port" check:"port"`
	Meta              map[string]string            `cfg:"meta" check:"servicemeta"`
	TaggedAddresses   map[string]rawServiceAddress `cfg:"tagged_addresses"`
	EnableTagOverride *bool                        `cfg:"enable_tag_override"`
	Weights           *rawWeights                  `cfg:"weights"`
	Check             *rawCheck                    `cfg:"check"`
	Checks            []rawCheck                   `cfg:"checks"`
	Kind              *string                      `cfg:"kind"`
	SocketPath        *string                      `cfg:"socket_path"`
	Ports             []rawServicePort             `cfg:"ports"`
	Locality          *rawLocality                 `cfg:"locality"`
	// Proxy, Connect and AI are opaque: kept as given (see opaque.go).
	Proxy   any `cfg:"proxy"`
	Connect any `cfg:"connect"`
	AI      any `cfg:"ai"`
}

func (rawService) looseKeys() {}

func (rawService) ignoredKeys() []string {
	return []string{"token", "namespace", "partition", "enterprise_meta"}
}

// rawServicePort is one entry of a service's ports.
type rawServicePort struct {
	Name    *string `cfg:"name"`
	Port    *int    `cfg:"port"`
	Default *bool   `cfg:"default"`
}

func (rawServicePort) looseKeys() {}

// rawLocality is a service's locality block.
type rawLocality struct {
	Region *string `cfg:"region"`
	Zone   *string `cfg:"zone"`
}

func (rawLocality) looseKeys() {}

// rawServiceAddress is one entry of a service's tagged_addresses.
type rawServiceAddress struct {
	Address *string `cfg:"address"`
	Port    *int    `cfg:"port" check:"port"`
}

func (rawServiceAddress) looseKeys() {}

// rawWeights is a service's weights block.
type rawWeights struct {
	Passing *int `cfg:"passing"`
	Warning *int `cfg:"warning"`
}

func (rawWeights) looseKeys() {}

// rawCheck is a check definition, top-level or inside a service.
type rawCheck struct {
	ID                             *string             `cfg:"id" alias:"check_id"`
	Name                           *string             `cfg:"name"`
	Notes                          *string             `cfg:"notes"`
	ServiceID                      *string             `cfg:"service_id"`
	Status                         *string             `cfg:"status"`
	TTL                            *time.Duration      `cfg:"ttl" check:"nonneg"`
	HTTP                           *string             `cfg:"http"`
	Method                         *string             `cfg:"method"`
	Header                         map[string][]string `cfg:"header"`
	Body                           *string             `cfg:"body"`
	TLSSkipVerify                  *bool               `cfg:"tls_skip_verify"`
	TLSServerName                  *string             `cfg:"tls_server_name"`
	DisableRedirects               *bool               `cfg:"disable_redirects"`
	TCP                            *string             `cfg:"tcp"`
	Args                           []string            `cfg:"args" alias:"script_args"`
	Interval                       *time.Duration      `cfg:"interval" check:"nonneg"`
	Timeout                        *time.Duration      `cfg:"timeout" check:"nonneg"`
	DeregisterCriticalServiceAfter *time.Duration      `cfg:"deregister_critical_service_after" check:"nonneg"`
	SuccessBeforePassing           *int                `cfg:"success_before_passing" check:"nonneg"`
	FailuresBeforeWarning          *int                `cfg:"failures_before_warning" check:"nonneg"`
	FailuresBeforeCritical         *int                `cfg:"failures_before_critical" check:"nonneg"`
	OutputMaxSize                  *int                `cfg:"output_max_size" check:"positive"`

	// Check types Consul has and Meridian does not. They are decoded so
	// that the error can say which type it is instead of "unknown key".
	GRPC              *string `cfg:"grpc" reject:"true"`
	UDP               *string `cfg:"udp" reject:"true"`
	H2Ping            *string `cfg:"h2ping" reject:"true"`
	DockerContainerID *string `cfg:"docker_container_id" reject:"true"`
	AliasNode         *string `cfg:"alias_node" reject:"true"`
	AliasService      *string `cfg:"alias_service" reject:"true"`
	OSService         *string `cfg:"os_service" reject:"true"`
}

func (rawCheck) looseKeys() {}

func (rawCheck) ignoredKeys() []string {
	return []string{
		"token", "namespace", "partition", "grpc_use_tls", "h2ping_use_tls",
		"tcp_use_tls", "shell", "enterprise_meta",
	}
}

// rawServiceFile is what a service file (meridian services register) holds.
type rawServiceFile struct {
	Service  *rawService  `cfg:"service"`
	Services []rawService `cfg:"services"`
}
