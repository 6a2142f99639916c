package command

import (
	"flag"
	"fmt"
	"strings"

	"github.com/hashicorp/cli"
	"github.com/hashicorp/consul/api"
)

// KVDeleteCommand deletes a key or every key under a prefix.
type KVDeleteCommand struct {
	UI cli.Ui
}

var _ cli.Command = (*KVDeleteCommand)(nil)

// Synopsis implements cli.Command.
func (c *KVDeleteCommand) Synopsis() string { return "Removes data from the key-value store" }

type kvDeleteFlags struct {
	*httpFlagsSet
	cas, recurse *bool
	modifyIndex  *uint64
}

func (c *KVDeleteCommand) flags() kvDeleteFlags {
	fs := newFlagSet("kv delete")
	h := &httpFlags{}
	h.addHTTPFlags(fs)
	h.addDCFlags(fs)
	return kvDeleteFlags{
		httpFlagsSet: &httpFlagsSet{fs: fs, h: h},
		cas:          fs.Bool("cas", false, "Check-and-set: delete only if the key's ModifyIndex is still -modify-index."),
		recurse:      fs.Bool("recurse", false, "Delete every key under the prefix."),
		modifyIndex:  fs.Uint64("modify-index", 0, "The ModifyIndex the key must have for -cas."),
	}
}

// Help implements cli.Command.
func (c *KVDeleteCommand) Help() string {
	return strings.TrimSpace(`
Usage: meridian kv delete [options] KEY_OR_PREFIX

  Deletes a key, or with -recurse every key under a prefix. Deleting a key
  that does not exist succeeds.

    $ meridian kv delete redis/config/connections
    $ meridian kv delete -recurse redis/

  -cas deletes only if the key is unchanged since -modify-index was read.

Options:

`) + "\n" + flagHelp(c.flags().fs)
}

// Run implements cli.Command.
func (c *KVDeleteCommand) Run(args []string) int {
	f := c.flags()
	if err := f.fs.Parse(args); err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	setFlags := map[string]bool{}
	f.fs.Visit(func(fl *flag.Flag) { setFlags[fl.Name] = true })
	key := ""
	switch n := f.fs.NArg(); {
	case n == 1:
		key = trimKey(f.fs.Arg(0))
	case n > 1:
		c.UI.Error(fmt.Sprintf("Error! Too many arguments (expected 1, got %d)", n))
		return 1
	}
	switch {
	case *f.cas && *f.recurse:
		c.UI.Error("Error! Cannot specify both -cas and -recurse")
		return 1
	case *f.cas && !setFlags["modify-index"]:
		c.UI.Error("Error! Must specify -modify-index with -cas")
		return 1
	case !*f.cas && setFlags["modify-index"]:
		c.UI.Error("Error! Cannot specify -modify-index without -cas")
		return 1
	case key == "" && !*f.recurse:
		c.UI.Error("Error! Missing KEY argument")
		return 1
	}
	client, err := f.h.client()
	if err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	kv := client.KV()
	switch {
	case *f.recurse:
		if _, err := kv.DeleteTree(key, nil); err != nil {
			c.UI.Error(agentError(f.h.address(), err))
			return 1
		}
		c.UI.Output("Success! Deleted keys with prefix: " + key)
	case *f.cas:
		ok, _, err := kv.DeleteCAS(&api.KVPair{Key: key, ModifyIndex: *f.modifyIndex}, nil)
		if err != nil {
			c.UI.Error(agentError(f.h.address(), err))
			return 1
		}
		if !ok {
			c.UI.Error(fmt.Sprintf("Error! Did not delete key %s: CAS failed", key))
			return 1
		}
		c.UI.Output("Success! Deleted key: " + key)
	default:
		if _, err := kv.Delete(key, nil); err != nil {
			c.UI.Error(agentError(f.h.address(), err))
			return 1
		}
		c.UI.Output("Success! Deleted key: " + key)
	}
	return 0
}
