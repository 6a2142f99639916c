package server

import (
	"fmt"
	"testing"

	"github.com/meridian-sd/meridian/structs"
)

// BenchmarkForward measures what forwarding costs a KV read made on a dc1
// follower: served there (stale, no hop), forwarded to the dc1 leader
// (default consistency, one hop), and forwarded to dc2's server (one hop
// across datacenters), one caller at a time and sixteen at once:
//
//	go test -run '^$' -bench BenchmarkForward -benchtime 3000x ./server/
//
// The difference between a forwarded read's p50 and the stale one's is
// the cost of one hop.
func BenchmarkForward(b *testing.B) {
	follower := tlsBenchFederation(b, false)
	for _, dc := range []string{"dc1", "dc2"} {
		var ok bool
		if err := follower.RPC("KVS.Apply", &structs.KVSRequest{
			Datacenter: dc, Op: structs.KVSSet,
			DirEnt: structs.DirEntry{Key: "bench/key", Value: []byte("value")},
		}, &ok); err != nil {
			b.Fatalf("write the key in %s: %v", dc, err)
		}
	}
	cases := []struct {
		name  string
		dc    string
		stale bool
	}{
		{"local-stale", "dc1", true},
		{"to-leader", "dc1", false},
		{"other-dc", "dc2", true},
	}
	for _, tc := range cases {
		for _, workers := range []int{1, 16} {
			b.Run(fmt.Sprintf("%s/callers=%d", tc.name, workers), func(b *testing.B) {
				b.ReportAllocs()
				benchLatencies(b, workers, func(int) error {
					var out structs.IndexedDirEntries
					args := &structs.KeyRequest{Datacenter: tc.dc, Key: "bench/key"}
					args.AllowStale = tc.stale
					if err := follower.RPC("KVS.Get", args, &out); err != nil {
						return err
					}
					if len(out.Entries) != 1 {
						return fmt.Errorf("got %d entries, want 1", len(out.Entries))
					}
					return nil
				})
			})
		}
	}
}
