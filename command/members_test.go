package command

import (
	"strings"
	"testing"

	"github.com/meridian-sd/meridian/agent"
)

func TestMembers(t *testing.T) {
	srv := agent.StartTestAgent(t, "-server", "-bootstrap", "-node=srv")
	cl := agent.StartTestAgent(t, "-node=cl", "-join="+srv.LANAddr())
	waitMembers(t, srv, 2)
	addr := "-http-addr=" + srv.HTTPAddr

	code, out, errOut := runVerb(membersCmd, addr)
	if code != 0 {
		t.Fatalf("members: exit %d, stderr %q", code, errOut)
	}
	rows := memberRows(t, out)
	want := map[string]string{"srv": "server", "cl": "client"}
	if len(rows) != 2 {
		t.Fatalf("members: %d rows, want 2:\n%s", len(rows), out)
	}
	for _, r := range rows {
		if want[r["Node"]] != r["Type"] || r["Status"] != "alive" || r["DC"] != "dc1" || r["Protocol"] == "" {
			t.Errorf("members row %v: want type %s, alive, dc1", r, want[r["Node"]])
		}
		if r["Node"] == "cl" && r["Address"] != cl.LANAddr() {
			t.Errorf("client address %s, want %s", r["Address"], cl.LANAddr())
		}
	}
	// Rows are ordered by datacenter, then name, whatever the role.
	if rows[0]["Node"] != "cl" {
		t.Errorf("rows not ordered by name: %v", rows)
	}

	tests := []struct {
		name     string
		args     []string
		code     int
		contains []string
		absent   []string
	}{
		{"wan pool of a server", []string{addr, "-wan"}, 0, []string{"srv.dc1", "server"}, []string{"cl"}},
		{"wan pool of a client is empty", []string{"-http-addr=" + cl.HTTPAddr, "-wan"}, 2, nil, nil},
		{"status filter", []string{addr, "-status=ali"}, 0, []string{"srv", "cl"}, nil},
		{"status filter matching nobody", []string{addr, "-status=^left$"}, 2, nil, nil},
		{"detailed shows tags", []string{addr, "-detailed"}, 0, []string{"role=consul", "role=node", "dc=dc1", "Tags"}, []string{"Protocol"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runVerb(membersCmd, tt.args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d (stdout %q, stderr %q)", code, tt.code, out, errOut)
			}
			for _, c := range tt.contains {
				if !strings.Contains(out, c) {
					t.Errorf("output lacks %q:\n%s", c, out)
				}
			}
			for _, a := range tt.absent {
				if strings.Contains(out, a) {
					t.Errorf("output has %q:\n%s", a, out)
				}
			}
		})
	}
}

func TestMembersBadInput(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"bad status regexp", []string{"-status=("}, []string{"-status"}},
		{"unknown flag", []string{"-frob"}, []string{"-frob"}},
		{"stray argument", []string{"extra"}, []string{"extra"}},
		{"no agent", []string{"-http-addr=127.0.0.1:1"}, []string{"127.0.0.1:1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runVerb(membersCmd, tt.args...)
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			oneLineError(t, errOut, tt.want...)
		})
	}
}

func TestMembersReadsAddressFromEnvironment(t *testing.T) {
	srv := agent.StartTestAgent(t, "-server", "-bootstrap", "-node=envsrv")
	for _, env := range []string{"MERIDIAN_HTTP_ADDR", "CONSUL_HTTP_ADDR"} {
		t.Run(env, func(t *testing.T) {
			t.Setenv("MERIDIAN_HTTP_ADDR", "")
			t.Setenv("CONSUL_HTTP_ADDR", "")
			t.Setenv(env, srv.HTTPAddr)
			code, out, errOut := runVerb(membersCmd)
			if code != 0 || !strings.Contains(out, "envsrv") {
				t.Errorf("members with %s: exit %d, stdout %q, stderr %q", env, code, out, errOut)
			}
		})
	}
	t.Run("the flag wins", func(t *testing.T) {
		t.Setenv("MERIDIAN_HTTP_ADDR", "127.0.0.1:1")
		code, _, errOut := runVerb(membersCmd, "-http-addr="+srv.HTTPAddr)
		if code != 0 {
			t.Errorf("exit %d, stderr %q", code, errOut)
		}
	})
}
