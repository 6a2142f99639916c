package agent

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/hashicorp/serf/serf"

	"github.com/meridian-sd/meridian/structs"
)

func TestRestartedAgentKeepsRegistrations(t *testing.T) {
	srv := StartTestAgent(t, "-server", "-bootstrap")
	srv.WaitForLeader(t)
	dataDir := t.TempDir()
	first := StartTestAgent(t, "-node=keeper", "-data-dir="+dataDir)
	joinAndWait(t, srv, first)
	ag := first.Client.Agent()
	err := ag.ServiceRegister(&api.AgentServiceRegistration{
		ID: "web1", Name: "web", Port: 80, Tags: []string{"blue"},
		Checks: api.AgentServiceChecks{{TTL: "1m"}, {TCP: "127.0.0.1:1", Interval: "10s"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := ag.CheckRegister(&api.AgentCheckRegistration{Name: "node-ttl", AgentServiceCheck: api.AgentServiceCheck{TTL: "1m"}}); err != nil {
		t.Fatal(err)
	}
	if err := ag.PassTTL("service:web1:1", "fine before the restart"); err != nil {
		t.Fatal(err)
	}
	if err := ag.EnableServiceMaintenance("web1", "moving racks"); err != nil {
		t.Fatal(err)
	}
	// A registration that is later removed must not come back.
	if err := ag.ServiceRegister(&api.AgentServiceRegistration{ID: "gone", Name: "gone"}); err != nil {
		t.Fatal(err)
	}
	if err := ag.ServiceDeregister("gone"); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{servicesDir, checksDir} {
		entries, err := os.ReadDir(filepath.Join(dataDir, dir))
		if err != nil || len(entries) == 0 {
			t.Fatalf("nothing persisted in %s: %v", dir, err)
		}
	}

	// The agent dies without leaving; the server sees it fail. It comes
	// back on the same gossip address, as a restarted process on a fixed
	// port does (memberlist refuses a dead node's name from a new address).
	_, lanPort, err := net.SplitHostPort(first.LANAddr())
	if err != nil {
		t.Fatal(err)
	}
	first.Shutdown()
	WaitFor(t, "the old agent failed", 10*time.Second, func() error {
		members, err := srv.Client.Agent().Members(false)
		if err != nil {
			return err
		}
		for _, m := range members {
			if m.Name == "keeper" && m.Status == int(serf.StatusAlive) {
				return errors.New("still alive")
			}
		}
		return nil
	})

	second := StartTestAgent(t, "-node=keeper", "-data-dir="+dataDir, "-serf-lan-port="+lanPort)
	svcs, err := second.Client.Agent().Services()
	if err != nil {
		t.Fatal(err)
	}
	if s := svcs["web1"]; s == nil || s.Port != 80 || len(s.Tags) != 1 || svcs["gone"] != nil {
		t.Fatalf("services after restart = %v", svcs)
	}
	checks, err := second.Client.Agent().Checks()
	if err != nil {
		t.Fatal(err)
	}
	if c := checks["service:web1:1"]; c == nil || c.Status != api.HealthPassing || c.Output != "fine before the restart" {
		t.Fatalf("TTL check after restart = %+v, want its saved passing status", c)
	}
	for _, id := range []string{"service:web1:2", "node-ttl", structs.ServiceMaintPrefix + "web1"} {
		if checks[id] == nil {
			t.Errorf("check %s lost in the restart", id)
		}
	}
	if c := checks[structs.ServiceMaintPrefix+"web1"]; c != nil && c.Notes != "moving racks" {
		t.Errorf("maintenance reason after restart = %q", c.Notes)
	}

	// Back in the cluster, the catalog agrees.
	WaitFor(t, "the restarted agent alive", 15*time.Second, func() error {
		if err := second.Client.Agent().Join(srv.LANAddr(), false); err != nil {
			return err
		}
		members, err := srv.Client.Agent().Members(false)
		if err != nil {
			return err
		}
		for _, m := range members {
			if m.Name == "keeper" && m.Status == int(serf.StatusAlive) {
				return nil
			}
		}
		return errors.New("not alive yet")
	})
	waitCatalogStatus(t, srv, "keeper", "service:web1:1", api.HealthPassing)
	waitCatalogStatus(t, srv, "keeper", structs.ServiceMaintPrefix+"web1", api.HealthCritical)
	WaitFor(t, "the removed service absent from the catalog", 10*time.Second, func() error {
		nodes, _, err := srv.Client.Catalog().Service("gone", "", nil)
		if err != nil {
			return err
		}
		if len(nodes) != 0 {
			return fmt.Errorf("%d instances", len(nodes))
		}
		return nil
	})
}

func TestDevModePersistsNothing(t *testing.T) {
	ta := StartTestAgent(t, "-dev")
	if err := ta.Client.Agent().ServiceRegister(&api.AgentServiceRegistration{Name: "web", Check: &api.AgentServiceCheck{TTL: "10s"}}); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{servicesDir, checksDir} {
		if _, err := os.Stat(filepath.Join(ta.DataDir, dir)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s exists in -dev: %v", dir, err)
		}
	}
}

func TestRestoreSkipsBadFiles(t *testing.T) {
	dataDir := t.TempDir()
	for _, dir := range []string{servicesDir, checksDir} {
		if err := os.MkdirAll(filepath.Join(dataDir, dir), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dataDir, dir, "junk"), []byte("{not json"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// A check whose service is gone is dropped.
	orphan := `{"Check":{"CheckID":"orphan","Name":"o","ServiceID":"missing","Status":"critical"},"Definition":{"ID":"orphan","Name":"o","ServiceID":"missing","TTL":10000000000}}`
	orphanPath := filepath.Join(dataDir, checksDir, fileName("orphan"))
	if err := os.WriteFile(orphanPath, []byte(orphan), 0o600); err != nil {
		t.Fatal(err)
	}
	ta := StartTestAgent(t, "-server", "-bootstrap", "-data-dir="+dataDir)
	checks, err := ta.Client.Agent().Checks()
	if err != nil {
		t.Fatal(err)
	}
	if len(checks) != 0 {
		t.Fatalf("checks restored from bad files = %v", checks)
	}
	if _, err := os.Stat(orphanPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the orphan check file was kept: %v", err)
	}
}

func TestConfigTTLCheckKeepsStatusAcrossRestart(t *testing.T) {
	dataDir := t.TempDir()
	path := filepath.Join(t.TempDir(), "checks.json")
	writeConfig(t, path, `{"check": {"id": "app", "name": "app", "ttl": "1m"}}`)
	// Clients without servers: only the agent's own view matters here.
	first := StartTestAgent(t, "-node=ttl-keeper", "-data-dir="+dataDir, "-config-file="+path)
	if err := first.Client.Agent().UpdateTTL("app", "up", api.HealthPassing); err != nil {
		t.Fatal(err)
	}
	first.Shutdown()
	for i := 0; i < 2; i++ {
		// Twice: starting must not consume the saved status.
		next := StartTestAgent(t, "-node=ttl-keeper", "-data-dir="+dataDir, "-config-file="+path)
		checks, err := next.Client.Agent().Checks()
		if err != nil {
			t.Fatal(err)
		}
		if c := checks["app"]; c == nil || c.Status != api.HealthPassing || c.Output != "up" {
			t.Fatalf("start %d: config TTL check = %+v, want its saved passing status", i+2, c)
		}
		next.Shutdown()
	}
	// The definition itself is never written: the file is its record.
	if entries, _ := os.ReadDir(filepath.Join(dataDir, checksDir)); len(entries) != 1 || entries[0].Name() != "state" {
		t.Fatalf("checks dir holds %v, want only state/", entries)
	}
}

// TestRestoredServiceWithNullBlocks: the service files of earlier builds
// held "Proxy": null (and Connect, AI) for a service without those
// blocks; restored, such a service reaches the catalog, where servers
// refuse a null block as not a JSON object.
func TestRestoredServiceWithNullBlocks(t *testing.T) {
	srv := StartTestAgent(t, "-server", "-bootstrap")
	srv.WaitForLeader(t)
	dataDir := t.TempDir()
	file := filepath.Join(dataDir, servicesDir, fileName("web1"))
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		t.Fatal(err)
	}
	old := `{"Service":{"ID":"web1","Name":"web","Port":80,"Proxy":null,"Connect":null,"AI":null}}`
	if err := os.WriteFile(file, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	a := StartTestAgent(t, "-node=restored", "-data-dir="+dataDir)
	joinAndWait(t, srv, a)
	WaitFor(t, "the restored service in the catalog", 10*time.Second, func() error {
		svcs, _, err := srv.Client.Catalog().Service("web", "", nil)
		if err != nil {
			return err
		}
		for _, s := range svcs {
			if s.Node == "restored" && s.ServiceID == "web1" {
				return nil
			}
		}
		return fmt.Errorf("catalog has %d web instances, none of node restored", len(svcs))
	})
	// What this build saves leaves the empty blocks out.
	if err := a.Client.Agent().ServiceRegister(&api.AgentServiceRegistration{ID: "web2", Name: "web"}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dataDir, servicesDir, fileName("web2")))
	if err != nil {
		t.Fatal(err)
	}
	for _, block := range []string{`"Proxy"`, `"Connect"`, `"AI"`} {
		if strings.Contains(string(b), block) {
			t.Errorf("saved service file holds an empty %s: %s", block, b)
		}
	}
}
