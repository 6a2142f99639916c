package command

import (
	"bytes"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hashicorp/cli"
	"github.com/hashicorp/consul/api"
)

// failoverState is the answer of GET /v1/query/<id>/failover and of the
// failback, and the Failover object of an execute answer.
type failoverState struct {
	QueryID       string
	Active        bool
	Datacenter    string
	Since         time.Time
	Reason        string
	MinPassing    int
	FailbackAfter string
	FailbackMode  string
	LocalPassing  int
}

// printFailoverState writes the state one field a line.
func printFailoverState(ui cli.Ui, name string, st *failoverState) {
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 2, 2, ' ', 0)
	fmt.Fprintf(tw, "Query\t%s\n", name)
	fmt.Fprintf(tw, "Failed over\t%t\n", st.Active)
	fmt.Fprintf(tw, "Datacenter\t%s\n", orDash(st.Datacenter))
	since := "-"
	if !st.Since.IsZero() {
		since = st.Since.Format(time.RFC3339)
	}
	fmt.Fprintf(tw, "Since\t%s\n", since)
	fmt.Fprintf(tw, "Reason\t%s\n", orDash(st.Reason))
	fmt.Fprintf(tw, "Passing locally\t%d\n", st.LocalPassing)
	fmt.Fprintf(tw, "MinPassing\t%d\n", st.MinPassing)
	fmt.Fprintf(tw, "FailbackAfter\t%s\n", orDash(st.FailbackAfter))
	fmt.Fprintf(tw, "FailbackMode\t%s", st.FailbackMode)
	tw.Flush()
	ui.Output(b.String())
}

// QueryFailoverStatusCommand prints a query's sticky failover state.
type QueryFailoverStatusCommand struct {
	UI cli.Ui
}

var _ cli.Command = (*QueryFailoverStatusCommand)(nil)

// Synopsis implements cli.Command.
func (c *QueryFailoverStatusCommand) Synopsis() string {
	return "Shows whether a prepared query is failed over"
}

// Help implements cli.Command.
func (c *QueryFailoverStatusCommand) Help() string {
	return strings.TrimSpace(`
Usage: meridian query failover-status [options] ID_OR_NAME

  Prints the sticky failover state of a prepared query that has
  -min-passing, -failback-after or -failback-mode: whether it answers from
  another datacenter, which, since when and why, and how many instances
  pass locally now.

    $ meridian query failover-status db
    Query            db
    Failed over      true
    Datacenter       dc2
    Since            2026-12-06T16:02:11Z
    Reason           dc1 has 1 passing instances of db, fewer than MinPassing 2
    Passing locally  2
    MinPassing       2
    FailbackAfter    30s
    FailbackMode     auto

Options:

`) + "\n" + flagHelp(newQueryFlags("query failover-status", true, true).fs)
}

// Run implements cli.Command.
func (c *QueryFailoverStatusCommand) Run(args []string) int {
	f := newQueryFlags("query failover-status", true, true)
	arg, client, ok := f.start(c.UI, args)
	if !ok {
		return 1
	}
	var st failoverState
	if _, err := client.Raw().Query("/v1/query/"+arg+"/failover", &st, f.h.queryOptions()); err != nil {
		c.UI.Error(agentError(f.h.address(), err))
		return 1
	}
	printFailoverState(c.UI, arg, &st)
	return 0
}

// QueryFailbackCommand returns a failed-over query to the local
// datacenter.
type QueryFailbackCommand struct {
	UI cli.Ui
}

var _ cli.Command = (*QueryFailbackCommand)(nil)

// Synopsis implements cli.Command.
func (c *QueryFailbackCommand) Synopsis() string {
	return "Returns a failed-over prepared query to the local datacenter"
}

// Help implements cli.Command.
func (c *QueryFailbackCommand) Help() string {
	return strings.TrimSpace(`
Usage: meridian query failback [options] ID_OR_NAME

  Returns a prepared query that has failed over back to the local
  datacenter at once: the only way back with -failback-mode manual, and a
  way to cut -failback-after short. It is refused while fewer than
  MinPassing instances pass locally.

    $ meridian query failback db
    Query db answers from dc1 again (it answered from dc2)

Options:

`) + "\n" + flagHelp(newQueryFlags("query failback", true, false).fs)
}

// Run implements cli.Command.
func (c *QueryFailbackCommand) Run(args []string) int {
	f := newQueryFlags("query failback", true, false)
	arg, client, ok := f.start(c.UI, args)
	if !ok {
		return 1
	}
	var before failoverState
	if _, err := client.Raw().Query("/v1/query/"+arg+"/failover", &before, f.h.queryOptions()); err != nil {
		c.UI.Error(agentError(f.h.address(), err))
		return 1
	}
	if !before.Active {
		c.UI.Output(fmt.Sprintf("Query %s is not failed over: nothing to do", arg))
		return 0
	}
	var after failoverState
	if _, err := client.Raw().Write("/v1/query/"+arg+"/failback", nil, &after, &api.WriteOptions{Datacenter: f.h.datacenter}); err != nil {
		c.UI.Error(agentError(f.h.address(), err))
		return 1
	}
	dc := f.h.datacenter
	if dc == "" {
		self, err := client.Agent().Self()
		if err == nil {
			if cfg, ok := self["Config"]; ok {
				dc, _ = cfg["Datacenter"].(string)
			}
		}
	}
	c.UI.Output(fmt.Sprintf("Query %s answers from %s again (it answered from %s)", arg, orDash(dc), orDash(before.Datacenter)))
	return 0
}
