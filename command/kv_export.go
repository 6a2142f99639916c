package command

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/hashicorp/cli"
)

// KVExportCommand prints the keys under a prefix as JSON, in the format
// "kv import" reads.
type KVExportCommand struct {
	UI cli.Ui
}

var _ cli.Command = (*KVExportCommand)(nil)

// Synopsis implements cli.Command.
func (c *KVExportCommand) Synopsis() string { return "Exports a tree from the key-value store as JSON" }

func (c *KVExportCommand) flags() *httpFlagsSet {
	return readFlagSet("kv export")
}

// Help implements cli.Command.
func (c *KVExportCommand) Help() string {
	return strings.TrimSpace(`
Usage: meridian kv export [options] [PREFIX]

  Prints every key under PREFIX (all keys without one) as a JSON array of
  {"key", "flags", "value"} objects, the value base64-encoded, as Consul's
  "kv export" does. "meridian kv import" reads it back.

    $ meridian kv export app/ > app.json

Options:

`) + "\n" + flagHelp(c.flags().fs)
}

// Run implements cli.Command.
func (c *KVExportCommand) Run(args []string) int {
	f := c.flags()
	if err := f.fs.Parse(args); err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	prefix := ""
	switch n := f.fs.NArg(); {
	case n == 1:
		prefix = trimKey(f.fs.Arg(0))
	case n > 1:
		c.UI.Error(fmt.Sprintf("Error! Too many arguments (expected 1, got %d)", n))
		return 1
	}
	client, err := f.h.client()
	if err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	pairs, _, err := client.KV().List(prefix, f.h.queryOptions())
	if err != nil {
		c.UI.Error(agentError(f.h.address(), err))
		return 1
	}
	out := make([]kvExportEntry, 0, len(pairs))
	for _, p := range pairs {
		out = append(out, kvExportEntry{Key: p.Key, Flags: p.Flags, Value: base64.StdEncoding.EncodeToString(p.Value)})
	}
	buf, err := json.MarshalIndent(out, "", "\t")
	if err != nil {
		c.UI.Error(fmt.Sprintf("Error! Cannot encode the export: %v", err))
		return 1
	}
	c.UI.Output(string(buf))
	return 0
}
