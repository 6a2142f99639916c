package agent

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/meridian-sd/meridian/structs"
)

// sessionCreateBody is what /v1/session/create accepts: LockDelay as a
// duration string ("15s") or a number of seconds, as Consul's.
type sessionCreateBody struct {
	Name          string
	Node          string
	Checks        []string
	NodeChecks    []string
	ServiceChecks []structs.ServiceCheck
	LockDelay     json.RawMessage
	Behavior      structs.SessionBehavior
	TTL           string
}

func (a *Agent) sessionCreate(resp http.ResponseWriter, req *http.Request) (any, error) {
	body := sessionCreateBody{}
	if req.ContentLength != 0 {
		if err := decodeBody(req, &body); err != nil {
			return nil, err
		}
	}
	sess := structs.Session{
		Name:          body.Name,
		Node:          body.Node,
		Checks:        body.Checks,
		NodeChecks:    body.NodeChecks,
		ServiceChecks: body.ServiceChecks,
		Behavior:      body.Behavior,
		TTL:           body.TTL,
		LockDelay:     structs.DefaultLockDelay,
	}
	if sess.Node == "" {
		sess.Node = a.nodeName()
	}
	if len(body.LockDelay) > 0 && string(body.LockDelay) != "null" {
		d, err := parseLockDelay(body.LockDelay)
		if err != nil {
			return nil, err
		}
		sess.LockDelay = d
	}
	if sess.TTL != "" {
		if _, err := time.ParseDuration(sess.TTL); err != nil {
			return nil, badRequest("Invalid TTL %q: must be a duration such as 30s", sess.TTL)
		}
	}
	args := &structs.SessionRequest{Datacenter: a.parseDC(req), Op: structs.SessionCreate, Session: sess}
	var id string
	if err := a.RPC("Session.Apply", args, &id); err != nil {
		return nil, err
	}
	return map[string]string{"ID": id}, nil
}

// parseLockDelay reads "15s", 15 (seconds, as Consul reads a bare number
// below a millisecond-ish threshold) or a number of nanoseconds.
func parseLockDelay(raw json.RawMessage) (time.Duration, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, badRequest("Invalid LockDelay %q: must be a duration such as 15s", s)
		}
		return d, nil
	}
	var n float64
	if err := json.Unmarshal(raw, &n); err != nil {
		return 0, badRequest("Invalid LockDelay %s", raw)
	}
	// Consul treats small numbers as seconds and large ones as nanoseconds.
	if n < float64(time.Millisecond) {
		return time.Duration(n * float64(time.Second)), nil
	}
	return time.Duration(n), nil
}

func (a *Agent) sessionDestroy(resp http.ResponseWriter, req *http.Request) (any, error) {
	id := pathSuffix(req, "/v1/session/destroy/")
	if id == "" {
		return nil, badRequest("Missing session")
	}
	args := &structs.SessionRequest{Datacenter: a.parseDC(req), Op: structs.SessionDestroy, Session: structs.Session{ID: id}}
	var out string
	if err := a.RPC("Session.Apply", args, &out); err != nil {
		return nil, err
	}
	return true, nil
}

func (a *Agent) sessionRenew(resp http.ResponseWriter, req *http.Request) (any, error) {
	id := pathSuffix(req, "/v1/session/renew/")
	if id == "" {
		return nil, badRequest("Missing session")
	}
	args := &structs.SessionSpecificRequest{Datacenter: a.parseDC(req), SessionID: id}
	var out structs.IndexedSessions
	if err := a.RPC("Session.Renew", args, &out); err != nil {
		return nil, err
	}
	if len(out.Sessions) == 0 {
		return nil, notFound("Session id '%s' not found", id)
	}
	return fixSessions(out.Sessions), nil
}

func (a *Agent) sessionGet(resp http.ResponseWriter, req *http.Request) (any, error) {
	args := &structs.SessionSpecificRequest{SessionID: pathSuffix(req, "/v1/session/info/")}
	dc, err := a.parseQuery(req, &args.QueryOptions)
	if err != nil {
		return nil, err
	}
	args.Datacenter = dc
	if args.SessionID == "" {
		return nil, badRequest("Missing session")
	}
	var out structs.IndexedSessions
	if err := a.RPC("Session.Get", args, &out); err != nil {
		return nil, err
	}
	setMeta(resp, &out.QueryMeta)
	return fixSessions(out.Sessions), nil
}

func (a *Agent) sessionsForNode(resp http.ResponseWriter, req *http.Request) (any, error) {
	args, err := a.nodeRequest(req, "/v1/session/node/")
	if err != nil {
		return nil, err
	}
	var out structs.IndexedSessions
	if err := a.RPC("Session.NodeSessions", args, &out); err != nil {
		return nil, err
	}
	setMeta(resp, &out.QueryMeta)
	return fixSessions(out.Sessions), nil
}

func (a *Agent) sessionList(resp http.ResponseWriter, req *http.Request) (any, error) {
	args, err := a.dcRequest(req)
	if err != nil {
		return nil, err
	}
	var out structs.IndexedSessions
	if err := a.RPC("Session.List", args, &out); err != nil {
		return nil, err
	}
	setMeta(resp, &out.QueryMeta)
	return fixSessions(out.Sessions), nil
}

func fixSessions(in structs.Sessions) structs.Sessions {
	if in == nil {
		return structs.Sessions{}
	}
	return in
}
