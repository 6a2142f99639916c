package server

import (
	"context"
	"fmt"

	"github.com/hashicorp/raft"

	"github.com/meridian-sd/meridian/structs"
)

// AutopilotGetConfiguration returns the autopilot configuration in force.
func (o *Operator) AutopilotGetConfiguration(ctx context.Context, args *structs.DCSpecificRequest, reply *structs.AutopilotConfig) error {
	if done, err := o.s.forward(ctx, "Operator.AutopilotGetConfiguration", args, args, reply); done {
		return err
	}
	idx, c, err := o.s.fsm.State().AutopilotConfig()
	if err != nil {
		return err
	}
	if c == nil {
		// No leader has stored one yet: the configured one applies.
		cfg := o.s.config.Autopilot
		cfg.CreateIndex, cfg.ModifyIndex = idx, idx
		c = &cfg
	}
	*reply = *c
	return nil
}

// AutopilotSetConfiguration stores a new autopilot configuration; with
// CAS only when the stored one's ModifyIndex is args.Config.ModifyIndex,
// and reply says whether it did.
func (o *Operator) AutopilotSetConfiguration(ctx context.Context, args *structs.AutopilotSetConfigRequest, reply *bool) error {
	if done, err := o.s.forward(ctx, "Operator.AutopilotSetConfiguration", args, args, reply); done {
		return err
	}
	if args.CAS && args.Config.ModifyIndex == 0 {
		// CAS against "nothing stored" would fail once the leader stored
		// its initial configuration, which it always has: refuse clearly.
		if _, cur, err := o.s.fsm.State().AutopilotConfig(); err != nil {
			return err
		} else if cur != nil {
			*reply = false
			return nil
		}
	}
	resp, err := o.s.raftApply(structs.AutopilotRequestType, args)
	if err != nil {
		return fmt.Errorf("set autopilot configuration: %w", err)
	}
	if args.CAS {
		ok, _ := resp.(bool)
		*reply = ok
	} else {
		*reply = true
	}
	if *reply {
		o.s.logger.Info("autopilot configuration changed", "cleanup_dead_servers", args.Config.CleanupDeadServers,
			"redundancy_zone_tag", args.Config.RedundancyZoneTag)
	}
	return nil
}

// ServerHealth returns the health of every server as the leader's
// autopilot sees it; it is always answered by the leader.
func (o *Operator) ServerHealth(ctx context.Context, args *structs.DCSpecificRequest, reply *structs.AutopilotHealthReply) error {
	args.AllowStale = false
	if done, err := o.s.forward(ctx, "Operator.ServerHealth", args, args, reply); done {
		return err
	}
	h, err := o.s.autopilotHealth()
	if err != nil {
		return err
	}
	*reply = *h
	return nil
}

// AutopilotState returns the leader's whole autopilot state, with the
// redundancy zones.
func (o *Operator) AutopilotState(ctx context.Context, args *structs.DCSpecificRequest, reply *structs.AutopilotState) error {
	args.AllowStale = false
	if done, err := o.s.forward(ctx, "Operator.AutopilotState", args, args, reply); done {
		return err
	}
	st, err := o.s.autopilotState()
	if err != nil {
		return err
	}
	*reply = *st
	return nil
}

// RaftTransferLeader hands leadership to another voter: the one with
// args.ID, or one Raft picks (the most up to date).
func (o *Operator) RaftTransferLeader(ctx context.Context, args *structs.TransferLeaderRequest, reply *structs.TransferLeaderResponse) error {
	if done, err := o.s.forward(ctx, "Operator.RaftTransferLeader", args, args, reply); done {
		return err
	}
	f := o.s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return err
	}
	voters := 0
	var target *raft.Server
	for _, srv := range f.Configuration().Servers {
		if srv.Suffrage == raft.Voter {
			voters++
		}
		if args.ID != "" && string(srv.ID) == args.ID {
			target = &srv
		}
	}
	var fut raft.Future
	switch {
	case args.ID == "" && voters < 2:
		return structs.BadRequest("cannot transfer leadership: this server is the only voter")
	case args.ID == "":
		fut = o.s.raft.LeadershipTransfer()
	case target == nil:
		return structs.BadRequest("cannot transfer leadership: no server with id %q in the raft configuration", args.ID)
	case string(target.ID) == o.s.config.NodeID:
		return structs.BadRequest("cannot transfer leadership: server %q is already the leader", args.ID)
	case target.Suffrage != raft.Voter:
		return structs.BadRequest("cannot transfer leadership: server %q is not a voter", args.ID)
	default:
		fut = o.s.raft.LeadershipTransferToServer(target.ID, target.Address)
	}
	if err := o.s.await(fut, "transfer leadership"); err != nil {
		return fmt.Errorf("transfer leadership: %w", err)
	}
	o.s.logger.Info("leadership transferred by operator request", "to", args.ID)
	reply.Success = true
	return nil
}
