package state

import (
	"math"
	"testing"

	memdb "github.com/hashicorp/go-memdb"

	"github.com/meridian-sd/meridian/structs"
)

func TestCoordinateBatchUpdate(t *testing.T) {
	s := testStore(t)
	testRegisterNode(t, s, 1, "n1")
	testRegisterNode(t, s, 2, "n2")

	ws := memdb.NewWatchSet()
	s.Coordinates(ws)
	// Nothing valid to store: no index move, no wakeup.
	bad := testCoord()
	bad.Vec[0] = math.NaN()
	if err := s.CoordinateBatchUpdate(3, structs.Coordinates{{Node: "ghost", Coord: testCoord()}, {Node: "n1", Coord: bad}, {Node: "n1"}, nil}); err != nil {
		t.Fatal(err)
	}
	if s.MaxIndex("coordinates") != 0 || watchFired(ws) {
		t.Fatal("invalid updates changed the store")
	}

	c1 := testCoord()
	c1.Vec[0] = 0.5
	c2 := testCoord()
	c2.Height = 0.25
	if err := s.CoordinateBatchUpdate(4, structs.Coordinates{
		{Node: "n1", Coord: c1},
		{Node: "n2", Coord: c2},
		{Node: "ghost", Coord: testCoord()},
	}); err != nil {
		t.Fatal(err)
	}
	if !watchFired(ws) {
		t.Fatal("a coordinate update did not wake watchers")
	}
	c1.Vec[0] = 99 // the store keeps its own copy
	idx, all, err := s.Coordinates(nil)
	if err != nil {
		t.Fatal(err)
	}
	if idx != 4 || len(all) != 2 || all[0].Node != "n1" || all[0].Coord.Vec[0] != 0.5 || all[1].Coord.Height != 0.25 {
		t.Fatalf("Coordinates = %d %+v", idx, all)
	}
	_, one, _ := s.Coordinate(nil, "N2")
	if len(one) != 1 || one[0].Node != "n2" {
		t.Fatalf("Coordinate(n2) = %+v", one)
	}

	// A second segment of the same node is a separate row; the same
	// segment replaces.
	if err := s.CoordinateBatchUpdate(5, structs.Coordinates{
		{Node: "n1", Segment: "alpha", Coord: testCoord()},
		{Node: "n1", Coord: testCoord()},
	}); err != nil {
		t.Fatal(err)
	}
	_, one, _ = s.Coordinate(nil, "n1")
	if len(one) != 2 {
		t.Fatalf("n1 coordinates = %+v, want default and alpha segments", one)
	}
}
