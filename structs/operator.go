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
	// LeaderKnown is whether the last request answered had a leader behind it
	// (for the local DC: whether a leader is known now).
	LeaderKnown bool
	// LastContact is when a request to the DC last succeeded; zero if never.
	LastContact time.Time `json:",omitempty"`
	// LastError is the last error seen forwarding to the DC.
	LastError string `json:",omitempty"`
	// LastErrorTime is when it was seen.
	LastErrorTime time.Time `json:",omitempty"`
	// MedianRTT is the median estimated round trip to the DC's servers.
	MedianRTT Duration
	// Reachable summarises: some server alive and no failure since the
	// last success.
	Reachable bool
}
