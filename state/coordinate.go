package state

import (
	"fmt"

	memdb "github.com/hashicorp/go-memdb"

	"github.com/meridian-sd/meridian/structs"
)

// CoordinateBatchUpdate stores LAN coordinates. Updates for unknown nodes,
// and updates without a valid coordinate, are skipped: a node may leave
// between an agent's report and the leader's batch.
func (s *Store) CoordinateBatchUpdate(idx uint64, updates structs.Coordinates) error {
	return s.update(func(tx *memdb.Txn) error { return s.coordinateBatchUpdateTxn(tx, idx, updates) })
}

func (s *Store) coordinateBatchUpdateTxn(tx *memdb.Txn, idx uint64, updates structs.Coordinates) error {
	changed := false
	for _, u := range updates {
		if u == nil || u.Coord == nil || !u.Coord.IsValid() {
			continue
		}
		n, err := getNodeTxn(tx, u.Node)
		if err != nil {
			return err
		}
		if n == nil {
			continue
		}
		c := cloneCoordinate(u)
		c.Node = n.Node
		if err := tx.Insert(tableCoordinates, c); err != nil {
			return fmt.Errorf("update coordinate of node %q: %w", n.Node, err)
		}
		changed = true
	}
	if changed {
		return indexUpdateMaxTxn(tx, idx, tableCoordinates)
	}
	return nil
}

// Coordinates returns every stored coordinate, in node order.
func (s *Store) Coordinates(ws memdb.WatchSet) (uint64, structs.Coordinates, error) {
	tx := s.db.Txn(false)
	defer tx.Abort()
	return coordinatesTxn(tx, ws, indexID)
}

// Coordinate returns the coordinates of one node, one per segment.
func (s *Store) Coordinate(ws memdb.WatchSet, node string) (uint64, structs.Coordinates, error) {
	tx := s.db.Txn(false)
	defer tx.Abort()
	return coordinatesTxn(tx, ws, indexNode, node)
}

func coordinatesTxn(tx *memdb.Txn, ws memdb.WatchSet, index string, args ...any) (uint64, structs.Coordinates, error) {
	idx := nonZero(maxIndexTxn(tx, tableCoordinates))
	it, err := tx.Get(tableCoordinates, index, args...)
	if err != nil {
		return 0, nil, fmt.Errorf("read coordinates: %w", err)
	}
	ws.Add(it.WatchCh())
	out := structs.Coordinates{}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		out = append(out, cloneCoordinate(raw.(*structs.Coordinate)))
	}
	return idx, out, nil
}
