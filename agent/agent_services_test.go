package agent

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/meridian-sd/meridian/structs"
)

// startCluster starts a bootstrapped server and a client joined to it, and
// waits until the client's node is in the catalog.
func startCluster(t *testing.T, clientArgs ...string) (srv, cl *TestAgent) {
	t.Helper()
	srv = StartTestAgent(t, "-server", "-bootstrap")
	srv.WaitForLeader(t)
	cl = StartTestAgent(t, clientArgs...)
	joinAndWait(t, srv, cl)
	return srv, cl
}

// joinAndWait joins cl to srv and waits for cl's node in the catalog.
func joinAndWait(t *testing.T, srv, cl *TestAgent) {
	t.Helper()
	if err := cl.Client.Agent().Join(srv.LANAddr(), false); err != nil {
		t.Fatalf("join: %v", err)
	}
	WaitFor(t, "the client's node in the catalog", 10*time.Second, func() error {
		n, _, err := srv.Client.Catalog().Node(cl.Name, nil)
		if err != nil {
			return err
		}
		if n == nil {
			return errors.New("not yet")
		}
		return nil
	})
}

// catalogCheck returns a node's check as the catalog holds it, nil if
// absent.
func catalogCheck(t *testing.T, ta *TestAgent, node, checkID string) (*api.HealthCheck, error) {
	t.Helper()
	checks, _, err := ta.Client.Health().Node(node, nil)
	if err != nil {
		return nil, err
	}
	for _, c := range checks {
		if c.CheckID == checkID {
			return c, nil
		}
	}
	return nil, nil
}

// waitCatalogStatus waits until a check has the status in the catalog.
func waitCatalogStatus(t *testing.T, ta *TestAgent, node, checkID, status string) *api.HealthCheck {
	t.Helper()
	var got *api.HealthCheck
	WaitFor(t, fmt.Sprintf("check %s %s in the catalog", checkID, status), 10*time.Second, func() error {
		c, err := catalogCheck(t, ta, node, checkID)
		if err != nil {
			return err
		}
		if c == nil {
			return errors.New("check not in the catalog")
		}
		if c.Status != status {
			return fmt.Errorf("status %s (output %q)", c.Status, c.Output)
		}
		got = c
		return nil
	})
	return got
}

// waitLocalStatus waits until a check has the status on the agent.
func waitLocalStatus(t *testing.T, ta *TestAgent, checkID, status string) *api.AgentCheck {
	t.Helper()
	var got *api.AgentCheck
	WaitFor(t, fmt.Sprintf("local check %s %s", checkID, status), 10*time.Second, func() error {
		checks, err := ta.Client.Agent().Checks()
		if err != nil {
			return err
		}
		c := checks[checkID]
		if c == nil {
			return errors.New("no such check")
		}
		if c.Status != status {
			return fmt.Errorf("status %s (output %q)", c.Status, c.Output)
		}
		got = c
		return nil
	})
	return got
}

// healthyInstances counts passing instances of a service through the
// catalog's health endpoint.
func healthyInstances(ta *TestAgent, name string) (int, error) {
	entries, _, err := ta.Client.Health().Service(name, "", true, nil)
	return len(entries), err
}

func TestServiceWithTTLCheckThroughTheCatalog(t *testing.T) {
	srv, cl := startCluster(t)
	reg := &api.AgentServiceRegistration{
		ID:              "web1",
		Name:            "web",
		Tags:            []string{"v1", "primary"},
		Port:            8080,
		Address:         "127.0.0.1",
		Meta:            map[string]string{"version": "1.2"},
		TaggedAddresses: map[string]api.ServiceAddress{"lan": {Address: "127.0.0.1", Port: 8080}},
		Check:           &api.AgentServiceCheck{TTL: "2s", Notes: "pushed by the app"},
	}
	if err := cl.Client.Agent().ServiceRegister(reg); err != nil {
		t.Fatalf("register: %v", err)
	}

	// On the agent: the service with Consul's defaults, the check with
	// Consul's ID.
	services, err := cl.Client.Agent().Services()
	if err != nil {
		t.Fatal(err)
	}
	s := services["web1"]
	if s == nil || s.Service != "web" || s.Port != 8080 || s.Meta["version"] != "1.2" ||
		len(s.Tags) != 2 || s.Weights != (api.AgentWeights{Passing: 1, Warning: 1}) ||
		s.TaggedAddresses["lan"].Port != 8080 || s.Datacenter != "dc1" {
		t.Fatalf("agent service = %+v", s)
	}
	checks, err := cl.Client.Agent().Checks()
	if err != nil {
		t.Fatal(err)
	}
	c := checks["service:web1"]
	if c == nil || c.Status != api.HealthCritical || c.ServiceID != "web1" || c.ServiceName != "web" || c.Type != "ttl" || c.Notes != "pushed by the app" {
		t.Fatalf("agent check = %+v", c)
	}

	// In the catalog: critical at first, so no healthy instance.
	waitCatalogStatus(t, srv, cl.Name, "service:web1", api.HealthCritical)
	entries, _, err := srv.Client.Health().Service("web", "", false, nil)
	if err != nil || len(entries) != 1 || entries[0].Service.Port != 8080 || entries[0].Node.Node != cl.Name {
		t.Fatalf("health entries = %+v, %v", entries, err)
	}
	if n, err := healthyInstances(srv, "web"); err != nil || n != 0 {
		t.Fatalf("healthy instances = %d, %v; want 0", n, err)
	}

	// Passing after pass, with the note as output.
	if err := cl.Client.Agent().PassTTL("service:web1", "all good"); err != nil {
		t.Fatalf("pass: %v", err)
	}
	got := waitCatalogStatus(t, srv, cl.Name, "service:web1", api.HealthPassing)
	if got.Output != "all good" {
		t.Errorf("catalog output = %q, want the note", got.Output)
	}
	if n, err := healthyInstances(srv, "web"); err != nil || n != 1 {
		t.Fatalf("healthy instances = %d, %v; want 1", n, err)
	}

	// Critical again when the TTL passes without an update.
	got = waitCatalogStatus(t, srv, cl.Name, "service:web1", api.HealthCritical)
	if !strings.HasPrefix(got.Output, "TTL expired") {
		t.Errorf("output after expiry = %q", got.Output)
	}

	// UpdateTTL sets status and output; warning counts as not passing.
	if err := cl.Client.Agent().UpdateTTL("service:web1", "slow", api.HealthWarning); err != nil {
		t.Fatalf("update: %v", err)
	}
	got = waitCatalogStatus(t, srv, cl.Name, "service:web1", api.HealthWarning)
	if got.Output != "slow" {
		t.Errorf("output = %q, want slow", got.Output)
	}

	// Deregistration empties the catalog.
	if err := cl.Client.Agent().ServiceDeregister("web1"); err != nil {
		t.Fatalf("deregister: %v", err)
	}
	WaitFor(t, "the service gone from the catalog", 10*time.Second, func() error {
		nodes, _, err := srv.Client.Catalog().Service("web", "", nil)
		if err != nil {
			return err
		}
		if len(nodes) != 0 {
			return fmt.Errorf("%d instances left", len(nodes))
		}
		if c, err := catalogCheck(t, srv, cl.Name, "service:web1"); err != nil || c != nil {
			return fmt.Errorf("check still there: %v %v", c, err)
		}
		return nil
	})
	if svcs, _ := cl.Client.Agent().Services(); len(svcs) != 0 {
		t.Fatalf("agent services after deregister = %v", svcs)
	}
}

func TestNodeRegistrationCarriesAddressesAndMeta(t *testing.T) {
	srv, cl := startCluster(t, "-node-meta=rack:r7")
	if err := cl.Client.Agent().ServiceRegister(&api.AgentServiceRegistration{Name: "db"}); err != nil {
		t.Fatal(err)
	}
	WaitFor(t, "the node's meta and tagged addresses", 10*time.Second, func() error {
		n, _, err := srv.Client.Catalog().Node(cl.Name, nil)
		if err != nil {
			return err
		}
		if n == nil || n.Node == nil {
			return errors.New("no node")
		}
		node := n.Node
		if node.Meta["rack"] != "r7" || node.TaggedAddresses["lan"] != "127.0.0.1" || node.TaggedAddresses["wan"] != "127.0.0.1" ||
			node.Address != "127.0.0.1" || node.ID != cl.cfg().NodeID || n.Services["db"] == nil {
			return fmt.Errorf("node %+v, services %v", node, n.Services)
		}
		return nil
	})
}

func TestCheckRegisterOnServiceAndNode(t *testing.T) {
	srv, cl := startCluster(t)
	ag := cl.Client.Agent()
	if err := ag.ServiceRegister(&api.AgentServiceRegistration{ID: "api1", Name: "api"}); err != nil {
		t.Fatal(err)
	}
	err := ag.CheckRegister(&api.AgentCheckRegistration{
		ID: "api-ttl", Name: "API heartbeat", ServiceID: "api1",
		AgentServiceCheck: api.AgentServiceCheck{TTL: "30s", Status: api.HealthPassing},
	})
	if err != nil {
		t.Fatalf("check register: %v", err)
	}
	err = ag.CheckRegister(&api.AgentCheckRegistration{
		Name: "disk", AgentServiceCheck: api.AgentServiceCheck{TTL: "30s"},
	})
	if err != nil {
		t.Fatalf("node check register: %v", err)
	}
	waitCatalogStatus(t, srv, cl.Name, "api-ttl", api.HealthPassing)
	c := waitCatalogStatus(t, srv, cl.Name, "disk", api.HealthCritical)
	if c.ServiceID != "" || c.Name != "disk" {
		t.Fatalf("node check = %+v", c)
	}
	// A node check fails every service of the node.
	if n, err := healthyInstances(srv, "api"); err != nil || n != 0 {
		t.Fatalf("healthy api instances with a critical node check = %d, %v", n, err)
	}
	if err := ag.PassTTL("disk", ""); err != nil {
		t.Fatal(err)
	}
	WaitFor(t, "a healthy api instance", 10*time.Second, func() error {
		if n, err := healthyInstances(srv, "api"); err != nil || n != 1 {
			return fmt.Errorf("%d healthy, %v", n, err)
		}
		return nil
	})
	if err := ag.CheckDeregister("disk"); err != nil {
		t.Fatal(err)
	}
	WaitFor(t, "the node check gone", 10*time.Second, func() error {
		c, err := catalogCheck(t, srv, cl.Name, "disk")
		if err != nil || c != nil {
			return fmt.Errorf("still there: %v %v", c, err)
		}
		return nil
	})
}

func TestHTTPCheckFollowsTheListener(t *testing.T) {
	srv, cl := startCluster(t)
	var code atomic.Int64
	code.Store(http.StatusOK)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Probe") != "yes" || r.Method != http.MethodPost {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.WriteHeader(int(code.Load()))
		fmt.Fprintf(w, "status %d", code.Load())
	}))
	defer backend.Close()

	err := cl.Client.Agent().ServiceRegister(&api.AgentServiceRegistration{
		ID: "web1", Name: "web",
		Check: &api.AgentServiceCheck{
			HTTP: backend.URL + "/health", Method: "POST", Header: map[string][]string{"X-Probe": {"yes"}},
			Interval: "100ms", Timeout: "1s",
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		code   int
		status string
	}{
		{http.StatusOK, api.HealthPassing},
		{http.StatusServiceUnavailable, api.HealthCritical},
		{http.StatusTooManyRequests, api.HealthWarning},
		{http.StatusNoContent, api.HealthPassing},
	}
	for _, st := range steps {
		code.Store(int64(st.code))
		local := waitLocalStatus(t, cl, "service:web1", st.status)
		if !strings.Contains(local.Output, fmt.Sprint(st.code)) {
			t.Errorf("HTTP %d: output %q does not name the status", st.code, local.Output)
		}
		waitCatalogStatus(t, srv, cl.Name, "service:web1", st.status)
	}
	// The listener going away is critical too.
	backend.Close()
	waitCatalogStatus(t, srv, cl.Name, "service:web1", api.HealthCritical)
}

func TestTCPCheckFollowsTheListener(t *testing.T) {
	srv, cl := startCluster(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	accept := func(ln net.Listener) {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}
	go accept(ln)
	defer func() { ln.Close() }()

	err = cl.Client.Agent().ServiceRegister(&api.AgentServiceRegistration{
		ID: "redis1", Name: "redis",
		Check: &api.AgentServiceCheck{TCP: addr, Interval: "100ms", Timeout: "500ms"},
	})
	if err != nil {
		t.Fatal(err)
	}
	waitCatalogStatus(t, srv, cl.Name, "service:redis1", api.HealthPassing)
	ln.Close()
	waitCatalogStatus(t, srv, cl.Name, "service:redis1", api.HealthCritical)
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen again on %s: %v", addr, err)
	}
	go accept(ln)
	waitCatalogStatus(t, srv, cl.Name, "service:redis1", api.HealthPassing)
}

func TestScriptChecksRunOnlyWhenEnabled(t *testing.T) {
	off := StartTestAgent(t, "-server", "-bootstrap")
	err := off.Client.Agent().CheckRegister(&api.AgentCheckRegistration{
		Name: "script", AgentServiceCheck: api.AgentServiceCheck{Args: []string{"sh", "-c", "echo hi"}, Interval: "100ms"},
	})
	var se api.StatusError
	if !errors.As(err, &se) || se.Code != http.StatusBadRequest || se.Body != errScriptsDisabled {
		t.Fatalf("script check on a default agent: %v, want 400 %q", err, errScriptsDisabled)
	}
	// Local script checks are for config files only, not the API.
	local := StartTestAgent(t, "-server", "-bootstrap", "-enable-local-script-checks")
	err = local.Client.Agent().CheckRegister(&api.AgentCheckRegistration{
		Name: "script", AgentServiceCheck: api.AgentServiceCheck{Args: []string{"sh", "-c", "echo hi"}, Interval: "100ms"},
	})
	if !errors.As(err, &se) || se.Code != http.StatusBadRequest {
		t.Fatalf("API script check with only local script checks enabled: %v, want 400", err)
	}

	on := StartTestAgent(t, "-server", "-bootstrap", "-enable-script-checks")
	on.WaitForLeader(t)
	err = on.Client.Agent().CheckRegister(&api.AgentCheckRegistration{
		Name: "script", AgentServiceCheck: api.AgentServiceCheck{Args: []string{"sh", "-c", "echo degraded; exit 1"}, Interval: "100ms"},
	})
	if err != nil {
		t.Fatalf("script check with scripts enabled: %v", err)
	}
	c := waitLocalStatus(t, on, "script", api.HealthWarning)
	if !strings.Contains(c.Output, "degraded") {
		t.Errorf("script output = %q", c.Output)
	}
	waitCatalogStatus(t, on, on.Name, "script", api.HealthWarning)
}

func TestAntiEntropyRepairsTheCatalog(t *testing.T) {
	srv, cl := startCluster(t)
	err := cl.Client.Agent().ServiceRegister(&api.AgentServiceRegistration{
		ID: "web1", Name: "web", Check: &api.AgentServiceCheck{TTL: "30s", Status: api.HealthPassing},
	})
	if err != nil {
		t.Fatal(err)
	}
	waitCatalogStatus(t, srv, cl.Name, "service:web1", api.HealthPassing)

	// Removed from the catalog by hand: it comes back.
	if _, err := srv.Client.Catalog().Deregister(&api.CatalogDeregistration{Node: cl.Name, ServiceID: "web1"}, nil); err != nil {
		t.Fatal(err)
	}
	WaitFor(t, "the service back in the catalog", 15*time.Second, func() error {
		nodes, _, err := srv.Client.Catalog().Service("web", "", nil)
		if err != nil {
			return err
		}
		if len(nodes) != 1 {
			return fmt.Errorf("%d instances", len(nodes))
		}
		return nil
	})
	waitCatalogStatus(t, srv, cl.Name, "service:web1", api.HealthPassing)

	// Registered in the catalog by hand on the agent's node: removed.
	_, err = srv.Client.Catalog().Register(&api.CatalogRegistration{
		Node: cl.Name, Address: "127.0.0.1", SkipNodeUpdate: true,
		Service: &api.AgentService{ID: "stray", Service: "stray"},
		Check:   &api.AgentCheck{CheckID: "stray-check", Name: "stray", ServiceID: "stray", Status: api.HealthPassing},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	WaitFor(t, "the stray service removed", 15*time.Second, func() error {
		nodes, _, err := srv.Client.Catalog().Service("stray", "", nil)
		if err != nil {
			return err
		}
		if len(nodes) != 0 {
			return fmt.Errorf("%d stray instances", len(nodes))
		}
		if c, err := catalogCheck(t, srv, cl.Name, "stray-check"); err != nil || c != nil {
			return fmt.Errorf("stray check: %v %v", c, err)
		}
		return nil
	})
	// The leader's serfHealth check is left alone.
	waitCatalogStatus(t, srv, cl.Name, structs.SerfCheckID, api.HealthPassing)
	// The agent's own service is untouched by the repair.
	if svcs, _ := cl.Client.Agent().Services(); svcs["web1"] == nil || svcs["stray"] != nil {
		t.Fatalf("agent services = %v", svcs)
	}
}

func TestMaintenanceMode(t *testing.T) {
	srv, cl := startCluster(t)
	ag := cl.Client.Agent()
	err := ag.ServiceRegister(&api.AgentServiceRegistration{
		ID: "web1", Name: "web", Check: &api.AgentServiceCheck{TTL: "30s", Status: api.HealthPassing},
	})
	if err != nil {
		t.Fatal(err)
	}
	WaitFor(t, "a healthy instance", 10*time.Second, func() error {
		if n, err := healthyInstances(srv, "web"); err != nil || n != 1 {
			return fmt.Errorf("%d healthy, %v", n, err)
		}
		return nil
	})

	// Service maintenance: critical with the reason as notes.
	if err := ag.EnableServiceMaintenance("web1", "upgrading to 2.0"); err != nil {
		t.Fatalf("enable service maintenance: %v", err)
	}
	c := waitCatalogStatus(t, srv, cl.Name, structs.ServiceMaintPrefix+"web1", api.HealthCritical)
	if c.Notes != "upgrading to 2.0" || c.ServiceID != "web1" || c.Name != "Service Maintenance Mode" {
		t.Fatalf("maintenance check = %+v", c)
	}
	if n, _ := healthyInstances(srv, "web"); n != 0 {
		t.Fatalf("healthy instances in maintenance = %d", n)
	}
	status, info, err := ag.AgentHealthServiceByID("web1")
	if err != nil || status != api.HealthCritical || info == nil || info.AggregatedStatus != api.HealthMaint {
		t.Fatalf("agent health in maintenance = %s %+v %v", status, info, err)
	}
	if err := ag.DisableServiceMaintenance("web1"); err != nil {
		t.Fatal(err)
	}
	WaitFor(t, "the instance healthy again", 10*time.Second, func() error {
		if n, err := healthyInstances(srv, "web"); err != nil || n != 1 {
			return fmt.Errorf("%d healthy, %v", n, err)
		}
		if c, _ := catalogCheck(t, srv, cl.Name, structs.ServiceMaintPrefix+"web1"); c != nil {
			return errors.New("maintenance check still there")
		}
		return nil
	})

	// Node maintenance, without a reason: Consul's default notes.
	if err := ag.EnableNodeMaintenance(""); err != nil {
		t.Fatal(err)
	}
	c = waitCatalogStatus(t, srv, cl.Name, structs.NodeMaintCheckID, api.HealthCritical)
	if c.Notes != defaultNodeMaintReason {
		t.Errorf("node maintenance notes = %q", c.Notes)
	}
	if n, _ := healthyInstances(srv, "web"); n != 0 {
		t.Fatalf("healthy instances with the node in maintenance = %d", n)
	}
	if err := ag.DisableNodeMaintenance(); err != nil {
		t.Fatal(err)
	}
	WaitFor(t, "the node out of maintenance", 10*time.Second, func() error {
		if n, err := healthyInstances(srv, "web"); err != nil || n != 1 {
			return fmt.Errorf("%d healthy, %v", n, err)
		}
		return nil
	})

	// An unknown service is a 404.
	err = ag.EnableServiceMaintenance("nope", "x")
	var se api.StatusError
	if !errors.As(err, &se) || se.Code != http.StatusNotFound {
		t.Fatalf("maintenance of an unknown service: %v, want 404", err)
	}
}

func TestDeregisterCriticalServiceAfter(t *testing.T) {
	srv, cl := startCluster(t)
	err := cl.Client.Agent().ServiceRegister(&api.AgentServiceRegistration{
		ID: "flaky1", Name: "flaky",
		Check: &api.AgentServiceCheck{TTL: "30s", DeregisterCriticalServiceAfter: "300ms"},
	})
	if err != nil {
		t.Fatal(err)
	}
	WaitFor(t, "the critical service reaped", 10*time.Second, func() error {
		svcs, err := cl.Client.Agent().Services()
		if err != nil {
			return err
		}
		if svcs["flaky1"] != nil {
			return errors.New("still on the agent")
		}
		nodes, _, err := srv.Client.Catalog().Service("flaky", "", nil)
		if err != nil {
			return err
		}
		if len(nodes) != 0 {
			return errors.New("still in the catalog")
		}
		return nil
	})
}

func TestReplaceExistingChecks(t *testing.T) {
	ta := StartTestAgent(t, "-server", "-bootstrap")
	ag := ta.Client.Agent()
	reg := &api.AgentServiceRegistration{
		ID: "web1", Name: "web",
		Checks: api.AgentServiceChecks{{TTL: "30s"}, {TTL: "30s"}},
	}
	if err := ag.ServiceRegister(reg); err != nil {
		t.Fatal(err)
	}
	checks, _ := ag.Checks()
	if checks["service:web1:1"] == nil || checks["service:web1:2"] == nil {
		t.Fatalf("checks = %v, want service:web1:1 and :2", checks)
	}
	// Re-registered with one check: without the flag the other stays.
	reg.Checks = api.AgentServiceChecks{{CheckID: "only", TTL: "30s"}}
	if err := ag.ServiceRegister(reg); err != nil {
		t.Fatal(err)
	}
	checks, _ = ag.Checks()
	if len(checks) != 3 {
		t.Fatalf("checks without replace = %d, want 3", len(checks))
	}
	if err := ag.ServiceRegisterOpts(reg, api.ServiceRegisterOpts{ReplaceExistingChecks: true}); err != nil {
		t.Fatal(err)
	}
	checks, _ = ag.Checks()
	if len(checks) != 1 || checks["only"] == nil {
		t.Fatalf("checks with replace = %v, want only", checks)
	}
}
