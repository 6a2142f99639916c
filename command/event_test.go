package command

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/cli"

	"github.com/meridian-sd/meridian/agent"
)

func eventCmd(ui cli.Ui) cli.Command { return &EventCommand{UI: ui} }

func TestEvent(t *testing.T) {
	srv := agent.StartTestAgent(t, "-server", "-bootstrap")
	srv.WaitForLeader(t)
	code, out, errOut := runVerb(eventCmd, "-http-addr="+srv.HTTPAddr, "-name=deploy", "-node=.*", "v1.2.3")
	id, ok := strings.CutPrefix(strings.TrimSpace(out), "Event ID: ")
	if code != 0 || !ok || len(id) != 36 {
		t.Fatalf("event: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	agent.WaitFor(t, "the event in the list", 10*time.Second, func() error {
		evs, _, err := srv.Client.Event().List("deploy", nil)
		if err != nil {
			return err
		}
		for _, e := range evs {
			if e.ID == id && string(e.Payload) == "v1.2.3" && e.NodeFilter == ".*" {
				return nil
			}
		}
		return fmt.Errorf("event %s not listed among %d", id, len(evs))
	})

	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"no name", []string{"-http-addr=" + srv.HTTPAddr, "x"}, "-name"},
		{"tag without service", []string{"-http-addr=" + srv.HTTPAddr, "-name=a", "-tag=x"}, "-service"},
		{"bad regexp", []string{"-http-addr=" + srv.HTTPAddr, "-name=a", "-node=("}, "-node"},
		{"two payloads", []string{"-http-addr=" + srv.HTTPAddr, "-name=a", "x", "y"}, "payload"},
		{"too large", []string{"-http-addr=" + srv.HTTPAddr, "-name=a", strings.Repeat("p", 600)}, "too large"},
		{"unknown datacenter", []string{"-http-addr=" + srv.HTTPAddr, "-name=a", "-datacenter=nowhere"}, "No path to datacenter"},
		{"no agent", []string{"-http-addr=127.0.0.1:1", "-name=a"}, "127.0.0.1:1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runVerb(eventCmd, tt.args...)
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			oneLineError(t, errOut, tt.want)
		})
	}
}
