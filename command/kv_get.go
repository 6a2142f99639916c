package command

import (
	"fmt"
	"strings"

	"github.com/hashicorp/cli"
)

// KVGetCommand reads a key, a prefix or the key names under a prefix.
type KVGetCommand struct {
	UI cli.Ui
}

var _ cli.Command = (*KVGetCommand)(nil)

// Synopsis implements cli.Command.
func (c *KVGetCommand) Synopsis() string { return "Retrieves or lists data from the key-value store" }

type kvGetFlags struct {
	*httpFlagsSet
	base64, detailed, keys, recurse *bool
	separator                       *string
}

func (c *KVGetCommand) flags() kvGetFlags {
	fs := newFlagSet("kv get")
	h := &httpFlags{}
	h.addHTTPFlags(fs)
	h.addDCFlags(fs)
	h.addStaleFlag(fs)
	return kvGetFlags{
		httpFlagsSet: &httpFlagsSet{fs: fs, h: h},
		base64:       fs.Bool("base64", false, "Print values base64-encoded."),
		detailed:     fs.Bool("detailed", false, "Print every field of the key (indexes, flags, session) as well as its value."),
		keys:         fs.Bool("keys", false, "List the key names under the prefix instead of values, cut after -separator."),
		recurse:      fs.Bool("recurse", false, "Print every key under the prefix as key:value."),
		separator:    fs.String("separator", "/", "With -keys, list names only up to the first separator after the prefix, like directories. Empty lists every key."),
	}
}

// Help implements cli.Command.
func (c *KVGetCommand) Help() string {
	return strings.TrimSpace(`
Usage: meridian kv get [options] [KEY_OR_PREFIX]

  Prints the value of one key; exits 1 if the key does not exist.

    $ meridian kv get redis/config/connections
    5

  With -recurse every key under a prefix is printed as key:value; with
  -keys the key names under a prefix are listed, up to the next separator:

    $ meridian kv get -keys redis/
    redis/config/

  Values are printed as they are stored; use -base64 for binary data.

Options:

`) + "\n" + flagHelp(c.flags().fs)
}

// Run implements cli.Command.
func (c *KVGetCommand) Run(args []string) int {
	f := c.flags()
	if err := f.fs.Parse(args); err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	key := ""
	switch n := f.fs.NArg(); {
	case n == 1:
		key = trimKey(f.fs.Arg(0))
	case n > 1:
		c.UI.Error(fmt.Sprintf("Error! Too many arguments (expected 1, got %d)", n))
		return 1
	}
	if *f.keys && *f.recurse {
		c.UI.Error("Error! Cannot use -keys with -recurse")
		return 1
	}
	if key == "" && !*f.keys && !*f.recurse {
		c.UI.Error("Error! Missing KEY argument")
		return 1
	}
	client, err := f.h.client()
	if err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	kv := client.KV()
	q := f.h.queryOptions()
	switch {
	case *f.keys:
		keys, _, err := kv.Keys(key, *f.separator, q)
		if err != nil {
			c.UI.Error(agentError(f.h.address(), err))
			return 1
		}
		for _, k := range keys {
			c.UI.Output(k)
		}
	case *f.recurse:
		pairs, _, err := kv.List(key, q)
		if err != nil {
			c.UI.Error(agentError(f.h.address(), err))
			return 1
		}
		for i, p := range pairs {
			if *f.detailed {
				c.UI.Output(prettyKVPair(p, *f.base64))
				if i < len(pairs)-1 {
					c.UI.Output("")
				}
				continue
			}
			c.UI.Output(p.Key + ":" + valueText(p.Value, *f.base64))
		}
	default:
		pair, _, err := kv.Get(key, q)
		if err != nil {
			c.UI.Error(agentError(f.h.address(), err))
			return 1
		}
		if pair == nil {
			c.UI.Error("Error! No key exists at: " + key)
			return 1
		}
		if *f.detailed {
			c.UI.Output(prettyKVPair(pair, *f.base64))
		} else {
			c.UI.Output(valueText(pair.Value, *f.base64))
		}
	}
	return 0
}
