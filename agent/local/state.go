// Package local is an agent's own record of the services and health checks
// of its machine, and the anti-entropy that keeps the catalog in step with
// that record, in the manner of Consul's agent/local package.
//
// # The record
//
// State holds every service and check registered on the agent. Each entry
// carries an in-sync flag: false when the entry changed locally and the
// catalog has not been told yet. Removing an entry keeps it as a tombstone
// (deleted, out of sync) until the catalog has forgotten it too. Each
// change also takes a fresh generation number, so that a sync that ran
// while the entry changed again does not mark the newer version as synced.
//
// # Anti-entropy
//
// The agent is the authority on its node's services and checks; the catalog
// follows. Two kinds of sync do this:
//
//   - A partial sync (SyncChanges) pushes the entries that are out of sync:
//     tombstones are deregistered, changed entries registered. State asks for
//     one (through the channel the Syncer watches) on every change, so a
//     registration or a status change reaches the catalog at once.
//   - A full sync (SyncFull) first reads the node's services and checks from
//     the catalog and compares (see SyncFull): what the catalog lacks or
//     holds differently is marked out of sync, what the catalog holds and the
//     agent does not becomes a tombstone. Then it runs a partial sync. This
//     repairs drift in both directions, whoever caused it. The leader's
//     serfHealth check is never touched.
//
// The Syncer runs a full sync at start, then every interval (scaled with
// the cluster size and jittered so that a large cluster does not hit the
// servers in step), and partial syncs in between.
//
// # Check output
//
// A check whose status stays the same but whose output changes (a clock in
// the body of an HTTP check, say) would write to Raft at every run. As in
// Consul, such output-only changes are held back: the new output is visible
// on the agent at once, but it is pushed at most once per
// CheckUpdateInterval (with jitter). A status change is always pushed at
// once, with the latest output.
package local

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/meridian-sd/meridian/structs"
)

// Config is what State needs to know about its node.
type Config struct {
	// NodeID is the node's UUID, registered with the node.
	NodeID string
	// NodeName is the node's name in the catalog.
	NodeName string
	// Datacenter is the node's datacenter.
	Datacenter string
	// Address is the node's address in the catalog (its LAN advertise
	// address, the one the leader also registers from gossip).
	Address string
	// TaggedAddresses are the node's tagged addresses ("lan", "wan", ...).
	TaggedAddresses map[string]string
	// NodeMeta is the node's metadata.
	NodeMeta map[string]string
	// CheckUpdateInterval is how often, at most, a check's output is pushed
	// to the catalog while its status stays the same. Zero pushes every
	// change.
	CheckUpdateInterval time.Duration
}

// Tokens gives the ACL tokens anti-entropy writes with, read at each sync
// so that a token changed through the agent's API counts at once.
type Tokens interface {
	// AgentToken is the token of the node's own registration and of the
	// reads of its services and checks: acl.tokens.agent, or the default
	// token when there is none.
	AgentToken() string
	// UserToken is the token of a service or check registered without
	// one: acl.tokens.default.
	UserToken() string
}

// RPCer sends RPCs to the servers: the agent's server or client.
type RPCer interface {
	RPC(method string, args, reply any) error
}

// Errors of State's registration methods.
var (
	// ErrUnknownService is returned for a service ID the agent does not have.
	ErrUnknownService = errors.New("unknown service")
	// ErrUnknownCheck is returned for a check ID the agent does not have.
	ErrUnknownCheck = errors.New("unknown check")
)

// serviceState is one service and its sync state.
type serviceState struct {
	svc     *structs.NodeService
	inSync  bool
	deleted bool
	gen     uint64
	// token is the ACL token the service was registered with, which its
	// syncs use; empty for the user token. Never logged.
	token string
}

// checkState is one check and its sync state.
type checkState struct {
	chk     *structs.HealthCheck
	inSync  bool
	deleted bool
	gen     uint64
	// token is the ACL token the check was registered with; empty for
	// its service's token, or for a node check the agent token. Never
	// logged.
	token string
	// deferred is the timer that will push an output-only change; nil when
	// none is pending.
	deferred *time.Timer
	// criticalSince is when the check last turned critical; zero while it
	// is not critical.
	criticalSince time.Time
}

// State is the agent's record of its services and checks. It is safe for
// concurrent use.
type State struct {
	rpc    RPCer
	tokens Tokens
	logger hclog.Logger
	// triggerCh asks the Syncer for a partial sync; it holds at most one
	// request, so that a burst of changes makes one sync.
	triggerCh chan struct{}
	// syncMu serialises sync passes.
	syncMu sync.Mutex
	// notifyMu guards notifyCh, which is closed and replaced on every
	// change of a service or check (see Changed).
	notifyMu sync.Mutex
	notifyCh chan struct{}

	mu         sync.Mutex
	cfg        Config
	nodeInSync bool
	nodeGen    uint64
	services   map[string]*serviceState
	checks     map[string]*checkState
	gen        uint64
	closed     bool
}

// NewState returns an empty State for the node cfg describes, syncing
// through rpc.
func NewState(cfg Config, rpc RPCer, logger hclog.Logger) *State {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	return &State{
		rpc:       rpc,
		logger:    logger,
		triggerCh: make(chan struct{}, 1),
		notifyCh:  make(chan struct{}),
		cfg:       cloneConfig(cfg),
		services:  map[string]*serviceState{},
		checks:    map[string]*checkState{},
	}
}

func cloneConfig(c Config) Config {
	c.TaggedAddresses = maps.Clone(c.TaggedAddresses)
	c.NodeMeta = maps.Clone(c.NodeMeta)
	return c
}

// SetTokens sets where the ACL tokens of syncs come from; without, syncs
// carry no token (the anonymous token).
func (l *State) SetTokens(t Tokens) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.tokens = t
}

// agentToken and userToken read the tokens. Callers hold mu.
func (l *State) agentToken() string {
	if l.tokens == nil {
		return ""
	}
	return l.tokens.AgentToken()
}

func (l *State) userToken() string {
	if l.tokens == nil {
		return ""
	}
	return l.tokens.UserToken()
}

// serviceToken is the token of a service's syncs. Callers hold mu.
func (l *State) serviceToken(s *serviceState) string {
	if s != nil && s.token != "" {
		return s.token
	}
	return l.userToken()
}

// checkToken is the token of a check's syncs: its own, its service's, or
// for a node check the agent token. Callers hold mu.
func (l *State) checkToken(c *checkState) string {
	if c.token != "" {
		return c.token
	}
	if c.chk.ServiceID != "" {
		return l.serviceToken(l.services[c.chk.ServiceID])
	}
	return l.agentToken()
}

// ServiceToken is the token a service was registered with ("" for none).
func (l *State) ServiceToken(id string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := l.services[id]; s != nil {
		return s.token
	}
	return ""
}

// CheckToken is the token a check was registered with ("" for none).
func (l *State) CheckToken(id string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c := l.checks[id]; c != nil {
		return c.token
	}
	return ""
}

// SetConfig replaces the node's description (after a reload: node meta and
// tagged addresses may change); the node is re-registered if it differs.
func (l *State) SetConfig(cfg Config) {
	l.mu.Lock()
	defer l.mu.Unlock()
	old := l.cfg
	l.cfg = cloneConfig(cfg)
	if old.NodeID != cfg.NodeID || old.Address != cfg.Address ||
		!maps.Equal(old.TaggedAddresses, cfg.TaggedAddresses) || !maps.Equal(old.NodeMeta, cfg.NodeMeta) {
		l.nodeInSync = false
		l.nodeGen = l.nextGen()
		l.trigger()
	}
}

// Close stops the timers of deferred output updates. The State stays
// readable; changes after Close are still recorded but no longer trigger
// syncs from timers.
func (l *State) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	for _, c := range l.checks {
		c.stopDeferred()
	}
}

// nextGen returns a fresh generation number. Callers hold mu.
func (l *State) nextGen() uint64 {
	l.gen++
	return l.gen
}

// Changed returns a channel closed at the next change of a service or
// check, for blocking reads of the local state (/v1/agent/service/<id>
// with ?hash=). Take it before reading, so that no change is missed.
func (l *State) Changed() <-chan struct{} {
	l.notifyMu.Lock()
	defer l.notifyMu.Unlock()
	return l.notifyCh
}

// notify wakes the readers waiting on Changed.
func (l *State) notify() {
	l.notifyMu.Lock()
	defer l.notifyMu.Unlock()
	close(l.notifyCh)
	l.notifyCh = make(chan struct{})
}

// trigger asks for a partial sync without blocking, and wakes the readers
// waiting for a change.
func (l *State) trigger() {
	l.notify()
	select {
	case l.triggerCh <- struct{}{}:
	default:
	}
}

// TriggerSync asks the Syncer for a partial sync.
func (l *State) TriggerSync() { l.trigger() }

func (c *checkState) stopDeferred() {
	if c.deferred != nil {
		c.deferred.Stop()
		c.deferred = nil
	}
}

// AddService records a service, replacing one with the same ID; its checks
// stay. The service must have an ID and a name.
func (l *State) AddService(svc *structs.NodeService) error {
	return l.AddServiceWithChecks(svc, nil)
}

// AddServiceWithChecks records a service and some of its checks in one
// step, so that a sync never sees the service without them. Checks name the
// service through their ServiceID, which is set here.
func (l *State) AddServiceWithChecks(svc *structs.NodeService, checks []*structs.HealthCheck) error {
	return l.AddServiceWithChecksToken(svc, checks, "")
}

// AddServiceWithChecksToken is AddServiceWithChecks for a service
// registered with an ACL token: the service and these checks sync with
// it (empty: the user token).
func (l *State) AddServiceWithChecksToken(svc *structs.NodeService, checks []*structs.HealthCheck, token string) error {
	if err := ValidateService(svc, checks); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.services[svc.ID] = &serviceState{svc: cloneService(svc), gen: l.nextGen(), token: token}
	// Checks already bound to the service follow its name and tags.
	for _, c := range l.checks {
		if c.deleted || c.chk.ServiceID != svc.ID {
			continue
		}
		if c.chk.ServiceName != svc.Service || !slices.Equal(c.chk.ServiceTags, svc.Tags) {
			hc := cloneCheck(c.chk)
			hc.ServiceName = svc.Service
			hc.ServiceTags = slices.Clone(svc.Tags)
			c.chk = hc
			c.inSync = false
			c.gen = l.nextGen()
		}
	}
	for _, c := range checks {
		hc := cloneCheck(c)
		hc.ServiceID = svc.ID
		l.putCheck(hc, "")
	}
	l.trigger()
	return nil
}

// ValidateService returns the error AddServiceWithChecks would refuse svc
// and checks with, so that a caller can check them before it saves them.
func ValidateService(svc *structs.NodeService, checks []*structs.HealthCheck) error {
	if svc == nil || svc.ID == "" || svc.Service == "" {
		return errors.New("a service needs an ID and a name")
	}
	if svc.ID == structs.ConsulServiceID {
		return fmt.Errorf("service ID %q is reserved for the servers", svc.ID)
	}
	for _, c := range checks {
		if err := validCheck(c); err != nil {
			return err
		}
	}
	return nil
}

// ValidateCheck returns the error AddCheck would refuse hc with for what
// it holds (the service it names is AddCheck's to check).
func ValidateCheck(hc *structs.HealthCheck) error { return validCheck(hc) }

// validCheck refuses checks State cannot record.
func validCheck(c *structs.HealthCheck) error {
	switch {
	case c == nil || c.CheckID == "":
		return errors.New("a check needs an ID")
	case c.CheckID == structs.SerfCheckID:
		return fmt.Errorf("check ID %q is reserved for the servers", c.CheckID)
	case c.Status != "" && !structs.ValidHealthStatus(c.Status):
		return fmt.Errorf("invalid check status %q", c.Status)
	}
	return nil
}

// putCheck stores a check (a copy the caller gives away). Callers hold mu
// and have checked the service exists.
func (l *State) putCheck(hc *structs.HealthCheck, token string) {
	hc.Node = l.cfg.NodeName
	if hc.Status == "" {
		hc.Status = structs.HealthCritical
	}
	if s := l.services[hc.ServiceID]; hc.ServiceID != "" && s != nil {
		hc.ServiceName = s.svc.Service
		hc.ServiceTags = slices.Clone(s.svc.Tags)
	} else {
		hc.ServiceName, hc.ServiceTags = "", nil
	}
	cs := &checkState{chk: hc, gen: l.nextGen(), token: token}
	if old := l.checks[hc.CheckID]; old != nil {
		old.stopDeferred()
		if !old.deleted && old.chk.Status == structs.HealthCritical && hc.Status == structs.HealthCritical {
			cs.criticalSince = old.criticalSince
		}
	}
	if hc.Status == structs.HealthCritical && cs.criticalSince.IsZero() {
		cs.criticalSince = time.Now()
	}
	l.checks[hc.CheckID] = cs
}

// RemoveService forgets a service and its checks; the catalog follows at
// the next sync. It returns ErrUnknownService if there is no such service.
func (l *State) RemoveService(id string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.services[id]
	if s == nil || s.deleted {
		return fmt.Errorf("service %q: %w", id, ErrUnknownService)
	}
	s.deleted, s.inSync, s.gen = true, false, l.nextGen()
	for _, c := range l.checks {
		if !c.deleted && c.chk.ServiceID == id {
			c.stopDeferred()
			c.deleted, c.inSync, c.gen = true, false, l.nextGen()
		}
	}
	l.trigger()
	return nil
}

// AddCheck records a check, replacing one with the same ID. A check with a
// ServiceID needs that service registered.
func (l *State) AddCheck(hc *structs.HealthCheck) error {
	return l.AddCheckToken(hc, "")
}

// AddCheckToken is AddCheck for a check registered with an ACL token,
// which its syncs use (empty: its service's token, or the agent token).
func (l *State) AddCheckToken(hc *structs.HealthCheck, token string) error {
	if err := validCheck(hc); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if hc.ServiceID != "" {
		if s := l.services[hc.ServiceID]; s == nil || s.deleted {
			return fmt.Errorf("service %q of check %q: %w", hc.ServiceID, hc.CheckID, ErrUnknownService)
		}
	}
	l.putCheck(cloneCheck(hc), token)
	l.trigger()
	return nil
}

// RemoveCheck forgets a check; the catalog follows at the next sync. It
// returns ErrUnknownCheck if there is no such check.
func (l *State) RemoveCheck(id string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.checks[id]
	if c == nil || c.deleted {
		return fmt.Errorf("check %q: %w", id, ErrUnknownCheck)
	}
	c.stopDeferred()
	c.deleted, c.inSync, c.gen = true, false, l.nextGen()
	l.trigger()
	return nil
}

// UpdateCheck records a check result. It implements checks.Notifier. A
// status change is pushed at once; an output-only change is visible at
// once but pushed at most once per CheckUpdateInterval.
func (l *State) UpdateCheck(id, status, output string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.checks[id]
	if c == nil || c.deleted {
		return
	}
	if status == structs.HealthCritical {
		if c.criticalSince.IsZero() {
			c.criticalSince = time.Now()
		}
	} else {
		c.criticalSince = time.Time{}
	}
	if c.chk.Status == status && c.chk.Output == output {
		return
	}
	hc := cloneCheck(c.chk)
	hc.Output = output
	if interval := l.cfg.CheckUpdateInterval; interval > 0 && c.chk.Status == status {
		c.chk = hc
		if c.deferred == nil && !l.closed {
			c.deferred = time.AfterFunc(deferDelay(interval), func() { l.pushDeferred(id, c) })
		}
		return
	}
	c.stopDeferred()
	hc.Status = status
	c.chk = hc
	c.inSync, c.gen = false, l.nextGen()
	l.trigger()
}

// deferDelay spreads deferred output pushes over [interval/2, 3*interval/2)
// so that checks registered together do not push together.
func deferDelay(interval time.Duration) time.Duration {
	return interval/2 + rand.N(interval)
}

// pushDeferred marks a check with held-back output out of sync, if it is
// still the same check.
func (l *State) pushDeferred(id string, c *checkState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.checks[id] != c || c.deferred == nil {
		return
	}
	c.deferred = nil
	c.inSync, c.gen = false, l.nextGen()
	l.trigger()
}

// Service returns a copy of a service, nil if unknown.
func (l *State) Service(id string) *structs.NodeService {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := l.services[id]; s != nil && !s.deleted {
		return cloneService(s.svc)
	}
	return nil
}

// Services returns copies of all services by ID.
func (l *State) Services() map[string]*structs.NodeService {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]*structs.NodeService, len(l.services))
	for id, s := range l.services {
		if !s.deleted {
			out[id] = cloneService(s.svc)
		}
	}
	return out
}

// Check returns a copy of a check, nil if unknown.
func (l *State) Check(id string) *structs.HealthCheck {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c := l.checks[id]; c != nil && !c.deleted {
		return cloneCheck(c.chk)
	}
	return nil
}

// Checks returns copies of all checks by ID.
func (l *State) Checks() map[string]*structs.HealthCheck {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]*structs.HealthCheck, len(l.checks))
	for id, c := range l.checks {
		if !c.deleted {
			out[id] = cloneCheck(c.chk)
		}
	}
	return out
}

// ChecksForService returns copies of a service's checks, and of the node's
// checks too when includeNode is set, sorted by ID.
func (l *State) ChecksForService(serviceID string, includeNode bool) structs.HealthChecks {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := structs.HealthChecks{}
	for _, c := range l.checks {
		if c.deleted {
			continue
		}
		if c.chk.ServiceID == serviceID || (includeNode && c.chk.ServiceID == "") {
			out = append(out, cloneCheck(c.chk))
		}
	}
	slices.SortFunc(out, func(a, b *structs.HealthCheck) int {
		switch {
		case a.CheckID < b.CheckID:
			return -1
		case a.CheckID > b.CheckID:
			return 1
		}
		return 0
	})
	return out
}

// CriticalFor returns, for every check that is critical, how long it has
// been critical.
func (l *State) CriticalFor() map[string]time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	out := map[string]time.Duration{}
	for id, c := range l.checks {
		if !c.deleted && c.chk.Status == structs.HealthCritical && !c.criticalSince.IsZero() {
			out[id] = now.Sub(c.criticalSince)
		}
	}
	return out
}

// InSync reports whether the node, every service and every check are known
// to match the catalog; for tests and diagnostics.
func (l *State) InSync() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.nodeInSync {
		return false
	}
	for _, s := range l.services {
		if !s.inSync {
			return false
		}
	}
	for _, c := range l.checks {
		if !c.inSync {
			return false
		}
	}
	return true
}

func cloneService(s *structs.NodeService) *structs.NodeService {
	c := *s
	c.Tags = slices.Clone(s.Tags)
	c.Meta = maps.Clone(s.Meta)
	c.TaggedAddresses = maps.Clone(s.TaggedAddresses)
	c.Ports = slices.Clone(s.Ports)
	c.Proxy = slices.Clone(s.Proxy)
	c.Connect = slices.Clone(s.Connect)
	c.AI = slices.Clone(s.AI)
	if s.Locality != nil {
		l := *s.Locality
		c.Locality = &l
	}
	return &c
}

func cloneCheck(h *structs.HealthCheck) *structs.HealthCheck {
	c := *h
	c.ServiceTags = slices.Clone(h.ServiceTags)
	if h.Definition.Header != nil {
		c.Definition.Header = make(map[string][]string, len(h.Definition.Header))
		for k, v := range h.Definition.Header {
			c.Definition.Header[k] = slices.Clone(v)
		}
	}
	return &c
}
