package command

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/hashicorp/cli"
	"github.com/hashicorp/consul/api"

	"github.com/meridian-sd/meridian/snapshot"
	"github.com/meridian-sd/meridian/structs"
)

// SnapshotCommand is the parent of the snapshot verbs.
type SnapshotCommand struct{}

var _ cli.Command = (*SnapshotCommand)(nil)

// Synopsis implements cli.Command.
func (c *SnapshotCommand) Synopsis() string {
	return "Saves, restores and inspects snapshots of the servers' state"
}

// Help implements cli.Command.
func (c *SnapshotCommand) Help() string {
	return strings.TrimSpace(`
Usage: meridian snapshot <subcommand> [options] FILE

  Point-in-time snapshots of a datacenter's state (catalog, KV, sessions,
  ACLs) for backups and disaster recovery:

    $ meridian snapshot save backup.snap
    Saved and verified snapshot to index 8419

    $ meridian snapshot inspect backup.snap

    $ meridian snapshot restore backup.snap
    Restored snapshot

Subcommands:

    save       Saves a snapshot of the servers' state to a file
    restore    Restores a snapshot file into the servers
    inspect    Prints the metadata and record counts of a snapshot file
`)
}

// Run implements cli.Command.
func (c *SnapshotCommand) Run(args []string) int { return cli.RunResultHelp }

// oneFile reads the single FILE argument.
func oneFile(ui cli.Ui, args []string) (string, bool) {
	switch len(args) {
	case 0:
		ui.Error("Missing FILE argument")
		return "", false
	case 1:
		return args[0], true
	}
	ui.Error(fmt.Sprintf("Too many arguments (expected 1, got %d)", len(args)))
	return "", false
}

// SnapshotSaveCommand saves a snapshot to a file.
type SnapshotSaveCommand struct {
	UI cli.Ui
}

var _ cli.Command = (*SnapshotSaveCommand)(nil)

// Synopsis implements cli.Command.
func (c *SnapshotSaveCommand) Synopsis() string { return "Saves a snapshot of the servers' state" }

func (c *SnapshotSaveCommand) flags() *httpFlagsSet {
	return readFlagSet("snapshot save")
}

// Help implements cli.Command.
func (c *SnapshotSaveCommand) Help() string {
	return strings.TrimSpace(`
Usage: meridian snapshot save [options] FILE

  Saves an atomic, point-in-time snapshot of the servers' state (catalog,
  KV, sessions, ACLs) to FILE, and verifies it: its checksums, and that
  every record decodes. FILE is written only once the snapshot is
  verified. With -stale, any server may answer from its own state, even
  without a leader. Needs a management token when ACLs are on.

    $ meridian snapshot save backup.snap
    Saved and verified snapshot to index 8419

Options:

`) + "\n" + flagHelp(c.flags().fs)
}

// Run implements cli.Command.
func (c *SnapshotSaveCommand) Run(args []string) int {
	f := c.flags()
	if err := f.fs.Parse(args); err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	file, ok := oneFile(c.UI, f.fs.Args())
	if !ok {
		return 1
	}
	client, err := f.h.client()
	if err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	rc, _, err := client.Snapshot().Save(f.h.queryOptions())
	if err != nil {
		c.UI.Error(strings.Replace(agentError(f.h.address(), err), "Error: ", "Error saving snapshot: ", 1))
		return 1
	}
	defer rc.Close()

	// Written next to FILE, verified, then renamed, so that FILE is
	// either a verified snapshot or untouched.
	part, err := os.CreateTemp(filepath.Dir(file), filepath.Base(file)+".part-*")
	if err != nil {
		c.UI.Error(fmt.Sprintf("Error creating snapshot file: %v", err))
		return 1
	}
	defer os.Remove(part.Name())
	_, err = io.Copy(part, rc)
	if err == nil {
		err = part.Sync()
	}
	if closeErr := part.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		c.UI.Error(fmt.Sprintf("Error writing snapshot file: %v", err))
		return 1
	}
	index, err := verifySnapshotFile(part.Name())
	if err != nil {
		c.UI.Error(fmt.Sprintf("Error verifying snapshot file: %v", err))
		return 1
	}
	if err := os.Rename(part.Name(), file); err != nil {
		c.UI.Error(fmt.Sprintf("Error writing snapshot file: %v", err))
		return 1
	}
	c.UI.Output(fmt.Sprintf("Saved and verified snapshot to index %d", index))
	return 0
}

// verifySnapshotFile checks an archive fully and returns its index.
func verifySnapshotFile(path string) (uint64, error) {
	arch, err := openSnapshotFile(path)
	if err != nil {
		return 0, err
	}
	defer arch.Close()
	if err := arch.Verify(); err != nil {
		return 0, err
	}
	return arch.Meta.Index, nil
}

// openSnapshotFile reads an archive and checks its checksums.
func openSnapshotFile(path string) (*snapshot.Archive, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return snapshot.Read(f, "", structs.DefaultMaxSnapshotSize)
}

// SnapshotRestoreCommand restores a snapshot file.
type SnapshotRestoreCommand struct {
	UI cli.Ui
}

var _ cli.Command = (*SnapshotRestoreCommand)(nil)

// Synopsis implements cli.Command.
func (c *SnapshotRestoreCommand) Synopsis() string { return "Restores a snapshot into the servers" }

func (c *SnapshotRestoreCommand) flags() *httpFlagsSet {
	fs := newFlagSet("snapshot restore")
	h := &httpFlags{}
	h.addHTTPFlags(fs)
	h.addDCFlags(fs)
	return &httpFlagsSet{fs: fs, h: h}
}

// Help implements cli.Command.
func (c *SnapshotRestoreCommand) Help() string {
	return strings.TrimSpace(`
Usage: meridian snapshot restore [options] FILE

  Restores the snapshot in FILE into the servers of a datacenter: the
  leader reads and verifies the whole archive (checksums, and that every
  record decodes) before it replaces anything, then installs it through
  Raft, so every server holds the restored state. A truncated or altered
  file is refused and nothing changes. Needs a management token when ACLs
  are on.

  This replaces the datacenter's whole state: it is meant for disaster
  recovery, into a fresh cluster or over a broken one.

    $ meridian snapshot restore backup.snap
    Restored snapshot

Options:

`) + "\n" + flagHelp(c.flags().fs)
}

// Run implements cli.Command.
func (c *SnapshotRestoreCommand) Run(args []string) int {
	f := c.flags()
	if err := f.fs.Parse(args); err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	file, ok := oneFile(c.UI, f.fs.Args())
	if !ok {
		return 1
	}
	client, err := f.h.client()
	if err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	in, err := os.Open(file)
	if err != nil {
		c.UI.Error(fmt.Sprintf("Error opening snapshot file: %v", err))
		return 1
	}
	defer in.Close()
	if err := client.Snapshot().Restore(&api.WriteOptions{Datacenter: f.h.datacenter}, in); err != nil {
		c.UI.Error(strings.Replace(agentError(f.h.address(), err), "Error: ", "Error restoring snapshot: ", 1))
		return 1
	}
	c.UI.Output("Restored snapshot")
	return 0
}

// SnapshotInspectCommand prints what a snapshot file holds.
type SnapshotInspectCommand struct {
	UI cli.Ui
}

var _ cli.Command = (*SnapshotInspectCommand)(nil)

// Synopsis implements cli.Command.
func (c *SnapshotInspectCommand) Synopsis() string {
	return "Prints the metadata and record counts of a snapshot file"
}

// Help implements cli.Command.
func (c *SnapshotInspectCommand) Help() string {
	return strings.TrimSpace(`
Usage: meridian snapshot inspect FILE

  Reads a snapshot file (no agent is needed), checks its checksums, and
  prints its ID, Size (of the state, in bytes), Raft Index and Term and
  format Version, then its records by type with their counts and sizes,
  the largest first:

    $ meridian snapshot inspect backup.snap
     ID           2-8419-1765029000000
     Size         183402
     Index        8419
     Term         2
     Version      1

     Type           Count      Size
     ----           ----       ----
     KVS            1000       120.4KB
     ...
     ----           ----       ----
     Total                     179.1KB
`)
}

// Run implements cli.Command.
func (c *SnapshotInspectCommand) Run(args []string) int {
	fs := newFlagSet("snapshot inspect")
	if err := fs.Parse(args); err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	file, ok := oneFile(c.UI, fs.Args())
	if !ok {
		return 1
	}
	arch, err := openSnapshotFile(file)
	if err != nil {
		c.UI.Error(fmt.Sprintf("Error reading snapshot file: %v", err))
		return 1
	}
	defer arch.Close()
	stats, err := arch.Stats()
	if err != nil {
		c.UI.Error(fmt.Sprintf("Error reading snapshot file: %v", err))
		return 1
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 8, 6, ' ', 0)
	m := arch.Meta
	fmt.Fprintf(tw, " ID\t%s\n", m.ID)
	fmt.Fprintf(tw, " Size\t%d\n", m.Size)
	fmt.Fprintf(tw, " Index\t%d\n", m.Index)
	fmt.Fprintf(tw, " Term\t%d\n", m.Term)
	fmt.Fprintf(tw, " Version\t%d\n", m.Version)
	tw.Flush()
	b.WriteString("\n")
	tw = tabwriter.NewWriter(&b, 0, 8, 6, ' ', 0)
	fmt.Fprintln(tw, " Type\tCount\tSize")
	fmt.Fprintln(tw, " ----\t----\t----")
	var total int64
	for _, s := range stats {
		fmt.Fprintf(tw, " %s\t%d\t%s\n", s.Name, s.Count, byteSize(s.Size))
		total += s.Size
	}
	fmt.Fprintln(tw, " ----\t----\t----")
	fmt.Fprintf(tw, " Total\t\t%s\n", byteSize(total))
	tw.Flush()
	c.UI.Output(strings.TrimRight(b.String(), "\n"))
	return 0
}

// byteSize prints a size as Consul's inspect does: 344B, 1.7KB, 12MB.
func byteSize(n int64) string {
	units := []string{"B", "KB", "MB", "GB", "TB"}
	v := float64(n)
	i := 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if i == 0 {
		return strconv.FormatInt(n, 10) + "B"
	}
	s := strconv.FormatFloat(v, 'f', 1, 64)
	return strings.TrimSuffix(s, ".0") + units[i]
}
