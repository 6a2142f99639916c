package state

// Snapshot format
//
// A snapshot is a header followed by records and an end record:
//
//	header:  "MRDNSNAP" (8 bytes), format version (1 byte)
//	record:  type (1 byte), payload length (uvarint), payload
//	end:     type 0xff, length 0
//
// Each payload is one msgpack-encoded object (structs.NewMsgpackHandle).
// Records come in dependency order: nodes, services, checks, sessions, KV
// entries, tombstones, coordinates, ACL policies, roles and tokens,
// prepared queries and their failover states, the autopilot configuration,
// then the rows of the index table (the ACL bootstrap marker among them),
// so a restore can check every reference as it reads. Lock delays are not
// saved; they are not replicated state.
//
// Lengths are checked before anything is allocated for a payload, and a
// stream that stops before the end record is an error, so a truncated or
// corrupt snapshot is refused instead of half-restored.

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	memdb "github.com/hashicorp/go-memdb"
	"github.com/hashicorp/go-msgpack/v2/codec"

	"github.com/meridian-sd/meridian/structs"
)

const (
	snapshotMagic   = "MRDNSNAP"
	snapshotVersion = 1
	// maxRecordSize bounds one record's payload, in Persist and in Restore
	// alike, so that a snapshot that could be written can be read back.
	// A record holds what at most two Raft entries brought (a check record
	// carries its service's name and tags; any other record comes from one
	// entry), and
	// every entry is at most structs.MaxRaftEntrySize: so no record a
	// store can hold is refused. Restore does not allocate a record's
	// length up front, so a corrupt length costs nothing extra.
	maxRecordSize = 2 * structs.MaxRaftEntrySize
)

// recordType says what a snapshot record holds. Values are part of the
// on-disk format: never renumber.
type recordType uint8

const (
	recordNode       recordType = 1
	recordService    recordType = 2
	recordCheck      recordType = 3
	recordSession    recordType = 4
	recordKV         recordType = 5
	recordTombstone  recordType = 6
	recordCoordinate recordType = 7
	recordIndex      recordType = 8
	// ACL records start at 20.
	recordACLPolicy recordType = 20
	recordACLRole   recordType = 21
	recordACLToken  recordType = 22
	// Prepared query records start at 30.
	recordPreparedQuery         recordType = 30
	recordPreparedQueryFailover recordType = 31

	recordEnd recordType = 0xff
)

// recordAutopilotConfig holds the autopilot configuration (autopilot.go);
// operator records start at 40.
const recordAutopilotConfig recordType = 40

// Snapshot is a consistent point-in-time view of the store that can be
// written out while writes go on.
type Snapshot struct {
	tx *memdb.Txn
}

// Snapshot returns a point-in-time view of the store. Close it when done.
func (s *Store) Snapshot() *Snapshot {
	return &Snapshot{tx: s.db.Txn(false)}
}

// LastIndex returns the highest index in the snapshot.
func (snap *Snapshot) LastIndex() uint64 {
	return maxIndexAllTxn(snap.tx)
}

// Close releases the snapshot.
func (snap *Snapshot) Close() {
	snap.tx.Abort()
}

// Persist writes the whole snapshot to w.
func (snap *Snapshot) Persist(w io.Writer) error {
	bw := bufio.NewWriter(w)
	if _, err := bw.WriteString(snapshotMagic); err != nil {
		return fmt.Errorf("persist snapshot header: %w", err)
	}
	if err := bw.WriteByte(snapshotVersion); err != nil {
		return fmt.Errorf("persist snapshot header: %w", err)
	}
	enc := &recordWriter{w: bw, h: structs.NewMsgpackHandle()}
	tables := []struct {
		table string
		typ   recordType
		conv  func(any) any
	}{
		{tableNodes, recordNode, nil},
		{tableServices, recordService, nil},
		{tableChecks, recordCheck, nil},
		{tableSessions, recordSession, nil},
		{tableKVs, recordKV, nil},
		{tableTombstones, recordTombstone, func(raw any) any {
			t := raw.(*tombstone)
			return &Tombstone{Key: t.Key, Index: t.Index}
		}},
		{tableCoordinates, recordCoordinate, nil},
		{tableACLPolicies, recordACLPolicy, nil},
		{tableACLRoles, recordACLRole, nil},
		{tableACLTokens, recordACLToken, nil},
		{tablePreparedQueries, recordPreparedQuery, nil},
		{tableQueryFailover, recordPreparedQueryFailover, nil},
		{tableAutopilot, recordAutopilotConfig, nil},
		{tableIndex, recordIndex, nil},
	}
	for _, t := range tables {
		it, err := snap.tx.Get(t.table, indexID)
		if err != nil {
			return fmt.Errorf("persist %s: %w", t.table, err)
		}
		for raw := it.Next(); raw != nil; raw = it.Next() {
			if t.conv != nil {
				raw = t.conv(raw)
			}
			if err := enc.write(t.typ, raw); err != nil {
				return fmt.Errorf("persist %s: %w", t.table, err)
			}
		}
	}
	if err := enc.write(recordEnd, nil); err != nil {
		return fmt.Errorf("persist snapshot end: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("persist snapshot: %w", err)
	}
	return nil
}

// recordWriter frames records.
type recordWriter struct {
	w   *bufio.Writer
	h   *codec.MsgpackHandle
	buf bytes.Buffer
}

func (rw *recordWriter) write(typ recordType, obj any) error {
	rw.buf.Reset()
	if obj != nil {
		if err := codec.NewEncoder(&rw.buf, rw.h).Encode(obj); err != nil {
			return fmt.Errorf("encode record %d: %w", typ, err)
		}
	}
	if rw.buf.Len() > maxRecordSize {
		return fmt.Errorf("record %d of %d bytes exceeds the limit of %d", typ, rw.buf.Len(), maxRecordSize)
	}
	var hdr [1 + binary.MaxVarintLen64]byte
	hdr[0] = byte(typ)
	n := binary.PutUvarint(hdr[1:], uint64(rw.buf.Len()))
	if _, err := rw.w.Write(hdr[:1+n]); err != nil {
		return err
	}
	_, err := rw.w.Write(rw.buf.Bytes())
	return err
}

// ErrCorruptSnapshot is wrapped by every error Restore returns about the
// content of the stream (rather than about reading it).
var ErrCorruptSnapshot = errors.New("corrupt snapshot")

// errRecoveredPanic marks a restore error that came from a recovered
// panic, so that the fuzz test can still flag such inputs as bugs.
var errRecoveredPanic = errors.New("recovered panic")

// Restore builds a fresh store from a stream written by Persist. It
// refuses a stream that is not a complete snapshot of a known version, or
// whose records are inconsistent, and never panics on bad input.
func Restore(r io.Reader) (st *Store, err error) {
	defer func() {
		// The decoder recovers its own panics; this is the last line of
		// defence for anything a corrupt stream could still provoke.
		if p := recover(); p != nil {
			st, err = nil, fmt.Errorf("restore: %w: %w: %v", ErrCorruptSnapshot, errRecoveredPanic, p)
		}
	}()
	br := bufio.NewReader(r)
	var hdr [len(snapshotMagic) + 1]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return nil, fmt.Errorf("restore: read header: %w", corruptIfEOF(err))
	}
	if string(hdr[:len(snapshotMagic)]) != snapshotMagic {
		return nil, fmt.Errorf("restore: %w: not a Meridian state snapshot", ErrCorruptSnapshot)
	}
	if v := hdr[len(snapshotMagic)]; v != snapshotVersion {
		return nil, fmt.Errorf("restore: %w: unsupported snapshot version %d", ErrCorruptSnapshot, v)
	}

	st, err = NewStore()
	if err != nil {
		return nil, err
	}
	tx := st.writeTxn()
	defer tx.Abort()
	rr := &restorer{tx: tx, h: structs.NewLogHandle()}
	var payload bytes.Buffer
	for n := 0; ; n++ {
		typ, err := readRecord(br, &payload)
		if err != nil {
			return nil, fmt.Errorf("restore: record %d: %w", n, err)
		}
		if typ == recordEnd {
			break
		}
		if err := rr.apply(typ, payload.Bytes()); err != nil {
			return nil, fmt.Errorf("restore: record %d: %w", n, err)
		}
	}
	st.commit(tx)
	return st, nil
}

// corruptIfEOF turns a premature end of stream into ErrCorruptSnapshot.
func corruptIfEOF(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: truncated", ErrCorruptSnapshot)
	}
	return err
}

// readRecord reads one record's type and payload into buf.
func readRecord(br *bufio.Reader, buf *bytes.Buffer) (recordType, error) {
	b, err := br.ReadByte()
	if err != nil {
		return 0, corruptIfEOF(err)
	}
	typ := recordType(b)
	size, err := binary.ReadUvarint(br)
	if err != nil {
		return 0, fmt.Errorf("read length: %w", corruptIfEOF(err))
	}
	if size > maxRecordSize {
		return 0, fmt.Errorf("%w: record of %d bytes exceeds the limit of %d", ErrCorruptSnapshot, size, maxRecordSize)
	}
	if typ == recordEnd && size != 0 {
		return 0, fmt.Errorf("%w: end record with a payload", ErrCorruptSnapshot)
	}
	buf.Reset()
	// Copy instead of allocating size bytes up front: a corrupt length
	// then costs no more memory than the data actually present.
	if _, err := io.CopyN(buf, br, int64(size)); err != nil {
		return 0, fmt.Errorf("read payload: %w", corruptIfEOF(err))
	}
	return typ, nil
}

// restorer inserts decoded records, checking them as it goes.
type restorer struct {
	tx *memdb.Txn
	h  *codec.MsgpackHandle
}

func (rr *restorer) decode(payload []byte, out any) error {
	dec := codec.NewDecoderBytes(payload, rr.h)
	if err := dec.Decode(out); err != nil {
		return fmt.Errorf("%w: decode: %v", ErrCorruptSnapshot, err)
	}
	if n := dec.NumBytesRead(); n != len(payload) {
		return corrupt("%d stray bytes after the record", len(payload)-n)
	}
	return nil
}

// corrupt formats a content error.
func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorruptSnapshot, fmt.Sprintf(format, args...))
}

func (rr *restorer) exists(table, index string, args ...any) (bool, error) {
	raw, err := rr.tx.First(table, index, args...)
	if err != nil {
		return false, corrupt("look up %s: %v", table, err)
	}
	return raw != nil, nil
}

// insertNew inserts obj, refusing one whose primary key is already taken.
func (rr *restorer) insertNew(table string, obj any, args ...any) error {
	dup, err := rr.exists(table, indexID, args...)
	if err != nil {
		return err
	}
	if dup {
		return corrupt("duplicate %s record %q", table, fmt.Sprint(args...))
	}
	if err := rr.tx.Insert(table, obj); err != nil {
		return corrupt("insert %s: %v", table, err)
	}
	return nil
}

// needNode checks that a record's node has been restored already.
func (rr *restorer) needNode(what, node string) error {
	ok, err := rr.exists(tableNodes, indexID, node)
	if err != nil {
		return err
	}
	if !ok {
		return corrupt("%s refers to unknown node %q", what, node)
	}
	return nil
}

func (rr *restorer) apply(typ recordType, payload []byte) error {
	switch typ {
	case recordNode:
		var n structs.Node
		if err := rr.decode(payload, &n); err != nil {
			return err
		}
		if n.Node == "" {
			return corrupt("node without a name")
		}
		return rr.insertNew(tableNodes, &n, n.Node)

	case recordService:
		var svc structs.ServiceNode
		if err := rr.decode(payload, &svc); err != nil {
			return err
		}
		if svc.ServiceID == "" || svc.ServiceName == "" {
			return corrupt("service without an ID or name")
		}
		if err := rr.needNode("service "+svc.ServiceID, svc.Node); err != nil {
			return err
		}
		return rr.insertNew(tableServices, &svc, svc.Node, svc.ServiceID)

	case recordCheck:
		var hc structs.HealthCheck
		if err := rr.decode(payload, &hc); err != nil {
			return err
		}
		if hc.CheckID == "" || !structs.ValidHealthStatus(hc.Status) {
			return corrupt("check %q without an ID or with status %q", hc.CheckID, hc.Status)
		}
		if err := rr.needNode("check "+hc.CheckID, hc.Node); err != nil {
			return err
		}
		if hc.ServiceID != "" {
			ok, err := rr.exists(tableServices, indexID, hc.Node, hc.ServiceID)
			if err != nil {
				return err
			}
			if !ok {
				return corrupt("check %q refers to unknown service %q", hc.CheckID, hc.ServiceID)
			}
		}
		return rr.insertNew(tableChecks, &hc, hc.Node, hc.CheckID)

	case recordSession:
		var sess structs.Session
		if err := rr.decode(payload, &sess); err != nil {
			return err
		}
		if sess.ID == "" {
			return corrupt("session without an ID")
		}
		if err := rr.needNode("session "+sess.ID, sess.Node); err != nil {
			return err
		}
		if err := rr.insertNew(tableSessions, &sess, sess.ID); err != nil {
			return err
		}
		ids := append([]string{}, sess.NodeChecks...)
		for _, sc := range sess.ServiceChecks {
			ids = append(ids, sc.ID)
		}
		for _, id := range ids {
			ok, err := rr.exists(tableChecks, indexID, sess.Node, id)
			if err != nil {
				return err
			}
			if !ok {
				return corrupt("session %q depends on unknown check %q", sess.ID, id)
			}
			if err := rr.tx.Insert(tableSessionChecks, &sessionCheck{Node: sess.Node, CheckID: id, Session: sess.ID}); err != nil {
				return corrupt("bind session %q: %v", sess.ID, err)
			}
		}
		return nil

	case recordKV:
		var e structs.DirEntry
		if err := rr.decode(payload, &e); err != nil {
			return err
		}
		if e.Key == "" {
			return corrupt("key without a name")
		}
		if e.Session != "" {
			ok, err := rr.exists(tableSessions, indexID, e.Session)
			if err != nil {
				return err
			}
			if !ok {
				return corrupt("key %q held by unknown session %q", e.Key, e.Session)
			}
		}
		return rr.insertNew(tableKVs, &e, e.Key)

	case recordTombstone:
		var t Tombstone
		if err := rr.decode(payload, &t); err != nil {
			return err
		}
		if t.Key == "" {
			return corrupt("tombstone without a key")
		}
		return rr.insertNew(tableTombstones, &tombstone{Key: t.Key, Index: t.Index}, t.Key)

	case recordCoordinate:
		var c structs.Coordinate
		if err := rr.decode(payload, &c); err != nil {
			return err
		}
		if err := rr.needNode("coordinate", c.Node); err != nil {
			return err
		}
		if c.Coord == nil || !c.Coord.IsValid() {
			return corrupt("invalid coordinate for node %q", c.Node)
		}
		// The id index leaves an empty segment out of the key, so a
		// lookup by (node, "") would not find the row: insert directly,
		// a repeated coordinate just replaces the earlier one.
		if err := rr.tx.Insert(tableCoordinates, &c); err != nil {
			return corrupt("insert coordinate: %v", err)
		}
		return nil

	case recordACLPolicy, recordACLRole, recordACLToken:
		return rr.applyACL(typ, payload)

	case recordPreparedQuery, recordPreparedQueryFailover:
		return rr.applyPreparedQuery(typ, payload)

	case recordAutopilotConfig:
		var c structs.AutopilotConfig
		if err := rr.decode(payload, &c); err != nil {
			return err
		}
		if err := c.Validate(); err != nil {
			return corrupt("autopilot config: %v", err)
		}
		if err := rr.insertNew(tableAutopilot, &c); err != nil {
			return err
		}
		return nil

	case recordIndex:
		var e indexEntry
		if err := rr.decode(payload, &e); err != nil {
			return err
		}
		if e.Key == "" {
			return corrupt("index row without a key")
		}
		return rr.insertNew(tableIndex, &e, e.Key)
	}
	return corrupt("unknown record type %d", typ)
}

// applyACL restores one ACL record. Links to policies or roles that no
// longer exist are legal (they are dropped on read), so they are not
// checked; unique IDs, names and secrets are.
func (rr *restorer) applyACL(typ recordType, payload []byte) error {
	switch typ {
	case recordACLPolicy:
		var p structs.ACLPolicy
		if err := rr.decode(payload, &p); err != nil {
			return err
		}
		if p.ID == "" || p.Name == "" {
			return corrupt("ACL policy without an ID or name")
		}
		if dup, err := rr.exists(tableACLPolicies, indexName, p.Name); err != nil || dup {
			return firstErr(err, corrupt("duplicate ACL policy name %q", p.Name))
		}
		return rr.insertNew(tableACLPolicies, &p, p.ID)
	case recordACLRole:
		var r structs.ACLRole
		if err := rr.decode(payload, &r); err != nil {
			return err
		}
		if r.ID == "" || r.Name == "" {
			return corrupt("ACL role without an ID or name")
		}
		if dup, err := rr.exists(tableACLRoles, indexName, r.Name); err != nil || dup {
			return firstErr(err, corrupt("duplicate ACL role name %q", r.Name))
		}
		return rr.insertNew(tableACLRoles, &r, r.ID)
	default:
		var t structs.ACLToken
		if err := rr.decode(payload, &t); err != nil {
			return err
		}
		if t.AccessorID == "" || t.SecretID == "" {
			return corrupt("ACL token without an AccessorID or SecretID")
		}
		if dup, err := rr.exists(tableACLTokens, indexSecret, t.SecretID); err != nil || dup {
			return firstErr(err, corrupt("two ACL tokens with the same SecretID"))
		}
		return rr.insertNew(tableACLTokens, &t, t.AccessorID)
	}
}

// firstErr returns err when set, else alt.
func firstErr(err, alt error) error {
	if err != nil {
		return err
	}
	return alt
}

// applyPreparedQuery restores a prepared query (its session must have
// been restored) or a query's failover state (its query must have been).
func (rr *restorer) applyPreparedQuery(typ recordType, payload []byte) error {
	if typ == recordPreparedQueryFailover {
		var st structs.PreparedQueryFailoverStatus
		if err := rr.decode(payload, &st); err != nil {
			return err
		}
		if ok, err := rr.exists(tablePreparedQueries, indexID, st.QueryID); err != nil || !ok {
			return firstErr(err, corrupt("failover state of unknown prepared query %q", st.QueryID))
		}
		return rr.insertNew(tableQueryFailover, &st, st.QueryID)
	}
	var q structs.PreparedQuery
	if err := rr.decode(payload, &q); err != nil {
		return err
	}
	if q.ID == "" {
		return corrupt("prepared query without an ID")
	}
	if q.Session != "" {
		if ok, err := rr.exists(tableSessions, indexID, q.Session); err != nil || !ok {
			return firstErr(err, corrupt("prepared query %q bound to unknown session %q", q.ID, q.Session))
		}
	}
	if q.Name != "" {
		if dup, err := rr.exists(tablePreparedQueries, indexName, q.Name); err != nil || dup {
			return firstErr(err, corrupt("duplicate prepared query name %q", q.Name))
		}
	}
	return rr.insertNew(tablePreparedQueries, &q, q.ID)
}
