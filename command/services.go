package command

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/cli"

	"github.com/meridian-sd/meridian/agent/config"
	"github.com/meridian-sd/meridian/structs"
)

// ServicesCommand is the parent of the services verbs.
type ServicesCommand struct{}

var _ cli.Command = (*ServicesCommand)(nil)

// Synopsis implements cli.Command.
func (c *ServicesCommand) Synopsis() string { return "Interact with services" }

// Help implements cli.Command.
func (c *ServicesCommand) Help() string {
	return strings.TrimSpace(`
Usage: meridian services <subcommand> [options] [FILE...]

  Registers services with the local agent, or deregisters them. The agent
  runs their checks and keeps the catalog in step with them; services
  registered this way survive an agent restart.

    meridian services register web.json
    meridian services register -name=web -port=8080 -tag=v1
    meridian services deregister -id=web
    meridian services deregister web.json
`)
}

// Run implements cli.Command.
func (c *ServicesCommand) Run(args []string) int { return cli.RunResultHelp }

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	*l = append(*l, v)
	return nil
}

var _ flag.Value = (*stringList)(nil)

// ServicesRegisterCommand registers services from files or flags.
type ServicesRegisterCommand struct {
	UI cli.Ui
}

var _ cli.Command = (*ServicesRegisterCommand)(nil)

// Synopsis implements cli.Command.
func (c *ServicesRegisterCommand) Synopsis() string { return "Register services with the local agent" }

type servicesRegisterFlags struct {
	*httpFlagsSet
	name, id, address *string
	port              *int
	tags, meta        *stringList
	replace           *bool
}

func (c *ServicesRegisterCommand) flags() servicesRegisterFlags {
	fs := newFlagSet("services register")
	h := &httpFlags{}
	h.addHTTPFlags(fs)
	f := servicesRegisterFlags{
		httpFlagsSet: &httpFlagsSet{fs: fs, h: h},
		name:         fs.String("name", "", "The service's name. Required unless a file is given."),
		id:           fs.String("id", "", "The service's ID; default its name."),
		address:      fs.String("address", "", "The service's address; default the node's address."),
		port:         fs.Int("port", 0, "The service's port."),
		tags:         &stringList{},
		meta:         &stringList{},
		replace:      fs.Bool("replace-existing-checks", false, "Remove the service's checks that the definition no longer has."),
	}
	fs.Var(f.tags, "tag", "A tag of the service. May be given several times.")
	fs.Var(f.meta, "meta", "Service metadata as key=value. May be given several times.")
	return f
}

// Help implements cli.Command.
func (c *ServicesRegisterCommand) Help() string {
	return strings.TrimSpace(`
Usage: meridian services register [options] [FILE...]

  Registers services with the local agent, from service definition files
  (JSON or HCL, with a "service" block or a "services" list, as in the
  agent's config files) or, without files, from the flags.

  With files, the service flags are not used. A definition's checks are
  registered with it.

Options:

`) + "\n" + flagHelp(c.flags().fs)
}

// Run implements cli.Command.
func (c *ServicesRegisterCommand) Run(args []string) int {
	f := c.flags()
	if err := f.fs.Parse(args); err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	var defs []config.ServiceDefinition
	if files := f.fs.Args(); len(files) > 0 {
		if *f.name != "" || *f.id != "" || *f.address != "" || *f.port != 0 || len(*f.tags) > 0 || len(*f.meta) > 0 {
			c.UI.Error("Error: give service files or service flags, not both")
			return 1
		}
		for _, file := range files {
			loaded, warnings, err := config.ReadServiceFile(file)
			for _, w := range warnings {
				c.UI.Warn("Warning: " + w)
			}
			if err != nil {
				c.UI.Error("Error: " + oneLine(err))
				return 1
			}
			defs = append(defs, loaded...)
		}
	} else {
		def, err := defFromFlags(f)
		if err != nil {
			c.UI.Error("Error: " + err.Error())
			return 1
		}
		defs = append(defs, def)
	}
	client, err := f.h.client()
	if err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	path := "/v1/agent/service/register"
	if *f.replace {
		path += "?replace-existing-checks=true"
	}
	for _, def := range defs {
		if _, err := client.Raw().Write(path, serviceBody(def), nil, nil); err != nil {
			c.UI.Error(fmt.Sprintf("Error registering service %q: %s", def.Name, strings.TrimPrefix(agentError(f.h.address(), err), "Error: ")))
			return 1
		}
		c.UI.Output("Registered service: " + def.Name)
	}
	return 0
}

// defFromFlags builds a service definition from the flags.
func defFromFlags(f servicesRegisterFlags) (config.ServiceDefinition, error) {
	def := config.ServiceDefinition{
		ID: *f.id, Name: *f.name, Tags: *f.tags, Address: *f.address, Port: *f.port,
	}
	if def.Name == "" {
		return def, errors.New("a service needs a name: give -name or a service file")
	}
	for _, kv := range *f.meta {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return def, fmt.Errorf("-meta %q must be key=value", kv)
		}
		if def.Meta == nil {
			def.Meta = map[string]string{}
		}
		def.Meta[k] = v
	}
	def.Normalize()
	if err := def.Validate(); err != nil {
		return def, errors.New(oneLine(err))
	}
	return def, nil
}

// oneLine joins a multi-line error into one line.
func oneLine(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", "; ")
}

// serviceBody renders a definition as the body of
// /v1/agent/service/register, leaving out what is unset so that the
// agent's defaults apply; durations are written as strings.
func serviceBody(def config.ServiceDefinition) map[string]any {
	m := map[string]any{"Name": def.Name}
	set := func(k string, v any, ok bool) {
		if ok {
			m[k] = v
		}
	}
	set("ID", def.ID, def.ID != "")
	set("Tags", def.Tags, len(def.Tags) > 0)
	set("Address", def.Address, def.Address != "")
	set("Port", def.Port, def.Port != 0)
	set("Meta", def.Meta, len(def.Meta) > 0)
	set("EnableTagOverride", true, def.EnableTagOverride)
	set("Weights", def.Weights, def.Weights != (structs.Weights{}))
	if len(def.TaggedAddresses) > 0 {
		m["TaggedAddresses"] = def.TaggedAddresses
	}
	var checks []map[string]any
	for _, c := range def.Checks {
		checks = append(checks, checkBody(c))
	}
	set("Checks", checks, len(checks) > 0)
	return m
}

// checkBody renders a check definition for a registration body.
func checkBody(c config.CheckDefinition) map[string]any {
	m := map[string]any{}
	set := func(k string, v any, ok bool) {
		if ok {
			m[k] = v
		}
	}
	dur := func(k string, d time.Duration) { set(k, d.String(), d > 0) }
	set("CheckID", c.ID, c.ID != "")
	set("Name", c.Name, c.Name != "")
	set("Notes", c.Notes, c.Notes != "")
	set("Status", c.Status, c.Status != "")
	dur("TTL", c.TTL)
	set("HTTP", c.HTTP, c.HTTP != "")
	set("Method", c.Method, c.Method != "")
	set("Header", c.Header, len(c.Header) > 0)
	set("Body", c.Body, c.Body != "")
	set("TLSSkipVerify", true, c.TLSSkipVerify)
	set("TLSServerName", c.TLSServerName, c.TLSServerName != "")
	set("DisableRedirects", true, c.DisableRedirects)
	set("TCP", c.TCP, c.TCP != "")
	set("Args", c.Args, len(c.Args) > 0)
	dur("Interval", c.Interval)
	dur("Timeout", c.Timeout)
	dur("DeregisterCriticalServiceAfter", c.DeregisterCriticalServiceAfter)
	set("SuccessBeforePassing", c.SuccessBeforePassing, c.SuccessBeforePassing > 0)
	set("FailuresBeforeWarning", c.FailuresBeforeWarning, c.FailuresBeforeWarning > 0)
	set("FailuresBeforeCritical", c.FailuresBeforeCritical, c.FailuresBeforeCritical > 0)
	set("OutputMaxSize", c.OutputMaxSize, c.OutputMaxSize > 0)
	return m
}

// ServicesDeregisterCommand deregisters services by ID or from files.
type ServicesDeregisterCommand struct {
	UI cli.Ui
}

var _ cli.Command = (*ServicesDeregisterCommand)(nil)

// Synopsis implements cli.Command.
func (c *ServicesDeregisterCommand) Synopsis() string {
	return "Deregister services from the local agent"
}

func (c *ServicesDeregisterCommand) flags() (*httpFlagsSet, *string) {
	fs := newFlagSet("services deregister")
	h := &httpFlags{}
	h.addHTTPFlags(fs)
	id := fs.String("id", "", "The ID of the service to deregister.")
	return &httpFlagsSet{fs: fs, h: h}, id
}

// Help implements cli.Command.
func (c *ServicesDeregisterCommand) Help() string {
	f, _ := c.flags()
	return strings.TrimSpace(`
Usage: meridian services deregister [options] [FILE...]

  Deregisters services from the local agent: the one -id names, or those
  defined in the given service files (by their IDs). Their checks go with
  them, and the catalog follows.

  Services defined in the agent's config files come back at the next
  reload; remove them from the files instead.

Options:

`) + "\n" + flagHelp(f.fs)
}

// Run implements cli.Command.
func (c *ServicesDeregisterCommand) Run(args []string) int {
	f, id := c.flags()
	if err := f.fs.Parse(args); err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	files := f.fs.Args()
	var ids []string
	switch {
	case *id != "" && len(files) > 0:
		c.UI.Error("Error: give -id or service files, not both")
		return 1
	case *id != "":
		ids = []string{*id}
	case len(files) > 0:
		for _, file := range files {
			defs, _, err := config.ReadServiceFile(file)
			if err != nil {
				c.UI.Error("Error: " + oneLine(err))
				return 1
			}
			for _, d := range defs {
				ids = append(ids, d.ID)
			}
		}
	default:
		c.UI.Error("Error: give -id or a service file")
		return 1
	}
	client, err := f.h.client()
	if err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	for _, sid := range ids {
		if err := client.Agent().ServiceDeregister(sid); err != nil {
			c.UI.Error(fmt.Sprintf("Error deregistering service %q: %s", sid, strings.TrimPrefix(agentError(f.h.address(), err), "Error: ")))
			return 1
		}
		c.UI.Output("Deregistered service: " + sid)
	}
	return 0
}
