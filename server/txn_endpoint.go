package server

import (
	"context"
	"fmt"
	"time"

	"github.com/meridian-sd/meridian/structs"
)

// MaxTxnOps caps the operations of one transaction, as Consul's (64).
const MaxTxnOps = 64

// Txn serves atomic multi-key transactions.
type Txn struct{ s *Server }

// Apply runs a transaction in one Raft entry: all operations or none.
func (t *Txn) Apply(ctx context.Context, args *structs.TxnRequest, reply *structs.TxnResponse) error {
	if done, err := t.s.forward(ctx, "Txn.Apply", args, args, reply); done {
		return err
	}
	defer t.s.metrics.MeasureSince([]string{"txn", "apply"}, time.Now())
	if errs := validateTxnOps(args.Ops, t.s.config.KVMaxValueSize); len(errs) > 0 {
		reply.Errors = errs
		return nil
	}
	if err := t.s.checkTxnSize(args.Ops); err != nil {
		return err
	}
	if errs := t.s.txnLockPreCheck(args.Ops); len(errs) > 0 {
		reply.Errors = errs
		return nil
	}
	resp, err := t.s.raftApply(structs.TxnRequestType, args)
	if err != nil {
		return err
	}
	r, ok := resp.(structs.TxnResponse)
	if !ok {
		return fmt.Errorf("unexpected transaction result %T", resp)
	}
	if len(r.Errors) == 0 {
		// Sessions destroyed by the transaction need their TTL timers no
		// more, as after Session.Apply's destroy.
		for _, op := range args.Ops {
			if op.Session != nil {
				t.s.sessionTimers.clear(op.Session.Session.ID)
			}
		}
	}
	*reply = r
	return nil
}

// Read runs a read-only transaction without Raft.
func (t *Txn) Read(ctx context.Context, args *structs.TxnReadRequest, reply *structs.TxnReadResponse) error {
	if done, err := t.s.forward(ctx, "Txn.Read", args, args, reply); done {
		return err
	}
	defer t.s.metrics.MeasureSince([]string{"txn", "read"}, time.Now())
	if errs := validateTxnOps(args.Ops, t.s.config.KVMaxValueSize); len(errs) > 0 {
		reply.Errors = errs
		return nil
	}
	switch {
	case args.RequireConsistent:
		if err := t.s.consistentRead(); err != nil {
			return err
		}
	case !args.AllowStale:
		if err := t.s.waitReady(); err != nil {
			return err
		}
	}
	t.s.setQueryMeta(&args.QueryOptions, &reply.QueryMeta)
	reply.Results, reply.Errors = t.s.fsm.State().TxnRO(args.Ops)
	return nil
}

// checkTxnSize refuses a transaction whose values add up to more than
// limits.txn_max_req_len (or kv_max_value_size when that is larger), as
// the agent's /v1/txn does with the body, so that an RPC cannot bring the
// servers more than the HTTP API would.
func (s *Server) checkTxnSize(ops structs.TxnOps) error {
	limit := max(s.config.TxnMaxReqLen, s.config.KVMaxValueSize)
	total := 0
	for _, op := range ops {
		if op != nil && op.KV != nil {
			total += len(op.KV.DirEnt.Value)
		}
	}
	if total > limit {
		return fmt.Errorf("%w: the values of the transaction add up to %d bytes, over the limit of %d", structs.ErrRequestTooLarge, total, limit)
	}
	return nil
}

// txnLockPreCheck refuses lock operations on keys whose lock delay is
// still running, as KVS.Apply does and with Consul's text; the delay cannot
// be checked while the entry is applied.
func (s *Server) txnLockPreCheck(ops structs.TxnOps) structs.TxnErrors {
	var errs structs.TxnErrors
	st := s.fsm.State()
	now := time.Now()
	for i, op := range ops {
		if op == nil || op.KV == nil || op.KV.Verb != structs.KVSLock {
			continue
		}
		if st.KVSLockDelay(op.KV.DirEnt.Key).After(now) {
			errs = append(errs, &structs.TxnError{OpIndex: i, What: fmt.Sprintf("failed to lock key %q due to lock delay", op.KV.DirEnt.Key)})
		}
	}
	return errs
}

// validateTxnOps checks every operation before anything is applied; a
// value may hold at most maxValue bytes.
func validateTxnOps(ops structs.TxnOps, maxValue int) structs.TxnErrors {
	var errs structs.TxnErrors
	if len(ops) > MaxTxnOps {
		return structs.TxnErrors{{OpIndex: 0, What: fmt.Sprintf("transaction contains too many operations (%d > %d)", len(ops), MaxTxnOps)}}
	}
	for i, op := range ops {
		if op == nil {
			errs = append(errs, &structs.TxnError{OpIndex: i, What: "no operation specified"})
			continue
		}
		parts := 0
		for _, set := range []bool{op.KV != nil, op.Node != nil, op.Service != nil, op.Check != nil, op.Session != nil} {
			if set {
				parts++
			}
		}
		if parts != 1 {
			errs = append(errs, &structs.TxnError{OpIndex: i, What: fmt.Sprintf("an operation must have exactly one of KV, Node, Service, Check and Session, not %d", parts)})
			continue
		}
		if op.KV == nil {
			if err := validateCatalogTxnOp(op); err != nil {
				errs = append(errs, &structs.TxnError{OpIndex: i, What: err.Error()})
			}
			continue
		}
		switch op.KV.Verb {
		case structs.KVSGet, structs.KVSGetOrEmpty, structs.KVSCheckIndex, structs.KVSCheckSession, structs.KVSCheckNotExists:
			if op.KV.DirEnt.Key == "" {
				errs = append(errs, &structs.TxnError{OpIndex: i, What: "missing key name"})
			}
		case structs.KVSGetTree:
		case structs.KVSSet, structs.KVSCAS, structs.KVSDelete, structs.KVSDeleteCAS, structs.KVSDeleteTree, structs.KVSLock, structs.KVSUnlock:
			if err := validateKVSOp(op.KV.Verb, &op.KV.DirEnt, maxValue); err != nil {
				errs = append(errs, &structs.TxnError{OpIndex: i, What: err.Error()})
			}
		default:
			errs = append(errs, &structs.TxnError{OpIndex: i, What: fmt.Sprintf("unknown KV verb %q", op.KV.Verb)})
		}
	}
	return errs
}

// validCatalogVerb reports whether v is a verb of Node, Service and Check
// operations.
func validCatalogVerb(v string) bool {
	switch v {
	case structs.TxnVerbGet, structs.TxnVerbSet, structs.TxnVerbCAS, structs.TxnVerbDelete, structs.TxnVerbDeleteCAS:
		return true
	}
	return false
}

// validateCatalogTxnOp checks a Node, Service, Check or Session operation
// and fills in the defaults a catalog registration gets (a service's ID
// from its name, a check's status), so that the entry applied is the same
// on every server.
func validateCatalogTxnOp(op *structs.TxnOp) error {
	switch {
	case op.Node != nil:
		n := op.Node
		if !validCatalogVerb(n.Verb) {
			return fmt.Errorf("unknown Node verb %q", n.Verb)
		}
		if n.Node.Node == "" && !(n.Verb == structs.TxnVerbGet && n.Node.ID != "") {
			return fmt.Errorf("missing node name")
		}
		if (n.Verb == structs.TxnVerbSet || n.Verb == structs.TxnVerbCAS) && n.Node.Address == "" {
			return fmt.Errorf("missing node address")
		}

	case op.Service != nil:
		sv := op.Service
		if !validCatalogVerb(sv.Verb) {
			return fmt.Errorf("unknown Service verb %q", sv.Verb)
		}
		if sv.Node == "" {
			return fmt.Errorf("missing node name")
		}
		if sv.Service.ID == "" {
			sv.Service.ID = sv.Service.Service
		}
		if sv.Service.ID == "" {
			return fmt.Errorf("missing service ID")
		}
		if sv.Verb == structs.TxnVerbSet || sv.Verb == structs.TxnVerbCAS {
			if sv.Service.Service == "" {
				return fmt.Errorf("missing service name")
			}
			if sv.Service.Weights == (structs.Weights{}) {
				// Unset, as the official client sends it: the default.
				sv.Service.Weights = structs.Weights{Passing: 1, Warning: 1}
			}
		}

	case op.Check != nil:
		c := op.Check
		if !validCatalogVerb(c.Verb) {
			return fmt.Errorf("unknown Check verb %q", c.Verb)
		}
		if c.Check.Node == "" {
			return fmt.Errorf("missing node name")
		}
		if c.Check.CheckID == "" && c.Check.Name != "" {
			c.Check.CheckID = c.Check.Name
		}
		if c.Check.CheckID == "" {
			return fmt.Errorf("missing check ID")
		}
		if c.Verb == structs.TxnVerbSet || c.Verb == structs.TxnVerbCAS {
			if c.Check.Status == "" {
				c.Check.Status = structs.HealthCritical
			}
			if !structs.ValidHealthStatus(c.Check.Status) {
				return fmt.Errorf("invalid check status %q: must be passing, warning or critical", c.Check.Status)
			}
		}

	case op.Session != nil:
		if op.Session.Verb != structs.TxnSessionDelete {
			return fmt.Errorf("unknown Session verb %q", op.Session.Verb)
		}
		if op.Session.Session.ID == "" {
			return fmt.Errorf("missing session ID")
		}
	}
	return nil
}
