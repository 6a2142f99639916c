package command

import (
	"regexp"
	"strings"

	"github.com/hashicorp/cli"
	"github.com/hashicorp/consul/api"
)

// EventCommand fires a user event (PUT /v1/event/fire/<name>).
type EventCommand struct {
	UI cli.Ui
}

var _ cli.Command = (*EventCommand)(nil)

// Synopsis implements cli.Command.
func (c *EventCommand) Synopsis() string { return "Fire a new event" }

type eventFlags struct {
	*httpFlagsSet
	name, node, service, tag string
}

func (c *EventCommand) flags() *eventFlags {
	fs := newFlagSet("event")
	h := &httpFlags{}
	h.addHTTPFlags(fs)
	h.addDCFlags(fs)
	f := &eventFlags{httpFlagsSet: &httpFlagsSet{fs: fs, h: h}}
	fs.StringVar(&f.name, "name", "", "The name of the event (required).")
	fs.StringVar(&f.node, "node", "", "A regular expression: only agents whose node name matches keep the event.")
	fs.StringVar(&f.service, "service", "", "A regular expression: only agents with a local service whose name matches keep the event.")
	fs.StringVar(&f.tag, "tag", "", "A regular expression on the tags of the services -service selects (needs -service).")
	return f
}

// Help implements cli.Command.
func (c *EventCommand) Help() string {
	f := c.flags()
	return strings.TrimSpace(`
Usage: meridian event [options] [payload]

  Fires a user event to every agent of a datacenter, through the gossip
  pool. Agents keep the events whose filters match them; list them with
  GET /v1/event/list. Delivery is best effort, and the payload must stay
  small (under 100 bytes): a too large event is refused.

  Example: meridian event -name=deploy -service=web -tag=canary v1.2.3

Options:

`) + "\n" + flagHelp(f.fs)
}

// Run implements cli.Command.
func (c *EventCommand) Run(args []string) int {
	f := c.flags()
	if err := f.fs.Parse(args); err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	if f.name == "" {
		c.UI.Error("Error: an event name must be given with -name")
		return 1
	}
	if f.tag != "" && f.service == "" {
		c.UI.Error("Error: -tag needs -service: the tag filter applies to the services -service selects")
		return 1
	}
	for _, re := range []struct{ flag, expr string }{{"node", f.node}, {"service", f.service}, {"tag", f.tag}} {
		if re.expr == "" {
			continue
		}
		if _, err := regexp.Compile(re.expr); err != nil {
			c.UI.Error("Error: -" + re.flag + " is not a valid regular expression: " + err.Error())
			return 1
		}
	}
	var payload []byte
	switch f.fs.NArg() {
	case 0:
	case 1:
		payload = []byte(f.fs.Arg(0))
	default:
		c.UI.Error("Error: event takes at most one argument, the payload")
		return 1
	}
	client, err := f.h.client()
	if err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	ev := &api.UserEvent{Name: f.name, Payload: payload, NodeFilter: f.node, ServiceFilter: f.service, TagFilter: f.tag}
	id, _, err := client.Event().Fire(ev, &api.WriteOptions{Datacenter: f.h.datacenter})
	if err != nil {
		c.UI.Error(agentError(f.h.address(), err))
		return 1
	}
	c.UI.Output("Event ID: " + id)
	return 0
}
