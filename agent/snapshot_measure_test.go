package agent

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/meridian-sd/meridian/snapshot"
)

// TestMeasureSnapshot prints the time and size of a snapshot save and
// restore of 100,000 KV entries (100-byte values under 1,000 prefixes)
// on one server in process, through the HTTP API and the official
// client. Nothing is asserted but that it works; it runs only with
// MERIDIAN_MEASURE=1:
//
//	MERIDIAN_MEASURE=1 go test -count=1 -run TestMeasureSnapshot -v -timeout 20m ./agent/
//
// MERIDIAN_MEASURE_KEYS changes the number of entries.
func TestMeasureSnapshot(t *testing.T) {
	if os.Getenv("MERIDIAN_MEASURE") != "1" {
		t.Skip("figures are measured only with MERIDIAN_MEASURE=1")
	}
	keys := 100_000
	if v := os.Getenv("MERIDIAN_MEASURE_KEYS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			t.Fatalf("MERIDIAN_MEASURE_KEYS=%q: want a positive number", v)
		}
		keys = n
	}
	ta := StartTestAgent(t, "-server", "-bootstrap", "-log-level=error")
	ta.WaitForLeader(t)
	c := ta.Client

	// Values of random letters and digits: they compress about as well
	// as typical configuration values do, far worse than a repeated byte.
	rng := rand.New(rand.NewPCG(1, 2))
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	newValue := func() []byte {
		v := make([]byte, 100)
		for i := range v {
			v[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return v
	}
	var first []byte
	start := time.Now()
	ops := make(api.KVTxnOps, 0, 64)
	flush := func() {
		if len(ops) == 0 {
			return
		}
		ok, resp, _, err := c.KV().Txn(ops, nil)
		if err != nil || !ok {
			t.Fatalf("fill: %v %+v", err, resp)
		}
		ops = ops[:0]
	}
	for i := range keys {
		v := newValue()
		if i == 0 {
			first = v
		}
		ops = append(ops, &api.KVTxnOp{Verb: api.KVSet, Key: fmt.Sprintf("app%03d/key%06d", i%1000, i), Value: v})
		if len(ops) == cap(ops) {
			flush()
		}
	}
	flush()
	t.Logf("filled %d keys in %s", keys, time.Since(start).Round(time.Millisecond))

	start = time.Now()
	archive, qm := snapshotSave(t, c, nil)
	saveTime := time.Since(start)

	start = time.Now()
	arch, err := snapshot.Read(bytes.NewReader(archive), t.TempDir(), 1<<30)
	if err != nil {
		t.Fatalf("read archive: %v", err)
	}
	if err := arch.Verify(); err != nil {
		t.Fatalf("verify archive: %v", err)
	}
	verifyTime := time.Since(start)
	stateSize := arch.Meta.Size
	arch.Close()

	kvPut(t, c, "app000/key000000", "changed")
	start = time.Now()
	if err := c.Snapshot().Restore(nil, bytes.NewReader(archive)); err != nil {
		t.Fatalf("restore: %v", err)
	}
	restoreTime := time.Since(start)
	if got := kvValue(t, c, "app000/key000000"); got != string(first) {
		t.Fatalf("after restore the first key is %q", got)
	}
	pairs, _, err := c.KV().Keys("", "", nil)
	if err != nil || len(pairs) != keys {
		t.Fatalf("after restore: %d keys, %v", len(pairs), err)
	}

	t.Logf("snapshot of %d KV entries at index %d:", keys, qm.LastIndex)
	t.Logf("  archive  %d bytes (%.1f MiB) gzip; state %d bytes (%.1f MiB)",
		len(archive), float64(len(archive))/(1<<20), stateSize, float64(stateSize)/(1<<20))
	t.Logf("  save     %s (GET /v1/snapshot, body read)", saveTime.Round(time.Millisecond))
	t.Logf("  verify   %s (checksums and every record, as `snapshot save` does)", verifyTime.Round(time.Millisecond))
	t.Logf("  restore  %s (PUT /v1/snapshot until the answer)", restoreTime.Round(time.Millisecond))
}
