package structs

import "fmt"

// preparedQuery checks the shape of a query record: lengths and counts.
// What a query means (a service name given, a template that compiles) is
// the endpoint's, with Consul's texts.
func (v *validator) preparedQuery(q *PreparedQuery) {
	if q == nil {
		v.fail(CodeBadRequest, "invalid query: the query is null")
		return
	}
	v.name("query id", q.ID)
	v.name("query name", q.Name)
	v.name("query session", q.Session)
	v.name("query token", q.Token)
	v.name("query template type", q.Template.Type)
	// The regexp is compiled at every execution of the template: a name's
	// bound, not free text's.
	v.name("query template regexp", q.Template.Regexp)
	v.name("query dns ttl", q.DNS.TTL)
	s := &q.Service
	v.name("query service", s.Service)
	v.name("query sameness group", s.SamenessGroup)
	v.name("query near", s.Near)
	v.name("query peer", s.Peer)
	v.name("query namespace", s.Namespace)
	v.name("query partition", s.Partition)
	v.names("query ignored check ids", s.IgnoreCheckIDs)
	v.names("query tags", s.Tags)
	v.strMap("query node meta", s.NodeMeta)
	v.strMap("query service meta", s.ServiceMeta)
	f := &s.Failover
	if f.NearestN < 0 {
		v.fail(CodeBadRequest, "Bad NearestN '%d', must be >= 0", f.NearestN)
	}
	if f.NearestN > MaxListLen {
		v.fail(CodeTooLarge, "invalid NearestN %d: more than %d", f.NearestN, MaxListLen)
	}
	v.list("query failover datacenters", len(f.Datacenters))
	for _, dc := range f.Datacenters {
		v.dc("query failover datacenter", dc)
	}
	v.list("query failover targets", len(f.Targets))
	for i, t := range f.Targets {
		v.dc(fmt.Sprintf("query failover targets[%d] datacenter", i), t.Datacenter)
		v.name("query failover target peer", t.Peer)
		v.name("query failover target partition", t.Partition)
		v.name("query failover target namespace", t.Namespace)
	}
	if f.MinPassing < 0 {
		v.fail(CodeBadRequest, "invalid MinPassing %d: must not be negative", f.MinPassing)
	}
	v.name("query failback after", f.FailbackAfter)
	v.name("query failback mode", f.FailbackMode)
}

// Validate implements Validator.
func (r *PreparedQueryRequest) Validate() error {
	var v validator
	v.write(&r.WriteRequest)
	v.dc("datacenter", r.Datacenter)
	v.name("query operation", string(r.Op))
	if r.Query == nil {
		v.fail(CodeBadRequest, "invalid query: missing query")
		return v.err
	}
	v.preparedQuery(r.Query)
	return v.err
}

// Validate implements Validator.
func (r *PreparedQuerySpecificRequest) Validate() error {
	var v validator
	v.dc("datacenter", r.Datacenter)
	v.name("query id", r.QueryID)
	v.query(&r.QueryOptions)
	return v.err
}

// Validate implements Validator.
func (r *PreparedQueryExecuteRequest) Validate() error {
	var v validator
	v.dc("datacenter", r.Datacenter)
	v.name("query id or name", r.QueryIDOrName)
	if r.Limit < 0 {
		v.fail(CodeBadRequest, "invalid limit %d: must not be negative", r.Limit)
	}
	v.source(&r.Source)
	v.source(&r.Agent)
	v.query(&r.QueryOptions)
	return v.err
}

// Validate implements Validator.
func (r *PreparedQueryExecuteRemoteRequest) Validate() error {
	var v validator
	v.dc("datacenter", r.Datacenter)
	if r.Limit < 0 {
		v.fail(CodeBadRequest, "invalid limit %d: must not be negative", r.Limit)
	}
	v.preparedQuery(&r.Query)
	v.query(&r.QueryOptions)
	return v.err
}

// Validate implements Validator.
func (r *PreparedQueryFailoverRequest) Validate() error {
	var v validator
	v.write(&r.WriteRequest)
	v.dc("datacenter", r.Datacenter)
	v.name("failover operation", string(r.Op))
	v.name("query id", r.QueryID)
	v.name("status query id", r.Status.QueryID)
	v.dc("status datacenter", r.Status.Datacenter)
	v.text("status reason", r.Status.Reason)
	return v.err
}
