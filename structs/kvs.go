package structs

// MaxKVSize is the largest value a key may hold (512 KiB, as Consul's default).
const MaxKVSize = 512 * 1024

// DirEntry is one key in the KV store, in Consul's KVPair shape.
type DirEntry struct {
	LockIndex   uint64
	Key         string
	Flags       uint64
	Value       []byte
	Session     string `json:",omitempty"`
	CreateIndex uint64
	ModifyIndex uint64
}

// DirEntries is a list of keys.
type DirEntries []*DirEntry

// KVSOp is a KV write verb.
type KVSOp string

// KV verbs, as Consul's transaction verbs; the plain KV endpoint uses a subset.
const (
	KVSSet            KVSOp = "set"
	KVSDelete         KVSOp = "delete"
	KVSDeleteCAS      KVSOp = "delete-cas"
	KVSDeleteTree     KVSOp = "delete-tree"
	KVSCAS            KVSOp = "cas"
	KVSLock           KVSOp = "lock"
	KVSUnlock         KVSOp = "unlock"
	KVSGet            KVSOp = "get"
	KVSGetOrEmpty     KVSOp = "get-or-empty"
	KVSGetTree        KVSOp = "get-tree"
	KVSCheckSession   KVSOp = "check-session"
	KVSCheckIndex     KVSOp = "check-index"
	KVSCheckNotExists KVSOp = "check-not-exists"
)

// IsWrite reports whether the verb changes the store.
func (op KVSOp) IsWrite() bool {
	switch op {
	case KVSGet, KVSGetOrEmpty, KVSGetTree, KVSCheckSession, KVSCheckIndex, KVSCheckNotExists:
		return false
	}
	return true
}

// KVSRequest is a single KV write.
type KVSRequest struct {
	Datacenter string
	Op         KVSOp
	DirEnt     DirEntry
	WriteRequest
}

// RequestDatacenter implements RPCInfo.
func (r *KVSRequest) RequestDatacenter() string { return r.Datacenter }

// KeyRequest reads one key or a prefix.
type KeyRequest struct {
	Datacenter string
	Key        string
	QueryOptions
}

// RequestDatacenter implements RPCInfo.
func (r *KeyRequest) RequestDatacenter() string { return r.Datacenter }

// KeyListRequest lists keys under a prefix up to a separator.
type KeyListRequest struct {
	Datacenter string
	Prefix     string
	Seperator  string
	QueryOptions
}

// RequestDatacenter implements RPCInfo.
func (r *KeyListRequest) RequestDatacenter() string { return r.Datacenter }

// IndexedDirEntries answers key reads.
type IndexedDirEntries struct {
	Entries DirEntries
	QueryMeta
}

// IndexedKeyList answers key listings.
type IndexedKeyList struct {
	Keys []string
	QueryMeta
}

// TombstoneOp is a tombstone maintenance verb.
type TombstoneOp string

// TombstoneReap removes tombstones up to an index.
const TombstoneReap TombstoneOp = "reap"

// TombstoneRequest is the leader's order to reap old tombstones.
type TombstoneRequest struct {
	Datacenter string
	Op         TombstoneOp
	ReapIndex  uint64
	WriteRequest
}

// RequestDatacenter implements RPCInfo.
func (r *TombstoneRequest) RequestDatacenter() string { return r.Datacenter }
