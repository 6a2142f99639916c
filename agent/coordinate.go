package agent

import (
	"context"
	"math"
	"math/rand/v2"
	"time"

	"github.com/meridian-sd/meridian/structs"
)

// sendCoordinates sends this agent's LAN coordinate to the servers now and
// then. The interval grows with the cluster size so that all agents
// together send about sync_coordinate_rate_target updates per second, as
// Consul's agents do, and never falls below sync_coordinate_interval_min.
func (a *Agent) sendCoordinates(ctx context.Context) {
	for {
		rc := a.cfg()
		interval := coordinateInterval(rc.SyncCoordinateIntervalMin, rc.SyncCoordinateRateTarget, a.delegate.LANSerf().NumNodes())
		// Jitter spreads agents that started together.
		interval += time.Duration(rand.Int64N(int64(interval)/4 + 1))
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
		coord, err := a.delegate.LANSerf().GetCoordinate()
		if err != nil {
			a.logger.Debug("read own coordinate", "error", err)
			continue
		}
		req := &structs.CoordinateUpdateRequest{Datacenter: rc.Datacenter, Node: rc.NodeName, Coord: coord}
		// node:write on this node: the agent's token.
		req.Token = a.syncToken()
		var out struct{}
		if err := a.RPC("Coordinate.Update", req, &out); err != nil {
			a.logger.Debug("send coordinate", "error", err)
		}
	}
}

// coordinateInterval is the time between two updates of one agent.
func coordinateInterval(min time.Duration, rate float64, nodes int) time.Duration {
	if min <= 0 {
		min = 15 * time.Second
	}
	if rate <= 0 {
		rate = 64
	}
	d := time.Duration(math.Ceil(float64(nodes)/rate)) * time.Second
	if d < min {
		return min
	}
	return d
}
