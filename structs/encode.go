package structs

import (
	"bytes"
	"fmt"
	"reflect"

	"github.com/hashicorp/go-msgpack/v2/codec"
)

// MessageType is the first byte of a Raft log entry and says which request
// follows.
type MessageType uint8

// Log entry types. Values are part of the on-disk format: never renumber.
const (
	RegisterRequestType       MessageType = 0
	DeregisterRequestType     MessageType = 1
	KVSRequestType            MessageType = 2
	SessionRequestType        MessageType = 3
	TombstoneRequestType      MessageType = 4
	CoordinateBatchUpdateType MessageType = 5
	TxnRequestType            MessageType = 6
	// Prepared queries (prepared_query.go).
	PreparedQueryRequestType         MessageType = 7
	PreparedQueryFailoverRequestType MessageType = 8
	// ACL entries (acl.go) start at 20, leaving room below.
	ACLBootstrapRequestType    MessageType = 20
	ACLTokenSetRequestType     MessageType = 21
	ACLTokenDeleteRequestType  MessageType = 22
	ACLPolicySetRequestType    MessageType = 23
	ACLPolicyDeleteRequestType MessageType = 24
	ACLRoleSetRequestType      MessageType = 25
	ACLRoleDeleteRequestType   MessageType = 26
	// AutopilotRequestType sets the autopilot configuration
	// (AutopilotSetConfigRequest); operator entries start at 30.
	AutopilotRequestType MessageType = 30
)

// IgnoreUnknownTypeFlag set on a type lets an older server skip an entry it
// does not know instead of refusing it.
const IgnoreUnknownTypeFlag MessageType = 128

// String names the type for logs.
func (t MessageType) String() string {
	switch t &^ IgnoreUnknownTypeFlag {
	case RegisterRequestType:
		return "Register"
	case DeregisterRequestType:
		return "Deregister"
	case KVSRequestType:
		return "KVS"
	case SessionRequestType:
		return "Session"
	case TombstoneRequestType:
		return "Tombstone"
	case CoordinateBatchUpdateType:
		return "CoordinateBatchUpdate"
	case TxnRequestType:
		return "Txn"
	case PreparedQueryRequestType:
		return "PreparedQuery"
	case PreparedQueryFailoverRequestType:
		return "PreparedQueryFailover"
	case ACLBootstrapRequestType, ACLTokenSetRequestType, ACLTokenDeleteRequestType,
		ACLPolicySetRequestType, ACLPolicyDeleteRequestType, ACLRoleSetRequestType, ACLRoleDeleteRequestType:
		return aclMessageName(t &^ IgnoreUnknownTypeFlag)
	case AutopilotRequestType:
		return "Autopilot"
	}
	return fmt.Sprintf("MessageType(%d)", uint8(t))
}

// NewMsgpackHandle returns the msgpack settings used for Raft entries,
// snapshots and RPC. A fresh handle per user avoids shared mutable state.
func NewMsgpackHandle() *codec.MsgpackHandle {
	h := &codec.MsgpackHandle{}
	h.RawToString = true
	h.WriteExt = true
	h.MapType = reflect.TypeOf(map[string]any(nil))
	return h
}

// Encode writes a Raft log entry: the type byte, then msg in msgpack.
func Encode(h *codec.MsgpackHandle, t MessageType, msg any) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte(uint8(t))
	if err := codec.NewEncoder(&buf, h).Encode(msg); err != nil {
		return nil, fmt.Errorf("encode %s: %w", t, err)
	}
	return buf.Bytes(), nil
}

// Decode reads msgpack from buf (without the type byte) into out.
func Decode(h *codec.MsgpackHandle, buf []byte, out any) error {
	if err := codec.NewDecoderBytes(buf, h).Decode(out); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	return nil
}
