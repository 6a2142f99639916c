package command

import (
	"testing"
	"time"

	"github.com/meridian-sd/meridian/agent"
)

// memberStatus returns the node's LAN status as srv sees it, "" if absent.
func memberStatus(t *testing.T, srv *agent.TestAgent, node string) string {
	t.Helper()
	ms, err := srv.Client.Agent().Members(false)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Name == node {
			return statusText(m.Status)
		}
	}
	return ""
}

func TestForceLeave(t *testing.T) {
	srv := agent.StartTestAgent(t, "-server", "-bootstrap", "-node=fsrv")
	for _, prune := range []bool{false, true} {
		name := "fcl"
		if prune {
			name = "fcl-pruned"
		}
		t.Run(name, func(t *testing.T) {
			cl := agent.StartTestAgent(t, "-node="+name, "-join="+srv.LANAddr())
			agent.WaitFor(t, "the client alive", 10*time.Second, func() error {
				if st := memberStatus(t, srv, name); st != "alive" {
					return errorText("status " + st)
				}
				return nil
			})
			cl.Shutdown() // no leave: it fails
			agent.WaitFor(t, "the client failed", 10*time.Second, func() error {
				if st := memberStatus(t, srv, name); st != "failed" {
					return errorText("status " + st)
				}
				return nil
			})
			args := []string{"-http-addr=" + srv.HTTPAddr, name}
			want := "left"
			if prune {
				args = []string{"-http-addr=" + srv.HTTPAddr, "-prune", name}
				want = ""
			}
			code, out, errOut := runVerb(forceLeaveCmd, args...)
			if code != 0 || out != "" || errOut != "" {
				t.Fatalf("force-leave: exit %d, stdout %q, stderr %q", code, out, errOut)
			}
			agent.WaitFor(t, "the member "+want, 10*time.Second, func() error {
				if st := memberStatus(t, srv, name); st != want {
					return errorText("status " + st)
				}
				return nil
			})
		})
	}
}

func TestForceLeaveErrors(t *testing.T) {
	srv := agent.StartTestAgent(t, "-server", "-bootstrap", "-node=fesrv")
	addr := "-http-addr=" + srv.HTTPAddr
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown node", []string{addr, "nobody"}, "nobody"},
		{"no node", []string{addr}, "node name"},
		{"two nodes", []string{addr, "a", "b"}, "node name"},
		{"no agent", []string{"-http-addr=127.0.0.1:1", "x"}, "127.0.0.1:1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runVerb(forceLeaveCmd, tt.args...)
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			oneLineError(t, errOut, tt.want)
		})
	}
}
