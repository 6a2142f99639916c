package structs

import "time"

// SessionBehavior says what happens to a session's locks when it ends.
type SessionBehavior string

// Session behaviours, as Consul's.
const (
	SessionKeysRelease SessionBehavior = "release"
	SessionKeysDelete  SessionBehavior = "delete"
)

// Session TTL bounds, as Consul's defaults.
const (
	SessionTTLMin = 10 * time.Second
	SessionTTLMax = 24 * time.Hour
	// SessionTTLMultiplier: the server waits this many TTLs before it
	// invalidates a session that was not renewed.
	SessionTTLMultiplier = 2
	// DefaultLockDelay is the lock delay of a session that gives none.
	DefaultLockDelay = 15 * time.Second
	// MaxLockDelay caps the lock delay.
	MaxLockDelay = 60 * time.Second
)

// ServiceCheck names a service check a session depends on.
type ServiceCheck struct {
	ID        string
	Namespace string `json:",omitempty"`
}

// Session is a session record in Consul's SessionEntry shape. LockDelay
// travels as nanoseconds, as Consul's does.
type Session struct {
	ID            string
	Name          string
	Node          string
	LockDelay     time.Duration
	Behavior      SessionBehavior
	TTL           string
	NodeChecks    []string
	ServiceChecks []ServiceCheck
	// Checks is the pre-1.7 form; it is read, folded into NodeChecks on
	// create, and also returned.
	Checks      []string
	CreateIndex uint64
	ModifyIndex uint64
}

// Sessions is a list of sessions.
type Sessions []*Session

// SessionOp is a session write verb.
type SessionOp string

// Session verbs.
const (
	SessionCreate  SessionOp = "create"
	SessionDestroy SessionOp = "destroy"
)

// SessionRequest creates or destroys a session.
type SessionRequest struct {
	Datacenter string
	Op         SessionOp
	Session    Session
	WriteRequest
}

// RequestDatacenter implements RPCInfo.
func (r *SessionRequest) RequestDatacenter() string { return r.Datacenter }

// SessionSpecificRequest reads or renews one session.
type SessionSpecificRequest struct {
	Datacenter string
	SessionID  string
	QueryOptions
}

// RequestDatacenter implements RPCInfo.
func (r *SessionSpecificRequest) RequestDatacenter() string { return r.Datacenter }

// IndexedSessions answers session reads.
type IndexedSessions struct {
	Sessions Sessions
	QueryMeta
}
