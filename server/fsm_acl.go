package server

import (
	"fmt"

	"github.com/meridian-sd/meridian/structs"
)

// applyACL applies the ACL entries. Nothing here is logged with its
// content: tokens carry secrets.
func (f *FSM) applyACL(t structs.MessageType, data []byte, index uint64) any {
	st := f.State()
	switch t {
	case structs.ACLBootstrapRequestType:
		var req structs.ACLBootstrapRequest
		if err := f.decode(data, &req); err != nil {
			return err
		}
		return st.ACLBootstrap(index, req.ResetIndex, &req.Token, globalManagementPolicy())
	case structs.ACLTokenSetRequestType:
		var req structs.ACLTokenBatchSetRequest
		if err := f.decode(data, &req); err != nil {
			return err
		}
		return st.ACLTokenSet(index, req.Tokens, req.AllowMissingLinks)
	case structs.ACLTokenDeleteRequestType:
		var req structs.ACLTokenBatchDeleteRequest
		if err := f.decode(data, &req); err != nil {
			return err
		}
		return st.ACLTokenDelete(index, req.TokenIDs)
	case structs.ACLPolicySetRequestType:
		var req structs.ACLPolicyBatchSetRequest
		if err := f.decode(data, &req); err != nil {
			return err
		}
		return st.ACLPolicySet(index, req.Policies)
	case structs.ACLPolicyDeleteRequestType:
		var req structs.ACLPolicyBatchDeleteRequest
		if err := f.decode(data, &req); err != nil {
			return err
		}
		return st.ACLPolicyDelete(index, req.PolicyIDs)
	case structs.ACLRoleSetRequestType:
		var req structs.ACLRoleBatchSetRequest
		if err := f.decode(data, &req); err != nil {
			return err
		}
		return st.ACLRoleSet(index, req.Roles)
	case structs.ACLRoleDeleteRequestType:
		var req structs.ACLRoleBatchDeleteRequest
		if err := f.decode(data, &req); err != nil {
			return err
		}
		return st.ACLRoleDelete(index, req.RoleIDs)
	}
	return fmt.Errorf("unknown ACL entry type %d", uint8(t))
}
