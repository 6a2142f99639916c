package command

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/cli"
	"github.com/hashicorp/consul/api"
)

// CatalogCommand is the parent of the catalog verbs.
type CatalogCommand struct{}

var _ cli.Command = (*CatalogCommand)(nil)

// Synopsis implements cli.Command.
func (c *CatalogCommand) Synopsis() string { return "Interact with the catalog" }

// Help implements cli.Command.
func (c *CatalogCommand) Help() string {
	return strings.TrimSpace(`
Usage: meridian catalog <subcommand> [options]

  Reads the catalog of a datacenter: datacenters, nodes and services.

    meridian catalog datacenters
    meridian catalog nodes [-service=web] [-detailed]
    meridian catalog services [-node=web1] [-tags]

  Every subcommand takes -datacenter to read another datacenter.
`)
}

// Run implements cli.Command.
func (c *CatalogCommand) Run(args []string) int { return cli.RunResultHelp }

// CatalogDatacentersCommand lists datacenters, nearest first.
type CatalogDatacentersCommand struct {
	UI cli.Ui
}

var _ cli.Command = (*CatalogDatacentersCommand)(nil)

// Synopsis implements cli.Command.
func (c *CatalogDatacentersCommand) Synopsis() string { return "Lists all known datacenters" }

func (c *CatalogDatacentersCommand) flags() *httpFlagsSet {
	fs := newFlagSet("catalog datacenters")
	h := &httpFlags{}
	h.addHTTPFlags(fs)
	return &httpFlagsSet{fs: fs, h: h}
}

// Help implements cli.Command.
func (c *CatalogDatacentersCommand) Help() string {
	return strings.TrimSpace(`
Usage: meridian catalog datacenters [options]

  Lists the datacenters known through the WAN pool, nearest first by
  estimated round-trip time (the local datacenter first).

Options:

`) + "\n" + flagHelp(c.flags().fs)
}

// Run implements cli.Command.
func (c *CatalogDatacentersCommand) Run(args []string) int {
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
	dcs, err := client.Catalog().Datacenters()
	if err != nil {
		c.UI.Error(agentError(f.h.address(), err))
		return 1
	}
	for _, dc := range dcs {
		c.UI.Output(dc)
	}
	return 0
}

// CatalogNodesCommand lists nodes.
type CatalogNodesCommand struct {
	UI cli.Ui
}

var _ cli.Command = (*CatalogNodesCommand)(nil)

// Synopsis implements cli.Command.
func (c *CatalogNodesCommand) Synopsis() string { return "Lists all nodes in the given datacenter" }

type catalogNodesFlags struct {
	*httpFlagsSet
	service  *string
	detailed *bool
	near     *string
	nodeMeta *string
	filter   *string
}

func (c *CatalogNodesCommand) flags() catalogNodesFlags {
	fs := newFlagSet("catalog nodes")
	h := &httpFlags{}
	h.addHTTPFlags(fs)
	h.addDCFlags(fs)
	h.addStaleFlag(fs)
	return catalogNodesFlags{
		httpFlagsSet: &httpFlagsSet{fs: fs, h: h},
		service:      fs.String("service", "", "Only list nodes that provide this service."),
		detailed:     fs.Bool("detailed", false, "Show the node ID, tagged addresses and meta."),
		near:         fs.String("near", "", "Sort by round-trip time from this node (_agent for this agent)."),
		nodeMeta:     fs.String("node-meta", "", "Only list nodes with this key:value meta pair."),
		filter:       fs.String("filter", "", "Only list nodes that match this filter expression (with -service, over the service's instances)."),
	}
}

// Help implements cli.Command.
func (c *CatalogNodesCommand) Help() string {
	return strings.TrimSpace(`
Usage: meridian catalog nodes [options]

  Lists the nodes of the datacenter with their ID prefix, address and
  datacenter.

Options:

`) + "\n" + flagHelp(c.flags().fs)
}

// Run implements cli.Command.
func (c *CatalogNodesCommand) Run(args []string) int {
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
	q := f.h.queryOptions()
	q.Near = *f.near
	q.Filter = *f.filter
	if *f.nodeMeta != "" {
		k, v, ok := strings.Cut(*f.nodeMeta, ":")
		if !ok {
			c.UI.Error(fmt.Sprintf("Error: invalid -node-meta %q: must be key:value", *f.nodeMeta))
			return 1
		}
		q.NodeMeta = map[string]string{k: v}
	}
	var nodes []*api.Node
	if *f.service != "" {
		svcs, _, err := client.Catalog().Service(*f.service, "", q)
		if err != nil {
			c.UI.Error(agentError(f.h.address(), err))
			return 1
		}
		seen := map[string]bool{}
		for _, s := range svcs {
			if seen[s.Node] {
				continue
			}
			seen[s.Node] = true
			nodes = append(nodes, &api.Node{ID: s.ID, Node: s.Node, Address: s.Address, Datacenter: s.Datacenter,
				TaggedAddresses: s.TaggedAddresses, Meta: s.NodeMeta})
		}
	} else {
		nodes, _, err = client.Catalog().Nodes(q)
		if err != nil {
			c.UI.Error(agentError(f.h.address(), err))
			return 1
		}
	}
	if len(nodes) == 0 {
		c.UI.Error("No nodes match the given query - try expanding your search.")
		return 0
	}
	var rows []string
	if *f.detailed {
		rows = append(rows, "Node\x1fID\x1fAddress\x1fDC\x1fTaggedAddresses\x1fMeta")
		for _, n := range nodes {
			rows = append(rows, strings.Join([]string{n.Node, n.ID, n.Address, n.Datacenter, mapText(n.TaggedAddresses), mapText(n.Meta)}, "\x1f"))
		}
	} else {
		rows = append(rows, "Node\x1fID\x1fAddress\x1fDC")
		for _, n := range nodes {
			id := n.ID
			if len(id) > 8 {
				id = id[:8]
			}
			rows = append(rows, strings.Join([]string{n.Node, id, n.Address, n.Datacenter}, "\x1f"))
		}
	}
	c.UI.Output(columnize(rows))
	return 0
}

func mapText(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, ", ")
}

// CatalogServicesCommand lists services.
type CatalogServicesCommand struct {
	UI cli.Ui
}

var _ cli.Command = (*CatalogServicesCommand)(nil)

// Synopsis implements cli.Command.
func (c *CatalogServicesCommand) Synopsis() string {
	return "Lists all registered services in a datacenter"
}

func (c *CatalogServicesCommand) flags() (*httpFlagsSet, *string, *bool) {
	fs := newFlagSet("catalog services")
	h := &httpFlags{}
	h.addHTTPFlags(fs)
	h.addDCFlags(fs)
	h.addStaleFlag(fs)
	node := fs.String("node", "", "Only list the services of this node.")
	tags := fs.Bool("tags", false, "Show each service's tags.")
	return &httpFlagsSet{fs: fs, h: h}, node, tags
}

// Help implements cli.Command.
func (c *CatalogServicesCommand) Help() string {
	f, _, _ := c.flags()
	return strings.TrimSpace(`
Usage: meridian catalog services [options]

  Lists the service names registered in the datacenter, or on one node.

Options:

`) + "\n" + flagHelp(f.fs)
}

// Run implements cli.Command.
func (c *CatalogServicesCommand) Run(args []string) int {
	f, node, showTags := c.flags()
	if err := f.fs.Parse(args); err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	client, err := f.h.client()
	if err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	services := map[string][]string{}
	if *node != "" {
		cn, _, err := client.Catalog().Node(*node, f.h.queryOptions())
		if err != nil {
			c.UI.Error(agentError(f.h.address(), err))
			return 1
		}
		if cn == nil {
			c.UI.Error(fmt.Sprintf("Error: node %q not found", *node))
			return 1
		}
		for _, s := range cn.Services {
			services[s.Service] = append(services[s.Service], s.Tags...)
		}
	} else {
		services, _, err = client.Catalog().Services(f.h.queryOptions())
		if err != nil {
			c.UI.Error(agentError(f.h.address(), err))
			return 1
		}
	}
	if len(services) == 0 {
		c.UI.Error("No services match the given query - try expanding your search.")
		return 0
	}
	names := make([]string, 0, len(services))
	for n := range services {
		names = append(names, n)
	}
	sort.Strings(names)
	if !*showTags {
		for _, n := range names {
			c.UI.Output(n)
		}
		return 0
	}
	rows := make([]string, 0, len(names))
	for _, n := range names {
		tags := append([]string(nil), services[n]...)
		sort.Strings(tags)
		rows = append(rows, n+"\x1f"+strings.Join(tags, ","))
	}
	c.UI.Output(columnize(rows))
	return 0
}
