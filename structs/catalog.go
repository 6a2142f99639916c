package structs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// Health states of a check, as Consul's.
const (
	HealthPassing  = "passing"
	HealthWarning  = "warning"
	HealthCritical = "critical"
	// HealthAny matches every state in /v1/health/state/any.
	HealthAny = "any"
	// HealthMaint is the status Consul shows for maintenance checks; they
	// are stored as critical.
	HealthMaint = "maintenance"
)

// Well-known check IDs.
const (
	// SerfCheckID is the check the leader keeps on every LAN member.
	SerfCheckID = "serfHealth"
	// SerfCheckName is its human name.
	SerfCheckName = "Serf Health Status"
	// SerfCheckAliveOutput is its output while the member is alive.
	SerfCheckAliveOutput = "Agent alive and reachable"
	// SerfCheckFailedOutput is its output once the member failed.
	SerfCheckFailedOutput = "Agent not live or unreachable"
	// ConsulServiceID and ConsulServiceName name the service the leader
	// registers for every server (port: the server RPC port), as Consul's.
	// Agents' anti-entropy leaves it alone.
	ConsulServiceID   = "consul"
	ConsulServiceName = "consul"
	// NodeMaintCheckID is the check that puts a whole node in maintenance.
	NodeMaintCheckID = "_node_maintenance"
	// ServiceMaintPrefix prefixes the per-service maintenance check ID.
	ServiceMaintPrefix = "_service_maintenance:"
)

// Node meta keys the agent fills in, as Consul's does. User meta may not
// use the "consul-" prefix, which is reserved for them.
const (
	// MetaSegmentKey holds the node's network segment; "" (the default
	// segment) on Meridian, which has no segments.
	MetaSegmentKey = "consul-network-segment"
	// MetaConsulVersion holds the agent's version.
	MetaConsulVersion = "consul-version"
)

// ValidHealthStatus reports whether s is a status a check may be set to.
func ValidHealthStatus(s string) bool {
	switch s {
	case HealthPassing, HealthWarning, HealthCritical:
		return true
	}
	return false
}

// Node is a catalog node.
type Node struct {
	ID              string
	Node            string
	Address         string
	Datacenter      string
	TaggedAddresses map[string]string
	Meta            map[string]string
	CreateIndex     uint64
	ModifyIndex     uint64
}

// Nodes is a list of nodes.
type Nodes []*Node

// Weights are the DNS weights of a service instance.
type Weights struct {
	Passing int
	Warning int
}

// ServiceAddress is one tagged address of a service.
type ServiceAddress struct {
	Address string
	Port    int
}

// Service kinds, as Consul's ServiceKind. Meridian stores the kind and
// returns it unchanged; it has no Connect behaviour.
const (
	ServiceKindTypical            = ""
	ServiceKindConnectProxy       = "connect-proxy"
	ServiceKindMeshGateway        = "mesh-gateway"
	ServiceKindTerminatingGateway = "terminating-gateway"
	ServiceKindIngressGateway     = "ingress-gateway"
	ServiceKindAPIGateway         = "api-gateway"
	ServiceKindDestination        = "destination"
)

// ValidServiceKind reports whether k is one of Consul's service kinds.
func ValidServiceKind(k string) bool {
	switch k {
	case ServiceKindTypical, ServiceKindConnectProxy, ServiceKindMeshGateway, ServiceKindTerminatingGateway,
		ServiceKindIngressGateway, ServiceKindAPIGateway, ServiceKindDestination:
		return true
	}
	return false
}

// ServicePort is one named port of a service (Consul's ServicePort).
type ServicePort struct {
	Name    string
	Port    int
	Default bool
}

// Locality is where a service or node runs (Consul's Locality).
type Locality struct {
	Region string
	Zone   string
}

// NodeService is a service instance as registered on a node (Consul's
// AgentService shape). Proxy, Connect and AI are kept as the JSON objects
// they were registered with (keys in Consul's CamelCase) and returned
// unchanged: Meridian stores them for the tools that set them and reads
// nothing in them.
type NodeService struct {
	Kind              string `json:",omitempty"`
	ID                string
	Service           string
	Tags              []string
	Meta              map[string]string
	Port              int
	Ports             []ServicePort `json:",omitempty"`
	Address           string
	SocketPath        string                    `json:",omitempty"`
	TaggedAddresses   map[string]ServiceAddress `json:",omitempty"`
	Weights           Weights
	EnableTagOverride bool
	CreateIndex       uint64          `json:",omitempty"`
	ModifyIndex       uint64          `json:",omitempty"`
	Proxy             json.RawMessage `json:",omitempty"`
	Connect           json.RawMessage `json:",omitempty"`
	AI                json.RawMessage `json:",omitempty"`
	Datacenter        string          `json:",omitempty"`
	Locality          *Locality       `json:",omitempty"`
}

// NormalizeOpaque tidies the opaque JSON fields of a service decoded from
// a client's JSON: a null becomes unset, an object is compacted. Anything
// but an object or null is an error naming the field.
func (s *NodeService) NormalizeOpaque() error {
	for _, f := range []struct {
		name string
		raw  *json.RawMessage
	}{{"Proxy", &s.Proxy}, {"Connect", &s.Connect}, {"AI", &s.AI}} {
		t := bytes.TrimSpace(*f.raw)
		if len(t) == 0 || bytes.Equal(t, []byte("null")) {
			*f.raw = nil
			continue
		}
		if t[0] != '{' {
			return fmt.Errorf("service %s must be a JSON object", f.name)
		}
		var b bytes.Buffer
		if err := json.Compact(&b, t); err != nil {
			return fmt.Errorf("service %s: %w", f.name, err)
		}
		*f.raw = b.Bytes()
	}
	return nil
}

// ServiceNode is a service instance joined with its node, as
// /v1/catalog/service returns it.
type ServiceNode struct {
	ID                       string
	Node                     string
	Address                  string
	Datacenter               string
	TaggedAddresses          map[string]string
	NodeMeta                 map[string]string
	ServiceKind              string `json:",omitempty"`
	ServiceID                string
	ServiceName              string
	ServiceAddress           string
	ServiceTaggedAddresses   map[string]ServiceAddress
	ServiceTags              []string
	ServiceMeta              map[string]string
	ServicePort              int
	ServicePorts             []ServicePort `json:",omitempty"`
	ServiceSocketPath        string        `json:",omitempty"`
	ServiceWeights           Weights
	ServiceEnableTagOverride bool
	ServiceProxy             json.RawMessage `json:",omitempty"`
	ServiceConnect           json.RawMessage `json:",omitempty"`
	ServiceAI                json.RawMessage `json:",omitempty"`
	ServiceLocality          *Locality       `json:",omitempty"`
	CreateIndex              uint64
	ModifyIndex              uint64
}

// ServiceNodes is a list of service instances.
type ServiceNodes []*ServiceNode

// HealthCheckDefinition records how a check is run, for display.
type HealthCheckDefinition struct {
	HTTP                           string              `json:",omitempty"`
	Header                         map[string][]string `json:",omitempty"`
	Method                         string              `json:",omitempty"`
	Body                           string              `json:",omitempty"`
	TLSSkipVerify                  bool                `json:",omitempty"`
	TCP                            string              `json:",omitempty"`
	Interval                       Duration            `json:",omitempty"`
	Timeout                        Duration            `json:",omitempty"`
	DeregisterCriticalServiceAfter Duration            `json:",omitempty"`
}

// HealthCheck is a check in the catalog.
type HealthCheck struct {
	Node        string
	CheckID     string
	Name        string
	Status      string
	Notes       string
	Output      string
	ServiceID   string
	ServiceName string
	ServiceTags []string
	Type        string
	Definition  HealthCheckDefinition
	CreateIndex uint64
	ModifyIndex uint64
}

// HealthChecks is a list of checks.
type HealthChecks []*HealthCheck

// IsSame reports whether two checks differ only in their indexes, so that
// anti-entropy and the leader can skip writes that change nothing.
func (c *HealthCheck) IsSame(o *HealthCheck) bool {
	if c == nil || o == nil {
		return c == o
	}
	a, b := *c, *o
	a.CreateIndex, a.ModifyIndex, b.CreateIndex, b.ModifyIndex = 0, 0, 0, 0
	return a.Node == b.Node && a.CheckID == b.CheckID && a.Name == b.Name &&
		a.Status == b.Status && a.Notes == b.Notes && a.Output == b.Output &&
		a.ServiceID == b.ServiceID && a.ServiceName == b.ServiceName &&
		stringsEqual(a.ServiceTags, b.ServiceTags) && a.Type == b.Type
}

// IsSame reports whether two service records differ only in their indexes.
func (s *NodeService) IsSame(o *NodeService) bool {
	if s == nil || o == nil {
		return s == o
	}
	if s.ID != o.ID || s.Service != o.Service || s.Port != o.Port || s.Address != o.Address ||
		s.EnableTagOverride != o.EnableTagOverride || s.Weights != o.Weights ||
		!stringsEqual(s.Tags, o.Tags) || !mapsEqual(s.Meta, o.Meta) ||
		len(s.TaggedAddresses) != len(o.TaggedAddresses) ||
		s.Kind != o.Kind || s.SocketPath != o.SocketPath || !slices.Equal(s.Ports, o.Ports) ||
		!bytes.Equal(s.Proxy, o.Proxy) || !bytes.Equal(s.Connect, o.Connect) || !bytes.Equal(s.AI, o.AI) ||
		!localityEqual(s.Locality, o.Locality) {
		return false
	}
	for k, v := range s.TaggedAddresses {
		if w, ok := o.TaggedAddresses[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func localityEqual(a, b *Locality) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func stringsEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// CheckServiceNode is a service instance with its node and all checks that
// apply to it (node checks and its own), as /v1/health/service returns it.
type CheckServiceNode struct {
	Node    *Node
	Service *NodeService
	Checks  HealthChecks
}

// CheckServiceNodes is a list of health results.
type CheckServiceNodes []CheckServiceNode

// NodeServices is a node with all its services keyed by service ID.
type NodeServices struct {
	Node     *Node
	Services map[string]*NodeService
}

// RegisterRequest registers a node and, optionally, a service and checks.
type RegisterRequest struct {
	Datacenter      string
	ID              string
	Node            string
	Address         string
	TaggedAddresses map[string]string
	NodeMeta        map[string]string
	Service         *NodeService
	Check           *HealthCheck
	Checks          HealthChecks
	// SkipNodeUpdate leaves an existing node record untouched.
	SkipNodeUpdate bool
	WriteRequest
}

// RequestDatacenter implements RPCInfo.
func (r *RegisterRequest) RequestDatacenter() string { return r.Datacenter }

// DeregisterRequest removes a node, or one of its services or checks.
type DeregisterRequest struct {
	Datacenter string
	Node       string
	ServiceID  string
	CheckID    string
	WriteRequest
}

// RequestDatacenter implements RPCInfo.
func (r *DeregisterRequest) RequestDatacenter() string { return r.Datacenter }

// IndexedNodes answers node listings.
type IndexedNodes struct {
	Nodes Nodes
	QueryMeta
}

// IndexedServices answers /v1/catalog/services: name -> tags.
type IndexedServices struct {
	Services map[string][]string
	QueryMeta
}

// IndexedServiceNodes answers /v1/catalog/service.
type IndexedServiceNodes struct {
	ServiceNodes ServiceNodes
	QueryMeta
}

// IndexedNodeServices answers /v1/catalog/node.
type IndexedNodeServices struct {
	// NodeServices is nil when the node is unknown.
	NodeServices *NodeServices
	QueryMeta
}

// IndexedHealthChecks answers check listings.
type IndexedHealthChecks struct {
	HealthChecks HealthChecks
	QueryMeta
}

// IndexedCheckServiceNodes answers /v1/health/service.
type IndexedCheckServiceNodes struct {
	Nodes CheckServiceNodes
	QueryMeta
}

// Duration is a time.Duration that reads and writes JSON as Consul does:
// written as a string like "10s", read from a string or a number of
// nanoseconds.
type Duration time.Duration
