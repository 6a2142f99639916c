package server

import "github.com/meridian-sd/meridian/structs"

func (f *FSM) applyPreparedQuery(data []byte, index uint64) any {
	var req structs.PreparedQueryRequest
	if err := f.decode(data, &req); err != nil {
		return err
	}
	if req.Query == nil {
		return structs.BadRequest("invalid prepared query request: missing query")
	}
	st := f.State()
	switch req.Op {
	case structs.PreparedQueryCreate, structs.PreparedQueryUpdate:
		return st.PreparedQuerySet(index, req.Query)
	case structs.PreparedQueryDelete:
		return st.PreparedQueryDelete(index, req.Query.ID)
	}
	return structs.BadRequest("invalid prepared query operation %q", req.Op)
}

func (f *FSM) applyQueryFailover(data []byte, index uint64) any {
	var req structs.PreparedQueryFailoverRequest
	if err := f.decode(data, &req); err != nil {
		return err
	}
	if req.Op != structs.PreparedQueryFailoverSet {
		return structs.BadRequest("invalid prepared query failover operation %q", req.Op)
	}
	return f.State().PreparedQueryFailoverSet(index, &req.Status)
}
