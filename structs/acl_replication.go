package structs

import "time"

// ACL replication types, as Consul's ReplicationType.
const (
	// ACLReplicatePolicies replicates policies and roles.
	ACLReplicatePolicies = "policies"
	// ACLReplicateTokens replicates policies, roles and global tokens.
	ACLReplicateTokens = "tokens"
)

// ACLReplicationStatus is the state of ACL replication in a datacenter,
// in Consul's JSON shape (GET /v1/acl/replication). In the primary
// datacenter, or without a replication token, Enabled is false.
type ACLReplicationStatus struct {
	Enabled          bool
	Running          bool
	SourceDatacenter string
	ReplicationType  string
	// ReplicatedIndex is the primary's index of the policies last
	// replicated; ReplicatedRoleIndex and ReplicatedTokenIndex those of
	// roles and tokens.
	ReplicatedIndex      uint64
	ReplicatedRoleIndex  uint64
	ReplicatedTokenIndex uint64
	LastSuccess          time.Time
	LastError            time.Time
	LastErrorMessage     string
}

// ACLReplicationStatusRequest asks a datacenter's leader for its ACL
// replication status.
type ACLReplicationStatusRequest struct {
	Datacenter string
	QueryOptions
}

// RequestDatacenter implements RPCInfo.
func (r *ACLReplicationStatusRequest) RequestDatacenter() string { return r.Datacenter }

// Validate implements Validator.
func (r *ACLReplicationStatusRequest) Validate() error {
	var v validator
	v.dc("datacenter", r.Datacenter)
	v.query(&r.QueryOptions)
	return v.err
}
