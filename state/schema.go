package state

import (
	"fmt"

	memdb "github.com/hashicorp/go-memdb"
)

// Table names. The same names key the index table, so MaxIndex takes them.
const (
	tableIndex         = "index"
	tableNodes         = "nodes"
	tableServices      = "services"
	tableChecks        = "checks"
	tableKVs           = "kvs"
	tableTombstones    = "tombstones"
	tableSessions      = "sessions"
	tableSessionChecks = "session_checks"
	tableCoordinates   = "coordinates"
)

// Index names used across tables.
const (
	indexID          = "id"
	indexNode        = "node"
	indexService     = "service"
	indexStatus      = "status"
	indexMeta        = "meta"
	indexUUID        = "uuid"
	indexSession     = "session"
	indexNodeService = "node_service"
	indexNodeCheck   = "node_check"
)

// Extra rows of the index table that are not table names.
const (
	// indexServicePrefix prefixes the per-service index rows
	// ("service.web"), bumped by every change that can alter a health or
	// catalog answer about that service.
	indexServicePrefix = "service."
	// indexServiceExtinction is the index at which the last instance of
	// some service went away. A query about a service that has no
	// instances answers with it, so its index never goes backwards when
	// the per-service row is dropped.
	indexServiceExtinction = "service_last_extinction"
	// indexTombstonesReaped is the highest index of any tombstone reaped so
	// far. KV list answers never fall below it, so reaping a tombstone can
	// not move a listing's index backwards.
	indexTombstonesReaped = "tombstones_reaped"
)

// indexEntry is a row of the index table: the highest Raft index that
// touched a table (or one of the extra rows above).
type indexEntry struct {
	Key   string
	Value uint64
}

// tombstone records a deleted key and the index of its deletion, so that
// KV reads about it do not move their index backwards.
type tombstone struct {
	Key   string
	Index uint64
}

// sessionCheck maps a health check to a session that depends on it, so
// that a check turning critical finds the sessions to invalidate.
type sessionCheck struct {
	Node    string
	CheckID string
	Session string
}

// schemaFn returns the schema of one table.
type schemaFn func() *memdb.TableSchema

// stateStoreSchema returns the whole memdb schema, one function per table.
func stateStoreSchema() (*memdb.DBSchema, error) {
	db := &memdb.DBSchema{Tables: map[string]*memdb.TableSchema{}}
	for _, fn := range []schemaFn{
		indexTableSchema,
		nodesTableSchema,
		servicesTableSchema,
		checksTableSchema,
		kvsTableSchema,
		tombstonesTableSchema,
		sessionsTableSchema,
		sessionChecksTableSchema,
		coordinatesTableSchema,
		aclPoliciesTableSchema,
		aclRolesTableSchema,
		aclTokensTableSchema,
		preparedQueriesTableSchema,
		queryFailoverTableSchema,
		autopilotTableSchema,
	} {
		t := fn()
		if _, ok := db.Tables[t.Name]; ok {
			return nil, fmt.Errorf("duplicate table %q", t.Name)
		}
		db.Tables[t.Name] = t
	}
	if err := db.Validate(); err != nil {
		return nil, fmt.Errorf("validate schema: %w", err)
	}
	return db, nil
}

// nodeIndexer indexes the Node field case-insensitively, as Consul treats
// node names.
func nodeIndexer() *memdb.StringFieldIndex {
	return &memdb.StringFieldIndex{Field: "Node", Lowercase: true}
}

func indexTableSchema() *memdb.TableSchema {
	return &memdb.TableSchema{
		Name: tableIndex,
		Indexes: map[string]*memdb.IndexSchema{
			indexID: {
				Name:    indexID,
				Unique:  true,
				Indexer: &memdb.StringFieldIndex{Field: "Key", Lowercase: true},
			},
		},
	}
}

func nodesTableSchema() *memdb.TableSchema {
	return &memdb.TableSchema{
		Name: tableNodes,
		Indexes: map[string]*memdb.IndexSchema{
			indexID: {
				Name:    indexID,
				Unique:  true,
				Indexer: nodeIndexer(),
			},
			indexUUID: {
				Name:         indexUUID,
				AllowMissing: true,
				Indexer:      &memdb.StringFieldIndex{Field: "ID", Lowercase: true},
			},
			indexMeta: {
				Name:         indexMeta,
				AllowMissing: true,
				Indexer:      &memdb.StringMapFieldIndex{Field: "Meta"},
			},
		},
	}
}

// servicesTableSchema stores *structs.ServiceNode records holding only the
// service fields and the node name; node fields are joined on read.
func servicesTableSchema() *memdb.TableSchema {
	return &memdb.TableSchema{
		Name: tableServices,
		Indexes: map[string]*memdb.IndexSchema{
			indexID: {
				Name:   indexID,
				Unique: true,
				Indexer: &memdb.CompoundIndex{Indexes: []memdb.Indexer{
					nodeIndexer(),
					&memdb.StringFieldIndex{Field: "ServiceID"},
				}},
			},
			indexNode: {
				Name:    indexNode,
				Indexer: nodeIndexer(),
			},
			indexService: {
				Name:    indexService,
				Indexer: &memdb.StringFieldIndex{Field: "ServiceName", Lowercase: true},
			},
		},
	}
}

func checksTableSchema() *memdb.TableSchema {
	return &memdb.TableSchema{
		Name: tableChecks,
		Indexes: map[string]*memdb.IndexSchema{
			indexID: {
				Name:   indexID,
				Unique: true,
				Indexer: &memdb.CompoundIndex{Indexes: []memdb.Indexer{
					nodeIndexer(),
					&memdb.StringFieldIndex{Field: "CheckID"},
				}},
			},
			indexStatus: {
				Name:    indexStatus,
				Indexer: &memdb.StringFieldIndex{Field: "Status"},
			},
			indexService: {
				Name:         indexService,
				AllowMissing: true,
				Indexer:      &memdb.StringFieldIndex{Field: "ServiceName", Lowercase: true},
			},
			indexNode: {
				Name:    indexNode,
				Indexer: nodeIndexer(),
			},
			indexNodeService: {
				Name:         indexNodeService,
				AllowMissing: true,
				Indexer: &memdb.CompoundIndex{Indexes: []memdb.Indexer{
					nodeIndexer(),
					&memdb.StringFieldIndex{Field: "ServiceID"},
				}},
			},
		},
	}
}

func kvsTableSchema() *memdb.TableSchema {
	return &memdb.TableSchema{
		Name: tableKVs,
		Indexes: map[string]*memdb.IndexSchema{
			indexID: {
				Name:    indexID,
				Unique:  true,
				Indexer: &memdb.StringFieldIndex{Field: "Key"},
			},
			indexSession: {
				Name:         indexSession,
				AllowMissing: true,
				Indexer:      &memdb.StringFieldIndex{Field: "Session"},
			},
		},
	}
}

func tombstonesTableSchema() *memdb.TableSchema {
	return &memdb.TableSchema{
		Name: tableTombstones,
		Indexes: map[string]*memdb.IndexSchema{
			indexID: {
				Name:    indexID,
				Unique:  true,
				Indexer: &memdb.StringFieldIndex{Field: "Key"},
			},
		},
	}
}

func sessionsTableSchema() *memdb.TableSchema {
	return &memdb.TableSchema{
		Name: tableSessions,
		Indexes: map[string]*memdb.IndexSchema{
			indexID: {
				Name:    indexID,
				Unique:  true,
				Indexer: &memdb.StringFieldIndex{Field: "ID"},
			},
			indexNode: {
				Name:    indexNode,
				Indexer: nodeIndexer(),
			},
		},
	}
}

func sessionChecksTableSchema() *memdb.TableSchema {
	return &memdb.TableSchema{
		Name: tableSessionChecks,
		Indexes: map[string]*memdb.IndexSchema{
			indexID: {
				Name:   indexID,
				Unique: true,
				Indexer: &memdb.CompoundIndex{Indexes: []memdb.Indexer{
					nodeIndexer(),
					&memdb.StringFieldIndex{Field: "CheckID"},
					&memdb.StringFieldIndex{Field: "Session"},
				}},
			},
			indexNodeCheck: {
				Name: indexNodeCheck,
				Indexer: &memdb.CompoundIndex{Indexes: []memdb.Indexer{
					nodeIndexer(),
					&memdb.StringFieldIndex{Field: "CheckID"},
				}},
			},
			indexSession: {
				Name:    indexSession,
				Indexer: &memdb.StringFieldIndex{Field: "Session"},
			},
		},
	}
}

func coordinatesTableSchema() *memdb.TableSchema {
	return &memdb.TableSchema{
		Name: tableCoordinates,
		Indexes: map[string]*memdb.IndexSchema{
			indexID: {
				Name:   indexID,
				Unique: true,
				Indexer: &memdb.CompoundIndex{
					// The segment is empty for the default LAN segment.
					AllowMissing: true,
					Indexes: []memdb.Indexer{
						nodeIndexer(),
						&memdb.StringFieldIndex{Field: "Segment"},
					},
				},
			},
			indexNode: {
				Name:    indexNode,
				Indexer: nodeIndexer(),
			},
		},
	}
}
