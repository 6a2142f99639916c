package server

import (
	"errors"
	"fmt"

	"github.com/hashicorp/raft"

	"github.com/meridian-sd/meridian/structs"
)

// raftApply writes an entry through Raft and returns the FSM's response.
//
// Every write of the server goes through here, so this is where an entry
// is bounded: one larger than entryLimit allows for its kind is refused
// with structs.ErrRequestTooLarge before Raft sees it (see
// structs.MaxRaftEntrySize for why the log store cannot be trusted with
// it), and the encoding stops at the limit, so the refusal costs no more
// memory than the limit.
func (s *Server) raftApply(t structs.MessageType, msg any) (any, error) {
	buf, err := s.fsm.entries.Encode(t, msg, s.entryLimit(t))
	if err != nil {
		return nil, err
	}
	f := s.raft.Apply(buf, raftApplyTimeout)
	lost, err := s.wait(f)
	if lost {
		err = errNoOutcome(fmt.Sprintf("apply %s", t))
	}
	if err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
			return nil, structs.ErrNoLeader
		}
		return nil, fmt.Errorf("apply %s: %w", t, err)
	}
	resp := f.Response()
	if err, ok := resp.(error); ok && err != nil {
		return nil, err
	}
	return resp, nil
}

// entryLimit is the largest encoded entry of type t, never over
// structs.MaxRaftEntrySize. Kinds whose natural size is small get a
// tighter bound, so that no single request of theirs can make the servers
// hold and replicate tens of megabytes. KV writes and transactions are
// bounded by their values (limits.kv_max_value_size, txn_max_req_len) in
// their endpoints, and here only by the common limit.
func (s *Server) entryLimit(t structs.MessageType) int {
	switch t &^ structs.IgnoreUnknownTypeFlag {
	case structs.RegisterRequestType, structs.DeregisterRequestType:
		return structs.MaxRegisterSize
	case structs.SessionRequestType:
		return structs.MaxSessionSize
	case structs.CoordinateBatchUpdateType:
		return min(coordinateBatchLimit(s.config.CoordinateUpdateBatchSize), structs.MaxRaftEntrySize)
	}
	return structs.MaxRaftEntrySize
}

// coordinateBatchLimit bounds a batch of n coordinate updates, each of
// which Coordinate.Update has bounded to structs.MaxCoordinateSize.
func coordinateBatchLimit(n int) int {
	return 1024 + n*(structs.MaxCoordinateSize+64)
}
