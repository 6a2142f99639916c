package command

import (
	"net/url"
	"strings"

	"github.com/hashicorp/cli"
)

// LeaveCommand makes the agent leave the cluster gracefully and stop.
type LeaveCommand struct {
	UI cli.Ui
}

var _ cli.Command = (*LeaveCommand)(nil)

// Synopsis implements cli.Command.
func (c *LeaveCommand) Synopsis() string { return "Gracefully leaves the cluster and shuts down" }

func (c *LeaveCommand) flags() (*httpFlagsSet, *bool) {
	fs := newFlagSet("leave")
	h := &httpFlags{}
	h.addHTTPFlags(fs)
	wan := fs.Bool("wan", false, "Leave only the WAN pool: the server stays in its datacenter and keeps running (servers only).")
	return &httpFlagsSet{fs: fs, h: h}, wan
}

// Help implements cli.Command.
func (c *LeaveCommand) Help() string {
	f, _ := c.flags()
	return strings.TrimSpace(`
Usage: meridian leave [options]

  Makes the agent leave its gossip pools gracefully and shut down. A server
  also leaves the Raft configuration, so that the remaining servers keep
  their quorum.

  With -wan a server leaves only the WAN pool: other datacenters stop
  routing to it, while it keeps serving its own datacenter.

Options:

`) + "\n" + flagHelp(f.fs)
}

// Run implements cli.Command.
func (c *LeaveCommand) Run(args []string) int {
	f, wan := c.flags()
	if err := f.fs.Parse(args); err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	if f.fs.NArg() > 0 {
		c.UI.Error("Error: leave takes no arguments")
		return 1
	}
	client, err := f.h.client()
	if err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	if *wan {
		if err := f.h.put("/v1/agent/leave", url.Values{"wan": {"1"}}); err != nil {
			c.UI.Error(agentError(f.h.address(), err))
			return 1
		}
		c.UI.Output("Left the WAN pool")
		return 0
	}
	if err := client.Agent().Leave(); err != nil {
		c.UI.Error(agentError(f.h.address(), err))
		return 1
	}
	c.UI.Output("Graceful leave complete")
	return 0
}
