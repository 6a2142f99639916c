package agent

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/meridian-sd/meridian/server"
	"github.com/meridian-sd/meridian/structs"
)

// Transaction HTTP API, as Consul's PUT /v1/txn: the body is a JSON array
// of operations, each with one of
//
//	{"KV": {Verb, Key, Value(base64), Flags, Index, Session}}
//	{"Node": {Verb, Node: {ID, Node, Address, Datacenter, TaggedAddresses, Meta, ModifyIndex}}}
//	{"Service": {Verb, Node, Service: {ID, Service, Tags, ..., ModifyIndex}}}
//	{"Check": {Verb, Check: {Node, CheckID, Name, Status, ..., ModifyIndex}}}
//	{"Session": {Verb: "delete", Session: {ID}}}
//
// Node, Service and Check take get, set, cas, delete and delete-cas. All
// operations apply atomically in one Raft entry; a transaction of reads
// only is served without Raft and takes ?stale and ?consistent. The answer
// is {Results, Errors}: HTTP 200 when it committed, with {"KV": ...},
// {"Node": ...}, {"Service": ...} or {"Check": ...} results in operation
// order (deletes answer none), 409 with the failed operations' errors when
// it rolled back. A body that is not such an array is 400. As in Consul, a
// body or a sum of values over limits.txn_max_req_len (or over
// limits.kv_max_value_size when that is larger), a value over
// limits.kv_max_value_size, or more than server.MaxTxnOps operations is 413.

// txnOpBody is one operation of /v1/txn in Consul's shape.
type txnOpBody struct {
	KV      *txnKVBody
	Node    *structs.TxnNodeOp
	Service *structs.TxnServiceOp
	Check   *structs.TxnCheckOp
	Session *txnSessionBody
}

// txnSessionBody is a Session operation; only the session's ID counts.
type txnSessionBody struct {
	Verb    string
	Session struct{ ID string }
}

type txnKVBody struct {
	Verb    structs.KVSOp
	Key     string
	Value   []byte
	Flags   uint64
	Index   uint64
	Session string
}

// txnLimits are the size limits of a transaction, from the agent's
// configuration.
type txnLimits struct {
	// maxValue caps one value (limits.kv_max_value_size).
	maxValue int
	// maxTxn caps the body and the sum of the values: txn_max_req_len, or
	// kv_max_value_size when that is larger, as Consul keeps a raised value
	// limit usable in a transaction.
	maxTxn int
}

func (a *Agent) txnLimits() txnLimits {
	rc := a.cfg()
	return txnLimits{maxValue: rc.KVMaxValueSize, maxTxn: max(rc.TxnMaxReqLen, rc.KVMaxValueSize)}
}

func (a *Agent) txn(resp http.ResponseWriter, req *http.Request) (any, error) {
	ops, writes, err := decodeTxnOps(req, a.txnLimits(), a.datacenter())
	if err != nil {
		return nil, err
	}
	var out structs.TxnResponse
	if !writes {
		args := &structs.TxnReadRequest{Ops: ops}
		dc, err := a.parseQuery(req, &args.QueryOptions)
		if err != nil {
			return nil, err
		}
		args.Datacenter = dc
		var rout structs.TxnReadResponse
		if err := a.RPCContext(req.Context(), "Txn.Read", args, &rout); err != nil {
			return nil, err
		}
		// Not a blocking query: only leader knowledge, as Consul's.
		resp.Header().Set("X-Consul-KnownLeader", strconv.FormatBool(rout.KnownLeader))
		resp.Header().Set("X-Consul-LastContact", strconv.FormatInt(rout.LastContact.Milliseconds(), 10))
		out = rout.TxnResponse
	} else {
		args := &structs.TxnRequest{Datacenter: a.parseDC(req), Ops: ops}
		if err := a.RPCContext(req.Context(), "Txn.Apply", args, &out); err != nil {
			return nil, err
		}
	}
	if len(out.Errors) > 0 {
		// Rolled back: Consul answers 409 with the errors and no results.
		buf, err := json.Marshal(structs.TxnResponse{Errors: out.Errors})
		if err != nil {
			return nil, fmt.Errorf("encode transaction errors: %w", err)
		}
		resp.Header().Set("Content-Type", "application/json")
		resp.WriteHeader(http.StatusConflict)
		resp.Write(buf)
		return nil, nil
	}
	if out.Results == nil {
		out.Results = structs.TxnResults{}
	}
	return out, nil
}

// decodeTxnOps reads and checks the body of /v1/txn against lim; writes
// reports whether any operation changes the store.
func decodeTxnOps(req *http.Request, lim txnLimits, dc string) (structs.TxnOps, bool, error) {
	tooLarge := func(format string, args ...any) error {
		return HTTPError{Code: http.StatusRequestEntityTooLarge, Reason: fmt.Sprintf(format, args...)}
	}
	if req.Body == nil {
		return nil, false, badRequest("Failed to parse body: the body is empty, it must be a JSON array of operations")
	}
	// wrap has read the body within lim.maxTxn (413 beyond).
	raw, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, false, badRequest("Cannot read the request body: %v", err)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, false, badRequest("Failed to parse body: the body is empty, it must be a JSON array of operations")
	}
	var in []txnOpBody
	if err := json.Unmarshal(raw, &in); err != nil {
		return nil, false, badRequest("Failed to parse body: %v", err)
	}
	if in == nil {
		return nil, false, badRequest("Failed to parse body: it must be a JSON array of operations, not null")
	}
	if len(in) > server.MaxTxnOps {
		return nil, false, tooLarge("Transaction contains too many operations (%d > %d)", len(in), server.MaxTxnOps)
	}
	ops := make(structs.TxnOps, 0, len(in))
	writes := false
	total := 0
	for i, b := range in {
		parts := 0
		for _, set := range []bool{b.KV != nil, b.Node != nil, b.Service != nil, b.Check != nil, b.Session != nil} {
			if set {
				parts++
			}
		}
		switch {
		case parts == 0:
			return nil, false, badRequest("Operation %d is empty: it needs one of KV, Node, Service, Check or Session", i)
		case parts > 1:
			return nil, false, badRequest("Operation %d has several parts: it needs exactly one of KV, Node, Service, Check or Session", i)
		}
		if b.KV == nil {
			op, err := catalogTxnOp(i, b, dc)
			if err != nil {
				return nil, false, err
			}
			if op.IsWrite() {
				writes = true
			}
			ops = append(ops, op)
			continue
		}
		if len(b.KV.Value) > lim.maxValue {
			return nil, false, tooLarge("Value for key %q is too large (%d > %d bytes)", b.KV.Key, len(b.KV.Value), lim.maxValue)
		}
		total += len(b.KV.Value)
		if b.KV.Verb.IsWrite() {
			writes = true
		}
		ops = append(ops, &structs.TxnOp{KV: &structs.TxnKVOp{Verb: b.KV.Verb, DirEnt: structs.DirEntry{
			Key: b.KV.Key, Value: b.KV.Value, Flags: b.KV.Flags, ModifyIndex: b.KV.Index, Session: b.KV.Session,
		}}})
	}
	if total > lim.maxTxn {
		return nil, false, tooLarge("Cumulative size of key data is too large (%d > %d bytes)", total, lim.maxTxn)
	}
	return ops, writes, nil
}

// catalogTxnOp converts the i-th operation of a body, which has exactly
// one part and not a KV one; a node without a datacenter is in dc (the agent's), as in Consul.
func catalogTxnOp(i int, b txnOpBody, dc string) (*structs.TxnOp, error) {
	switch {
	case b.Node != nil:
		if b.Node.Node.Datacenter == "" {
			b.Node.Node.Datacenter = dc
		}
		b.Node.Node.CreateIndex = 0
		return &structs.TxnOp{Node: b.Node}, nil
	case b.Service != nil:
		svc := &b.Service.Service
		if err := svc.NormalizeOpaque(); err != nil {
			return nil, badRequest("Operation %d: invalid %v", i, err)
		}
		// Read-only fields of the AgentService shape.
		svc.CreateIndex, svc.Datacenter = 0, ""
		return &structs.TxnOp{Service: b.Service}, nil
	case b.Check != nil:
		b.Check.Check.CreateIndex = 0
		return &structs.TxnOp{Check: b.Check}, nil
	}
	return &structs.TxnOp{Session: &structs.TxnSessionOp{Verb: b.Session.Verb, Session: structs.Session{ID: b.Session.Session.ID}}}, nil
}
