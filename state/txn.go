package state

import (
	"fmt"

	memdb "github.com/hashicorp/go-memdb"

	"github.com/meridian-sd/meridian/structs"
)

// TxnRW applies the operations of a transaction atomically: every
// operation runs, and if any of them fails nothing is committed and the
// errors name each failed operation's index. Results are in operation
// order; get, get-or-empty and get-tree return values, the other verbs
// that name a key return its metadata without the value, and deletes
// return nothing.
func (s *Store) TxnRW(idx uint64, ops structs.TxnOps) (structs.TxnResults, structs.TxnErrors) {
	tx := s.writeTxn()
	defer tx.Abort()
	results, errs := s.txnDispatch(tx, idx, ops)
	if len(errs) > 0 {
		return nil, errs
	}
	s.commit(tx)
	return results, nil
}

// TxnRO runs read-only operations on a consistent view. A write verb is an
// error for its operation.
func (s *Store) TxnRO(ops structs.TxnOps) (structs.TxnResults, structs.TxnErrors) {
	tx := s.db.Txn(false)
	defer tx.Abort()
	var errs structs.TxnErrors
	for i, op := range ops {
		if op.IsWrite() {
			errs = append(errs, &structs.TxnError{OpIndex: i, What: fmt.Sprintf("cannot run verb %q in a read-only transaction", txnVerb(op))})
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	results, errs := s.txnDispatch(tx, 0, ops)
	if len(errs) > 0 {
		return nil, errs
	}
	return results, nil
}

// txnVerb names an operation's verb for errors.
func txnVerb(op *structs.TxnOp) string {
	switch {
	case op.KV != nil:
		return string(op.KV.Verb)
	case op.Node != nil:
		return op.Node.Verb
	case op.Service != nil:
		return op.Service.Verb
	case op.Check != nil:
		return op.Check.Verb
	case op.Session != nil:
		return op.Session.Verb
	}
	return ""
}

// txnDispatch runs every operation, collecting results and errors.
func (s *Store) txnDispatch(tx *memdb.Txn, idx uint64, ops structs.TxnOps) (structs.TxnResults, structs.TxnErrors) {
	results := make(structs.TxnResults, 0, len(ops))
	var errs structs.TxnErrors
	for i, op := range ops {
		var res structs.TxnResults
		var err error
		switch {
		case op == nil:
			err = fmt.Errorf("no operation specified")
		case op.KV != nil:
			res, err = s.txnKVSTxn(tx, idx, op.KV)
		case op.Node != nil:
			res, err = s.txnNodeTxn(tx, idx, op.Node)
		case op.Service != nil:
			res, err = s.txnServiceTxn(tx, idx, op.Service)
		case op.Check != nil:
			res, err = s.txnCheckTxn(tx, idx, op.Check)
		case op.Session != nil:
			err = s.txnSessionTxn(tx, idx, op.Session)
		default:
			err = fmt.Errorf("no operation specified")
		}
		if err != nil {
			errs = append(errs, &structs.TxnError{OpIndex: i, What: err.Error()})
			continue
		}
		results = append(results, res...)
	}
	return results, errs
}

// txnKVSTxn runs one KV operation. The texts of its errors are Consul's,
// which clients see in the transaction's answer.
func (s *Store) txnKVSTxn(tx *memdb.Txn, idx uint64, op *structs.TxnKVOp) (structs.TxnResults, error) {
	key := op.DirEnt.Key
	var entry *structs.DirEntry
	var err error
	switch op.Verb {
	case structs.KVSSet:
		entry = cloneDirEntry(&op.DirEnt)
		err = s.kvsSetTxn(tx, idx, entry, false)

	case structs.KVSCAS:
		entry = cloneDirEntry(&op.DirEnt)
		var ok bool
		ok, err = s.kvsSetCASTxn(tx, idx, entry)
		if !ok && err == nil {
			err = fmt.Errorf("failed to set key %q, index is stale", key)
		}

	case structs.KVSLock:
		entry = cloneDirEntry(&op.DirEnt)
		var ok bool
		ok, err = s.kvsLockTxn(tx, idx, entry)
		if !ok && err == nil {
			err = fmt.Errorf("failed to lock key %q, lock is already held", key)
		}

	case structs.KVSUnlock:
		entry = cloneDirEntry(&op.DirEnt)
		var ok bool
		ok, err = s.kvsUnlockTxn(tx, idx, entry)
		if !ok && err == nil {
			err = fmt.Errorf("failed to unlock key %q, lock isn't held, or is held by another session", key)
		}

	case structs.KVSGet:
		_, entry, err = kvsGetTxn(tx, nil, key)
		if entry == nil && err == nil {
			err = fmt.Errorf("key %q doesn't exist", key)
		}

	case structs.KVSGetOrEmpty:
		_, entry, err = kvsGetTxn(tx, nil, key)
		if entry == nil && err == nil {
			entry = &structs.DirEntry{Key: key}
		}

	case structs.KVSGetTree:
		var entries []*structs.DirEntry
		_, entries, err = kvsListTxn(tx, nil, key)
		if err != nil {
			return nil, err
		}
		out := make(structs.TxnResults, 0, len(entries))
		for _, e := range entries {
			out = append(out, &structs.TxnResult{KV: cloneDirEntry(e)})
		}
		return out, nil

	case structs.KVSCheckSession:
		entry, err = getKVTxn(tx, key)
		switch {
		case err != nil:
		case entry == nil:
			err = fmt.Errorf("failed to check session, key %q doesn't exist", key)
		case entry.Session != op.DirEnt.Session:
			err = fmt.Errorf("failed session check for key %q, current session %q != %q", key, entry.Session, op.DirEnt.Session)
		}

	case structs.KVSCheckIndex:
		entry, err = getKVTxn(tx, key)
		switch {
		case err != nil:
		case entry == nil:
			err = fmt.Errorf("failed to check index, key %q doesn't exist", key)
		case entry.ModifyIndex != op.DirEnt.ModifyIndex:
			err = fmt.Errorf("failed index check for key %q, current modify index %d != %d", key, entry.ModifyIndex, op.DirEnt.ModifyIndex)
		}

	case structs.KVSCheckNotExists:
		_, entry, err = kvsGetTxn(tx, nil, key)
		if entry != nil && err == nil {
			err = fmt.Errorf("key %q exists", key)
		}

	case structs.KVSDelete:
		err = s.kvsDeleteTxn(tx, idx, key)

	case structs.KVSDeleteCAS:
		var ok bool
		ok, err = s.kvsDeleteCASTxn(tx, idx, op.DirEnt.ModifyIndex, key)
		if !ok && err == nil {
			err = fmt.Errorf("failed to delete key %q, index is stale", key)
		}

	case structs.KVSDeleteTree:
		err = s.kvsDeleteTreeTxn(tx, idx, key)

	default:
		err = fmt.Errorf("unknown KV verb %q", op.Verb)
	}
	if err != nil {
		return nil, err
	}
	if entry == nil {
		return nil, nil
	}
	// Only the gets carry the value back; the others answer with metadata.
	c := cloneDirEntry(entry)
	if op.Verb != structs.KVSGet && op.Verb != structs.KVSGetOrEmpty {
		c.Value = nil
	}
	return structs.TxnResults{{KV: c}}, nil
}
