package command

import (
	"encoding/json"
	"flag"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/cli"
	"github.com/hashicorp/consul/api"
)

// ACLCommand is the parent of the acl verbs.
type ACLCommand struct{}

var _ cli.Command = (*ACLCommand)(nil)

// Synopsis implements cli.Command.
func (c *ACLCommand) Synopsis() string { return "Interact with Meridian's ACLs" }

// Help implements cli.Command.
func (c *ACLCommand) Help() string {
	return strings.TrimSpace(`
Usage: meridian acl <subcommand> [options] [args]

  Manages access control: bootstraps the ACL system, and creates, reads,
  updates and deletes policies, tokens and roles. Every verb sends the
  token of -token, -token-file, MERIDIAN_HTTP_TOKEN or CONSUL_HTTP_TOKEN;
  managing ACLs needs a token with acl = "write" (a management token).

    meridian acl bootstrap
    meridian acl policy create -name app -rules 'key_prefix "app/" { policy = "write" }'
    meridian acl token create -description "app" -policy-name app
    meridian acl token list

  Run "meridian acl <subcommand> -h" for a subcommand's options.
`)
}

// Run implements cli.Command.
func (c *ACLCommand) Run(args []string) int { return cli.RunResultHelp }

// aclParent is the parent of the policy, token and role verbs.
type aclParent struct{ noun, synopsis string }

// Synopsis implements cli.Command.
func (c *aclParent) Synopsis() string { return c.synopsis }

// Help implements cli.Command.
func (c *aclParent) Help() string {
	return fmt.Sprintf("Usage: meridian acl %s <subcommand> [options]\n\n  %s: create, read, update, delete, list.\n"+
		"  Run \"meridian acl %s <subcommand> -h\" for a subcommand's options.", c.noun, c.synopsis, c.noun)
}

// Run implements cli.Command.
func (c *aclParent) Run(args []string) int { return cli.RunResultHelp }

// aclVerb is one acl verb: its flags, its help, and what it does.
type aclVerb struct {
	UI       cli.Ui
	name     string
	synopsis string
	usage    string
	// define registers the verb's own flags.
	define func(fs *flag.FlagSet)
	// do runs the verb once the flags are parsed; it returns the output.
	do func(c *api.Client, args []string) (string, error)
	// format is -format, set by the shared flags.
	format string
}

var _ cli.Command = (*aclVerb)(nil)

// Synopsis implements cli.Command.
func (v *aclVerb) Synopsis() string { return v.synopsis }

func (v *aclVerb) flags() (*flag.FlagSet, *httpFlags) {
	fs := newFlagSet("acl " + v.name)
	h := &httpFlags{}
	h.addHTTPFlags(fs)
	fs.StringVar(&v.format, "format", "pretty", `Output format: "pretty" or "json".`)
	if v.define != nil {
		v.define(fs)
	}
	return fs, h
}

// Help implements cli.Command.
func (v *aclVerb) Help() string {
	fs, _ := v.flags()
	return strings.TrimSpace(v.usage) + "\n\nOptions:\n\n" + flagHelp(fs)
}

// Run implements cli.Command.
func (v *aclVerb) Run(args []string) int {
	fs, h := v.flags()
	if err := fs.Parse(args); err != nil {
		v.UI.Error("Error: " + err.Error())
		return 1
	}
	if v.format != "pretty" && v.format != "json" {
		v.UI.Error(fmt.Sprintf("Error: invalid -format %q: use pretty or json", v.format))
		return 1
	}
	client, err := h.client()
	if err != nil {
		v.UI.Error("Error: " + err.Error())
		return 1
	}
	out, err := v.do(client, fs.Args())
	if err != nil {
		var ue usageError
		if asUsage(err, &ue) {
			v.UI.Error("Error: " + ue.msg)
			return 1
		}
		v.UI.Error(agentError(h.address(), err))
		return 1
	}
	if out != "" {
		v.UI.Output(strings.TrimRight(out, "\n"))
	}
	return 0
}

// usageError is a mistake in the verb's flags or arguments.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

func asUsage(err error, out *usageError) bool {
	ue, ok := err.(usageError)
	if ok {
		*out = ue
	}
	return ok
}

// render writes v as JSON or through pretty.
func (v *aclVerb) render(obj any, pretty func() string) (string, error) {
	if v.format == "json" {
		b, err := json.MarshalIndent(obj, "", "    ")
		if err != nil {
			return "", err
		}
		return string(b), nil
	}
	return pretty(), nil
}

// noArgs refuses stray arguments.
func noArgs(args []string) error {
	if len(args) > 0 {
		return usagef("unexpected argument %q: this verb takes only flags", args[0])
	}
	return nil
}

// Pretty formats, field for field as Consul's CLI prints them.

func formatToken(t *api.ACLToken) string {
	var b strings.Builder
	fmt.Fprintf(&b, "AccessorID:       %s\n", t.AccessorID)
	fmt.Fprintf(&b, "SecretID:         %s\n", t.SecretID)
	fmt.Fprintf(&b, "Description:      %s\n", t.Description)
	fmt.Fprintf(&b, "Local:            %t\n", t.Local)
	fmt.Fprintf(&b, "Create Time:      %s\n", t.CreateTime.Local())
	if t.ExpirationTime != nil && !t.ExpirationTime.IsZero() {
		fmt.Fprintf(&b, "Expiration Time:  %s\n", t.ExpirationTime.Local())
	}
	if len(t.Policies) > 0 {
		b.WriteString("Policies:\n")
		for _, l := range t.Policies {
			fmt.Fprintf(&b, "   %s - %s\n", l.ID, l.Name)
		}
	}
	if len(t.Roles) > 0 {
		b.WriteString("Roles:\n")
		for _, l := range t.Roles {
			fmt.Fprintf(&b, "   %s - %s\n", l.ID, l.Name)
		}
	}
	return b.String()
}

func formatTokenListEntry(t *api.ACLTokenListEntry) string {
	exp := t.ExpirationTime
	return formatToken(&api.ACLToken{AccessorID: t.AccessorID, SecretID: t.SecretID, Description: t.Description,
		Local: t.Local, CreateTime: t.CreateTime, ExpirationTime: exp, Policies: t.Policies, Roles: t.Roles})
}

func formatPolicy(p *api.ACLPolicy) string {
	var b strings.Builder
	fmt.Fprintf(&b, "ID:           %s\n", p.ID)
	fmt.Fprintf(&b, "Name:         %s\n", p.Name)
	fmt.Fprintf(&b, "Description:  %s\n", p.Description)
	fmt.Fprintf(&b, "Datacenters:  %s\n", strings.Join(p.Datacenters, ", "))
	fmt.Fprintf(&b, "Rules:\n%s\n", p.Rules)
	return b.String()
}

func formatPolicyList(ps []*api.ACLPolicyListEntry) string {
	sort.Slice(ps, func(i, j int) bool { return ps[i].Name < ps[j].Name })
	var b strings.Builder
	for _, p := range ps {
		fmt.Fprintf(&b, "%s:\n", p.Name)
		fmt.Fprintf(&b, "   ID:           %s\n", p.ID)
		fmt.Fprintf(&b, "   Description:  %s\n", p.Description)
		fmt.Fprintf(&b, "   Datacenters:  %s\n", strings.Join(p.Datacenters, ", "))
	}
	return b.String()
}

func formatRole(r *api.ACLRole) string {
	var b strings.Builder
	fmt.Fprintf(&b, "ID:           %s\n", r.ID)
	fmt.Fprintf(&b, "Name:         %s\n", r.Name)
	fmt.Fprintf(&b, "Description:  %s\n", r.Description)
	if len(r.Policies) > 0 {
		b.WriteString("Policies:\n")
		for _, l := range r.Policies {
			fmt.Fprintf(&b, "   %s - %s\n", l.ID, l.Name)
		}
	}
	return b.String()
}

func formatRoleList(rs []*api.ACLRole) string {
	sort.Slice(rs, func(i, j int) bool { return rs[i].Name < rs[j].Name })
	var b strings.Builder
	for _, r := range rs {
		fmt.Fprintf(&b, "%s:\n", r.Name)
		fmt.Fprintf(&b, "   ID:           %s\n", r.ID)
		fmt.Fprintf(&b, "   Description:  %s\n", r.Description)
		if len(r.Policies) > 0 {
			b.WriteString("   Policies:\n")
			for _, l := range r.Policies {
				fmt.Fprintf(&b, "      %s - %s\n", l.ID, l.Name)
			}
		}
	}
	return b.String()
}

// uuidLen is the length of a full ID.
const uuidLen = 36

// resolveID turns what the user typed for -id into a full ID: a full ID
// as it is, "anonymous" for tokens, or a unique prefix of the IDs list
// returns, as Consul's CLI accepts.
func resolveID(kind, id string, list func() ([]string, error)) (string, error) {
	if id == "" {
		return "", usagef("missing -id: give the %s's ID (or a unique prefix of it)", kind)
	}
	if kind == "token" && id == "anonymous" {
		return "00000000-0000-0000-0000-000000000002", nil
	}
	if len(id) == uuidLen {
		return id, nil
	}
	ids, err := list()
	if err != nil {
		return "", err
	}
	var match []string
	for _, full := range ids {
		if strings.HasPrefix(full, id) {
			match = append(match, full)
		}
	}
	switch len(match) {
	case 0:
		return "", usagef("no %s ID starts with %q", kind, id)
	case 1:
		return match[0], nil
	}
	return "", usagef("%d %s IDs start with %q: give more of the ID", len(match), kind, id)
}

func tokenIDs(c *api.Client) func() ([]string, error) {
	return func() ([]string, error) {
		list, _, err := c.ACL().TokenList(nil)
		if err != nil {
			return nil, err
		}
		ids := make([]string, len(list))
		for i, t := range list {
			ids[i] = t.AccessorID
		}
		return ids, nil
	}
}

func policyIDs(c *api.Client) func() ([]string, error) {
	return func() ([]string, error) {
		list, _, err := c.ACL().PolicyList(nil)
		if err != nil {
			return nil, err
		}
		ids := make([]string, len(list))
		for i, p := range list {
			ids[i] = p.ID
		}
		return ids, nil
	}
}

func roleIDs(c *api.Client) func() ([]string, error) {
	return func() ([]string, error) {
		list, _, err := c.ACL().RoleList(nil)
		if err != nil {
			return nil, err
		}
		ids := make([]string, len(list))
		for i, r := range list {
			ids[i] = r.ID
		}
		return ids, nil
	}
}

// policyLinks builds links from -policy-id and -policy-name values.
func policyLinks(ids, names []string) []*api.ACLLink {
	var out []*api.ACLLink
	for _, id := range ids {
		out = append(out, &api.ACLLink{ID: id})
	}
	for _, n := range names {
		out = append(out, &api.ACLLink{Name: n})
	}
	return out
}

// parseTTL reads -expires-ttl.
func parseTTL(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, usagef("invalid -expires-ttl %q: give a duration such as 10m or 8h", s)
	}
	return d, nil
}

// newACLBootstrap builds "meridian acl bootstrap".
func newACLBootstrap(ui cli.Ui) *aclVerb {
	v := &aclVerb{UI: ui, name: "bootstrap", synopsis: "Bootstrap Meridian's ACL system",
		usage: `
Usage: meridian acl bootstrap [options]

  Creates the first management token, once for the life of the cluster
  (see the ACL guide for the reset procedure). Keep its SecretID safe.`}
	v.do = func(c *api.Client, args []string) (string, error) {
		if err := noArgs(args); err != nil {
			return "", err
		}
		tok, _, err := c.ACL().Bootstrap()
		if err != nil {
			return "", err
		}
		return v.render(tok, func() string { return formatToken(tok) })
	}
	return v
}

// aclCommands are the acl verbs, for Commands.
func aclCommands(ui cli.Ui) map[string]cli.CommandFactory {
	verb := func(f func(cli.Ui) *aclVerb) cli.CommandFactory {
		return func() (cli.Command, error) { return f(ui), nil }
	}
	parent := func(noun, syn string) cli.CommandFactory {
		return func() (cli.Command, error) { return &aclParent{noun: noun, synopsis: syn}, nil }
	}
	return map[string]cli.CommandFactory{
		"acl":                 func() (cli.Command, error) { return &ACLCommand{}, nil },
		"acl bootstrap":       verb(newACLBootstrap),
		"acl set-agent-token": verb(newACLSetAgentToken),
		"acl policy":          parent("policy", "Manage ACL policies"),
		"acl policy create":   verb(newACLPolicyCreate),
		"acl policy read":     verb(newACLPolicyRead),
		"acl policy update":   verb(newACLPolicyUpdate),
		"acl policy delete":   verb(newACLPolicyDelete),
		"acl policy list":     verb(newACLPolicyList),
		"acl token":           parent("token", "Manage ACL tokens"),
		"acl token create":    verb(newACLTokenCreate),
		"acl token read":      verb(newACLTokenRead),
		"acl token update":    verb(newACLTokenUpdate),
		"acl token clone":     verb(newACLTokenClone),
		"acl token delete":    verb(newACLTokenDelete),
		"acl token list":      verb(newACLTokenList),
		"acl role":            parent("role", "Manage ACL roles"),
		"acl role create":     verb(newACLRoleCreate),
		"acl role read":       verb(newACLRoleRead),
		"acl role update":     verb(newACLRoleUpdate),
		"acl role delete":     verb(newACLRoleDelete),
		"acl role list":       verb(newACLRoleList),
	}
}

// newACLSetAgentToken builds "meridian acl set-agent-token".
func newACLSetAgentToken(ui cli.Ui) *aclVerb {
	v := &aclVerb{UI: ui, name: "set-agent-token", synopsis: "Set one of the agent's ACL tokens",
		usage: `
Usage: meridian acl set-agent-token [options] TYPE TOKEN

  Replaces one of the tokens the agent itself uses, while it runs; with
  acl.enable_token_persistence the agent keeps it across restarts. TYPE
  is one of:

    default          the token of requests that carry none (DNS too)
    agent            the agent's own token (anti-entropy)
    agent_recovery   works on the agent's own endpoints without a server
    replication      what a secondary datacenter replicates with

    $ meridian acl set-agent-token agent 3f6e5c1a-1b2c-4d3e-8f4a-5b6c7d8e9f00`}
	v.do = func(c *api.Client, args []string) (string, error) {
		if len(args) != 2 {
			return "", usagef("give a token TYPE and the TOKEN, as: meridian acl set-agent-token agent <secret>")
		}
		kind, tok := args[0], args[1]
		var err error
		switch kind {
		case "default":
			_, err = c.Agent().UpdateDefaultACLToken(tok, nil)
		case "agent":
			_, err = c.Agent().UpdateAgentACLToken(tok, nil)
		case "agent_recovery", "agent_master":
			_, err = c.Agent().UpdateAgentRecoveryACLToken(tok, nil)
		case "replication":
			_, err = c.Agent().UpdateReplicationACLToken(tok, nil)
		default:
			return "", usagef("unknown token type %q: use default, agent, agent_recovery or replication", kind)
		}
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("ACL token %q set successfully", kind), nil
	}
	return v
}
