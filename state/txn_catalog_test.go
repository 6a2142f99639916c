package state

import (
	"testing"

	"github.com/meridian-sd/meridian/structs"
)

// TestTxnCatalogRollsBackWithKV: a failing catalog operation rolls back
// the KV and catalog writes before it; a passing set commits them all at
// the transaction's index.
func TestTxnCatalogRollsBackWithKV(t *testing.T) {
	s := testStore(t)
	node := structs.Node{Node: "n1", Address: "10.0.0.1"}
	ops := structs.TxnOps{
		kvOp(structs.KVSSet, structs.DirEntry{Key: "k", Value: []byte("v")}),
		{Node: &structs.TxnNodeOp{Verb: structs.TxnVerbSet, Node: node}},
		{Service: &structs.TxnServiceOp{Verb: structs.TxnVerbSet, Node: "n1", Service: structs.NodeService{ID: "s1", Service: "web"}}},
		{Check: &structs.TxnCheckOp{Verb: structs.TxnVerbSet, Check: structs.HealthCheck{Node: "n1", CheckID: "c1", ServiceID: "nope", Status: structs.HealthPassing}}},
	}
	if _, errs := s.TxnRW(5, ops); len(errs) != 1 || errs[0].OpIndex != 3 {
		t.Fatalf("errors = %+v, want one for op 3", errs)
	}
	if _, n, _ := s.GetNode(nil, "n1"); n != nil {
		t.Fatalf("node written by a rolled-back transaction: %+v", n)
	}
	if _, e, _ := s.KVSGet(nil, "k"); e != nil {
		t.Fatalf("key written by a rolled-back transaction: %+v", e)
	}
	ops[3].Check.Check.ServiceID = "s1"
	results, errs := s.TxnRW(6, ops)
	if len(errs) != 0 || len(results) != 4 {
		t.Fatalf("results %+v errors %+v", results, errs)
	}
	if results[1].Node.ModifyIndex != 6 || results[2].Service.ModifyIndex != 6 || results[3].Check.ServiceName != "web" {
		t.Fatalf("results %+v %+v %+v", results[1].Node, results[2].Service, results[3].Check)
	}
	// Catalog writes are refused in a read-only transaction.
	if _, errs := s.TxnRO(structs.TxnOps{{Node: &structs.TxnNodeOp{Verb: structs.TxnVerbDelete, Node: node}}}); len(errs) != 1 {
		t.Fatalf("read-only delete: errors %+v", errs)
	}
	if _, errs := s.TxnRO(structs.TxnOps{{Session: &structs.TxnSessionOp{Verb: structs.TxnSessionDelete}}}); len(errs) != 1 {
		t.Fatalf("read-only session delete: errors %+v", errs)
	}
	_, got, err := s.ServiceAddressNodes(nil, "")
	if err != nil || len(got) != 1 || got[0].ServiceID != "s1" || got[0].Address != "10.0.0.1" {
		t.Fatalf("services with no address of their own = %+v, %v", got, err)
	}
}
