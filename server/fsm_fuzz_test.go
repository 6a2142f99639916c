package server

import (
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/meridian-sd/meridian/structs"
)

// FuzzFSMApply feeds arbitrary log entries to the FSM: an entry may be
// refused with an error, but it must never panic the server.
func FuzzFSMApply(f *testing.F) {
	h := structs.NewMsgpackHandle()
	seed := func(t structs.MessageType, msg any) {
		buf, err := structs.Encode(h, t, msg)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(buf)
	}
	seed(structs.RegisterRequestType, &structs.RegisterRequest{Node: "n", Address: "1.2.3.4",
		Service: &structs.NodeService{ID: "s", Service: "s"},
		Checks:  structs.HealthChecks{{CheckID: "c", Status: structs.HealthPassing, ServiceID: "s"}}})
	seed(structs.DeregisterRequestType, &structs.DeregisterRequest{Node: "n", ServiceID: "s"})
	seed(structs.KVSRequestType, &structs.KVSRequest{Op: structs.KVSSet, DirEnt: structs.DirEntry{Key: "k", Value: []byte("v")}})
	seed(structs.KVSRequestType, &structs.KVSRequest{Op: structs.KVSLock, DirEnt: structs.DirEntry{Key: "k", Session: "x"}})
	seed(structs.SessionRequestType, &structs.SessionRequest{Op: structs.SessionCreate, Session: structs.Session{ID: "x", Node: "n"}})
	seed(structs.TombstoneRequestType, &structs.TombstoneRequest{Op: structs.TombstoneReap, ReapIndex: 3})
	seed(structs.PreparedQueryRequestType, &structs.PreparedQueryRequest{Op: structs.PreparedQueryCreate,
		Query: &structs.PreparedQuery{ID: "q", Name: "n", Session: "x", Service: structs.ServiceQuery{Service: "s"}}})
	seed(structs.PreparedQueryRequestType, &structs.PreparedQueryRequest{Op: structs.PreparedQueryDelete})
	seed(structs.PreparedQueryFailoverRequestType, &structs.PreparedQueryFailoverRequest{Op: structs.PreparedQueryFailoverSet,
		Status: structs.PreparedQueryFailoverStatus{QueryID: "q", Active: true}})
	seed(structs.CoordinateBatchUpdateType, &structs.CoordinateBatchUpdateRequest{Updates: structs.Coordinates{{Node: "n"}}})
	seed(structs.TxnRequestType, &structs.TxnRequest{Ops: structs.TxnOps{{KV: &structs.TxnKVOp{Verb: structs.KVSCAS, DirEnt: structs.DirEntry{Key: "k"}}}, nil, {}}})
	f.Add([]byte{})
	f.Add([]byte{0xff, 0x00})
	f.Add([]byte{byte(structs.RegisterRequestType | structs.IgnoreUnknownTypeFlag), 0xc0})

	fsm, err := newFSM(hclog.NewNullLogger())
	if err != nil {
		f.Fatal(err)
	}
	var index uint64
	f.Fuzz(func(t *testing.T, data []byte) {
		index++
		fsm.applyEntry(data, index)
	})
}
