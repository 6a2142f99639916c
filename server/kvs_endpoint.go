package server

import (
	"context"
	"time"

	"github.com/hashicorp/go-memdb"

	"github.com/meridian-sd/meridian/state"
	"github.com/meridian-sd/meridian/structs"
)

// KVS serves the key/value store.
type KVS struct{ s *Server }

// Apply performs one KV write. The reply is the outcome of a conditional
// write (cas, lock, unlock, delete-cas) and true for the others.
//
// Two checks run here, on the leader, before anything reaches Raft: a lock
// on a key whose lock delay is still running fails at once (the delay
// protects the previous holder, and it lives in memory only, so it cannot
// be checked while the entry is applied), and a lock naming a session that
// does not exist is refused with an error, so that no entry is written.
// The FSM checks the session again, which covers a session destroyed in
// between.
func (k *KVS) Apply(ctx context.Context, args *structs.KVSRequest, reply *bool) error {
	if done, err := k.s.forward(ctx, "KVS.Apply", args, args, reply); done {
		return err
	}
	defer k.s.metrics.MeasureSince([]string{"kvs", "apply"}, time.Now())
	if err := validateKVSOp(args.Op, &args.DirEnt, k.s.config.KVMaxValueSize); err != nil {
		return err
	}
	if args.Op == structs.KVSLock {
		ok, err := k.s.lockPreCheck(&args.DirEnt)
		if err != nil {
			return err
		}
		if !ok {
			*reply = false
			return nil
		}
	}
	resp, err := k.s.raftApply(structs.KVSRequestType, args)
	if err != nil {
		return err
	}
	if ok, isBool := resp.(bool); isBool {
		*reply = ok
	} else {
		*reply = true
	}
	return nil
}

// lockPreCheck is run by the leader before it submits a lock: false when a
// lock delay on the key is still running, an error when the session does
// not exist.
func (s *Server) lockPreCheck(e *structs.DirEntry) (bool, error) {
	st := s.fsm.State()
	if until := st.KVSLockDelay(e.Key); until.After(time.Now()) {
		s.logger.Debug("lock refused during lock delay", "key", e.Key, "until", until)
		return false, nil
	}
	_, sess, err := st.SessionGet(nil, e.Session)
	if err != nil {
		return false, err
	}
	if sess == nil {
		return false, structs.BadRequest("%w %q: no such session (it may have expired or been destroyed)", structs.ErrSessionNotFound, e.Session)
	}
	return true, nil
}

// validateKVSOp checks a KV write before it reaches Raft; a value may hold
// at most maxValue bytes. Its texts start with "missing" or "invalid" so
// that the HTTP layer answers 400.
func validateKVSOp(op structs.KVSOp, e *structs.DirEntry, maxValue int) error {
	switch op {
	case structs.KVSSet, structs.KVSCAS, structs.KVSDelete, structs.KVSDeleteCAS, structs.KVSLock, structs.KVSUnlock:
		if e.Key == "" {
			return structs.BadRequest("missing key name")
		}
	case structs.KVSDeleteTree:
	default:
		return structs.BadRequest("invalid kv operation %q", op)
	}
	if len(e.Value) > maxValue {
		return structs.BadRequest("invalid value for key %q: %d bytes is larger than the %d byte limit", e.Key, len(e.Value), maxValue)
	}
	if (op == structs.KVSLock || op == structs.KVSUnlock) && e.Session == "" {
		return structs.BadRequest("missing session: %s of key %q needs a session", op, e.Key)
	}
	return nil
}

// Get reads one key.
func (k *KVS) Get(ctx context.Context, args *structs.KeyRequest, reply *structs.IndexedDirEntries) error {
	if done, err := k.s.forward(ctx, "KVS.Get", args, args, reply); done {
		return err
	}
	return k.s.blockingQuery(ctx, &args.QueryOptions, &reply.QueryMeta, func(ws memdb.WatchSet, st *state.Store) error {
		idx, ent, err := st.KVSGet(ws, args.Key)
		if err != nil {
			return err
		}
		reply.Index = idx
		reply.Entries = nil
		if ent != nil {
			reply.Entries = structs.DirEntries{ent}
		}
		return nil
	})
}

// List reads every key under a prefix.
func (k *KVS) List(ctx context.Context, args *structs.KeyRequest, reply *structs.IndexedDirEntries) error {
	if done, err := k.s.forward(ctx, "KVS.List", args, args, reply); done {
		return err
	}
	return k.s.blockingQuery(ctx, &args.QueryOptions, &reply.QueryMeta, func(ws memdb.WatchSet, st *state.Store) error {
		idx, ents, err := st.KVSList(ws, args.Key)
		reply.Index, reply.Entries = idx, ents
		return err
	})
}

// ListKeys lists key names under a prefix, up to a separator.
func (k *KVS) ListKeys(ctx context.Context, args *structs.KeyListRequest, reply *structs.IndexedKeyList) error {
	if done, err := k.s.forward(ctx, "KVS.ListKeys", args, args, reply); done {
		return err
	}
	return k.s.blockingQuery(ctx, &args.QueryOptions, &reply.QueryMeta, func(ws memdb.WatchSet, st *state.Store) error {
		idx, keys, err := st.KVSListKeys(ws, args.Prefix, args.Seperator)
		reply.Index, reply.Keys = idx, keys
		return err
	})
}
