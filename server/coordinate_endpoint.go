package server

import (
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
func (c *Coordinate) Update(args *structs.CoordinateUpdateRequest, reply *struct{}) error {
	if done, err := c.s.forward("Coordinate.Update", args, args, reply); done {
		return err
	}
	if args.Node == "" {
		return fmt.Errorf("missing node name")
	}
	if args.Coord == nil || !args.Coord.IsValid() {
		return fmt.Errorf("invalid coordinate")
	}
	if c.s.config.Datacenter != "" && args.Datacenter != "" && args.Datacenter != c.s.config.Datacenter {
		return fmt.Errorf("coordinate update for datacenter %q sent to %q", args.Datacenter, c.s.config.Datacenter)
	}
	c.s.coordLock.Lock()
	c.s.coordUpdates[args.Node+"\x00"+args.Segment] = &structs.Coordinate{Node: args.Node, Segment: args.Segment, Coord: args.Coord}
	c.s.coordLock.Unlock()
	return nil
}

// ListDatacenters returns the WAN coordinates of every DC's servers.
func (c *Coordinate) ListDatacenters(args *struct{}, reply *[]structs.DatacenterMap) error {
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
func (c *Coordinate) ListNodes(args *structs.DCSpecificRequest, reply *structs.IndexedCoordinates) error {
	if done, err := c.s.forward("Coordinate.ListNodes", args, args, reply); done {
		return err
	}
	return c.s.blockingQuery(&args.QueryOptions, &reply.QueryMeta, func(ws memdb.WatchSet, st *state.Store) error {
		idx, coords, err := st.Coordinates(ws)
		reply.Index, reply.Coordinates = idx, coords
		return err
	})
}

// Node returns one node's LAN coordinates.
func (c *Coordinate) Node(args *structs.NodeSpecificRequest, reply *structs.IndexedCoordinates) error {
	if done, err := c.s.forward("Coordinate.Node", args, args, reply); done {
		return err
	}
	return c.s.blockingQuery(&args.QueryOptions, &reply.QueryMeta, func(ws memdb.WatchSet, st *state.Store) error {
		idx, coords, err := st.Coordinate(ws, args.Node)
		reply.Index, reply.Coordinates = idx, coords
		return err
	})
}
