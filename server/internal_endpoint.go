package server

import (
	"context"
	"fmt"
	"strings"
	"time"

	metrics "github.com/hashicorp/go-metrics"
	"github.com/hashicorp/serf/serf"

	"github.com/meridian-sd/meridian/structs"
)

// Internal serves what agents ask of servers outside the public API areas:
// firing user events.
type Internal struct{ s *Server }

// EventFire fires a user event in the LAN pool of the requested
// datacenter: a request for another datacenter goes to one of its servers,
// which fires it in its own pool. Any server may fire (nothing goes
// through Raft), so there is no forwarding to the leader. The token needs
// event:write on the event's name.
func (e *Internal) EventFire(ctx context.Context, args *structs.EventFireRequest, reply *structs.EventFireResponse) error {
	s := e.s
	if dc := args.Datacenter; dc != "" && dc != s.config.Datacenter {
		aclForwarded(ctx)
		return s.forwardDC(ctx, "Internal.EventFire", dc, args, reply)
	}
	// event:write on the name (rpcACLRules).
	if err := s.aclPreCheck(ctx); err != nil {
		return err
	}
	ev := args.Event
	if ev.Name == "" {
		return structs.BadRequest("User event name is missing")
	}
	if !structs.IsUUID(ev.ID) {
		return structs.BadRequest("User event id %q is not a UUID", ev.ID)
	}
	ev.Version = 1
	ev.LTime = 0
	payload, err := structs.EncodeUserEvent(&ev)
	if err != nil {
		return err
	}
	if err := s.serfLAN.Serf().UserEvent(structs.SerfUserEventName(ev.Name), payload, false); err != nil {
		if strings.Contains(err.Error(), "exceeds") {
			return structs.BadRequest("User event %q is too large for gossip: %v", ev.Name, err)
		}
		return fmt.Errorf("fire user event %q: %w", ev.Name, err)
	}
	return nil
}

// userEvent hands a LAN user event to the agent's handler.
func (s *Server) userEvent(e serf.UserEvent) {
	if s.config.UserEventHandler != nil {
		s.config.UserEventHandler(e)
	}
}

// observeRPC emits Consul's rpc.request, rpc.request_error and
// rpc.server.call metrics for a call a peer made.
func (s *Server) observeRPC(method string, start time.Time, err error) {
	s.metrics.IncrCounter([]string{"rpc", "request"}, 1)
	errType := ""
	if err != nil {
		s.metrics.IncrCounter([]string{"rpc", "request_error"}, 1)
		errType = "internal"
		if structs.CodeOf(err) != "" {
			errType = "user"
		}
	}
	s.metrics.MeasureSinceWithLabels([]string{"rpc", "server", "call"}, start, []metrics.Label{
		{Name: "method", Value: method}, {Name: "errortype", Value: errType}})
}
