package state

import (
	"fmt"

	memdb "github.com/hashicorp/go-memdb"

	"github.com/meridian-sd/meridian/structs"
)

// SessionCreate stores a new session. Its node must exist, and every check
// it names must exist on that node and not be critical. The legacy Checks
// list is folded into NodeChecks. An empty Behavior means release.
func (s *Store) SessionCreate(idx uint64, sess *structs.Session) error {
	return s.update(func(tx *memdb.Txn) error { return s.sessionCreateTxn(tx, idx, cloneSession(sess)) })
}

func (s *Store) sessionCreateTxn(tx *memdb.Txn, idx uint64, sess *structs.Session) error {
	if sess.ID == "" {
		return structs.BadRequest("create session: missing session ID")
	}
	switch sess.Behavior {
	case "":
		sess.Behavior = structs.SessionKeysRelease
	case structs.SessionKeysRelease, structs.SessionKeysDelete:
	default:
		return structs.BadRequest("create session: invalid session behavior %q", sess.Behavior)
	}
	existing, err := tx.First(tableSessions, indexID, sess.ID)
	if err != nil {
		return fmt.Errorf("read session %q: %w", sess.ID, err)
	}
	if existing != nil {
		return fmt.Errorf("create session: session %q already exists", sess.ID)
	}
	n, err := getNodeTxn(tx, sess.Node)
	if err != nil {
		return err
	}
	if n == nil {
		return fmt.Errorf("create session on node %q: %w", sess.Node, ErrMissingNode)
	}
	sess.Node = n.Node
	sess.NodeChecks = foldChecks(sess.NodeChecks, sess.Checks)

	checkIDs := make([]string, 0, len(sess.NodeChecks)+len(sess.ServiceChecks))
	checkIDs = append(checkIDs, sess.NodeChecks...)
	for _, sc := range sess.ServiceChecks {
		checkIDs = append(checkIDs, sc.ID)
	}
	for _, id := range checkIDs {
		raw, err := tx.First(tableChecks, indexID, n.Node, id)
		if err != nil {
			return fmt.Errorf("read check %q: %w", id, err)
		}
		// Consul's texts, which users see.
		if raw == nil {
			return structs.BadRequest("Missing check '%s' registration", id)
		}
		if raw.(*structs.HealthCheck).Status == structs.HealthCritical {
			return fmt.Errorf("Check '%s' is in critical state", id)
		}
	}

	sess.CreateIndex = idx
	sess.ModifyIndex = idx
	if err := tx.Insert(tableSessions, sess); err != nil {
		return fmt.Errorf("create session %q: %w", sess.ID, err)
	}
	for _, id := range checkIDs {
		row := &sessionCheck{Node: n.Node, CheckID: id, Session: sess.ID}
		if err := tx.Insert(tableSessionChecks, row); err != nil {
			return fmt.Errorf("bind session %q to check %q: %w", sess.ID, id, err)
		}
	}
	return indexUpdateMaxTxn(tx, idx, tableSessions)
}

// foldChecks returns the union of the node checks and the legacy checks,
// in order, without repeats.
func foldChecks(nodeChecks, legacy []string) []string {
	if len(nodeChecks)+len(legacy) == 0 {
		return nodeChecks
	}
	seen := map[string]bool{}
	out := make([]string, 0, len(nodeChecks)+len(legacy))
	for _, list := range [][]string{nodeChecks, legacy} {
		for _, id := range list {
			if !seen[id] {
				seen[id] = true
				out = append(out, id)
			}
		}
	}
	return out
}

// SessionGet returns one session, nil when unknown.
func (s *Store) SessionGet(ws memdb.WatchSet, id string) (uint64, *structs.Session, error) {
	tx := s.db.Txn(false)
	defer tx.Abort()
	idx := nonZero(maxIndexTxn(tx, tableSessions))
	ch, raw, err := tx.FirstWatch(tableSessions, indexID, id)
	if err != nil {
		return 0, nil, fmt.Errorf("read session %q: %w", id, err)
	}
	ws.Add(ch)
	if raw == nil {
		return idx, nil, nil
	}
	return idx, cloneSession(raw.(*structs.Session)), nil
}

// SessionList returns every session.
func (s *Store) SessionList(ws memdb.WatchSet) (uint64, structs.Sessions, error) {
	tx := s.db.Txn(false)
	defer tx.Abort()
	return sessionsTxn(tx, ws, indexID)
}

// NodeSessions returns the sessions of one node.
func (s *Store) NodeSessions(ws memdb.WatchSet, node string) (uint64, structs.Sessions, error) {
	tx := s.db.Txn(false)
	defer tx.Abort()
	return sessionsTxn(tx, ws, indexNode, node)
}

func sessionsTxn(tx *memdb.Txn, ws memdb.WatchSet, index string, args ...any) (uint64, structs.Sessions, error) {
	idx := nonZero(maxIndexTxn(tx, tableSessions))
	it, err := tx.Get(tableSessions, index, args...)
	if err != nil {
		return 0, nil, fmt.Errorf("list sessions: %w", err)
	}
	ws.Add(it.WatchCh())
	out := structs.Sessions{}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		out = append(out, cloneSession(raw.(*structs.Session)))
	}
	return idx, out, nil
}

// SessionDestroy ends a session: the keys it holds are released (their
// values kept) or, with Behavior delete, deleted, and its lock delay
// starts on them. An unknown session is not an error.
func (s *Store) SessionDestroy(idx uint64, id string) error {
	return s.update(func(tx *memdb.Txn) error { return s.deleteSessionTxn(tx, idx, id) })
}

// deleteSessionTxn destroys a session and applies its behaviour to the
// keys it holds. It is how destroy, a node's removal and a depended check
// turning critical all invalidate sessions.
func (s *Store) deleteSessionTxn(tx *memdb.Txn, idx uint64, id string) error {
	raw, err := tx.First(tableSessions, indexID, id)
	if err != nil {
		return fmt.Errorf("read session %q: %w", id, err)
	}
	if raw == nil {
		return nil
	}
	sess := raw.(*structs.Session)
	if err := tx.Delete(tableSessions, sess); err != nil {
		return fmt.Errorf("delete session %q: %w", id, err)
	}
	if _, err := tx.DeleteAll(tableSessionChecks, indexSession, id); err != nil {
		return fmt.Errorf("unbind checks of session %q: %w", id, err)
	}
	if err := indexUpdateMaxTxn(tx, idx, tableSessions); err != nil {
		return err
	}
	if err := deleteSessionQueriesTxn(tx, idx, id); err != nil {
		return err
	}

	it, err := tx.Get(tableKVs, indexSession, id)
	if err != nil {
		return fmt.Errorf("read keys of session %q: %w", id, err)
	}
	var held []*structs.DirEntry
	for raw := it.Next(); raw != nil; raw = it.Next() {
		held = append(held, raw.(*structs.DirEntry))
	}
	if len(held) == 0 {
		return nil
	}
	keys := make([]string, 0, len(held))
	for _, e := range held {
		keys = append(keys, e.Key)
		if sess.Behavior == structs.SessionKeysDelete {
			if err := s.kvsDeleteEntryTxn(tx, idx, e); err != nil {
				return err
			}
			continue
		}
		c := cloneDirEntry(e)
		c.Session = ""
		c.ModifyIndex = idx
		if err := tx.Insert(tableKVs, c); err != nil {
			return fmt.Errorf("release key %q: %w", e.Key, err)
		}
	}
	if err := indexUpdateMaxTxn(tx, idx, tableKVs); err != nil {
		return err
	}
	if delay := sess.LockDelay; delay > 0 {
		// Only once the invalidation commits, and before any reader can
		// see the released keys (see commit).
		s.pendingDelays = append(s.pendingDelays, pendingDelay{keys: keys, d: delay})
	}
	return nil
}
