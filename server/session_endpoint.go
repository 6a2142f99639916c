package server

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/go-memdb"
	"github.com/hashicorp/go-uuid"

	"github.com/meridian-sd/meridian/state"
	"github.com/meridian-sd/meridian/structs"
)

// Session serves sessions: creation, destruction, renewal and reads.
type Session struct{ s *Server }

// Apply creates or destroys a session; the reply is the session ID.
//
// The session's checks are taken as given: defaults (the node's serfHealth
// check) are the HTTP layer's business, as in Consul, so that an empty
// list can mean "no checks".
func (e *Session) Apply(ctx context.Context, args *structs.SessionRequest, reply *string) error {
	if done, err := e.s.forward(ctx, "Session.Apply", args, args, reply); done {
		return err
	}
	defer e.s.metrics.MeasureSince([]string{"session", "apply"}, time.Now())
	sess := &args.Session
	switch args.Op {
	case structs.SessionCreate:
		if err := e.s.prepareSession(sess); err != nil {
			return err
		}
	case structs.SessionDestroy:
		if sess.ID == "" {
			return structs.BadRequest("missing session id")
		}
	default:
		return structs.BadRequest("invalid session operation %q", args.Op)
	}
	resp, err := e.s.raftApply(structs.SessionRequestType, args)
	if err != nil {
		return err
	}
	switch args.Op {
	case structs.SessionCreate:
		e.s.resetSessionTimer(sess)
		if id, ok := resp.(string); ok {
			*reply = id
		} else {
			*reply = sess.ID
		}
	case structs.SessionDestroy:
		e.s.sessionTimers.clear(sess.ID)
		*reply = sess.ID
	}
	return nil
}

// prepareSession validates a new session and fills in defaults and its ID.
// Its error texts start with "missing" or "invalid" so that the HTTP layer
// answers 400.
func (s *Server) prepareSession(sess *structs.Session) error {
	if sess.Node == "" {
		return structs.BadRequest("missing node name for session")
	}
	switch sess.Behavior {
	case "":
		sess.Behavior = structs.SessionKeysRelease
	case structs.SessionKeysRelease, structs.SessionKeysDelete:
	default:
		return structs.BadRequest("invalid session behavior %q: must be release or delete", sess.Behavior)
	}
	if sess.TTL != "" {
		ttl, err := time.ParseDuration(sess.TTL)
		if err != nil {
			return structs.BadRequest("invalid session TTL %q: must be a duration such as 30s", sess.TTL)
		}
		if ttl != 0 && (ttl < s.config.SessionTTLMin || ttl > structs.SessionTTLMax) {
			return structs.BadRequest("invalid session TTL %q: must be between %s and %s", sess.TTL, s.config.SessionTTLMin, structs.SessionTTLMax)
		}
		if ttl == 0 {
			sess.TTL = ""
		}
	}
	if sess.LockDelay < 0 {
		return structs.BadRequest("invalid lock delay %s: must not be negative", sess.LockDelay)
	}
	if sess.LockDelay > structs.MaxLockDelay {
		sess.LockDelay = structs.MaxLockDelay
	}
	st := s.fsm.State()
	for {
		id, err := uuid.GenerateUUID()
		if err != nil {
			return fmt.Errorf("generate session id: %w", err)
		}
		_, existing, err := st.SessionGet(nil, id)
		if err != nil {
			return err
		}
		if existing == nil {
			sess.ID = id
			return nil
		}
	}
}

// Renew resets a session's TTL timer; the reply is empty when the session
// does not exist. Renewals always go to the leader, which owns the timers,
// even when the request allows a stale read.
func (e *Session) Renew(ctx context.Context, args *structs.SessionSpecificRequest, reply *structs.IndexedSessions) error {
	args.AllowStale = false
	if done, err := e.s.forward(ctx, "Session.Renew", args, args, reply); done {
		return err
	}
	defer e.s.metrics.MeasureSince([]string{"session", "renew"}, time.Now())
	idx, sess, err := e.s.fsm.State().SessionGet(nil, args.SessionID)
	if err != nil {
		return err
	}
	e.s.setQueryMeta(&args.QueryOptions, &reply.QueryMeta)
	reply.Index = idx
	if sess == nil {
		return nil
	}
	e.s.resetSessionTimer(sess)
	reply.Sessions = structs.Sessions{sess}
	return nil
}

// Get reads one session.
func (e *Session) Get(ctx context.Context, args *structs.SessionSpecificRequest, reply *structs.IndexedSessions) error {
	if done, err := e.s.forward(ctx, "Session.Get", args, args, reply); done {
		return err
	}
	return e.s.blockingQuery(ctx, &args.QueryOptions, &reply.QueryMeta, func(ws memdb.WatchSet, st *state.Store) error {
		idx, sess, err := st.SessionGet(ws, args.SessionID)
		if err != nil {
			return err
		}
		reply.Index = idx
		reply.Sessions = nil
		if sess != nil {
			reply.Sessions = structs.Sessions{sess}
		}
		return nil
	})
}

// List reads every session.
func (e *Session) List(ctx context.Context, args *structs.DCSpecificRequest, reply *structs.IndexedSessions) error {
	if done, err := e.s.forward(ctx, "Session.List", args, args, reply); done {
		return err
	}
	return e.s.blockingQuery(ctx, &args.QueryOptions, &reply.QueryMeta, func(ws memdb.WatchSet, st *state.Store) error {
		idx, sessions, err := st.SessionList(ws)
		reply.Index, reply.Sessions = idx, sessions
		return err
	})
}

// NodeSessions reads the sessions of one node.
func (e *Session) NodeSessions(ctx context.Context, args *structs.NodeSpecificRequest, reply *structs.IndexedSessions) error {
	if done, err := e.s.forward(ctx, "Session.NodeSessions", args, args, reply); done {
		return err
	}
	return e.s.blockingQuery(ctx, &args.QueryOptions, &reply.QueryMeta, func(ws memdb.WatchSet, st *state.Store) error {
		idx, sessions, err := st.NodeSessions(ws, args.Node)
		reply.Index, reply.Sessions = idx, sessions
		return err
	})
}
