package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/hashicorp/go-hclog"

	"github.com/meridian-sd/meridian/agent/config"
)

func writeConfig(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestConfigServicesLoadedAndReloaded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "services.json")
	writeConfig(t, path, `{
  "node_meta": {"rack": "r1"},
  "services": [
    {"id": "a", "name": "alpha", "port": 1, "check": {"ttl": "1m"}},
    {"id": "b", "name": "beta", "tags": ["old"]}
  ],
  "checks": [
    {"id": "mem", "name": "memory", "ttl": "1m", "notes": "v1"},
    {"id": "gone-check", "name": "gone", "ttl": "1m"}
  ]
}`)
	ta := StartTestAgent(t, "-server", "-bootstrap", "-config-file="+path, "-enable-local-script-checks")
	ta.WaitForLeader(t)
	ag := ta.Client.Agent()
	svcs, err := ag.Services()
	if err != nil {
		t.Fatal(err)
	}
	if svcs["a"] == nil || svcs["b"] == nil || len(svcs) != 2 {
		t.Fatalf("services from the config = %v", svcs)
	}
	checks, _ := ag.Checks()
	for _, id := range []string{"service:a", "mem", "gone-check"} {
		if checks[id] == nil {
			t.Fatalf("check %s from the config missing: %v", id, checks)
		}
	}
	// Config services reach the catalog like any other.
	WaitFor(t, "alpha in the catalog", 10*time.Second, func() error {
		nodes, _, err := ta.Client.Catalog().Service("alpha", "", nil)
		if err != nil || len(nodes) != 1 {
			return fmt.Errorf("%d instances, %v", len(nodes), err)
		}
		return nil
	})
	// Status set on an unchanged check survives the reload; an API
	// registration survives too.
	if err := ag.PassTTL("service:a", "kept"); err != nil {
		t.Fatal(err)
	}
	if err := ag.ServiceRegister(&api.AgentServiceRegistration{ID: "api1", Name: "from-api"}); err != nil {
		t.Fatal(err)
	}

	writeConfig(t, path, `{
  "node_meta": {"rack": "r2"},
  "services": [
    {"id": "a", "name": "alpha", "port": 1, "check": {"ttl": "1m"}},
    {"id": "b", "name": "beta", "tags": ["new"]},
    {"id": "c", "name": "gamma", "check": {"args": ["sh", "-c", "exit 0"], "interval": "100ms"}}
  ],
  "checks": [
    {"id": "mem", "name": "memory", "ttl": "1m", "notes": "v2"}
  ]
}`)
	if err := ag.Reload(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	svcs, _ = ag.Services()
	if len(svcs) != 4 || svcs["c"] == nil || svcs["api1"] == nil {
		t.Fatalf("services after reload = %v", svcs)
	}
	if tags := svcs["b"].Tags; len(tags) != 1 || tags[0] != "new" {
		t.Errorf("beta tags after reload = %v", tags)
	}
	checks, _ = ag.Checks()
	if c := checks["service:a"]; c == nil || c.Status != api.HealthPassing || c.Output != "kept" {
		t.Errorf("unchanged check after reload = %+v, want its passing status kept", c)
	}
	if c := checks["mem"]; c == nil || c.Notes != "v2" {
		t.Errorf("changed check after reload = %+v", c)
	}
	if checks["gone-check"] != nil {
		t.Error("a check removed from the files is still there")
	}
	waitLocalStatus(t, ta, "service:c", api.HealthPassing)
	WaitFor(t, "the catalog after the reload", 10*time.Second, func() error {
		n, _, err := ta.Client.Catalog().Node(ta.Name, nil)
		if err != nil {
			return err
		}
		if n.Node.Meta["rack"] != "r2" {
			return fmt.Errorf("node meta %v", n.Node.Meta)
		}
		if n.Services["c"] == nil || n.Services["b"] == nil || len(n.Services["b"].Tags) != 1 || n.Services["b"].Tags[0] != "new" {
			return fmt.Errorf("services %v", n.Services)
		}
		return nil
	})

	// Removing a service from the files removes it from the agent.
	writeConfig(t, path, `{"services": [{"id": "a", "name": "alpha", "port": 1, "check": {"ttl": "1m"}}]}`)
	if err := ag.Reload(); err != nil {
		t.Fatalf("second reload: %v", err)
	}
	svcs, _ = ag.Services()
	if len(svcs) != 2 || svcs["a"] == nil || svcs["api1"] == nil {
		t.Fatalf("services after the second reload = %v", svcs)
	}
	WaitFor(t, "beta gone from the catalog", 10*time.Second, func() error {
		nodes, _, err := ta.Client.Catalog().Service("beta", "", nil)
		if err != nil {
			return err
		}
		if len(nodes) != 0 {
			return errors.New("still there")
		}
		return nil
	})
}

func TestReloadRefusesDisabledScripts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "services.json")
	writeConfig(t, path, `{"services": [{"id": "a", "name": "alpha"}]}`)
	ta := StartTestAgent(t, "-server", "-bootstrap", "-config-file="+path)
	writeConfig(t, path, `{"services": [{"id": "s", "name": "scripted", "check": {"args": ["true"], "interval": "10s"}}]}`)
	err := ta.Client.Agent().Reload()
	if err == nil || !strings.Contains(err.Error(), "disabled") {
		t.Fatalf("reload with a disabled script check: %v", err)
	}
	// Nothing was changed.
	svcs, _ := ta.Client.Agent().Services()
	if svcs["a"] == nil || svcs["s"] != nil {
		t.Fatalf("services after a refused reload = %v", svcs)
	}
}

func TestStartRefusesDisabledScripts(t *testing.T) {
	// The config loader refuses such a file already; the agent checks
	// again for configs built otherwise.
	rc := testRuntimeConfig(t)
	rc.Checks = append(rc.Checks, config.CheckDefinition{ID: "s", Name: "s", Args: []string{"true"}, Interval: 10 * time.Second})
	a, err := New(rc, Options{Logger: hclog.NewInterceptLogger(&hclog.LoggerOptions{Output: newTestLogWriter(t)})})
	if err != nil {
		t.Fatal(err)
	}
	err = a.Start()
	if err == nil {
		a.Shutdown()
		t.Fatal("an agent with a script check in its config started without scripts enabled")
	}
	if !strings.Contains(err.Error(), "Scripts are disabled") {
		t.Fatalf("start error = %v", err)
	}
}

// testRuntimeConfig loads a loopback config like StartTestAgent's, for
// tests that drive New and Start themselves.
func testRuntimeConfig(t *testing.T, args ...string) *config.RuntimeConfig {
	t.Helper()
	all := append([]string{
		"-bind=127.0.0.1", "-client=127.0.0.1", "-node=manual", "-server", "-bootstrap",
		"-http-port=0", "-dns-port=-1", "-server-port=0", "-serf-lan-port=0", "-serf-wan-port=0",
		"-data-dir=" + t.TempDir(), "-log-level=warn",
	}, args...)
	rc, _, err := config.Load(config.LoadOpts{Args: all})
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return rc
}
