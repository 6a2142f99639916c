package command

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/cli"
	"github.com/hashicorp/consul/api"

	"github.com/meridian-sd/meridian/agent"
)

func apGetCmd(ui cli.Ui) cli.Command    { return &OperatorAutopilotGetCommand{UI: ui} }
func apSetCmd(ui cli.Ui) cli.Command    { return &OperatorAutopilotSetCommand{UI: ui} }
func apStateCmd(ui cli.Ui) cli.Command  { return &OperatorAutopilotStateCommand{UI: ui} }
func transferCmd(ui cli.Ui) cli.Command { return &OperatorRaftTransferLeaderCommand{UI: ui} }

// TestOperatorAutopilotVerbs drives get-config, set-config, state and
// transfer-leader against one server and checks Consul's output.
func TestOperatorAutopilotVerbs(t *testing.T) {
	srv := agent.StartTestAgent(t, "-server", "-bootstrap", "-node=ap1", `-hcl=node_meta { zone = "z1" }
autopilot { redundancy_zone_tag = "zone" }`)
	srv.WaitForLeader(t)
	addr := "-http-addr=" + srv.HTTPAddr
	// The new leader stores the configured settings right after its
	// election; a set-config racing that store is told to try again.
	agent.WaitFor(t, "the stored autopilot configuration", 10*time.Second, func() error {
		conf, err := srv.Client.Operator().AutopilotGetConfiguration(nil)
		if err != nil {
			return err
		}
		if conf.ModifyIndex == 0 {
			return errorText("not stored yet")
		}
		return nil
	})

	code, out, errOut := runVerb(apGetCmd, addr)
	want := `CleanupDeadServers = true
LastContactThreshold = 1s
MaxTrailingLogs = 250
MinQuorum = 0
ServerStabilizationTime = 1s
RedundancyZoneTag = "zone"
DisableUpgradeMigration = false
UpgradeVersionTag = ""
`
	if code != 0 || out != want {
		t.Fatalf("get-config: exit %d, stderr %q, stdout\n%s\nwant\n%s", code, errOut, out, want)
	}

	code, out, errOut = runVerb(apSetCmd, addr, "-cleanup-dead-servers=false", "-max-trailing-logs=42",
		"-server-stabilization-time=3s", "-min-quorum=3")
	if code != 0 || out != "Configuration updated!\n" {
		t.Fatalf("set-config: exit %d, stderr %q, stdout %q", code, errOut, out)
	}
	conf, err := srv.Client.Operator().AutopilotGetConfiguration(nil)
	if err != nil {
		t.Fatal(err)
	}
	if conf.CleanupDeadServers || conf.MaxTrailingLogs != 42 || conf.ServerStabilizationTime.Duration() != 3*time.Second ||
		conf.MinQuorum != 3 || conf.RedundancyZoneTag != "zone" || conf.LastContactThreshold.Duration() != time.Second {
		t.Errorf("after set-config: %+v", conf)
	}

	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"bad bool", []string{addr, "-cleanup-dead-servers=maybe"}, []string{"cleanup-dead-servers"}},
		{"bad duration", []string{addr, "-last-contact-threshold=soon"}, []string{"-last-contact-threshold", "soon"}},
		{"bad number", []string{addr, "-max-trailing-logs=-1"}, []string{"-max-trailing-logs"}},
		{"refused by the server", []string{addr, "-last-contact-threshold=0s"}, []string{"LastContactThreshold"}},
		{"stray argument", []string{addr, "extra"}, []string{"unexpected argument"}},
	} {
		code, _, errOut := runVerb(apSetCmd, tc.args...)
		if code != 1 {
			t.Errorf("%s: exit %d", tc.name, code)
		}
		oneLineError(t, errOut, tc.want...)
	}

	var st api.AutopilotState
	agent.WaitFor(t, "autopilot state with the zone", 10*time.Second, func() error {
		code, out, errOut := runVerb(apStateCmd, addr, "-format=json")
		if code != 0 {
			return errorText(errOut)
		}
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			return err
		}
		if len(st.RedundancyZones["z1"].Voters) != 1 {
			return errorText("zone z1 has no voter yet")
		}
		// Health and node types follow on autopilot's next pass.
		if !st.Healthy {
			return errorText("not healthy yet")
		}
		for id, srv := range st.Servers {
			if srv.NodeType != "zone-voter" {
				return errorText(fmt.Sprintf("server %s is a %s, not yet the zone's voter", id, srv.NodeType))
			}
		}
		return nil
	})
	code, out, errOut = runVerb(apStateCmd, addr)
	for _, w := range []string{"Healthy:                      true", "Failure Tolerance:            0",
		"Redundancy Zones:", "   z1\n", "Name:            ap1", "Status:          leader",
		"Node Type:       zone-voter", "Redundancy Zone: z1", `"zone": "z1"`} {
		if !strings.Contains(out, w) {
			t.Errorf("state output lacks %q:\n%s", w, out)
		}
	}
	if code != 0 {
		t.Errorf("state: exit %d, %q", code, errOut)
	}
	if code, _, errOut := runVerb(apStateCmd, addr, "-format=yaml"); code != 1 {
		t.Errorf("state -format=yaml: exit %d", code)
	} else {
		oneLineError(t, errOut, "-format")
	}

	// One server: there is nobody to hand leadership to.
	code, _, errOut = runVerb(transferCmd, addr)
	if code != 1 {
		t.Errorf("transfer-leader on one server: exit %d", code)
	}
	oneLineError(t, errOut, "only voter")
	code, _, errOut = runVerb(transferCmd, addr, "-id=nope")
	if code != 1 {
		t.Errorf("transfer-leader to an unknown id: exit %d", code)
	}
	oneLineError(t, errOut, "nope")
}
