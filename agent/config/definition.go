package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/meridian-sd/meridian/structs"
)

// Check types, as Consul's HealthCheck.Type reports them.
const (
	CheckTypeTTL    = "ttl"
	CheckTypeHTTP   = "http"
	CheckTypeTCP    = "tcp"
	CheckTypeScript = "script"
)

// ServiceDefinition is a service the agent registers: from a config file's
// service or services, from a service file, or from the body of
// /v1/agent/service/register. Definitions that come out of this package
// are validated and have their defaults filled in (see Normalize).
type ServiceDefinition struct {
	// ID is unique on the agent; defaults to Name.
	ID string
	// Name is the service's name. Required.
	Name string
	// Tags are free-form labels, in order.
	Tags []string
	// Address is the service's address; empty means the node's address.
	Address string
	// Port is the service's port, 0 to 65535; 0 means none.
	Port int
	// Meta is free-form key/value metadata (at most 64 pairs).
	Meta map[string]string
	// TaggedAddresses are extra addresses by tag ("lan", "wan", ...).
	TaggedAddresses map[string]structs.ServiceAddress
	// EnableTagOverride lets the catalog's tags win over the agent's in
	// anti-entropy.
	EnableTagOverride bool
	// Weights are the DNS weights; default passing 1, warning 1.
	Weights structs.Weights
	// Checks are the service's checks: check followed by checks. Each has
	// ServiceID set to ID and, once normalised, an ID and a name.
	Checks []CheckDefinition
	// Kind is Consul's service kind ("", connect-proxy, mesh-gateway, ...),
	// stored and returned; Meridian gives it no behaviour.
	Kind string
	// SocketPath is the service's unix socket, stored and returned.
	SocketPath string
	// Ports are the service's named ports, stored and returned.
	Ports []structs.ServicePort
	// Locality is the service's region and zone, stored and returned.
	Locality *structs.Locality
	// Proxy, Connect and AI are Consul's blocks of those names, kept as
	// JSON objects with CamelCase keys (see opaque.go) and returned
	// unchanged; nil when not given.
	Proxy   json.RawMessage `json:",omitempty"`
	Connect json.RawMessage `json:",omitempty"`
	AI      json.RawMessage `json:",omitempty"`
}

// CheckDefinition is a health check the agent runs: top-level in a config
// file (check, checks), inside a service definition, or from the body of
// /v1/agent/check/register. Exactly one of TTL, HTTP, TCP and Args says
// what kind of check it is.
type CheckDefinition struct {
	// ID is unique on the agent. It defaults to Name for a node-level check,
	// and to "service:<service id>" (":<n>" appended, counting from 1, when
	// the service has several checks) for a service's check.
	ID string
	// Name is the check's name; required for node-level checks, defaults to
	// "Service '<name>' check" for a service's check.
	Name string
	// Notes is free-form text for humans.
	Notes string
	// ServiceID ties the check to a service; empty for node-level checks.
	ServiceID string
	// Status is the initial status: passing, warning or critical; empty
	// means critical, as in Consul.
	Status string

	// TTL makes this a TTL check: it turns critical unless updated within
	// TTL through /v1/agent/check/pass|warn|fail|update.
	TTL time.Duration

	// HTTP makes this an HTTP check of this http:// or https:// URL.
	HTTP string
	// Method is the HTTP method; empty means GET.
	Method string
	// Header holds the request headers.
	Header map[string][]string
	// Body is the request body.
	Body string
	// TLSSkipVerify turns off certificate verification for https URLs.
	TLSSkipVerify bool
	// TLSServerName is the name to verify the certificate against (and send
	// as SNI) instead of the URL's host.
	TLSServerName string
	// DisableRedirects reports a redirect as it stands instead of following it.
	DisableRedirects bool

	// TCP makes this a TCP check of this host:port.
	TCP string

	// Args makes this a script check running this command (no shell).
	// Needs enable_script_checks or enable_local_script_checks.
	Args []string

	// Interval is the time between runs of an HTTP, TCP or script check.
	// Required for them, must be zero for TTL checks.
	Interval time.Duration
	// Timeout bounds one run; zero means the runner's default (10s).
	Timeout time.Duration
	// DeregisterCriticalServiceAfter, when non-zero, removes the check's
	// service after the check has been critical this long.
	DeregisterCriticalServiceAfter time.Duration
	// SuccessBeforePassing is how many passing results in a row are needed
	// before the check reports passing; zero reports at once.
	SuccessBeforePassing int
	// FailuresBeforeWarning is how many failures in a row turn the check
	// warning; zero means the same as FailuresBeforeCritical.
	FailuresBeforeWarning int
	// FailuresBeforeCritical is how many failures in a row are needed before
	// the check reports critical; zero reports at once.
	FailuresBeforeCritical int
	// OutputMaxSize caps the bytes of output kept; zero means the agent's
	// check_output_max_size.
	OutputMaxSize int
}

// fieldError is a problem with one key of a definition; key is relative to
// the definition ("checks[1].interval"), empty for the whole definition.
type fieldError struct {
	key, msg string
}

func (e fieldError) String() string {
	if e.key == "" {
		return e.msg
	}
	return e.key + ": " + e.msg
}

// joinFieldErrors turns definition problems into one error.
func joinFieldErrors(errs []fieldError) error {
	if len(errs) == 0 {
		return nil
	}
	out := make([]error, len(errs))
	for i, e := range errs {
		out[i] = errors.New(e.String())
	}
	return errors.Join(out...)
}

// Type returns the kind of check: CheckTypeTTL, CheckTypeHTTP, CheckTypeTCP
// or CheckTypeScript; "" when none is set.
func (c *CheckDefinition) Type() string {
	switch {
	case c.TTL > 0:
		return CheckTypeTTL
	case c.HTTP != "":
		return CheckTypeHTTP
	case c.TCP != "":
		return CheckTypeTCP
	case len(c.Args) > 0:
		return CheckTypeScript
	}
	return ""
}

// Validate reports every problem with the check, one sentence each,
// joined. It expects a normalised check only in that a node-level check
// must have a name or an ID.
func (c *CheckDefinition) Validate() error {
	return joinFieldErrors(c.validate())
}

func (c *CheckDefinition) validate() []fieldError {
	var errs []fieldError
	add := func(key, format string, args ...any) {
		errs = append(errs, fieldError{key, fmt.Sprintf(format, args...)})
	}
	if c.ID == "" && c.Name == "" {
		add("", "a check needs a name")
	}
	var kinds []string
	if c.TTL > 0 {
		kinds = append(kinds, "ttl")
	}
	if c.HTTP != "" {
		kinds = append(kinds, "http")
	}
	if c.TCP != "" {
		kinds = append(kinds, "tcp")
	}
	if len(c.Args) > 0 {
		kinds = append(kinds, "args")
	}
	switch len(kinds) {
	case 0:
		add("", "a check needs one of ttl, http, tcp or args")
	case 1:
	default:
		add("", "a check may have only one of ttl, http, tcp or args, not %s", strings.Join(kinds, " and "))
	}
	if c.Status != "" && !structs.ValidHealthStatus(c.Status) {
		add("status", "%q is not a check status (want passing, warning or critical)", c.Status)
	}
	if c.HTTP != "" {
		if msg := validCheckURL(c.HTTP); msg != "" {
			add("http", "%s", msg)
		}
	}
	if c.TCP != "" {
		if _, port, err := net.SplitHostPort(c.TCP); err != nil || port == "" {
			add("tcp", "%q is not a host:port address", c.TCP)
		}
	}
	if len(kinds) == 1 {
		if c.TTL > 0 && c.Interval > 0 {
			add("interval", "a ttl check takes no interval")
		}
		if c.TTL == 0 && c.Interval <= 0 {
			kind := kinds[0]
			if kind == "args" {
				kind = "script"
			}
			add("interval", "an interval is required for %s checks", kind)
		}
	}
	if c.FailuresBeforeWarning > c.FailuresBeforeCritical && c.FailuresBeforeCritical > 0 {
		add("failures_before_warning", "%d must not exceed failures_before_critical %d",
			c.FailuresBeforeWarning, c.FailuresBeforeCritical)
	}
	return errs
}

// validCheckURL checks an HTTP check's URL.
func validCheckURL(s string) string {
	lower := strings.ToLower(s)
	if !strings.HasPrefix(lower, "http://") && !strings.HasPrefix(lower, "https://") {
		return fmt.Sprintf("%q must start with http:// or https://", s)
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Sprintf("%q is not a valid URL", s)
	}
	if u.Host == "" {
		return fmt.Sprintf("%q has no host", s)
	}
	return ""
}

// HealthCheck returns the catalog record of the check on node, with its
// initial status (critical unless Status says otherwise). ServiceName and
// ServiceTags are left for the caller, who knows the service.
func (c *CheckDefinition) HealthCheck(node string) *structs.HealthCheck {
	status := c.Status
	if status == "" {
		status = structs.HealthCritical
	}
	var header map[string][]string
	if len(c.Header) > 0 {
		header = make(map[string][]string, len(c.Header))
		for k, v := range c.Header {
			header[k] = append([]string(nil), v...)
		}
	}
	return &structs.HealthCheck{
		Node:      node,
		CheckID:   c.ID,
		Name:      c.Name,
		Status:    status,
		Notes:     c.Notes,
		ServiceID: c.ServiceID,
		Type:      c.Type(),
		Definition: structs.HealthCheckDefinition{
			HTTP:                           c.HTTP,
			Header:                         header,
			Method:                         c.Method,
			Body:                           c.Body,
			TLSSkipVerify:                  c.TLSSkipVerify,
			TCP:                            c.TCP,
			Interval:                       structs.Duration(c.Interval),
			Timeout:                        structs.Duration(c.Timeout),
			DeregisterCriticalServiceAfter: structs.Duration(c.DeregisterCriticalServiceAfter),
		},
	}
}

// Normalize fills in the defaults Consul fills in: the ID from the name,
// weights of 1, and each check's service ID, ID and name.
func (s *ServiceDefinition) Normalize() {
	if s.ID == "" {
		s.ID = s.Name
	}
	if s.Weights == (structs.Weights{}) {
		s.Weights = structs.Weights{Passing: 1, Warning: 1}
	}
	for i := range s.Checks {
		c := &s.Checks[i]
		c.ServiceID = s.ID
		if c.ID == "" {
			c.ID = "service:" + s.ID
			if len(s.Checks) > 1 {
				c.ID += fmt.Sprintf(":%d", i+1)
			}
		}
		if c.Name == "" {
			c.Name = fmt.Sprintf("Service '%s' check", s.Name)
		}
	}
}

// Validate reports every problem with a normalised service definition and
// its checks, one sentence each, joined.
func (s *ServiceDefinition) Validate() error {
	return joinFieldErrors(s.validate(func(i int) string { return fmt.Sprintf("checks[%d]", i) }))
}

// validate returns the problems; checkKey names the i-th check in keys.
func (s *ServiceDefinition) validate(checkKey func(i int) string) []fieldError {
	var errs []fieldError
	if strings.TrimSpace(s.Name) == "" {
		errs = append(errs, fieldError{"", "a service needs a name"})
	}
	if s.Port < 0 || s.Port > 65535 {
		errs = append(errs, fieldError{"port", fmt.Sprintf("%d is not a valid port (want 0 to 65535)", s.Port)})
	}
	if s.Weights.Passing < 1 {
		errs = append(errs, fieldError{"weights.passing", fmt.Sprintf("%d must be at least 1", s.Weights.Passing)})
	}
	if s.Weights.Warning < 0 {
		errs = append(errs, fieldError{"weights.warning", fmt.Sprintf("%d must not be negative", s.Weights.Warning)})
	}
	if msg := validMeta(s.Meta, false); msg != "" {
		errs = append(errs, fieldError{"meta", msg})
	}
	if !structs.ValidServiceKind(s.Kind) {
		errs = append(errs, fieldError{"kind", fmt.Sprintf("%q is not a service kind (want connect-proxy, mesh-gateway, terminating-gateway, ingress-gateway, api-gateway or destination, or none)", s.Kind)})
	}
	if msg := validPorts(s.Ports); msg != "" {
		errs = append(errs, fieldError{"ports", msg})
	}
	seen := map[string]bool{}
	for i := range s.Checks {
		c := &s.Checks[i]
		prefix := checkKey(i)
		for _, e := range c.validate() {
			e.key = joinKey(prefix, e.key)
			errs = append(errs, e)
		}
		if c.ID != "" && seen[c.ID] {
			errs = append(errs, fieldError{prefix, fmt.Sprintf("check ID %q is used twice", c.ID)})
		}
		seen[c.ID] = true
	}
	return errs
}

// validPorts checks a service's named ports as Consul's API does: each
// named and numbered, names unique, at most one default.
func validPorts(ports []structs.ServicePort) string {
	if len(ports) > 64 {
		return fmt.Sprintf("%d ports is more than the limit of 64", len(ports))
	}
	names := map[string]bool{}
	defaults := 0
	for _, p := range ports {
		switch {
		case strings.TrimSpace(p.Name) == "":
			return "a port needs a name"
		case p.Port <= 0 || p.Port > 65535:
			return fmt.Sprintf("port %q: %d is not a valid port (want 1 to 65535)", p.Name, p.Port)
		case names[p.Name]:
			return fmt.Sprintf("port name %q is used twice", p.Name)
		}
		names[p.Name] = true
		if p.Default {
			defaults++
		}
	}
	if defaults > 1 {
		return "only one port may be the default"
	}
	return ""
}

// NodeService returns the catalog record of a normalised service.
func (s *ServiceDefinition) NodeService() *structs.NodeService {
	ns := &structs.NodeService{
		ID:                s.ID,
		Service:           s.Name,
		Tags:              append([]string(nil), s.Tags...),
		Port:              s.Port,
		Address:           s.Address,
		Weights:           s.Weights,
		EnableTagOverride: s.EnableTagOverride,
		Kind:              s.Kind,
		SocketPath:        s.SocketPath,
		Ports:             append([]structs.ServicePort(nil), s.Ports...),
		Proxy:             opaqueCopy(s.Proxy),
		Connect:           opaqueCopy(s.Connect),
		AI:                opaqueCopy(s.AI),
	}
	if s.Locality != nil {
		l := *s.Locality
		ns.Locality = &l
	}
	if len(s.Meta) > 0 {
		ns.Meta = make(map[string]string, len(s.Meta))
		for k, v := range s.Meta {
			ns.Meta[k] = v
		}
	}
	if len(s.TaggedAddresses) > 0 {
		ns.TaggedAddresses = make(map[string]structs.ServiceAddress, len(s.TaggedAddresses))
		for k, v := range s.TaggedAddresses {
			ns.TaggedAddresses[k] = v
		}
	}
	return ns
}

// opaqueCopy copies an opaque field; a JSON null is no field. The agent's
// service files from before the fields were left out when empty held
// "null", which json.RawMessage keeps as it is, and which servers refuse
// as not a JSON object.
func opaqueCopy(raw json.RawMessage) json.RawMessage {
	if t := bytes.TrimSpace(raw); len(t) == 0 || string(t) == "null" {
		return nil
	}
	return append(json.RawMessage(nil), raw...)
}

// definition converts a decoded raw service.
func (r *rawService) definition() ServiceDefinition {
	s := ServiceDefinition{
		ID:                deref(r.ID),
		Name:              deref(r.Name),
		Tags:              r.Tags,
		Address:           deref(r.Address),
		Port:              deref(r.Port),
		Meta:              r.Meta,
		EnableTagOverride: deref(r.EnableTagOverride),
		Kind:              deref(r.Kind),
		SocketPath:        deref(r.SocketPath),
	}
	for _, p := range r.Ports {
		s.Ports = append(s.Ports, structs.ServicePort{Name: deref(p.Name), Port: deref(p.Port), Default: deref(p.Default)})
	}
	if r.Locality != nil {
		s.Locality = &structs.Locality{Region: deref(r.Locality.Region), Zone: deref(r.Locality.Zone)}
	}
	if len(r.TaggedAddresses) > 0 {
		s.TaggedAddresses = make(map[string]structs.ServiceAddress, len(r.TaggedAddresses))
		for k, a := range r.TaggedAddresses {
			s.TaggedAddresses[k] = structs.ServiceAddress{Address: deref(a.Address), Port: deref(a.Port)}
		}
	}
	if r.Weights != nil {
		s.Weights = structs.Weights{Passing: deref(r.Weights.Passing), Warning: deref(r.Weights.Warning)}
		if r.Weights.Passing == nil {
			s.Weights.Passing = 1
		}
		if r.Weights.Warning == nil {
			s.Weights.Warning = 1
		}
	}
	if r.Check != nil {
		s.Checks = append(s.Checks, r.Check.definition())
	}
	for i := range r.Checks {
		s.Checks = append(s.Checks, r.Checks[i].definition())
	}
	return s
}

// definition converts a decoded raw check.
func (r *rawCheck) definition() CheckDefinition {
	return CheckDefinition{
		ID:                             deref(r.ID),
		Name:                           deref(r.Name),
		Notes:                          deref(r.Notes),
		ServiceID:                      deref(r.ServiceID),
		Status:                         deref(r.Status),
		TTL:                            deref(r.TTL),
		HTTP:                           deref(r.HTTP),
		Method:                         deref(r.Method),
		Header:                         r.Header,
		Body:                           deref(r.Body),
		TLSSkipVerify:                  deref(r.TLSSkipVerify),
		TLSServerName:                  deref(r.TLSServerName),
		DisableRedirects:               deref(r.DisableRedirects),
		TCP:                            deref(r.TCP),
		Args:                           r.Args,
		Interval:                       deref(r.Interval),
		Timeout:                        deref(r.Timeout),
		DeregisterCriticalServiceAfter: deref(r.DeregisterCriticalServiceAfter),
		SuccessBeforePassing:           deref(r.SuccessBeforePassing),
		FailuresBeforeWarning:          deref(r.FailuresBeforeWarning),
		FailuresBeforeCritical:         deref(r.FailuresBeforeCritical),
		OutputMaxSize:                  deref(r.OutputMaxSize),
	}
}

// unsupportedType names the Consul check type a raw check asks for that
// Meridian does not run, or "".
func (r *rawCheck) unsupportedType() string {
	for _, t := range []struct {
		name string
		set  *string
	}{
		{"grpc", r.GRPC}, {"udp", r.UDP}, {"h2ping", r.H2Ping},
		{"docker", r.DockerContainerID}, {"alias", r.AliasNode},
		{"alias", r.AliasService}, {"os_service", r.OSService},
	} {
		if t.set != nil {
			return t.name
		}
	}
	return ""
}

// deref returns what p points to, or the zero value.
func deref[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}
