package state

import (
	"fmt"

	memdb "github.com/hashicorp/go-memdb"

	"github.com/meridian-sd/meridian/structs"
)

// Catalog operations of a transaction: Node, Service, Check and Session,
// with Consul's verbs, results and error texts. Each runs inside the
// transaction's memdb transaction, with the same helpers as the catalog's
// own writes, so that a transaction mixing KV and catalog operations
// commits all of them or none.

// txnNodeTxn runs one Node operation. A get answers the stored node, the
// writes that keep a node answer it as it is after the write, deletes
// answer nothing.
func (s *Store) txnNodeTxn(tx *memdb.Txn, idx uint64, op *structs.TxnNodeOp) (structs.TxnResults, error) {
	n := &op.Node
	lookup := func() (*structs.Node, error) {
		if n.ID != "" {
			raw, err := tx.First(tableNodes, indexUUID, n.ID)
			if err != nil || raw == nil {
				return nil, err
			}
			return raw.(*structs.Node), nil
		}
		return getNodeTxn(tx, n.Node)
	}
	var entry *structs.Node
	var err error
	switch op.Verb {
	case structs.TxnVerbGet:
		entry, err = lookup()
		if entry == nil && err == nil {
			err = fmt.Errorf("node %q doesn't exist", n.Node)
		}

	case structs.TxnVerbSet:
		if err = s.ensureNodeTxn(tx, idx, n); err == nil {
			entry, err = getNodeTxn(tx, n.Node)
		}

	case structs.TxnVerbCAS:
		var existing *structs.Node
		if existing, err = getNodeTxn(tx, n.Node); err != nil {
			break
		}
		if !casMatches(existing != nil, modifyIndexOf(existing), n.ModifyIndex) {
			err = fmt.Errorf("failed to set node %q, index is stale", n.Node)
			break
		}
		if err = s.ensureNodeTxn(tx, idx, n); err == nil {
			entry, err = getNodeTxn(tx, n.Node)
		}

	case structs.TxnVerbDelete:
		err = s.deleteNodeTxn(tx, idx, n.Node)

	case structs.TxnVerbDeleteCAS:
		var existing *structs.Node
		if existing, err = getNodeTxn(tx, n.Node); err != nil {
			break
		}
		if existing == nil || existing.ModifyIndex != n.ModifyIndex {
			err = fmt.Errorf("failed to delete node %q, index is stale", n.Node)
			break
		}
		err = s.deleteNodeTxn(tx, idx, n.Node)

	default:
		err = fmt.Errorf("unknown Node verb %q", op.Verb)
	}
	if err != nil || entry == nil {
		return nil, err
	}
	return structs.TxnResults{{Node: cloneNode(entry)}}, nil
}

// modifyIndexOf is a node's ModifyIndex, 0 for none.
func modifyIndexOf(n *structs.Node) uint64 {
	if n == nil {
		return 0
	}
	return n.ModifyIndex
}

// casMatches is the check-and-set rule of Consul's catalog operations:
// index 0 means "must not exist yet", any other index must be the entry's
// current ModifyIndex.
func casMatches(exists bool, current, want uint64) bool {
	if want == 0 {
		return !exists
	}
	return exists && current == want
}

// getServiceTxn returns a node's stored service record, nil if unknown.
func getServiceTxn(tx *memdb.Txn, node, id string) (*structs.ServiceNode, error) {
	raw, err := tx.First(tableServices, indexID, node, id)
	if err != nil {
		return nil, fmt.Errorf("read service %q: %w", id, err)
	}
	if raw == nil {
		return nil, nil
	}
	return raw.(*structs.ServiceNode), nil
}

// txnServiceTxn runs one Service operation.
func (s *Store) txnServiceTxn(tx *memdb.Txn, idx uint64, op *structs.TxnServiceOp) (structs.TxnResults, error) {
	svc := &op.Service
	id := svc.ID
	if id == "" {
		id = svc.Service
	}
	result := func() (structs.TxnResults, error) {
		rec, err := getServiceTxn(tx, op.Node, id)
		if err != nil || rec == nil {
			return nil, err
		}
		return structs.TxnResults{{Service: toNodeService(rec)}}, nil
	}
	switch op.Verb {
	case structs.TxnVerbGet:
		rec, err := getServiceTxn(tx, op.Node, id)
		if err != nil {
			return nil, err
		}
		if rec == nil {
			return nil, fmt.Errorf("service %q on node %q doesn't exist", id, op.Node)
		}
		return structs.TxnResults{{Service: toNodeService(rec)}}, nil

	case structs.TxnVerbSet:
		if err := s.ensureServiceTxn(tx, idx, op.Node, svc); err != nil {
			return nil, err
		}
		return result()

	case structs.TxnVerbCAS:
		rec, err := getServiceTxn(tx, op.Node, id)
		if err != nil {
			return nil, err
		}
		var current uint64
		if rec != nil {
			current = rec.ModifyIndex
		}
		if !casMatches(rec != nil, current, svc.ModifyIndex) {
			return nil, fmt.Errorf("failed to set service %q on node %q, index is stale", id, op.Node)
		}
		if err := s.ensureServiceTxn(tx, idx, op.Node, svc); err != nil {
			return nil, err
		}
		return result()

	case structs.TxnVerbDelete:
		return nil, s.deleteServiceTxn(tx, idx, op.Node, id)

	case structs.TxnVerbDeleteCAS:
		rec, err := getServiceTxn(tx, op.Node, id)
		if err != nil {
			return nil, err
		}
		if rec == nil || rec.ModifyIndex != svc.ModifyIndex {
			return nil, fmt.Errorf("failed to delete service %q on node %q, index is stale", id, op.Node)
		}
		return nil, s.deleteServiceTxn(tx, idx, op.Node, id)
	}
	return nil, fmt.Errorf("unknown Service verb %q", op.Verb)
}

// getCheckTxn returns a node's stored check, nil if unknown.
func getCheckTxn(tx *memdb.Txn, node, id string) (*structs.HealthCheck, error) {
	raw, err := tx.First(tableChecks, indexID, node, id)
	if err != nil {
		return nil, fmt.Errorf("read check %q: %w", id, err)
	}
	if raw == nil {
		return nil, nil
	}
	return raw.(*structs.HealthCheck), nil
}

// txnCheckTxn runs one Check operation.
func (s *Store) txnCheckTxn(tx *memdb.Txn, idx uint64, op *structs.TxnCheckOp) (structs.TxnResults, error) {
	c := &op.Check
	var entry *structs.HealthCheck
	var err error
	switch op.Verb {
	case structs.TxnVerbGet:
		entry, err = getCheckTxn(tx, c.Node, c.CheckID)
		if entry == nil && err == nil {
			err = fmt.Errorf("check %q on node %q doesn't exist", c.CheckID, c.Node)
		}

	case structs.TxnVerbSet:
		if err = s.ensureCheckTxn(tx, idx, c); err == nil {
			entry, err = getCheckTxn(tx, c.Node, c.CheckID)
		}

	case structs.TxnVerbCAS:
		var existing *structs.HealthCheck
		if existing, err = getCheckTxn(tx, c.Node, c.CheckID); err != nil {
			break
		}
		var current uint64
		if existing != nil {
			current = existing.ModifyIndex
		}
		if !casMatches(existing != nil, current, c.ModifyIndex) {
			err = fmt.Errorf("failed to set check %q on node %q, index is stale", c.CheckID, c.Node)
			break
		}
		if err = s.ensureCheckTxn(tx, idx, c); err == nil {
			entry, err = getCheckTxn(tx, c.Node, c.CheckID)
		}

	case structs.TxnVerbDelete:
		err = s.deleteCheckTxn(tx, idx, c.Node, c.CheckID)

	case structs.TxnVerbDeleteCAS:
		var existing *structs.HealthCheck
		if existing, err = getCheckTxn(tx, c.Node, c.CheckID); err != nil {
			break
		}
		if existing == nil || existing.ModifyIndex != c.ModifyIndex {
			err = fmt.Errorf("failed to delete check %q on node %q, index is stale", c.CheckID, c.Node)
			break
		}
		err = s.deleteCheckTxn(tx, idx, c.Node, c.CheckID)

	default:
		err = fmt.Errorf("unknown Check verb %q", op.Verb)
	}
	if err != nil || entry == nil {
		return nil, err
	}
	return structs.TxnResults{{Check: cloneCheck(entry)}}, nil
}

// txnSessionTxn runs one Session operation: delete destroys the session
// (an unknown one is not an error, as in Consul).
func (s *Store) txnSessionTxn(tx *memdb.Txn, idx uint64, op *structs.TxnSessionOp) error {
	if op.Verb != structs.TxnSessionDelete {
		return fmt.Errorf("unknown Session verb %q", op.Verb)
	}
	if err := s.deleteSessionTxn(tx, idx, op.Session.ID); err != nil {
		return fmt.Errorf("failed to delete session: %w", err)
	}
	return nil
}
