package local

import (
	"errors"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/meridian-sd/meridian/structs"
)

// fakeCatalog is an in-memory catalog of one datacenter answering the four
// RPCs State uses, with hooks to fail or intercept them.
type fakeCatalog struct {
	mu       sync.Mutex
	nodes    map[string]*structs.Node
	services map[string]map[string]*structs.NodeService // node -> id -> service
	checks   map[string]map[string]*structs.HealthCheck // node -> id -> check
	calls    map[string]int
	// fail, when set, is returned by every RPC.
	fail error
	// before, when set, runs before each RPC without the lock.
	before func(method string, args any)
}

func newFakeCatalog() *fakeCatalog {
	return &fakeCatalog{
		nodes:    map[string]*structs.Node{},
		services: map[string]map[string]*structs.NodeService{},
		checks:   map[string]map[string]*structs.HealthCheck{},
		calls:    map[string]int{},
	}
}

var errFake = errors.New("No known Consul servers")

func (f *fakeCatalog) setFail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = err
}

func (f *fakeCatalog) callCount(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[method]
}

func (f *fakeCatalog) RPC(method string, args, reply any) error {
	f.mu.Lock()
	before := f.before
	f.mu.Unlock()
	if before != nil {
		before(method, args)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[method]++
	if f.fail != nil {
		return f.fail
	}
	switch method {
	case "Catalog.NodeServices":
		req := args.(*structs.NodeSpecificRequest)
		out := reply.(*structs.IndexedNodeServices)
		n := f.nodes[req.Node]
		if n == nil {
			out.NodeServices = nil
			return nil
		}
		nc := *n
		out.NodeServices = &structs.NodeServices{Node: &nc, Services: map[string]*structs.NodeService{}}
		for id, s := range f.services[req.Node] {
			out.NodeServices.Services[id] = cloneService(s)
		}
	case "Health.NodeChecks":
		req := args.(*structs.NodeSpecificRequest)
		out := reply.(*structs.IndexedHealthChecks)
		out.HealthChecks = nil
		for _, c := range f.checks[req.Node] {
			out.HealthChecks = append(out.HealthChecks, cloneCheck(c))
		}
	case "Catalog.Register":
		req := args.(*structs.RegisterRequest)
		if req.Node == "" {
			return errors.New("missing node name")
		}
		if f.nodes[req.Node] == nil || !req.SkipNodeUpdate {
			f.nodes[req.Node] = &structs.Node{ID: req.ID, Node: req.Node, Address: req.Address,
				Datacenter: req.Datacenter, TaggedAddresses: maps.Clone(req.TaggedAddresses), Meta: maps.Clone(req.NodeMeta)}
		}
		if f.services[req.Node] == nil {
			f.services[req.Node] = map[string]*structs.NodeService{}
			f.checks[req.Node] = map[string]*structs.HealthCheck{}
		}
		if req.Service != nil {
			f.services[req.Node][req.Service.ID] = cloneService(req.Service)
		}
		all := req.Checks
		if req.Check != nil {
			all = append(structs.HealthChecks{req.Check}, all...)
		}
		for _, c := range all {
			c = cloneCheck(c)
			if c.ServiceID != "" {
				s := f.services[req.Node][c.ServiceID]
				if s == nil {
					return fmt.Errorf("check %q: missing service %q", c.CheckID, c.ServiceID)
				}
				c.ServiceName, c.ServiceTags = s.Service, s.Tags
			}
			f.checks[req.Node][c.CheckID] = c
		}
	case "Catalog.Deregister":
		req := args.(*structs.DeregisterRequest)
		switch {
		case req.ServiceID != "":
			delete(f.services[req.Node], req.ServiceID)
			for id, c := range f.checks[req.Node] {
				if c.ServiceID == req.ServiceID {
					delete(f.checks[req.Node], id)
				}
			}
		case req.CheckID != "":
			delete(f.checks[req.Node], req.CheckID)
		default:
			delete(f.nodes, req.Node)
			delete(f.services, req.Node)
			delete(f.checks, req.Node)
		}
	default:
		return fmt.Errorf("fake catalog: unknown method %s", method)
	}
	return nil
}

// service returns a copy of a service in the catalog, nil if absent.
func (f *fakeCatalog) service(node, id string) *structs.NodeService {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s := f.services[node][id]; s != nil {
		return cloneService(s)
	}
	return nil
}

// check returns a copy of a check in the catalog, nil if absent.
func (f *fakeCatalog) check(node, id string) *structs.HealthCheck {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.checks[node][id]; c != nil {
		return cloneCheck(c)
	}
	return nil
}

// node returns a copy of a node in the catalog, nil if absent.
func (f *fakeCatalog) node(name string) *structs.Node {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n := f.nodes[name]; n != nil {
		c := *n
		return &c
	}
	return nil
}

// edit runs fn on the catalog under its lock (to cause drift by hand).
func (f *fakeCatalog) edit(fn func(f *fakeCatalog)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func testConfig() Config {
	return Config{
		NodeID:          "7d4b7a2c-8c6e-4f3e-9d2a-1b2c3d4e5f60",
		NodeName:        "node1",
		Datacenter:      "dc1",
		Address:         "127.0.0.2",
		TaggedAddresses: map[string]string{"lan": "127.0.0.2", "wan": "127.0.0.2"},
		NodeMeta:        map[string]string{"rack": "r1"},
	}
}

func webService() *structs.NodeService {
	return &structs.NodeService{ID: "web1", Service: "web", Tags: []string{"v1"}, Port: 8080,
		Weights: structs.Weights{Passing: 1, Warning: 1}}
}

func ttlCheck(id, serviceID string) *structs.HealthCheck {
	return &structs.HealthCheck{CheckID: id, Name: id, ServiceID: serviceID, Type: "ttl", Status: structs.HealthCritical}
}

// waitFor polls cond until it returns nil or the timeout passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s: %v", timeout, what, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
