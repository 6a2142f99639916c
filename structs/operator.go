package structs

import "time"

// RaftServer is one server of the Raft configuration, in Consul's shape.
type RaftServer struct {
	ID              string
	Node            string
	Address         string
	Leader          bool
	ProtocolVersion string
	Voter           bool
}

// RaftConfigurationResponse answers /v1/operator/raft/configuration.
type RaftConfigurationResponse struct {
	Servers []*RaftServer
	Index   uint64
}

// RaftRemovePeerRequest removes a server from the Raft configuration by
// address or by ID.
type RaftRemovePeerRequest struct {
	Datacenter string
	Address    string
	ID         string
	WriteRequest
}

// RequestDatacenter implements RPCInfo.
func (r *RaftRemovePeerRequest) RequestDatacenter() string { return r.Datacenter }

// FederationDC is one datacenter in the federation view
// (/v1/operator/federation), as the answering server sees it.
type FederationDC struct {
	Datacenter string
	// Local is true for the answering server's own datacenter.
	Local bool
	// ServersKnown counts the DC's servers in the WAN pool.
	ServersKnown int
	// ServersAlive counts those gossip considers alive.
	ServersAlive int
	// Servers are the WAN member names.
	Servers []string
	// LeaderKnown is whether the DC's last answer came from a server that
	// knows a leader (for the local DC: whether a leader is known now).
	LeaderKnown bool
	// LastContact is when a request to the DC last got an answer; absent
	// if never.
	LastContact *time.Time `json:",omitempty"`
	// LastError is the last error seen reaching the DC, if any since the
	// last answer.
	LastError string `json:",omitempty"`
	// LastErrorTime is when it was seen; absent with no error.
	LastErrorTime *time.Time `json:",omitempty"`
	// MedianRTT is the median estimated round trip to the DC's servers.
	MedianRTT Duration
	// Reachable summarises: the last attempt to reach the DC got an
	// answer (servers probe every remote DC every few seconds).
	Reachable bool
}
