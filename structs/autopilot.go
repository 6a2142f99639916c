package structs

import "time"

// AutopilotConfig is autopilot's configuration, stored through Raft so
// that every server (and a future leader) applies the same. Its JSON form
// is Consul's /v1/operator/autopilot/configuration body: durations are
// strings such as "200ms".
type AutopilotConfig struct {
	// CleanupDeadServers removes failed servers from the Raft
	// configuration (never below MinQuorum voters, and never a majority at
	// once).
	CleanupDeadServers bool
	// LastContactThreshold is how long a server may go without contact
	// from the leader and still be healthy.
	LastContactThreshold Duration
	// MaxTrailingLogs is how many log entries a server may be behind the
	// leader and still be healthy.
	MaxTrailingLogs uint64
	// MinQuorum is the fewest voters dead-server cleanup leaves.
	MinQuorum uint
	// ServerStabilizationTime is how long a new server must be healthy
	// before it is promoted to voter.
	ServerStabilizationTime Duration
	// RedundancyZoneTag names the node_meta key that puts servers into
	// redundancy zones: one voter per zone, the other servers of a zone
	// are non-voters ready to replace it. Empty: no zones.
	RedundancyZoneTag string
	// DisableUpgradeMigration and UpgradeVersionTag are accepted and
	// stored for compatibility with Consul's clients; Meridian does not
	// migrate upgrades.
	DisableUpgradeMigration bool
	UpgradeVersionTag       string

	CreateIndex uint64
	ModifyIndex uint64
}

// DefaultAutopilotConfig returns Consul's defaults.
func DefaultAutopilotConfig() AutopilotConfig {
	return AutopilotConfig{
		CleanupDeadServers:      true,
		LastContactThreshold:    Duration(200 * time.Millisecond),
		MaxTrailingLogs:         250,
		ServerStabilizationTime: Duration(10 * time.Second),
	}
}

// AutopilotSetConfigRequest writes the autopilot configuration; with CAS
// only when the stored ModifyIndex equals Config.ModifyIndex.
type AutopilotSetConfigRequest struct {
	Datacenter string
	Config     AutopilotConfig
	CAS        bool
	WriteRequest
}

// RequestDatacenter implements RPCInfo.
func (r *AutopilotSetConfigRequest) RequestDatacenter() string { return r.Datacenter }

// AutopilotServerHealth is one server in /v1/operator/autopilot/health.
type AutopilotServerHealth struct {
	ID          string
	Name        string
	Address     string
	SerfStatus  string
	Version     string
	Leader      bool
	LastContact Duration
	LastTerm    uint64
	LastIndex   uint64
	Healthy     bool
	Voter       bool
	StableSince time.Time
}

// AutopilotHealthReply answers /v1/operator/autopilot/health.
type AutopilotHealthReply struct {
	Healthy          bool
	FailureTolerance int
	Servers          []AutopilotServerHealth
}

// AutopilotServer is one server in /v1/operator/autopilot/state.
type AutopilotServer struct {
	ID             string
	Name           string
	Address        string
	NodeStatus     string
	Version        string
	LastContact    Duration
	LastTerm       uint64
	LastIndex      uint64
	Healthy        bool
	StableSince    time.Time
	RedundancyZone string `json:",omitempty"`
	ReadReplica    bool
	// Status is the server's Raft standing: leader, voter, non-voter,
	// staging or none.
	Status string
	Meta   map[string]string
	// NodeType is how autopilot classes the server: voter, or with
	// redundancy zones zone-voter, zone-extra-voter or zone-standby.
	NodeType string
}

// AutopilotZone is one redundancy zone in the autopilot state.
type AutopilotZone struct {
	Servers []string
	Voters  []string
	// FailureTolerance is how many of the zone's servers may fail before
	// the zone has no healthy server left to vote.
	FailureTolerance int
}

// AutopilotState answers /v1/operator/autopilot/state.
type AutopilotState struct {
	Healthy          bool
	FailureTolerance int
	// OptimisticFailureTolerance counts the healthy non-voters too: how
	// many servers may fail, one after the other with time to promote
	// replacements, before quorum is lost.
	OptimisticFailureTolerance int
	// Servers and RedundancyZones hold pointers: go-msgpack decodes the
	// entries of a map of structs through one reused value, so the slices
	// and maps inside would end up shared by every entry.
	Servers         map[string]*AutopilotServer
	Leader          string
	Voters          []string
	RedundancyZones map[string]*AutopilotZone `json:",omitempty"`
}

// TransferLeaderRequest asks the leader to hand leadership over, to the
// server with ID when it is set.
type TransferLeaderRequest struct {
	Datacenter string
	ID         string
	WriteRequest
}

// RequestDatacenter implements RPCInfo.
func (r *TransferLeaderRequest) RequestDatacenter() string { return r.Datacenter }

// TransferLeaderResponse answers /v1/operator/raft/transfer-leader.
type TransferLeaderResponse struct {
	Success bool
}
