package command

import (
	"strings"
	"testing"
	"time"

	"github.com/meridian-sd/meridian/agent"
)

func TestJoinLAN(t *testing.T) {
	srv := agent.StartTestAgent(t, "-server", "-bootstrap", "-node=jsrv")
	cl := agent.StartTestAgent(t, "-node=jcl")
	// One address of two reached is a success, counted as one.
	code, out, errOut := runVerb(joinCmd, "-http-addr="+cl.HTTPAddr, "127.0.0.1:1", srv.LANAddr())
	if code != 0 {
		t.Fatalf("join: exit %d, stderr %q", code, errOut)
	}
	if !strings.Contains(out, "Successfully joined cluster by contacting 1 nodes.") {
		t.Errorf("join output %q", out)
	}
	waitMembers(t, srv, 2)
}

func TestJoinWAN(t *testing.T) {
	dc1 := agent.StartTestAgent(t, "-server", "-bootstrap", "-node=w1")
	dc2 := agent.StartTestAgent(t, "-server", "-bootstrap", "-node=w2", "-datacenter=dc2")
	code, out, errOut := runVerb(joinCmd, "-http-addr="+dc1.HTTPAddr, "-wan", dc2.WANAddr())
	if code != 0 || !strings.Contains(out, "contacting 1 nodes") {
		t.Fatalf("join -wan: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	agent.WaitFor(t, "both servers in the WAN pool", 10*time.Second, func() error {
		_, out, _ := runVerb(membersCmd, "-http-addr="+dc2.HTTPAddr, "-wan")
		if !strings.Contains(out, "w1.dc1") || !strings.Contains(out, "w2.dc2") {
			return errorText("members -wan: " + out)
		}
		return nil
	})
	// The LAN pools stay apart.
	_, out, _ = runVerb(membersCmd, "-http-addr="+dc1.HTTPAddr)
	if strings.Contains(out, "w2") {
		t.Errorf("dc2's server is in dc1's LAN pool:\n%s", out)
	}
}

func TestJoinErrors(t *testing.T) {
	srv := agent.StartTestAgent(t, "-server", "-bootstrap", "-node=jesrv")
	cl := agent.StartTestAgent(t, "-node=jecl")
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"nothing listens", []string{"-http-addr=" + cl.HTTPAddr, "127.0.0.1:1"}, []string{"127.0.0.1:1"}},
		{"nothing listens on the wan", []string{"-http-addr=" + srv.HTTPAddr, "-wan", "127.0.0.1:1"}, []string{"127.0.0.1:1"}},
		{"a client asked to join the wan", []string{"-http-addr=" + cl.HTTPAddr, "-wan", srv.WANAddr()}, []string{"client"}},
		{"unknown flag", []string{"-frob", "x"}, []string{"-frob"}},
		{"no agent", []string{"-http-addr=127.0.0.1:1", srv.LANAddr()}, []string{"127.0.0.1:1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runVerb(joinCmd, tt.args...)
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			oneLineError(t, errOut, tt.want...)
		})
	}
	t.Run("no address", func(t *testing.T) {
		code, _, errOut := runVerb(joinCmd, "-http-addr="+cl.HTTPAddr)
		first, _, _ := strings.Cut(errOut, "\n")
		if code != 1 || !strings.Contains(first, "address") || !strings.Contains(errOut, "Usage: meridian join") {
			t.Errorf("exit %d, stderr %q: want the error, then the usage", code, errOut)
		}
	})
}
