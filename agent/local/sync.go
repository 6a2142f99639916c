package local

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/meridian-sd/meridian/structs"
)

// updateSyncState reads the node's services and checks from the catalog
// and compares them with the local record: entries that differ are marked
// out of sync, entries the catalog holds and the agent does not become
// tombstones to deregister. The leader's serfHealth check is left alone.
func (l *State) updateSyncState() error {
	l.mu.Lock()
	cfg := l.cfg
	token := l.agentToken()
	l.mu.Unlock()

	req := structs.NodeSpecificRequest{Datacenter: cfg.Datacenter, Node: cfg.NodeName}
	// The agent token reads the node's entries; with ACLs, those of
	// services it may not read are left out by the servers and look
	// missing, so it should be allowed service:read on them.
	req.Token = token
	var services structs.IndexedNodeServices
	if err := l.rpc.RPC("Catalog.NodeServices", &req, &services); err != nil {
		return fmt.Errorf("read services of node %q from the catalog: %w", cfg.NodeName, err)
	}
	var checks structs.IndexedHealthChecks
	if err := l.rpc.RPC("Health.NodeChecks", &req, &checks); err != nil {
		return fmt.Errorf("read checks of node %q from the catalog: %w", cfg.NodeName, err)
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	var remoteServices map[string]*structs.NodeService
	if ns := services.NodeServices; ns != nil {
		remoteServices = ns.Services
		l.nodeInSync = nodeMatches(l.cfg, ns.Node)
	} else {
		l.nodeInSync = false
	}

	for id, rs := range remoteServices {
		if id == structs.ConsulServiceID {
			// The leader keeps the servers' "consul" service.
			continue
		}
		ls := l.services[id]
		if ls == nil {
			// In the catalog only: remove it from there.
			l.services[id] = &serviceState{svc: cloneService(rs), deleted: true, gen: l.nextGen()}
			continue
		}
		if ls.deleted {
			continue
		}
		if ls.svc.EnableTagOverride && !slices.Equal(ls.svc.Tags, rs.Tags) {
			// The catalog's tags win: someone changed them there on purpose.
			svc := cloneService(ls.svc)
			svc.Tags = slices.Clone(rs.Tags)
			ls.svc = svc
			l.notify()
			for _, c := range l.checks {
				if !c.deleted && c.chk.ServiceID == id {
					hc := cloneCheck(c.chk)
					hc.ServiceTags = slices.Clone(rs.Tags)
					c.chk = hc
				}
			}
		}
		ls.inSync = ls.svc.IsSame(rs)
	}
	for id, ls := range l.services {
		if _, ok := remoteServices[id]; ok {
			continue
		}
		if ls.deleted {
			// Gone from both: nothing left to do.
			delete(l.services, id)
			continue
		}
		ls.inSync = false
	}

	remoteChecks := make(map[string]*structs.HealthCheck, len(checks.HealthChecks))
	for _, rc := range checks.HealthChecks {
		if rc.CheckID == structs.SerfCheckID {
			continue
		}
		remoteChecks[rc.CheckID] = rc
	}
	for id, rc := range remoteChecks {
		lc := l.checks[id]
		if lc == nil {
			l.checks[id] = &checkState{chk: cloneCheck(rc), deleted: true, gen: l.nextGen()}
			continue
		}
		if lc.deleted {
			continue
		}
		// While an output update is held back, the output may differ: the
		// timer will push it. Otherwise compare everything, so that the
		// output of a check that never changes status is synced too.
		lc.inSync = checksMatch(lc.chk, rc, lc.deferred != nil)
	}
	for id, lc := range l.checks {
		if _, ok := remoteChecks[id]; ok {
			continue
		}
		if lc.deleted {
			delete(l.checks, id)
			continue
		}
		lc.inSync = false
	}
	return nil
}

// nodeMatches reports whether the catalog's node record says what the
// agent would register.
func nodeMatches(cfg Config, n *structs.Node) bool {
	return n != nil && n.ID == cfg.NodeID && n.Address == cfg.Address &&
		maps.Equal(n.TaggedAddresses, cfg.TaggedAddresses) && maps.Equal(n.Meta, cfg.NodeMeta)
}

// checksMatch compares a local check with the catalog's, indexes aside and
// output aside when ignoreOutput is set.
func checksMatch(local, remote *structs.HealthCheck, ignoreOutput bool) bool {
	a, b := *local, *remote
	if ignoreOutput {
		a.Output, b.Output = "", ""
	}
	if !a.IsSame(&b) {
		return false
	}
	da, db := a.Definition, b.Definition
	if da.HTTP != db.HTTP || da.Method != db.Method || da.Body != db.Body ||
		da.TLSSkipVerify != db.TLSSkipVerify || da.TCP != db.TCP || da.Interval != db.Interval ||
		da.Timeout != db.Timeout || da.DeregisterCriticalServiceAfter != db.DeregisterCriticalServiceAfter ||
		len(da.Header) != len(db.Header) {
		return false
	}
	for k, v := range da.Header {
		if w, ok := db.Header[k]; !ok || !slices.Equal(v, w) {
			return false
		}
	}
	return true
}

// SyncFull compares with the catalog and then pushes every difference.
func (l *State) SyncFull() error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	if err := l.updateSyncState(); err != nil {
		return err
	}
	return l.syncChanges()
}

// SyncChanges pushes the entries that are out of sync to the catalog:
// tombstones are deregistered, changed services registered together with
// their checks, changed checks registered, and the node itself when it is
// out of sync. It stops at the first failed RPC; what is left stays out of
// sync for the next attempt.
func (l *State) SyncChanges() error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	return l.syncChanges()
}

// pending is one entry captured for a sync, with the generation it had
// and the token it syncs with.
type pending struct {
	id    string
	gen   uint64
	token string
}

// syncPlan is what one sync pass does, captured under the lock so that the
// RPCs run without it.
type syncPlan struct {
	node       Config
	nodeInSync bool
	nodeGen    uint64
	// nodeToken is the agent token, which registers the node.
	nodeToken string
	// nodeRefused is set when the servers refused the node's
	// registration: later requests of the pass leave the node alone.
	nodeRefused bool
	// blocked counts the writes of the pass the servers refused for
	// their token.
	blocked int

	deregServices []pending
	// deregServiceChecks are the tombstoned checks of deregServices, which
	// go with their service.
	deregServiceChecks map[string][]pending
	deregChecks        []pending
	regServices        []serviceReg
	regChecks          []checkReg
}

type serviceReg struct {
	svc    *structs.NodeService
	gen    uint64
	token  string
	checks []*structs.HealthCheck
	gens   []uint64
}

type checkReg struct {
	chk   *structs.HealthCheck
	gen   uint64
	token string
	// svc is the check's service, sent along so that the registration
	// cannot fail for want of it.
	svc *structs.NodeService
}

// plan captures the work of a sync pass. Callers hold mu.
func (l *State) plan() *syncPlan {
	p := &syncPlan{
		node:               cloneConfig(l.cfg),
		nodeInSync:         l.nodeInSync,
		nodeGen:            l.nodeGen,
		nodeToken:          l.agentToken(),
		deregServiceChecks: map[string][]pending{},
	}
	covered := map[string]bool{}
	for _, id := range sortedKeys(l.services) {
		s := l.services[id]
		switch {
		case s.deleted && !s.inSync:
			p.deregServices = append(p.deregServices, pending{id, s.gen, l.serviceToken(s)})
		case !s.deleted && !s.inSync:
			reg := serviceReg{svc: cloneService(s.svc), gen: s.gen, token: l.serviceToken(s)}
			for _, cid := range sortedKeys(l.checks) {
				c := l.checks[cid]
				if c.deleted || c.chk.ServiceID != id {
					continue
				}
				reg.checks = append(reg.checks, cloneCheck(c.chk))
				reg.gens = append(reg.gens, c.gen)
				covered[cid] = true
			}
			p.regServices = append(p.regServices, reg)
		}
	}
	for _, id := range sortedKeys(l.checks) {
		c := l.checks[id]
		if c.inSync || covered[id] {
			continue
		}
		if c.deleted {
			if s := l.services[c.chk.ServiceID]; c.chk.ServiceID != "" && s != nil && s.deleted && !s.inSync {
				p.deregServiceChecks[c.chk.ServiceID] = append(p.deregServiceChecks[c.chk.ServiceID], pending{id, c.gen, ""})
				continue
			}
			p.deregChecks = append(p.deregChecks, pending{id, c.gen, l.checkToken(c)})
			continue
		}
		reg := checkReg{chk: cloneCheck(c.chk), gen: c.gen, token: l.checkToken(c)}
		if s := l.services[c.chk.ServiceID]; c.chk.ServiceID != "" && s != nil && !s.deleted {
			reg.svc = cloneService(s.svc)
		}
		p.regChecks = append(p.regChecks, reg)
	}
	return p
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// registerRequest starts a registration carrying the node's description,
// made with token.
func (p *syncPlan) registerRequest(token string) *structs.RegisterRequest {
	r := &structs.RegisterRequest{
		Datacenter:      p.node.Datacenter,
		ID:              p.node.NodeID,
		Node:            p.node.NodeName,
		Address:         p.node.Address,
		TaggedAddresses: p.node.TaggedAddresses,
		NodeMeta:        p.node.NodeMeta,
		SkipNodeUpdate:  p.nodeInSync || p.nodeRefused || token != p.nodeToken,
	}
	r.Token = token
	return r
}

// isACLRefusal reports whether the servers refused a request for its
// token: such an entry is left out of sync and the pass goes on, so that
// one service without a good token does not hold up the others; the pass
// then fails, and the syncer tries again after its retry wait.
func isACLRefusal(err error) bool {
	return err != nil && (strings.HasPrefix(err.Error(), structs.ErrPermissionDenied.Error()) ||
		structs.IsErr(err, structs.ErrACLNotFound))
}

// syncChanges runs one sync pass. Callers hold syncMu.
func (l *State) syncChanges() error {
	l.mu.Lock()
	p := l.plan()
	l.mu.Unlock()

	// The node goes with the first registration made with the agent
	// token, or alone at the end. When some registration has a token of
	// its own, the node goes first, alone, with the agent token, so that
	// the service's token needs no node:write.
	if !p.nodeInSync && p.ownTokens() {
		if err := l.syncNode(p); err != nil {
			return err
		}
	}
	for _, d := range p.deregServices {
		req := structs.DeregisterRequest{Datacenter: p.node.Datacenter, Node: p.node.NodeName, ServiceID: d.id}
		req.Token = d.token
		if err := l.rpc.RPC("Catalog.Deregister", &req, &struct{}{}); isACLRefusal(err) {
			l.logger.Warn("anti-entropy: service deregistration blocked by ACLs", "service", d.id, "error", err)
			p.blocked++
			continue
		} else if err != nil {
			return fmt.Errorf("deregister service %q: %w", d.id, err)
		}
		l.mu.Lock()
		if s := l.services[d.id]; s != nil && s.gen == d.gen {
			delete(l.services, d.id)
		}
		for _, c := range p.deregServiceChecks[d.id] {
			if cs := l.checks[c.id]; cs != nil && cs.gen == c.gen {
				delete(l.checks, c.id)
			}
		}
		l.mu.Unlock()
		l.logger.Debug("deregistered service", "service", d.id)
	}
	for _, d := range p.deregChecks {
		req := structs.DeregisterRequest{Datacenter: p.node.Datacenter, Node: p.node.NodeName, CheckID: d.id}
		req.Token = d.token
		if err := l.rpc.RPC("Catalog.Deregister", &req, &struct{}{}); isACLRefusal(err) {
			l.logger.Warn("anti-entropy: check deregistration blocked by ACLs", "check", d.id, "error", err)
			p.blocked++
			continue
		} else if err != nil {
			return fmt.Errorf("deregister check %q: %w", d.id, err)
		}
		l.mu.Lock()
		if c := l.checks[d.id]; c != nil && c.gen == d.gen {
			delete(l.checks, d.id)
		}
		l.mu.Unlock()
		l.logger.Debug("deregistered check", "check", d.id)
	}
	for _, r := range p.regServices {
		req := p.registerRequest(r.token)
		req.Service = r.svc
		req.Checks = r.checks
		if err := l.rpc.RPC("Catalog.Register", req, &struct{}{}); isACLRefusal(err) {
			l.logger.Warn("anti-entropy: service registration blocked by ACLs: register it with a token allowed service:write on it", "service", r.svc.ID, "error", err)
			p.blocked++
			continue
		} else if err != nil {
			return fmt.Errorf("register service %q: %w", r.svc.ID, err)
		}
		l.mu.Lock()
		if s := l.services[r.svc.ID]; s != nil && s.gen == r.gen {
			s.inSync = true
		}
		for i, c := range r.checks {
			if cs := l.checks[c.CheckID]; cs != nil && cs.gen == r.gens[i] {
				cs.inSync = true
			}
		}
		if !req.SkipNodeUpdate {
			l.nodeRegistered(p)
		}
		l.mu.Unlock()
		l.logger.Debug("registered service", "service", r.svc.ID)
	}
	for _, r := range p.regChecks {
		req := p.registerRequest(r.token)
		req.Check = r.chk
		req.Service = r.svc
		if err := l.rpc.RPC("Catalog.Register", req, &struct{}{}); isACLRefusal(err) {
			l.logger.Warn("anti-entropy: check registration blocked by ACLs", "check", r.chk.CheckID, "error", err)
			p.blocked++
			continue
		} else if err != nil {
			return fmt.Errorf("register check %q: %w", r.chk.CheckID, err)
		}
		l.mu.Lock()
		if cs := l.checks[r.chk.CheckID]; cs != nil && cs.gen == r.gen {
			cs.inSync = true
		}
		if !req.SkipNodeUpdate {
			l.nodeRegistered(p)
		}
		l.mu.Unlock()
		l.logger.Debug("registered check", "check", r.chk.CheckID)
	}
	if !p.nodeInSync && !p.nodeRefused {
		if err := l.syncNode(p); err != nil {
			return err
		}
	}
	if p.blocked > 0 {
		// Retried after the retry wait: a token may be set meanwhile, or
		// the node be registered by the leader (a service token needs no
		// node:write once it is).
		return fmt.Errorf("%d catalog writes blocked by ACLs; the others were made", p.blocked)
	}
	return nil
}

// ownTokens reports whether a registration of the plan has a token other
// than the agent token.
func (p *syncPlan) ownTokens() bool {
	for _, r := range p.regServices {
		if r.token != p.nodeToken {
			return true
		}
	}
	for _, r := range p.regChecks {
		if r.token != p.nodeToken {
			return true
		}
	}
	return false
}

// syncNode registers the node with the agent token. A refusal by ACLs is
// logged, and the rest of the pass leaves the node alone.
func (l *State) syncNode(p *syncPlan) error {
	req := p.registerRequest(p.nodeToken)
	err := l.rpc.RPC("Catalog.Register", req, &struct{}{})
	switch {
	case isACLRefusal(err):
		l.logger.Warn("anti-entropy: node registration blocked by ACLs: the agent token (acl.tokens.agent) needs node:write on this node", "node", p.node.NodeName, "error", err)
		p.nodeRefused = true
		p.blocked++
		return nil
	case err != nil:
		return fmt.Errorf("register node %q: %w", p.node.NodeName, err)
	}
	l.mu.Lock()
	l.nodeRegistered(p)
	l.mu.Unlock()
	l.logger.Debug("registered node", "node", p.node.NodeName)
	return nil
}

// nodeRegistered records that a registration carried the node's
// description, so later requests of the pass may skip it. Callers hold mu.
func (l *State) nodeRegistered(p *syncPlan) {
	if p.nodeInSync {
		return
	}
	p.nodeInSync = true
	if l.nodeGen == p.nodeGen {
		l.nodeInSync = true
	}
}
