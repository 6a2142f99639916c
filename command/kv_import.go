package command

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/hashicorp/cli"
	"github.com/hashicorp/consul/api"
)

// KVImportCommand writes keys from the JSON that "kv export" prints.
type KVImportCommand struct {
	UI cli.Ui
	// Stdin is read for the data "-"; nil means os.Stdin.
	Stdin io.Reader
}

var _ cli.Command = (*KVImportCommand)(nil)

// Synopsis implements cli.Command.
func (c *KVImportCommand) Synopsis() string {
	return "Imports a tree stored as JSON to the key-value store"
}

type kvImportFlags struct {
	*httpFlagsSet
	prefix *string
}

func (c *KVImportCommand) flags() kvImportFlags {
	fs := newFlagSet("kv import")
	h := &httpFlags{}
	h.addHTTPFlags(fs)
	h.addDCFlags(fs)
	return kvImportFlags{
		httpFlagsSet: &httpFlagsSet{fs: fs, h: h},
		prefix:       fs.String("prefix", "", "A prefix put before every imported key."),
	}
}

// Help implements cli.Command.
func (c *KVImportCommand) Help() string {
	return strings.TrimSpace(`
Usage: meridian kv import [options] DATA

  Writes the keys of DATA, a JSON array of {"key", "flags", "value"}
  objects with base64 values as "meridian kv export" prints them. DATA is
  read from a file with @file, from stdin with -, or given inline. The
  whole input is checked before anything is written.

    $ meridian kv import @app.json
    $ meridian kv export app/ | meridian kv import -prefix=backup/ -

Options:

`) + "\n" + flagHelp(c.flags().fs)
}

// Run implements cli.Command.
func (c *KVImportCommand) Run(args []string) int {
	f := c.flags()
	if err := f.fs.Parse(args); err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	switch n := f.fs.NArg(); {
	case n == 0:
		c.UI.Error("Error! Missing DATA argument")
		return 1
	case n > 1:
		c.UI.Error(fmt.Sprintf("Error! Too many arguments (expected 1, got %d)", n))
		return 1
	}
	arg := f.fs.Arg(0)
	if arg == "" {
		c.UI.Error("Error! Empty DATA argument")
		return 1
	}
	data, err := readData(arg, c.Stdin)
	if err != nil {
		c.UI.Error("Error! " + upperFirst(err.Error()))
		return 1
	}
	var entries []kvExportEntry
	if err := json.Unmarshal(data, &entries); err != nil {
		c.UI.Error(fmt.Sprintf("Error! Cannot unmarshal data: %v", err))
		return 1
	}
	pairs := make([]*api.KVPair, 0, len(entries))
	for i, e := range entries {
		key := trimKey(*f.prefix + e.Key)
		if key == "" {
			c.UI.Error(fmt.Sprintf("Error! Entry %d has no key", i))
			return 1
		}
		value, err := base64.StdEncoding.DecodeString(e.Value)
		if err != nil {
			c.UI.Error(fmt.Sprintf("Error! Cannot base64-decode the value of key %s: %v", e.Key, err))
			return 1
		}
		pairs = append(pairs, &api.KVPair{Key: key, Flags: e.Flags, Value: value})
	}
	client, err := f.h.client()
	if err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	for _, p := range pairs {
		if _, err := client.KV().Put(p, nil); err != nil {
			c.UI.Error(fmt.Sprintf("Error! Failed writing data for key %s: %s", p.Key, strings.TrimPrefix(agentError(f.h.address(), err), "Error: ")))
			return 1
		}
		c.UI.Output("Imported: " + p.Key)
	}
	return 0
}
