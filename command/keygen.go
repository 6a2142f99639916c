package command

import (
	"strings"

	"github.com/hashicorp/cli"

	"github.com/meridian-sd/meridian/gossip"
)

// KeygenCommand prints a new gossip encryption key.
type KeygenCommand struct {
	UI cli.Ui
}

var _ cli.Command = (*KeygenCommand)(nil)

// Synopsis implements cli.Command.
func (c *KeygenCommand) Synopsis() string { return "Generates a new encryption key" }

// Help implements cli.Command.
func (c *KeygenCommand) Help() string {
	return strings.TrimSpace(`
Usage: meridian keygen

  Prints a new random 32-byte key, base64 encoded, for the -encrypt flag or
  the encrypt config key. Every agent of the cluster needs the same key.
`)
}

// Run implements cli.Command.
func (c *KeygenCommand) Run(args []string) int {
	fs := newFlagSet("keygen")
	if err := fs.Parse(args); err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	if fs.NArg() > 0 {
		c.UI.Error("Error: keygen takes no arguments")
		return 1
	}
	key, err := gossip.GenerateKey()
	if err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	c.UI.Output(key)
	return 0
}
