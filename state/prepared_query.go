package state

import (
	"fmt"
	"strings"

	memdb "github.com/hashicorp/go-memdb"
	"github.com/hashicorp/go-uuid"

	"github.com/meridian-sd/meridian/structs"
)

// Prepared queries and the sticky failover state of each.
//
// A query is found by ID, then by exact name, then by the template whose
// name is the longest prefix of the asked name (the template with the
// empty name catches every name), as Consul resolves them. Names compare
// case-insensitively. A query bound to a session is deleted with it.

const (
	tablePreparedQueries = "prepared_queries"
	tableQueryFailover   = "prepared_query_failover"
)

func preparedQueriesTableSchema() *memdb.TableSchema {
	return &memdb.TableSchema{
		Name: tablePreparedQueries,
		Indexes: map[string]*memdb.IndexSchema{
			indexID: {
				Name:    indexID,
				Unique:  true,
				Indexer: &memdb.StringFieldIndex{Field: "ID", Lowercase: true},
			},
			indexName: {
				Name:         indexName,
				Unique:       true,
				AllowMissing: true,
				Indexer:      &memdb.StringFieldIndex{Field: "Name", Lowercase: true},
			},
			indexSession: {
				Name:         indexSession,
				AllowMissing: true,
				Indexer:      &memdb.StringFieldIndex{Field: "Session"},
			},
		},
	}
}

func queryFailoverTableSchema() *memdb.TableSchema {
	return &memdb.TableSchema{
		Name: tableQueryFailover,
		Indexes: map[string]*memdb.IndexSchema{
			indexID: {
				Name:    indexID,
				Unique:  true,
				Indexer: &memdb.StringFieldIndex{Field: "QueryID", Lowercase: true},
			},
		},
	}
}

// isUUID reports whether s has the shape of a query ID.
func isUUID(s string) bool {
	_, err := uuid.ParseUUID(s)
	return err == nil
}

// PreparedQuerySet creates or replaces a query. Its name may not be
// another query's name or ID, only one template may have the empty name,
// and its session must exist; the texts are Consul's.
func (s *Store) PreparedQuerySet(idx uint64, q *structs.PreparedQuery) error {
	return s.update(func(tx *memdb.Txn) error { return preparedQuerySetTxn(tx, idx, q.Clone()) })
}

func preparedQuerySetTxn(tx *memdb.Txn, idx uint64, q *structs.PreparedQuery) error {
	if q.ID == "" {
		return structs.BadRequest("missing prepared query ID")
	}
	existing, err := tx.First(tablePreparedQueries, indexID, q.ID)
	if err != nil {
		return fmt.Errorf("read prepared query %q: %w", q.ID, err)
	}
	q.CreateIndex, q.ModifyIndex = idx, idx
	if existing != nil {
		q.CreateIndex = existing.(*structs.PreparedQuery).CreateIndex
	}
	if q.Name != "" {
		if isUUID(q.Name) {
			other, err := tx.First(tablePreparedQueries, indexID, q.Name)
			if err != nil {
				return fmt.Errorf("read prepared query %q: %w", q.Name, err)
			}
			if other != nil && other.(*structs.PreparedQuery).ID != q.ID {
				return structs.BadRequest("name '%s' aliases an existing query ID", q.Name)
			}
		}
		other, err := tx.First(tablePreparedQueries, indexName, q.Name)
		if err != nil {
			return fmt.Errorf("read prepared query %q: %w", q.Name, err)
		}
		if other != nil && other.(*structs.PreparedQuery).ID != q.ID {
			return structs.BadRequest("name '%s' aliases an existing query name", q.Name)
		}
	} else if q.IsTemplate() {
		it, err := tx.Get(tablePreparedQueries, indexID)
		if err != nil {
			return fmt.Errorf("list prepared queries: %w", err)
		}
		for raw := it.Next(); raw != nil; raw = it.Next() {
			o := raw.(*structs.PreparedQuery)
			if o.ID != q.ID && o.Name == "" && o.IsTemplate() {
				return structs.BadRequest("a query template with an empty name already exists")
			}
		}
	}
	if q.Session != "" {
		sess, err := tx.First(tableSessions, indexID, q.Session)
		if err != nil {
			return fmt.Errorf("read session %q: %w", q.Session, err)
		}
		if sess == nil {
			return structs.BadRequest("invalid session %q", q.Session)
		}
	}
	if err := tx.Insert(tablePreparedQueries, q); err != nil {
		return fmt.Errorf("store prepared query %q: %w", q.ID, err)
	}
	return indexUpdateMaxTxn(tx, idx, tablePreparedQueries)
}

// PreparedQueryDelete removes a query and its failover state; an unknown
// ID is a not-found error with Consul's text.
func (s *Store) PreparedQueryDelete(idx uint64, id string) error {
	return s.update(func(tx *memdb.Txn) error {
		raw, err := tx.First(tablePreparedQueries, indexID, id)
		if err != nil {
			return fmt.Errorf("read prepared query %q: %w", id, err)
		}
		if raw == nil {
			return structs.NewError(structs.CodeNotFound, "Cannot delete non-existent prepared query: '%s'", id)
		}
		return preparedQueryDeleteTxn(tx, idx, raw.(*structs.PreparedQuery))
	})
}

func preparedQueryDeleteTxn(tx *memdb.Txn, idx uint64, q *structs.PreparedQuery) error {
	if err := tx.Delete(tablePreparedQueries, q); err != nil {
		return fmt.Errorf("delete prepared query %q: %w", q.ID, err)
	}
	if _, err := tx.DeleteAll(tableQueryFailover, indexID, q.ID); err != nil {
		return fmt.Errorf("delete failover state of prepared query %q: %w", q.ID, err)
	}
	if err := indexUpdateMaxTxn(tx, idx, tableQueryFailover); err != nil {
		return err
	}
	return indexUpdateMaxTxn(tx, idx, tablePreparedQueries)
}

// deleteSessionQueriesTxn deletes the queries bound to a session that is
// being invalidated.
func deleteSessionQueriesTxn(tx *memdb.Txn, idx uint64, session string) error {
	it, err := tx.Get(tablePreparedQueries, indexSession, session)
	if err != nil {
		return fmt.Errorf("read prepared queries of session %q: %w", session, err)
	}
	var bound []*structs.PreparedQuery
	for raw := it.Next(); raw != nil; raw = it.Next() {
		bound = append(bound, raw.(*structs.PreparedQuery))
	}
	for _, q := range bound {
		if err := preparedQueryDeleteTxn(tx, idx, q); err != nil {
			return err
		}
	}
	return nil
}

// PreparedQueryGet returns one query by ID, nil when unknown.
func (s *Store) PreparedQueryGet(ws memdb.WatchSet, id string) (uint64, *structs.PreparedQuery, error) {
	tx := s.db.Txn(false)
	defer tx.Abort()
	idx := nonZero(maxIndexTxn(tx, tablePreparedQueries))
	ch, raw, err := tx.FirstWatch(tablePreparedQueries, indexID, id)
	if err != nil {
		return 0, nil, fmt.Errorf("read prepared query %q: %w", id, err)
	}
	ws.Add(ch)
	if raw == nil {
		return idx, nil, nil
	}
	return idx, raw.(*structs.PreparedQuery).Clone(), nil
}

// PreparedQueryList returns every query, by ID.
func (s *Store) PreparedQueryList(ws memdb.WatchSet) (uint64, structs.PreparedQueries, error) {
	tx := s.db.Txn(false)
	defer tx.Abort()
	idx := nonZero(maxIndexTxn(tx, tablePreparedQueries))
	it, err := tx.Get(tablePreparedQueries, indexID)
	if err != nil {
		return 0, nil, fmt.Errorf("list prepared queries: %w", err)
	}
	ws.Add(it.WatchCh())
	out := structs.PreparedQueries{}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		out = append(out, raw.(*structs.PreparedQuery).Clone())
	}
	return idx, out, nil
}

// PreparedQueryResolve finds the query an ID or name stands for: by ID,
// then by exact name, then the template with the longest name that is a
// prefix of it. It returns nil when none matches; a template comes back
// unrendered.
func (s *Store) PreparedQueryResolve(ws memdb.WatchSet, idOrName string) (uint64, *structs.PreparedQuery, error) {
	tx := s.db.Txn(false)
	defer tx.Abort()
	idx := nonZero(maxIndexTxn(tx, tablePreparedQueries))
	if idOrName == "" {
		return idx, nil, nil
	}
	if isUUID(idOrName) {
		raw, err := tx.First(tablePreparedQueries, indexID, idOrName)
		if err != nil {
			return 0, nil, fmt.Errorf("read prepared query %q: %w", idOrName, err)
		}
		if raw != nil {
			return idx, raw.(*structs.PreparedQuery).Clone(), nil
		}
	}
	raw, err := tx.First(tablePreparedQueries, indexName, idOrName)
	if err != nil {
		return 0, nil, fmt.Errorf("read prepared query %q: %w", idOrName, err)
	}
	if raw != nil {
		return idx, raw.(*structs.PreparedQuery).Clone(), nil
	}
	it, err := tx.Get(tablePreparedQueries, indexID)
	if err != nil {
		return 0, nil, fmt.Errorf("list prepared queries: %w", err)
	}
	ws.Add(it.WatchCh())
	lower := strings.ToLower(idOrName)
	var best *structs.PreparedQuery
	for raw := it.Next(); raw != nil; raw = it.Next() {
		q := raw.(*structs.PreparedQuery)
		if !q.IsTemplate() || !strings.HasPrefix(lower, strings.ToLower(q.Name)) {
			continue
		}
		if best == nil || len(q.Name) > len(best.Name) {
			best = q
		}
	}
	if best == nil {
		return idx, nil, nil
	}
	return idx, best.Clone(), nil
}

// PreparedQueryFailoverSet writes the sticky state of a query that
// exists.
func (s *Store) PreparedQueryFailoverSet(idx uint64, st *structs.PreparedQueryFailoverStatus) error {
	return s.update(func(tx *memdb.Txn) error {
		raw, err := tx.First(tablePreparedQueries, indexID, st.QueryID)
		if err != nil {
			return fmt.Errorf("read prepared query %q: %w", st.QueryID, err)
		}
		if raw == nil {
			return structs.ErrQueryNotFound
		}
		c := *st
		c.CreateIndex, c.ModifyIndex = idx, idx
		old, err := tx.First(tableQueryFailover, indexID, st.QueryID)
		if err != nil {
			return fmt.Errorf("read failover state of %q: %w", st.QueryID, err)
		}
		if old != nil {
			c.CreateIndex = old.(*structs.PreparedQueryFailoverStatus).CreateIndex
		}
		if err := tx.Insert(tableQueryFailover, &c); err != nil {
			return fmt.Errorf("store failover state of %q: %w", st.QueryID, err)
		}
		return indexUpdateMaxTxn(tx, idx, tableQueryFailover)
	})
}

// PreparedQueryFailoverGet returns a query's sticky state, nil when it
// has none yet.
func (s *Store) PreparedQueryFailoverGet(ws memdb.WatchSet, id string) (uint64, *structs.PreparedQueryFailoverStatus, error) {
	tx := s.db.Txn(false)
	defer tx.Abort()
	idx := nonZero(maxIndexTxn(tx, tableQueryFailover, tablePreparedQueries))
	ch, raw, err := tx.FirstWatch(tableQueryFailover, indexID, id)
	if err != nil {
		return 0, nil, fmt.Errorf("read failover state of %q: %w", id, err)
	}
	ws.Add(ch)
	if raw == nil {
		return idx, nil, nil
	}
	c := *raw.(*structs.PreparedQueryFailoverStatus)
	return idx, &c, nil
}

// PreparedQueryFailoverList returns every sticky state.
func (s *Store) PreparedQueryFailoverList(ws memdb.WatchSet) (uint64, []*structs.PreparedQueryFailoverStatus, error) {
	tx := s.db.Txn(false)
	defer tx.Abort()
	idx := nonZero(maxIndexTxn(tx, tableQueryFailover))
	it, err := tx.Get(tableQueryFailover, indexID)
	if err != nil {
		return 0, nil, fmt.Errorf("list failover states: %w", err)
	}
	ws.Add(it.WatchCh())
	var out []*structs.PreparedQueryFailoverStatus
	for raw := it.Next(); raw != nil; raw = it.Next() {
		c := *raw.(*structs.PreparedQueryFailoverStatus)
		out = append(out, &c)
	}
	return idx, out, nil
}
