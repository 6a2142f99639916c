package command

import (
	"strings"
	"testing"

	"github.com/hashicorp/cli"
	"github.com/hashicorp/consul/api"

	"github.com/meridian-sd/meridian/agent"
)

func TestMaintNodeAndService(t *testing.T) {
	ta := agent.StartTestAgent(t, "-server", "-bootstrap")
	addr := "-http-addr=" + ta.HTTPAddr
	if err := ta.Client.Agent().ServiceRegister(&api.AgentServiceRegistration{ID: "redis1", Name: "redis"}); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (int, string, string) {
		ui := cli.NewMockUi()
		code := (&MaintCommand{UI: ui}).Run(append([]string{addr}, args...))
		return code, ui.OutputWriter.String(), ui.ErrorWriter.String()
	}

	if code, out, _ := run(); code != 0 || out != "Nothing is in maintenance mode\n" {
		t.Fatalf("list with nothing: %d %q", code, out)
	}
	if code, out, errOut := run("-enable", "-reason=disk swap"); code != 0 || out != "Node entered maintenance mode\n" {
		t.Fatalf("enable node: %d %q %q", code, out, errOut)
	}
	if code, out, errOut := run("-enable", "-service=redis1", "-reason=failover"); code != 0 || out != "Service entered maintenance mode: redis1\n" {
		t.Fatalf("enable service: %d %q %q", code, out, errOut)
	}
	checks, err := ta.Client.Agent().Checks()
	if err != nil {
		t.Fatal(err)
	}
	if c := checks["_node_maintenance"]; c == nil || c.Status != api.HealthCritical || c.Notes != "disk swap" {
		t.Fatalf("node maintenance check = %+v", c)
	}
	if c := checks["_service_maintenance:redis1"]; c == nil || c.Notes != "failover" {
		t.Fatalf("service maintenance check = %+v", c)
	}
	code, out, _ := run()
	want := "Node:\n  Name:   " + ta.Name + "\n  Reason: disk swap\n\nService:\n  ID:     redis1\n  Reason: failover\n\n"
	if code != 0 || out != want {
		t.Fatalf("list = %d %q, want %q", code, out, want)
	}
	if code, out, _ := run("-disable", "-service=redis1"); code != 0 || out != "Service left maintenance mode: redis1\n" {
		t.Fatalf("disable service: %d %q", code, out)
	}
	if code, out, _ := run("-disable"); code != 0 || out != "Node left maintenance mode\n" {
		t.Fatalf("disable node: %d %q", code, out)
	}
	checks, _ = ta.Client.Agent().Checks()
	if len(checks) != 0 {
		t.Fatalf("checks after disabling = %v", checks)
	}
}

func TestMaintErrors(t *testing.T) {
	ta := agent.StartTestAgent(t, "-server", "-bootstrap")
	addr := "-http-addr=" + ta.HTTPAddr
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"both", []string{"-enable", "-disable"}, "only one of -enable or -disable"},
		{"reason without enable", []string{"-reason=x"}, "-reason may only be given with -enable"},
		{"service without action", []string{"-service=x"}, "-service needs -enable or -disable"},
		{"unknown service", []string{"-enable", "-service=nope"}, `No service registered with ID "nope"`},
		{"argument", []string{"now"}, "unexpected argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ui := cli.NewMockUi()
			code := (&MaintCommand{UI: ui}).Run(append([]string{addr}, tt.args...))
			got := ui.ErrorWriter.String()
			if code != 1 || !strings.Contains(got, tt.want) {
				t.Fatalf("exit %d, stderr %q; want 1 and %q", code, got, tt.want)
			}
		})
	}
}
