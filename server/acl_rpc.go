package server

import (
	"context"
	"fmt"
	"maps"

	"github.com/meridian-sd/meridian/acl"
	"github.com/meridian-sd/meridian/structs"
)

// ACL enforcement on the server port.
//
// Every RPC method has an entry in rpcACLRules (the test
// TestRPCACLRulesCoverDispatcher fails for a registered method without
// one, and such a method is refused at run time with ACLs on). An entry
// either says why the method needs no permission here (public), or gives
// the check its token must pass before the method does anything and/or
// the filter its answer goes through.
//
// The dispatcher runs every call through aclIntercept (rpc.Interceptor).
// The check does not run there but where the request is served: forward
// runs it (aclPreCheck) once it has decided that this server answers, so
// that a request for another datacenter is checked by that datacenter
// (where a local token of its own resolves) and a write once, by the
// leader. A method that does not use forward calls aclPreCheck itself. A
// method whose call returned without the check having run or the request
// having been forwarded fails closed. The filter runs on the server that
// checked, after the method answered; it sets
// QueryMeta.ResultsFilteredByACLs when it removed something, which the
// HTTP layer turns into X-Consul-Results-Filtered-By-ACLs.
//
// Server-internal work does not go through here: the leader's
// reconciliation, session expiry and tombstone reaping apply to Raft
// directly, and replication calls the ACL endpoints, which check their
// own permissions, with the replication token.

// rpcRule is one method's ACL entry.
type rpcRule struct {
	// check decides from the request whether its token may make it.
	check func(s *Server, authz *acl.Authorizer, args any) error
	// filter removes from the answer what the token may not read; it
	// reports whether it removed anything.
	filter func(authz *acl.Authorizer, reply any) bool
	// public says why the method needs no permission here; empty when
	// check or filter is set.
	public string
}

// checked adapts a typed check.
func checked[A any](f func(s *Server, authz *acl.Authorizer, args A) error) func(*Server, *acl.Authorizer, any) error {
	return func(s *Server, authz *acl.Authorizer, args any) error {
		a, ok := args.(A)
		if !ok {
			return fmt.Errorf("acl check: args are %T, want %T", args, a)
		}
		return f(s, authz, a)
	}
}

// filtered adapts a typed filter.
func filtered[R any](f func(authz *acl.Authorizer, reply R) bool) func(*acl.Authorizer, any) bool {
	return func(authz *acl.Authorizer, reply any) bool {
		r, ok := reply.(R)
		if !ok {
			// Cannot happen: the table is tested against the endpoints.
			panic(fmt.Sprintf("acl filter: reply is %T, want %T", reply, r))
		}
		return f(authz, r)
	}
}

// need is a check of one permission on the name the request gives.
func need[A any](res acl.Resource, access acl.Access, name func(A) string) func(*Server, *acl.Authorizer, any) error {
	return checked(func(_ *Server, authz *acl.Authorizer, args A) error {
		n := ""
		if name != nil {
			n = name(args)
		}
		return authz.Check(res, n, access)
	})
}

// rpcACLRules is the ACL entry of every RPC method.
func rpcACLRules() map[string]rpcRule {
	pub := func(why string) rpcRule { return rpcRule{public: why} }
	aclEP := pub("the ACL endpoints check acl:read and acl:write themselves")
	pqEP := pub("the prepared query endpoints check query:read and query:write by name themselves")
	node := func(a *structs.NodeSpecificRequest) string { return a.Node }
	svc := func(a *structs.ServiceSpecificRequest) string { return a.ServiceName }
	return map[string]rpcRule{
		"Status.Ping":                pub("liveness, nothing to read"),
		"Status.Leader":              pub("the leader's address is public, as in Consul"),
		"Status.Peers":               pub("the peers' addresses are public, as in Consul"),
		"Status.RaftStats":           pub("Raft progress, asked by peers before bootstrapping"),
		"Catalog.ListDatacenters":    pub("datacenter names are public, as in Consul"),
		"Coordinate.ListDatacenters": pub("server coordinates by datacenter are public, as in Consul"),

		"Catalog.Register":   {check: checked(checkCatalogRegister)},
		"Catalog.Deregister": {check: checked(checkCatalogDeregister)},
		"Catalog.ListNodes":  {filter: filtered(filterNodes)},
		"Catalog.ListServices": {filter: filtered(func(authz *acl.Authorizer, r *structs.IndexedServices) bool {
			removed := false
			for name := range r.Services {
				if !authz.Allowed(acl.ResourceService, name, acl.Read) {
					if !removed {
						r.Services = maps.Clone(r.Services)
						removed = true
					}
					delete(r.Services, name)
				}
			}
			return setFiltered(&r.QueryMeta, removed)
		})},
		"Catalog.ServiceNodes": {check: need(acl.ResourceService, acl.Read, svc), filter: filtered(filterServiceNodes)},
		// A node's own entries are filtered rather than refused, as
		// Consul's: anti-entropy reads them with the agent token, which
		// may not read them all, and still pushes what differs.
		"Catalog.NodeServices": {filter: filtered(filterNodeServices)},

		"Health.ChecksInState": {filter: filtered(filterChecks)},
		"Health.NodeChecks":    {filter: filtered(filterChecks)},
		"Health.ServiceChecks": {check: need(acl.ResourceService, acl.Read, svc), filter: filtered(filterChecks)},
		"Health.ServiceNodes":  {check: need(acl.ResourceService, acl.Read, svc), filter: filtered(filterCheckServiceNodes)},

		"KVS.Apply": {check: checked(func(_ *Server, authz *acl.Authorizer, a *structs.KVSRequest) error {
			return kvOpCheck(authz, a.Op, a.DirEnt.Key)
		})},
		"KVS.Get": {check: need(acl.ResourceKey, acl.Read, func(a *structs.KeyRequest) string { return a.Key })},
		"KVS.List": {check: need(acl.ResourceKey, acl.List, func(a *structs.KeyRequest) string { return a.Key }),
			filter: filtered(filterDirEntries)},
		"KVS.ListKeys": {check: need(acl.ResourceKey, acl.List, func(a *structs.KeyListRequest) string { return a.Prefix }),
			filter: filtered(filterKeys)},

		"Session.Apply": {check: checked(checkSessionApply)},
		"Session.Renew": {check: checked(func(s *Server, authz *acl.Authorizer, a *structs.SessionSpecificRequest) error {
			return s.checkSessionWrite(authz, a.SessionID)
		})},
		"Session.Get":          {filter: filtered(filterSessions)},
		"Session.List":         {filter: filtered(filterSessions)},
		"Session.NodeSessions": {check: need(acl.ResourceSession, acl.Read, node), filter: filtered(filterSessions)},

		"Txn.Apply": {check: checked(func(s *Server, authz *acl.Authorizer, a *structs.TxnRequest) error {
			return s.txnOpsCheck(authz, a.Ops)
		})},
		"Txn.Read": {check: checked(func(s *Server, authz *acl.Authorizer, a *structs.TxnReadRequest) error {
			return s.txnOpsCheck(authz, a.Ops)
		}), filter: filtered(filterTxnRead)},

		"Coordinate.Update":    {check: need(acl.ResourceNode, acl.Write, func(a *structs.CoordinateUpdateRequest) string { return a.Node })},
		"Coordinate.ListNodes": {filter: filtered(filterCoordinates)},
		"Coordinate.Node":      {check: need(acl.ResourceNode, acl.Read, node), filter: filtered(filterCoordinates)},

		"Operator.RaftGetConfiguration":      {check: need[*structs.DCSpecificRequest](acl.ResourceOperator, acl.Read, nil)},
		"Operator.RaftRemovePeer":            {check: need[*structs.RaftRemovePeerRequest](acl.ResourceOperator, acl.Write, nil)},
		"Operator.FederationStatus":          {check: need[*structs.DCSpecificRequest](acl.ResourceOperator, acl.Read, nil)},
		"Operator.AutopilotGetConfiguration": {check: need[*structs.DCSpecificRequest](acl.ResourceOperator, acl.Read, nil)},
		"Operator.AutopilotSetConfiguration": {check: need[*structs.AutopilotSetConfigRequest](acl.ResourceOperator, acl.Write, nil)},
		"Operator.AutopilotState":            {check: need[*structs.DCSpecificRequest](acl.ResourceOperator, acl.Read, nil)},
		"Operator.ServerHealth":              {check: need[*structs.DCSpecificRequest](acl.ResourceOperator, acl.Read, nil)},
		"Operator.RaftTransferLeader":        {check: need[*structs.TransferLeaderRequest](acl.ResourceOperator, acl.Write, nil)},
		"Operator.KeyringOperation": {check: checked(func(_ *Server, authz *acl.Authorizer, a *structs.KeyringRequest) error {
			if a.Operation == structs.KeyringList {
				return authz.Check(acl.ResourceKeyring, "", acl.Read)
			}
			return authz.Check(acl.ResourceKeyring, "", acl.Write)
		})},

		"Internal.EventFire": {check: need(acl.ResourceEvent, acl.Write, func(a *structs.EventFireRequest) string { return a.Event.Name })},

		// Prepared queries, as Consul's: the endpoints check query:write
		// (and query:read for listing) by the query's name themselves,
		// and filter the instances an execution returns with the
		// query's own token, or without one the caller's.
		"PreparedQuery.Apply":          pqEP,
		"PreparedQuery.Get":            pqEP,
		"PreparedQuery.List":           pqEP,
		"PreparedQuery.Explain":        pqEP,
		"PreparedQuery.Execute":        pqEP,
		"PreparedQuery.ExecuteRemote":  pqEP,
		"PreparedQuery.FailoverStatus": pqEP,
		"PreparedQuery.Failback":       pqEP,

		"ACL.Bootstrap":         pub("bootstrap needs no token: it works once"),
		"ACL.ResolveToken":      pub("whoever holds a secret may learn what it grants"),
		"ACL.ReplicationStatus": pub("replication status holds nothing secret, as in Consul"),
		"ACL.TokenSet":          aclEP,
		"ACL.TokenClone":        aclEP,
		"ACL.TokenRead":         aclEP,
		"ACL.TokenDelete":       aclEP,
		"ACL.TokenList":         aclEP,
		"ACL.PolicySet":         aclEP,
		"ACL.PolicyRead":        aclEP,
		"ACL.PolicyDelete":      aclEP,
		"ACL.PolicyList":        aclEP,
		"ACL.RoleSet":           aclEP,
		"ACL.RoleRead":          aclEP,
		"ACL.RoleDelete":        aclEP,
		"ACL.RoleList":          aclEP,
	}
}

// aclCall is the ACL state of one call, carried in its context from
// aclIntercept to aclPreCheck and back.
type aclCall struct {
	method string
	rule   rpcRule
	args   any
	// token is the request's token, read from args before the method
	// ran (a method may change its args).
	token string
	// authz is set once the check passed here.
	authz *acl.Authorizer
	// forwarded is set when another server answered.
	forwarded bool
}

type aclCallKey struct{}

// aclIntercept is the dispatcher's interceptor (see the top of the file).
func (s *Server) aclIntercept(ctx context.Context, method string, args, reply any, next func(context.Context) error) error {
	if !s.acls.cfg.Enabled {
		return next(ctx)
	}
	rule, ok := s.rpcRules[method]
	if !ok {
		// Fail closed: a method without an entry serves nobody.
		return fmt.Errorf("rpc %s: no ACL rule for this method", method)
	}
	if rule.public != "" {
		return next(ctx)
	}
	tc, ok := args.(structs.TokenCarrier)
	if !ok {
		return fmt.Errorf("rpc %s: the request carries no ACL token field", method)
	}
	call := &aclCall{method: method, rule: rule, args: args, token: tc.RequestToken()}
	if err := next(context.WithValue(ctx, aclCallKey{}, call)); err != nil {
		return err
	}
	switch {
	case call.forwarded:
	case call.authz == nil:
		s.logger.Error("rpc method answered without its ACL check; the answer is withheld", "method", method)
		return fmt.Errorf("rpc %s: internal error: the ACL check did not run", method)
	case rule.filter != nil && !call.authz.IsManagement():
		rule.filter(call.authz, reply)
	}
	return nil
}

// aclPreCheck runs the ACL check of the call ctx belongs to, on the server
// that answers it: forward calls it when it decided to answer here, and a
// method that does not forward calls it itself. It does nothing with ACLs
// off, for public methods, and after the check passed once.
func (s *Server) aclPreCheck(ctx context.Context) error {
	call, _ := ctx.Value(aclCallKey{}).(*aclCall)
	if call == nil || call.authz != nil {
		return nil
	}
	authz, ident, err := s.ResolveToken(call.token)
	if err != nil {
		return err
	}
	if call.rule.check != nil && !authz.IsManagement() {
		if err := call.rule.check(s, authz, call.args); err != nil {
			id := ""
			if ident != nil {
				id = ident.AccessorID
			}
			return acl.WithAccessor(err, id)
		}
	}
	call.authz = authz
	return nil
}

// aclForwarded records that another server answers the call ctx belongs
// to, and checks it.
func aclForwarded(ctx context.Context) {
	if call, _ := ctx.Value(aclCallKey{}).(*aclCall); call != nil {
		call.forwarded = true
	}
}

// kvOpCheck is the permission of one KV operation: read a key, list a
// prefix, write a key, or write every key under a prefix.
func kvOpCheck(authz *acl.Authorizer, op structs.KVSOp, key string) error {
	switch op {
	case structs.KVSGet, structs.KVSGetOrEmpty, structs.KVSCheckIndex, structs.KVSCheckSession, structs.KVSCheckNotExists:
		return authz.Check(acl.ResourceKey, key, acl.Read)
	case structs.KVSGetTree:
		return authz.Check(acl.ResourceKey, key, acl.List)
	case structs.KVSDeleteTree:
		if !authz.KeyWritePrefix(key) {
			return &acl.PermissionDeniedError{Resource: acl.ResourceKey, Access: acl.Write, Name: key}
		}
		return nil
	}
	return authz.Check(acl.ResourceKey, key, acl.Write)
}

// txnOpsCheck checks every operation of a transaction, as Consul's: KV
// operations by key; Node operations need node:write on the node, Service
// operations service:write on the service's name, Check operations
// node:write on the node (a node check) or service:write on the service's
// name (a service check), whatever the verb; a Session operation
// session:write on the session's node.
func (s *Server) txnOpsCheck(authz *acl.Authorizer, ops structs.TxnOps) error {
	for _, op := range ops {
		var err error
		switch {
		case op == nil:
			// Refused by validation.
		case op.KV != nil:
			err = kvOpCheck(authz, op.KV.Verb, op.KV.DirEnt.Key)
		case op.Node != nil:
			err = authz.Check(acl.ResourceNode, op.Node.Node.Node, acl.Write)
		case op.Service != nil:
			err = authz.Check(acl.ResourceService, op.Service.Service.Service, acl.Write)
		case op.Check != nil:
			if c := op.Check.Check; c.ServiceID == "" {
				err = authz.Check(acl.ResourceNode, c.Node, acl.Write)
			} else {
				err = authz.Check(acl.ResourceService, c.ServiceName, acl.Write)
			}
		case op.Session != nil:
			err = s.checkSessionWrite(authz, op.Session.Session.ID)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// checkCatalogRegister is Consul's rule for a registration: node:write on
// the node unless it exists and the request leaves it as it is,
// service:write on the service (and on the name a service of the same ID
// had), and for each check service:write on its service or node:write.
func checkCatalogRegister(s *Server, authz *acl.Authorizer, args *structs.RegisterRequest) error {
	st := s.fsm.State()
	_, n, err := st.GetNode(nil, args.Node)
	if err != nil {
		return err
	}
	if n == nil || (!args.SkipNodeUpdate && registerChangesNode(args, n)) {
		if err := authz.Check(acl.ResourceNode, args.Node, acl.Write); err != nil {
			return err
		}
	}
	var existing map[string]*structs.NodeService
	if n != nil {
		_, ns, err := st.NodeServices(nil, args.Node)
		if err != nil {
			return err
		}
		if ns != nil {
			existing = ns.Services
		}
	}
	if svc := args.Service; svc != nil {
		if err := authz.Check(acl.ResourceService, svc.Service, acl.Write); err != nil {
			return err
		}
		id := svc.ID
		if id == "" {
			id = svc.Service
		}
		if old := existing[id]; old != nil && old.Service != svc.Service {
			if err := authz.Check(acl.ResourceService, old.Service, acl.Write); err != nil {
				return err
			}
		}
	}
	checks := args.Checks
	if args.Check != nil {
		checks = append(structs.HealthChecks{args.Check}, checks...)
	}
	for _, c := range checks {
		if c == nil {
			continue
		}
		if c.ServiceID == "" {
			if err := authz.Check(acl.ResourceNode, args.Node, acl.Write); err != nil {
				return err
			}
			continue
		}
		name := c.ServiceName
		if svc := args.Service; svc != nil && (svc.ID == c.ServiceID || svc.ID == "" && svc.Service == c.ServiceID) {
			name = svc.Service
		} else if old := existing[c.ServiceID]; old != nil {
			name = old.Service
		}
		if name == "" {
			name = c.ServiceID
		}
		if err := authz.Check(acl.ResourceService, name, acl.Write); err != nil {
			return err
		}
	}
	return nil
}

// registerChangesNode reports whether a registration would change the
// node's record.
func registerChangesNode(r *structs.RegisterRequest, n *structs.Node) bool {
	return (r.ID != "" && r.ID != n.ID) || r.Address != n.Address ||
		(r.TaggedAddresses != nil && !maps.Equal(r.TaggedAddresses, n.TaggedAddresses)) ||
		(r.NodeMeta != nil && !maps.Equal(r.NodeMeta, n.Meta))
}

// checkCatalogDeregister: service:write on a service, service:write on a
// service check's service or node:write on a node check, node:write on a
// whole node. What does not exist needs nothing (nothing happens).
func checkCatalogDeregister(s *Server, authz *acl.Authorizer, args *structs.DeregisterRequest) error {
	st := s.fsm.State()
	switch {
	case args.ServiceID != "":
		_, ns, err := st.NodeServices(nil, args.Node)
		if err != nil {
			return err
		}
		if ns == nil || ns.Services[args.ServiceID] == nil {
			return nil
		}
		return authz.Check(acl.ResourceService, ns.Services[args.ServiceID].Service, acl.Write)
	case args.CheckID != "":
		_, checks, err := st.NodeChecks(nil, args.Node)
		if err != nil {
			return err
		}
		for _, c := range checks {
			if c.CheckID != args.CheckID {
				continue
			}
			if c.ServiceID != "" {
				name := c.ServiceName
				if name == "" {
					name = c.ServiceID
				}
				return authz.Check(acl.ResourceService, name, acl.Write)
			}
			return authz.Check(acl.ResourceNode, args.Node, acl.Write)
		}
		return nil
	}
	return authz.Check(acl.ResourceNode, args.Node, acl.Write)
}

// checkSessionApply: session:write on the node of the session created or
// destroyed.
func checkSessionApply(s *Server, authz *acl.Authorizer, args *structs.SessionRequest) error {
	if args.Op == structs.SessionDestroy {
		return s.checkSessionWrite(authz, args.Session.ID)
	}
	return authz.Check(acl.ResourceSession, args.Session.Node, acl.Write)
}

// checkSessionWrite: session:write on an existing session's node; an
// unknown session needs nothing (the endpoint answers as without ACLs).
func (s *Server) checkSessionWrite(authz *acl.Authorizer, id string) error {
	_, sess, err := s.fsm.State().SessionGet(nil, id)
	if err != nil || sess == nil {
		return err
	}
	return authz.Check(acl.ResourceSession, sess.Node, acl.Write)
}

// setFiltered records in meta that entries were removed.
func setFiltered(meta *structs.QueryMeta, removed bool) bool {
	if removed {
		meta.ResultsFilteredByACLs = true
	}
	return removed
}

// keepIf returns the entries of list for which ok holds, and whether any
// went; it does not modify list, which may be shared with the store.
func keepIf[T any](list []T, ok func(T) bool) ([]T, bool) {
	for i, e := range list {
		if ok(e) {
			continue
		}
		out := append(make([]T, 0, len(list)-1), list[:i]...)
		for _, e := range list[i+1:] {
			if ok(e) {
				out = append(out, e)
			}
		}
		return out, true
	}
	return list, false
}

func nodeRead(authz *acl.Authorizer, n string) bool {
	return authz.Allowed(acl.ResourceNode, n, acl.Read)
}

func serviceRead(authz *acl.Authorizer, s string) bool {
	return authz.Allowed(acl.ResourceService, s, acl.Read)
}

func filterNodes(authz *acl.Authorizer, r *structs.IndexedNodes) bool {
	var removed bool
	r.Nodes, removed = keepIf(r.Nodes, func(n *structs.Node) bool { return nodeRead(authz, n.Node) })
	return setFiltered(&r.QueryMeta, removed)
}

func filterServiceNodes(authz *acl.Authorizer, r *structs.IndexedServiceNodes) bool {
	var removed bool
	r.ServiceNodes, removed = keepIf(r.ServiceNodes, func(sn *structs.ServiceNode) bool {
		return nodeRead(authz, sn.Node) && serviceRead(authz, sn.ServiceName)
	})
	return setFiltered(&r.QueryMeta, removed)
}

func filterNodeServices(authz *acl.Authorizer, r *structs.IndexedNodeServices) bool {
	ns := r.NodeServices
	if ns == nil {
		return false
	}
	if ns.Node == nil || !nodeRead(authz, ns.Node.Node) {
		r.NodeServices = nil
		return setFiltered(&r.QueryMeta, true)
	}
	removed := false
	for id, svc := range ns.Services {
		if serviceRead(authz, svc.Service) {
			continue
		}
		if !removed {
			c := *ns
			c.Services = maps.Clone(ns.Services)
			ns = &c
			removed = true
		}
		delete(ns.Services, id)
	}
	r.NodeServices = ns
	return setFiltered(&r.QueryMeta, removed)
}

func filterChecks(authz *acl.Authorizer, r *structs.IndexedHealthChecks) bool {
	var removed bool
	r.HealthChecks, removed = keepIf(r.HealthChecks, func(c *structs.HealthCheck) bool {
		return nodeRead(authz, c.Node) && (c.ServiceName == "" || serviceRead(authz, c.ServiceName))
	})
	return setFiltered(&r.QueryMeta, removed)
}

func filterCheckServiceNodes(authz *acl.Authorizer, r *structs.IndexedCheckServiceNodes) bool {
	var removed bool
	r.Nodes, removed = keepIf(r.Nodes, func(c structs.CheckServiceNode) bool {
		return c.Node != nil && c.Service != nil && nodeRead(authz, c.Node.Node) && serviceRead(authz, c.Service.Service)
	})
	return setFiltered(&r.QueryMeta, removed)
}

func filterDirEntries(authz *acl.Authorizer, r *structs.IndexedDirEntries) bool {
	var removed bool
	r.Entries, removed = keepIf(r.Entries, func(e *structs.DirEntry) bool {
		return authz.Allowed(acl.ResourceKey, e.Key, acl.Read)
	})
	return setFiltered(&r.QueryMeta, removed)
}

func filterKeys(authz *acl.Authorizer, r *structs.IndexedKeyList) bool {
	var removed bool
	r.Keys, removed = keepIf(r.Keys, func(k string) bool { return authz.Allowed(acl.ResourceKey, k, acl.Read) })
	return setFiltered(&r.QueryMeta, removed)
}

func filterSessions(authz *acl.Authorizer, r *structs.IndexedSessions) bool {
	var removed bool
	r.Sessions, removed = keepIf(r.Sessions, func(s *structs.Session) bool {
		return authz.Allowed(acl.ResourceSession, s.Node, acl.Read)
	})
	return setFiltered(&r.QueryMeta, removed)
}

func filterCoordinates(authz *acl.Authorizer, r *structs.IndexedCoordinates) bool {
	var removed bool
	r.Coordinates, removed = keepIf(r.Coordinates, func(c *structs.Coordinate) bool { return nodeRead(authz, c.Node) })
	return setFiltered(&r.QueryMeta, removed)
}

// filterTxnRead leaves out the entries of a get-tree the token may not
// read (the prefix itself was checked for key:list).
func filterTxnRead(authz *acl.Authorizer, r *structs.TxnReadResponse) bool {
	var removed bool
	r.Results, removed = keepIf(r.Results, func(res *structs.TxnResult) bool {
		return res == nil || res.KV == nil || authz.Allowed(acl.ResourceKey, res.KV.Key, acl.Read)
	})
	return setFiltered(&r.QueryMeta, removed)
}
