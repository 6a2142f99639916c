package structs

import "time"

// SnapshotOp says what a snapshot request asks for.
type SnapshotOp uint8

// The snapshot operations. Values cross the wire: never renumber.
const (
	// SnapshotSave asks for an archive of the state.
	SnapshotSave SnapshotOp = 1
	// SnapshotRestore installs the archive that follows the request.
	SnapshotRestore SnapshotOp = 2
)

// String names the operation for logs and errors.
func (op SnapshotOp) String() string {
	switch op {
	case SnapshotSave:
		return "save"
	case SnapshotRestore:
		return "restore"
	}
	return "unknown"
}

// DefaultMaxSnapshotSize is the default cap on a snapshot archive in
// bytes, compressed, and on the state it holds, uncompressed: what a
// restore may make an agent or a server write to disk and read back. A
// store of a million KV entries of 100 bytes each is well under it.
const DefaultMaxSnapshotSize int64 = 1 << 30

// SnapshotRequest opens a snapshot stream on the server port (see
// rpc.ProtoSnapshot). A restore's archive, Size bytes, follows it on the
// stream.
type SnapshotRequest struct {
	// Datacenter is the datacenter whose state is saved or restored;
	// empty means the server's own.
	Datacenter string
	// Token is the caller's ACL token (its SecretID). Never logged.
	Token string
	// AllowStale lets any server answer a save from its own state instead
	// of the leader.
	AllowStale bool
	// Op is the operation.
	Op SnapshotOp
	// Size is the length of the archive that follows a restore request,
	// in bytes; zero for a save.
	Size int64
}

// RequestDatacenter implements RPCInfo.
func (r *SnapshotRequest) RequestDatacenter() string { return r.Datacenter }

// IsRead implements RPCInfo: a save reads.
func (r *SnapshotRequest) IsRead() bool { return r.Op == SnapshotSave }

// AllowStaleRead implements RPCInfo.
func (r *SnapshotRequest) AllowStaleRead() bool { return r.Op == SnapshotSave && r.AllowStale }

// Validate implements Validator. It does not know the server's size cap,
// which the server checks itself.
func (r *SnapshotRequest) Validate() error {
	var v validator
	v.dc("datacenter", r.Datacenter)
	v.name("token", r.Token)
	switch r.Op {
	case SnapshotSave:
		if r.Size != 0 {
			v.fail(CodeBadRequest, "a snapshot save request carries no archive, got a size of %d bytes", r.Size)
		}
	case SnapshotRestore:
		if r.Size <= 0 {
			v.fail(CodeBadRequest, "a snapshot restore request needs an archive: got a size of %d bytes", r.Size)
		}
		if r.AllowStale {
			v.fail(CodeBadRequest, "a snapshot restore cannot be stale")
		}
	default:
		v.fail(CodeBadRequest, "unknown snapshot operation %d", r.Op)
	}
	return v.err
}

// SnapshotResponse answers a SnapshotRequest. A save's archive, Size
// bytes, follows it on the stream.
type SnapshotResponse struct {
	// Error is the failure, encoded as EncodeRPCError does; empty on
	// success.
	Error string
	// Size is the length of the archive that follows a save, in bytes.
	Size int64
	// Index is the Raft index of the saved or restored state.
	Index uint64
	// LastContact and KnownLeader are the answering server's, as in
	// QueryMeta.
	LastContact time.Duration
	KnownLeader bool
}
