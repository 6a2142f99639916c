package state

import (
	"fmt"
	"slices"

	memdb "github.com/hashicorp/go-memdb"

	"github.com/meridian-sd/meridian/structs"
)

// EnsureCheck creates or updates a health check on an existing node. An
// empty status means critical. A check bound to a service (ServiceID) needs
// that service on the node and takes its name and tags. A check that is
// critical invalidates the sessions that depend on it.
func (s *Store) EnsureCheck(idx uint64, hc *structs.HealthCheck) error {
	return s.update(func(tx *memdb.Txn) error { return s.ensureCheckTxn(tx, idx, hc) })
}

func (s *Store) ensureCheckTxn(tx *memdb.Txn, idx uint64, hc *structs.HealthCheck) error {
	if hc == nil || hc.CheckID == "" {
		return structs.BadRequest("register check: missing check ID")
	}
	c := cloneCheck(hc)
	if c.Status == "" {
		c.Status = structs.HealthCritical
	}
	if !structs.ValidHealthStatus(c.Status) {
		return structs.BadRequest("register check %q: invalid status %q", c.CheckID, c.Status)
	}
	n, err := getNodeTxn(tx, c.Node)
	if err != nil {
		return err
	}
	if n == nil {
		return fmt.Errorf("register check %q on node %q: %w", c.CheckID, c.Node, ErrMissingNode)
	}
	c.Node = n.Node
	if c.ServiceID != "" {
		raw, err := tx.First(tableServices, indexID, n.Node, c.ServiceID)
		if err != nil {
			return fmt.Errorf("read service %q: %w", c.ServiceID, err)
		}
		if raw == nil {
			return fmt.Errorf("register check %q for service %q: %w", c.CheckID, c.ServiceID, ErrMissingService)
		}
		svc := raw.(*structs.ServiceNode)
		c.ServiceName = svc.ServiceName
		c.ServiceTags = cloneStrings(svc.ServiceTags)
	} else {
		c.ServiceName = ""
		c.ServiceTags = nil
	}

	raw, err := tx.First(tableChecks, indexID, n.Node, c.CheckID)
	if err != nil {
		return fmt.Errorf("read check %q: %w", c.CheckID, err)
	}
	var old *structs.HealthCheck
	if raw != nil {
		old = raw.(*structs.HealthCheck)
		if checkSame(old, c) {
			return nil
		}
		c.CreateIndex = old.CreateIndex
	} else {
		c.CreateIndex = idx
	}
	c.ModifyIndex = idx
	if err := tx.Insert(tableChecks, c); err != nil {
		return fmt.Errorf("register check %q: %w", c.CheckID, err)
	}
	if err := indexUpdateMaxTxn(tx, idx, tableChecks); err != nil {
		return err
	}
	if err := bumpCheckServicesTxn(tx, idx, c); err != nil {
		return err
	}
	if old != nil && old.ServiceID != c.ServiceID {
		if err := bumpCheckServicesTxn(tx, idx, old); err != nil {
			return err
		}
	}
	if c.Status == structs.HealthCritical {
		return s.invalidateCheckSessionsTxn(tx, idx, c.Node, c.CheckID)
	}
	return nil
}

// checkSame reports whether two checks differ only in their indexes.
func checkSame(a, b *structs.HealthCheck) bool {
	return a.IsSame(b) && definitionSame(a.Definition, b.Definition)
}

// definitionSame compares check definitions, taking a nil and an empty
// header map as equal so that re-encoding does not count as a change.
func definitionSame(a, b structs.HealthCheckDefinition) bool {
	if a.HTTP != b.HTTP || a.Method != b.Method || a.Body != b.Body ||
		a.TLSSkipVerify != b.TLSSkipVerify || a.TCP != b.TCP ||
		a.Interval != b.Interval || a.Timeout != b.Timeout ||
		a.DeregisterCriticalServiceAfter != b.DeregisterCriticalServiceAfter ||
		len(a.Header) != len(b.Header) {
		return false
	}
	for k, v := range a.Header {
		w, ok := b.Header[k]
		if !ok || !slices.Equal(v, w) {
			return false
		}
	}
	return true
}

// bumpCheckServicesTxn raises the index rows of the services whose health
// answers include the check: its own service, or every service of the
// node for a node-level check.
func bumpCheckServicesTxn(tx *memdb.Txn, idx uint64, hc *structs.HealthCheck) error {
	if hc.ServiceID == "" {
		return bumpNodeServicesTxn(tx, idx, hc.Node)
	}
	return bumpServiceTxn(tx, idx, hc.ServiceName)
}

// invalidateCheckSessionsTxn destroys every session that depends on the
// check.
func (s *Store) invalidateCheckSessionsTxn(tx *memdb.Txn, idx uint64, node, checkID string) error {
	it, err := tx.Get(tableSessionChecks, indexNodeCheck, node, checkID)
	if err != nil {
		return fmt.Errorf("read sessions of check %q: %w", checkID, err)
	}
	var ids []string
	for raw := it.Next(); raw != nil; raw = it.Next() {
		ids = append(ids, raw.(*sessionCheck).Session)
	}
	for _, id := range ids {
		if err := s.deleteSessionTxn(tx, idx, id); err != nil {
			return err
		}
	}
	return nil
}

// DeleteCheck removes a check and invalidates the sessions that depend on
// it. An unknown check is not an error.
func (s *Store) DeleteCheck(idx uint64, node, checkID string) error {
	return s.update(func(tx *memdb.Txn) error { return s.deleteCheckTxn(tx, idx, node, checkID) })
}

func (s *Store) deleteCheckTxn(tx *memdb.Txn, idx uint64, node, checkID string) error {
	raw, err := tx.First(tableChecks, indexID, node, checkID)
	if err != nil {
		return fmt.Errorf("read check %q: %w", checkID, err)
	}
	if raw == nil {
		return nil
	}
	hc := raw.(*structs.HealthCheck)
	if err := tx.Delete(tableChecks, hc); err != nil {
		return fmt.Errorf("delete check %q: %w", checkID, err)
	}
	if err := indexUpdateMaxTxn(tx, idx, tableChecks); err != nil {
		return err
	}
	if err := bumpCheckServicesTxn(tx, idx, hc); err != nil {
		return err
	}
	return s.invalidateCheckSessionsTxn(tx, idx, hc.Node, hc.CheckID)
}

// NodeChecks returns the checks of one node.
func (s *Store) NodeChecks(ws memdb.WatchSet, node string) (uint64, structs.HealthChecks, error) {
	tx := s.db.Txn(false)
	defer tx.Abort()
	idx := nonZero(maxIndexTxn(tx, tableChecks))
	it, err := tx.Get(tableChecks, indexNode, node)
	if err != nil {
		return 0, nil, fmt.Errorf("read checks of node %q: %w", node, err)
	}
	ws.Add(it.WatchCh())
	out := structs.HealthChecks{}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		out = append(out, cloneCheck(raw.(*structs.HealthCheck)))
	}
	return idx, out, nil
}

// ServiceChecks returns the checks bound to instances of a service, on
// nodes whose meta matches.
func (s *Store) ServiceChecks(ws memdb.WatchSet, service string, meta map[string]string) (uint64, structs.HealthChecks, error) {
	tx := s.db.Txn(false)
	defer tx.Abort()
	idx, ch := serviceIndexTxn(tx, service)
	ws.Add(ch)
	it, err := tx.Get(tableChecks, indexService, service)
	if err != nil {
		return 0, nil, fmt.Errorf("read checks of service %q: %w", service, err)
	}
	ws.Add(it.WatchCh())
	var checks []*structs.HealthCheck
	for raw := it.Next(); raw != nil; raw = it.Next() {
		checks = append(checks, raw.(*structs.HealthCheck))
	}
	out, err := filterChecksByMetaTxn(tx, ws, checks, meta)
	if err != nil {
		return 0, nil, err
	}
	return idx, out, nil
}

// ChecksInState returns the checks in one state, or all checks for
// structs.HealthAny, on nodes whose meta matches.
func (s *Store) ChecksInState(ws memdb.WatchSet, state string, meta map[string]string) (uint64, structs.HealthChecks, error) {
	tx := s.db.Txn(false)
	defer tx.Abort()
	idx := maxIndexTxn(tx, tableChecks)
	if len(meta) > 0 {
		idx = maxIndexTxn(tx, tableChecks, tableNodes)
	}
	var it memdb.ResultIterator
	var err error
	if state == structs.HealthAny {
		it, err = tx.Get(tableChecks, indexID)
	} else {
		it, err = tx.Get(tableChecks, indexStatus, state)
	}
	if err != nil {
		return 0, nil, fmt.Errorf("read checks in state %q: %w", state, err)
	}
	ws.Add(it.WatchCh())
	var checks []*structs.HealthCheck
	for raw := it.Next(); raw != nil; raw = it.Next() {
		checks = append(checks, raw.(*structs.HealthCheck))
	}
	out, err := filterChecksByMetaTxn(tx, ws, checks, meta)
	if err != nil {
		return 0, nil, err
	}
	return nonZero(idx), out, nil
}

// filterChecksByMetaTxn copies the checks whose node's meta matches; with a
// meta filter it also watches the nodes involved.
func filterChecksByMetaTxn(tx *memdb.Txn, ws memdb.WatchSet, checks []*structs.HealthCheck, meta map[string]string) (structs.HealthChecks, error) {
	out := make(structs.HealthChecks, 0, len(checks))
	if len(meta) == 0 {
		for _, hc := range checks {
			out = append(out, cloneCheck(hc))
		}
		return out, nil
	}
	all := tableWatch(tx, tableNodes)
	for _, hc := range checks {
		ch, raw, err := tx.FirstWatch(tableNodes, indexID, hc.Node)
		if err != nil {
			return nil, fmt.Errorf("read node %q: %w", hc.Node, err)
		}
		ws.AddWithLimit(watchLimit, ch, all)
		if raw == nil || !metaMatches(raw.(*structs.Node).Meta, meta) {
			continue
		}
		out = append(out, cloneCheck(hc))
	}
	return out, nil
}

// CheckServiceNodes returns each instance of a service that carries every
// tag (case-insensitively) on a node whose meta matches, with its node and
// the checks that apply to it: the node's node-level checks, then its own.
func (s *Store) CheckServiceNodes(ws memdb.WatchSet, service string, tags []string, meta map[string]string) (uint64, structs.CheckServiceNodes, error) {
	tx := s.db.Txn(false)
	defer tx.Abort()
	idx, ch := serviceIndexTxn(tx, service)
	ws.Add(ch)
	recs, nodes, err := serviceInstancesTxn(tx, ws, service, tags, meta)
	if err != nil {
		return 0, nil, err
	}
	// The service's index row, watched above, moves on every change to
	// the instances' nodes and checks, so no per-node watch is needed.
	out := make(structs.CheckServiceNodes, 0, len(recs))
	for i, r := range recs {
		it, err := tx.Get(tableChecks, indexNode, r.Node)
		if err != nil {
			return 0, nil, fmt.Errorf("read checks of node %q: %w", r.Node, err)
		}
		var nodeChecks, ownChecks structs.HealthChecks
		for raw := it.Next(); raw != nil; raw = it.Next() {
			hc := raw.(*structs.HealthCheck)
			switch hc.ServiceID {
			case "":
				nodeChecks = append(nodeChecks, cloneCheck(hc))
			case r.ServiceID:
				ownChecks = append(ownChecks, cloneCheck(hc))
			}
		}
		checks := append(structs.HealthChecks{}, nodeChecks...)
		checks = append(checks, ownChecks...)
		out = append(out, structs.CheckServiceNode{
			Node:    cloneNode(nodes[i]),
			Service: toNodeService(r),
			Checks:  checks,
		})
	}
	return idx, out, nil
}
