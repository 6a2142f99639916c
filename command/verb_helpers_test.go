package command

// Helpers for the tests of the membership verbs (members, join, leave,
// force-leave, info, version, keygen), run against in-process agents.

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/cli"

	"github.com/meridian-sd/meridian/agent"
)

// runVerb runs a verb built on a fresh MockUi and returns its exit code,
// standard output and error output.
func runVerb(newCmd func(ui cli.Ui) cli.Command, args ...string) (int, string, string) {
	ui := cli.NewMockUi()
	code := newCmd(ui).Run(args)
	return code, ui.OutputWriter.String(), ui.ErrorWriter.String()
}

func membersCmd(ui cli.Ui) cli.Command    { return &MembersCommand{UI: ui} }
func joinCmd(ui cli.Ui) cli.Command       { return &JoinCommand{UI: ui} }
func leaveCmd(ui cli.Ui) cli.Command      { return &LeaveCommand{UI: ui} }
func forceLeaveCmd(ui cli.Ui) cli.Command { return &ForceLeaveCommand{UI: ui} }
func infoCmd(ui cli.Ui) cli.Command       { return &InfoCommand{UI: ui} }
func versionCmd(ui cli.Ui) cli.Command    { return &VersionCommand{UI: ui} }
func keygenCmd(ui cli.Ui) cli.Command     { return &KeygenCommand{UI: ui} }

// oneLineError checks that stderr is one line starting with Error and
// naming every want.
func oneLineError(t *testing.T, stderr string, want ...string) {
	t.Helper()
	s := strings.TrimSpace(stderr)
	if s == "" || strings.Contains(s, "\n") || !strings.HasPrefix(s, "Error") {
		t.Errorf("stderr %q: want one line starting with Error", stderr)
	}
	for _, w := range want {
		if !strings.Contains(s, w) {
			t.Errorf("stderr %q does not name %q", s, w)
		}
	}
}

// memberRows parses the members table into rows keyed by column.
func memberRows(t *testing.T, out string) []map[string]string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	header := strings.Fields(lines[0])
	var rows []map[string]string
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) != len(header) {
			t.Fatalf("row %q does not match header %q", l, lines[0])
		}
		r := map[string]string{}
		for i, h := range header {
			r[h] = f[i]
		}
		rows = append(rows, r)
	}
	return rows
}

// waitMembers waits until the agent sees n alive LAN members.
func waitMembers(t *testing.T, ta *agent.TestAgent, n int) {
	t.Helper()
	agent.WaitFor(t, "LAN members", 10*time.Second, func() error {
		ms, err := ta.Client.Agent().Members(false)
		if err != nil {
			return err
		}
		alive := 0
		for _, m := range ms {
			if m.Status == 1 {
				alive++
			}
		}
		if alive != n {
			return fmt.Errorf("%d alive members, want %d", alive, n)
		}
		return nil
	})
}

// errorText is an error that is its text.
type errorText string

func (e errorText) Error() string { return string(e) }
