package state

import (
	"reflect"
	"testing"

	memdb "github.com/hashicorp/go-memdb"

	"github.com/meridian-sd/meridian/structs"
)

func kvOp(verb structs.KVSOp, e structs.DirEntry) *structs.TxnOp {
	return &structs.TxnOp{KV: &structs.TxnKVOp{Verb: verb, DirEnt: e}}
}

func TestTxnRW_Success(t *testing.T) {
	s := testStore(t)
	testLockedKey(t, s, 1, "s1", "locked", "", 0)
	testSetKV(t, s, 2, "existing", "old")
	testSetKV(t, s, 3, "tree/a", "1")
	testSetKV(t, s, 4, "tree/b", "2")
	testSetKV(t, s, 5, "gone", "x")
	testSetKV(t, s, 6, "gone-cas", "x")

	ops := structs.TxnOps{
		kvOp(structs.KVSSet, structs.DirEntry{Key: "new", Value: []byte("v"), Flags: 7}),
		kvOp(structs.KVSCAS, structs.DirEntry{Key: "existing", Value: []byte("new"), ModifyIndex: 2}),
		kvOp(structs.KVSGet, structs.DirEntry{Key: "new"}),
		kvOp(structs.KVSGetOrEmpty, structs.DirEntry{Key: "missing"}),
		kvOp(structs.KVSGetTree, structs.DirEntry{Key: "tree/"}),
		kvOp(structs.KVSCheckIndex, structs.DirEntry{Key: "tree/a", ModifyIndex: 3}),
		kvOp(structs.KVSCheckSession, structs.DirEntry{Key: "locked", Session: "s1"}),
		kvOp(structs.KVSCheckNotExists, structs.DirEntry{Key: "missing"}),
		kvOp(structs.KVSDelete, structs.DirEntry{Key: "gone"}),
		kvOp(structs.KVSDeleteCAS, structs.DirEntry{Key: "gone-cas", ModifyIndex: 6}),
		kvOp(structs.KVSUnlock, structs.DirEntry{Key: "locked", Value: []byte("free"), Session: "s1"}),
		kvOp(structs.KVSLock, structs.DirEntry{Key: "lock2", Value: []byte("mine"), Session: "s1"}),
		kvOp(structs.KVSDeleteTree, structs.DirEntry{Key: "tree/"}),
	}
	results, errs := s.TxnRW(10, ops)
	if len(errs) != 0 {
		t.Fatalf("errors: %v", errs)
	}
	var keys []string
	for _, r := range results {
		keys = append(keys, r.KV.Key)
	}
	wantKeys := []string{"new", "existing", "new", "missing", "tree/a", "tree/b", "tree/a", "locked", "locked", "lock2"}
	if !reflect.DeepEqual(keys, wantKeys) {
		t.Fatalf("result keys = %v, want %v", keys, wantKeys)
	}
	if results[0].KV.Value != nil || results[0].KV.ModifyIndex != 10 || results[0].KV.Flags != 7 {
		t.Fatalf("set result = %+v, want metadata without value", results[0].KV)
	}
	if string(results[2].KV.Value) != "v" {
		t.Fatalf("get result = %+v, want the value", results[2].KV)
	}
	if string(results[4].KV.Value) != "1" {
		t.Fatalf("get-tree result = %+v, want the value", results[4].KV)
	}

	want := map[string]string{"new": "v", "existing": "new", "locked": "free", "lock2": "mine"}
	_, entries, _ := s.KVSList(nil, "")
	got := map[string]string{}
	for _, e := range entries {
		got[e.Key] = string(e.Value)
		if e.ModifyIndex != 10 && want[e.Key] != "" {
			t.Errorf("key %q ModifyIndex = %d, want 10", e.Key, e.ModifyIndex)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("store = %v, want %v", got, want)
	}
	if _, e, _ := s.KVSGet(nil, "lock2"); e.Session != "s1" || e.LockIndex != 1 {
		t.Fatalf("lock2 = %+v", e)
	}
}

func TestTxnRW_RollbackAndErrors(t *testing.T) {
	s := testStore(t)
	testLockedKey(t, s, 1, "s1", "locked", "", 0)
	testSession(t, s, 2, "s2", "n1")
	testSetKV(t, s, 3, "foo", "bar")

	tests := []struct {
		name string
		op   *structs.TxnOp
		want string
	}{
		{"get missing", kvOp(structs.KVSGet, structs.DirEntry{Key: "nope"}), `key "nope" doesn't exist`},
		{"cas stale", kvOp(structs.KVSCAS, structs.DirEntry{Key: "foo", ModifyIndex: 1}), `failed to set key "foo", index is stale`},
		{"cas create on existing", kvOp(structs.KVSCAS, structs.DirEntry{Key: "foo"}), `failed to set key "foo", index is stale`},
		{"delete-cas stale", kvOp(structs.KVSDeleteCAS, structs.DirEntry{Key: "foo", ModifyIndex: 1}), `failed to delete key "foo", index is stale`},
		{"lock held", kvOp(structs.KVSLock, structs.DirEntry{Key: "locked", Session: "s2"}), `failed to lock key "locked", lock is already held`},
		{"lock unknown session", kvOp(structs.KVSLock, structs.DirEntry{Key: "x", Session: "zz"}), `invalid session "zz"`},
		{"unlock not held", kvOp(structs.KVSUnlock, structs.DirEntry{Key: "locked", Session: "s2"}), `failed to unlock key "locked", lock isn't held, or is held by another session`},
		{"check-index missing", kvOp(structs.KVSCheckIndex, structs.DirEntry{Key: "nope"}), `failed to check index, key "nope" doesn't exist`},
		{"check-index stale", kvOp(structs.KVSCheckIndex, structs.DirEntry{Key: "foo", ModifyIndex: 2}), `failed index check for key "foo", current modify index 3 != 2`},
		{"check-session missing", kvOp(structs.KVSCheckSession, structs.DirEntry{Key: "nope", Session: "s1"}), `failed to check session, key "nope" doesn't exist`},
		{"check-session other", kvOp(structs.KVSCheckSession, structs.DirEntry{Key: "locked", Session: "s2"}), `failed session check for key "locked", current session "s1" != "s2"`},
		{"check-not-exists", kvOp(structs.KVSCheckNotExists, structs.DirEntry{Key: "foo"}), `key "foo" exists`},
		{"unknown verb", kvOp("frobnicate", structs.DirEntry{Key: "foo"}), `unknown KV verb "frobnicate"`},
		{"no KV", &structs.TxnOp{}, "no operation specified"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := s.MaxIndex()
			ws := memdb.NewWatchSet()
			s.KVSList(ws, "")
			ops := structs.TxnOps{
				kvOp(structs.KVSSet, structs.DirEntry{Key: "written", Value: []byte("x")}),
				kvOp(structs.KVSDelete, structs.DirEntry{Key: "foo"}),
				tt.op,
			}
			// The delete in front must not hide the failing op's view of foo.
			if tt.op.KV != nil && tt.op.KV.DirEnt.Key == "foo" {
				ops[1] = kvOp(structs.KVSDelete, structs.DirEntry{Key: "other"})
			}
			results, errs := s.TxnRW(50, ops)
			if results != nil {
				t.Fatalf("results of a failed txn: %v", results)
			}
			if len(errs) != 1 || errs[0].OpIndex != 2 || errs[0].What != tt.want {
				t.Fatalf("errs = %+v, want op 2: %q", errs, tt.want)
			}
			if _, e, _ := s.KVSGet(nil, "written"); e != nil {
				t.Fatal("a failed txn committed a set")
			}
			if _, e, _ := s.KVSGet(nil, "foo"); e == nil {
				t.Fatal("a failed txn committed a delete")
			}
			if s.MaxIndex() != before || watchFired(ws) {
				t.Fatal("a failed txn moved an index or fired a watch")
			}
		})
	}
}

func TestTxnRW_ReportsEveryError(t *testing.T) {
	s := testStore(t)
	_, errs := s.TxnRW(1, structs.TxnOps{
		kvOp(structs.KVSGet, structs.DirEntry{Key: "a"}),
		kvOp(structs.KVSSet, structs.DirEntry{Key: "ok"}),
		kvOp(structs.KVSGet, structs.DirEntry{Key: "b"}),
	})
	if len(errs) != 2 || errs[0].OpIndex != 0 || errs[1].OpIndex != 2 {
		t.Fatalf("errs = %+v, want ops 0 and 2", errs)
	}
}

func TestTxnRW_SeesItsOwnWrites(t *testing.T) {
	s := testStore(t)
	results, errs := s.TxnRW(1, structs.TxnOps{
		kvOp(structs.KVSSet, structs.DirEntry{Key: "a", Value: []byte("1")}),
		kvOp(structs.KVSCheckIndex, structs.DirEntry{Key: "a", ModifyIndex: 1}),
		kvOp(structs.KVSGet, structs.DirEntry{Key: "a"}),
		kvOp(structs.KVSDelete, structs.DirEntry{Key: "a"}),
		kvOp(structs.KVSCheckNotExists, structs.DirEntry{Key: "a"}),
	})
	if len(errs) != 0 {
		t.Fatalf("errs = %v", errs)
	}
	if len(results) != 3 || string(results[2].KV.Value) != "1" {
		t.Fatalf("results = %+v", results)
	}
}

func TestTxnRO(t *testing.T) {
	s := testStore(t)
	testSetKV(t, s, 1, "a", "1")
	results, errs := s.TxnRO(structs.TxnOps{
		kvOp(structs.KVSGet, structs.DirEntry{Key: "a"}),
		kvOp(structs.KVSCheckIndex, structs.DirEntry{Key: "a", ModifyIndex: 1}),
	})
	if len(errs) != 0 || len(results) != 2 || string(results[0].KV.Value) != "1" || results[1].KV.Value != nil {
		t.Fatalf("TxnRO = %+v, %+v", results, errs)
	}
	results, errs = s.TxnRO(structs.TxnOps{
		kvOp(structs.KVSGet, structs.DirEntry{Key: "a"}),
		kvOp(structs.KVSSet, structs.DirEntry{Key: "b"}),
	})
	if results != nil || len(errs) != 1 || errs[0].OpIndex != 1 {
		t.Fatalf("write in TxnRO = %+v, %+v", results, errs)
	}
	if _, e, _ := s.KVSGet(nil, "b"); e != nil {
		t.Fatal("TxnRO wrote")
	}
}
