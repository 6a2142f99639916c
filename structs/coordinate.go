package structs

import "github.com/hashicorp/serf/coordinate"

// Coordinate is a node's LAN network coordinate.
type Coordinate struct {
	Node    string
	Segment string
	Coord   *coordinate.Coordinate
}

// Coordinates is a list of coordinates.
type Coordinates []*Coordinate

// DatacenterMap is one DC's servers' WAN coordinates
// (/v1/coordinate/datacenters).
type DatacenterMap struct {
	Datacenter  string
	AreaID      string
	Coordinates Coordinates
}

// CoordinateUpdateRequest carries one agent's LAN coordinate to a server.
type CoordinateUpdateRequest struct {
	Datacenter string
	Node       string
	Segment    string
	Coord      *coordinate.Coordinate
	WriteRequest
}

// RequestDatacenter implements RPCInfo.
func (r *CoordinateUpdateRequest) RequestDatacenter() string { return r.Datacenter }

// CoordinateBatchUpdateRequest is the leader's batched coordinate write.
type CoordinateBatchUpdateRequest struct {
	Datacenter string
	Updates    Coordinates
	WriteRequest
}

// RequestDatacenter implements RPCInfo.
func (r *CoordinateBatchUpdateRequest) RequestDatacenter() string { return r.Datacenter }

// IndexedCoordinates answers coordinate reads.
type IndexedCoordinates struct {
	Coordinates Coordinates
	QueryMeta
}
