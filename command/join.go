package command

import (
	"fmt"
	"strings"

	"github.com/hashicorp/cli"
)

// JoinCommand tells the agent to join a pool through existing members.
type JoinCommand struct {
	UI cli.Ui
}

var _ cli.Command = (*JoinCommand)(nil)

// Synopsis implements cli.Command.
func (c *JoinCommand) Synopsis() string { return "Tells a Meridian agent to join the cluster" }

func (c *JoinCommand) flags() (*httpFlagsSet, *bool) {
	fs := newFlagSet("join")
	h := &httpFlags{}
	h.addHTTPFlags(fs)
	wan := fs.Bool("wan", false, "Join the WAN pool (servers only). Run once per datacenter: the other servers of the datacenter follow.")
	return &httpFlagsSet{fs: fs, h: h}, wan
}

// Help implements cli.Command.
func (c *JoinCommand) Help() string {
	f, _ := c.flags()
	return strings.TrimSpace(`
Usage: meridian join [options] address ...

  Tells the running agent to join the cluster by contacting the given
  members. An address without a port means the pool's default port (8301
  for the LAN pool, 8302 with -wan). Joining succeeds if any address is
  reached.

Options:

`) + "\n" + flagHelp(f.fs)
}

// Run implements cli.Command.
func (c *JoinCommand) Run(args []string) int {
	f, wan := c.flags()
	if err := f.fs.Parse(args); err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	addrs := f.fs.Args()
	if len(addrs) == 0 {
		c.UI.Error("Error: at least one address to join is required")
		c.UI.Error("")
		c.UI.Error(c.Help())
		return 1
	}
	client, err := f.h.client()
	if err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	joined := 0
	var lastErr error
	for _, addr := range addrs {
		if err := client.Agent().Join(addr, *wan); err != nil {
			lastErr = err
			continue
		}
		joined++
	}
	if joined == 0 {
		c.UI.Error(fmt.Sprintf("Error joining address(es): %s", strings.TrimPrefix(agentError(f.h.address(), lastErr), "Error: ")))
		return 1
	}
	c.UI.Output(fmt.Sprintf("Successfully joined cluster by contacting %d nodes.", joined))
	return 0
}
