package command

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/hashicorp/cli"
)

// QueryCreateCommand creates a prepared query from flags or a JSON file.
type QueryCreateCommand struct {
	UI cli.Ui
}

var _ cli.Command = (*QueryCreateCommand)(nil)

// Synopsis implements cli.Command.
func (c *QueryCreateCommand) Synopsis() string { return "Creates a prepared query" }

type queryCreateFlags struct {
	queryFlags
	name, service, near, tags, datacenters, failbackAfter, failbackMode, ttl, session *string
	onlyPassing                                                                       *bool
	nearestN, minPassing                                                              *int
}

func (c *QueryCreateCommand) flags() queryCreateFlags {
	f := newQueryFlags("query create", true, false)
	fs := f.fs
	return queryCreateFlags{
		queryFlags:    f,
		name:          fs.String("name", "", "The query's name (it is executed by name or ID)."),
		service:       fs.String("service", "", "The service to query (required without a file)."),
		near:          fs.String("near", "", "Sort answers by RTT from this node; _agent means the agent asked."),
		tags:          fs.String("tags", "", "Comma-separated tags every instance must have; !tag excludes a tag."),
		onlyPassing:   fs.Bool("only-passing", false, "Leave out instances with a warning check too."),
		nearestN:      fs.Int("nearest-n", 0, "Fail over to up to this many other datacenters, nearest first by WAN RTT."),
		datacenters:   fs.String("datacenters", "", "Comma-separated datacenters to fail over to, in order, after the nearest ones."),
		minPassing:    fs.Int("min-passing", 0, "Meridian: fail over when fewer than this many instances pass locally (default 1)."),
		failbackAfter: fs.String("failback-after", "", "Meridian: once failed over, return only after the local datacenter has been healthy this long (e.g. 30s)."),
		failbackMode:  fs.String("failback-mode", "", "Meridian: auto (default), or manual: return only on \"meridian query failback\"."),
		ttl:           fs.String("ttl", "", "The TTL of the query's DNS answers (e.g. 10s)."),
		session:       fs.String("session", "", "A session the query lives and dies with."),
	}
}

// Help implements cli.Command.
func (c *QueryCreateCommand) Help() string {
	return strings.TrimSpace(`
Usage: meridian query create [options] [@FILE]

  Creates a prepared query and prints its ID. The query is given by flags,
  or whole as JSON (Consul's /v1/query body) in a file ("@query.json") or
  on stdin ("-").

    $ meridian query create -name db -service db -only-passing -nearest-n 1 \
        -min-passing 2 -failback-after 30s
    8f246b77-f3e1-ff88-5b48-8ec93abf3e05

  Without -min-passing, -failback-after and -failback-mode the query fails
  over as Consul's: when no local instance is left, and back at once.

Options:

`) + "\n" + flagHelp(c.flags().fs)
}

// splitList splits a comma-separated flag, nil when empty.
func splitList(s string) []string {
	if s == "" {
		return nil
	}
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Run implements cli.Command.
func (c *QueryCreateCommand) Run(args []string) int {
	f := c.flags()
	if err := f.fs.Parse(args); err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	var body []byte
	switch n := f.fs.NArg(); {
	case n > 1:
		c.UI.Error(fmt.Sprintf("Error! Too many arguments (expected at most 1, got %d)", n))
		return 1
	case n == 1:
		arg := f.fs.Arg(0)
		if !strings.HasPrefix(arg, "@") && arg != "-" {
			c.UI.Error("Error! The argument must be @FILE or - (stdin) holding the query as JSON")
			return 1
		}
		if *f.service != "" || *f.name != "" {
			c.UI.Error("Error! Give the query either by flags or as JSON, not both")
			return 1
		}
		data, err := readData(arg, nil)
		if err != nil {
			c.UI.Error("Error! " + err.Error())
			return 1
		}
		body = data
	default:
		if *f.service == "" {
			c.UI.Error("Error! Missing -service (or a JSON definition as @FILE)")
			return 1
		}
		failover := map[string]any{"NearestN": *f.nearestN, "Datacenters": splitList(*f.datacenters)}
		if *f.minPassing != 0 {
			failover["MinPassing"] = *f.minPassing
		}
		if *f.failbackAfter != "" {
			failover["FailbackAfter"] = *f.failbackAfter
		}
		if *f.failbackMode != "" {
			failover["FailbackMode"] = *f.failbackMode
		}
		def := map[string]any{
			"Name":    *f.name,
			"Session": *f.session,
			"Service": map[string]any{
				"Service": *f.service, "Near": *f.near, "OnlyPassing": *f.onlyPassing,
				"Tags": splitList(*f.tags), "Failover": failover,
			},
			"DNS": map[string]any{"TTL": *f.ttl},
		}
		var err error
		if body, err = json.Marshal(def); err != nil {
			c.UI.Error("Error: " + err.Error())
			return 1
		}
	}
	client, err := f.h.client()
	if err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	var out struct{ ID string }
	if _, err := client.Raw().Write("/v1/query", json.RawMessage(body), &out, nil); err != nil {
		c.UI.Error(agentError(f.h.address(), err))
		return 1
	}
	c.UI.Output(out.ID)
	return 0
}
