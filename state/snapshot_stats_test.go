package state

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// TestRecordStatsNamesEveryRecord counts a snapshot of a store with every
// kind of record: every type has a name, and the counts add up to the
// records written.
func TestRecordStatsNamesEveryRecord(t *testing.T) {
	snap := testPersist(t, testRichStore(t))
	stats, err := RecordStats(bytes.NewReader(snap))
	if err != nil {
		t.Fatalf("RecordStats: %v", err)
	}
	seen := map[string]bool{}
	for _, s := range stats {
		if strings.HasPrefix(s.Name, "Type") {
			t.Errorf("record type without a name: %s", s.Name)
		}
		if s.Count <= 0 || s.Size <= 0 {
			t.Errorf("%s: count %d, size %d", s.Name, s.Count, s.Size)
		}
		seen[s.Name] = true
	}
	for _, want := range []string{"Node", "Service", "Check", "Session", "KVS", "Index", "PreparedQuery"} {
		if !seen[want] {
			t.Errorf("no %s records counted in %+v", want, stats)
		}
	}
	for i := 1; i < len(stats); i++ {
		if stats[i].Size > stats[i-1].Size {
			t.Fatalf("not sorted by size: %+v", stats)
		}
	}
	// Framing errors are refused.
	for name, bad := range map[string][]byte{
		"truncated":   snap[:len(snap)-1],
		"no magic":    append([]byte("XXXXXXXX"), snap[8:]...),
		"data after":  append(bytes.Clone(snap), 0),
		"bad version": append(append([]byte(snapshotMagic), 99), snap[9:]...),
	} {
		if _, err := RecordStats(bytes.NewReader(bad)); !errors.Is(err, ErrCorruptSnapshot) {
			t.Errorf("%s: got %v, want ErrCorruptSnapshot", name, err)
		}
	}
}
