package command

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/cli"
	"github.com/hashicorp/consul/api"
)

func queryCmd(verb string) func(ui cli.Ui) cli.Command {
	return func(ui cli.Ui) cli.Command {
		switch verb {
		case "list":
			return &QueryListCommand{UI: ui}
		case "read":
			return &QueryReadCommand{UI: ui}
		case "create":
			return &QueryCreateCommand{UI: ui}
		case "delete":
			return &QueryDeleteCommand{UI: ui}
		case "execute":
			return &QueryExecuteCommand{UI: ui}
		case "failover-status":
			return &QueryFailoverStatusCommand{UI: ui}
		default:
			return &QueryFailbackCommand{UI: ui}
		}
	}
}

func TestQueryCommands(t *testing.T) {
	ta, addr := kvAgent(t)
	reg := &api.CatalogRegistration{Node: "db1", Address: "10.0.0.1",
		Service: &api.AgentService{ID: "db", Service: "db", Port: 5432, Tags: []string{"primary"}},
		Check:   &api.AgentCheck{CheckID: "alive", Name: "alive", Status: api.HealthPassing, ServiceID: "db"}}
	if _, err := ta.Client.Catalog().Register(reg, nil); err != nil {
		t.Fatal(err)
	}
	run := func(verb string, args ...string) (int, string, string) {
		return runVerb(queryCmd(verb), append([]string{addr}, args...)...)
	}

	code, id, stderr := run("create", "-name=db", "-service=db", "-nearest-n=1", "-datacenters=dc9",
		"-min-passing=1", "-failback-after=30s", "-ttl=5s")
	id = strings.TrimSpace(id)
	if code != 0 || len(id) != 36 {
		t.Fatalf("create: %d %q %q", code, id, stderr)
	}
	file := filepath.Join(t.TempDir(), "q.json")
	if err := os.WriteFile(file, []byte(`{"Name":"plain","Service":{"Service":"db","Tags":["!backup"]}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, stderr := run("create", "@"+file); code != 0 || len(strings.TrimSpace(out)) != 36 {
		t.Fatalf("create from file: %d %q %q", code, out, stderr)
	}

	code, out, stderr := run("list")
	if code != 0 {
		t.Fatalf("list: %d %q", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || strings.Join(strings.Fields(lines[0]), " ") != "ID Name Service Failover Policy" ||
		!strings.Contains(lines[1], id) || !strings.Contains(lines[1], "nearest 1 then dc9") ||
		!strings.Contains(lines[1], "sticky: min-passing 1, failback auto after 30s") || !strings.HasSuffix(lines[2], "consul") {
		t.Fatalf("list:\n%s", out)
	}

	code, out, stderr = run("read", "db")
	var def map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &def) != nil || def["ID"] != id {
		t.Fatalf("read: %d %q %q", code, out, stderr)
	}
	if fo := def["Service"].(map[string]any)["Failover"].(map[string]any); fo["FailbackAfter"] != "30s" {
		t.Fatalf("read: failover %v", fo)
	}

	code, out, stderr = run("execute", "db")
	lines = strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 3 || lines[0] != "Datacenter: dc1 (0 failovers); sticky policy not failed over" ||
		strings.Join(strings.Fields(lines[1]), " ") != "Node Address Port Tags" || strings.Join(strings.Fields(lines[2]), " ") != "db1 10.0.0.1 5432 primary" {
		t.Fatalf("execute: %d %q %q", code, out, stderr)
	}

	code, out, stderr = run("failover-status", "db")
	if code != 0 || !strings.Contains(out, "Failed over      false") || !strings.Contains(out, "Passing locally  1") ||
		!strings.Contains(out, "FailbackMode     auto") {
		t.Fatalf("failover-status: %d %q %q", code, out, stderr)
	}
	if code, out, _ := run("failback", "db"); code != 0 || out != "Query db is not failed over: nothing to do\n" {
		t.Fatalf("failback: %d %q", code, out)
	}
	code, _, stderr = run("failover-status", "plain")
	if code != 1 {
		t.Fatalf("failover-status of a query without the policy: %d", code)
	}
	oneLineError(t, stderr, "no sticky failover policy")

	code, _, stderr = run("execute", "nope")
	if code != 1 {
		t.Fatalf("execute unknown: %d", code)
	}
	oneLineError(t, stderr, "Query not found")
	code, _, stderr = run("create", "-name=x")
	if code != 1 {
		t.Fatalf("create without service: %d", code)
	}
	oneLineError(t, stderr, "Missing -service")
	code, _, stderr = run("create", "-name=bad", "-service=db", "-failback-mode=sometimes")
	if code != 1 {
		t.Fatalf("create with a bad mode: %d", code)
	}
	oneLineError(t, stderr, "Bad FailbackMode 'sometimes'")
	code, _, stderr = run("read")
	if code != 1 {
		t.Fatalf("read without argument: %d", code)
	}
	oneLineError(t, stderr, "Missing ID_OR_NAME")

	if code, out, stderr := run("delete", "db"); code != 0 || out != "Deleted prepared query "+id+"\n" {
		t.Fatalf("delete: %d %q %q", code, out, stderr)
	}
	code, _, stderr = run("delete", "db")
	if code != 1 {
		t.Fatalf("delete twice: %d", code)
	}
	oneLineError(t, stderr, `no prepared query has the ID or name "db"`)
}
