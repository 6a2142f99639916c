package server

import (
	"context"
	"fmt"
	"sort"

	"github.com/hashicorp/go-memdb"
	"github.com/hashicorp/serf/coordinate"

	"github.com/meridian-sd/meridian/gossip"
	"github.com/meridian-sd/meridian/state"
	"github.com/meridian-sd/meridian/structs"
)

// Coordinate serves network coordinates: agents' LAN coordinates (kept in
// the state store, written by the leader in batches) and servers' WAN
// coordinates (straight from the WAN pool).
type Coordinate struct{ s *Server }

// Update queues an agent's LAN coordinate; the leader writes the queue
// through Raft every CoordinateUpdatePeriod.
func (c *Coordinate) Update(ctx context.Context, args *structs.CoordinateUpdateRequest, reply *struct{}) error {
	if done, err := c.s.forward(ctx, "Coordinate.Update", args, args, reply); done {
		return err
	}
	if args.Node == "" {
		return structs.BadRequest("missing node name")
	}
	if args.Coord == nil || !args.Coord.IsValid() {
		return structs.BadRequest("invalid coordinate")
	}
	if c.s.config.Datacenter != "" && args.Datacenter != "" && args.Datacenter != c.s.config.Datacenter {
		return fmt.Errorf("coordinate update for datacenter %q sent to %q", args.Datacenter, c.s.config.Datacenter)
	}
	if own, err := c.s.serfLAN.Serf().GetCoordinate(); err == nil && !own.IsCompatibleWith(args.Coord) {
		return structs.BadRequest("invalid coordinate: %d dimensions, this datacenter's have %d", len(args.Coord.Vec), len(own.Vec))
	}
	update := &structs.Coordinate{Node: args.Node, Segment: args.Segment, Coord: args.Coord}
	if _, err := structs.EncodeLimited(c.s.fsm.handle, structs.CoordinateBatchUpdateType, update, structs.MaxCoordinateSize); err != nil {
		return err
	}
	key := args.Node + "\x00" + args.Segment
	c.s.coordLock.Lock()
	defer c.s.coordLock.Unlock()
	// The leader writes at most this many updates per period and drops
	// the rest; holding more than that for new nodes only costs memory.
	queueCap := c.s.config.CoordinateUpdateBatchSize * c.s.config.CoordinateUpdateMaxBatches
	if _, ok := c.s.coordUpdates[key]; !ok && len(c.s.coordUpdates) >= queueCap {
		return fmt.Errorf("coordinate update queue is full (%d nodes): this update is dropped, try again after the next write", queueCap)
	}
	c.s.coordUpdates[key] = update
	return nil
}

// ListDatacenters returns the WAN coordinates of every DC's servers.
func (c *Coordinate) ListDatacenters(ctx context.Context, args *struct{}, reply *[]structs.DatacenterMap) error {
	byDC := make(map[string]*structs.DatacenterMap)
	wan := c.s.wan().Serf()
	for _, m := range wan.Members() {
		meta, ok := gossip.IsServer(m)
		if !ok {
			continue
		}
		var coord *coordinate.Coordinate
		if m.Name == wan.LocalMember().Name {
			coord, _ = wan.GetCoordinate()
		} else {
			coord, ok = wan.GetCachedCoordinate(m.Name)
			if !ok {
				continue
			}
		}
		dm := byDC[meta.Datacenter]
		if dm == nil {
			dm = &structs.DatacenterMap{Datacenter: meta.Datacenter, AreaID: "wan"}
			byDC[meta.Datacenter] = dm
		}
		dm.Coordinates = append(dm.Coordinates, &structs.Coordinate{Node: m.Name, Coord: coord})
	}
	out := make([]structs.DatacenterMap, 0, len(byDC))
	for _, dc := range c.s.sortedDCs() {
		if dm, ok := byDC[dc]; ok {
			sort.Slice(dm.Coordinates, func(i, j int) bool { return dm.Coordinates[i].Node < dm.Coordinates[j].Node })
			out = append(out, *dm)
		}
	}
	*reply = out
	return nil
}

// ListNodes returns every node's LAN coordinate.
func (c *Coordinate) ListNodes(ctx context.Context, args *structs.DCSpecificRequest, reply *structs.IndexedCoordinates) error {
	if done, err := c.s.forward(ctx, "Coordinate.ListNodes", args, args, reply); done {
		return err
	}
	return c.s.blockingQuery(ctx, &args.QueryOptions, &reply.QueryMeta, func(ws memdb.WatchSet, st *state.Store) error {
		idx, coords, err := st.Coordinates(ws)
		reply.Index, reply.Coordinates = idx, coords
		return err
	})
}

// Node returns one node's LAN coordinates.
func (c *Coordinate) Node(ctx context.Context, args *structs.NodeSpecificRequest, reply *structs.IndexedCoordinates) error {
	if done, err := c.s.forward(ctx, "Coordinate.Node", args, args, reply); done {
		return err
	}
	return c.s.blockingQuery(ctx, &args.QueryOptions, &reply.QueryMeta, func(ws memdb.WatchSet, st *state.Store) error {
		idx, coords, err := st.Coordinate(ws, args.Node)
		reply.Index, reply.Coordinates = idx, coords
		return err
	})
}
