package command

import (
	"strings"
	"testing"

	"github.com/meridian-sd/meridian/agent"
)

func TestInfo(t *testing.T) {
	srv := agent.StartTestAgent(t, "-server", "-bootstrap", "-node=isrv")
	srv.WaitForLeader(t)
	cl := agent.StartTestAgent(t, "-node=icl", "-join="+srv.LANAddr())
	tests := []struct {
		name    string
		a       *agent.TestAgent
		want    []string
		notWant []string
	}{
		{"server", srv, []string{"consul:", "raft:", "serf_lan:", "serf_wan:", "\tstate = Leader", "\tleader = true"}, nil},
		{"client", cl, []string{"serf_lan:"}, []string{"raft:", "serf_wan:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runVerb(infoCmd, "-http-addr="+tt.a.HTTPAddr)
			if code != 0 {
				t.Fatalf("info: exit %d, stderr %q", code, errOut)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("info lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(out, w) {
					t.Errorf("info has %q:\n%s", w, out)
				}
			}
		})
	}
	code, _, errOut := runVerb(infoCmd, "-http-addr=127.0.0.1:1")
	if code != 1 {
		t.Errorf("info without an agent: exit %d", code)
	}
	oneLineError(t, errOut, "127.0.0.1:1")
}
