package structs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/hashicorp/serf/coordinate"
)

// Validator is implemented by every RPC request type. The RPC dispatcher
// calls Validate on each request after decoding it and before the endpoint
// runs (and before it is forwarded anywhere), so endpoints may rely on the
// shape: no nil entries in lists, no nil pointers that must be set, no
// negative or absurd numbers, and every string, list and map within the
// bounds below. Semantic checks that need the server's state or config
// (a session exists, a value is under kv_max_value_size) stay in the
// endpoints. A Validate error is a CodeBadRequest error (CodeTooLarge for a
// size bound) naming the field.
type Validator interface {
	Validate() error
}

// Bounds of RPC requests. They are generous, far above anything a real
// agent sends, and only there so that no peer can make a server hold or
// process unbounded input; the HTTP layer and the Raft entry size limit
// usually refuse much less.
const (
	// MaxNameLen bounds names and identifiers: node, service, check and
	// session names and IDs, keys, tags, meta keys, addresses (bytes).
	MaxNameLen = 4096
	// MaxTextLen bounds free text: meta values, check notes, output and
	// definitions, session names, descriptions (bytes). The size of a
	// whole request is bounded by the Raft entry limits as well
	// (structs.MaxRegisterSize and the others).
	MaxTextLen = 1024 * 1024
	// MaxListLen bounds the entries of any list in a request (tags,
	// checks, session checks, transaction operations).
	MaxListLen = 4096
	// MaxMapLen bounds the pairs of any map in a request (meta, tagged
	// addresses, filters, headers).
	MaxMapLen = 1024
	// MaxDatacenterLen bounds a datacenter name (bytes).
	MaxDatacenterLen = 255
	// MaxCoordinateDims bounds a network coordinate's dimensions.
	MaxCoordinateDims = 64
	// MaxFilterLen bounds a ?filter= expression (bytes).
	MaxFilterLen = 4096
)

// validator collects the first problem found in a request.
type validator struct{ err error }

func (v *validator) fail(code ErrorCode, format string, args ...any) {
	if v.err == nil {
		v.err = NewError(code, format, args...)
	}
}

// name checks an identifier's length.
func (v *validator) name(field, s string) {
	if len(s) > MaxNameLen {
		v.fail(CodeTooLarge, "invalid %s: %d bytes is longer than the %d byte limit", field, len(s), MaxNameLen)
	}
}

// text checks a free text's length.
func (v *validator) text(field, s string) {
	if len(s) > MaxTextLen {
		v.fail(CodeTooLarge, "invalid %s: %d bytes is longer than the %d byte limit", field, len(s), MaxTextLen)
	}
}

// list checks a list's length.
func (v *validator) list(field string, n int) {
	if n > MaxListLen {
		v.fail(CodeTooLarge, "invalid %s: %d entries is more than the %d entry limit", field, n, MaxListLen)
	}
}

// names checks a list of identifiers.
func (v *validator) names(field string, l []string) {
	v.list(field, len(l))
	for _, s := range l {
		v.name(field+" entry", s)
	}
}

// strMap checks a map of identifiers to texts.
func (v *validator) strMap(field string, m map[string]string) {
	if len(m) > MaxMapLen {
		v.fail(CodeTooLarge, "invalid %s: %d pairs is more than the %d pair limit", field, len(m), MaxMapLen)
		return
	}
	for k, val := range m {
		v.name(field+" key", k)
		v.text(field+" value", val)
	}
}

// dc checks a datacenter name: empty (the local one), or letters, digits,
// '-' and '_', as agent configuration accepts them (either case: the HTTP
// layer passes ?dc= as given).
func (v *validator) dc(field, s string) {
	if len(s) > MaxDatacenterLen {
		v.fail(CodeBadRequest, "invalid %s: %d bytes is longer than the %d byte limit", field, len(s), MaxDatacenterLen)
		return
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			v.fail(CodeBadRequest, "invalid %s %q: a datacenter name has only letters, digits, '-' and '_'", field, s)
			return
		}
	}
}

// query checks read options.
func (v *validator) query(q *QueryOptions) {
	if q.MaxQueryTime < 0 {
		v.fail(CodeBadRequest, "invalid wait %s: must not be negative", q.MaxQueryTime)
	}
	v.name("token", q.Token)
	if len(q.Filter) > MaxFilterLen {
		v.fail(CodeTooLarge, "invalid filter: %d bytes is longer than the %d byte limit", len(q.Filter), MaxFilterLen)
	}
}

// write checks write options.
func (v *validator) write(w *WriteRequest) {
	v.name("token", w.Token)
}

// source checks an RTT sort origin.
func (v *validator) source(s *QuerySource) {
	v.dc("source datacenter", s.Datacenter)
	v.name("source node", s.Node)
}

// duration checks that a duration is not negative.
func (v *validator) duration(field string, d time.Duration) {
	if d < 0 {
		v.fail(CodeBadRequest, "invalid %s %s: must not be negative", field, d)
	}
}

// check checks one health check record.
func (v *validator) check(field string, c *HealthCheck) {
	if c == nil {
		v.fail(CodeBadRequest, "invalid %s: a check is null", field)
		return
	}
	v.name(field+" node", c.Node)
	v.name(field+" id", c.CheckID)
	v.name(field+" name", c.Name)
	v.name(field+" status", c.Status)
	v.text(field+" notes", c.Notes)
	v.text(field+" output", c.Output)
	v.name(field+" service id", c.ServiceID)
	v.name(field+" service name", c.ServiceName)
	v.names(field+" service tags", c.ServiceTags)
	v.name(field+" type", c.Type)
	d := &c.Definition
	v.text(field+" http", d.HTTP)
	v.name(field+" method", d.Method)
	v.text(field+" body", d.Body)
	v.text(field+" tcp", d.TCP)
	if len(d.Header) > MaxMapLen {
		v.fail(CodeTooLarge, "invalid %s header: %d pairs is more than the %d pair limit", field, len(d.Header), MaxMapLen)
	}
	for k, vals := range d.Header {
		v.name(field+" header name", k)
		v.list(field+" header values", len(vals))
		for _, s := range vals {
			v.text(field+" header value", s)
		}
	}
	v.duration(field+" interval", time.Duration(d.Interval))
	v.duration(field+" timeout", time.Duration(d.Timeout))
	v.duration(field+" deregister_critical_service_after", time.Duration(d.DeregisterCriticalServiceAfter))
}

// service checks one service record.
func (v *validator) service(s *NodeService) {
	v.name("service id", s.ID)
	v.name("service name", s.Service)
	v.names("service tags", s.Tags)
	v.strMap("service meta", s.Meta)
	v.name("service address", s.Address)
	v.dc("service datacenter", s.Datacenter)
	if s.Port < 0 || s.Port > 65535 {
		v.fail(CodeBadRequest, "invalid service port %d: must be between 0 and 65535", s.Port)
	}
	if s.Weights.Passing < 0 || s.Weights.Warning < 0 {
		v.fail(CodeBadRequest, "invalid service weights %d/%d: must not be negative", s.Weights.Passing, s.Weights.Warning)
	}
	if len(s.TaggedAddresses) > MaxMapLen {
		v.fail(CodeTooLarge, "invalid service tagged addresses: %d pairs is more than the %d pair limit", len(s.TaggedAddresses), MaxMapLen)
	}
	for k, a := range s.TaggedAddresses {
		v.name("service tagged address name", k)
		v.name("service tagged address", a.Address)
		if a.Port < 0 || a.Port > 65535 {
			v.fail(CodeBadRequest, "invalid service tagged address port %d: must be between 0 and 65535", a.Port)
		}
	}
	if !ValidServiceKind(s.Kind) {
		v.fail(CodeBadRequest, "invalid service kind %q", truncate(s.Kind))
	}
	v.name("service socket path", s.SocketPath)
	v.list("service ports", len(s.Ports))
	for _, p := range s.Ports {
		v.name("service port name", p.Name)
		if p.Port < 0 || p.Port > 65535 {
			v.fail(CodeBadRequest, "invalid service port %q %d: must be between 0 and 65535", truncate(p.Name), p.Port)
		}
	}
	if s.Locality != nil {
		v.name("service locality region", s.Locality.Region)
		v.name("service locality zone", s.Locality.Zone)
	}
	v.opaque("service proxy", s.Proxy)
	v.opaque("service connect", s.Connect)
	v.opaque("service ai", s.AI)
}

// MaxOpaqueLen bounds one opaque JSON field of a service (Proxy, Connect,
// AI), in bytes.
const MaxOpaqueLen = 64 << 10

// opaque checks an opaque JSON field: empty, or a JSON object within
// MaxOpaqueLen.
func (v *validator) opaque(field string, raw []byte) {
	if len(raw) == 0 {
		return
	}
	if len(raw) > MaxOpaqueLen {
		v.fail(CodeTooLarge, "invalid %s: %d bytes is longer than the %d byte limit", field, len(raw), MaxOpaqueLen)
		return
	}
	if !json.Valid(raw) || bytes.TrimSpace(raw)[0] != '{' {
		v.fail(CodeBadRequest, "invalid %s: not a JSON object", field)
	}
}

// truncate shortens a string quoted in an error.
func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// node checks one node record.
func (v *validator) node(n *Node) {
	v.name("node id", n.ID)
	v.name("node name", n.Node)
	v.name("node address", n.Address)
	v.dc("node datacenter", n.Datacenter)
	v.strMap("node tagged addresses", n.TaggedAddresses)
	v.strMap("node meta", n.Meta)
}

// coord checks a network coordinate: present, finite, and of a sane
// dimension.
func (v *validator) coord(field string, c *coordinate.Coordinate) {
	if c == nil {
		v.fail(CodeBadRequest, "invalid %s: missing coordinate", field)
		return
	}
	if len(c.Vec) == 0 || len(c.Vec) > MaxCoordinateDims {
		v.fail(CodeBadRequest, "invalid %s: %d dimensions, want 1 to %d", field, len(c.Vec), MaxCoordinateDims)
		return
	}
	if !c.IsValid() || math.IsNaN(c.Error) || math.IsInf(c.Error, 0) {
		v.fail(CodeBadRequest, "invalid %s: it holds a number that is not finite", field)
	}
}

// dirEntry checks a KV entry's identifiers; the value's size is the
// endpoint's, against the server's kv_max_value_size.
func (v *validator) dirEntry(e *DirEntry) {
	v.name("key", e.Key)
	v.name("session", e.Session)
}

// Validate implements Validator.
func (r *RegisterRequest) Validate() error {
	var v validator
	v.write(&r.WriteRequest)
	v.dc("datacenter", r.Datacenter)
	v.name("node id", r.ID)
	v.name("node name", r.Node)
	v.name("node address", r.Address)
	v.strMap("tagged addresses", r.TaggedAddresses)
	v.strMap("node meta", r.NodeMeta)
	if r.Service != nil {
		v.service(r.Service)
	}
	if r.Check != nil {
		v.check("check", r.Check)
	}
	v.list("checks", len(r.Checks))
	for i, c := range r.Checks {
		v.check(fmt.Sprintf("checks[%d]", i), c)
	}
	return v.err
}

// Validate implements Validator.
func (r *DeregisterRequest) Validate() error {
	var v validator
	v.write(&r.WriteRequest)
	v.dc("datacenter", r.Datacenter)
	v.name("node name", r.Node)
	v.name("service id", r.ServiceID)
	v.name("check id", r.CheckID)
	return v.err
}

// Validate implements Validator.
func (r *DCSpecificRequest) Validate() error {
	var v validator
	v.dc("datacenter", r.Datacenter)
	v.strMap("node meta filter", r.NodeMetaFilters)
	v.source(&r.Source)
	v.query(&r.QueryOptions)
	return v.err
}

// Validate implements Validator.
func (r *NodeSpecificRequest) Validate() error {
	var v validator
	v.dc("datacenter", r.Datacenter)
	v.name("node name", r.Node)
	v.query(&r.QueryOptions)
	return v.err
}

// Validate implements Validator.
func (r *ServiceSpecificRequest) Validate() error {
	var v validator
	v.dc("datacenter", r.Datacenter)
	v.strMap("node meta filter", r.NodeMetaFilters)
	v.name("service name", r.ServiceName)
	v.name("service address", r.ServiceAddress)
	v.names("service tags", r.ServiceTags)
	v.source(&r.Source)
	v.query(&r.QueryOptions)
	return v.err
}

// Validate implements Validator.
func (r *ChecksInStateRequest) Validate() error {
	var v validator
	v.dc("datacenter", r.Datacenter)
	v.strMap("node meta filter", r.NodeMetaFilters)
	v.name("state", r.State)
	v.source(&r.Source)
	v.query(&r.QueryOptions)
	return v.err
}

// Validate implements Validator.
func (r *StatusRequest) Validate() error {
	var v validator
	v.dc("datacenter", r.Datacenter)
	v.query(&r.QueryOptions)
	return v.err
}

// Validate implements Validator.
func (r *KVSRequest) Validate() error {
	var v validator
	v.write(&r.WriteRequest)
	v.dc("datacenter", r.Datacenter)
	v.name("kv operation", string(r.Op))
	v.dirEntry(&r.DirEnt)
	return v.err
}

// Validate implements Validator.
func (r *KeyRequest) Validate() error {
	var v validator
	v.dc("datacenter", r.Datacenter)
	v.name("key", r.Key)
	v.query(&r.QueryOptions)
	return v.err
}

// Validate implements Validator.
func (r *KeyListRequest) Validate() error {
	var v validator
	v.dc("datacenter", r.Datacenter)
	v.name("prefix", r.Prefix)
	v.name("separator", r.Seperator)
	v.query(&r.QueryOptions)
	return v.err
}

// Validate implements Validator.
func (r *SessionRequest) Validate() error {
	var v validator
	v.write(&r.WriteRequest)
	v.dc("datacenter", r.Datacenter)
	v.name("session operation", string(r.Op))
	s := &r.Session
	v.name("session id", s.ID)
	v.text("session name", s.Name)
	v.name("session node", s.Node)
	v.name("session behavior", string(s.Behavior))
	v.name("session ttl", s.TTL)
	v.duration("session lock delay", s.LockDelay)
	v.names("session node checks", s.NodeChecks)
	v.names("session checks", s.Checks)
	v.list("session service checks", len(s.ServiceChecks))
	for _, c := range s.ServiceChecks {
		v.name("session service check id", c.ID)
		v.name("session service check namespace", c.Namespace)
	}
	return v.err
}

// Validate implements Validator.
func (r *SessionSpecificRequest) Validate() error {
	var v validator
	v.dc("datacenter", r.Datacenter)
	v.name("session id", r.SessionID)
	v.query(&r.QueryOptions)
	return v.err
}

// txnOps checks a transaction's operations. A null operation, or one
// without a KV part, is left to the endpoint, which answers it in the
// transaction's own error list as Consul does.
func (v *validator) txnOps(ops TxnOps) {
	v.list("transaction operations", len(ops))
	for _, op := range ops {
		if op == nil {
			continue
		}
		if op.KV != nil {
			v.name("transaction kv verb", string(op.KV.Verb))
			v.dirEntry(&op.KV.DirEnt)
		}
		if n := op.Node; n != nil {
			v.name("transaction node verb", n.Verb)
			v.node(&n.Node)
		}
		if sv := op.Service; sv != nil {
			v.name("transaction service verb", sv.Verb)
			v.name("transaction service node", sv.Node)
			v.service(&sv.Service)
		}
		if c := op.Check; c != nil {
			v.name("transaction check verb", c.Verb)
			v.check("transaction check", &c.Check)
		}
		if se := op.Session; se != nil {
			v.name("transaction session verb", se.Verb)
			v.name("transaction session id", se.Session.ID)
		}
	}
}

// Validate implements Validator.
func (r *TxnRequest) Validate() error {
	var v validator
	v.write(&r.WriteRequest)
	v.dc("datacenter", r.Datacenter)
	v.txnOps(r.Ops)
	return v.err
}

// Validate implements Validator.
func (r *TxnReadRequest) Validate() error {
	var v validator
	v.dc("datacenter", r.Datacenter)
	v.txnOps(r.Ops)
	v.query(&r.QueryOptions)
	return v.err
}

// Validate implements Validator.
func (r *CoordinateUpdateRequest) Validate() error {
	var v validator
	v.write(&r.WriteRequest)
	v.dc("datacenter", r.Datacenter)
	v.name("node name", r.Node)
	v.name("segment", r.Segment)
	v.coord("coordinate", r.Coord)
	return v.err
}

// Validate implements Validator.
func (r *RaftRemovePeerRequest) Validate() error {
	var v validator
	v.write(&r.WriteRequest)
	v.dc("datacenter", r.Datacenter)
	v.name("address", r.Address)
	v.name("id", r.ID)
	return v.err
}

// Validate implements Validator.
func (r *KeyringRequest) Validate() error {
	var v validator
	v.name("keyring operation", string(r.Operation))
	v.name("key", r.Key)
	v.name("token", r.Token)
	return v.err
}
