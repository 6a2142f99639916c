package command

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/cli"
)

func labUpCmd(ui cli.Ui) cli.Command        { return &LabUpCommand{UI: ui, Binary: "/nonexistent/meridian"} }
func labPartitionCmd(ui cli.Ui) cli.Command { return &LabPartitionCommand{UI: ui} }
func labHealCmd(ui cli.Ui) cli.Command      { return &LabHealCommand{UI: ui} }
func labStatusCmd(ui cli.Ui) cli.Command    { return &LabStatusCommand{UI: ui} }
func labDownCmd(ui cli.Ui) cli.Command      { return &LabDownCommand{UI: ui} }

func TestLabUpBadInput(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"-dcs", "0", "-dir", dir}, []string{"-dcs must be between 1 and 16, not 0"}},
		{[]string{"-servers", "0", "-dir", dir}, []string{"-servers must be between 1 and"}},
		{[]string{"-clients", "-2", "-dir", dir}, []string{"-clients must be between 0 and"}},
		{[]string{"-dcs", "2", "-wan-rtt", "dc1-dc3=60ms", "-dir", dir}, []string{`unknown datacenter "dc3"`, "dc1 to dc2"}},
		{[]string{"-wan-rtt", "dc1-dc2", "-dir", dir}, []string{"dcA-dcB=DURATION"}},
		{[]string{"-subnet", "10.0.0.0/24", "-dir", dir}, []string{"not a loopback network", "127.0.0.0/8"}},
		{[]string{"-subnet", "127.0.58.0/29", "-dir", dir}, []string{"has 6 usable addresses but the lab needs 14"}},
		{[]string{"-subnet", "nonsense", "-dir", dir}, []string{"CIDR"}},
		{[]string{}, []string{"-dir is required"}},
		{[]string{"-dir", dir, "extra"}, []string{"takes no arguments"}},
		{[]string{"-log-level", "loud", "-dir", dir}, []string{"-log-level"}},
		{[]string{"-bogus"}, []string{"bogus"}},
	} {
		code, _, stderr := runVerb(labUpCmd, tc.args...)
		if code != 1 {
			t.Errorf("lab up %v: exit %d, want 1", tc.args, code)
		}
		oneLineError(t, stderr, tc.want...)
	}
	// A directory that holds something else is refused before anything
	// starts (the binary here does not exist, so nothing could).
	other := t.TempDir()
	os.WriteFile(filepath.Join(other, "notes.txt"), nil, 0o600)
	code, _, stderr := runVerb(labUpCmd, "-dir", other)
	if code != 1 {
		t.Errorf("lab up in a foreign directory: exit %d", code)
	}
	oneLineError(t, stderr, "not a lab's directory")
}

func TestLabVerbsWithoutLab(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		cmd  func(cli.Ui) cli.Command
		args []string
		want []string
	}{
		{"partition without dir", labPartitionCmd, []string{"dc2"}, []string{"-dir is required"}},
		{"partition without dc", labPartitionCmd, []string{"-dir", dir}, []string{"name the datacenters to partition"}},
		{"partition without lab", labPartitionCmd, []string{"-dir", dir, "dc2"}, []string{"no lab is running in", "lab up -dir"}},
		{"heal without lab", labHealCmd, []string{"-dir", dir}, []string{"no lab is running in"}},
		{"status without lab", labStatusCmd, []string{"-dir", dir}, []string{"no lab is running in"}},
		{"status with an argument", labStatusCmd, []string{"-dir", dir, "dc1"}, []string{"takes no arguments"}},
		{"down without dir", labDownCmd, nil, []string{"-dir is required"}},
	} {
		code, _, stderr := runVerb(tc.cmd, tc.args...)
		if code != 1 {
			t.Errorf("%s: exit %d, want 1", tc.name, code)
		}
		oneLineError(t, stderr, tc.want...)
	}
	code, out, stderr := runVerb(labDownCmd, "-dir", dir)
	if code != 0 || !strings.Contains(out, "No lab is running") || stderr != "" {
		t.Errorf("down without lab: exit %d, %q %q", code, out, stderr)
	}
}

func TestLabHelp(t *testing.T) {
	for name, cmd := range map[string]cli.Command{
		"lab":           &LabCommand{},
		"lab up":        &LabUpCommand{},
		"lab partition": &LabPartitionCommand{},
		"lab heal":      &LabHealCommand{},
		"lab status":    &LabStatusCommand{},
		"lab down":      &LabDownCommand{},
	} {
		h := cmd.Help()
		if !strings.HasPrefix(h, "Usage: meridian "+name) || cmd.Synopsis() == "" {
			t.Errorf("%s: help %q, synopsis %q", name, h, cmd.Synopsis())
		}
		if name != "lab" && !strings.Contains(h, "-dir") {
			t.Errorf("%s: help does not show -dir", name)
		}
	}
	if _, ok := Commands(cli.NewMockUi())["lab partition"]; !ok {
		t.Error("lab partition is not registered")
	}
}
