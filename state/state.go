// Package state is Meridian's replicated state store: the catalog (nodes,
// services, checks), the KV store with its tombstones, sessions and network
// coordinates, kept in hashicorp/go-memdb behind the Raft FSM.
//
// Every write takes the Raft log index idx of the entry being applied and
// stamps it on what it changes (CreateIndex/ModifyIndex) and in the index
// table, which records per table the highest index that changed it. Reads
// return that index for X-Consul-Index and, given a memdb.WatchSet, add the
// channels that close when their result may have changed, which is what
// blocking queries wait on.
//
// Exported methods open one memdb transaction and call composable
// xxxTxn(tx, ...) helpers, so that one write (a registration, a KV
// transaction, a session invalidation) commits all of its effects at once
// or none of them. memdb allows one write transaction at a time, which
// serialises writes; reads run concurrently on immutable snapshots.
//
// Every object handed out is a fresh copy that the caller owns; objects
// stored in memdb are never modified after insertion.
package state

import (
	"fmt"
	"strings"
	"sync"
	"time"

	memdb "github.com/hashicorp/go-memdb"
)

// watchLimit caps how many fine-grained watch channels one read adds to a
// WatchSet before it falls back to a table-wide channel; watching
// thousands of channels costs a goroutine per 32 of them.
const watchLimit = 2048

// Store is the state store. It is safe for concurrent use.
type Store struct {
	db *memdb.MemDB

	// abandonCh is closed by Abandon, when a restore replaces this store,
	// so that blocking queries on it wake and read the new one.
	abandonCh   chan struct{}
	abandonOnce sync.Once

	// lockDelay holds the in-memory, unreplicated lock delays.
	lockDelay *lockDelays
	// pendingDelays are the lock delays the running write transaction
	// starts when it commits; only the writer (memdb allows one) touches
	// it, between writeTxn and commit.
	pendingDelays []pendingDelay
}

// NewStore returns an empty state store.
func NewStore() (*Store, error) {
	schema, err := stateStoreSchema()
	if err != nil {
		return nil, err
	}
	db, err := memdb.NewMemDB(schema)
	if err != nil {
		return nil, fmt.Errorf("create memdb: %w", err)
	}
	return &Store{
		db:        db,
		abandonCh: make(chan struct{}),
		lockDelay: newLockDelays(time.Now),
	}, nil
}

// SetClock replaces the clock used for lock delays (time.Now by default).
// Tests inject a fake one; call it before the store is in use.
func (s *Store) SetClock(now func() time.Time) {
	s.lockDelay.setClock(now)
}

// AbandonCh returns a channel that is closed when the store is abandoned,
// for blocking queries to add to their watch set.
func (s *Store) AbandonCh() <-chan struct{} {
	return s.abandonCh
}

// Abandon marks the store as replaced (after a snapshot restore) and wakes
// every blocking query that watches AbandonCh. It is safe to call twice.
func (s *Store) Abandon() {
	s.abandonOnce.Do(func() { close(s.abandonCh) })
}

// MaxIndex returns the highest index recorded for the named tables
// ("nodes", "services", "checks", "kvs", "tombstones", "sessions",
// "coordinates"), or for every table when none is named.
func (s *Store) MaxIndex(tables ...string) uint64 {
	tx := s.db.Txn(false)
	defer tx.Abort()
	if len(tables) == 0 {
		return maxIndexAllTxn(tx)
	}
	return maxIndexTxn(tx, tables...)
}

// maxIndexTxn returns the highest index of the named index rows.
func maxIndexTxn(tx *memdb.Txn, keys ...string) uint64 {
	var max uint64
	for _, k := range keys {
		if v := indexValueTxn(tx, k); v > max {
			max = v
		}
	}
	return max
}

// maxIndexAllTxn returns the highest index of any row of the index table.
func maxIndexAllTxn(tx *memdb.Txn) uint64 {
	it, err := tx.Get(tableIndex, indexID)
	if err != nil {
		return 0
	}
	var max uint64
	for raw := it.Next(); raw != nil; raw = it.Next() {
		if e := raw.(*indexEntry); e.Value > max {
			max = e.Value
		}
	}
	return max
}

// indexValueTxn returns one row of the index table, 0 when absent.
func indexValueTxn(tx *memdb.Txn, key string) uint64 {
	raw, err := tx.First(tableIndex, indexID, key)
	if err != nil || raw == nil {
		return 0
	}
	return raw.(*indexEntry).Value
}

// indexUpdateMaxTxn raises the index row key to idx; it never lowers it.
func indexUpdateMaxTxn(tx *memdb.Txn, idx uint64, key string) error {
	raw, err := tx.First(tableIndex, indexID, key)
	if err != nil {
		return fmt.Errorf("read index %q: %w", key, err)
	}
	if raw != nil && raw.(*indexEntry).Value >= idx {
		return nil
	}
	if err := tx.Insert(tableIndex, &indexEntry{Key: key, Value: idx}); err != nil {
		return fmt.Errorf("update index %q: %w", key, err)
	}
	return nil
}

// nonZero keeps an index away from 0, so that a blocking query that starts
// with index 0 waits instead of returning at once forever.
func nonZero(idx uint64) uint64 {
	if idx == 0 {
		return 1
	}
	return idx
}

// tableWatch returns a channel that closes on any change to the table.
func tableWatch(tx *memdb.Txn, table string) <-chan struct{} {
	it, err := tx.Get(table, indexID)
	if err != nil {
		return nil
	}
	return it.WatchCh()
}

// serviceIndexKey is the index-table row of one service name.
func serviceIndexKey(name string) string {
	return indexServicePrefix + strings.ToLower(name)
}

// lockDelays tracks, per key, until when a new lock may not be taken after
// a session holding it was invalidated. It is kept in memory only, as
// Consul's is: a restarted server forgets it.
type lockDelays struct {
	mu     sync.Mutex
	now    func() time.Time
	expiry map[string]time.Time
}

func newLockDelays(now func() time.Time) *lockDelays {
	return &lockDelays{now: now, expiry: map[string]time.Time{}}
}

func (l *lockDelays) setClock(now func() time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.now = now
}

// set starts a delay of d on every key, dropping delays that have expired.
func (l *lockDelays) set(keys []string, d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	for k, t := range l.expiry {
		if !t.After(now) {
			delete(l.expiry, k)
		}
	}
	until := now.Add(d)
	for _, k := range keys {
		if until.After(l.expiry[k]) {
			l.expiry[k] = until
		}
	}
}

// get returns the expiry of the delay on key, the zero time when none is
// active.
func (l *lockDelays) get(key string) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	t, ok := l.expiry[key]
	if !ok {
		return time.Time{}
	}
	if !t.After(l.now()) {
		delete(l.expiry, key)
		return time.Time{}
	}
	return t
}

// active reports whether a delay on key has not expired yet.
func (l *lockDelays) active(key string) bool {
	return !l.get(key).IsZero()
}

// pendingDelay is a lock delay that a write transaction's session
// invalidation starts when the transaction commits.
type pendingDelay struct {
	keys []string
	d    time.Duration
}

// writeTxn opens a write transaction. memdb allows one writer at a time,
// so pendingDelays belongs to this transaction until it commits or the
// next writer starts; what an aborted writer left there is dropped here.
func (s *Store) writeTxn() *memdb.Txn {
	tx := s.db.Txn(true)
	s.pendingDelays = s.pendingDelays[:0]
	return tx
}

// commit commits a transaction opened with writeTxn. The lock delays of
// the sessions it invalidated start first: memdb makes the new state
// visible and wakes the watchers of released keys inside Commit, before
// it runs the transaction's deferred functions, so a delay set from
// tx.Defer left a window in which a waiting contender could see the key
// free and no delay on it. A transaction that aborts sets none.
func (s *Store) commit(tx *memdb.Txn) {
	for _, p := range s.pendingDelays {
		s.lockDelay.set(p.keys, p.d)
	}
	s.pendingDelays = s.pendingDelays[:0]
	tx.Commit()
}

// update runs fn in a write transaction and commits it unless fn fails;
// the exported writers are thin wrappers over their xxxTxn helpers.
func (s *Store) update(fn func(tx *memdb.Txn) error) error {
	tx := s.writeTxn()
	defer tx.Abort()
	if err := fn(tx); err != nil {
		return err
	}
	s.commit(tx)
	return nil
}
