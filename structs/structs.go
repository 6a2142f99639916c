// Package structs holds the request, response and record types shared by the
// agent, the RPC layer, the servers and the state store, together with the
// Raft log entry encoding and the error texts that are part of Meridian's
// Consul-compatible contract.
//
// Field names follow Consul's JSON so that the HTTP layer can return these
// records directly and the official github.com/hashicorp/consul/api client
// decodes them unchanged.
package structs

import (
	"errors"
	"time"
)

// Error texts that clients parse. They keep Consul's exact wording and
// capitals; compare with errors.Is after an RPC with IsErr.
var (
	// ErrNoLeader is returned when a DC has no known Raft leader.
	ErrNoLeader = errors.New("No cluster leader")
	// ErrNoDCPath is returned when a request names a datacenter that is not
	// known from the WAN pool.
	ErrNoDCPath = errors.New("No path to datacenter")
	// ErrNoServers is returned by a client agent that knows no server of its
	// own datacenter.
	ErrNoServers = errors.New("No known Consul servers")
	// ErrDCNoServers is returned when a datacenter is known but none of its
	// servers could be reached.
	ErrDCNoServers = errors.New("Remote DC has no server currently reachable")
	// ErrPermissionDenied mirrors Consul's ACL refusal text.
	ErrPermissionDenied = errors.New("Permission denied")
	// ErrSessionNotFound is returned when a KV lock names an unknown session.
	ErrSessionNotFound = errors.New("invalid session")
)

// contractErrors are the sentinels whose text may cross an RPC boundary and
// must be recognised again on the other side.
var contractErrors = []error{ErrNoLeader, ErrNoDCPath, ErrNoServers, ErrDCNoServers, ErrPermissionDenied,
	ErrACLNotFound, ErrACLDisabled}

// IsErr reports whether err is, or carries the text of, the contract sentinel
// target. net/rpc flattens errors into strings, so after an RPC the sentinel
// identity is lost and only its text survives.
func IsErr(err, target error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, target) {
		return true
	}
	return err.Error() == target.Error()
}

// ContractError maps an error text received over RPC back to its sentinel so
// callers can use errors.Is. Other errors are returned unchanged.
func ContractError(err error) error {
	if err == nil {
		return nil
	}
	for _, s := range contractErrors {
		if err.Error() == s.Error() {
			return s
		}
	}
	return err
}

// Consistency modes reported in X-Consul-Effective-Consistency.
const (
	ConsistencyLeader     = "leader"
	ConsistencyStale      = "stale"
	ConsistencyConsistent = "consistent"
)

// Blocking query bounds, as Consul's.
const (
	// DefaultQueryTime is the wait of a blocking query that gives none.
	DefaultQueryTime = 5 * time.Minute
	// MaxQueryTime caps the wait of a blocking query.
	MaxQueryTime = 10 * time.Minute
	// JitterFraction: a blocking query waits up to wait/JitterFraction more,
	// so that many watchers do not return in lockstep.
	JitterFraction = 16
)

// RPCInfo is implemented by every RPC request so that the forwarding
// decision can be made without knowing the concrete type.
type RPCInfo interface {
	// RequestDatacenter is the DC the request is for; empty means local.
	RequestDatacenter() string
	// IsRead is true for reads, which may be served stale.
	IsRead() bool
	// AllowStaleRead is true when any server may answer a read.
	AllowStaleRead() bool
}

// QueryOptions are the read options every read request carries.
type QueryOptions struct {
	// MinQueryIndex makes the read block until the result's index exceeds it.
	MinQueryIndex uint64
	// MaxQueryTime caps how long a blocking read waits.
	MaxQueryTime time.Duration
	// AllowStale lets any server answer from its local state.
	AllowStale bool
	// RequireConsistent makes the leader confirm its leadership first.
	RequireConsistent bool
	// Token is the caller's ACL token (its SecretID); empty means the
	// anonymous token. Never logged.
	Token string
	// Filter is a ?filter= expression (hashicorp/go-bexpr) over the
	// result's elements; the answering server evaluates it, so a remote
	// DC sends only what matches. Empty keeps everything.
	Filter string
}

// IsRead is always true for queries.
func (q QueryOptions) IsRead() bool { return true }

// GetQueryOptions returns the options themselves, so that code can fill
// those of any read request (they all embed QueryOptions).
func (q *QueryOptions) GetQueryOptions() *QueryOptions { return q }

// RequestToken is the request's ACL token (TokenCarrier).
func (q *QueryOptions) RequestToken() string { return q.Token }

// SetToken sets the request's ACL token (TokenCarrier).
func (q *QueryOptions) SetToken(token string) { q.Token = token }

// AllowStaleRead reports whether a stale answer is acceptable.
func (q QueryOptions) AllowStaleRead() bool { return q.AllowStale }

// QueryMeta is returned with every read.
type QueryMeta struct {
	// Index is the state index the answer reflects, for X-Consul-Index.
	Index uint64
	// LastContact is the time since the answering server last heard from the
	// leader; zero on the leader.
	LastContact time.Duration
	// KnownLeader is whether the answering server knows a leader.
	KnownLeader bool
	// ConsistencyLevel is one of the Consistency* constants.
	ConsistencyLevel string
	// ResultsFilteredByACLs is set when the answering server left out
	// entries the request's token may not read
	// (X-Consul-Results-Filtered-By-ACLs).
	ResultsFilteredByACLs bool
}

// GetQueryMeta returns the meta itself, so that code can read that of any
// read's answer (they all embed QueryMeta).
func (m *QueryMeta) GetQueryMeta() *QueryMeta { return m }

// WriteRequest is embedded in every write.
type WriteRequest struct {
	// Token is the caller's ACL token (its SecretID); empty means the
	// anonymous token. Never logged.
	Token string
}

// IsRead is always false for writes.
func (w WriteRequest) IsRead() bool { return false }

// SetToken sets the request's ACL token.
func (w *WriteRequest) SetToken(token string) { w.Token = token }

// RequestToken is the request's ACL token (TokenCarrier).
func (w *WriteRequest) RequestToken() string { return w.Token }

// TokenCarrier is a request that carries an ACL token: every request
// embedding QueryOptions or WriteRequest, and a few others.
type TokenCarrier interface {
	// RequestToken is the token's SecretID; empty means anonymous.
	RequestToken() string
	// SetToken sets it.
	SetToken(token string)
}

// AllowStaleRead is always false for writes.
func (w WriteRequest) AllowStaleRead() bool { return false }

// DCSpecificRequest is a read addressed to a whole datacenter.
type DCSpecificRequest struct {
	Datacenter string
	// NodeMetaFilters keeps only nodes whose meta has every pair.
	NodeMetaFilters map[string]string
	// Source is used to sort results by RTT (?near=).
	Source QuerySource
	QueryOptions
}

// RequestDatacenter implements RPCInfo.
func (r *DCSpecificRequest) RequestDatacenter() string { return r.Datacenter }

// QuerySource names the node from which RTT sorting is done.
type QuerySource struct {
	Datacenter string
	// Node is the node RTTs are measured from; empty means no sorting.
	Node string
}

// NodeSpecificRequest is a read about one node.
type NodeSpecificRequest struct {
	Datacenter string
	Node       string
	QueryOptions
}

// RequestDatacenter implements RPCInfo.
func (r *NodeSpecificRequest) RequestDatacenter() string { return r.Datacenter }

// ServiceSpecificRequest is a read about one service.
type ServiceSpecificRequest struct {
	Datacenter      string
	NodeMetaFilters map[string]string
	ServiceName     string
	// ServiceTags keeps only instances carrying every tag.
	ServiceTags []string
	// TagFilter is true when ServiceTags is to be applied.
	TagFilter bool
	// PassingOnly keeps only instances whose checks all pass (health).
	PassingOnly bool
	// ServiceAddress, with no ServiceName, asks Catalog.ServiceNodes for
	// the instances of every service registered with this address (for
	// DNS PTR records).
	ServiceAddress string
	Source         QuerySource
	QueryOptions
}

// RequestDatacenter implements RPCInfo.
func (r *ServiceSpecificRequest) RequestDatacenter() string { return r.Datacenter }

// ChecksInStateRequest asks for all checks in one state.
type ChecksInStateRequest struct {
	Datacenter      string
	NodeMetaFilters map[string]string
	// State is a health status or HealthAny.
	State  string
	Source QuerySource
	QueryOptions
}

// RequestDatacenter implements RPCInfo.
func (r *ChecksInStateRequest) RequestDatacenter() string { return r.Datacenter }

// StatusRequest is the argument of the Status endpoint.
type StatusRequest struct {
	Datacenter string
	QueryOptions
}

// RequestDatacenter implements RPCInfo.
func (r *StatusRequest) RequestDatacenter() string { return r.Datacenter }

// IndexedAny is a generic answer carrying only its query meta.
type IndexedAny struct {
	QueryMeta
}

// RaftStats is a server's Raft progress, asked by peers before
// -bootstrap-expect bootstraps.
type RaftStats struct {
	LastIndex    uint64
	LastTerm     uint64
	AppliedIndex uint64
	// LastLogTerm is the term of the last log entry and LastContact the
	// time since the leader was last heard from (0 on the leader); the
	// leader's autopilot judges every server's health by them.
	LastLogTerm uint64
	LastContact time.Duration
}
