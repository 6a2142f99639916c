package server

import (
	"fmt"
	"time"

	"github.com/hashicorp/go-memdb"

	"github.com/meridian-sd/meridian/state"
	"github.com/meridian-sd/meridian/structs"
)

// KVS serves the key/value store.
type KVS struct{ s *Server }

// Apply performs one KV write. The reply is the outcome of a conditional
// write (cas, lock, unlock, delete-cas) and true for the others.
func (k *KVS) Apply(args *structs.KVSRequest, reply *bool) error {
	if done, err := k.s.forward("KVS.Apply", args, args, reply); done {
		return err
	}
	if err := validateKVSOp(args.Op, &args.DirEnt); err != nil {
		return err
	}
	// A lock on a key still inside its lock delay fails without a Raft
	// entry, as Consul's does: the delay protects the previous holder.
	if args.Op == structs.KVSLock {
		if until := k.s.fsm.State().KVSLockDelay(args.DirEnt.Key); until.After(time.Now()) {
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

// validateKVSOp checks a KV write before it reaches Raft.
func validateKVSOp(op structs.KVSOp, e *structs.DirEntry) error {
	switch op {
	case structs.KVSSet, structs.KVSCAS, structs.KVSDelete, structs.KVSDeleteCAS, structs.KVSLock, structs.KVSUnlock:
		if e.Key == "" {
			return fmt.Errorf("missing key name")
		}
	case structs.KVSDeleteTree:
	default:
		return fmt.Errorf("invalid kv operation %q", op)
	}
	if len(e.Value) > structs.MaxKVSize {
		return fmt.Errorf("value of key %q is %d bytes, larger than the %d byte limit", e.Key, len(e.Value), structs.MaxKVSize)
	}
	if (op == structs.KVSLock || op == structs.KVSUnlock) && e.Session == "" {
		return fmt.Errorf("%s of key %q needs a session", op, e.Key)
	}
	return nil
}

// Get reads one key.
func (k *KVS) Get(args *structs.KeyRequest, reply *structs.IndexedDirEntries) error {
	if done, err := k.s.forward("KVS.Get", args, args, reply); done {
		return err
	}
	return k.s.blockingQuery(&args.QueryOptions, &reply.QueryMeta, func(ws memdb.WatchSet, st *state.Store) error {
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
func (k *KVS) List(args *structs.KeyRequest, reply *structs.IndexedDirEntries) error {
	if done, err := k.s.forward("KVS.List", args, args, reply); done {
		return err
	}
	return k.s.blockingQuery(&args.QueryOptions, &reply.QueryMeta, func(ws memdb.WatchSet, st *state.Store) error {
		idx, ents, err := st.KVSList(ws, args.Key)
		reply.Index, reply.Entries = idx, ents
		return err
	})
}

// ListKeys lists key names under a prefix, up to a separator.
func (k *KVS) ListKeys(args *structs.KeyListRequest, reply *structs.IndexedKeyList) error {
	if done, err := k.s.forward("KVS.ListKeys", args, args, reply); done {
		return err
	}
	return k.s.blockingQuery(&args.QueryOptions, &reply.QueryMeta, func(ws memdb.WatchSet, st *state.Store) error {
		idx, keys, err := st.KVSListKeys(ws, args.Prefix, args.Seperator)
		reply.Index, reply.Keys = idx, keys
		return err
	})
}
