package command

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/cli"
	"github.com/hashicorp/consul/api"
)

// The query verbs manage prepared queries through /v1/query: list, read,
// create, delete and execute (this file), failover-status and failback
// (query_failover.go).

// QueryCommand is the parent of the query verbs.
type QueryCommand struct{}

var _ cli.Command = (*QueryCommand)(nil)

// Synopsis implements cli.Command.
func (c *QueryCommand) Synopsis() string { return "Manage and run prepared queries" }

// Help implements cli.Command.
func (c *QueryCommand) Help() string {
	return strings.TrimSpace(`
Usage: meridian query <subcommand> [options] [args]

  Prepared queries, as Consul's: a named health query for one service that
  answers from the local datacenter and, when too few instances pass there,
  from other datacenters (the nearest by WAN RTT, then a listed order).

    meridian query create -name db -service db -nearest-n 2
    meridian query list
    meridian query execute db
    meridian query read db
    meridian query failover-status db
    meridian query failback db
    meridian query delete db

  The same queries answer over DNS as <name>.query.consul.

  Run "meridian query <subcommand> -h" for a subcommand's options.
`)
}

// Run implements cli.Command.
func (c *QueryCommand) Run(args []string) int { return cli.RunResultHelp }

// queryFlags are the flags every query verb takes.
type queryFlags struct {
	*httpFlagsSet
}

func newQueryFlags(name string, dc, stale bool) queryFlags {
	fs := newFlagSet(name)
	h := &httpFlags{}
	h.addHTTPFlags(fs)
	if dc {
		h.addDCFlags(fs)
	}
	if stale {
		h.addStaleFlag(fs)
	}
	return queryFlags{httpFlagsSet: &httpFlagsSet{fs: fs, h: h}}
}

// start parses the flags of a command taking one ID_OR_NAME and makes
// its API client; ok is false once it printed why it cannot.
func (f queryFlags) start(ui cli.Ui, args []string) (arg string, client *api.Client, ok bool) {
	if err := f.fs.Parse(args); err != nil {
		ui.Error("Error: " + err.Error())
		return "", nil, false
	}
	arg, err := oneArg(f.httpFlagsSet, "ID_OR_NAME")
	if err != nil {
		ui.Error(err.Error())
		return "", nil, false
	}
	client, err = f.h.client()
	if err != nil {
		ui.Error("Error: " + err.Error())
		return "", nil, false
	}
	return arg, client, true
}

// oneArg returns the only positional argument, or an error sentence.
func oneArg(f *httpFlagsSet, what string) (string, error) {
	switch n := f.fs.NArg(); {
	case n == 0:
		return "", fmt.Errorf("Error! Missing %s argument", what)
	case n > 1:
		return "", fmt.Errorf("Error! Too many arguments (expected 1, got %d)", n)
	}
	return f.fs.Arg(0), nil
}

// findQuery finds a query by ID or name among those the token may read.
func findQuery(client *api.Client, idOrName string, q *api.QueryOptions) (*api.PreparedQueryDefinition, error) {
	list, _, err := client.PreparedQuery().List(q)
	if err != nil {
		return nil, err
	}
	for _, def := range list {
		if def.ID == idOrName {
			return def, nil
		}
	}
	for _, def := range list {
		if def.Name != "" && strings.EqualFold(def.Name, idOrName) {
			return def, nil
		}
	}
	return nil, fmt.Errorf("no prepared query has the ID or name %q", idOrName)
}

// failoverSummary describes a query's failover targets for the list.
func failoverSummary(f api.QueryFailoverOptions) string {
	var parts []string
	if f.NearestN > 0 {
		parts = append(parts, "nearest "+strconv.Itoa(f.NearestN))
	}
	if len(f.Datacenters) > 0 {
		parts = append(parts, strings.Join(f.Datacenters, ","))
	}
	for _, t := range f.Targets {
		parts = append(parts, t.Datacenter)
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " then ")
}

// stickyPolicy is the Meridian part of a query's failover options, which
// the official client's types do not carry.
type stickyPolicy struct {
	MinPassing    int
	FailbackAfter string
	FailbackMode  string
}

func (p stickyPolicy) String() string {
	if p.MinPassing == 0 && p.FailbackAfter == "" && p.FailbackMode == "" {
		return "consul"
	}
	mode := p.FailbackMode
	if mode == "" {
		mode = "auto"
	}
	min := p.MinPassing
	if min == 0 {
		min = 1
	}
	s := fmt.Sprintf("sticky: min-passing %d, failback %s", min, mode)
	if p.FailbackAfter != "" {
		s += " after " + p.FailbackAfter
	}
	return s
}

// queryWithPolicy is a query definition with the sticky policy read too.
type queryWithPolicy struct {
	api.PreparedQueryDefinition
	Policy stickyPolicy
}

// listQueries reads every query with its sticky policy.
func listQueries(client *api.Client, q *api.QueryOptions) ([]queryWithPolicy, error) {
	var raw []struct {
		api.PreparedQueryDefinition
		Service struct {
			api.ServiceQuery
			Failover struct {
				api.QueryFailoverOptions
				stickyPolicy
			}
		}
	}
	if _, err := client.Raw().Query("/v1/query", &raw, q); err != nil {
		return nil, err
	}
	out := make([]queryWithPolicy, 0, len(raw))
	for _, r := range raw {
		def := r.PreparedQueryDefinition
		def.Service = r.Service.ServiceQuery
		def.Service.Failover = r.Service.Failover.QueryFailoverOptions
		out = append(out, queryWithPolicy{PreparedQueryDefinition: def, Policy: r.Service.Failover.stickyPolicy})
	}
	return out, nil
}

// QueryListCommand lists prepared queries.
type QueryListCommand struct {
	UI cli.Ui
}

var _ cli.Command = (*QueryListCommand)(nil)

// Synopsis implements cli.Command.
func (c *QueryListCommand) Synopsis() string { return "Lists prepared queries" }

// Help implements cli.Command.
func (c *QueryListCommand) Help() string {
	return strings.TrimSpace(`
Usage: meridian query list [options]

  Lists the prepared queries of a datacenter that the token may read, one a
  line: ID, name, service, where it fails over to and its failover policy
  ("consul", or Meridian's sticky one).

    $ meridian query list
    ID                                    Name  Service  Failover        Policy
    8f246b77-f3e1-ff88-5b48-8ec93abf3e05  db    db       nearest 1 then dc3  sticky: min-passing 2, failback auto after 30s

Options:

`) + "\n" + flagHelp(newQueryFlags("query list", true, true).fs)
}

// Run implements cli.Command.
func (c *QueryListCommand) Run(args []string) int {
	f := newQueryFlags("query list", true, true)
	if err := f.fs.Parse(args); err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	if f.fs.NArg() > 0 {
		c.UI.Error(fmt.Sprintf("Error! Too many arguments (expected 0, got %d)", f.fs.NArg()))
		return 1
	}
	client, err := f.h.client()
	if err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	qs, err := listQueries(client, f.h.queryOptions())
	if err != nil {
		c.UI.Error(agentError(f.h.address(), err))
		return 1
	}
	if len(qs) == 0 {
		c.UI.Output("No prepared queries")
		return 0
	}
	sort.Slice(qs, func(i, j int) bool {
		if qs[i].Name != qs[j].Name {
			return qs[i].Name < qs[j].Name
		}
		return qs[i].ID < qs[j].ID
	})
	rows := []string{"ID\x1fName\x1fService\x1fFailover\x1fPolicy"}
	for _, q := range qs {
		name := q.Name
		if name == "" {
			name = "-"
		}
		if q.Template.Type != "" {
			name += " (template)"
		}
		rows = append(rows, strings.Join([]string{q.ID, name, q.Service.Service, failoverSummary(q.Service.Failover), q.Policy.String()}, "\x1f"))
	}
	c.UI.Output(columnize(rows))
	return 0
}

// QueryReadCommand prints one query's definition.
type QueryReadCommand struct {
	UI cli.Ui
}

var _ cli.Command = (*QueryReadCommand)(nil)

// Synopsis implements cli.Command.
func (c *QueryReadCommand) Synopsis() string { return "Prints a prepared query's definition" }

// Help implements cli.Command.
func (c *QueryReadCommand) Help() string {
	return strings.TrimSpace(`
Usage: meridian query read [options] ID_OR_NAME

  Prints the definition of one prepared query as JSON, the form that
  "meridian query create" and PUT /v1/query/<id> accept.

Options:

`) + "\n" + flagHelp(newQueryFlags("query read", true, true).fs)
}

// Run implements cli.Command.
func (c *QueryReadCommand) Run(args []string) int {
	f := newQueryFlags("query read", true, true)
	arg, client, ok := f.start(c.UI, args)
	if !ok {
		return 1
	}
	def, err := findQuery(client, arg, f.h.queryOptions())
	if err != nil {
		c.UI.Error(agentError(f.h.address(), err))
		return 1
	}
	// Read again raw, so that Meridian's fields are printed too.
	var raw []json.RawMessage
	if _, err := client.Raw().Query("/v1/query/"+def.ID, &raw, f.h.queryOptions()); err != nil {
		c.UI.Error(agentError(f.h.address(), err))
		return 1
	}
	if len(raw) != 1 {
		c.UI.Error("Error: the agent answered with " + strconv.Itoa(len(raw)) + " queries")
		return 1
	}
	var v any
	if err := json.Unmarshal(raw[0], &v); err != nil {
		c.UI.Error("Error: cannot decode the query: " + err.Error())
		return 1
	}
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	c.UI.Output(string(out))
	return 0
}

// QueryDeleteCommand deletes a query.
type QueryDeleteCommand struct {
	UI cli.Ui
}

var _ cli.Command = (*QueryDeleteCommand)(nil)

// Synopsis implements cli.Command.
func (c *QueryDeleteCommand) Synopsis() string { return "Deletes a prepared query" }

// Help implements cli.Command.
func (c *QueryDeleteCommand) Help() string {
	return strings.TrimSpace(`
Usage: meridian query delete [options] ID_OR_NAME

  Deletes one prepared query.

Options:

`) + "\n" + flagHelp(newQueryFlags("query delete", true, false).fs)
}

// Run implements cli.Command.
func (c *QueryDeleteCommand) Run(args []string) int {
	f := newQueryFlags("query delete", true, false)
	arg, client, ok := f.start(c.UI, args)
	if !ok {
		return 1
	}
	def, err := findQuery(client, arg, f.h.queryOptions())
	if err != nil {
		c.UI.Error(agentError(f.h.address(), err))
		return 1
	}
	if _, err := client.PreparedQuery().Delete(def.ID, &api.WriteOptions{Datacenter: f.h.datacenter}); err != nil {
		c.UI.Error(agentError(f.h.address(), err))
		return 1
	}
	c.UI.Output("Deleted prepared query " + def.ID)
	return 0
}

// QueryExecuteCommand runs a query.
type QueryExecuteCommand struct {
	UI cli.Ui
}

var _ cli.Command = (*QueryExecuteCommand)(nil)

// Synopsis implements cli.Command.
func (c *QueryExecuteCommand) Synopsis() string { return "Runs a prepared query" }

type queryExecuteFlags struct {
	queryFlags
	near  *string
	limit *int
}

func (c *QueryExecuteCommand) flags() queryExecuteFlags {
	f := newQueryFlags("query execute", true, true)
	return queryExecuteFlags{
		queryFlags: f,
		near:       f.fs.String("near", "", "Sort the answer by RTT from this node (_agent: the agent asked)."),
		limit:      f.fs.Int("limit", 0, "Return at most this many instances (0: all)."),
	}
}

// Help implements cli.Command.
func (c *QueryExecuteCommand) Help() string {
	return strings.TrimSpace(`
Usage: meridian query execute [options] ID_OR_NAME

  Runs a prepared query (a template matches by name prefix) and prints the
  datacenter that answered, how many others were tried, the sticky failover
  state if the query has one, then the instances, one a line.

    $ meridian query execute db
    Datacenter: dc2 (1 failover)
    Node  Address     Port  Tags
    db2   10.0.0.12   5432  primary

Options:

`) + "\n" + flagHelp(c.flags().fs)
}

// executeAnswer is the execute answer with Meridian's Failover object.
type executeAnswer struct {
	api.PreparedQueryExecuteResponse
	Failover *failoverState
}

// Run implements cli.Command.
func (c *QueryExecuteCommand) Run(args []string) int {
	f := c.flags()
	if err := f.fs.Parse(args); err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	arg, err := oneArg(f.httpFlagsSet, "ID_OR_NAME")
	if err != nil {
		c.UI.Error(err.Error())
		return 1
	}
	if *f.limit < 0 {
		c.UI.Error("Error! -limit must not be negative")
		return 1
	}
	client, err := f.h.client()
	if err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	q := f.h.queryOptions()
	q.Near = *f.near
	path := "/v1/query/" + arg + "/execute"
	if *f.limit > 0 {
		path += "?limit=" + strconv.Itoa(*f.limit)
	}
	var out executeAnswer
	if _, err := client.Raw().Query(path, &out, q); err != nil {
		c.UI.Error(agentError(f.h.address(), err))
		return 1
	}
	head := fmt.Sprintf("Datacenter: %s (%d failover", out.Datacenter, out.Failovers)
	if out.Failovers != 1 {
		head += "s"
	}
	head += ")"
	if fo := out.Failover; fo != nil {
		if fo.Active {
			head += fmt.Sprintf("; failed over to %s since %s", orDash(fo.Datacenter), fo.Since.Format("15:04:05"))
		} else {
			head += "; sticky policy not failed over"
		}
	}
	c.UI.Output(head)
	if len(out.Nodes) == 0 {
		c.UI.Output("No instances")
		return 0
	}
	rows := []string{"Node\x1fAddress\x1fPort\x1fTags"}
	for _, n := range out.Nodes {
		addr := n.Service.Address
		if addr == "" {
			addr = n.Node.Address
		}
		tags := strings.Join(n.Service.Tags, ",")
		rows = append(rows, strings.Join([]string{n.Node.Node, addr, strconv.Itoa(n.Service.Port), orDash(tags)}, "\x1f"))
	}
	c.UI.Output(columnize(rows))
	return 0
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
