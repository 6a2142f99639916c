package server

import (
	"context"
	"time"

	"github.com/meridian-sd/meridian/structs"
)

// federationProbe asks every remote datacenter for its leader every
// FederationProbeInterval, and every federationRetryInterval one whose
// leader is not known (a datacenter that just joined the WAN pool, or
// is electing): until then its leader-only requests take two hops. The
// answers (through forwardDC, which records every outcome in the router)
// keep the federation view current, and a datacenter that went away and
// came back is seen as reachable again without waiting for a user's
// request to go there; and the leader it names is where forwardDC sends
// the requests only a leader answers.
func (s *Server) federationProbe(ctx context.Context) {
	t := time.NewTicker(min(s.config.FederationProbeInterval, federationRetryInterval))
	defer t.Stop()
	asked := map[string]time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		for _, dc := range s.router.Datacenters() {
			if dc == s.config.Datacenter || ctx.Err() != nil {
				continue
			}
			if s.router.Leader(dc) != "" && now.Sub(asked[dc]) < s.config.FederationProbeInterval {
				continue
			}
			asked[dc] = now
			var leader string
			args := &structs.StatusRequest{Datacenter: dc}
			if err := s.forwardDC(ctx, "Status.Leader", dc, args, &leader); err != nil {
				s.logger.Debug("federation probe failed", "dc", dc, "error", err)
				continue
			}
			// Requests only the leader answers go straight to it.
			s.router.SetLeader(dc, leader)
		}
		for dc := range asked {
			if !s.router.Known(dc) {
				delete(asked, dc)
			}
		}
	}
}

// federationRetryInterval is how often the federation probe asks a
// datacenter whose leader it does not know.
const federationRetryInterval = time.Second
