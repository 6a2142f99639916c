package command

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/cli"
	"github.com/hashicorp/consul/api"

	"github.com/meridian-sd/meridian/structs"
)

// MaintCommand puts the node or one of its services in maintenance mode,
// takes it out, or shows what is in maintenance.
type MaintCommand struct {
	UI cli.Ui
}

var _ cli.Command = (*MaintCommand)(nil)

// Synopsis implements cli.Command.
func (c *MaintCommand) Synopsis() string { return "Controls node or service maintenance mode" }

type maintFlags struct {
	*httpFlagsSet
	enable, disable *bool
	reason, service *string
}

func (c *MaintCommand) flags() maintFlags {
	fs := newFlagSet("maint")
	h := &httpFlags{}
	h.addHTTPFlags(fs)
	return maintFlags{
		httpFlagsSet: &httpFlagsSet{fs: fs, h: h},
		enable:       fs.Bool("enable", false, "Enable maintenance mode."),
		disable:      fs.Bool("disable", false, "Disable maintenance mode."),
		reason:       fs.String("reason", "", "Why maintenance mode is enabled, shown as the notes of the maintenance check."),
		service:      fs.String("service", "", "The ID of the service to act on instead of the whole node."),
	}
}

// Help implements cli.Command.
func (c *MaintCommand) Help() string {
	return strings.TrimSpace(`
Usage: meridian maint [options]

  Places the node, or one of its services, in maintenance mode: a critical
  check is added that takes it out of DNS and out of passing-only health
  queries until maintenance is disabled again. Maintenance mode survives an
  agent restart.

  Without -enable or -disable, shows what is in maintenance on the agent.

    meridian maint -enable -reason="kernel upgrade"
    meridian maint -enable -service=redis1
    meridian maint -disable -service=redis1
    meridian maint

Options:

`) + "\n" + flagHelp(c.flags().fs)
}

// Run implements cli.Command.
func (c *MaintCommand) Run(args []string) int {
	f := c.flags()
	if err := f.fs.Parse(args); err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	if len(f.fs.Args()) > 0 {
		c.UI.Error(fmt.Sprintf("Error: unexpected argument %q (maint takes only flags)", f.fs.Args()[0]))
		return 1
	}
	switch {
	case *f.enable && *f.disable:
		c.UI.Error("Error: only one of -enable or -disable may be given")
		return 1
	case *f.reason != "" && !*f.enable:
		c.UI.Error("Error: -reason may only be given with -enable")
		return 1
	case *f.service != "" && !*f.enable && !*f.disable:
		c.UI.Error("Error: -service needs -enable or -disable")
		return 1
	}
	client, err := f.h.client()
	if err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	ag := client.Agent()
	if !*f.enable && !*f.disable {
		return c.list(f, ag)
	}
	switch {
	case *f.enable && *f.service == "":
		err = ag.EnableNodeMaintenance(*f.reason)
	case *f.enable:
		err = ag.EnableServiceMaintenance(*f.service, *f.reason)
	case *f.service == "":
		err = ag.DisableNodeMaintenance()
	default:
		err = ag.DisableServiceMaintenance(*f.service)
	}
	if err != nil {
		c.UI.Error(agentError(f.h.address(), err))
		return 1
	}
	switch {
	case *f.enable && *f.service == "":
		c.UI.Output("Node entered maintenance mode")
	case *f.enable:
		c.UI.Output("Service entered maintenance mode: " + *f.service)
	case *f.service == "":
		c.UI.Output("Node left maintenance mode")
	default:
		c.UI.Output("Service left maintenance mode: " + *f.service)
	}
	return 0
}

// list prints the maintenance checks of the agent, as Consul's maint does.
func (c *MaintCommand) list(f maintFlags, ag *api.Agent) int {
	checks, err := ag.Checks()
	if err != nil {
		c.UI.Error(agentError(f.h.address(), err))
		return 1
	}
	var node *api.AgentCheck
	var services []*api.AgentCheck
	for id, chk := range checks {
		switch {
		case id == structs.NodeMaintCheckID:
			node = chk
		case strings.HasPrefix(id, structs.ServiceMaintPrefix):
			services = append(services, chk)
		}
	}
	sort.Slice(services, func(i, j int) bool { return services[i].ServiceID < services[j].ServiceID })
	if node != nil {
		name, err := ag.NodeName()
		if err != nil {
			c.UI.Error(agentError(f.h.address(), err))
			return 1
		}
		c.UI.Output("Node:")
		c.UI.Output("  Name:   " + name)
		c.UI.Output("  Reason: " + node.Notes)
		c.UI.Output("")
	}
	for _, s := range services {
		c.UI.Output("Service:")
		c.UI.Output("  ID:     " + s.ServiceID)
		c.UI.Output("  Reason: " + s.Notes)
		c.UI.Output("")
	}
	if node == nil && len(services) == 0 {
		c.UI.Output("Nothing is in maintenance mode")
	}
	return 0
}
