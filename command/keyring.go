package command

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/cli"
	"github.com/hashicorp/consul/api"
)

// KeyringCommand lists and rotates the gossip encryption keys of every
// pool, through /v1/operator/keyring.
type KeyringCommand struct {
	UI cli.Ui
}

var _ cli.Command = (*KeyringCommand)(nil)

// Synopsis implements cli.Command.
func (c *KeyringCommand) Synopsis() string { return "Manages gossip layer encryption keys" }

type keyringFlags struct {
	*httpFlagsSet
	list, listPrimary    *bool
	install, use, remove *string
	relay                *int
	localOnly            *bool
}

func (c *KeyringCommand) flags() *keyringFlags {
	fs := newFlagSet("keyring")
	h := &httpFlags{}
	h.addHTTPFlags(fs)
	return &keyringFlags{
		httpFlagsSet: &httpFlagsSet{fs: fs, h: h},
		list:         fs.Bool("list", false, "List the keys installed in every pool, with how many members hold each."),
		listPrimary:  fs.Bool("list-primary", false, "List the primary key of every pool, with how many members use it."),
		install:      fs.String("install", "", "Install a new key on every member. It is then accepted but not yet used to encrypt."),
		use:          fs.String("use", "", "Make an installed key the primary key, the one every member encrypts with."),
		remove:       fs.String("remove", "", "Remove a key from every member. The primary key cannot be removed."),
		relay: fs.Int("relay-factor", 0, "Have each member relay its answer through this many other members "+
			"(0 to 5), for lossy networks."),
		localOnly: fs.Bool("local-only", false, "With -list or -list-primary: ask only the agent's own datacenter's LAN pool."),
	}
}

// Help implements cli.Command.
func (c *KeyringCommand) Help() string {
	f := c.flags()
	return strings.TrimSpace(`
Usage: meridian keyring [options]

  Manages the encryption keys of the gossip pools. When gossip is
  encrypted (-encrypt), this lists the keys in use and rotates them without
  stopping the cluster: install a new key, make it primary, remove the old
  one. Each operation covers the WAN pool and the LAN pool of every
  datacenter, and every member's keyring file in its data directory.

  Exactly one of -list, -list-primary, -install, -use or -remove is
  required. The exit code is 0 when every member of every pool answered
  without error, 1 otherwise.

Options:

`) + "\n" + flagHelp(f.fs)
}

// Run implements cli.Command.
func (c *KeyringCommand) Run(args []string) int {
	f := c.flags()
	if err := f.fs.Parse(args); err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	if f.fs.NArg() > 0 {
		c.UI.Error(fmt.Sprintf("Error: unexpected argument %q; keys are given to -install, -use or -remove", f.fs.Arg(0)))
		return 1
	}
	actions := 0
	for _, set := range []bool{*f.list, *f.listPrimary, *f.install != "", *f.use != "", *f.remove != ""} {
		if set {
			actions++
		}
	}
	if actions != 1 {
		c.UI.Error("Error: exactly one of -list, -list-primary, -install, -use or -remove is required")
		return 1
	}
	if *f.relay < 0 || *f.relay > 5 {
		c.UI.Error(fmt.Sprintf("Error: -relay-factor must be in range [0, 5], got %d", *f.relay))
		return 1
	}
	listing := *f.list || *f.listPrimary
	if *f.localOnly && !listing {
		c.UI.Error("Error: -local-only can only be used with -list or -list-primary")
		return 1
	}
	client, err := f.h.client()
	if err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	op := client.Operator()
	relay := uint8(*f.relay)

	if listing {
		if *f.list {
			c.info("Gathering installed encryption keys...")
		} else {
			c.info("Gathering installed primary encryption keys...")
		}
		pools, err := op.KeyringList(&api.QueryOptions{RelayFactor: relay, LocalOnly: *f.localOnly})
		if err != nil {
			c.UI.Error(agentError(f.h.address(), err))
			return 1
		}
		for _, p := range pools {
			keys := p.Keys
			if *f.listPrimary {
				keys = p.PrimaryKeys
			}
			c.UI.Output(formatKeyringPool(p, keys))
		}
		return 0
	}

	wo := &api.WriteOptions{RelayFactor: relay}
	switch {
	case *f.install != "":
		c.info("Installing new gossip encryption key...")
		err = op.KeyringInstall(*f.install, wo)
	case *f.use != "":
		c.info("Changing primary gossip encryption key...")
		err = op.KeyringUse(*f.use, wo)
	default:
		c.info("Removing gossip encryption key...")
		err = op.KeyringRemove(*f.remove, wo)
	}
	if err != nil {
		c.UI.Error(agentError(f.h.address(), err))
		return 1
	}
	return 0
}

// info prints a progress line as Consul's keyring verb does.
func (c *KeyringCommand) info(msg string) { c.UI.Info("==> " + msg) }

// formatKeyringPool renders one pool as Consul does: a blank line, the
// pool's name ("WAN:" or "dc1 (LAN):"), the members' messages, then each
// key with how many of the pool's members hold it, sorted for stable
// output.
func formatKeyringPool(p *api.KeyringResponse, keys map[string]int) string {
	var b strings.Builder
	b.WriteString("\n")
	if p.WAN {
		b.WriteString("WAN")
	} else {
		b.WriteString(p.Datacenter + " (LAN)")
	}
	if p.Segment != "" {
		fmt.Fprintf(&b, " [%s]", p.Segment)
	}
	b.WriteString(":\n")
	froms := make([]string, 0, len(p.Messages))
	for from := range p.Messages {
		froms = append(froms, from)
	}
	sort.Strings(froms)
	for _, from := range froms {
		fmt.Fprintf(&b, "  ===> %s: %s\n", from, p.Messages[from])
	}
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		fmt.Fprintf(&b, "  %s [%d/%d]\n", k, keys[k], p.NumNodes)
	}
	return strings.TrimRight(b.String(), "\n")
}
