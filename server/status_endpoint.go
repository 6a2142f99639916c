package server

import (
	"context"
	"sort"

	"github.com/meridian-sd/meridian/structs"
)

// Status answers questions about the server itself; it is never forwarded
// to the leader.
type Status struct{ s *Server }

// Ping answers immediately, to check reachability.
func (e *Status) Ping(ctx context.Context, args struct{}, reply *struct{}) error { return nil }

// Leader returns the Raft leader's server address of the requested DC, or
// "" when none is known.
func (e *Status) Leader(ctx context.Context, args *structs.StatusRequest, reply *string) error {
	if dc := args.Datacenter; dc != "" && dc != e.s.config.Datacenter {
		return e.s.forwardDC(ctx, "Status.Leader", dc, args, reply)
	}
	*reply = string(e.s.raft.Leader())
	return nil
}

// Peers returns the server addresses of the Raft voters.
func (e *Status) Peers(ctx context.Context, args *structs.StatusRequest, reply *[]string) error {
	if dc := args.Datacenter; dc != "" && dc != e.s.config.Datacenter {
		return e.s.forwardDC(ctx, "Status.Peers", dc, args, reply)
	}
	f := e.s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return err
	}
	out := []string{}
	for _, srv := range f.Configuration().Servers {
		out = append(out, string(srv.Address))
	}
	sort.Strings(out)
	*reply = out
	return nil
}

// RaftStats returns this server's Raft progress.
func (e *Status) RaftStats(ctx context.Context, args *structs.StatusRequest, reply *structs.RaftStats) error {
	*reply = e.s.localRaftStats()
	return nil
}
