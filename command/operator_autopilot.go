package command

import (
	"encoding/json"
	"flag"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/cli"
	"github.com/hashicorp/consul/api"
)

// OperatorAutopilotCommand is the parent of the autopilot verbs.
type OperatorAutopilotCommand struct{}

var _ cli.Command = (*OperatorAutopilotCommand)(nil)

// Synopsis implements cli.Command.
func (c *OperatorAutopilotCommand) Synopsis() string {
	return "Provides tools for modifying Autopilot configuration"
}

// Help implements cli.Command.
func (c *OperatorAutopilotCommand) Help() string {
	return strings.TrimSpace(`
Usage: meridian operator autopilot <subcommand> [options]

  Autopilot watches the servers' health, promotes new servers to voters
  once they are stable, removes dead servers, and with redundancy zones
  keeps one voter per zone.

    meridian operator autopilot get-config   shows the configuration
    meridian operator autopilot set-config   changes it
    meridian operator autopilot state        the servers, voters and zones
`)
}

// Run implements cli.Command.
func (c *OperatorAutopilotCommand) Run(args []string) int { return cli.RunResultHelp }

// OperatorAutopilotGetCommand prints the autopilot configuration.
type OperatorAutopilotGetCommand struct {
	UI cli.Ui
}

var _ cli.Command = (*OperatorAutopilotGetCommand)(nil)

// Synopsis implements cli.Command.
func (c *OperatorAutopilotGetCommand) Synopsis() string {
	return "Display the current Autopilot configuration"
}

func (c *OperatorAutopilotGetCommand) flags() *httpFlagsSet {
	return readFlagSet("operator autopilot get-config")
}

// Help implements cli.Command.
func (c *OperatorAutopilotGetCommand) Help() string {
	return strings.TrimSpace(`
Usage: meridian operator autopilot get-config [options]

  Displays the autopilot configuration in force in the datacenter.

Options:

`) + "\n" + flagHelp(c.flags().fs)
}

// Run implements cli.Command.
func (c *OperatorAutopilotGetCommand) Run(args []string) int {
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
	conf, err := client.Operator().AutopilotGetConfiguration(f.h.queryOptions())
	if err != nil {
		c.UI.Error(agentError(f.h.address(), err))
		return 1
	}
	c.UI.Output(formatAutopilotConfig(conf))
	return 0
}

// formatAutopilotConfig prints the configuration as Consul's get-config.
func formatAutopilotConfig(conf *api.AutopilotConfiguration) string {
	return strings.Join([]string{
		fmt.Sprintf("CleanupDeadServers = %v", conf.CleanupDeadServers),
		fmt.Sprintf("LastContactThreshold = %s", conf.LastContactThreshold),
		fmt.Sprintf("MaxTrailingLogs = %d", conf.MaxTrailingLogs),
		fmt.Sprintf("MinQuorum = %d", conf.MinQuorum),
		fmt.Sprintf("ServerStabilizationTime = %s", conf.ServerStabilizationTime),
		fmt.Sprintf("RedundancyZoneTag = %q", conf.RedundancyZoneTag),
		fmt.Sprintf("DisableUpgradeMigration = %v", conf.DisableUpgradeMigration),
		fmt.Sprintf("UpgradeVersionTag = %q", conf.UpgradeVersionTag),
	}, "\n")
}

// optBool is a boolean flag that knows whether it was given.
type optBool struct {
	set, val bool
}

func (b *optBool) String() string {
	if b == nil || !b.set {
		return ""
	}
	return strconv.FormatBool(b.val)
}

func (b *optBool) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("%q is not true or false", s)
	}
	b.set, b.val = true, v
	return nil
}

// optString is a string flag that knows whether it was given.
type optString struct {
	set bool
	val string
}

func (s *optString) String() string {
	if s == nil {
		return ""
	}
	return s.val
}

func (s *optString) Set(v string) error {
	s.set, s.val = true, v
	return nil
}

// OperatorAutopilotSetCommand changes the autopilot configuration.
type OperatorAutopilotSetCommand struct {
	UI cli.Ui
}

var _ cli.Command = (*OperatorAutopilotSetCommand)(nil)

// Synopsis implements cli.Command.
func (c *OperatorAutopilotSetCommand) Synopsis() string {
	return "Modify the current Autopilot configuration"
}

// autopilotSetFlags are set-config's flags; only those given change.
type autopilotSetFlags struct {
	cleanup, disableMigration          optBool
	lastContact, stabilization         optString
	maxTrailing, minQuorum             optString
	redundancyZoneTag, upgradeVersions optString
}

func (c *OperatorAutopilotSetCommand) flags() (*httpFlagsSet, *autopilotSetFlags) {
	fs := newFlagSet("operator autopilot set-config")
	h := &httpFlags{}
	h.addHTTPFlags(fs)
	h.addDCFlags(fs)
	v := &autopilotSetFlags{}
	fs.Var(&v.cleanup, "cleanup-dead-servers", "Remove dead servers from Raft automatically (`bool`).")
	fs.Var(&v.lastContact, "last-contact-threshold", "How long a server may go without hearing from the leader and stay healthy (a `duration` such as 200ms).")
	fs.Var(&v.maxTrailing, "max-trailing-logs", "How many log entries (an `int`) a server may be behind the leader and stay healthy.")
	fs.Var(&v.minQuorum, "min-quorum", "The fewest voters (an `int`) dead-server cleanup leaves.")
	fs.Var(&v.stabilization, "server-stabilization-time", "How long a new server must be healthy before it votes (a `duration` such as 10s).")
	fs.Var(&v.redundancyZoneTag, "redundancy-zone-tag", "The node_meta key (a `string`) that places servers in redundancy zones; empty for none.")
	fs.Var(&v.disableMigration, "disable-upgrade-migration", "A `bool` stored for Consul's clients; Meridian does not migrate upgrades.")
	fs.Var(&v.upgradeVersions, "upgrade-version-tag", "A `string` stored for Consul's clients; Meridian does not migrate upgrades.")
	return &httpFlagsSet{fs: fs, h: h}, v
}

// Help implements cli.Command.
func (c *OperatorAutopilotSetCommand) Help() string {
	f, _ := c.flags()
	return strings.TrimSpace(`
Usage: meridian operator autopilot set-config [options]

  Changes the autopilot configuration: the options given change, the
  others keep their value. The change is atomic (check-and-set against
  the configuration read first).

Options:

`) + "\n" + flagHelp(f.fs)
}

// apply changes conf as the flags say.
func (v *autopilotSetFlags) apply(conf *api.AutopilotConfiguration) error {
	if v.cleanup.set {
		conf.CleanupDeadServers = v.cleanup.val
	}
	if v.disableMigration.set {
		conf.DisableUpgradeMigration = v.disableMigration.val
	}
	for _, d := range []struct {
		name string
		opt  optString
		dst  **api.ReadableDuration
	}{
		{"last-contact-threshold", v.lastContact, &conf.LastContactThreshold},
		{"server-stabilization-time", v.stabilization, &conf.ServerStabilizationTime},
	} {
		if !d.opt.set {
			continue
		}
		dur, err := time.ParseDuration(d.opt.val)
		if err != nil || dur < 0 {
			return fmt.Errorf("invalid -%s %q: give a duration such as 200ms or 10s", d.name, d.opt.val)
		}
		*d.dst = api.NewReadableDuration(dur)
	}
	if v.maxTrailing.set {
		n, err := strconv.ParseUint(v.maxTrailing.val, 10, 64)
		if err != nil {
			return fmt.Errorf("invalid -max-trailing-logs %q: give a non-negative integer", v.maxTrailing.val)
		}
		conf.MaxTrailingLogs = n
	}
	if v.minQuorum.set {
		n, err := strconv.ParseUint(v.minQuorum.val, 10, 32)
		if err != nil {
			return fmt.Errorf("invalid -min-quorum %q: give a non-negative integer", v.minQuorum.val)
		}
		conf.MinQuorum = uint(n)
	}
	if v.redundancyZoneTag.set {
		conf.RedundancyZoneTag = v.redundancyZoneTag.val
	}
	if v.upgradeVersions.set {
		conf.UpgradeVersionTag = v.upgradeVersions.val
	}
	return nil
}

// Run implements cli.Command.
func (c *OperatorAutopilotSetCommand) Run(args []string) int {
	f, v := c.flags()
	if err := f.fs.Parse(args); err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	if f.fs.NArg() > 0 {
		c.UI.Error(fmt.Sprintf("Error: unexpected argument %q: set-config takes only options", f.fs.Arg(0)))
		return 1
	}
	client, err := f.h.client()
	if err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	conf, err := client.Operator().AutopilotGetConfiguration(&api.QueryOptions{Datacenter: f.h.datacenter})
	if err != nil {
		c.UI.Error(agentError(f.h.address(), err))
		return 1
	}
	if err := v.apply(conf); err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	ok, err := client.Operator().AutopilotCASConfiguration(conf, &api.WriteOptions{Datacenter: f.h.datacenter})
	if err != nil {
		c.UI.Error(agentError(f.h.address(), err))
		return 1
	}
	if !ok {
		c.UI.Error("Error: the configuration changed while it was being updated; try again")
		return 1
	}
	c.UI.Output("Configuration updated!")
	return 0
}

// OperatorAutopilotStateCommand prints the autopilot state.
type OperatorAutopilotStateCommand struct {
	UI cli.Ui
}

var _ cli.Command = (*OperatorAutopilotStateCommand)(nil)

// Synopsis implements cli.Command.
func (c *OperatorAutopilotStateCommand) Synopsis() string {
	return "Display the current Autopilot state"
}

func (c *OperatorAutopilotStateCommand) flags() (*httpFlagsSet, *string) {
	fs := newFlagSet("operator autopilot state")
	h := &httpFlags{}
	h.addHTTPFlags(fs)
	h.addDCFlags(fs)
	format := fs.String("format", "pretty", `Output format: "pretty" or "json".`)
	return &httpFlagsSet{fs: fs, h: h}, format
}

// Help implements cli.Command.
func (c *OperatorAutopilotStateCommand) Help() string {
	f, _ := c.flags()
	return strings.TrimSpace(`
Usage: meridian operator autopilot state [options]

  Displays the leader's autopilot state: health and failure tolerance,
  every server with its Raft standing, and the redundancy zones.

Options:

`) + "\n" + flagHelp(f.fs)
}

// Run implements cli.Command.
func (c *OperatorAutopilotStateCommand) Run(args []string) int {
	f, format := c.flags()
	if err := f.fs.Parse(args); err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	if *format != "pretty" && *format != "json" {
		c.UI.Error(fmt.Sprintf("Error: invalid -format %q: use pretty or json", *format))
		return 1
	}
	client, err := f.h.client()
	if err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	st, err := client.Operator().AutopilotState(&api.QueryOptions{Datacenter: f.h.datacenter})
	if err != nil {
		c.UI.Error(agentError(f.h.address(), err))
		return 1
	}
	if *format == "json" {
		buf, err := json.MarshalIndent(st, "", "    ")
		if err != nil {
			c.UI.Error("Error: encode the state: " + err.Error())
			return 1
		}
		c.UI.Output(string(buf))
		return 0
	}
	c.UI.Output(formatAutopilotState(st))
	return 0
}

// formatAutopilotState prints the state as Consul's `autopilot state`.
func formatAutopilotState(st *api.AutopilotState) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Healthy:                      %v\n", st.Healthy)
	fmt.Fprintf(&b, "Failure Tolerance:            %d\n", st.FailureTolerance)
	fmt.Fprintf(&b, "Optimistic Failure Tolerance: %d\n", st.OptimisticFailureTolerance)
	fmt.Fprintf(&b, "Leader:                       %s\n", st.Leader)
	b.WriteString("Voters:\n")
	for _, v := range st.Voters {
		fmt.Fprintf(&b, "   %s\n", v)
	}
	if len(st.RedundancyZones) > 0 {
		b.WriteString("\nRedundancy Zones:\n")
		names := make([]string, 0, len(st.RedundancyZones))
		for n := range st.RedundancyZones {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			z := st.RedundancyZones[n]
			fmt.Fprintf(&b, "   %s\n", n)
			fmt.Fprintf(&b, "      Servers:           %s\n", strings.Join(z.Servers, ", "))
			fmt.Fprintf(&b, "      Voters:            %s\n", strings.Join(z.Voters, ", "))
			fmt.Fprintf(&b, "      Failure Tolerance: %d\n", z.FailureTolerance)
		}
	}
	b.WriteString("\nServers:\n")
	ids := make([]string, 0, len(st.Servers))
	for id := range st.Servers {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return st.Servers[ids[i]].Name < st.Servers[ids[j]].Name })
	for _, id := range ids {
		s := st.Servers[id]
		fmt.Fprintf(&b, "   %s\n", id)
		fmt.Fprintf(&b, "      Name:            %s\n", s.Name)
		fmt.Fprintf(&b, "      Address:         %s\n", s.Address)
		fmt.Fprintf(&b, "      Version:         %s\n", s.Version)
		fmt.Fprintf(&b, "      Status:          %s\n", s.Status)
		fmt.Fprintf(&b, "      Node Type:       %s\n", s.NodeType)
		fmt.Fprintf(&b, "      Node Status:     %s\n", s.NodeStatus)
		fmt.Fprintf(&b, "      Healthy:         %v\n", s.Healthy)
		fmt.Fprintf(&b, "      Last Contact:    %s\n", s.LastContact)
		fmt.Fprintf(&b, "      Last Term:       %d\n", s.LastTerm)
		fmt.Fprintf(&b, "      Last Index:      %d\n", s.LastIndex)
		if s.RedundancyZone != "" {
			fmt.Fprintf(&b, "      Redundancy Zone: %s\n", s.RedundancyZone)
		}
		if len(s.Meta) > 0 {
			b.WriteString("      Meta\n")
			keys := make([]string, 0, len(s.Meta))
			for k := range s.Meta {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				fmt.Fprintf(&b, "         %q: %q\n", k, s.Meta[k])
			}
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

// OperatorRaftTransferLeaderCommand moves Raft leadership.
type OperatorRaftTransferLeaderCommand struct {
	UI cli.Ui
}

var _ cli.Command = (*OperatorRaftTransferLeaderCommand)(nil)

// Synopsis implements cli.Command.
func (c *OperatorRaftTransferLeaderCommand) Synopsis() string {
	return "Transfer raft leadership to another server"
}

func (c *OperatorRaftTransferLeaderCommand) flags() (*httpFlagsSet, *string) {
	fs := newFlagSet("operator raft transfer-leader")
	h := &httpFlags{}
	h.addHTTPFlags(fs)
	h.addDCFlags(fs)
	id := fs.String("id", "", "The ID of the server to hand leadership to; without it Raft picks the most up-to-date voter.")
	return &httpFlagsSet{fs: fs, h: h}, id
}

// Help implements cli.Command.
func (c *OperatorRaftTransferLeaderCommand) Help() string {
	f, _ := c.flags()
	return strings.TrimSpace(`
Usage: meridian operator raft transfer-leader [options]

  Makes the leader hand leadership over to another voter, for example
  before maintenance of the leader's machine. The IDs are in
  'meridian operator raft list-peers'.

Options:

`) + "\n" + flagHelp(f.fs)
}

// Run implements cli.Command.
func (c *OperatorRaftTransferLeaderCommand) Run(args []string) int {
	f, id := c.flags()
	if err := f.fs.Parse(args); err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	if f.fs.NArg() > 0 {
		c.UI.Error(fmt.Sprintf("Error: unexpected argument %q: give the server with -id", f.fs.Arg(0)))
		return 1
	}
	client, err := f.h.client()
	if err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	out, err := client.Operator().RaftLeaderTransfer(*id, &api.QueryOptions{Datacenter: f.h.datacenter})
	if err != nil {
		c.UI.Error(agentError(f.h.address(), err))
		return 1
	}
	if !out.Success {
		c.UI.Error("Error: the leader did not confirm the transfer")
		return 1
	}
	c.UI.Output("Success")
	return 0
}

var _ flag.Value = (*optBool)(nil)

// operatorAutopilotCommands are the autopilot verbs and transfer-leader.
func operatorAutopilotCommands(ui cli.Ui) map[string]cli.CommandFactory {
	return map[string]cli.CommandFactory{
		"operator autopilot":            func() (cli.Command, error) { return &OperatorAutopilotCommand{}, nil },
		"operator autopilot get-config": func() (cli.Command, error) { return &OperatorAutopilotGetCommand{UI: ui}, nil },
		"operator autopilot set-config": func() (cli.Command, error) { return &OperatorAutopilotSetCommand{UI: ui}, nil },
		"operator autopilot state":      func() (cli.Command, error) { return &OperatorAutopilotStateCommand{UI: ui}, nil },
		"operator raft transfer-leader": func() (cli.Command, error) { return &OperatorRaftTransferLeaderCommand{UI: ui}, nil },
	}
}
