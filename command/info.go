package command

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/cli"
)

// InfoCommand prints the agent's runtime statistics.
type InfoCommand struct {
	UI cli.Ui
}

var _ cli.Command = (*InfoCommand)(nil)

// Synopsis implements cli.Command.
func (c *InfoCommand) Synopsis() string { return "Provides debugging information for operators" }

func (c *InfoCommand) flags() *httpFlagsSet {
	fs := newFlagSet("info")
	h := &httpFlags{}
	h.addHTTPFlags(fs)
	return &httpFlagsSet{fs: fs, h: h}
}

// Help implements cli.Command.
func (c *InfoCommand) Help() string {
	return strings.TrimSpace(`
Usage: meridian info [options]

  Prints the agent's statistics by section: agent and build, Raft state
  (servers), and both gossip pools.

Options:

`) + "\n" + flagHelp(c.flags().fs)
}

// Run implements cli.Command.
func (c *InfoCommand) Run(args []string) int {
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
	self, err := client.Agent().Self()
	if err != nil {
		c.UI.Error(agentError(f.h.address(), err))
		return 1
	}
	stats, ok := self["Stats"]
	if !ok {
		c.UI.Error("Error: the agent's answer has no Stats section")
		return 1
	}
	sections := make([]string, 0, len(stats))
	for k := range stats {
		sections = append(sections, k)
	}
	sort.Strings(sections)
	for _, sec := range sections {
		c.UI.Output(sec + ":")
		vals, _ := stats[sec].(map[string]any)
		keys := make([]string, 0, len(vals))
		for k := range vals {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			c.UI.Output(fmt.Sprintf("\t%s = %v", k, vals[k]))
		}
	}
	return 0
}
