package command

import (
	"fmt"
	"strings"

	"github.com/hashicorp/cli"
	"github.com/hashicorp/serf/coordinate"
)

// RTTCommand estimates the round-trip time between two nodes from their
// network coordinates.
type RTTCommand struct {
	UI cli.Ui
}

var _ cli.Command = (*RTTCommand)(nil)

// Synopsis implements cli.Command.
func (c *RTTCommand) Synopsis() string { return "Estimates network round trip time between nodes" }

func (c *RTTCommand) flags() (*httpFlagsSet, *bool) {
	fs := newFlagSet("rtt")
	h := &httpFlags{}
	h.addHTTPFlags(fs)
	h.addDCFlags(fs)
	wan := fs.Bool("wan", false, "Use WAN coordinates: nodes are servers named node.datacenter.")
	return &httpFlagsSet{fs: fs, h: h}, wan
}

// Help implements cli.Command.
func (c *RTTCommand) Help() string {
	f, _ := c.flags()
	return strings.TrimSpace(`
Usage: meridian rtt [options] node1 [node2]

  Estimates the round-trip time between two nodes from their network
  coordinates. Without node2 the agent's own node is used. With -wan the
  nodes are servers in the WAN pool, named node.datacenter, and the
  estimate is between datacenters.

Options:

`) + "\n" + flagHelp(f.fs)
}

// Run implements cli.Command.
func (c *RTTCommand) Run(args []string) int {
	f, wan := c.flags()
	if err := f.fs.Parse(args); err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	nodes := f.fs.Args()
	if len(nodes) < 1 || len(nodes) > 2 {
		c.UI.Error("Error: rtt takes one or two node names")
		return 1
	}
	client, err := f.h.client()
	if err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	if len(nodes) == 1 {
		self, err := client.Agent().Self()
		if err != nil {
			c.UI.Error(agentError(f.h.address(), err))
			return 1
		}
		cfg, _ := self["Config"]
		name, _ := cfg["NodeName"].(string)
		if *wan {
			dc, _ := cfg["Datacenter"].(string)
			name = name + "." + dc
		}
		nodes = append(nodes, name)
	}
	coords := map[string]*coordinate.Coordinate{}
	kind := "LAN"
	if *wan {
		kind = "WAN"
		dcs, err := client.Coordinate().Datacenters()
		if err != nil {
			c.UI.Error(agentError(f.h.address(), err))
			return 1
		}
		for _, dc := range dcs {
			for _, e := range dc.Coordinates {
				coords[e.Node] = e.Coord
			}
		}
	} else {
		entries, _, err := client.Coordinate().Nodes(f.h.queryOptions())
		if err != nil {
			c.UI.Error(agentError(f.h.address(), err))
			return 1
		}
		for _, e := range entries {
			if e.Segment == "" {
				coords[e.Node] = e.Coord
			}
		}
	}
	a, ok := coords[nodes[0]]
	if !ok {
		c.UI.Error(fmt.Sprintf("Error: no %s coordinate for node %q (coordinates appear a few seconds after a node joins)", kind, nodes[0]))
		return 1
	}
	b, ok := coords[nodes[1]]
	if !ok {
		c.UI.Error(fmt.Sprintf("Error: no %s coordinate for node %q (coordinates appear a few seconds after a node joins)", kind, nodes[1]))
		return 1
	}
	if !a.IsCompatibleWith(b) {
		c.UI.Error("Error: the two coordinates are not comparable")
		return 1
	}
	rtt := a.DistanceTo(b)
	c.UI.Output(fmt.Sprintf("Estimated %s <-> %s rtt: %.3f ms (using %s coordinates)", nodes[0], nodes[1], rtt.Seconds()*1000, kind))
	return 0
}
