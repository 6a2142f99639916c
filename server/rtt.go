package server

import (
	"math"
	"sort"

	"github.com/hashicorp/serf/coordinate"

	"github.com/meridian-sd/meridian/structs"
)

// RTT sorting for ?near=: results are ordered by estimated round-trip time
// from the source node, using the LAN coordinates in the state store.
// Nodes without a coordinate go last, in their original order. Sorting
// only happens for a source in this datacenter (coordinates of different
// datacenters are not comparable).

// distanceFunc returns a node's distance from the source, or +Inf.
func (s *Server) distanceFunc(src structs.QuerySource) (func(node string) float64, bool) {
	if src.Node == "" || (src.Datacenter != "" && src.Datacenter != s.config.Datacenter) {
		return nil, false
	}
	_, coords, err := s.fsm.State().Coordinates(nil)
	if err != nil {
		return nil, false
	}
	byNode := make(map[string]*coordinate.Coordinate, len(coords))
	for _, c := range coords {
		if c.Coord != nil && c.Segment == "" {
			byNode[c.Node] = c.Coord
		}
	}
	from, ok := byNode[src.Node]
	if !ok {
		return nil, false
	}
	return func(node string) float64 {
		if node == src.Node {
			return 0
		}
		other, ok := byNode[node]
		if !ok || !from.IsCompatibleWith(other) {
			return math.Inf(1)
		}
		return from.DistanceTo(other).Seconds()
	}, true
}

func (s *Server) sortNodesByDistance(src structs.QuerySource, nodes structs.Nodes) error {
	dist, ok := s.distanceFunc(src)
	if !ok {
		return nil
	}
	sort.SliceStable(nodes, func(i, j int) bool { return dist(nodes[i].Node) < dist(nodes[j].Node) })
	return nil
}

func (s *Server) sortServiceNodesByDistance(src structs.QuerySource, nodes structs.ServiceNodes) error {
	dist, ok := s.distanceFunc(src)
	if !ok {
		return nil
	}
	sort.SliceStable(nodes, func(i, j int) bool { return dist(nodes[i].Node) < dist(nodes[j].Node) })
	return nil
}

func (s *Server) sortChecksByDistance(src structs.QuerySource, checks structs.HealthChecks) error {
	dist, ok := s.distanceFunc(src)
	if !ok {
		return nil
	}
	sort.SliceStable(checks, func(i, j int) bool { return dist(checks[i].Node) < dist(checks[j].Node) })
	return nil
}

func (s *Server) sortCheckServiceNodesByDistance(src structs.QuerySource, nodes structs.CheckServiceNodes) error {
	dist, ok := s.distanceFunc(src)
	if !ok {
		return nil
	}
	sort.SliceStable(nodes, func(i, j int) bool { return dist(nodes[i].Node.Node) < dist(nodes[j].Node.Node) })
	return nil
}
