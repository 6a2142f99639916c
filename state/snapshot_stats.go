package state

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"sort"
)

// RecordStat counts one type of record in a snapshot.
type RecordStat struct {
	// Name is the record type's name, as `meridian snapshot inspect`
	// prints it.
	Name string
	// Count is the number of records of the type.
	Count int
	// Size is their payloads' total size in bytes.
	Size int64
}

// recordNames names the record types.
var recordNames = map[recordType]string{
	recordNode:       "Node",
	recordService:    "Service",
	recordCheck:      "Check",
	recordSession:    "Session",
	recordKV:         "KVS",
	recordTombstone:  "Tombstone",
	recordCoordinate: "Coordinate",
	recordIndex:      "Index",
	recordACLPolicy:  "ACLPolicy",
	recordACLRole:    "ACLRole",
	recordACLToken:   "ACLToken",

	recordPreparedQuery:         "PreparedQuery",
	recordPreparedQueryFailover: "PreparedQueryFailover",
}

// RecordStats reads a snapshot written by Persist and counts its records
// by type, the largest total first. It checks the framing (header,
// lengths, end record) but not the records' content; Restore does. A
// record type this build does not know is counted as "Type<n>".
func RecordStats(r io.Reader) ([]RecordStat, error) {
	br := bufio.NewReader(r)
	var hdr [len(snapshotMagic) + 1]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return nil, fmt.Errorf("read snapshot header: %w", corruptIfEOF(err))
	}
	if string(hdr[:len(snapshotMagic)]) != snapshotMagic {
		return nil, corrupt("not a Meridian state snapshot")
	}
	if v := hdr[len(snapshotMagic)]; v != snapshotVersion {
		return nil, corrupt("unsupported snapshot version %d", v)
	}
	byType := map[recordType]*RecordStat{}
	var payload bytes.Buffer
	for n := 0; ; n++ {
		typ, err := readRecord(br, &payload)
		if err != nil {
			return nil, fmt.Errorf("record %d: %w", n, err)
		}
		if typ == recordEnd {
			break
		}
		name, ok := recordNames[typ]
		if !ok {
			// A newer build's record: counted, by number.
			name = fmt.Sprintf("Type%d", typ)
		}
		st := byType[typ]
		if st == nil {
			st = &RecordStat{Name: name}
			byType[typ] = st
		}
		st.Count++
		st.Size += int64(payload.Len())
	}
	if _, err := br.ReadByte(); err != io.EOF {
		return nil, corrupt("data after the end record")
	}
	out := make([]RecordStat, 0, len(byType))
	for _, st := range byType {
		out = append(out, *st)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Size != out[j].Size {
			return out[i].Size > out[j].Size
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}
