package server

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/meridian-sd/meridian/structs"
)

// TestLogStoreSurvivesTailTruncation: a follower whose last entries are
// replaced by a new leader truncates its log's tail ("clearing log
// suffix"); a restart must then read the log again. raft-wal before
// v0.4.1 left the truncated tail segment marked sealed without an index,
// and the restarted server panicked in raft.NewRaft.
func TestLogStoreSurvivesTailTruncation(t *testing.T) {
	dir := t.TempDir()
	wal, meta, err := openLogStore(dir, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	var logs []*raft.Log
	for i := uint64(1); i <= 20; i++ {
		logs = append(logs, &raft.Log{Index: i, Term: 1, Type: raft.LogCommand, Data: []byte(fmt.Sprintf("entry %d", i))})
	}
	if err := wal.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
	if err := wal.DeleteRange(20, 20); err != nil {
		t.Fatalf("truncate the tail: %v", err)
	}
	if err := wal.StoreLog(&raft.Log{Index: 20, Term: 2, Type: raft.LogCommand, Data: []byte("replacement")}); err != nil {
		t.Fatal(err)
	}
	wal.Close()
	meta.Close()

	wal, meta, err = openLogStore(dir, hclog.NewNullLogger())
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer meta.Close()
	defer wal.Close()
	for _, idx := range []uint64{1, 19, 20} {
		var l raft.Log
		if err := wal.GetLog(idx, &l); err != nil {
			t.Fatalf("entry %d after reopening: %v", idx, err)
		}
		if idx == 20 && (l.Term != 2 || string(l.Data) != "replacement") {
			t.Fatalf("entry 20 = term %d %q, want the replacement", l.Term, l.Data)
		}
	}
}

// TestLogStoreHoldsLargestEntry: the log store reads back, after a
// reopen, an entry whose command is structs.MaxRaftEntrySize bytes (with
// the longest term raft could give it; the 1 MiB margin dwarfs what any
// index adds). raft-wal v0.4.1 writes a larger entry without complaint and
// then refuses to read it ("frame header indicates a record larger than
// MaxEntrySize"), which is why raftApply bounds every entry.
func TestLogStoreHoldsLargestEntry(t *testing.T) {
	dir := t.TempDir()
	wal, meta, err := openLogStore(dir, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	if err := wal.StoreLogs([]*raft.Log{
		{Index: 1, Term: math.MaxUint64, Type: raft.LogCommand, Data: []byte("small")},
		{Index: 2, Term: math.MaxUint64, Type: raft.LogCommand, Data: bytes.Repeat([]byte("e"), structs.MaxRaftEntrySize), AppendedAt: time.Now()},
		{Index: 3, Term: math.MaxUint64, Type: raft.LogCommand, Data: []byte("after")},
	}); err != nil {
		t.Fatalf("store: %v", err)
	}
	wal.Close()
	meta.Close()

	wal, meta, err = openLogStore(dir, hclog.NewNullLogger())
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer meta.Close()
	defer wal.Close()
	for idx, want := range map[uint64]int{1: 5, 2: structs.MaxRaftEntrySize, 3: 5} {
		var l raft.Log
		if err := wal.GetLog(idx, &l); err != nil {
			t.Fatalf("entry %d after reopening: %v", idx, err)
		}
		if len(l.Data) != want {
			t.Fatalf("entry %d read back with %d bytes, want %d", idx, len(l.Data), want)
		}
	}
}

// BenchmarkLogStoreSync times one durable append of a 300-byte entry to
// the Raft log store (raft-wal's StoreLogs, which syncs), back to back and
// after an idle spell as a server sees between isolated writes. The
// figures are the disk's: on a VM an idle disk can be several times
// slower to sync than a busy one, which a write every 50 ms (the blocking
// workload of meridian bench) pays twice, on the leader and a follower.
//
//	go test -run '^$' -bench BenchmarkLogStoreSync -benchtime 1000x ./server/
func BenchmarkLogStoreSync(b *testing.B) {
	for _, idle := range []time.Duration{0, 20 * time.Millisecond} {
		b.Run(fmt.Sprintf("idle=%s", idle), func(b *testing.B) {
			wal, meta, err := openLogStore(b.TempDir(), hclog.NewNullLogger())
			if err != nil {
				b.Fatal(err)
			}
			defer meta.Close()
			defer wal.Close()
			data := bytes.Repeat([]byte("x"), 300)
			took := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if idle > 0 {
					b.StopTimer()
					time.Sleep(idle)
					b.StartTimer()
				}
				start := time.Now()
				if err := wal.StoreLogs([]*raft.Log{{Index: uint64(i + 1), Term: 1, Type: raft.LogCommand, Data: data}}); err != nil {
					b.Fatal(err)
				}
				took = append(took, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(took[(len(took)*99)/100].Microseconds()), "p99-µs")
		})
	}
}
