package command

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/cli"
	"github.com/hashicorp/consul/api"

	"github.com/meridian-sd/meridian/agent"
)

func TestSnapshotSaveInspectRestore(t *testing.T) {
	ta := agent.StartTestAgent(t, "-server", "-bootstrap")
	ta.WaitForLeader(t)
	addr := "-http-addr=" + ta.HTTPAddr
	for _, k := range []string{"a", "b", "c"} {
		if _, err := ta.Client.KV().Put(&api.KVPair{Key: "snap/" + k, Value: []byte("saved")}, nil); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "backup.snap")

	ui := cli.NewMockUi()
	if code := (&SnapshotSaveCommand{UI: ui}).Run([]string{addr, file}); code != 0 {
		t.Fatalf("save: exit %d: %s", code, ui.ErrorWriter.String())
	}
	if !regexp.MustCompile(`^Saved and verified snapshot to index [1-9][0-9]*\n$`).MatchString(ui.OutputWriter.String()) {
		t.Fatalf("save printed %q", ui.OutputWriter.String())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("save left %d files in the directory, want 1", len(entries))
	}

	ui = cli.NewMockUi()
	if code := (&SnapshotInspectCommand{UI: ui}).Run([]string{file}); code != 0 {
		t.Fatalf("inspect: exit %d: %s", code, ui.ErrorWriter.String())
	}
	out := ui.OutputWriter.String()
	t.Logf("inspect:\n%s", out)
	for _, re := range []string{
		`(?m)^ ID +\d+-\d+-\d+$`, `(?m)^ Size +[1-9]\d*$`, `(?m)^ Index +[1-9]\d*$`, `(?m)^ Term +[1-9]\d*$`, `(?m)^ Version +1$`,
		`(?m)^ Type +Count +Size$`, `(?m)^ KVS +3 +\d+B$`, `(?m)^ Total +[\d.]+K?B$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("inspect output does not match %s:\n%s", re, out)
		}
	}

	if _, err := ta.Client.KV().Put(&api.KVPair{Key: "snap/a", Value: []byte("changed")}, nil); err != nil {
		t.Fatal(err)
	}
	ui = cli.NewMockUi()
	if code := (&SnapshotRestoreCommand{UI: ui}).Run([]string{addr, file}); code != 0 {
		t.Fatalf("restore: exit %d: %s", code, ui.ErrorWriter.String())
	}
	if got := ui.OutputWriter.String(); got != "Restored snapshot\n" {
		t.Fatalf("restore printed %q", got)
	}
	p, _, err := ta.Client.KV().Get("snap/a", nil)
	if err != nil || p == nil || string(p.Value) != "saved" {
		t.Fatalf("snap/a after restore = %+v, %v", p, err)
	}

	// A truncated file: inspect and restore refuse it with a sentence.
	buf, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.snap")
	if err := os.WriteFile(bad, buf[:len(buf)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	ui = cli.NewMockUi()
	if code := (&SnapshotInspectCommand{UI: ui}).Run([]string{bad}); code != 1 || !strings.Contains(ui.ErrorWriter.String(), "truncated") {
		t.Fatalf("inspect of a truncated file: exit %d, %q", code, ui.ErrorWriter.String())
	}
	ui = cli.NewMockUi()
	code := (&SnapshotRestoreCommand{UI: ui}).Run([]string{addr, bad})
	if code != 1 || !strings.HasPrefix(ui.ErrorWriter.String(), "Error restoring snapshot: ") || !strings.Contains(ui.ErrorWriter.String(), "nothing was changed") {
		t.Fatalf("restore of a truncated file: exit %d, %q", code, ui.ErrorWriter.String())
	}

	// Usage errors.
	for _, c := range []cli.Command{&SnapshotSaveCommand{UI: cli.NewMockUi()}, &SnapshotRestoreCommand{UI: cli.NewMockUi()}, &SnapshotInspectCommand{UI: cli.NewMockUi()}} {
		if code := c.Run(nil); code != 1 {
			t.Errorf("%T without FILE: exit %d", c, code)
		}
	}
}

func TestByteSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0B", 344: "344B", 1024: "1KB", 1741: "1.7KB", 5 << 20: "5MB"} {
		if got := byteSize(n); got != want {
			t.Errorf("byteSize(%d) = %q, want %q", n, got, want)
		}
	}
}
