package agent

import (
	"fmt"
	"net/http"

	"github.com/meridian-sd/meridian/structs"
)

// txnOpBody is one operation of /v1/txn in Consul's shape. Only KV
// operations are supported; others are refused by name.
type txnOpBody struct {
	KV      *txnKVBody
	Node    any
	Service any
	Check   any
	Session any
}

type txnKVBody struct {
	Verb    structs.KVSOp
	Key     string
	Value   []byte
	Flags   uint64
	Index   uint64
	Session string
}

// maxTxnBodySize bounds the request body, as Consul's txn max_req_size.
const maxTxnBodySize = 512 * 1024

func (a *Agent) txn(resp http.ResponseWriter, req *http.Request) (any, error) {
	req.Body = http.MaxBytesReader(resp, req.Body, maxTxnBodySize)
	var body []txnOpBody
	if err := decodeBody(req, &body); err != nil {
		return nil, err
	}
	if len(body) == 0 {
		return nil, badRequest("Transaction has no operations")
	}
	ops := make(structs.TxnOps, 0, len(body))
	readOnly := true
	for i, b := range body {
		if b.KV == nil {
			what := "unknown"
			switch {
			case b.Node != nil:
				what = "Node"
			case b.Service != nil:
				what = "Service"
			case b.Check != nil:
				what = "Check"
			case b.Session != nil:
				what = "Session"
			}
			return nil, badRequest("Operation %d: %s operations are not supported, only KV", i, what)
		}
		switch b.KV.Verb {
		case structs.KVSSet, structs.KVSDelete, structs.KVSDeleteCAS, structs.KVSDeleteTree, structs.KVSCAS,
			structs.KVSLock, structs.KVSUnlock, structs.KVSGet, structs.KVSGetOrEmpty, structs.KVSGetTree,
			structs.KVSCheckSession, structs.KVSCheckIndex, structs.KVSCheckNotExists:
		default:
			return nil, badRequest("Operation %d: unknown KV verb %q", i, b.KV.Verb)
		}
		if len(b.KV.Value) > structs.MaxKVSize {
			return nil, HTTPError{Code: http.StatusRequestEntityTooLarge,
				Reason: fmt.Sprintf("Operation %d: value exceeds %d byte limit", i, structs.MaxKVSize)}
		}
		if b.KV.Verb.IsWrite() {
			readOnly = false
		}
		ops = append(ops, &structs.TxnOp{KV: &structs.TxnKVOp{Verb: b.KV.Verb, DirEnt: structs.DirEntry{
			Key: b.KV.Key, Value: b.KV.Value, Flags: b.KV.Flags, ModifyIndex: b.KV.Index, Session: b.KV.Session,
		}}})
	}

	var out structs.TxnResponse
	if readOnly {
		args := &structs.TxnReadRequest{Ops: ops}
		dc, err := a.parseQuery(req, &args.QueryOptions)
		if err != nil {
			return nil, err
		}
		args.Datacenter = dc
		var rout structs.TxnReadResponse
		if err := a.RPC("Txn.Read", args, &rout); err != nil {
			return nil, err
		}
		setMeta(resp, &rout.QueryMeta)
		out = rout.TxnResponse
	} else {
		args := &structs.TxnRequest{Datacenter: a.parseDC(req), Ops: ops}
		if err := a.RPC("Txn.Apply", args, &out); err != nil {
			return nil, err
		}
	}
	if len(out.Errors) > 0 {
		resp.Header().Set("Content-Type", "application/json")
		resp.WriteHeader(http.StatusConflict)
	}
	if out.Results == nil {
		out.Results = structs.TxnResults{}
	}
	return out, nil
}
