package command

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/cli"

	"github.com/meridian-sd/meridian/agent"
)

func TestServicesRegisterFromFlagsAndDeregister(t *testing.T) {
	ta := agent.StartTestAgent(t, "-server", "-bootstrap")
	addr := "-http-addr=" + ta.HTTPAddr

	ui := cli.NewMockUi()
	reg := &ServicesRegisterCommand{UI: ui}
	code := reg.Run([]string{addr, "-name=web", "-id=web1", "-port=8080", "-tag=a", "-tag=b", "-meta=version=2", "-address=127.0.0.1"})
	if code != 0 {
		t.Fatalf("register: exit %d, stderr %q", code, ui.ErrorWriter.String())
	}
	if got := ui.OutputWriter.String(); got != "Registered service: web\n" {
		t.Fatalf("register output = %q", got)
	}
	svcs, err := ta.Client.Agent().Services()
	if err != nil {
		t.Fatal(err)
	}
	s := svcs["web1"]
	if s == nil || s.Port != 8080 || len(s.Tags) != 2 || s.Meta["version"] != "2" || s.Address != "127.0.0.1" {
		t.Fatalf("registered service = %+v", s)
	}

	ui = cli.NewMockUi()
	dereg := &ServicesDeregisterCommand{UI: ui}
	if code := dereg.Run([]string{addr, "-id=web1"}); code != 0 {
		t.Fatalf("deregister: exit %d, stderr %q", code, ui.ErrorWriter.String())
	}
	if got := ui.OutputWriter.String(); got != "Deregistered service: web1\n" {
		t.Fatalf("deregister output = %q", got)
	}
	if svcs, _ := ta.Client.Agent().Services(); len(svcs) != 0 {
		t.Fatalf("services after deregister = %v", svcs)
	}

	// Deregistering what is not there is one sentence on stderr.
	ui = cli.NewMockUi()
	if code := (&ServicesDeregisterCommand{UI: ui}).Run([]string{addr, "-id=web1"}); code != 1 {
		t.Fatalf("deregister unknown: exit %d", code)
	}
	if got := ui.ErrorWriter.String(); !strings.Contains(got, `Unknown service ID "web1"`) {
		t.Fatalf("deregister unknown stderr = %q", got)
	}
}

func TestServicesRegisterFromFile(t *testing.T) {
	ta := agent.StartTestAgent(t, "-server", "-bootstrap")
	addr := "-http-addr=" + ta.HTTPAddr
	file := filepath.Join(t.TempDir(), "web.hcl")
	body := `
services {
  id = "web1"
  name = "web"
  port = 80
  check {
    ttl = "30s"
    status = "passing"
  }
}
services {
  id = "web2"
  name = "web"
  port = 81
  checks = [
    { tcp = "127.0.0.1:1", interval = "10s", timeout = "1s", output_max_size = 100 },
    { http = "http://127.0.0.1:1/", interval = "10s", disable_redirects = true, header = { X-A = ["1"] } }
  ]
}
`
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	ui := cli.NewMockUi()
	if code := (&ServicesRegisterCommand{UI: ui}).Run([]string{addr, file}); code != 0 {
		t.Fatalf("register from file: exit %d, stderr %q", code, ui.ErrorWriter.String())
	}
	if got := ui.OutputWriter.String(); got != "Registered service: web\nRegistered service: web\n" {
		t.Fatalf("output = %q", got)
	}
	checks, err := ta.Client.Agent().Checks()
	if err != nil {
		t.Fatal(err)
	}
	if c := checks["service:web1"]; c == nil || c.Status != "passing" {
		t.Fatalf("web1 check = %+v", c)
	}
	if c := checks["service:web2:2"]; c == nil || c.Definition.HTTP != "http://127.0.0.1:1/" || c.Definition.Header["X-A"][0] != "1" {
		t.Fatalf("web2 http check = %+v", c)
	}
	if c := checks["service:web2:1"]; c == nil || c.Definition.TCP != "127.0.0.1:1" {
		t.Fatalf("web2 tcp check = %+v", c)
	}

	// Deregister from the same file.
	ui = cli.NewMockUi()
	if code := (&ServicesDeregisterCommand{UI: ui}).Run([]string{addr, file}); code != 0 {
		t.Fatalf("deregister from file: exit %d, stderr %q", code, ui.ErrorWriter.String())
	}
	if svcs, _ := ta.Client.Agent().Services(); len(svcs) != 0 {
		t.Fatalf("services left = %v", svcs)
	}
}

func TestServicesRegisterErrors(t *testing.T) {
	ta := agent.StartTestAgent(t, "-server", "-bootstrap")
	addr := "-http-addr=" + ta.HTTPAddr
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte(`{"service": {"name": "x", "check": {"ttl": "soon"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(t.TempDir(), "script.json")
	if err := os.WriteFile(script, []byte(`{"service": {"name": "x", "check": {"args": ["true"], "interval": "10s"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no name", []string{addr, "-port=80"}, "a service needs a name"},
		{"bad meta", []string{addr, "-name=x", "-meta=novalue"}, "key=value"},
		{"bad port", []string{addr, "-name=x", "-port=70000"}, "port"},
		{"file and flags", []string{addr, "-name=x", bad}, "not both"},
		{"missing file", []string{addr, filepath.Join(t.TempDir(), "nope.json")}, "nope.json"},
		{"invalid file", []string{addr, bad}, "invalid duration"},
		{"refused by the agent", []string{addr, script}, "Scripts are disabled"},
		{"agent down", []string{"-http-addr=127.0.0.1:1", "-name=x"}, "Error connecting to the Meridian agent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ui := cli.NewMockUi()
			if code := (&ServicesRegisterCommand{UI: ui}).Run(tt.args); code != 1 {
				t.Fatalf("exit %d, want 1", code)
			}
			got := ui.ErrorWriter.String()
			if !strings.Contains(got, tt.want) || strings.Count(strings.TrimSpace(got), "\n") != 0 {
				t.Fatalf("stderr = %q, want one line containing %q", got, tt.want)
			}
		})
	}
	ui := cli.NewMockUi()
	if code := (&ServicesDeregisterCommand{UI: ui}).Run([]string{addr}); code != 1 || !strings.Contains(ui.ErrorWriter.String(), "-id") {
		t.Fatalf("deregister without -id: exit %d, stderr %q", code, ui.ErrorWriter.String())
	}
}

func TestServicesHelp(t *testing.T) {
	for _, c := range []cli.Command{&ServicesCommand{}, &ServicesRegisterCommand{}, &ServicesDeregisterCommand{}, &MaintCommand{}} {
		if !strings.HasPrefix(c.Help(), "Usage: meridian ") || c.Synopsis() == "" {
			t.Errorf("%T: help %q, synopsis %q", c, c.Help(), c.Synopsis())
		}
	}
	if !strings.Contains((&ServicesRegisterCommand{}).Help(), "-replace-existing-checks") {
		t.Error("register help does not list its flags")
	}
}
