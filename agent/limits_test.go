package agent

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/hashicorp/serf/coordinate"
)

// TestQueryTimesFromConfig: default_query_time and max_query_time decide
// how long a blocking query through the HTTP API waits.
func TestQueryTimesFromConfig(t *testing.T) {
	const def, maxWait = 200 * time.Millisecond, 400 * time.Millisecond
	a := startKVServer(t, "-default-query-time=200ms", "-max-query-time=400ms")
	kv := a.Client.KV()
	mustPut(t, kv, "qt/key", "v")
	_, meta, err := kv.Get("qt/key", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		wait time.Duration
		want time.Duration
	}{
		{"no wait", 0, def},
		{"wait over max_query_time", time.Minute, maxWait},
	} {
		t.Run(tc.name, func(t *testing.T) {
			done := make(chan time.Duration, 1)
			go func() {
				start := time.Now()
				if _, _, err := kv.Get("qt/key", &api.QueryOptions{WaitIndex: meta.LastIndex, WaitTime: tc.wait}); err != nil {
					t.Errorf("blocking get: %v", err)
				}
				done <- time.Since(start)
			}()
			select {
			case took := <-done:
				if took < tc.want || took > tc.want+time.Second {
					t.Errorf("blocking get returned after %s, want about %s", took, tc.want)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("blocking get still waiting after 5s, want about %s", tc.want)
			}
		})
	}
}

// txnBody is a /v1/txn body setting each key to its value.
func txnBody(kvs map[string][]byte) []byte {
	var parts []string
	for k, v := range kvs {
		parts = append(parts, fmt.Sprintf(`{"KV":{"Verb":"set","Key":%q,"Value":%q}}`, k, base64.StdEncoding.EncodeToString(v)))
	}
	return []byte("[" + strings.Join(parts, ",") + "]")
}

// TestLoweredKVLimits: limits.kv_max_value_size and limits.txn_max_req_len
// set below the defaults are enforced by the HTTP API (413) for KV writes
// and transactions.
func TestLoweredKVLimits(t *testing.T) {
	a := startKVServer(t, "-hcl=limits { kv_max_value_size = 32 txn_max_req_len = 200 }")
	for _, tc := range []struct {
		name, method, path string
		body               []byte
		code               int
		says               string
	}{
		{"value at the limit", "PUT", "/v1/kv/lim/ok", bytes.Repeat([]byte("a"), 32), 200, "true"},
		{"value over the limit", "PUT", "/v1/kv/lim/big", bytes.Repeat([]byte("b"), 33), 413, "limit is 32 bytes"},
		{"txn value at the limit", "PUT", "/v1/txn", txnBody(map[string][]byte{"lim/t1": bytes.Repeat([]byte("c"), 32)}), 200, "Results"},
		{"txn value over the limit", "PUT", "/v1/txn", txnBody(map[string][]byte{"lim/t2": bytes.Repeat([]byte("d"), 33)}), 413, "(33 > 32 bytes)"},
		{"txn body over the limit", "PUT", "/v1/txn", txnBody(map[string][]byte{
			"lim/a": bytes.Repeat([]byte("e"), 30), "lim/b": bytes.Repeat([]byte("e"), 30),
			"lim/c": bytes.Repeat([]byte("e"), 30), "lim/d": bytes.Repeat([]byte("e"), 30),
		}), 413, "limit is 200 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body, _ := httpDo(t, a, tc.method, tc.path, tc.body)
			if code != tc.code || !strings.Contains(body, tc.says) {
				t.Fatalf("%s %s: %d %q, want %d mentioning %q", tc.method, tc.path, code, body, tc.code, tc.says)
			}
		})
	}
	for _, key := range []string{"lim/big", "lim/t2", "lim/a"} {
		if p := mustGet(t, a.Client.KV(), key); p != nil {
			t.Errorf("refused write of %s was applied", key)
		}
	}
}

// TestRaisedKVLimit: a kv_max_value_size above the default lets larger
// values through the agent and the server, in KV writes and transactions.
func TestRaisedKVLimit(t *testing.T) {
	a := startKVServer(t, "-hcl=limits { kv_max_value_size = 1048576 }")
	big := bytes.Repeat([]byte("v"), 600*1024)
	if code, body, _ := httpDo(t, a, "PUT", "/v1/kv/raised/kv", big); code != http.StatusOK {
		t.Fatalf("PUT of 600 KiB: %d %q", code, body)
	}
	if code, body, _ := httpDo(t, a, "PUT", "/v1/txn", txnBody(map[string][]byte{"raised/txn": big})); code != http.StatusOK {
		t.Fatalf("transaction of 600 KiB: %d %.200q", code, body)
	}
	for _, key := range []string{"raised/kv", "raised/txn"} {
		if p := mustGet(t, a.Client.KV(), key); p == nil || len(p.Value) != len(big) {
			t.Fatalf("%s after the write: %v", key, p)
		}
	}
	if code, _, _ := httpDo(t, a, "PUT", "/v1/kv/raised/over", bytes.Repeat([]byte("v"), 1048577)); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("PUT over the raised limit: %d, want 413", code)
	}
}

// TestOverServerBoundIs413: a request that passes the agent's body limit
// but not the servers' bound for its kind (here a coordinate update of a
// 5 KiB node name, over structs.MaxCoordinateSize) is answered 413 with the
// servers' sentence.
func TestOverServerBoundIs413(t *testing.T) {
	a := startKVServer(t)
	coord := coordinate.NewCoordinate(coordinate.DefaultConfig())
	body, err := json.Marshal(&api.CoordinateEntry{Node: strings.Repeat("n", 5<<10), Coord: coord})
	if err != nil {
		t.Fatal(err)
	}
	code, text, _ := httpDo(t, a, "PUT", "/v1/coordinate/update", body)
	// The servers refuse it by one of their two bounds: the entry's size,
	// or first the request's own field bound (a node name over
	// structs.MaxNameLen); either is 413 with the servers' sentence.
	if code != http.StatusRequestEntityTooLarge || !(strings.HasPrefix(text, "Request too large: ") || strings.HasPrefix(text, "invalid node name: ")) {
		t.Fatalf("coordinate update of %d bytes: %d %.200q, want 413 Request too large", len(body), code, text)
	}
	// A normal update through the same agent still works.
	body, err = json.Marshal(&api.CoordinateEntry{Node: a.Name, Coord: coord})
	if err != nil {
		t.Fatal(err)
	}
	if code, text, _ := httpDo(t, a, "PUT", "/v1/coordinate/update", body); code != http.StatusOK {
		t.Fatalf("coordinate update after the refusal: %d %q", code, text)
	}
}
