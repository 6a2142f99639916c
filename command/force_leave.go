package command

import (
	"strings"

	"github.com/hashicorp/cli"
	"github.com/hashicorp/consul/api"
)

// ForceLeaveCommand moves a failed member to the left state, or removes it.
type ForceLeaveCommand struct {
	UI cli.Ui
}

var _ cli.Command = (*ForceLeaveCommand)(nil)

// Synopsis implements cli.Command.
func (c *ForceLeaveCommand) Synopsis() string {
	return "Forces a member of the cluster to enter the \"left\" state"
}

func (c *ForceLeaveCommand) flags() (*httpFlagsSet, *bool, *bool) {
	fs := newFlagSet("force-leave")
	h := &httpFlags{}
	h.addHTTPFlags(fs)
	prune := fs.Bool("prune", false, "Remove the member from the member list entirely instead of marking it left.")
	wan := fs.Bool("wan", false, "Act on the WAN pool (give the node.datacenter name).")
	return &httpFlagsSet{fs: fs, h: h}, prune, wan
}

// Help implements cli.Command.
func (c *ForceLeaveCommand) Help() string {
	f, _, _ := c.flags()
	return strings.TrimSpace(`
Usage: meridian force-leave [options] name

  Forces a failed member into the "left" state, so that it is no longer
  retried and is removed from the catalog (and, for a server, from the Raft
  configuration). With -prune the member is forgotten at once. A member that
  is still alive rejoins by itself.

Options:

`) + "\n" + flagHelp(f.fs)
}

// Run implements cli.Command.
func (c *ForceLeaveCommand) Run(args []string) int {
	f, prune, wan := c.flags()
	if err := f.fs.Parse(args); err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	if f.fs.NArg() != 1 {
		c.UI.Error("Error: force-leave takes exactly one node name")
		return 1
	}
	client, err := f.h.client()
	if err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	node := f.fs.Arg(0)
	if err := client.Agent().ForceLeaveOpts(node, api.ForceLeaveOpts{Prune: *prune, WAN: *wan}); err != nil {
		c.UI.Error(agentError(f.h.address(), err))
		return 1
	}
	return 0
}
