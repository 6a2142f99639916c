package agent

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/meridian-sd/meridian/structs"
)

// Session HTTP API, as Consul's /v1/session:
//
//	PUT /v1/session/create        body {Name, Node, Checks, NodeChecks, ServiceChecks, LockDelay, Behavior, TTL}; answers {"ID": ...}
//	PUT /v1/session/destroy/<id>  true (also for an unknown session)
//	PUT /v1/session/renew/<id>    [session], 404 for an unknown session
//	GET /v1/session/info/<id>     [session] or []
//	GET /v1/session/node/<node>   the node's sessions
//	GET /v1/session/list          every session

// sessionCreateBody is what /v1/session/create accepts. The check lists
// are pointers so that "absent" (take the default) and "empty" (no checks)
// can be told apart.
type sessionCreateBody struct {
	Name          string
	Node          string
	Checks        *[]string
	NodeChecks    *[]string
	ServiceChecks []structs.ServiceCheck
	LockDelay     json.RawMessage
	Behavior      structs.SessionBehavior
	TTL           string
}

// lockDelayMinThreshold: a lock delay below this many nanoseconds is read
// as seconds, so that {"LockDelay": 15} means 15s, as in Consul.
const lockDelayMinThreshold = 1000

// maxSessionBodySize bounds the body of a session creation (its route's
// cap, http_limits.go).
const maxSessionBodySize = 64 * 1024

func (a *Agent) sessionCreate(resp http.ResponseWriter, req *http.Request) (any, error) {
	body := sessionCreateBody{}
	if req.Body != nil {
		// wrap has read it within the route's cap.
		raw, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, badRequest("Cannot read the request body: %v", err)
		}
		// An empty body takes every default, as Consul's.
		if len(bytes.TrimSpace(raw)) > 0 {
			if err := json.Unmarshal(raw, &body); err != nil {
				return nil, badRequest("Request decode failed: %v", err)
			}
		}
	}
	sess := structs.Session{
		Name:          body.Name,
		Node:          body.Node,
		ServiceChecks: body.ServiceChecks,
		Behavior:      body.Behavior,
		TTL:           body.TTL,
		LockDelay:     structs.DefaultLockDelay,
	}
	if sess.Node == "" {
		sess.Node = a.nodeName()
	}
	sess.NodeChecks, sess.Checks = sessionChecks(body.NodeChecks, body.Checks)
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
	if err := a.RPCContext(req.Context(), "Session.Apply", args, &id); err != nil {
		return nil, sessionError(err)
	}
	return map[string]string{"ID": id}, nil
}

// sessionChecks resolves the check lists of a new session as Consul does:
// both default to the node's serfHealth check; an empty Checks or
// NodeChecks list means no node checks at all; the legacy Checks list is
// dropped when it only repeats the default.
func sessionChecks(nodeChecks, checks *[]string) (node, legacy []string) {
	node = []string{structs.SerfCheckID}
	legacy = []string{structs.SerfCheckID}
	if nodeChecks != nil {
		node = *nodeChecks
	}
	if checks != nil {
		legacy = *checks
	}
	switch {
	case len(legacy) == 0:
		return []string{}, nil
	case len(legacy) == 1 && legacy[0] == structs.SerfCheckID:
		return node, nil
	case len(node) == 0:
		return []string{}, nil
	}
	return node, legacy
}

// parseLockDelay reads "15s" or a number of nanoseconds; either below
// lockDelayMinThreshold is taken as seconds, as Consul does.
func parseLockDelay(raw json.RawMessage) (time.Duration, error) {
	var d time.Duration
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		parsed, err := time.ParseDuration(s)
		if err != nil {
			return 0, badRequest("Invalid LockDelay %q: must be a duration such as 15s", s)
		}
		d = parsed
	} else {
		var n float64
		if err := json.Unmarshal(raw, &n); err != nil {
			return 0, badRequest("Invalid LockDelay %s: must be a duration such as \"15s\" or a number", raw)
		}
		d = time.Duration(n)
	}
	if d < 0 {
		return 0, badRequest("Invalid LockDelay %s: must not be negative", raw)
	}
	if d < lockDelayMinThreshold {
		d *= time.Second
	}
	return d, nil
}

// sessionError turns the state store's refusals of a new session (unknown
// node or check, critical check) into 400s: they are the caller's input.
func sessionError(err error) error {
	msg := err.Error()
	for _, s := range []string{"Missing node registration", "Missing check", "is in critical state"} {
		if strings.Contains(msg, s) {
			return badRequest("%s", msg)
		}
	}
	return err
}

func (a *Agent) sessionDestroy(resp http.ResponseWriter, req *http.Request) (any, error) {
	id := pathSuffix(req, "/v1/session/destroy/")
	if id == "" {
		return nil, badRequest("Missing session ID")
	}
	args := &structs.SessionRequest{Datacenter: a.parseDC(req), Op: structs.SessionDestroy, Session: structs.Session{ID: id}}
	var out string
	if err := a.RPCContext(req.Context(), "Session.Apply", args, &out); err != nil {
		return nil, err
	}
	return true, nil
}

func (a *Agent) sessionRenew(resp http.ResponseWriter, req *http.Request) (any, error) {
	id := pathSuffix(req, "/v1/session/renew/")
	if id == "" {
		return nil, badRequest("Missing session ID")
	}
	args := &structs.SessionSpecificRequest{Datacenter: a.parseDC(req), SessionID: id}
	var out structs.IndexedSessions
	if err := a.RPCContext(req.Context(), "Session.Renew", args, &out); err != nil {
		return nil, err
	}
	if len(out.Sessions) == 0 {
		return nil, notFound("Session id '%s' not found", id)
	}
	return out.Sessions, nil
}

// sessionsResult answers a list of sessions.
func sessionsResult[A any](_ A, out *structs.IndexedSessions) (any, error) {
	return fixSessions(out.Sessions), nil
}

func (a *Agent) sessionGet(resp http.ResponseWriter, req *http.Request) (any, error) {
	build := func(req *http.Request, dc string, args *structs.SessionSpecificRequest) error {
		args.Datacenter = dc
		args.SessionID = pathSuffix(req, "/v1/session/info/")
		if args.SessionID == "" {
			return badRequest("Missing session ID")
		}
		return nil
	}
	return readRPC(a, resp, req, "Session.Get", build, sessionsResult[*structs.SessionSpecificRequest])
}

func (a *Agent) sessionsForNode(resp http.ResponseWriter, req *http.Request) (any, error) {
	return readRPC(a, resp, req, "Session.NodeSessions", nodeArgs("/v1/session/node/"),
		sessionsResult[*structs.NodeSpecificRequest])
}

func (a *Agent) sessionList(resp http.ResponseWriter, req *http.Request) (any, error) {
	return readRPC(a, resp, req, "Session.List", a.dcArgs, sessionsResult[*structs.DCSpecificRequest])
}

// fixSessions answers [] rather than null, as Consul's.
func fixSessions(in structs.Sessions) structs.Sessions {
	if in == nil {
		return structs.Sessions{}
	}
	return in
}
