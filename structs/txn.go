package structs

// TxnKVOp is one KV operation inside a transaction.
type TxnKVOp struct {
	Verb   KVSOp
	DirEnt DirEntry
}

// TxnOp is one operation; only KV is supported.
type TxnOp struct {
	KV *TxnKVOp
}

// TxnOps is an ordered list of operations.
type TxnOps []*TxnOp

// TxnRequest applies operations atomically in one Raft entry.
type TxnRequest struct {
	Datacenter string
	Ops        TxnOps
	WriteRequest
}

// RequestDatacenter implements RPCInfo.
func (r *TxnRequest) RequestDatacenter() string { return r.Datacenter }

// TxnReadRequest runs read-only operations without Raft.
type TxnReadRequest struct {
	Datacenter string
	Ops        TxnOps
	QueryOptions
}

// RequestDatacenter implements RPCInfo.
func (r *TxnReadRequest) RequestDatacenter() string { return r.Datacenter }

// TxnError is the failure of one operation, in Consul's shape.
type TxnError struct {
	OpIndex int
	What    string
}

// Error implements error.
func (e TxnError) Error() string { return e.What }

// TxnErrors lists failed operations.
type TxnErrors []*TxnError

// TxnResult is the result of one operation.
type TxnResult struct {
	KV *DirEntry `json:",omitempty"`
}

// TxnResults lists results in operation order.
type TxnResults []*TxnResult

// TxnResponse is the answer to a transaction: results when it committed,
// errors when it rolled back.
type TxnResponse struct {
	Results TxnResults
	Errors  TxnErrors
}

// TxnReadResponse is a TxnResponse with read meta.
type TxnReadResponse struct {
	TxnResponse
	QueryMeta
}
