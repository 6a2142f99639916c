package structs

// TxnKVOp is one KV operation inside a transaction.
type TxnKVOp struct {
	Verb   KVSOp
	DirEnt DirEntry
}

// Verbs of the Node, Service and Check operations of a transaction, as
// Consul's.
const (
	TxnVerbGet       = "get"
	TxnVerbSet       = "set"
	TxnVerbCAS       = "cas"
	TxnVerbDelete    = "delete"
	TxnVerbDeleteCAS = "delete-cas"
)

// TxnSessionDelete is the only verb of a Session operation: it destroys the
// session, as /v1/session/destroy does.
const TxnSessionDelete = "delete"

// TxnNodeOp is one operation on a catalog node: get, set, cas (against
// Node.ModifyIndex; 0 means the node must not exist), delete, or
// delete-cas. A get looks the node up by ID when one is given.
type TxnNodeOp struct {
	Verb string
	Node Node
}

// TxnServiceOp is one operation on a service instance of a node: get,
// set, cas (against Service.ModifyIndex), delete or delete-cas.
type TxnServiceOp struct {
	Verb    string
	Node    string
	Service NodeService
}

// TxnCheckOp is one operation on a check: get, set, cas (against
// Check.ModifyIndex), delete or delete-cas.
type TxnCheckOp struct {
	Verb  string
	Check HealthCheck
}

// TxnSessionOp is one operation on a session: only delete.
type TxnSessionOp struct {
	Verb    string
	Session Session
}

// TxnOp is one operation: exactly one of its parts is set.
type TxnOp struct {
	KV      *TxnKVOp
	Node    *TxnNodeOp    `json:",omitempty"`
	Service *TxnServiceOp `json:",omitempty"`
	Check   *TxnCheckOp   `json:",omitempty"`
	Session *TxnSessionOp `json:",omitempty"`
}

// IsWrite reports whether the operation changes the store.
func (op *TxnOp) IsWrite() bool {
	switch {
	case op == nil:
		return false
	case op.KV != nil:
		return op.KV.Verb.IsWrite()
	case op.Node != nil:
		return op.Node.Verb != TxnVerbGet
	case op.Service != nil:
		return op.Service.Verb != TxnVerbGet
	case op.Check != nil:
		return op.Check.Verb != TxnVerbGet
	case op.Session != nil:
		return true
	}
	return false
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
	KV      *DirEntry    `json:",omitempty"`
	Node    *Node        `json:",omitempty"`
	Service *NodeService `json:",omitempty"`
	Check   *HealthCheck `json:",omitempty"`
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
