package agent

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/meridian-sd/meridian/structs"
)

// startKVServer starts a single bootstrapped server agent and waits for
// its leadership and its own catalog node (sessions need it).
func startKVServer(t testing.TB, args ...string) *TestAgent {
	t.Helper()
	a := StartTestAgent(t, append([]string{"-server", "-bootstrap"}, args...)...)
	a.WaitForLeader(t)
	waitForNode(t, a.Client, a.Name)
	return a
}

// waitForNode waits until node is in the catalog with a passing
// serfHealth check, so that sessions can be created on it.
func waitForNode(t testing.TB, c *api.Client, node string) {
	t.Helper()
	WaitFor(t, "node "+node+" healthy in the catalog", 15*time.Second, func() error {
		checks, _, err := c.Health().Node(node, nil)
		if err != nil {
			return err
		}
		for _, hc := range checks {
			if hc.CheckID == structs.SerfCheckID && hc.Status == api.HealthPassing {
				return nil
			}
		}
		return fmt.Errorf("checks of %s: %v", node, checks)
	})
}

// httpDo sends a raw request to the agent's HTTP API and returns the
// status, the body and the response headers.
func httpDo(t testing.TB, a *TestAgent, method, path string, body []byte) (int, string, http.Header) {
	t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://"+a.HTTPAddr+path, r)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp.StatusCode, string(out), resp.Header
}

func mustPut(t testing.TB, kv *api.KV, key, value string) {
	t.Helper()
	if _, err := kv.Put(&api.KVPair{Key: key, Value: []byte(value)}, nil); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

func mustGet(t testing.TB, kv *api.KV, key string) *api.KVPair {
	t.Helper()
	p, _, err := kv.Get(key, nil)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	return p
}

func TestKVSEndpoint(t *testing.T) {
	a := startKVServer(t)
	kv := a.Client.KV()

	t.Run("put and get", func(t *testing.T) {
		if p := mustGet(t, kv, "pg/missing"); p != nil {
			t.Fatalf("missing key = %+v, want nil", p)
		}
		if _, err := kv.Put(&api.KVPair{Key: "pg/a", Value: []byte("hello"), Flags: 42}, nil); err != nil {
			t.Fatal(err)
		}
		p, meta, err := kv.Get("pg/a", nil)
		if err != nil {
			t.Fatal(err)
		}
		if p == nil || string(p.Value) != "hello" || p.Flags != 42 || p.Session != "" || p.LockIndex != 0 {
			t.Fatalf("get = %+v", p)
		}
		if p.CreateIndex == 0 || p.ModifyIndex != p.CreateIndex || meta.LastIndex != p.ModifyIndex || !meta.KnownLeader {
			t.Fatalf("indexes: pair %+v meta %+v", p, meta)
		}
		// An update keeps CreateIndex and moves ModifyIndex.
		mustPut(t, kv, "pg/a", "again")
		q := mustGet(t, kv, "pg/a")
		if q.CreateIndex != p.CreateIndex || q.ModifyIndex <= p.ModifyIndex || string(q.Value) != "again" || q.Flags != 0 {
			t.Fatalf("after update = %+v, before %+v", q, p)
		}
		// An empty value is a value.
		mustPut(t, kv, "pg/empty", "")
		if e := mustGet(t, kv, "pg/empty"); e == nil || len(e.Value) != 0 {
			t.Fatalf("empty value = %+v", e)
		}
	})

	t.Run("list and keys", func(t *testing.T) {
		for _, k := range []string{"lk/web/a", "lk/web/b/c", "lk/web/b/d", "lk/web2", "lk/db"} {
			mustPut(t, kv, k, "v-"+k)
		}
		pairs, meta, err := kv.List("lk/web", nil)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		var max uint64
		for _, p := range pairs {
			got = append(got, p.Key)
			if string(p.Value) != "v-"+p.Key {
				t.Fatalf("list value of %s = %q", p.Key, p.Value)
			}
			max = maxU(max, p.ModifyIndex)
		}
		if want := []string{"lk/web/a", "lk/web/b/c", "lk/web/b/d", "lk/web2"}; !reflect.DeepEqual(got, want) {
			t.Fatalf("list = %v, want %v", got, want)
		}
		if meta.LastIndex < max {
			t.Fatalf("list index %d below its newest entry %d", meta.LastIndex, max)
		}
		if pairs, _, err := kv.List("lk/nothing", nil); err != nil || pairs != nil {
			t.Fatalf("list of an empty prefix = %v, %v", pairs, err)
		}

		tests := []struct {
			prefix, sep string
			want        []string
		}{
			{"lk/", "/", []string{"lk/db", "lk/web/", "lk/web2"}},
			{"lk/web/", "/", []string{"lk/web/a", "lk/web/b/"}},
			{"lk/web/", "", []string{"lk/web/a", "lk/web/b/c", "lk/web/b/d"}},
			{"lk/web/b", "/", []string{"lk/web/b/"}},
			{"lk/zzz", "/", nil},
		}
		for _, tt := range tests {
			keys, _, err := kv.Keys(tt.prefix, tt.sep, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(keys, tt.want) {
				t.Errorf("keys(%q, %q) = %v, want %v", tt.prefix, tt.sep, keys, tt.want)
			}
		}
		// The historic misspelling still works.
		code, body, _ := httpDo(t, a, "GET", "/v1/kv/lk/?keys&seperator=/", nil)
		if code != 200 || body != `["lk/db","lk/web/","lk/web2"]` {
			t.Fatalf("?seperator: %d %s", code, body)
		}
	})

	t.Run("raw", func(t *testing.T) {
		mustPut(t, kv, "raw/html", "<b>bold</b>")
		code, body, h := httpDo(t, a, "GET", "/v1/kv/raw/html?raw", nil)
		if code != 200 || body != "<b>bold</b>" {
			t.Fatalf("raw = %d %q", code, body)
		}
		if ct := h.Get("Content-Type"); ct != "text/plain" || h.Get("X-Content-Type-Options") != "nosniff" || h.Get("X-Consul-Index") == "" {
			t.Fatalf("raw headers = %v", h)
		}
		if code, _, _ := httpDo(t, a, "GET", "/v1/kv/raw/none?raw", nil); code != 404 {
			t.Fatalf("raw of a missing key = %d, want 404", code)
		}
	})

	t.Run("cas", func(t *testing.T) {
		ok, _, err := kv.CAS(&api.KVPair{Key: "cas/k", Value: []byte("v1"), ModifyIndex: 0}, nil)
		if err != nil || !ok {
			t.Fatalf("create-only CAS = %v, %v", ok, err)
		}
		ok, _, err = kv.CAS(&api.KVPair{Key: "cas/k", Value: []byte("v2"), ModifyIndex: 0}, nil)
		if err != nil || ok {
			t.Fatalf("second create-only CAS = %v, %v, want false", ok, err)
		}
		p := mustGet(t, kv, "cas/k")
		ok, _, err = kv.CAS(&api.KVPair{Key: "cas/k", Value: []byte("v3"), ModifyIndex: p.ModifyIndex + 1000}, nil)
		if err != nil || ok {
			t.Fatalf("stale CAS = %v, %v, want false", ok, err)
		}
		ok, _, err = kv.CAS(&api.KVPair{Key: "cas/k", Value: []byte("v4"), ModifyIndex: p.ModifyIndex}, nil)
		if err != nil || !ok {
			t.Fatalf("CAS at the current index = %v, %v", ok, err)
		}
		// The index used is now stale.
		ok, _, err = kv.CAS(&api.KVPair{Key: "cas/k", Value: []byte("v5"), ModifyIndex: p.ModifyIndex}, nil)
		if err != nil || ok {
			t.Fatalf("CAS at a used index = %v, %v, want false", ok, err)
		}
		if got := mustGet(t, kv, "cas/k"); string(got.Value) != "v4" {
			t.Fatalf("after CAS = %q, want v4", got.Value)
		}
		ok, _, err = kv.CAS(&api.KVPair{Key: "cas/absent", Value: []byte("x"), ModifyIndex: 5}, nil)
		if err != nil || ok {
			t.Fatalf("CAS with an index on a missing key = %v, %v, want false", ok, err)
		}
	})

	t.Run("delete", func(t *testing.T) {
		for _, k := range []string{"del/a", "del/t/1", "del/t/2", "del/tx"} {
			mustPut(t, kv, k, "x")
		}
		if _, err := kv.Delete("del/a", nil); err != nil {
			t.Fatal(err)
		}
		if p := mustGet(t, kv, "del/a"); p != nil {
			t.Fatalf("deleted key = %+v", p)
		}
		// Deleting a missing key succeeds.
		if _, err := kv.Delete("del/a", nil); err != nil {
			t.Fatal(err)
		}
		if _, err := kv.DeleteTree("del/t/", nil); err != nil {
			t.Fatal(err)
		}
		keys, _, err := kv.Keys("del/", "", nil)
		if err != nil || !reflect.DeepEqual(keys, []string{"del/tx"}) {
			t.Fatalf("after delete-tree keys = %v, %v", keys, err)
		}
		p := mustGet(t, kv, "del/tx")
		ok, _, err := kv.DeleteCAS(&api.KVPair{Key: "del/tx", ModifyIndex: p.ModifyIndex - 1}, nil)
		if err != nil || ok {
			t.Fatalf("stale delete-cas = %v, %v, want false", ok, err)
		}
		if mustGet(t, kv, "del/tx") == nil {
			t.Fatal("a stale delete-cas deleted the key")
		}
		ok, _, err = kv.DeleteCAS(&api.KVPair{Key: "del/tx", ModifyIndex: p.ModifyIndex}, nil)
		if err != nil || !ok {
			t.Fatalf("delete-cas = %v, %v", ok, err)
		}
		if mustGet(t, kv, "del/tx") != nil {
			t.Fatal("delete-cas left the key")
		}
	})

	t.Run("value size", func(t *testing.T) {
		max := bytes.Repeat([]byte("m"), structs.MaxKVSize)
		if _, err := kv.Put(&api.KVPair{Key: "size/max", Value: max}, nil); err != nil {
			t.Fatalf("put of exactly %d bytes: %v", len(max), err)
		}
		if p := mustGet(t, kv, "size/max"); p == nil || len(p.Value) != structs.MaxKVSize {
			t.Fatal("the largest value did not round-trip")
		}
		_, err := kv.Put(&api.KVPair{Key: "size/over", Value: append(max, 'x')}, nil)
		var se api.StatusError
		if !asStatusError(err, &se) || se.Code != http.StatusRequestEntityTooLarge || !strings.Contains(se.Body, "too large") {
			t.Fatalf("oversized put: %v", err)
		}
		if mustGet(t, kv, "size/over") != nil {
			t.Fatal("an oversized value was written")
		}
	})

	t.Run("bad input", func(t *testing.T) {
		tests := []struct {
			name, method, path string
			wantCode           int
			wantText           string
			key                string // must stay unwritten
		}{
			{"non-numeric cas", "PUT", "/v1/kv/bad/cas?cas=abc", 400, "Invalid cas", "bad/cas"},
			{"negative cas", "PUT", "/v1/kv/bad/cas?cas=-1", 400, "Invalid cas", "bad/cas"},
			{"non-numeric flags", "PUT", "/v1/kv/bad/flags?flags=x", 400, "Invalid flags", "bad/flags"},
			{"unknown session", "PUT", "/v1/kv/bad/lock?acquire=00000000-0000-0000-0000-000000000000", 400, "invalid session", "bad/lock"},
			{"empty acquire", "PUT", "/v1/kv/bad/lock?acquire=", 400, "Missing session", "bad/lock"},
			{"cas with acquire", "PUT", "/v1/kv/bad/both?cas=0&acquire=x", 400, "Conflicting flags", "bad/both"},
			{"missing key", "PUT", "/v1/kv/", 400, "Missing key name", ""},
			{"non-numeric index", "GET", "/v1/kv/bad/x?index=abc", 400, "Invalid index", ""},
			{"bad wait", "GET", "/v1/kv/bad/x?index=1&wait=soon", 400, "Invalid wait", ""},
			{"stale and consistent", "GET", "/v1/kv/bad/x?stale&consistent", 400, "Cannot specify", ""},
			{"delete cas and recurse", "DELETE", "/v1/kv/bad?cas=1&recurse", 400, "Conflicting flags", ""},
			{"delete non-numeric cas", "DELETE", "/v1/kv/bad/x?cas=z", 400, "Invalid cas", ""},
			{"get without key", "GET", "/v1/kv/", 400, "Missing key name", ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				code, body, _ := httpDo(t, a, tt.method, tt.path, []byte("value"))
				if code != tt.wantCode || !strings.Contains(body, tt.wantText) {
					t.Fatalf("%s %s = %d %q, want %d containing %q", tt.method, tt.path, code, body, tt.wantCode, tt.wantText)
				}
				if tt.key != "" && mustGet(t, kv, tt.key) != nil {
					t.Fatalf("%s wrote %s", tt.name, tt.key)
				}
			})
		}
	})
}

func asStatusError(err error, se *api.StatusError) bool {
	if err == nil {
		return false
	}
	s, ok := err.(api.StatusError)
	if ok {
		*se = s
	}
	return ok
}

func maxU(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}

// TestKVSBlockingQueries: blocking reads on a key and on a prefix wake on a
// write and on a delete, and their index never goes backwards.
func TestKVSBlockingQueries(t *testing.T) {
	a := startKVServer(t)
	kv := a.Client.KV()
	mustPut(t, kv, "bq/dir/a", "1")
	mustPut(t, kv, "bq/dir/b", "2")

	type result struct {
		index uint64
		value string
		n     int
		err   error
	}
	watchKey := func(key string, index uint64) <-chan result {
		ch := make(chan result, 1)
		go func() {
			p, meta, err := kv.Get(key, &api.QueryOptions{WaitIndex: index, WaitTime: 10 * time.Second})
			r := result{err: err}
			if meta != nil {
				r.index = meta.LastIndex
			}
			if p != nil {
				r.value, r.n = string(p.Value), 1
			}
			ch <- r
		}()
		return ch
	}
	watchPrefix := func(prefix string, index uint64) <-chan result {
		ch := make(chan result, 1)
		go func() {
			pairs, meta, err := kv.List(prefix, &api.QueryOptions{WaitIndex: index, WaitTime: 10 * time.Second})
			r := result{err: err, n: len(pairs)}
			if meta != nil {
				r.index = meta.LastIndex
			}
			ch <- r
		}()
		return ch
	}
	wait := func(what string, ch <-chan result) result {
		t.Helper()
		select {
		case r := <-ch:
			if r.err != nil {
				t.Fatalf("%s: %v", what, r.err)
			}
			return r
		case <-time.After(8 * time.Second):
			t.Fatalf("%s did not wake", what)
		}
		return result{}
	}
	notYet := func(what string, ch <-chan result) {
		t.Helper()
		select {
		case r := <-ch:
			t.Fatalf("%s returned before any change: %+v", what, r)
		case <-time.After(200 * time.Millisecond):
		}
	}

	_, meta, err := kv.Get("bq/dir/a", nil)
	if err != nil {
		t.Fatal(err)
	}
	keyIdx := meta.LastIndex
	_, meta, err = kv.List("bq/dir/", nil)
	if err != nil {
		t.Fatal(err)
	}
	listIdx := meta.LastIndex

	// A write to the key wakes both.
	kw, pw := watchKey("bq/dir/a", keyIdx), watchPrefix("bq/dir/", listIdx)
	notYet("key watch", kw)
	mustPut(t, kv, "bq/dir/a", "changed")
	r := wait("key watch after a write", kw)
	if r.index <= keyIdx || r.value != "changed" {
		t.Fatalf("key watch after write = %+v, was at %d", r, keyIdx)
	}
	keyIdx = r.index
	r = wait("prefix watch after a write", pw)
	if r.index <= listIdx || r.n != 2 {
		t.Fatalf("prefix watch after write = %+v, was at %d", r, listIdx)
	}
	listIdx = r.index

	// A delete wakes both, with a higher index.
	kw, pw = watchKey("bq/dir/a", keyIdx), watchPrefix("bq/dir/", listIdx)
	notYet("key watch", kw)
	if _, err := kv.Delete("bq/dir/a", nil); err != nil {
		t.Fatal(err)
	}
	r = wait("key watch after a delete", kw)
	if r.index <= keyIdx || r.n != 0 {
		t.Fatalf("key watch after delete = %+v, was at %d", r, keyIdx)
	}
	keyIdx = r.index
	r = wait("prefix watch after a delete", pw)
	if r.index <= listIdx || r.n != 1 {
		t.Fatalf("prefix watch after delete = %+v, was at %d", r, listIdx)
	}
	listIdx = r.index

	// A write elsewhere does not move the prefix's index.
	mustPut(t, kv, "bq/other", "x")
	_, meta, err = kv.List("bq/dir/", nil)
	if err != nil || meta.LastIndex != listIdx {
		t.Fatalf("prefix index after an unrelated write = %d (%v), want %d", meta.LastIndex, err, listIdx)
	}

	// A blocking read on the deleted key wakes when it comes back. A
	// missing key answers with the whole store's KV index, as Consul's, so
	// the unrelated write above moved it: read it again first.
	_, meta, err = kv.Get("bq/dir/a", nil)
	if err != nil || meta.LastIndex < keyIdx {
		t.Fatalf("index of the deleted key went from %d to %d (%v)", keyIdx, meta.LastIndex, err)
	}
	keyIdx = meta.LastIndex
	kw = watchKey("bq/dir/a", keyIdx)
	notYet("watch of a deleted key", kw)
	mustPut(t, kv, "bq/dir/a", "back")
	r = wait("watch of a deleted key", kw)
	if r.index <= keyIdx || r.value != "back" {
		t.Fatalf("watch of a deleted key = %+v", r)
	}

	// Delete-tree wakes a watcher of the prefix.
	_, meta, err = kv.List("bq/dir/", nil)
	if err != nil {
		t.Fatal(err)
	}
	pw = watchPrefix("bq/dir/", meta.LastIndex)
	notYet("prefix watch", pw)
	if _, err := kv.DeleteTree("bq/dir/", nil); err != nil {
		t.Fatal(err)
	}
	r = wait("prefix watch after delete-tree", pw)
	if r.index <= meta.LastIndex || r.n != 0 {
		t.Fatalf("prefix watch after delete-tree = %+v, was at %d", r, meta.LastIndex)
	}
}
