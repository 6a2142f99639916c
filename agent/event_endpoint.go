package agent

import (
	"io"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/hashicorp/go-uuid"

	"github.com/meridian-sd/meridian/acl"
	"github.com/meridian-sd/meridian/structs"
)

// User events: /v1/event/fire/<name> and /v1/event/list, as Consul's.

// eventFire fires a user event: the body is the payload, ?node, ?service
// and ?tag are the filters (regular expressions), ?dc the datacenter. The
// agent's server, or a server of the agent's datacenter, fires it in the
// datacenter's LAN pool (server/internal_endpoint.go). The answer is the
// event with its new ID.
func (a *Agent) eventFire(resp http.ResponseWriter, req *http.Request) (any, error) {
	q := reqQuery(req)
	ev := structs.UserEvent{
		Name:          pathSuffix(req, "/v1/event/fire/"),
		NodeFilter:    q.Get("node"),
		ServiceFilter: q.Get("service"),
		TagFilter:     q.Get("tag"),
		Version:       1,
	}
	if ev.Name == "" {
		return nil, badRequest("Missing name: the event name goes in the path, as /v1/event/fire/<name>")
	}
	if ev.TagFilter != "" && ev.ServiceFilter == "" {
		return nil, badRequest("Cannot provide a tag filter (?tag) without a service filter (?service)")
	}
	for _, f := range []struct{ param, re string }{{"node", ev.NodeFilter}, {"service", ev.ServiceFilter}, {"tag", ev.TagFilter}} {
		if f.re == "" {
			continue
		}
		if _, err := regexp.Compile(f.re); err != nil {
			return nil, badRequest("Invalid %s filter %q: %v", f.param, f.re, err)
		}
	}
	if req.Body != nil {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, badRequest("Cannot read the event payload: %v", err)
		}
		if len(body) > 0 {
			ev.Payload = body
		}
	}
	id, err := uuid.GenerateUUID()
	if err != nil {
		return nil, err
	}
	ev.ID = id
	// Refuse a too large event here, with the same sentence the server
	// would give, without a round trip.
	if _, err := structs.EncodeUserEvent(&ev); err != nil {
		return nil, err
	}
	args := &structs.EventFireRequest{Datacenter: a.parseDC(req), Event: ev}
	args.Token = a.requestToken(req)
	var out structs.EventFireResponse
	if err := a.RPCContext(req.Context(), "Internal.EventFire", args, &out); err != nil {
		return nil, err
	}
	return ev, nil
}

// eventList lists the events this agent received, oldest first, those
// named ?name only, and those the token may read (event:read). Its
// X-Consul-Index is derived from the newest event's ID (1 with none), and
// ?index blocks while that is unchanged, up to ?wait, as Consul's.
func (a *Agent) eventList(resp http.ResponseWriter, req *http.Request) (any, error) {
	var opts structs.QueryOptions
	if _, err := a.parseQuery(req, &opts); err != nil {
		return nil, err
	}
	authz, _, err := a.ResolveToken(a.requestToken(req))
	if err != nil {
		return nil, err
	}
	name := reqQuery(req).Get("name")
	var timeout <-chan time.Time
	if opts.MinQueryIndex > 0 {
		wait := opts.MaxQueryTime
		wait += time.Duration(rand.Int64N(int64(wait)/structs.JitterFraction + 1))
		t := time.NewTimer(wait)
		defer t.Stop()
		timeout = t.C
	}
	for {
		all, changed := a.events.list()
		out := make([]*structs.UserEvent, 0, len(all))
		filtered := false
		for _, ev := range all {
			if name != "" && ev.Name != name {
				continue
			}
			if !authz.Allowed(acl.ResourceEvent, ev.Name, acl.Read) {
				filtered = true
				continue
			}
			out = append(out, ev)
		}
		index := uint64(1)
		if len(out) > 0 {
			index = structs.UserEventIndex(out[len(out)-1].ID)
		}
		if opts.MinQueryIndex > 0 && index == opts.MinQueryIndex {
			select {
			case <-changed:
				continue
			case <-timeout:
			case <-req.Context().Done():
			case <-a.ctx.Done():
			}
		}
		resp.Header().Set("X-Consul-Index", strconv.FormatUint(index, 10))
		if filtered && carriesToken(req) {
			resp.Header().Set("X-Consul-Results-Filtered-By-ACLs", "true")
		}
		return out, nil
	}
}
