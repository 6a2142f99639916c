package command

import (
	"strings"
	"testing"

	"github.com/hashicorp/cli"
	"github.com/hashicorp/consul/api"

	"github.com/meridian-sd/meridian/agent"
)

func catalogNodesCmd(ui cli.Ui) cli.Command { return &CatalogNodesCommand{UI: ui} }

// TestCatalogNodesFilter: -filter reaches the server as ?filter=, over
// nodes, or over the service's instances with -service; a bad expression
// is one line on stderr and exit 1.
func TestCatalogNodesFilter(t *testing.T) {
	srv := agent.StartTestAgent(t, "-server", "-bootstrap")
	srv.WaitForLeader(t)
	for _, r := range []*api.CatalogRegistration{
		{Node: "ext1", Address: "10.1.0.7", NodeMeta: map[string]string{"rack": "r2"},
			Service: &api.AgentService{ID: "db1", Service: "db", Tags: []string{"primary"}}},
		{Node: "ext2", Address: "10.1.0.8", Service: &api.AgentService{ID: "db2", Service: "db"}},
	} {
		if _, err := srv.Client.Catalog().Register(r, nil); err != nil {
			t.Fatal(err)
		}
	}
	addr := "-http-addr=" + srv.HTTPAddr
	for _, tc := range []struct {
		args        []string
		code        int
		has, hasNot []string
	}{
		{[]string{`-filter=Meta.rack == "r2" or Address matches "[.]8$"`}, 0, []string{"ext1", "ext2"}, []string{srv.Name}},
		{[]string{`-filter=Meta.rack == "r2"`}, 0, []string{"ext1"}, []string{"ext2"}},
		{[]string{"-service=db", `-filter="primary" in ServiceTags`}, 0, []string{"ext1"}, []string{"ext2"}},
		{[]string{`-filter=Meta.rack == "r9"`}, 0, nil, []string{"ext1", "ext2"}},
	} {
		code, out, errOut := runVerb(catalogNodesCmd, append([]string{addr}, tc.args...)...)
		if code != tc.code {
			t.Fatalf("%v: exit %d, want %d (stderr %q)", tc.args, code, tc.code, errOut)
		}
		for _, s := range tc.has {
			if !strings.Contains(out, s) {
				t.Errorf("%v: output lacks %q:\n%s", tc.args, s, out)
			}
		}
		for _, s := range tc.hasNot {
			if strings.Contains(out, s) {
				t.Errorf("%v: output has %q:\n%s", tc.args, s, out)
			}
		}
	}
	code, _, errOut := runVerb(catalogNodesCmd, addr, "-filter=Meta.rack ==")
	if code != 1 || !strings.Contains(errOut, "Failed to create boolean expression evaluator") || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
		t.Fatalf("bad filter: exit %d, stderr %q; want 1 and one line with the evaluator error", code, errOut)
	}
}
