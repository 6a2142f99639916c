package e2e

// Issue 5 with real processes (hosts 150-159): a server and two clients.
// Services and checks registered on the clients through the official API
// client reach the catalog by anti-entropy and follow their checks: TTL,
// HTTP and TCP against listeners of this test, script checks only where
// enabled, maintenance mode, a restart of the client, a client killed
// with SIGKILL, and deregistration.

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// serviceHealth is the aggregated status of a service's only instance as
// /v1/health/service reports it through agent a, or "absent".
func serviceHealth(a *agentProc, service string) (string, *api.ServiceEntry, error) {
	entries, _, err := a.API.Health().Service(service, "", false, nil)
	if err != nil {
		return "", nil, err
	}
	switch len(entries) {
	case 0:
		return "absent", nil, nil
	case 1:
		return entries[0].Checks.AggregatedStatus(), entries[0], nil
	}
	return "", nil, fmt.Errorf("%d instances of %s", len(entries), service)
}

func waitHealth(t *testing.T, a *agentProc, service, want string) *api.ServiceEntry {
	t.Helper()
	var entry *api.ServiceEntry
	waitFor(t, 20*time.Second, fmt.Sprintf("%s %s in the catalog", service, want), func() error {
		got, e, err := serviceHealth(a, service)
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("%s is %s", service, got)
		}
		entry = e
		return nil
	})
	return entry
}

func TestServicesAndChecks(t *testing.T) {
	c := newCluster(t, 150, 159)
	srv := c.start(agentOpts{Name: "svc-srv", Server: true, Bootstrap: true})
	waitLeader(t, 20*time.Second, srv)
	// leave_on_terminate = false: the SIGTERM restart below keeps the
	// client's membership, as a crash-and-restart would.
	clientA := c.start(agentOpts{Name: "svc-a", Join: []string{srv.LANAddr},
		HCL: "enable_script_checks = true\nleave_on_terminate = false\ncheck_update_interval = \"0s\"\n"})
	clientB := c.start(agentOpts{Name: "svc-b", Join: []string{srv.LANAddr}})
	waitPool(t, gossipTimeout, false, allAlive("svc-srv", "svc-a", "svc-b"), srv)

	// Listeners the checks probe; they live as long as the test.
	var status atomic.Int32
	status.Store(200)
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(int(status.Load()))
	}))
	httpLn, err := net.Listen("tcp", host(159)+":0")
	if err != nil {
		t.Fatal(err)
	}
	hs.Listener = httpLn
	hs.Start()
	t.Cleanup(hs.Close)
	accept := func(l net.Listener) {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			conn.Close()
		}
	}
	tcpLn, err := net.Listen("tcp", host(159)+":0")
	if err != nil {
		t.Fatal(err)
	}
	tcpAddr := tcpLn.Addr().String()
	go accept(tcpLn)
	t.Cleanup(func() { tcpLn.Close() })

	step(t, "a TTL check goes critical, passing after check/pass, critical when the TTL expires", func(t *testing.T) {
		reg := &api.AgentServiceRegistration{ID: "web1", Name: "web", Port: 8080, Tags: []string{"v1"},
			Check: &api.AgentServiceCheck{CheckID: "web1-ttl", TTL: "2s"}}
		if err := clientA.API.Agent().ServiceRegister(reg); err != nil {
			t.Fatal(err)
		}
		waitHealth(t, srv, "web", api.HealthCritical)
		if err := clientA.API.Agent().PassTTL("web1-ttl", "all good"); err != nil {
			t.Fatal(err)
		}
		e := waitHealth(t, srv, "web", api.HealthPassing)
		if e.Node.Node != "svc-a" || e.Service.Port != 8080 {
			t.Fatalf("instance %s:%d, want svc-a:8080", e.Node.Node, e.Service.Port)
		}
		// No renewal: it expires.
		waitHealth(t, srv, "web", api.HealthCritical)
	})

	step(t, "HTTP and TCP checks follow real listeners up and down", func(t *testing.T) {
		reg := &api.AgentServiceRegistration{ID: "api1", Name: "api", Port: 9090,
			Check: &api.AgentServiceCheck{HTTP: hs.URL + "/health", Interval: "1s", Timeout: "500ms"}}
		if err := clientA.API.Agent().ServiceRegister(reg); err != nil {
			t.Fatal(err)
		}
		waitHealth(t, srv, "api", api.HealthPassing)
		status.Store(500)
		waitHealth(t, srv, "api", api.HealthCritical)
		status.Store(429)
		waitHealth(t, srv, "api", api.HealthWarning)
		status.Store(200)
		waitHealth(t, srv, "api", api.HealthPassing)

		reg = &api.AgentServiceRegistration{ID: "db1", Name: "db", Port: 5432,
			Check: &api.AgentServiceCheck{TCP: tcpAddr, Interval: "1s", Timeout: "500ms"}}
		if err := clientA.API.Agent().ServiceRegister(reg); err != nil {
			t.Fatal(err)
		}
		waitHealth(t, srv, "db", api.HealthPassing)
		tcpLn.Close()
		waitHealth(t, srv, "db", api.HealthCritical)
		var err error
		tcpLn, err = net.Listen("tcp", tcpAddr)
		if err != nil {
			t.Fatalf("listen again on %s: %v", tcpAddr, err)
		}
		go accept(tcpLn)
		waitHealth(t, srv, "db", api.HealthPassing)
	})

	step(t, "script checks run only where enabled", func(t *testing.T) {
		reg := &api.AgentServiceRegistration{ID: "job1", Name: "job",
			Check: &api.AgentServiceCheck{Args: []string{"sh", "-c", "echo ok; exit 0"}, Interval: "1s"}}
		if err := clientA.API.Agent().ServiceRegister(reg); err != nil {
			t.Fatal(err)
		}
		e := waitHealth(t, srv, "job", api.HealthPassing)
		found := false
		for _, chk := range e.Checks {
			found = found || strings.Contains(chk.Output, "ok")
		}
		if !found {
			t.Errorf("script output not in the catalog: %+v", e.Checks)
		}
		err := clientB.API.Agent().ServiceRegister(&api.AgentServiceRegistration{ID: "job2", Name: "job2",
			Check: &api.AgentServiceCheck{Args: []string{"sh", "-c", "exit 0"}, Interval: "1s"}})
		var se api.StatusError
		if !asStatus(err, &se) || se.Code != 400 || !strings.Contains(se.Body, "enable_script_checks") {
			t.Fatalf("script check on an agent without script checks: %v", err)
		}
		if got, _, _ := serviceHealth(srv, "job2"); got != "absent" {
			t.Fatalf("refused service job2 is %s in the catalog", got)
		}
	})

	step(t, "maintenance mode marks the service critical with the reason", func(t *testing.T) {
		if err := clientA.API.Agent().EnableServiceMaintenance("api1", "deploying v2"); err != nil {
			t.Fatal(err)
		}
		// The api client aggregates a maintenance check as "maintenance";
		// in the catalog the check itself is critical.
		e := waitHealth(t, srv, "api", api.HealthMaint)
		reason := false
		for _, chk := range e.Checks {
			reason = reason || (chk.Notes == "deploying v2" && chk.Status == api.HealthCritical)
		}
		if !reason {
			t.Errorf("maintenance reason not in the catalog: %+v", e.Checks)
		}
		if err := clientA.API.Agent().DisableServiceMaintenance("api1"); err != nil {
			t.Fatal(err)
		}
		waitHealth(t, srv, "api", api.HealthPassing)
	})

	step(t, "a restarted client keeps its registrations", func(t *testing.T) {
		clientA.Stop(syscall.SIGTERM)
		clientA.Restart()
		waitPool(t, gossipTimeout, false, allAlive("svc-srv", "svc-a", "svc-b"), srv)
		services, err := clientA.API.Agent().Services()
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"web1", "api1", "db1", "job1"} {
			if services[id] == nil {
				t.Errorf("service %s lost across the restart; have %v", id, services)
			}
		}
		waitHealth(t, srv, "api", api.HealthPassing)
		waitHealth(t, srv, "db", api.HealthPassing)
	})

	step(t, "a client killed with SIGKILL takes its services to critical", func(t *testing.T) {
		reg := &api.AgentServiceRegistration{ID: "cache1", Name: "cache", Port: 6379}
		if err := clientB.API.Agent().ServiceRegister(reg); err != nil {
			t.Fatal(err)
		}
		waitHealth(t, srv, "cache", api.HealthPassing)
		clientB.Kill()
		e := waitHealth(t, srv, "cache", api.HealthCritical)
		serf := false
		for _, chk := range e.Checks {
			serf = serf || (chk.CheckID == "serfHealth" && chk.Status == api.HealthCritical)
		}
		if !serf {
			t.Errorf("cache is critical but not through serfHealth: %+v", e.Checks)
		}
		passing, _, err := srv.API.Health().Service("cache", "", true, nil)
		if err != nil || len(passing) != 0 {
			t.Fatalf("passing instances of cache after the kill: %v %v", passing, err)
		}
	})

	step(t, "deregistration empties the catalog", func(t *testing.T) {
		for _, id := range []string{"web1", "api1", "db1", "job1"} {
			if err := clientA.API.Agent().ServiceDeregister(id); err != nil {
				t.Fatal(err)
			}
		}
		for _, name := range []string{"web", "api", "db", "job"} {
			waitHealth(t, srv, name, "absent")
		}
		checks, err := clientA.API.Agent().Checks()
		if err != nil || len(checks) != 0 {
			t.Fatalf("agent checks after deregistering every service: %v %v", checks, err)
		}
	})
}

// asStatus unwraps an api.StatusError.
func asStatus(err error, se *api.StatusError) bool {
	if err == nil {
		return false
	}
	s, ok := err.(api.StatusError)
	if ok {
		*se = s
	}
	return ok
}
