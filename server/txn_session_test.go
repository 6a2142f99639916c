package server

import (
	"testing"

	"github.com/meridian-sd/meridian/structs"
)

// TestTxnSessionDeleteClearsTimer: a session destroyed by a transaction
// loses its TTL timer, as one destroyed by Session.Apply does.
func TestTxnSessionDeleteClearsTimer(t *testing.T) {
	s := startCluster(t, "dc1", 1)[0]
	if err := s.RPC("Catalog.Register", &structs.RegisterRequest{Datacenter: "dc1", Node: "app", Address: "10.0.0.5"}, &struct{}{}); err != nil {
		t.Fatal(err)
	}
	var id string
	req := &structs.SessionRequest{Datacenter: "dc1", Op: structs.SessionCreate, Session: structs.Session{Node: "app", TTL: "1h"}}
	if err := s.RPC("Session.Apply", req, &id); err != nil {
		t.Fatal(err)
	}
	if n := s.sessionTimers.len(); n != 1 {
		t.Fatalf("%d session timers after create, want 1", n)
	}
	var out structs.TxnResponse
	txn := &structs.TxnRequest{Datacenter: "dc1", Ops: structs.TxnOps{{Session: &structs.TxnSessionOp{Verb: structs.TxnSessionDelete, Session: structs.Session{ID: id}}}}}
	if err := s.RPC("Txn.Apply", txn, &out); err != nil || len(out.Errors) != 0 {
		t.Fatalf("txn: %v %+v", err, out.Errors)
	}
	if n := s.sessionTimers.len(); n != 0 {
		t.Fatalf("%d session timers after the transaction destroyed the session, want 0", n)
	}
	if _, sess, err := s.fsm.State().SessionGet(nil, id); err != nil || sess != nil {
		t.Fatalf("session after the transaction: %+v, %v", sess, err)
	}
}
