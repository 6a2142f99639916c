package agent

// Local services and checks: the agent's side of service discovery. The
// agent keeps the services and checks of its machine in a local.State,
// runs one runner per check (agent/checks) reporting into that state, and
// lets a local.Syncer keep the catalog in step (anti-entropy).
//
// Services and checks come from three places, told apart by their source:
// the config files (loaded at start, reconciled on reload, never written to
// disk), the HTTP API (kept in data_dir/services and data_dir/checks and
// restored at start), and maintenance mode (API checks without a runner).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/meridian-sd/meridian/agent/checks"
	"github.com/meridian-sd/meridian/agent/config"
	"github.com/meridian-sd/meridian/agent/local"
	"github.com/meridian-sd/meridian/structs"
	"github.com/meridian-sd/meridian/version"
)

// LocalConfig tunes the machinery behind local services and checks. The
// defaults are Consul's; only tests shorten them (through Options.Local).
type LocalConfig struct {
	// SyncInterval is the base time between full anti-entropy syncs,
	// stretched for clusters over 128 nodes and jittered. Default 1m.
	SyncInterval time.Duration
	// SyncRetryInterval is the base time before a failed sync is retried.
	// Default 15s.
	SyncRetryInterval time.Duration
	// ServerWatchInterval is how often the agent looks whether a server
	// became reachable, to sync at once instead of waiting for the retry.
	// Default 1s.
	ServerWatchInterval time.Duration
	// ReapInterval is how often services whose check has been critical
	// longer than its DeregisterCriticalServiceAfter are removed. Default
	// 30s.
	ReapInterval time.Duration
	// MinCheckInterval is the shortest interval of an HTTP, TCP or script
	// check; shorter ones are raised to it with a warning. Default 1s.
	MinCheckInterval time.Duration
	// MinDeregisterCriticalAfter is the shortest
	// DeregisterCriticalServiceAfter; shorter ones are raised to it with a
	// warning. Default 1m.
	MinDeregisterCriticalAfter time.Duration
}

// DefaultLocalConfig returns Consul's timings.
func DefaultLocalConfig() LocalConfig {
	return LocalConfig{
		SyncInterval:               local.DefaultSyncInterval,
		SyncRetryInterval:          local.DefaultRetryInterval,
		ServerWatchInterval:        time.Second,
		ReapInterval:               30 * time.Second,
		MinCheckInterval:           checks.MinInterval,
		MinDeregisterCriticalAfter: time.Minute,
	}
}

// fillDefaults replaces intervals that cannot work (zero or negative)
// with the defaults; the minimums may be zero.
func (c *LocalConfig) fillDefaults() {
	d := DefaultLocalConfig()
	for _, f := range []struct{ v, def *time.Duration }{
		{&c.SyncInterval, &d.SyncInterval},
		{&c.SyncRetryInterval, &d.SyncRetryInterval},
		{&c.ServerWatchInterval, &d.ServerWatchInterval},
		{&c.ReapInterval, &d.ReapInterval},
	} {
		if *f.v <= 0 {
			*f.v = *f.def
		}
	}
}

// source says where a service or check came from.
type source int

const (
	// sourceAPI: registered through the HTTP API; kept on disk.
	sourceAPI source = iota
	// sourceConfig: defined in the config files; re-read on reload.
	sourceConfig
)

// Texts of the errors users meet, as Consul words them.
const (
	errScriptsDisabled = "Scripts are disabled on this agent; to enable, configure 'enable_script_checks' or 'enable_local_script_checks' to true"
	// defaultNodeMaintReason and defaultServiceMaintReason are the notes
	// of a maintenance check enabled without a reason.
	defaultNodeMaintReason    = "Maintenance mode is enabled for this node, but no reason was provided. This is a default message."
	defaultServiceMaintReason = "Maintenance mode is enabled for this service, but no reason was provided. This is a default message."
	// maintCheckType is the Type of maintenance checks.
	maintCheckType = "maintenance"
)

// agentServices is the Agent's part that holds local services and checks.
type agentServices struct {
	cfg    LocalConfig
	state  *local.State
	syncer *local.Syncer
	// dataDir is where API registrations are kept; "" keeps nothing (-dev).
	dataDir string
	// lanAddr and wanAddr are the node's addresses, fixed at start.
	lanAddr, wanAddr string

	// mu serialises registrations: the state, the runners and the files
	// change together under it.
	mu      sync.Mutex
	started bool
	closed  bool
	// restoring is set while the agent loads its services at start: TTL
	// checks then take back their saved status, and the saved files,
	// which the registrations come from, are not written again.
	restoring bool
	runners   map[string]checks.Runner
	ttls      map[string]*checks.CheckTTL
	// defs are the definitions of checks that have a runner.
	defs   map[string]*config.CheckDefinition
	svcSrc map[string]source
	chkSrc map[string]source
	// reloadMu serialises reloads; it guards cfgServices and cfgChecks,
	// the definitions last applied from the config files.
	reloadMu    sync.Mutex
	cfgServices map[string]config.ServiceDefinition
	cfgChecks   map[string]config.CheckDefinition
}

// preparedCheck is a check ready to be installed: its catalog record and,
// unless it is a maintenance check, its definition and runner (not started).
type preparedCheck struct {
	def    *config.CheckDefinition
	hc     *structs.HealthCheck
	runner checks.Runner
	ttl    *checks.CheckTTL
	// token is the ACL token the check was registered with; never
	// logged.
	token string
}

// localNodeConfig describes the node for the local state: its identity,
// meta and extra tagged addresses from rc, and the addresses it had at
// start (they cannot change without a restart).
func (a *Agent) localNodeConfig(rc *config.RuntimeConfig) local.Config {
	s := &a.svc
	if s.lanAddr == "" {
		s.lanAddr = advertiseIP(rc.AdvertiseAddrLAN)
		if s.lanAddr == "" && a.delegate != nil {
			s.lanAddr = a.delegate.LocalMember().Addr.String()
		}
		s.wanAddr = advertiseIP(rc.AdvertiseAddrWAN)
		if s.wanAddr == "" {
			s.wanAddr = s.lanAddr
		}
	}
	tagged := map[string]string{}
	for k, v := range rc.TaggedAddresses {
		tagged[k] = v
	}
	// The agent's own lan and wan addresses; extra ones come from the
	// config's tagged_addresses.
	tagged["lan"] = s.lanAddr
	tagged["wan"] = s.wanAddr
	// And by address family, as Consul's agent adds them.
	for name, addr := range map[string]string{"lan": s.lanAddr, "wan": s.wanAddr} {
		if ip, err := netip.ParseAddr(addr); err == nil {
			if ip.Unmap().Is4() {
				tagged[name+"_ipv4"] = addr
			} else {
				tagged[name+"_ipv6"] = addr
			}
		}
	}
	meta := map[string]string{}
	for k, v := range rc.NodeMeta {
		meta[k] = v
	}
	// The meta Consul's agent fills in: the network segment (always the
	// default one, "", in OSS) and the agent's version.
	meta[structs.MetaSegmentKey] = ""
	meta[structs.MetaConsulVersion] = version.Version
	return local.Config{
		NodeID:              rc.NodeID,
		NodeName:            rc.NodeName,
		Datacenter:          rc.Datacenter,
		Address:             s.lanAddr,
		TaggedAddresses:     tagged,
		NodeMeta:            meta,
		CheckUpdateInterval: rc.CheckUpdateInterval,
	}
}

// advertiseIP renders an advertise address, "" when it is unset or
// unspecified.
func advertiseIP(a netip.Addr) string {
	if !a.IsValid() || a.IsUnspecified() {
		return ""
	}
	return a.String()
}

// startServices sets up the local state, loads the services and checks of
// the config files and those kept in the data dir, and starts
// anti-entropy, the reaper and the server watch. It runs once the server or
// client is up and before the HTTP API listens.
func (a *Agent) startServices(rc *config.RuntimeConfig) error {
	lc := DefaultLocalConfig()
	if a.opts.Local != nil {
		a.opts.Local(&lc)
	}
	lc.fillDefaults()
	s := &a.svc
	s.cfg = lc
	s.state = local.NewState(a.localNodeConfig(rc), a.delegate, a.logger.Named("local"))
	s.state.SetTokens(syncTokens{a})
	s.runners = map[string]checks.Runner{}
	s.ttls = map[string]*checks.CheckTTL{}
	s.defs = map[string]*config.CheckDefinition{}
	s.svcSrc = map[string]source{}
	s.chkSrc = map[string]source{}
	s.cfgServices = map[string]config.ServiceDefinition{}
	s.cfgChecks = map[string]config.CheckDefinition{}
	if !rc.DevMode {
		s.dataDir = rc.DataDir
	}
	s.started = true

	s.mu.Lock()
	s.restoring = true
	s.mu.Unlock()
	err := a.loadServices(rc)
	s.mu.Lock()
	s.restoring = false
	s.mu.Unlock()
	if err != nil {
		return err
	}

	s.syncer = local.NewSyncer(s.state, local.SyncerConfig{
		Interval:      lc.SyncInterval,
		RetryInterval: lc.SyncRetryInterval,
		ClusterSize:   func() int { return a.delegate.LANSerf().NumNodes() },
		Logger:        a.logger.Named("anti-entropy"),
	})
	a.goLoop(s.syncer.Run)
	a.goLoop(a.watchServers)
	a.goLoop(a.reapServices)
	return nil
}

// loadServices registers the config files' services and checks, then the
// ones kept in the data dir that the files do not define.
func (a *Agent) loadServices(rc *config.RuntimeConfig) error {
	s := &a.svc
	for i := range rc.Services {
		def := rc.Services[i]
		if err := a.addService(&def, sourceConfig, true); err != nil {
			return fmt.Errorf("register service %q from the config: %w", def.ID, err)
		}
		s.cfgServices[def.ID] = def
	}
	for i := range rc.Checks {
		def := rc.Checks[i]
		if err := a.addCheck(&def, sourceConfig); err != nil {
			return fmt.Errorf("register check %q from the config: %w", def.ID, err)
		}
		s.cfgChecks[def.ID] = def
	}
	return a.restorePersisted()
}

// stopServices stops every check runner and the state's timers; the
// syncer, reaper and server watch stop with the agent's context.
func (a *Agent) stopServices() {
	s := &a.svc
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started || s.closed {
		return
	}
	s.closed = true
	for id, r := range s.runners {
		r.Stop()
		delete(s.runners, id)
	}
	s.state.Close()
}

// checkAllowed refuses script checks the config does not allow.
func checkAllowed(rc *config.RuntimeConfig, def *config.CheckDefinition, src source) error {
	if def.Type() != config.CheckTypeScript {
		return nil
	}
	if rc.EnableRemoteScriptChecks || (src == sourceConfig && rc.EnableLocalScriptChecks) {
		return nil
	}
	return badRequest("%s", errScriptsDisabled)
}

// prepareCheck turns a validated check definition into a catalog record
// and a runner that is not started yet.
func (a *Agent) prepareCheck(rc *config.RuntimeConfig, in *config.CheckDefinition, src source) (*preparedCheck, error) {
	if err := checkAllowed(rc, in, src); err != nil {
		return nil, err
	}
	if in.ID == structs.SerfCheckID {
		return nil, badRequest("Check ID %q is reserved for the servers' gossip health check", in.ID)
	}
	def := *in
	s := &a.svc
	if def.Type() != config.CheckTypeTTL && def.Interval < s.cfg.MinCheckInterval {
		a.logger.Warn("check interval below the minimum, raised", "check", def.ID,
			"interval", def.Interval, "minimum", s.cfg.MinCheckInterval)
		def.Interval = s.cfg.MinCheckInterval
	}
	if d := def.DeregisterCriticalServiceAfter; d > 0 && d < s.cfg.MinDeregisterCriticalAfter {
		a.logger.Warn("deregister_critical_service_after below the minimum, raised", "check", def.ID,
			"value", d, "minimum", s.cfg.MinDeregisterCriticalAfter)
		def.DeregisterCriticalServiceAfter = s.cfg.MinDeregisterCriticalAfter
	}
	maxOut := def.OutputMaxSize
	if maxOut <= 0 {
		maxOut = rc.CheckOutputMaxSize
	}
	p := &preparedCheck{def: &def, hc: def.HealthCheck(rc.NodeName)}
	var notify checks.Notifier = s.state
	if def.SuccessBeforePassing > 0 || def.FailuresBeforeWarning > 0 || def.FailuresBeforeCritical > 0 {
		notify = checks.NewStatusHandler(s.state, checks.Thresholds{
			SuccessBeforePassing:   def.SuccessBeforePassing,
			FailuresBeforeWarning:  def.FailuresBeforeWarning,
			FailuresBeforeCritical: def.FailuresBeforeCritical,
		})
	}
	logger := a.logger.Named("check")
	var err error
	switch def.Type() {
	case config.CheckTypeTTL:
		p.ttl, err = checks.NewCheckTTL(checks.TTLConfig{
			CheckID: def.ID, TTL: def.TTL, OutputMaxSize: maxOut, Logger: logger,
		}, notify)
		p.runner = p.ttl
	case config.CheckTypeHTTP:
		p.runner, err = checks.NewCheckHTTP(checks.HTTPConfig{
			CheckID: def.ID, HTTP: def.HTTP, Method: def.Method, Header: def.Header, Body: def.Body,
			TLSSkipVerify: def.TLSSkipVerify, TLSServerName: def.TLSServerName,
			DisableRedirects: def.DisableRedirects, Interval: def.Interval, Timeout: def.Timeout,
			OutputMaxSize: maxOut, Logger: logger,
		}, notify)
	case config.CheckTypeTCP:
		p.runner, err = checks.NewCheckTCP(checks.TCPConfig{
			CheckID: def.ID, TCP: def.TCP, Interval: def.Interval, Timeout: def.Timeout, Logger: logger,
		}, notify)
	case config.CheckTypeScript:
		p.runner, err = checks.NewCheckScript(checks.ScriptConfig{
			CheckID: def.ID, Args: def.Args, Interval: def.Interval, Timeout: def.Timeout,
			OutputMaxSize: maxOut, Logger: logger,
		}, notify)
	default:
		return nil, badRequest("Check %q has no type: give one of TTL, HTTP, TCP or Args", def.ID)
	}
	if err != nil {
		return nil, badRequest("Invalid check %q: %v", def.ID, err)
	}
	return p, nil
}

// keepStatus carries the status and output of a check being replaced by
// one of the same type over to the new one, so that re-registering a
// service or reloading the config does not make its checks flap; at start,
// a TTL check takes back the status it had saved, if that has not expired.
// Callers hold s.mu.
func (a *Agent) keepStatus(p *preparedCheck) {
	s := &a.svc
	if old := s.state.Check(p.hc.CheckID); old != nil && old.Type == p.hc.Type {
		p.hc.Status, p.hc.Output = old.Status, old.Output
		return
	}
	if s.restoring && p.ttl != nil {
		if st := a.loadCheckState(p.hc.CheckID); st != nil {
			p.hc.Status, p.hc.Output = st.Status, st.Output
		}
	}
}

// installRunner replaces the runner of a check and starts the new one.
// Callers hold s.mu and have stopped the old runner before changing the
// state (see stopRunner), so that a stale result cannot land on the new
// check.
func (a *Agent) installRunner(p *preparedCheck, src source) {
	s := &a.svc
	id := p.hc.CheckID
	s.chkSrc[id] = src
	if p.runner == nil {
		delete(s.defs, id)
		return
	}
	s.runners[id] = p.runner
	s.defs[id] = p.def
	if p.ttl != nil {
		s.ttls[id] = p.ttl
	}
	p.runner.Start()
}

// stopRunner stops and forgets a check's runner. Callers hold s.mu.
func (a *Agent) stopRunner(id string) {
	s := &a.svc
	if r := s.runners[id]; r != nil {
		r.Stop()
	}
	delete(s.runners, id)
	delete(s.ttls, id)
	delete(s.defs, id)
}

// addService registers a validated, normalised service definition with its
// checks, replacing a service with the same ID. The service's other checks
// stay unless replaceChecks is set. A service from the API is saved in the
// data dir first; if that fails, nothing changes and the error says so.
func (a *Agent) addService(def *config.ServiceDefinition, src source, replaceChecks bool) error {
	return a.addServiceToken(def, src, replaceChecks, "")
}

// addServiceToken is addService for a service registered with an ACL
// token: the service and its checks sync with it, and it is saved with
// the service.
func (a *Agent) addServiceToken(def *config.ServiceDefinition, src source, replaceChecks bool, token string) error {
	rc := a.cfg()
	ns := def.NodeService()
	prepared := make([]*preparedCheck, 0, len(def.Checks))
	for i := range def.Checks {
		p, err := a.prepareCheck(rc, &def.Checks[i], src)
		if err != nil {
			return err
		}
		prepared = append(prepared, p)
	}
	s := &a.svc
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("the agent is shutting down")
	}
	keep := map[string]bool{}
	for _, p := range prepared {
		keep[p.hc.CheckID] = true
	}
	var drop []string
	if replaceChecks {
		for _, c := range s.state.ChecksForService(ns.ID, false) {
			if !keep[c.CheckID] && !isMaintCheck(c.CheckID) {
				drop = append(drop, c.CheckID)
			}
		}
	}
	hcs := make([]*structs.HealthCheck, len(prepared))
	for i, p := range prepared {
		a.keepStatus(p)
		hcs[i] = p.hc
	}
	if err := local.ValidateService(ns, hcs); err != nil {
		return badRequest("Invalid service %q: %v", ns.ID, err)
	}
	txn := a.newPersistTxn()
	// At start the files are where the registrations come from: writing
	// them again would only make a full or read-only disk drop them.
	if src == sourceAPI && !s.restoring {
		err := txn.saveService(def, token)
		for _, p := range prepared {
			if err == nil {
				err = txn.saveCheck(p, "")
			}
		}
		for _, id := range drop {
			if err == nil {
				err = txn.dropCheck(id)
			}
		}
		if err != nil {
			txn.rollback()
			return err
		}
	}

	for _, id := range drop {
		a.unregisterCheckLocked(id)
	}
	for _, p := range prepared {
		a.stopRunner(p.hc.CheckID)
	}
	if err := s.state.AddServiceWithChecksToken(ns, hcs, token); err != nil {
		txn.rollback()
		return badRequest("Invalid service %q: %v", ns.ID, err)
	}
	s.svcSrc[ns.ID] = src
	for _, p := range prepared {
		a.installRunner(p, src)
	}
	if src == sourceConfig {
		// The files are the record of config definitions; a saved TTL
		// status stays for the next start.
		a.forgetPersistedService(ns.ID)
		for _, p := range prepared {
			a.forget(checksDir, p.hc.CheckID)
		}
	}
	return nil
}

// isMaintCheck reports whether id names a maintenance check.
func isMaintCheck(id string) bool {
	return id == structs.NodeMaintCheckID || strings.HasPrefix(id, structs.ServiceMaintPrefix)
}

// removeService deregisters a service and its checks.
func (a *Agent) removeService(id string) error {
	s := &a.svc
	s.mu.Lock()
	defer s.mu.Unlock()
	return a.removeServiceLocked(id)
}

// removeServiceLocked deregisters a service and its checks. Their files
// go first: if one cannot be removed, the others are put back and the
// service stays registered, so that a restart cannot bring back a service
// the API said was gone.
func (a *Agent) removeServiceLocked(id string) error {
	s := &a.svc
	if s.state.Service(id) == nil {
		return notFound("Unknown service ID %q. Ensure that the service ID is passed, not the service name.", id)
	}
	owned := s.state.ChecksForService(id, false)
	txn := a.newPersistTxn()
	err := txn.dropService(id)
	for _, c := range owned {
		if err == nil {
			err = txn.dropCheck(c.CheckID)
		}
	}
	if err != nil {
		txn.rollback()
		return fmt.Errorf("%w; the service stays registered", err)
	}
	for _, c := range owned {
		a.stopRunner(c.CheckID)
	}
	if err := s.state.RemoveService(id); err != nil {
		txn.rollback()
		return fmt.Errorf("remove service %q: %w", id, err)
	}
	for _, c := range owned {
		delete(s.chkSrc, c.CheckID)
		a.forget(checkStateDir, c.CheckID)
	}
	delete(s.svcSrc, id)
	return nil
}

// addCheck registers a validated check definition, replacing a check with
// the same ID.
func (a *Agent) addCheck(def *config.CheckDefinition, src source) error {
	return a.addCheckToken(def, src, "")
}

// addCheckToken is addCheck for a check registered with an ACL token,
// which its syncs use and which is saved with it.
func (a *Agent) addCheckToken(def *config.CheckDefinition, src source, token string) error {
	p, err := a.prepareCheck(a.cfg(), def, src)
	if err != nil {
		return err
	}
	p.token = token
	s := &a.svc
	s.mu.Lock()
	defer s.mu.Unlock()
	return a.installCheckLocked(p, src)
}

// installCheckLocked puts a prepared check in place; one from the API is
// saved in the data dir first. Callers hold s.mu.
func (a *Agent) installCheckLocked(p *preparedCheck, src source) error {
	s := &a.svc
	if s.closed {
		return errors.New("the agent is shutting down")
	}
	if p.hc.ServiceID != "" && s.state.Service(p.hc.ServiceID) == nil {
		return badRequest("ServiceID %q does not exist", p.hc.ServiceID)
	}
	if p.def != nil {
		a.keepStatus(p)
	}
	if err := local.ValidateCheck(p.hc); err != nil {
		return badRequest("Invalid check %q: %v", p.hc.CheckID, err)
	}
	txn := a.newPersistTxn()
	if src == sourceAPI && !s.restoring {
		if err := txn.saveCheck(p, p.token); err != nil {
			txn.rollback()
			return err
		}
	}
	a.stopRunner(p.hc.CheckID)
	if err := s.state.AddCheckToken(p.hc, p.token); err != nil {
		txn.rollback()
		return badRequest("Invalid check %q: %v", p.hc.CheckID, err)
	}
	a.installRunner(p, src)
	if src == sourceConfig {
		a.forget(checksDir, p.hc.CheckID)
	}
	return nil
}

// removeCheck deregisters a check.
func (a *Agent) removeCheck(id string) error {
	s := &a.svc
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state.Check(id) == nil {
		return notFound("Unknown check ID %q", id)
	}
	return a.removeCheckLocked(id)
}

// removeCheckLocked removes a check that exists, its file first: if that
// cannot be removed, the check stays registered. Callers hold s.mu.
func (a *Agent) removeCheckLocked(id string) error {
	if err := a.newPersistTxn().dropCheck(id); err != nil {
		return fmt.Errorf("%w; the check stays registered", err)
	}
	a.unregisterCheckLocked(id)
	return nil
}

// unregisterCheckLocked stops and forgets a check whose file is gone
// already. Callers hold s.mu.
func (a *Agent) unregisterCheckLocked(id string) {
	s := &a.svc
	a.stopRunner(id)
	if err := s.state.RemoveCheck(id); err != nil {
		a.logger.Debug("remove check", "check", id, "error", err)
	}
	delete(s.chkSrc, id)
	a.forget(checkStateDir, id)
}

// updateTTL sets the status of a TTL check, as /v1/agent/check/pass|warn|
// fail|update do.
func (a *Agent) updateTTL(id, status, output string) error {
	s := &a.svc
	s.mu.Lock()
	ttl := s.ttls[id]
	def := s.defs[id]
	known := s.state.Check(id) != nil
	s.mu.Unlock()
	switch {
	case ttl == nil && !known:
		return notFound("Unknown check ID %q", id)
	case ttl == nil:
		return badRequest("Check %q is not a TTL check: only TTL checks take pass, warn, fail and update", id)
	}
	out := ttl.SetStatus(status, output)
	a.persistCheckState(id, status, out, def.TTL)
	return nil
}

// enableNodeMaintenance puts the node in maintenance mode: a critical check
// with the reason as notes fails every service of the node. It is a no-op
// when the node is already in maintenance.
func (a *Agent) enableNodeMaintenance(reason string) error {
	if reason == "" {
		reason = defaultNodeMaintReason
	}
	s := &a.svc
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state.Check(structs.NodeMaintCheckID) != nil {
		return nil
	}
	p := &preparedCheck{hc: &structs.HealthCheck{
		CheckID: structs.NodeMaintCheckID,
		Name:    "Node Maintenance Mode",
		Notes:   reason,
		Status:  structs.HealthCritical,
		Type:    maintCheckType,
	}}
	if err := a.installCheckLocked(p, sourceAPI); err != nil {
		return err
	}
	a.logger.Info("node entered maintenance mode", "reason", reason)
	return nil
}

// disableNodeMaintenance lifts node maintenance; a no-op when it is off.
func (a *Agent) disableNodeMaintenance() error {
	s := &a.svc
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state.Check(structs.NodeMaintCheckID) == nil {
		return nil
	}
	if err := a.removeCheckLocked(structs.NodeMaintCheckID); err != nil {
		return err
	}
	a.logger.Info("node left maintenance mode")
	return nil
}

// enableServiceMaintenance puts one service in maintenance mode.
func (a *Agent) enableServiceMaintenance(serviceID, reason string) error {
	if reason == "" {
		reason = defaultServiceMaintReason
	}
	s := &a.svc
	s.mu.Lock()
	defer s.mu.Unlock()
	svc := s.state.Service(serviceID)
	if svc == nil {
		return notFound("No service registered with ID %q", serviceID)
	}
	id := structs.ServiceMaintPrefix + serviceID
	if s.state.Check(id) != nil {
		return nil
	}
	p := &preparedCheck{hc: &structs.HealthCheck{
		CheckID:   id,
		Name:      "Service Maintenance Mode",
		Notes:     reason,
		ServiceID: serviceID,
		Status:    structs.HealthCritical,
		Type:      maintCheckType,
	}}
	if err := a.installCheckLocked(p, sourceAPI); err != nil {
		return err
	}
	a.logger.Info("service entered maintenance mode", "service", serviceID, "reason", reason)
	return nil
}

// disableServiceMaintenance lifts a service's maintenance mode.
func (a *Agent) disableServiceMaintenance(serviceID string) error {
	s := &a.svc
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state.Service(serviceID) == nil {
		return notFound("No service registered with ID %q", serviceID)
	}
	id := structs.ServiceMaintPrefix + serviceID
	if s.state.Check(id) == nil {
		return nil
	}
	if err := a.removeCheckLocked(id); err != nil {
		return err
	}
	a.logger.Info("service left maintenance mode", "service", serviceID)
	return nil
}

// reloadServices reconciles the services and checks of the config files
// with a reloaded config: new ones are added, changed ones replaced, and
// those gone from the files removed. Unchanged ones are left alone, so
// their checks keep running and nothing flaps. The node's meta and tagged
// addresses follow the new config too.
func (a *Agent) reloadServices(rc *config.RuntimeConfig) error {
	s := &a.svc
	if !s.started {
		return nil
	}
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	// Refuse the whole reload before changing anything if a check is not
	// allowed to run.
	for i := range rc.Services {
		for j := range rc.Services[i].Checks {
			if err := checkAllowed(rc, &rc.Services[i].Checks[j], sourceConfig); err != nil {
				return fmt.Errorf("service %q: %w", rc.Services[i].ID, err)
			}
		}
	}
	for i := range rc.Checks {
		if err := checkAllowed(rc, &rc.Checks[i], sourceConfig); err != nil {
			return fmt.Errorf("check %q: %w", rc.Checks[i].ID, err)
		}
	}
	s.state.SetConfig(a.localNodeConfig(rc))

	newServices := map[string]config.ServiceDefinition{}
	for _, def := range rc.Services {
		newServices[def.ID] = def
	}
	newChecks := map[string]config.CheckDefinition{}
	for _, def := range rc.Checks {
		newChecks[def.ID] = def
	}
	var errs []error
	for id := range s.cfgChecks {
		if _, ok := newChecks[id]; ok {
			continue
		}
		// Gone from the files; unless the API registered over it since.
		if a.fromConfig(id, false) {
			if err := a.removeCheck(id); err != nil {
				errs = append(errs, err)
			}
		}
		delete(s.cfgChecks, id)
	}
	for id := range s.cfgServices {
		if _, ok := newServices[id]; ok {
			continue
		}
		if a.fromConfig(id, true) {
			if err := a.removeService(id); err != nil {
				errs = append(errs, err)
			}
		}
		delete(s.cfgServices, id)
	}
	for _, def := range rc.Services {
		if old, ok := s.cfgServices[def.ID]; ok && sameDefinition(old, def) && a.fromConfig(def.ID, true) {
			continue
		}
		d := def
		if err := a.addService(&d, sourceConfig, true); err != nil {
			errs = append(errs, fmt.Errorf("service %q: %w", def.ID, err))
			continue
		}
		s.cfgServices[def.ID] = def
	}
	for _, def := range rc.Checks {
		if old, ok := s.cfgChecks[def.ID]; ok && sameDefinition(old, def) && a.fromConfig(def.ID, false) {
			continue
		}
		d := def
		if err := a.addCheck(&d, sourceConfig); err != nil {
			errs = append(errs, fmt.Errorf("check %q: %w", def.ID, err))
			continue
		}
		s.cfgChecks[def.ID] = def
	}
	return errors.Join(errs...)
}

// fromConfig reports whether a service (or check) is still the one the
// config files defined, not one the API registered over it.
func (a *Agent) fromConfig(id string, service bool) bool {
	s := &a.svc
	s.mu.Lock()
	defer s.mu.Unlock()
	src, ok := s.chkSrc[id]
	if service {
		src, ok = s.svcSrc[id]
	}
	return ok && src == sourceConfig
}

// watchServers asks for a full sync as soon as a server becomes reachable
// (the agent joined, or its servers came back), instead of waiting for the
// retry after a failed sync; Consul's agent does the same on server joins.
func (a *Agent) watchServers(ctx context.Context) {
	t := time.NewTicker(a.svc.cfg.ServerWatchInterval)
	defer t.Stop()
	had := a.serversReachable()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		has := a.serversReachable()
		if has && !had {
			a.svc.syncer.SyncFull()
		}
		had = has
	}
}

// serversReachable reports whether the agent knows a server of its
// datacenter (a client) or a leader (a server).
func (a *Agent) serversReachable() bool {
	if a.client != nil {
		return a.client.NumServers() > 0
	}
	var leader string
	err := a.RPC("Status.Leader", &structs.StatusRequest{Datacenter: a.datacenter()}, &leader)
	return err == nil && leader != ""
}

// reapServices removes services whose check has been critical longer than
// its DeregisterCriticalServiceAfter, as Consul's agent does.
func (a *Agent) reapServices(ctx context.Context) {
	t := time.NewTicker(a.svc.cfg.ReapInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		a.reapOnce()
	}
}

// reapOnce runs one pass of the reaper.
func (a *Agent) reapOnce() {
	s := &a.svc
	critical := s.state.CriticalFor()
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, d := range critical {
		def := s.defs[id]
		if def == nil || def.ServiceID == "" || def.DeregisterCriticalServiceAfter <= 0 ||
			d <= def.DeregisterCriticalServiceAfter {
			continue
		}
		if s.state.Service(def.ServiceID) == nil {
			continue
		}
		a.logger.Info("removing service whose check has been critical too long",
			"service", def.ServiceID, "check", id, "critical_for", d.Round(time.Second))
		if err := a.removeServiceLocked(def.ServiceID); err != nil {
			a.logger.Warn("reap service", "service", def.ServiceID, "error", err)
		}
	}
}

// sameDefinition reports whether two config definitions are the same, by
// their JSON encoding (they hold only plain data).
func sameDefinition(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}
