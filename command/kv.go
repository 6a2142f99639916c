package command

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/hashicorp/cli"
	"github.com/hashicorp/consul/api"
)

// KVCommand is the parent of the kv verbs.
type KVCommand struct{}

var _ cli.Command = (*KVCommand)(nil)

// Synopsis implements cli.Command.
func (c *KVCommand) Synopsis() string { return "Interact with the key-value store" }

// Help implements cli.Command.
func (c *KVCommand) Help() string {
	return strings.TrimSpace(`
Usage: meridian kv <subcommand> [options] [args]

  Reads and writes the key-value store of a datacenter. Keys are paths such
  as "app/config/port"; values are arbitrary bytes of up to 512 KiB.

    meridian kv put redis/config/connections 5
    meridian kv get redis/config/connections
    meridian kv get -recurse redis/
    meridian kv get -keys redis/
    meridian kv delete -recurse redis/
    meridian kv export redis/ > redis.json
    meridian kv import @redis.json

  Run "meridian kv <subcommand> -h" for a subcommand's options.
`)
}

// Run implements cli.Command.
func (c *KVCommand) Run(args []string) int { return cli.RunResultHelp }

// trimKey strips a leading slash: keys cannot start with one, but users
// will write "/foo", as Consul's CLI forgives.
func trimKey(key string) string {
	return strings.TrimPrefix(key, "/")
}

// readData resolves a value argument: "@file" reads the file, "-" reads
// stdin, anything else is the value itself.
func readData(arg string, stdin io.Reader) ([]byte, error) {
	switch {
	case strings.HasPrefix(arg, "@"):
		buf, err := os.ReadFile(arg[1:])
		if err != nil {
			return nil, fmt.Errorf("cannot read file %q: %w", arg[1:], err)
		}
		return buf, nil
	case arg == "-":
		if stdin == nil {
			stdin = os.Stdin
		}
		var b bytes.Buffer
		if _, err := io.Copy(&b, stdin); err != nil {
			return nil, fmt.Errorf("cannot read stdin: %w", err)
		}
		return b.Bytes(), nil
	}
	return []byte(arg), nil
}

// prettyKVPair writes a key's metadata and value, one field a line, as
// Consul's "kv get -detailed".
func prettyKVPair(pair *api.KVPair, base64Value bool) string {
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 2, 6, ' ', 0)
	fmt.Fprintf(tw, "CreateIndex\t%d\n", pair.CreateIndex)
	fmt.Fprintf(tw, "Flags\t%d\n", pair.Flags)
	fmt.Fprintf(tw, "Key\t%s\n", pair.Key)
	fmt.Fprintf(tw, "LockIndex\t%d\n", pair.LockIndex)
	fmt.Fprintf(tw, "ModifyIndex\t%d\n", pair.ModifyIndex)
	session := pair.Session
	if session == "" {
		session = "-"
	}
	fmt.Fprintf(tw, "Session\t%s\n", session)
	fmt.Fprintf(tw, "Value\t%s", valueText(pair.Value, base64Value))
	tw.Flush()
	return b.String()
}

func valueText(v []byte, base64Value bool) string {
	if base64Value {
		return base64.StdEncoding.EncodeToString(v)
	}
	return string(v)
}

// kvExportEntry is one key in the export format, as Consul's "kv export":
// the value base64-encoded.
type kvExportEntry struct {
	Key   string `json:"key"`
	Flags uint64 `json:"flags"`
	Value string `json:"value"`
}
