package command

import (
	"testing"
	"time"

	"github.com/meridian-sd/meridian/agent"
)

func TestLeave(t *testing.T) {
	srv := agent.StartTestAgent(t, "-server", "-bootstrap", "-node=lsrv")
	cl := agent.StartTestAgent(t, "-node=lcl", "-join="+srv.LANAddr())
	waitMembers(t, srv, 2)
	code, out, errOut := runVerb(leaveCmd, "-http-addr="+cl.HTTPAddr)
	if code != 0 || out != "Graceful leave complete\n" {
		t.Fatalf("leave: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	select {
	case <-cl.ShutdownCh():
	case <-time.After(10 * time.Second):
		t.Fatal("the agent did not shut down after leave")
	}
	agent.WaitFor(t, "the client to be left", 10*time.Second, func() error {
		ms, err := srv.Client.Agent().Members(false)
		if err != nil {
			return err
		}
		for _, m := range ms {
			if m.Name == "lcl" && m.Status != 3 {
				return errorText("lcl has status " + statusText(m.Status))
			}
		}
		return nil
	})
}

func TestLeaveErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"stray argument", []string{"-http-addr=127.0.0.1:1", "now"}, "argument"},
		{"no agent", []string{"-http-addr=127.0.0.1:1"}, "127.0.0.1:1"},
		{"unknown flag", []string{"-frob"}, "-frob"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runVerb(leaveCmd, tt.args...)
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			oneLineError(t, errOut, tt.want)
		})
	}
}
