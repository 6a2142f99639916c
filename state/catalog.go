package state

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	memdb "github.com/hashicorp/go-memdb"

	"github.com/meridian-sd/meridian/structs"
)

// Errors of catalog writes. They keep Consul's texts, which users see in
// HTTP answers.
var (
	// ErrMissingNode is returned when a write refers to a node that is not
	// registered.
	ErrMissingNode = structs.BadRequest("Missing node registration")
	// ErrMissingService is returned when a check refers to a service that
	// is not registered on its node.
	ErrMissingService = structs.BadRequest("Missing service registration")
)

// EnsureRegistration applies a catalog registration in one transaction:
// the node (unless SkipNodeUpdate is set and the node exists), the service
// and the checks. Parts that are already stored unchanged are left alone,
// so that idempotent re-registrations move no index and wake no watcher.
func (s *Store) EnsureRegistration(idx uint64, req *structs.RegisterRequest) error {
	return s.update(func(tx *memdb.Txn) error { return s.ensureRegistrationTxn(tx, idx, req) })
}

func (s *Store) ensureRegistrationTxn(tx *memdb.Txn, idx uint64, req *structs.RegisterRequest) error {
	if req.Node == "" {
		return structs.BadRequest("register: missing node name")
	}
	existing, err := getNodeTxn(tx, req.Node)
	if err != nil {
		return err
	}
	if existing == nil || !req.SkipNodeUpdate {
		node := &structs.Node{
			ID:              req.ID,
			Node:            req.Node,
			Address:         req.Address,
			Datacenter:      req.Datacenter,
			TaggedAddresses: req.TaggedAddresses,
			Meta:            req.NodeMeta,
		}
		if err := s.ensureNodeTxn(tx, idx, node); err != nil {
			return err
		}
	}
	if req.Service != nil {
		if err := s.ensureServiceTxn(tx, idx, req.Node, req.Service); err != nil {
			return err
		}
	}
	checks := make(structs.HealthChecks, 0, len(req.Checks)+1)
	if req.Check != nil {
		checks = append(checks, req.Check)
	}
	checks = append(checks, req.Checks...)
	for _, hc := range checks {
		if hc == nil {
			continue
		}
		c := *hc
		if c.Node == "" {
			c.Node = req.Node
		} else if !strings.EqualFold(c.Node, req.Node) {
			return fmt.Errorf("register check %q: node %q does not match registration node %q", c.CheckID, c.Node, req.Node)
		}
		if err := s.ensureCheckTxn(tx, idx, &c); err != nil {
			return err
		}
	}
	return nil
}

// EnsureNode creates or updates a node.
func (s *Store) EnsureNode(idx uint64, n *structs.Node) error {
	return s.update(func(tx *memdb.Txn) error { return s.ensureNodeTxn(tx, idx, n) })
}

func (s *Store) ensureNodeTxn(tx *memdb.Txn, idx uint64, n *structs.Node) error {
	if n == nil || n.Node == "" {
		return structs.BadRequest("register node: missing node name")
	}
	existing, err := getNodeTxn(tx, n.Node)
	if err != nil {
		return err
	}
	c := cloneNode(n)
	if existing != nil {
		if nodeSame(existing, c) {
			return nil
		}
		c.CreateIndex = existing.CreateIndex
	} else {
		c.CreateIndex = idx
	}
	c.ModifyIndex = idx
	if err := tx.Insert(tableNodes, c); err != nil {
		return fmt.Errorf("register node %q: %w", n.Node, err)
	}
	if err := indexUpdateMaxTxn(tx, idx, tableNodes); err != nil {
		return err
	}
	// Service answers embed node fields: they changed for every service
	// of an existing node.
	if existing != nil {
		return bumpNodeServicesTxn(tx, idx, c.Node)
	}
	return nil
}

// nodeSame reports whether two node records differ only in indexes.
func nodeSame(a, b *structs.Node) bool {
	return a.ID == b.ID && a.Node == b.Node && a.Address == b.Address &&
		a.Datacenter == b.Datacenter &&
		stringMapsEqual(a.TaggedAddresses, b.TaggedAddresses) &&
		stringMapsEqual(a.Meta, b.Meta)
}

func stringMapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// EnsureService creates or updates a service instance on an existing node.
// An empty service ID defaults to the service name.
func (s *Store) EnsureService(idx uint64, node string, svc *structs.NodeService) error {
	return s.update(func(tx *memdb.Txn) error { return s.ensureServiceTxn(tx, idx, node, svc) })
}

func (s *Store) ensureServiceTxn(tx *memdb.Txn, idx uint64, node string, svc *structs.NodeService) error {
	if svc == nil || svc.Service == "" {
		return structs.BadRequest("register service: missing service name")
	}
	ns := cloneNodeService(svc)
	if ns.ID == "" {
		ns.ID = ns.Service
	}
	n, err := getNodeTxn(tx, node)
	if err != nil {
		return err
	}
	if n == nil {
		return fmt.Errorf("register service %q on node %q: %w", ns.ID, node, ErrMissingNode)
	}
	raw, err := tx.First(tableServices, indexID, n.Node, ns.ID)
	if err != nil {
		return fmt.Errorf("read service %q: %w", ns.ID, err)
	}
	rec := toServiceRecord(n.Node, ns)
	var old *structs.ServiceNode
	if raw != nil {
		old = raw.(*structs.ServiceNode)
		if toNodeService(old).IsSame(ns) {
			return nil
		}
		rec.CreateIndex = old.CreateIndex
	} else {
		rec.CreateIndex = idx
	}
	rec.ModifyIndex = idx
	if err := tx.Insert(tableServices, rec); err != nil {
		return fmt.Errorf("register service %q: %w", ns.ID, err)
	}
	if err := indexUpdateMaxTxn(tx, idx, tableServices); err != nil {
		return err
	}
	if err := bumpServiceTxn(tx, idx, rec.ServiceName); err != nil {
		return err
	}
	if old != nil && !strings.EqualFold(old.ServiceName, rec.ServiceName) {
		if err := bumpServiceTxn(tx, idx, old.ServiceName); err != nil {
			return err
		}
	}
	return refreshServiceChecksTxn(tx, idx, rec)
}

// refreshServiceChecksTxn copies a service's name and tags onto its
// checks after the service changed.
func refreshServiceChecksTxn(tx *memdb.Txn, idx uint64, rec *structs.ServiceNode) error {
	it, err := tx.Get(tableChecks, indexNodeService, rec.Node, rec.ServiceID)
	if err != nil {
		return fmt.Errorf("read checks of service %q: %w", rec.ServiceID, err)
	}
	var stale []*structs.HealthCheck
	for raw := it.Next(); raw != nil; raw = it.Next() {
		hc := raw.(*structs.HealthCheck)
		if hc.ServiceName != rec.ServiceName || !slices.Equal(hc.ServiceTags, rec.ServiceTags) {
			stale = append(stale, hc)
		}
	}
	for _, hc := range stale {
		c := cloneCheck(hc)
		c.ServiceName = rec.ServiceName
		c.ServiceTags = cloneStrings(rec.ServiceTags)
		c.ModifyIndex = idx
		if err := tx.Insert(tableChecks, c); err != nil {
			return fmt.Errorf("update check %q: %w", c.CheckID, err)
		}
	}
	if len(stale) > 0 {
		return indexUpdateMaxTxn(tx, idx, tableChecks)
	}
	return nil
}

// bumpServiceTxn records a change to the named service: its index row is
// raised to idx, or, when no instance is left, dropped and the extinction
// index raised instead.
func bumpServiceTxn(tx *memdb.Txn, idx uint64, name string) error {
	raw, err := tx.First(tableServices, indexService, name)
	if err != nil {
		return fmt.Errorf("read service %q: %w", name, err)
	}
	if raw != nil {
		return indexUpdateMaxTxn(tx, idx, serviceIndexKey(name))
	}
	if _, err := tx.DeleteAll(tableIndex, indexID, serviceIndexKey(name)); err != nil {
		return fmt.Errorf("drop index of service %q: %w", name, err)
	}
	return indexUpdateMaxTxn(tx, idx, indexServiceExtinction)
}

// bumpNodeServicesTxn raises the index rows of every service on a node,
// whose answers embed the node's fields and node-level checks.
func bumpNodeServicesTxn(tx *memdb.Txn, idx uint64, node string) error {
	it, err := tx.Get(tableServices, indexNode, node)
	if err != nil {
		return fmt.Errorf("read services of node %q: %w", node, err)
	}
	var names []string
	for raw := it.Next(); raw != nil; raw = it.Next() {
		names = append(names, raw.(*structs.ServiceNode).ServiceName)
	}
	for _, name := range names {
		if err := indexUpdateMaxTxn(tx, idx, serviceIndexKey(name)); err != nil {
			return err
		}
	}
	return nil
}

// DeleteNode removes a node with its services, checks and coordinates,
// and invalidates its sessions. An unknown node is not an error.
func (s *Store) DeleteNode(idx uint64, node string) error {
	return s.update(func(tx *memdb.Txn) error { return s.deleteNodeTxn(tx, idx, node) })
}

func (s *Store) deleteNodeTxn(tx *memdb.Txn, idx uint64, node string) error {
	n, err := getNodeTxn(tx, node)
	if err != nil || n == nil {
		return err
	}
	// Collect before deleting: memdb iterators must not see their table
	// change under them.
	it, err := tx.Get(tableServices, indexNode, n.Node)
	if err != nil {
		return fmt.Errorf("read services of node %q: %w", n.Node, err)
	}
	var serviceIDs []string
	for raw := it.Next(); raw != nil; raw = it.Next() {
		serviceIDs = append(serviceIDs, raw.(*structs.ServiceNode).ServiceID)
	}
	for _, id := range serviceIDs {
		if err := s.deleteServiceTxn(tx, idx, n.Node, id); err != nil {
			return err
		}
	}
	it, err = tx.Get(tableChecks, indexNode, n.Node)
	if err != nil {
		return fmt.Errorf("read checks of node %q: %w", n.Node, err)
	}
	var checkIDs []string
	for raw := it.Next(); raw != nil; raw = it.Next() {
		checkIDs = append(checkIDs, raw.(*structs.HealthCheck).CheckID)
	}
	for _, id := range checkIDs {
		if err := s.deleteCheckTxn(tx, idx, n.Node, id); err != nil {
			return err
		}
	}
	deleted, err := tx.DeleteAll(tableCoordinates, indexNode, n.Node)
	if err != nil {
		return fmt.Errorf("delete coordinates of node %q: %w", n.Node, err)
	}
	if deleted > 0 {
		if err := indexUpdateMaxTxn(tx, idx, tableCoordinates); err != nil {
			return err
		}
	}
	it, err = tx.Get(tableSessions, indexNode, n.Node)
	if err != nil {
		return fmt.Errorf("read sessions of node %q: %w", n.Node, err)
	}
	var sessionIDs []string
	for raw := it.Next(); raw != nil; raw = it.Next() {
		sessionIDs = append(sessionIDs, raw.(*structs.Session).ID)
	}
	for _, id := range sessionIDs {
		if err := s.deleteSessionTxn(tx, idx, id); err != nil {
			return err
		}
	}
	if err := tx.Delete(tableNodes, n); err != nil {
		return fmt.Errorf("delete node %q: %w", n.Node, err)
	}
	return indexUpdateMaxTxn(tx, idx, tableNodes)
}

// DeleteService removes a service instance and its checks. An unknown
// service is not an error.
func (s *Store) DeleteService(idx uint64, node, serviceID string) error {
	return s.update(func(tx *memdb.Txn) error { return s.deleteServiceTxn(tx, idx, node, serviceID) })
}

func (s *Store) deleteServiceTxn(tx *memdb.Txn, idx uint64, node, serviceID string) error {
	raw, err := tx.First(tableServices, indexID, node, serviceID)
	if err != nil {
		return fmt.Errorf("read service %q: %w", serviceID, err)
	}
	if raw == nil {
		return nil
	}
	svc := raw.(*structs.ServiceNode)
	it, err := tx.Get(tableChecks, indexNodeService, svc.Node, svc.ServiceID)
	if err != nil {
		return fmt.Errorf("read checks of service %q: %w", serviceID, err)
	}
	var checkIDs []string
	for raw := it.Next(); raw != nil; raw = it.Next() {
		checkIDs = append(checkIDs, raw.(*structs.HealthCheck).CheckID)
	}
	for _, id := range checkIDs {
		if err := s.deleteCheckTxn(tx, idx, svc.Node, id); err != nil {
			return err
		}
	}
	if err := tx.Delete(tableServices, svc); err != nil {
		return fmt.Errorf("delete service %q: %w", serviceID, err)
	}
	if err := indexUpdateMaxTxn(tx, idx, tableServices); err != nil {
		return err
	}
	return bumpServiceTxn(tx, idx, svc.ServiceName)
}

// getNodeTxn returns the stored node record (not a copy), nil if unknown.
func getNodeTxn(tx *memdb.Txn, name string) (*structs.Node, error) {
	raw, err := tx.First(tableNodes, indexID, name)
	if err != nil {
		return nil, fmt.Errorf("read node %q: %w", name, err)
	}
	if raw == nil {
		return nil, nil
	}
	return raw.(*structs.Node), nil
}

// GetNode returns one node, nil when it is unknown.
func (s *Store) GetNode(ws memdb.WatchSet, node string) (uint64, *structs.Node, error) {
	tx := s.db.Txn(false)
	defer tx.Abort()
	idx := maxIndexTxn(tx, tableNodes)
	ch, raw, err := tx.FirstWatch(tableNodes, indexID, node)
	if err != nil {
		return 0, nil, fmt.Errorf("read node %q: %w", node, err)
	}
	ws.Add(ch)
	if raw == nil {
		return nonZero(idx), nil, nil
	}
	return nonZero(idx), cloneNode(raw.(*structs.Node)), nil
}

// GetNodeID returns the node with the given node ID, nil when none has it.
func (s *Store) GetNodeID(ws memdb.WatchSet, id string) (uint64, *structs.Node, error) {
	tx := s.db.Txn(false)
	defer tx.Abort()
	idx := maxIndexTxn(tx, tableNodes)
	if id == "" {
		return nonZero(idx), nil, nil
	}
	ch, raw, err := tx.FirstWatch(tableNodes, indexUUID, id)
	if err != nil {
		return 0, nil, fmt.Errorf("read node id %q: %w", id, err)
	}
	ws.Add(ch)
	if raw == nil {
		return nonZero(idx), nil, nil
	}
	return nonZero(idx), cloneNode(raw.(*structs.Node)), nil
}

// Nodes returns all nodes whose meta has every pair of meta, sorted by
// node name.
func (s *Store) Nodes(ws memdb.WatchSet, meta map[string]string) (uint64, structs.Nodes, error) {
	tx := s.db.Txn(false)
	defer tx.Abort()
	idx := maxIndexTxn(tx, tableNodes)
	nodes, err := nodesTxn(tx, ws, meta)
	if err != nil {
		return 0, nil, err
	}
	out := make(structs.Nodes, 0, len(nodes))
	for _, n := range nodes {
		out = append(out, cloneNode(n))
	}
	return nonZero(idx), out, nil
}

// nodesTxn returns the stored nodes matching meta, in name order, and
// watches the set.
func nodesTxn(tx *memdb.Txn, ws memdb.WatchSet, meta map[string]string) ([]*structs.Node, error) {
	var it memdb.ResultIterator
	var err error
	if len(meta) > 0 {
		// Narrow with the index on one pair, check the others by hand.
		keys := make([]string, 0, len(meta))
		for k := range meta {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		it, err = tx.Get(tableNodes, indexMeta, keys[0], meta[keys[0]])
	} else {
		it, err = tx.Get(tableNodes, indexID)
	}
	if err != nil {
		return nil, fmt.Errorf("read nodes: %w", err)
	}
	ws.Add(it.WatchCh())
	var out []*structs.Node
	for raw := it.Next(); raw != nil; raw = it.Next() {
		n := raw.(*structs.Node)
		if metaMatches(n.Meta, meta) {
			out = append(out, n)
		}
	}
	// Both indexes yield nodes in order of their lower-cased names: the
	// meta index breaks ties on the primary key.
	return out, nil
}

// metaMatches reports whether have holds every pair of want.
func metaMatches(have, want map[string]string) bool {
	for k, v := range want {
		if got, ok := have[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// Services returns every service name with the union of its instances'
// tags (deduplicated, sorted), limited to nodes whose meta matches.
func (s *Store) Services(ws memdb.WatchSet, meta map[string]string) (uint64, map[string][]string, error) {
	return s.ServicesMatching(ws, meta, nil)
}

// ServicesMatching is Services counting only the instances that keep
// accepts, each joined with its node's fields as ServiceNodes returns it
// (for ?filter=); a nil keep accepts all. With keep, the answer depends on
// the nodes too, and so do its index and watches.
func (s *Store) ServicesMatching(ws memdb.WatchSet, meta map[string]string, keep func(*structs.ServiceNode) (bool, error)) (uint64, map[string][]string, error) {
	tx := s.db.Txn(false)
	defer tx.Abort()
	var records []*structs.ServiceNode
	var idx uint64
	if len(meta) == 0 && keep != nil {
		idx = maxIndexTxn(tx, tableNodes, tableServices)
		it, err := tx.Get(tableNodes, indexID)
		if err != nil {
			return 0, nil, fmt.Errorf("read nodes: %w", err)
		}
		ws.Add(it.WatchCh())
	}
	if len(meta) == 0 {
		if keep == nil {
			idx = maxIndexTxn(tx, tableServices)
		}
		it, err := tx.Get(tableServices, indexID)
		if err != nil {
			return 0, nil, fmt.Errorf("read services: %w", err)
		}
		ws.Add(it.WatchCh())
		for raw := it.Next(); raw != nil; raw = it.Next() {
			records = append(records, raw.(*structs.ServiceNode))
		}
	} else {
		idx = maxIndexTxn(tx, tableNodes, tableServices)
		nodes, err := nodesTxn(tx, ws, meta)
		if err != nil {
			return 0, nil, err
		}
		all := tableWatch(tx, tableServices)
		for _, n := range nodes {
			it, err := tx.Get(tableServices, indexNode, n.Node)
			if err != nil {
				return 0, nil, fmt.Errorf("read services of node %q: %w", n.Node, err)
			}
			ws.AddWithLimit(watchLimit, it.WatchCh(), all)
			for raw := it.Next(); raw != nil; raw = it.Next() {
				records = append(records, raw.(*structs.ServiceNode))
			}
		}
	}
	if keep != nil {
		kept := records[:0:0]
		for _, r := range records {
			n, err := getNodeTxn(tx, r.Node)
			if err != nil {
				return 0, nil, err
			}
			if n == nil {
				continue
			}
			ok, err := keep(joinServiceNode(r, n))
			if err != nil {
				return 0, nil, err
			}
			if ok {
				kept = append(kept, r)
			}
		}
		records = kept
	}
	tagSets := map[string]map[string]struct{}{}
	for _, r := range records {
		set, ok := tagSets[r.ServiceName]
		if !ok {
			set = map[string]struct{}{}
			tagSets[r.ServiceName] = set
		}
		for _, t := range r.ServiceTags {
			set[t] = struct{}{}
		}
	}
	out := make(map[string][]string, len(tagSets))
	for name, set := range tagSets {
		tags := make([]string, 0, len(set))
		for t := range set {
			tags = append(tags, t)
		}
		sort.Strings(tags)
		out[name] = tags
	}
	return nonZero(idx), out, nil
}

// serviceIndexTxn returns the index of answers about one service and a
// channel that closes when it changes. A service without instances answers
// with the last extinction index, or the catalog's when none is recorded.
func serviceIndexTxn(tx *memdb.Txn, name string) (uint64, <-chan struct{}) {
	ch, raw, err := tx.FirstWatch(tableIndex, indexID, serviceIndexKey(name))
	if err == nil && raw != nil {
		return nonZero(raw.(*indexEntry).Value), ch
	}
	if ext := indexValueTxn(tx, indexServiceExtinction); ext > 0 {
		return ext, ch
	}
	return nonZero(maxIndexTxn(tx, tableNodes, tableServices, tableChecks)), ch
}

// hasTags reports whether the instance carries every wanted tag, compared
// case-insensitively as Consul does.
func hasTags(have, want []string) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			if strings.EqualFold(h, w) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// serviceInstancesTxn returns the stored instances of a service that carry
// all tags and whose node's meta matches, each with its stored node, and
// watches the answer.
func serviceInstancesTxn(tx *memdb.Txn, ws memdb.WatchSet, service string, tags []string, meta map[string]string) ([]*structs.ServiceNode, []*structs.Node, error) {
	it, err := tx.Get(tableServices, indexService, service)
	if err != nil {
		return nil, nil, fmt.Errorf("read service %q: %w", service, err)
	}
	ws.Add(it.WatchCh())
	var recs []*structs.ServiceNode
	var nodes []*structs.Node
	for raw := it.Next(); raw != nil; raw = it.Next() {
		r := raw.(*structs.ServiceNode)
		if !hasTags(r.ServiceTags, tags) {
			continue
		}
		n, err := getNodeTxn(tx, r.Node)
		if err != nil {
			return nil, nil, err
		}
		if n == nil || !metaMatches(n.Meta, meta) {
			continue
		}
		recs = append(recs, r)
		nodes = append(nodes, n)
	}
	return recs, nodes, nil
}

// ServiceNodes returns the instances of a service that carry every tag in
// tags (case-insensitively) on nodes whose meta matches, joined with their
// node's fields.
func (s *Store) ServiceNodes(ws memdb.WatchSet, service string, tags []string, meta map[string]string) (uint64, structs.ServiceNodes, error) {
	tx := s.db.Txn(false)
	defer tx.Abort()
	idx, ch := serviceIndexTxn(tx, service)
	ws.Add(ch)
	recs, nodes, err := serviceInstancesTxn(tx, ws, service, tags, meta)
	if err != nil {
		return 0, nil, err
	}
	out := make(structs.ServiceNodes, 0, len(recs))
	for i, r := range recs {
		out = append(out, joinServiceNode(r, nodes[i]))
	}
	return idx, out, nil
}

// NodeServices returns a node with all its services, nil when the node is
// unknown.
func (s *Store) NodeServices(ws memdb.WatchSet, node string) (uint64, *structs.NodeServices, error) {
	tx := s.db.Txn(false)
	defer tx.Abort()
	idx := nonZero(maxIndexTxn(tx, tableNodes, tableServices))
	ch, raw, err := tx.FirstWatch(tableNodes, indexID, node)
	if err != nil {
		return 0, nil, fmt.Errorf("read node %q: %w", node, err)
	}
	ws.Add(ch)
	if raw == nil {
		return idx, nil, nil
	}
	n := raw.(*structs.Node)
	it, err := tx.Get(tableServices, indexNode, n.Node)
	if err != nil {
		return 0, nil, fmt.Errorf("read services of node %q: %w", n.Node, err)
	}
	ws.Add(it.WatchCh())
	out := &structs.NodeServices{Node: cloneNode(n), Services: map[string]*structs.NodeService{}}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		svc := toNodeService(raw.(*structs.ServiceNode))
		out.Services[svc.ID] = svc
	}
	return idx, out, nil
}

// ServiceAddressNodes returns every service instance registered with the
// service address addr, joined with its node, for DNS PTR lookups of
// service addresses (Consul's Catalog.ServiceNodes by ServiceAddress).
func (s *Store) ServiceAddressNodes(ws memdb.WatchSet, addr string) (uint64, structs.ServiceNodes, error) {
	tx := s.db.Txn(false)
	defer tx.Abort()
	idx := maxIndexTxn(tx, tableNodes, tableServices)
	it, err := tx.Get(tableServices, indexID)
	if err != nil {
		return 0, nil, fmt.Errorf("read services: %w", err)
	}
	ws.Add(it.WatchCh())
	out := structs.ServiceNodes{}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		r := raw.(*structs.ServiceNode)
		if r.ServiceAddress != addr {
			continue
		}
		n, err := getNodeTxn(tx, r.Node)
		if err != nil {
			return 0, nil, err
		}
		out = append(out, joinServiceNode(r, n))
	}
	return nonZero(idx), out, nil
}
