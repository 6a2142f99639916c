package server

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/hashicorp/raft"

	"github.com/meridian-sd/meridian/state"
	"github.com/meridian-sd/meridian/structs"
)

// FSM applies committed Raft entries to the state store. Each entry is a
// type byte followed by a msgpack request (structs.Encode); Apply switches
// on the type and calls one small applyX. Snapshot and Restore stream the
// whole store.
type FSM struct {
	logger hclog.Logger
	handle *codec.MsgpackHandle
	state  atomic.Pointer[state.Store]
	// entries encodes the entries this server submits (raftApply).
	entries *structs.EntryEncoder
	// decoders are msgpack decoders for decode, pointed at nothing
	// while idle.
	decoders sync.Pool
}

func newFSM(logger hclog.Logger) (*FSM, error) {
	st, err := state.NewStore()
	if err != nil {
		return nil, fmt.Errorf("create state store: %w", err)
	}
	f := &FSM{logger: logger, handle: structs.NewLogHandle()}
	f.entries = structs.NewEntryEncoder(f.handle)
	f.state.Store(st)
	return f, nil
}

// State is the current store. It changes on Restore.
func (f *FSM) State() *state.Store { return f.state.Load() }

// Apply implements raft.FSM.
func (f *FSM) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	return f.applyEntry(l.Data, l.Index)
}

// applyEntry decodes and applies one entry. It never panics on bad input:
// an undecodable entry is an error result, logged.
func (f *FSM) applyEntry(buf []byte, index uint64) any {
	if len(buf) == 0 {
		return fmt.Errorf("empty raft entry at index %d", index)
	}
	t := structs.MessageType(buf[0])
	ignoreUnknown := t&structs.IgnoreUnknownTypeFlag != 0
	t &^= structs.IgnoreUnknownTypeFlag
	data := buf[1:]
	var res any
	switch t {
	case structs.RegisterRequestType:
		res = f.applyRegister(data, index)
	case structs.DeregisterRequestType:
		res = f.applyDeregister(data, index)
	case structs.KVSRequestType:
		res = f.applyKVS(data, index)
	case structs.SessionRequestType:
		res = f.applySession(data, index)
	case structs.TombstoneRequestType:
		res = f.applyTombstone(data, index)
	case structs.CoordinateBatchUpdateType:
		res = f.applyCoordinates(data, index)
	case structs.TxnRequestType:
		res = f.applyTxn(data, index)
	case structs.PreparedQueryRequestType:
		res = f.applyPreparedQuery(data, index)
	case structs.PreparedQueryFailoverRequestType:
		res = f.applyQueryFailover(data, index)
	case structs.ACLBootstrapRequestType, structs.ACLTokenSetRequestType, structs.ACLTokenDeleteRequestType,
		structs.ACLPolicySetRequestType, structs.ACLPolicyDeleteRequestType, structs.ACLRoleSetRequestType,
		structs.ACLRoleDeleteRequestType:
		res = f.applyACL(t, data, index)
	case structs.AutopilotRequestType:
		res = f.applyAutopilot(data, index)
	default:
		if ignoreUnknown {
			f.logger.Warn("ignoring unknown raft entry type", "type", uint8(t), "index", index)
			return nil
		}
		res = fmt.Errorf("unknown raft entry type %d at index %d", uint8(t), index)
	}
	if err, ok := res.(error); ok && err != nil {
		f.logger.Debug("raft entry not applied", "type", t, "index", index, "error", err)
	}
	return res
}

// applyAutopilot stores the autopilot configuration; with CAS it answers
// whether it did.
func (f *FSM) applyAutopilot(data []byte, index uint64) any {
	var req structs.AutopilotSetConfigRequest
	if err := f.decode(data, &req); err != nil {
		return err
	}
	if req.CAS {
		ok, err := f.State().AutopilotCASConfig(index, req.Config.ModifyIndex, &req.Config)
		if err != nil {
			return err
		}
		return ok
	}
	return f.State().AutopilotSetConfig(index, &req.Config)
}

// decode is structs.Decode(f.handle, data, out) with a decoder reused
// from entry to entry (a new one costs about as much as decoding a small
// request); one that failed is dropped.
func (f *FSM) decode(data []byte, out any) error {
	dec, _ := f.decoders.Get().(*codec.Decoder)
	if dec == nil {
		dec = codec.NewDecoderBytes(data, f.handle)
	} else {
		dec.ResetBytes(data)
	}
	if err := dec.Decode(out); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	dec.ResetBytes([]byte{})
	f.decoders.Put(dec)
	return nil
}

func (f *FSM) applyRegister(data []byte, index uint64) any {
	var req structs.RegisterRequest
	if err := f.decode(data, &req); err != nil {
		return err
	}
	return f.State().EnsureRegistration(index, &req)
}

func (f *FSM) applyDeregister(data []byte, index uint64) any {
	var req structs.DeregisterRequest
	if err := f.decode(data, &req); err != nil {
		return err
	}
	st := f.State()
	switch {
	case req.ServiceID == "" && req.CheckID == "":
		return st.DeleteNode(index, req.Node)
	case req.ServiceID != "":
		if err := st.DeleteService(index, req.Node, req.ServiceID); err != nil {
			return err
		}
		if req.CheckID != "" {
			return st.DeleteCheck(index, req.Node, req.CheckID)
		}
		return nil
	default:
		return st.DeleteCheck(index, req.Node, req.CheckID)
	}
}

func (f *FSM) applyKVS(data []byte, index uint64) any {
	var req structs.KVSRequest
	if err := f.decode(data, &req); err != nil {
		return err
	}
	st := f.State()
	switch req.Op {
	case structs.KVSSet:
		return st.KVSSet(index, &req.DirEnt)
	case structs.KVSCAS:
		ok, err := st.KVSSetCAS(index, &req.DirEnt)
		if err != nil {
			return err
		}
		return ok
	case structs.KVSDelete:
		return st.KVSDelete(index, req.DirEnt.Key)
	case structs.KVSDeleteCAS:
		ok, err := st.KVSDeleteCAS(index, req.DirEnt.ModifyIndex, req.DirEnt.Key)
		if err != nil {
			return err
		}
		return ok
	case structs.KVSDeleteTree:
		return st.KVSDeleteTree(index, req.DirEnt.Key)
	case structs.KVSLock:
		ok, err := st.KVSLock(index, &req.DirEnt)
		if err != nil {
			return err
		}
		return ok
	case structs.KVSUnlock:
		ok, err := st.KVSUnlock(index, &req.DirEnt)
		if err != nil {
			return err
		}
		return ok
	}
	return structs.BadRequest("invalid kv operation %q", req.Op)
}

func (f *FSM) applySession(data []byte, index uint64) any {
	var req structs.SessionRequest
	if err := f.decode(data, &req); err != nil {
		return err
	}
	st := f.State()
	switch req.Op {
	case structs.SessionCreate:
		if err := st.SessionCreate(index, &req.Session); err != nil {
			return err
		}
		return req.Session.ID
	case structs.SessionDestroy:
		return st.SessionDestroy(index, req.Session.ID)
	}
	return structs.BadRequest("invalid session operation %q", req.Op)
}

func (f *FSM) applyTombstone(data []byte, index uint64) any {
	var req structs.TombstoneRequest
	if err := f.decode(data, &req); err != nil {
		return err
	}
	if req.Op != structs.TombstoneReap {
		return structs.BadRequest("invalid tombstone operation %q", req.Op)
	}
	return f.State().ReapTombstones(req.ReapIndex)
}

func (f *FSM) applyCoordinates(data []byte, index uint64) any {
	var req structs.CoordinateBatchUpdateRequest
	if err := f.decode(data, &req); err != nil {
		return err
	}
	return f.State().CoordinateBatchUpdate(index, req.Updates)
}

func (f *FSM) applyTxn(data []byte, index uint64) any {
	var req structs.TxnRequest
	if err := f.decode(data, &req); err != nil {
		return err
	}
	results, errs := f.State().TxnRW(index, req.Ops)
	return structs.TxnResponse{Results: results, Errors: errs}
}

// Snapshot implements raft.FSM: a point-in-time view that is written out
// while Raft goes on applying entries.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	return &fsmSnapshot{snap: f.State().Snapshot()}, nil
}

// Restore implements raft.FSM: the store is rebuilt from the stream and
// swapped in; the old one is abandoned so that blocking queries waiting on
// it wake up and read the new one.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	st, err := state.Restore(rc)
	if err != nil {
		return fmt.Errorf("restore state snapshot: %w", err)
	}
	old := f.state.Swap(st)
	old.Abandon()
	return nil
}

type fsmSnapshot struct {
	snap *state.Snapshot
}

func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := s.snap.Persist(sink); err != nil {
		sink.Cancel()
		return fmt.Errorf("persist state snapshot: %w", err)
	}
	return sink.Close()
}

func (s *fsmSnapshot) Release() { s.snap.Close() }
