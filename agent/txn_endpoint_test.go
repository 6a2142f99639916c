package agent

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/hashicorp/consul/api"

	"github.com/meridian-sd/meridian/structs"
)

func kvOp(verb api.KVOp, key, value string, index uint64, session string) *api.TxnOp {
	return &api.TxnOp{KV: &api.KVTxnOp{Verb: verb, Key: key, Value: []byte(value), Index: index, Session: session}}
}

func TestTxnEndpoint(t *testing.T) {
	a := startKVServer(t)
	kv, txn := a.Client.KV(), a.Client.Txn()

	t.Run("commit", func(t *testing.T) {
		mustPut(t, kv, "tx/old", "o")
		old := mustGet(t, kv, "tx/old")
		ok, resp, _, err := txn.Txn(api.TxnOps{
			kvOp(api.KVSet, "tx/a", "1", 0, ""),
			kvOp(api.KVCAS, "tx/b", "2", 0, ""),
			kvOp(api.KVCheckIndex, "tx/old", "", old.ModifyIndex, ""),
			kvOp(api.KVCAS, "tx/old", "o2", old.ModifyIndex, ""),
			kvOp(api.KVGet, "tx/a", "", 0, ""),
			kvOp(api.KVDelete, "tx/gone", "", 0, ""),
		}, nil)
		if err != nil || !ok {
			t.Fatalf("txn = %v, %+v, %v", ok, resp, err)
		}
		if len(resp.Errors) != 0 || len(resp.Results) != 5 {
			t.Fatalf("txn response = %+v", resp)
		}
		// Writes answer with metadata only; get carries the value.
		set, get := resp.Results[0].KV, resp.Results[4].KV
		if set.Key != "tx/a" || set.Value != nil || set.ModifyIndex == 0 {
			t.Fatalf("set result = %+v", set)
		}
		if get.Key != "tx/a" || string(get.Value) != "1" || get.ModifyIndex != set.ModifyIndex {
			t.Fatalf("get result = %+v", get)
		}
		// Every write of one transaction carries the same index.
		if resp.Results[1].KV.ModifyIndex != set.ModifyIndex || resp.Results[3].KV.ModifyIndex != set.ModifyIndex {
			t.Fatalf("indexes differ within one transaction: %+v", resp.Results)
		}
		if p := mustGet(t, kv, "tx/old"); string(p.Value) != "o2" {
			t.Fatalf("tx/old = %q", p.Value)
		}
	})

	t.Run("rollback", func(t *testing.T) {
		p := mustGet(t, kv, "tx/a")
		ok, resp, _, err := txn.Txn(api.TxnOps{
			kvOp(api.KVSet, "tx/rb/new", "x", 0, ""),
			kvOp(api.KVCAS, "tx/a", "stale", p.ModifyIndex+100, ""),
			kvOp(api.KVDelete, "tx/b", "", 0, ""),
			kvOp(api.KVCheckNotExists, "tx/old", "", 0, ""),
		}, nil)
		if err != nil || ok {
			t.Fatalf("txn = %v, %v, want a rollback", ok, err)
		}
		if len(resp.Results) != 0 || len(resp.Errors) != 2 {
			t.Fatalf("rollback response = %+v", resp)
		}
		if e := resp.Errors[0]; e.OpIndex != 1 || e.What != `failed to set key "tx/a", index is stale` {
			t.Fatalf("error 0 = %+v", e)
		}
		if e := resp.Errors[1]; e.OpIndex != 3 || e.What != `key "tx/old" exists` {
			t.Fatalf("error 1 = %+v", e)
		}
		if mustGet(t, kv, "tx/rb/new") != nil || mustGet(t, kv, "tx/b") == nil {
			t.Fatal("a rolled-back transaction left changes")
		}
		// The raw answer is 409 with Consul's shape.
		code, body, _ := httpDo(t, a, "PUT", "/v1/txn", []byte(`[{"KV":{"Verb":"get","Key":"tx/none"}}]`))
		if code != http.StatusConflict || body != `{"Results":null,"Errors":[{"OpIndex":0,"What":"key \"tx/none\" doesn't exist"}]}` {
			t.Fatalf("raw rollback = %d %s", code, body)
		}
	})

	t.Run("read only", func(t *testing.T) {
		mustPut(t, kv, "tx/tree/1", "a")
		mustPut(t, kv, "tx/tree/2", "b")
		ok, resp, meta, err := txn.Txn(api.TxnOps{
			kvOp(api.KVGetTree, "tx/tree/", "", 0, ""),
			kvOp(api.KVGetOrEmpty, "tx/none", "", 0, ""),
			kvOp(api.KVCheckNotExists, "tx/none", "", 0, ""),
		}, &api.QueryOptions{RequireConsistent: true})
		if err != nil || !ok {
			t.Fatalf("read txn = %v, %+v, %v", ok, resp, err)
		}
		if len(resp.Results) != 3 || string(resp.Results[0].KV.Value) != "a" || string(resp.Results[1].KV.Value) != "b" ||
			resp.Results[2].KV.Key != "tx/none" || resp.Results[2].KV.ModifyIndex != 0 {
			t.Fatalf("read txn results = %+v", resp.Results)
		}
		if !meta.KnownLeader {
			t.Fatalf("read txn meta = %+v", meta)
		}
	})

	t.Run("locks", func(t *testing.T) {
		s1, _, err := a.Client.Session().Create(nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		s2, _, err := a.Client.Session().Create(nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		ok, resp, _, err := txn.Txn(api.TxnOps{
			kvOp(api.KVLock, "tx/lock", "mine", 0, s1),
			kvOp(api.KVCheckSession, "tx/lock", "", 0, s1),
		}, nil)
		if err != nil || !ok || resp.Results[0].KV.Session != s1 || resp.Results[0].KV.LockIndex != 1 {
			t.Fatalf("lock txn = %v, %+v, %v", ok, resp, err)
		}
		ok, resp, _, err = txn.Txn(api.TxnOps{kvOp(api.KVLock, "tx/lock", "theirs", 0, s2)}, nil)
		if err != nil || ok || !strings.Contains(resp.Errors[0].What, "lock is already held") {
			t.Fatalf("lock of a held key = %v, %+v, %v", ok, resp, err)
		}
		ok, resp, _, err = txn.Txn(api.TxnOps{kvOp(api.KVUnlock, "tx/lock", "free", 0, s2)}, nil)
		if err != nil || ok || !strings.Contains(resp.Errors[0].What, "held by another session") {
			t.Fatalf("unlock by another session = %v, %+v, %v", ok, resp, err)
		}
		ok, resp, _, err = txn.Txn(api.TxnOps{kvOp(api.KVLock, "tx/lock2", "x", 0, "00000000-0000-0000-0000-000000000000")}, nil)
		if err != nil || ok || !strings.Contains(resp.Errors[0].What, "invalid session") {
			t.Fatalf("lock with an unknown session = %v, %+v, %v", ok, resp, err)
		}
		ok, _, _, err = txn.Txn(api.TxnOps{kvOp(api.KVUnlock, "tx/lock", "free", 0, s1)}, nil)
		if err != nil || !ok {
			t.Fatalf("unlock = %v, %v", ok, err)
		}
		if p := mustGet(t, kv, "tx/lock"); p.Session != "" || string(p.Value) != "free" {
			t.Fatalf("after unlock = %+v", p)
		}
	})

	t.Run("kv txn helper", func(t *testing.T) {
		ok, resp, _, err := kv.Txn(api.KVTxnOps{
			{Verb: api.KVSet, Key: "tx/kv", Value: []byte("k")},
			{Verb: api.KVGet, Key: "tx/kv"},
		}, nil)
		if err != nil || !ok || len(resp.Results) != 2 || string(resp.Results[1].Value) != "k" {
			t.Fatalf("KV().Txn = %v, %+v, %v", ok, resp, err)
		}
	})

	t.Run("bad bodies", func(t *testing.T) {
		big := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("v"), structs.MaxKVSize/2+1))
		var many strings.Builder
		many.WriteString("[")
		for i := 0; i < 65; i++ {
			if i > 0 {
				many.WriteString(",")
			}
			fmt.Fprintf(&many, `{"KV":{"Verb":"set","Key":"tx/bad/many%d","Value":"eA=="}}`, i)
		}
		many.WriteString("]")
		tests := []struct {
			name, body string
			code       int
			text       string
		}{
			{"not json", `[{"KV":`, 400, "Failed to parse body"},
			{"not an array", `{"KV":{"Verb":"set","Key":"tx/bad/obj"}}`, 400, "Failed to parse body"},
			{"null", `null`, 400, "JSON array"},
			{"empty", ``, 400, "empty"},
			{"bad base64", `[{"KV":{"Verb":"set","Key":"tx/bad/b64","Value":"!!!"}}]`, 400, "Failed to parse body"},
			{"node without a name", `[{"KV":{"Verb":"set","Key":"tx/bad/node"}},{"Node":{"Verb":"get"}}]`, 409, "missing node name"},
			{"empty operation", `[{"KV":{"Verb":"set","Key":"tx/bad/empty"}},{}]`, 400, "Operation 1 is empty"},
			{"two parts", `[{"KV":{"Verb":"set","Key":"tx/bad/two"},"Node":{"Verb":"get","Node":{"Node":"n"}}}]`, 400, "several parts"},
			{"too many operations", many.String(), 413, "too many operations (65 > 64)"},
			{"cumulative size", `[{"KV":{"Verb":"set","Key":"tx/bad/big1","Value":"` + big + `"}},{"KV":{"Verb":"set","Key":"tx/bad/big2","Value":"` + big + `"}}]`, 413, "too large"},
			{"unknown verb", `[{"KV":{"Verb":"set","Key":"tx/bad/verb"}},{"KV":{"Verb":"frobnicate","Key":"tx/bad/verb2"}}]`, 409, `unknown KV verb \"frobnicate\"`},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				code, body, _ := httpDo(t, a, "PUT", "/v1/txn", []byte(tt.body))
				if code != tt.code || !strings.Contains(body, tt.text) {
					t.Fatalf("body %.60q: %d %q, want %d containing %q", tt.body, code, body, tt.code, tt.text)
				}
			})
		}
		keys, _, err := kv.Keys("tx/bad/", "", nil)
		if err != nil || len(keys) != 0 {
			t.Fatalf("bad transactions wrote %v (%v)", keys, err)
		}
		// One value over the limit alone.
		huge := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("v"), structs.MaxKVSize+1))
		code, body, _ := httpDo(t, a, "PUT", "/v1/txn", []byte(`[{"KV":{"Verb":"set","Key":"tx/bad/huge","Value":"`+huge+`"}}]`))
		if code != 413 || mustGet(t, kv, "tx/bad/huge") != nil {
			t.Fatalf("oversized value: %d %q", code, body)
		}
	})
}
