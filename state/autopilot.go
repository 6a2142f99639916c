package state

import (
	"fmt"

	memdb "github.com/hashicorp/go-memdb"

	"github.com/meridian-sd/meridian/structs"
)

// Autopilot state: one row, the autopilot configuration, written through
// Raft so that every server and every future leader applies the same.

// tableAutopilot holds the autopilot configuration (at most one row).
const tableAutopilot = "autopilot-config"

func autopilotTableSchema() *memdb.TableSchema {
	return &memdb.TableSchema{
		Name: tableAutopilot,
		Indexes: map[string]*memdb.IndexSchema{
			// The table has one row: every row indexes as the same key.
			indexID: {
				Name:         indexID,
				AllowMissing: true,
				Unique:       true,
				Indexer: &memdb.ConditionalIndex{
					Conditional: func(any) (bool, error) { return true, nil },
				},
			},
		},
	}
}

// AutopilotConfig returns the stored configuration with the table's
// index; nil when none was ever written.
func (s *Store) AutopilotConfig() (uint64, *structs.AutopilotConfig, error) {
	tx := s.db.Txn(false)
	defer tx.Abort()
	raw, err := tx.First(tableAutopilot, indexID)
	if err != nil {
		return 0, nil, fmt.Errorf("read autopilot config: %w", err)
	}
	idx := maxIndexTxn(tx, tableAutopilot)
	if raw == nil {
		return idx, nil, nil
	}
	c := *raw.(*structs.AutopilotConfig)
	return idx, &c, nil
}

// AutopilotSetConfig stores the configuration at idx.
func (s *Store) AutopilotSetConfig(idx uint64, c *structs.AutopilotConfig) error {
	return s.update(func(tx *memdb.Txn) error {
		return autopilotSetConfigTxn(tx, idx, c)
	})
}

// AutopilotCASConfig stores the configuration at idx only when the stored
// one's ModifyIndex is cidx (0: only when none is stored). It reports
// whether it did.
func (s *Store) AutopilotCASConfig(idx, cidx uint64, c *structs.AutopilotConfig) (bool, error) {
	ok := false
	err := s.update(func(tx *memdb.Txn) error {
		raw, err := tx.First(tableAutopilot, indexID)
		if err != nil {
			return fmt.Errorf("read autopilot config: %w", err)
		}
		switch {
		case raw == nil && cidx != 0:
			return nil
		case raw != nil && raw.(*structs.AutopilotConfig).ModifyIndex != cidx:
			return nil
		}
		ok = true
		return autopilotSetConfigTxn(tx, idx, c)
	})
	return ok, err
}

func autopilotSetConfigTxn(tx *memdb.Txn, idx uint64, c *structs.AutopilotConfig) error {
	raw, err := tx.First(tableAutopilot, indexID)
	if err != nil {
		return fmt.Errorf("read autopilot config: %w", err)
	}
	row := *c
	row.CreateIndex, row.ModifyIndex = idx, idx
	if raw != nil {
		row.CreateIndex = raw.(*structs.AutopilotConfig).CreateIndex
	}
	if err := tx.Insert(tableAutopilot, &row); err != nil {
		return fmt.Errorf("store autopilot config: %w", err)
	}
	return indexUpdateMaxTxn(tx, idx, tableAutopilot)
}
