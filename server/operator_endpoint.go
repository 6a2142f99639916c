package server

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/hashicorp/raft"

	"github.com/meridian-sd/meridian/structs"
)

// Operator serves operator actions: the Raft configuration and the
// federation view.
type Operator struct{ s *Server }

// RaftGetConfiguration lists the Raft servers with their node names.
func (o *Operator) RaftGetConfiguration(ctx context.Context, args *structs.DCSpecificRequest, reply *structs.RaftConfigurationResponse) error {
	if done, err := o.s.forward(ctx, "Operator.RaftGetConfiguration", args, args, reply); done {
		return err
	}
	f := o.s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return err
	}
	names := make(map[raft.ServerAddress]string)
	o.s.localLock.RLock()
	for addr, meta := range o.s.localServers {
		names[addr] = meta.Name
	}
	o.s.localLock.RUnlock()
	leader := o.s.raft.Leader()
	reply.Index = f.Index()
	reply.Servers = nil
	for _, srv := range f.Configuration().Servers {
		reply.Servers = append(reply.Servers, &structs.RaftServer{
			ID:              string(srv.ID),
			Node:            names[srv.Address],
			Address:         string(srv.Address),
			Leader:          srv.Address == leader,
			ProtocolVersion: "3",
			Voter:           srv.Suffrage == raft.Voter,
		})
	}
	sort.Slice(reply.Servers, func(i, j int) bool { return reply.Servers[i].Node < reply.Servers[j].Node })
	return nil
}

// RaftRemovePeer removes a server from the Raft configuration, by ID or
// address. As Consul's, it removes even a server that is still alive: it
// is meant for the operator who knows why (a live server that is still a
// LAN member is added back, as a non-voter, by the leader's next
// reconcile).
func (o *Operator) RaftRemovePeer(ctx context.Context, args *structs.RaftRemovePeerRequest, reply *struct{}) error {
	if done, err := o.s.forward(ctx, "Operator.RaftRemovePeer", args, args, reply); done {
		return err
	}
	if args.ID == "" && args.Address == "" {
		return structs.BadRequest("missing peer: give an id or an address")
	}
	f := o.s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return err
	}
	var target *raft.Server
	for _, srv := range f.Configuration().Servers {
		if (args.ID != "" && string(srv.ID) == args.ID) || (args.Address != "" && string(srv.Address) == args.Address) {
			target = &srv
			break
		}
	}
	if target == nil {
		if args.ID != "" {
			return structs.BadRequest("invalid peer: id %q is not in the raft configuration", args.ID)
		}
		return structs.BadRequest("invalid peer: address %q is not in the raft configuration", args.Address)
	}
	if err := o.s.await(o.s.raft.RemoveServer(target.ID, 0, 0), "remove raft peer"); err != nil {
		return fmt.Errorf("remove raft peer %s: %w", target.ID, err)
	}
	o.s.logger.Info("removed raft peer by operator request", "id", target.ID, "address", target.Address)
	return nil
}

// FederationStatus returns every datacenter as this server sees it.
func (o *Operator) FederationStatus(ctx context.Context, args *structs.DCSpecificRequest, reply *[]structs.FederationDC) error {
	if dc := args.Datacenter; dc != "" && dc != o.s.config.Datacenter {
		aclForwarded(ctx)
		return o.s.forwardDC(ctx, "Operator.FederationStatus", dc, args, reply)
	}
	if err := o.s.aclPreCheck(ctx); err != nil {
		return err
	}
	local := o.s.wanCoordinate()
	out := []structs.FederationDC{}
	for _, st := range o.s.router.Status() {
		fd := structs.FederationDC{
			Datacenter:   st.Datacenter,
			Local:        st.Datacenter == o.s.config.Datacenter,
			ServersKnown: st.ServersKnown,
			ServersAlive: st.ServersAlive,
			Servers:      st.Servers,
			LeaderKnown:  st.LeaderOK,
			LastError:    st.LastError,
		}
		if !st.LastContact.IsZero() {
			t := st.LastContact
			fd.LastContact = &t
		}
		if !st.LastErrorTime.IsZero() {
			t := st.LastErrorTime
			fd.LastErrorTime = &t
		}
		var rtts []time.Duration
		for _, m := range st.Servers {
			if c, ok := o.s.wanCoordinateOf(m); ok && local != nil && c != nil && local.IsCompatibleWith(c) {
				rtts = append(rtts, local.DistanceTo(c))
			}
		}
		if len(rtts) > 0 {
			sort.Slice(rtts, func(i, j int) bool { return rtts[i] < rtts[j] })
			fd.MedianRTT = structs.Duration(rtts[len(rtts)/2])
		}
		switch {
		case fd.Local:
			now := time.Now()
			fd.LeaderKnown = o.s.raft.Leader() != ""
			fd.LastContact = &now
			fd.LastError, fd.LastErrorTime = "", nil
			fd.MedianRTT = 0
			fd.Reachable = true
		case fd.LastContact == nil && fd.LastErrorTime == nil:
			// Not probed yet: judge by gossip alone.
			fd.Reachable = fd.ServersAlive > 0
		default:
			fd.Reachable = fd.LastContact != nil && (fd.LastErrorTime == nil || !fd.LastErrorTime.After(*fd.LastContact))
		}
		out = append(out, fd)
	}
	*reply = out
	return nil
}
