package command

import (
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/hashicorp/cli"
	"github.com/hashicorp/consul/api"
)

// KVPutCommand writes a key: plainly, with check-and-set, or while taking
// or releasing a lock.
type KVPutCommand struct {
	UI cli.Ui
	// Stdin is read for the value "-"; nil means os.Stdin.
	Stdin io.Reader
}

var _ cli.Command = (*KVPutCommand)(nil)

// Synopsis implements cli.Command.
func (c *KVPutCommand) Synopsis() string { return "Sets or updates data in the key-value store" }

type kvPutFlags struct {
	*httpFlagsSet
	acquire, release, cas, base64 *bool
	flags, modifyIndex            *uint64
	session                       *string
}

func (c *KVPutCommand) flags() kvPutFlags {
	fs := newFlagSet("kv put")
	h := &httpFlags{}
	h.addHTTPFlags(fs)
	h.addDCFlags(fs)
	return kvPutFlags{
		httpFlagsSet: &httpFlagsSet{fs: fs, h: h},
		acquire:      fs.Bool("acquire", false, "Take the lock on the key for -session while writing it. Fails if another session holds it."),
		release:      fs.Bool("release", false, "Release the lock -session holds on the key while writing it."),
		cas:          fs.Bool("cas", false, "Check-and-set: write only if the key's ModifyIndex is still -modify-index (0: only if the key does not exist)."),
		base64:       fs.Bool("base64", false, "The value is base64-encoded; it is decoded before it is stored."),
		flags:        fs.Uint64("flags", 0, "An unsigned integer stored with the key for the application's use."),
		modifyIndex:  fs.Uint64("modify-index", 0, "The ModifyIndex the key must have for -cas."),
		session:      fs.String("session", "", "The session ID for -acquire or -release."),
	}
}

// Help implements cli.Command.
func (c *KVPutCommand) Help() string {
	return strings.TrimSpace(`
Usage: meridian kv put [options] KEY [DATA]

  Writes DATA to KEY, creating or replacing it. DATA may be given inline,
  read from a file with @file, or from stdin with -; without DATA the key
  holds an empty value.

    $ meridian kv put redis/config/connections 5
    $ meridian kv put app/cert @cert.pem
    $ echo hello | meridian kv put app/greeting -

  -cas writes only if the key is unchanged since -modify-index was read
  (-modify-index=0: only if the key does not exist yet). -acquire and
  -release take or drop a lock for -session while writing.

Options:

`) + "\n" + flagHelp(c.flags().fs)
}

// Run implements cli.Command.
func (c *KVPutCommand) Run(args []string) int {
	f := c.flags()
	if err := f.fs.Parse(args); err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	setFlags := map[string]bool{}
	f.fs.Visit(func(fl *flag.Flag) { setFlags[fl.Name] = true })

	var key, data string
	switch n := f.fs.NArg(); n {
	case 0:
		c.UI.Error("Error! Missing KEY argument")
		return 1
	case 1:
		key = f.fs.Arg(0)
	case 2:
		key, data = f.fs.Arg(0), f.fs.Arg(1)
	default:
		c.UI.Error(fmt.Sprintf("Error! Too many arguments (expected 1 or 2, got %d)", n))
		return 1
	}
	key = trimKey(key)
	if key == "" {
		c.UI.Error("Error! Missing KEY argument")
		return 1
	}
	modes := 0
	for _, m := range []bool{*f.cas, *f.acquire, *f.release} {
		if m {
			modes++
		}
	}
	switch {
	case modes > 1:
		c.UI.Error("Error! Only one of -cas, -acquire and -release may be given")
		return 1
	case *f.cas && !setFlags["modify-index"]:
		c.UI.Error("Error! Must specify -modify-index with -cas")
		return 1
	case !*f.cas && setFlags["modify-index"]:
		c.UI.Error("Error! Cannot specify -modify-index without -cas")
		return 1
	case (*f.acquire || *f.release) && *f.session == "":
		c.UI.Error("Error! Missing -session (required with -acquire and -release)")
		return 1
	case *f.session != "" && !*f.acquire && !*f.release:
		c.UI.Error("Error! -session needs -acquire or -release")
		return 1
	}

	value := []byte(nil)
	if data != "" {
		var err error
		if value, err = readData(data, c.Stdin); err != nil {
			c.UI.Error("Error! " + upperFirst(err.Error()))
			return 1
		}
	}
	if *f.base64 {
		decoded, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(value)))
		if err != nil {
			c.UI.Error(fmt.Sprintf("Error! Cannot parse base64 data: %v", err))
			return 1
		}
		value = decoded
	}

	client, err := f.h.client()
	if err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	pair := &api.KVPair{Key: key, Value: value, Flags: *f.flags, ModifyIndex: *f.modifyIndex, Session: *f.session}
	kv := client.KV()
	switch {
	case *f.cas:
		ok, _, err := kv.CAS(pair, nil)
		if err != nil {
			c.UI.Error(agentError(f.h.address(), err))
			return 1
		}
		if !ok {
			c.UI.Error(fmt.Sprintf("Error! Did not write to %s: CAS failed", key))
			return 1
		}
		c.UI.Output("Success! Data written to: " + key)
	case *f.acquire:
		ok, _, err := kv.Acquire(pair, nil)
		if err != nil {
			c.UI.Error(agentError(f.h.address(), err))
			return 1
		}
		if !ok {
			c.UI.Error("Error! Did not acquire lock on " + key + ": it is held by another session, or a lock delay is in effect")
			return 1
		}
		c.UI.Output("Success! Lock acquired on: " + key)
	case *f.release:
		ok, _, err := kv.Release(pair, nil)
		if err != nil {
			c.UI.Error(agentError(f.h.address(), err))
			return 1
		}
		if !ok {
			c.UI.Error("Error! Did not release lock on " + key + ": the session does not hold it")
			return 1
		}
		c.UI.Output("Success! Lock released on: " + key)
	default:
		if _, err := kv.Put(pair, nil); err != nil {
			c.UI.Error(agentError(f.h.address(), err))
			return 1
		}
		c.UI.Output("Success! Data written to: " + key)
	}
	return 0
}

// upperFirst capitalises the first letter of a message.
func upperFirst(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}
