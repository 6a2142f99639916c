package agent

import (
	"regexp"
	"sync"

	"github.com/hashicorp/serf/serf"

	"github.com/meridian-sd/meridian/structs"
)

// User events received from the LAN pool.
//
// Every agent, server or client, gets the user events of its LAN pool from
// serf (gossip already drops duplicates). It keeps those whose filters
// match it, as Consul's agent does: the node filter against its node
// name, the service filter against the names of its local services and
// the tag filter against the tags of the matching services. The kept
// events are a ring of structs.MaxUserEventsKept, oldest first, for
// /v1/event/list (event_endpoint.go); a blocking list waits on changed,
// which is closed and replaced at every new event.

// userEvents holds the events this agent received and kept.
type userEvents struct {
	lock sync.Mutex
	// ring holds up to structs.MaxUserEventsKept events; next is where
	// the next one goes once it is full.
	ring []*structs.UserEvent
	next int
	// changed is closed when an event is added.
	changed chan struct{}
}

// handleUserEvent is the LAN pool's user event handler (on its event
// goroutine).
func (a *Agent) handleUserEvent(e serf.UserEvent) {
	ev, err := structs.DecodeUserEvent(e.Name, e.Payload)
	if err != nil {
		a.logger.Warn("dropping a user event that does not decode", "serf_event", e.Name, "error", err)
		return
	}
	ev.LTime = uint64(e.LTime)
	if !a.userEventMatches(ev) {
		a.logger.Debug("user event not for this agent", "name", ev.Name, "id", ev.ID)
		return
	}
	a.logger.Debug("user event received", "name", ev.Name, "id", ev.ID)
	a.events.add(ev)
}

// userEventMatches reports whether the event's filters select this agent.
// A filter that is not a valid regular expression matches nothing.
func (a *Agent) userEventMatches(ev *structs.UserEvent) bool {
	if ev.NodeFilter != "" {
		re, err := regexp.Compile(ev.NodeFilter)
		if err != nil || !re.MatchString(a.nodeName()) {
			return false
		}
	}
	if ev.ServiceFilter == "" {
		return true
	}
	svcRE, err := regexp.Compile(ev.ServiceFilter)
	if err != nil {
		return false
	}
	var tagRE *regexp.Regexp
	if ev.TagFilter != "" {
		if tagRE, err = regexp.Compile(ev.TagFilter); err != nil {
			return false
		}
	}
	for _, s := range a.svc.state.Services() {
		if !svcRE.MatchString(s.Service) {
			continue
		}
		if tagRE == nil {
			return true
		}
		for _, t := range s.Tags {
			if tagRE.MatchString(t) {
				return true
			}
		}
	}
	return false
}

// add keeps ev, dropping the oldest event when the ring is full.
func (u *userEvents) add(ev *structs.UserEvent) {
	u.lock.Lock()
	defer u.lock.Unlock()
	if len(u.ring) < structs.MaxUserEventsKept {
		u.ring = append(u.ring, ev)
	} else {
		u.ring[u.next] = ev
		u.next = (u.next + 1) % structs.MaxUserEventsKept
	}
	if u.changed != nil {
		close(u.changed)
		u.changed = nil
	}
}

// list returns the kept events, oldest first, and a channel closed at the
// next new event.
func (u *userEvents) list() ([]*structs.UserEvent, <-chan struct{}) {
	u.lock.Lock()
	defer u.lock.Unlock()
	out := make([]*structs.UserEvent, 0, len(u.ring))
	out = append(out, u.ring[u.next:]...)
	out = append(out, u.ring[:u.next]...)
	if u.changed == nil {
		u.changed = make(chan struct{})
	}
	return out, u.changed
}
