package server

import (
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/go-hclog"
	metrics "github.com/hashicorp/go-metrics"
	"github.com/hashicorp/raft"
	"github.com/hashicorp/serf/serf"

	"github.com/meridian-sd/meridian/gossip"
	"github.com/meridian-sd/meridian/structs"
	"github.com/meridian-sd/meridian/tlsutil"
)

// Config configures a Server. DefaultConfig returns it fully populated;
// callers override what differs.
type Config struct {
	// NodeName is the node's name in the LAN pool and the catalog.
	NodeName string
	// NodeID is the node's persistent UUID; it is also its Raft server ID.
	NodeID string
	// Datacenter is the server's datacenter. Default "dc1".
	Datacenter string
	// DataDir holds raft/ and serf/. Empty runs everything in memory (-dev).
	DataDir string
	// DevMode keeps Raft in memory and bootstraps a single server.
	DevMode bool

	// Bootstrap makes this server bootstrap a one-server cluster.
	Bootstrap bool
	// BootstrapExpect, when > 0, bootstraps once that many servers with the
	// same value are seen in the LAN pool.
	BootstrapExpect int

	// RPCAddr is where the server port listens. Default 0.0.0.0:8300.
	RPCAddr *net.TCPAddr
	// RPCAdvertise is the address other servers use to reach this one; it is
	// also the Raft address. Default RPCAddr.
	RPCAdvertise *net.TCPAddr

	// SerfLAN and SerfWAN configure the two pools. The server fills in
	// names, tags, data dirs and event handlers.
	SerfLAN gossip.Config
	SerfWAN gossip.Config
	// SerfLANDefaultPort and SerfWANDefaultPort complete join addresses
	// given without a port (8301 and 8302).
	SerfLANDefaultPort int
	SerfWANDefaultPort int

	// RaftConfig holds Raft timings; the server fills in IDs and loggers.
	RaftConfig *raft.Config

	// ReconcileInterval is how often the leader reconciles LAN membership
	// into the catalog even without events. Default 60s.
	ReconcileInterval time.Duration
	// RPCHoldTimeout is how long a request waits for a leader before it
	// fails with "No cluster leader". Default 7s.
	RPCHoldTimeout time.Duration
	// RPCTimeout caps one RPC inside a datacenter. Default 10s.
	RPCTimeout time.Duration
	// CrossDCTimeout caps one forwarded RPC to another datacenter (not
	// counting a blocking query's wait). Default 10s.
	CrossDCTimeout time.Duration
	// LeaveDrainTime is how long a leaving server waits for its removal
	// from the Raft configuration. Default 5s.
	LeaveDrainTime time.Duration
	// FederationProbeInterval is how often the server asks every remote
	// datacenter for its leader, so the federation view is current even for
	// datacenters nobody has sent a request to. Default 10s.
	FederationProbeInterval time.Duration
	// FloodInterval is how often servers check that every server of their
	// datacenter is in the WAN pool. Default 60s.
	FloodInterval time.Duration

	// TombstoneTTL is how long KV tombstones are kept before the leader
	// reaps them. Default 15m.
	TombstoneTTL time.Duration
	// TombstoneTTLGranularity batches reaps. Default 30s.
	TombstoneTTLGranularity time.Duration
	// SessionTTLMin is the smallest session TTL accepted. Default 10s.
	SessionTTLMin time.Duration

	// DefaultQueryTime is how long a blocking query waits when it names no
	// wait (default_query_time). Default structs.DefaultQueryTime, 5m.
	DefaultQueryTime time.Duration
	// MaxQueryTime caps the wait of a blocking query (max_query_time);
	// up to a structs.JitterFraction of the wait is added to it. Default
	// structs.MaxQueryTime, 10m.
	MaxQueryTime time.Duration
	// KVMaxValueSize is the largest KV value, in bytes, a write may carry
	// (limits.kv_max_value_size), in KVS.Apply and in transactions.
	// Default structs.MaxKVSize, 512 KiB.
	KVMaxValueSize int
	// TxnMaxReqLen caps the sum of the values of one transaction, in bytes
	// (limits.txn_max_req_len); a KVMaxValueSize above it raises the cap
	// to KVMaxValueSize, as Consul keeps a raised value limit usable in a
	// transaction. Both are at most structs.MaxValueSizeLimit. Default
	// 512 KiB.
	TxnMaxReqLen int
	// RPCMaxConnsPerClient caps the TCP connections one source IP may
	// hold open to the server port (limits.rpc_max_conns_per_client);
	// 0 means no cap. Default 100, as Consul's.
	RPCMaxConnsPerClient int
	// SnapshotMaxSize caps a snapshot archive a restore may send, and the
	// state inside it, in bytes; the archive is spooled to a file in the
	// data dir, never held in memory. Default
	// structs.DefaultMaxSnapshotSize (1 GiB).
	SnapshotMaxSize int64

	// CoordinateUpdatePeriod is how often the leader writes queued
	// coordinate updates. Default 5s.
	CoordinateUpdatePeriod time.Duration
	// CoordinateUpdateBatchSize caps updates per Raft entry. Default 128.
	CoordinateUpdateBatchSize int
	// CoordinateUpdateMaxBatches caps entries per period. Default 5.
	CoordinateUpdateMaxBatches int

	// ACL configures access control (acl.go); the zero value is off.
	ACL ACLConfig

	// Autopilot is the autopilot configuration the first leader stores
	// (the agent's autopilot block); once stored, the stored one applies
	// and changes through the operator API. Default
	// structs.DefaultAutopilotConfig(), Consul's.
	Autopilot structs.AutopilotConfig
	// AutopilotUpdateInterval is how often the leader refreshes every
	// server's health. Default 2s, as Consul's.
	AutopilotUpdateInterval time.Duration
	// AutopilotReconcileInterval is how often the leader promotes,
	// demotes and removes dead servers. Default 10s, as Consul's.
	AutopilotReconcileInterval time.Duration
	// NodeMeta is the server's node_meta; the pairs that fit go into its
	// LAN tags, so that autopilot knows every server's redundancy zone.
	NodeMeta map[string]string

	// Logger receives the server's logs.
	Logger hclog.Logger

	// Metrics is where the server emits its metrics (rpc.*, catalog.*,
	// kvs.*, txn.*, session.*; lib/telemetry); nil emits nothing.
	Metrics *metrics.Metrics

	// UserEventHandler, when set, receives the user events of the LAN
	// pool (serf user events named structs.UserEventPrefix+name), on the
	// pool's event goroutine; it must not block.
	UserEventHandler func(serf.UserEvent)

	// TLS, when set, applies tls.internal_rpc to the server port (accept
	// TLS, refuse plaintext with verify_incoming), to the RPC and Raft
	// dials, and to adding Raft peers (with verify_server_hostname a
	// server joins Raft only once it has proved its certificate). Nil:
	// plaintext.
	TLS *tlsutil.Configurator
}

// DefaultConfig returns a server configuration with Consul's defaults.
func DefaultConfig() *Config {
	rc := raft.DefaultConfig()
	rc.ShutdownOnRemove = false
	rc.TrailingLogs = 10240
	rc.SnapshotThreshold = 16384
	rc.SnapshotInterval = 30 * time.Second
	// Writers hand their entries to the leader loop through a buffered
	// channel (MaxAppendEntries deep) instead of waiting for the loop to
	// take each one: while the leader stores a batch (one fsync), the next
	// batch gathers without blocking its writers, and the loop takes it
	// whole (group commit: one StoreLogs, so one fsync, per batch).
	rc.BatchApplyCh = true
	return &Config{
		Datacenter:                 "dc1",
		RPCAddr:                    &net.TCPAddr{IP: net.IPv4zero, Port: 8300},
		SerfLAN:                    gossip.Config{Profile: gossip.ProfileLAN, BindAddr: "0.0.0.0", BindPort: 8301},
		SerfWAN:                    gossip.Config{Profile: gossip.ProfileWAN, BindAddr: "0.0.0.0", BindPort: 8302},
		SerfLANDefaultPort:         8301,
		SerfWANDefaultPort:         8302,
		RaftConfig:                 rc,
		ReconcileInterval:          60 * time.Second,
		RPCHoldTimeout:             7 * time.Second,
		RPCTimeout:                 10 * time.Second,
		CrossDCTimeout:             10 * time.Second,
		LeaveDrainTime:             5 * time.Second,
		FloodInterval:              60 * time.Second,
		FederationProbeInterval:    10 * time.Second,
		TombstoneTTL:               15 * time.Minute,
		TombstoneTTLGranularity:    30 * time.Second,
		SessionTTLMin:              10 * time.Second,
		DefaultQueryTime:           structs.DefaultQueryTime,
		MaxQueryTime:               structs.MaxQueryTime,
		KVMaxValueSize:             structs.MaxKVSize,
		TxnMaxReqLen:               structs.MaxKVSize,
		RPCMaxConnsPerClient:       100,
		SnapshotMaxSize:            structs.DefaultMaxSnapshotSize,
		CoordinateUpdatePeriod:     5 * time.Second,
		CoordinateUpdateBatchSize:  128,
		CoordinateUpdateMaxBatches: 5,
		Autopilot:                  structs.DefaultAutopilotConfig(),
		AutopilotUpdateInterval:    2 * time.Second,
		AutopilotReconcileInterval: 10 * time.Second,
	}
}

// ScaleRaft multiplies Raft's timeouts, as Consul's performance.raft_multiplier
// does (Consul's default multiplier is 5; 1 is the fastest).
func ScaleRaft(rc *raft.Config, mult int) {
	if mult < 1 {
		mult = 1
	}
	d := raft.DefaultConfig()
	rc.HeartbeatTimeout = d.HeartbeatTimeout * time.Duration(mult)
	rc.ElectionTimeout = d.ElectionTimeout * time.Duration(mult)
	rc.LeaderLeaseTimeout = d.LeaderLeaseTimeout * time.Duration(mult)
}

func (c *Config) validate() error {
	switch {
	case c.NodeName == "":
		return fmt.Errorf("server config: node name is empty")
	case c.NodeID == "":
		return fmt.Errorf("server config: node id is empty")
	case c.Datacenter == "":
		return fmt.Errorf("server config: datacenter is empty")
	case c.DataDir == "" && !c.DevMode:
		return fmt.Errorf("server config: data dir is required outside dev mode")
	case c.Bootstrap && c.BootstrapExpect > 0:
		return fmt.Errorf("server config: bootstrap and bootstrap-expect cannot both be set")
	case c.BootstrapExpect < 0:
		return fmt.Errorf("server config: bootstrap-expect must not be negative")
	case c.RPCAddr == nil:
		return fmt.Errorf("server config: rpc address is empty")
	case c.RaftConfig == nil:
		return fmt.Errorf("server config: raft config is nil")
	case c.DefaultQueryTime <= 0 || c.MaxQueryTime <= 0:
		return fmt.Errorf("server config: default query time %s and max query time %s must be positive", c.DefaultQueryTime, c.MaxQueryTime)
	case c.DefaultQueryTime > c.MaxQueryTime:
		return fmt.Errorf("server config: default query time %s exceeds max query time %s", c.DefaultQueryTime, c.MaxQueryTime)
	case c.KVMaxValueSize <= 0 || c.KVMaxValueSize > structs.MaxValueSizeLimit:
		return fmt.Errorf("server config: kv max value size must be between 1 and %d bytes, got %d", structs.MaxValueSizeLimit, c.KVMaxValueSize)
	case c.TxnMaxReqLen <= 0 || c.TxnMaxReqLen > structs.MaxValueSizeLimit:
		return fmt.Errorf("server config: txn max request length must be between 1 and %d bytes, got %d", structs.MaxValueSizeLimit, c.TxnMaxReqLen)
	case c.CoordinateUpdateBatchSize <= 0 || coordinateBatchLimit(c.CoordinateUpdateBatchSize) > structs.MaxRaftEntrySize:
		return fmt.Errorf("server config: coordinate update batch size must be between 1 and %d, got %d",
			(structs.MaxRaftEntrySize-1024)/(structs.MaxCoordinateSize+64), c.CoordinateUpdateBatchSize)
	case c.RPCMaxConnsPerClient < 0:
		return fmt.Errorf("server config: rpc max conns per client must not be negative, got %d", c.RPCMaxConnsPerClient)
	case c.AutopilotUpdateInterval <= 0 || c.AutopilotReconcileInterval <= 0:
		return fmt.Errorf("server config: autopilot intervals must be positive, got %s and %s", c.AutopilotUpdateInterval, c.AutopilotReconcileInterval)
	case c.SnapshotMaxSize <= 0:
		return fmt.Errorf("server config: snapshot max size must be positive, got %d", c.SnapshotMaxSize)
	}
	if err := c.Autopilot.Validate(); err != nil {
		return fmt.Errorf("server config: autopilot: %w", err)
	}
	return nil
}

// queryWait is how long a blocking query that asked for requested waits,
// before jitter: DefaultQueryTime when it asked for nothing, at most
// MaxQueryTime.
func (c *Config) queryWait(requested time.Duration) time.Duration {
	switch {
	case requested <= 0:
		return c.DefaultQueryTime
	case requested > c.MaxQueryTime:
		return c.MaxQueryTime
	}
	return requested
}
