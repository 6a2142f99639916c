package structs

import (
	"errors"
	"time"
)

// Prepared queries, as Consul's /v1/query: a named, stored health query
// for one service that answers from the local datacenter and, when no
// instance is left there, from other datacenters (by WAN RTT, then in a
// listed order). Meridian adds a sticky failover policy on top
// (QueryFailoverOptions.MinPassing, FailbackAfter, FailbackMode); a query
// without those fields behaves exactly as Consul's.

// ErrQueryNotFound is Consul's text for a query that resolves to nothing
// (HTTP 404).
var ErrQueryNotFound = NewError(CodeNotFound, "Query not found")

// errQueryNotFoundText is the bare text, for matching after an RPC.
const errQueryNotFoundText = "Query not found"

// IsQueryNotFound reports whether err is ErrQueryNotFound, also after an
// RPC flattened it.
func IsQueryNotFound(err error) bool {
	return err != nil && (errors.Is(err, ErrQueryNotFound) || err.Error() == errQueryNotFoundText)
}

// QueryTemplateTypeNamePrefixMatch is the only template type, as in
// Consul: the template answers every name it is a prefix of.
const QueryTemplateTypeNamePrefixMatch = "name_prefix_match"

// Failback modes of the sticky policy.
const (
	// FailbackAuto returns to the local datacenter once it has had
	// MinPassing passing instances for FailbackAfter.
	FailbackAuto = "auto"
	// FailbackManual returns only on PUT /v1/query/<id>/failback.
	FailbackManual = "manual"
)

// QueryFailoverTarget is one datacenter (or, in Consul, peer) to try.
type QueryFailoverTarget struct {
	Peer       string
	Datacenter string
	Partition  string `json:",omitempty"`
	Namespace  string `json:",omitempty"`
}

// QueryFailoverOptions says where a query goes when the local datacenter
// has no instance left.
type QueryFailoverOptions struct {
	// NearestN is how many other datacenters to try, nearest (by WAN RTT)
	// first.
	NearestN int
	// Datacenters are tried in order after the NearestN ones, skipping
	// those already tried and those not known.
	Datacenters []string
	// Targets is Consul's ordered list of datacenters (or peers); it may
	// not be combined with NearestN or Datacenters.
	Targets []QueryFailoverTarget

	// MinPassing (Meridian) fails over when fewer than this many
	// instances pass locally; 0 means 1, Consul's behaviour.
	MinPassing int `json:",omitempty"`
	// FailbackAfter (Meridian) is a duration such as "30s": once failed
	// over, the query stays on the failover datacenter until the local one
	// has had MinPassing passing instances continuously for this long.
	FailbackAfter string `json:",omitempty"`
	// FailbackMode (Meridian) is "auto" (the default) or "manual": return
	// only on PUT /v1/query/<id>/failback.
	FailbackMode string `json:",omitempty"`
}

// Sticky reports whether the query uses Meridian's sticky failover policy
// rather than Consul's stateless one.
func (f *QueryFailoverOptions) Sticky() bool {
	return f.MinPassing > 1 || f.FailbackAfter != "" || f.FailbackMode != ""
}

// MinPassingOrDefault is MinPassing, 1 when unset.
func (f *QueryFailoverOptions) MinPassingOrDefault() int {
	if f.MinPassing < 1 {
		return 1
	}
	return f.MinPassing
}

// FailbackDelay is FailbackAfter parsed; 0 when unset or invalid (the
// endpoint refuses invalid values before they are stored).
func (f *QueryFailoverOptions) FailbackDelay() time.Duration {
	d, err := time.ParseDuration(f.FailbackAfter)
	if err != nil || d < 0 {
		return 0
	}
	return d
}

// ServiceQuery is the health query a prepared query runs.
type ServiceQuery struct {
	Service string
	// SamenessGroup, Namespace and Partition are accepted for
	// compatibility and must be empty: Meridian has none of them.
	SamenessGroup string `json:",omitempty"`
	Failover      QueryFailoverOptions
	// OnlyPassing drops instances with a warning check too.
	OnlyPassing bool
	// IgnoreCheckIDs are checks that do not count for health.
	IgnoreCheckIDs []string
	// Near sorts by RTT from this node ("_agent": the asking agent).
	Near string
	// Tags must all be present; "!tag" must be absent.
	Tags []string
	// NodeMeta and ServiceMeta must all match.
	NodeMeta    map[string]string
	ServiceMeta map[string]string
	// Peer and Connect are accepted for compatibility and must be unset.
	Peer      string
	Connect   bool
	Namespace string `json:",omitempty"`
	Partition string `json:",omitempty"`
}

// QueryTemplateOptions makes a query a template.
type QueryTemplateOptions struct {
	// Type is "" (not a template) or name_prefix_match.
	Type string
	// Regexp is matched against the executed name; ${match(N)} reads its
	// groups.
	Regexp string
	// RemoveEmptyTags drops tags that interpolate to "".
	RemoveEmptyTags bool
}

// QueryDNSOptions are the DNS settings of a query.
type QueryDNSOptions struct {
	// TTL is a duration such as "10s"; empty means 0.
	TTL string
}

// PreparedQuery is a stored query, in Consul's shape.
type PreparedQuery struct {
	ID       string
	Name     string
	Session  string
	Token    string
	Template QueryTemplateOptions
	Service  ServiceQuery
	DNS      QueryDNSOptions
	// CreateIndex and ModifyIndex are the Raft indexes of its creation
	// and last change.
	CreateIndex uint64
	ModifyIndex uint64
}

// IsTemplate reports whether the query is a template.
func (q *PreparedQuery) IsTemplate() bool { return q.Template.Type != "" }

// PreparedQueries is a list of queries.
type PreparedQueries []*PreparedQuery

// PreparedQueryOp is a write verb.
type PreparedQueryOp string

// Prepared query verbs.
const (
	PreparedQueryCreate PreparedQueryOp = "create"
	PreparedQueryUpdate PreparedQueryOp = "update"
	PreparedQueryDelete PreparedQueryOp = "delete"
)

// PreparedQueryRequest creates, updates or deletes a query; the reply is
// its ID.
type PreparedQueryRequest struct {
	Datacenter string
	Op         PreparedQueryOp
	Query      *PreparedQuery
	WriteRequest
}

// RequestDatacenter implements RPCInfo.
func (r *PreparedQueryRequest) RequestDatacenter() string { return r.Datacenter }

// PreparedQuerySpecificRequest reads one query by ID.
type PreparedQuerySpecificRequest struct {
	Datacenter string
	QueryID    string
	QueryOptions
}

// RequestDatacenter implements RPCInfo.
func (r *PreparedQuerySpecificRequest) RequestDatacenter() string { return r.Datacenter }

// IndexedPreparedQueries answers query reads.
type IndexedPreparedQueries struct {
	Queries PreparedQueries
	QueryMeta
}

// PreparedQueryExecuteRequest executes (or explains) a query by ID or
// name.
type PreparedQueryExecuteRequest struct {
	Datacenter    string
	QueryIDOrName string
	// Limit caps the instances returned; 0 means all.
	Limit int
	// Source sorts by RTT from this node (?near), overriding the query's
	// Near.
	Source QuerySource
	// Agent is the asking agent, for Near "_agent".
	Agent QuerySource
	QueryOptions
}

// RequestDatacenter implements RPCInfo.
func (r *PreparedQueryExecuteRequest) RequestDatacenter() string { return r.Datacenter }

// PreparedQueryExecuteRemoteRequest runs an already resolved query in
// another datacenter, during failover.
type PreparedQueryExecuteRemoteRequest struct {
	Datacenter string
	Query      PreparedQuery
	Limit      int
	QueryOptions
}

// RequestDatacenter implements RPCInfo.
func (r *PreparedQueryExecuteRemoteRequest) RequestDatacenter() string { return r.Datacenter }

// PreparedQueryFailoverStatus is the sticky policy's state of one query,
// decided by the leader and written through Raft.
type PreparedQueryFailoverStatus struct {
	// QueryID is the query's ID.
	QueryID string
	// Active is true while the query answers from another datacenter.
	Active bool
	// Datacenter is the datacenter failed over to (empty when none had
	// instances at the switch, or when not active).
	Datacenter string
	// Since is when the current state began.
	Since time.Time
	// Reason says why, in one sentence.
	Reason      string
	CreateIndex uint64
	ModifyIndex uint64
}

// PreparedQueryExecuteResponse is the answer of an execution, in Consul's
// shape plus Meridian's Failover.
type PreparedQueryExecuteResponse struct {
	Service    string
	Nodes      CheckServiceNodes
	DNS        QueryDNSOptions
	Datacenter string
	// Failovers counts the remote datacenters tried.
	Failovers int
	// Failover is the sticky policy's state; nil for queries without one.
	Failover *PreparedQueryFailoverStatus `json:",omitempty"`
	QueryMeta
}

// PreparedQueryExplainResponse answers /explain: the query as it would
// run (a template rendered for the name).
type PreparedQueryExplainResponse struct {
	Query PreparedQuery
	QueryMeta
}

// PreparedQueryFailoverOp is a verb on the sticky state.
type PreparedQueryFailoverOp string

// Sticky state verbs.
const (
	// PreparedQueryFailoverSet writes a state (the leader's decision).
	PreparedQueryFailoverSet PreparedQueryFailoverOp = "set"
	// PreparedQueryFailoverFailback asks for a manual failback.
	PreparedQueryFailoverFailback PreparedQueryFailoverOp = "failback"
)

// PreparedQueryFailoverRequest writes a query's sticky state (Raft), or
// asks for a manual failback (RPC).
type PreparedQueryFailoverRequest struct {
	Datacenter string
	Op         PreparedQueryFailoverOp
	QueryID    string
	// Status is the state to write (set).
	Status PreparedQueryFailoverStatus
	WriteRequest
}

// RequestDatacenter implements RPCInfo.
func (r *PreparedQueryFailoverRequest) RequestDatacenter() string { return r.Datacenter }

// PreparedQueryFailoverResponse answers /failover and /failback.
type PreparedQueryFailoverResponse struct {
	Status PreparedQueryFailoverStatus
	// Policy is the query's sticky settings.
	MinPassing    int
	FailbackAfter string
	FailbackMode  string
	// LocalPassing is how many instances pass locally now.
	LocalPassing int
	QueryMeta
}

// Clone returns a deep copy of the query.
func (q *PreparedQuery) Clone() *PreparedQuery {
	c := *q
	s := &c.Service
	s.Failover.Datacenters = cloneList(q.Service.Failover.Datacenters)
	if q.Service.Failover.Targets != nil {
		s.Failover.Targets = append([]QueryFailoverTarget{}, q.Service.Failover.Targets...)
	}
	s.IgnoreCheckIDs = cloneList(q.Service.IgnoreCheckIDs)
	s.Tags = cloneList(q.Service.Tags)
	s.NodeMeta = cloneStrMap(q.Service.NodeMeta)
	s.ServiceMeta = cloneStrMap(q.Service.ServiceMeta)
	return &c
}

func cloneList(l []string) []string {
	if l == nil {
		return nil
	}
	return append([]string{}, l...)
}

func cloneStrMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}
