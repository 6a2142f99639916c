package command

import (
	"strings"

	"github.com/hashicorp/cli"
)

// ReloadCommand makes the agent re-read its configuration.
type ReloadCommand struct {
	UI cli.Ui
}

var _ cli.Command = (*ReloadCommand)(nil)

// Synopsis implements cli.Command.
func (c *ReloadCommand) Synopsis() string { return "Triggers the agent to reload configuration files" }

func (c *ReloadCommand) flags() *httpFlagsSet {
	fs := newFlagSet("reload")
	h := &httpFlags{}
	h.addHTTPFlags(fs)
	return &httpFlagsSet{fs: fs, h: h}
}

// Help implements cli.Command.
func (c *ReloadCommand) Help() string {
	return strings.TrimSpace(`
Usage: meridian reload [options]

  Makes the agent re-read its configuration files, as SIGHUP does. It
  applies the log level, the node meta, the services and checks defined in
  the files and the DNS answer settings; a change to anything else (node
  name, datacenter, addresses, ...) is logged and waits for a restart.

Options:

`) + "\n" + flagHelp(c.flags().fs)
}

// Run implements cli.Command.
func (c *ReloadCommand) Run(args []string) int {
	f := c.flags()
	if err := f.fs.Parse(args); err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	client, err := f.h.client()
	if err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	if err := client.Agent().Reload(); err != nil {
		c.UI.Error(agentError(f.h.address(), err))
		return 1
	}
	c.UI.Output("Configuration reload triggered")
	return 0
}
