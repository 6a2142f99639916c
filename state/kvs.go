package state

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	memdb "github.com/hashicorp/go-memdb"

	"github.com/meridian-sd/meridian/structs"
)

// errMissingSession is returned by lock and unlock without a session.
var errMissingSession = structs.BadRequest("missing session")

// KVSSet stores a key. An existing key keeps its CreateIndex, and its
// Session and LockIndex: a plain set neither takes nor drops a lock. A
// write that changes nothing keeps the key's ModifyIndex.
func (s *Store) KVSSet(idx uint64, e *structs.DirEntry) error {
	return s.update(func(tx *memdb.Txn) error { return s.kvsSetTxn(tx, idx, cloneDirEntry(e), false) })
}

// kvsSetTxn stores entry, which it takes ownership of and updates with the
// stored indexes. With updateSession the entry's Session and LockIndex are
// stored as given; otherwise they are kept from the existing key.
func (s *Store) kvsSetTxn(tx *memdb.Txn, idx uint64, entry *structs.DirEntry, updateSession bool) error {
	if entry.Key == "" {
		return structs.BadRequest("set key: missing key name")
	}
	existing, err := getKVTxn(tx, entry.Key)
	if err != nil {
		return err
	}
	if existing != nil {
		entry.CreateIndex = existing.CreateIndex
		if !updateSession {
			entry.Session = existing.Session
			entry.LockIndex = existing.LockIndex
		}
		if kvSame(existing, entry) {
			entry.ModifyIndex = existing.ModifyIndex
			return nil
		}
	} else {
		entry.CreateIndex = idx
		if !updateSession {
			entry.Session = ""
			entry.LockIndex = 0
		}
	}
	entry.ModifyIndex = idx
	if err := tx.Insert(tableKVs, entry); err != nil {
		return fmt.Errorf("set key %q: %w", entry.Key, err)
	}
	return indexUpdateMaxTxn(tx, idx, tableKVs)
}

// kvSame reports whether two entries differ only in their indexes.
func kvSame(a, b *structs.DirEntry) bool {
	return a.Key == b.Key && a.Flags == b.Flags && a.Session == b.Session &&
		a.LockIndex == b.LockIndex && bytes.Equal(a.Value, b.Value)
}

// getKVTxn returns the stored entry (not a copy), nil when missing.
func getKVTxn(tx *memdb.Txn, key string) (*structs.DirEntry, error) {
	raw, err := tx.First(tableKVs, indexID, key)
	if err != nil {
		return nil, fmt.Errorf("read key %q: %w", key, err)
	}
	if raw == nil {
		return nil, nil
	}
	return raw.(*structs.DirEntry), nil
}

// KVSGet returns one key, nil when missing. The index is the key's
// ModifyIndex; for a missing key it is the highest KV or tombstone index,
// which is past the deletion of the key if it ever existed.
func (s *Store) KVSGet(ws memdb.WatchSet, key string) (uint64, *structs.DirEntry, error) {
	tx := s.db.Txn(false)
	defer tx.Abort()
	idx, e, err := kvsGetTxn(tx, ws, key)
	if err != nil {
		return 0, nil, err
	}
	if e != nil {
		e = cloneDirEntry(e)
	}
	return idx, e, nil
}

func kvsGetTxn(tx *memdb.Txn, ws memdb.WatchSet, key string) (uint64, *structs.DirEntry, error) {
	ch, raw, err := tx.FirstWatch(tableKVs, indexID, key)
	if err != nil {
		return 0, nil, fmt.Errorf("read key %q: %w", key, err)
	}
	ws.Add(ch)
	if raw != nil {
		e := raw.(*structs.DirEntry)
		return nonZero(e.ModifyIndex), e, nil
	}
	return nonZero(maxIndexTxn(tx, tableKVs, tableTombstones)), nil, nil
}

// KVSList returns every key under prefix. Its index covers the keys and
// the tombstones under the prefix, so a delete moves it forward, and a
// reap never moves it backwards.
func (s *Store) KVSList(ws memdb.WatchSet, prefix string) (uint64, structs.DirEntries, error) {
	tx := s.db.Txn(false)
	defer tx.Abort()
	idx, entries, err := kvsListTxn(tx, ws, prefix)
	if err != nil {
		return 0, nil, err
	}
	out := make(structs.DirEntries, 0, len(entries))
	for _, e := range entries {
		out = append(out, cloneDirEntry(e))
	}
	return idx, out, nil
}

func kvsListTxn(tx *memdb.Txn, ws memdb.WatchSet, prefix string) (uint64, []*structs.DirEntry, error) {
	it, err := tx.Get(tableKVs, indexID+"_prefix", prefix)
	if err != nil {
		return 0, nil, fmt.Errorf("list keys under %q: %w", prefix, err)
	}
	ws.Add(it.WatchCh())
	var entries []*structs.DirEntry
	var max uint64
	for raw := it.Next(); raw != nil; raw = it.Next() {
		e := raw.(*structs.DirEntry)
		entries = append(entries, e)
		if e.ModifyIndex > max {
			max = e.ModifyIndex
		}
	}
	idx, err := kvsPrefixIndexTxn(tx, prefix, max)
	if err != nil {
		return 0, nil, err
	}
	return idx, entries, nil
}

// kvsPrefixIndexTxn is the index of a listing under prefix whose entries'
// highest ModifyIndex is entriesMax: the highest of that, of the
// tombstones under the prefix and of the highest reaped tombstone. A
// prefix with neither keys nor tombstones answers with the table index, as
// Consul's does.
func kvsPrefixIndexTxn(tx *memdb.Txn, prefix string, entriesMax uint64) (uint64, error) {
	it, err := tx.Get(tableTombstones, indexID+"_prefix", prefix)
	if err != nil {
		return 0, fmt.Errorf("list tombstones under %q: %w", prefix, err)
	}
	max := entriesMax
	for raw := it.Next(); raw != nil; raw = it.Next() {
		if t := raw.(*tombstone); t.Index > max {
			max = t.Index
		}
	}
	if max == 0 {
		return nonZero(maxIndexTxn(tx, tableKVs, tableTombstones)), nil
	}
	if r := indexValueTxn(tx, indexTombstonesReaped); r > max {
		max = r
	}
	return max, nil
}

// KVSListKeys lists the keys under prefix. With a separator, keys are cut
// after the first separator that follows the prefix and repeated results
// are dropped, so that each "directory" appears once, ending in sep.
func (s *Store) KVSListKeys(ws memdb.WatchSet, prefix, sep string) (uint64, []string, error) {
	tx := s.db.Txn(false)
	defer tx.Abort()
	idx, entries, err := kvsListTxn(tx, ws, prefix)
	if err != nil {
		return 0, nil, err
	}
	keys := make([]string, 0, len(entries))
	last := ""
	for _, e := range entries {
		key := e.Key
		if sep != "" {
			if i := strings.Index(e.Key[len(prefix):], sep); i >= 0 {
				key = e.Key[:len(prefix)+i+len(sep)]
			}
		}
		// Keys sharing a cut prefix are adjacent in key order.
		if key == last && len(keys) > 0 {
			continue
		}
		keys = append(keys, key)
		last = key
	}
	return idx, keys, nil
}

// KVSDelete deletes a key and leaves a tombstone. A missing key is not an
// error and changes nothing.
func (s *Store) KVSDelete(idx uint64, key string) error {
	return s.update(func(tx *memdb.Txn) error { return s.kvsDeleteTxn(tx, idx, key) })
}

func (s *Store) kvsDeleteTxn(tx *memdb.Txn, idx uint64, key string) error {
	e, err := getKVTxn(tx, key)
	if err != nil || e == nil {
		return err
	}
	return s.kvsDeleteEntryTxn(tx, idx, e)
}

// kvsDeleteEntryTxn deletes a stored entry, leaving its tombstone.
func (s *Store) kvsDeleteEntryTxn(tx *memdb.Txn, idx uint64, e *structs.DirEntry) error {
	if err := tx.Delete(tableKVs, e); err != nil {
		return fmt.Errorf("delete key %q: %w", e.Key, err)
	}
	if err := tx.Insert(tableTombstones, &tombstone{Key: e.Key, Index: idx}); err != nil {
		return fmt.Errorf("tombstone key %q: %w", e.Key, err)
	}
	if err := indexUpdateMaxTxn(tx, idx, tableKVs); err != nil {
		return err
	}
	return indexUpdateMaxTxn(tx, idx, tableTombstones)
}

// KVSDeleteCAS deletes a key only if its ModifyIndex is cidx. It reports
// whether the key is gone: deleting a missing key succeeds, as Consul's.
func (s *Store) KVSDeleteCAS(idx, cidx uint64, key string) (bool, error) {
	tx := s.writeTxn()
	defer tx.Abort()
	ok, err := s.kvsDeleteCASTxn(tx, idx, cidx, key)
	if !ok || err != nil {
		return false, err
	}
	s.commit(tx)
	return true, nil
}

func (s *Store) kvsDeleteCASTxn(tx *memdb.Txn, idx, cidx uint64, key string) (bool, error) {
	e, err := getKVTxn(tx, key)
	if err != nil {
		return false, err
	}
	if e == nil {
		return true, nil
	}
	if e.ModifyIndex != cidx {
		return false, nil
	}
	if err := s.kvsDeleteEntryTxn(tx, idx, e); err != nil {
		return false, err
	}
	return true, nil
}

// KVSDeleteTree deletes every key under prefix, each leaving a tombstone.
func (s *Store) KVSDeleteTree(idx uint64, prefix string) error {
	return s.update(func(tx *memdb.Txn) error { return s.kvsDeleteTreeTxn(tx, idx, prefix) })
}

func (s *Store) kvsDeleteTreeTxn(tx *memdb.Txn, idx uint64, prefix string) error {
	_, entries, err := kvsListTxn(tx, nil, prefix)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := s.kvsDeleteEntryTxn(tx, idx, e); err != nil {
			return err
		}
	}
	return nil
}

// KVSSetCAS stores a key only if its ModifyIndex is e.ModifyIndex; 0
// means the key must not exist. It reports whether the write happened.
func (s *Store) KVSSetCAS(idx uint64, e *structs.DirEntry) (bool, error) {
	tx := s.writeTxn()
	defer tx.Abort()
	ok, err := s.kvsSetCASTxn(tx, idx, cloneDirEntry(e))
	if !ok || err != nil {
		return false, err
	}
	s.commit(tx)
	return true, nil
}

func (s *Store) kvsSetCASTxn(tx *memdb.Txn, idx uint64, entry *structs.DirEntry) (bool, error) {
	existing, err := getKVTxn(tx, entry.Key)
	if err != nil {
		return false, err
	}
	switch {
	case entry.ModifyIndex == 0 && existing != nil:
		return false, nil
	case entry.ModifyIndex != 0 && existing == nil:
		return false, nil
	case existing != nil && existing.ModifyIndex != entry.ModifyIndex:
		return false, nil
	}
	if err := s.kvsSetTxn(tx, idx, entry, false); err != nil {
		return false, err
	}
	return true, nil
}

// KVSLock takes the lock on a key for e.Session and stores e's value. It
// fails (false) while another session holds the key; acquiring raises
// LockIndex. The session must exist: the error then wraps
// structs.ErrSessionNotFound.
//
// KVSLock does not look at lock delays. It runs while a Raft entry is
// applied, and the delays live in memory with wall-clock expiries, so
// consulting them here would make the outcome depend on when a server
// applies (or replays, after a restart) the entry, and servers would
// disagree. Servers check KVSLockDelay before they submit a lock to Raft,
// as Consul's KV endpoint does.
func (s *Store) KVSLock(idx uint64, e *structs.DirEntry) (bool, error) {
	tx := s.writeTxn()
	defer tx.Abort()
	ok, err := s.kvsLockTxn(tx, idx, cloneDirEntry(e))
	if !ok || err != nil {
		return false, err
	}
	s.commit(tx)
	return true, nil
}

func (s *Store) kvsLockTxn(tx *memdb.Txn, idx uint64, entry *structs.DirEntry) (bool, error) {
	if entry.Session == "" {
		return false, fmt.Errorf("lock key %q: %w", entry.Key, errMissingSession)
	}
	raw, err := tx.First(tableSessions, indexID, entry.Session)
	if err != nil {
		return false, fmt.Errorf("read session %q: %w", entry.Session, err)
	}
	if raw == nil {
		return false, fmt.Errorf("%w %q", structs.ErrSessionNotFound, entry.Session)
	}
	existing, err := getKVTxn(tx, entry.Key)
	if err != nil {
		return false, err
	}
	switch {
	case existing != nil && existing.Session == entry.Session:
		// Already held by this session: refresh the value only.
		entry.LockIndex = existing.LockIndex
	case existing != nil && existing.Session != "":
		return false, nil
	default:
		entry.LockIndex = 1
		if existing != nil {
			entry.LockIndex = existing.LockIndex + 1
		}
	}
	if err := s.kvsSetTxn(tx, idx, entry, true); err != nil {
		return false, err
	}
	return true, nil
}

// KVSUnlock releases the lock e.Session holds on a key and stores e's
// value. It fails (false) when the key is missing or not held by that
// session.
func (s *Store) KVSUnlock(idx uint64, e *structs.DirEntry) (bool, error) {
	tx := s.writeTxn()
	defer tx.Abort()
	ok, err := s.kvsUnlockTxn(tx, idx, cloneDirEntry(e))
	if !ok || err != nil {
		return false, err
	}
	s.commit(tx)
	return true, nil
}

func (s *Store) kvsUnlockTxn(tx *memdb.Txn, idx uint64, entry *structs.DirEntry) (bool, error) {
	if entry.Session == "" {
		return false, fmt.Errorf("unlock key %q: %w", entry.Key, errMissingSession)
	}
	existing, err := getKVTxn(tx, entry.Key)
	if err != nil {
		return false, err
	}
	if existing == nil || existing.Session != entry.Session {
		return false, nil
	}
	entry.Session = ""
	entry.LockIndex = existing.LockIndex
	if err := s.kvsSetTxn(tx, idx, entry, true); err != nil {
		return false, err
	}
	return true, nil
}

// KVSLockDelay returns when the lock delay on key expires, the zero time
// when none is active. Delays start when a session holding the key ends.
func (s *Store) KVSLockDelay(key string) time.Time {
	return s.lockDelay.get(key)
}

// ReapTombstones removes the tombstones whose index is at most idx. The
// highest reaped index is remembered so that no KV answer's index falls
// back below it.
func (s *Store) ReapTombstones(idx uint64) error {
	tx := s.writeTxn()
	defer tx.Abort()
	it, err := tx.Get(tableTombstones, indexID)
	if err != nil {
		return fmt.Errorf("list tombstones: %w", err)
	}
	var reap []*tombstone
	var max uint64
	for raw := it.Next(); raw != nil; raw = it.Next() {
		t := raw.(*tombstone)
		if t.Index <= idx {
			reap = append(reap, t)
			if t.Index > max {
				max = t.Index
			}
		}
	}
	if len(reap) == 0 {
		return nil
	}
	for _, t := range reap {
		if err := tx.Delete(tableTombstones, t); err != nil {
			return fmt.Errorf("reap tombstone %q: %w", t.Key, err)
		}
	}
	if err := indexUpdateMaxTxn(tx, max, indexTombstonesReaped); err != nil {
		return err
	}
	s.commit(tx)
	return nil
}

// Tombstone is a deleted key as a snapshot carries it.
type Tombstone struct {
	Key   string
	Index uint64
}

// Tombstones returns the tombstones under prefix, for tests and for the
// leader to decide what to reap.
func (s *Store) Tombstones(prefix string) ([]Tombstone, error) {
	tx := s.db.Txn(false)
	defer tx.Abort()
	it, err := tx.Get(tableTombstones, indexID+"_prefix", prefix)
	if err != nil {
		return nil, fmt.Errorf("list tombstones under %q: %w", prefix, err)
	}
	var out []Tombstone
	for raw := it.Next(); raw != nil; raw = it.Next() {
		t := raw.(*tombstone)
		out = append(out, Tombstone{Key: t.Key, Index: t.Index})
	}
	return out, nil
}
