package command

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/cli"
	"github.com/hashicorp/consul/api"
)

// OperatorCommand is the parent of the operator verbs.
type OperatorCommand struct{}

var _ cli.Command = (*OperatorCommand)(nil)

// Synopsis implements cli.Command.
func (c *OperatorCommand) Synopsis() string {
	return "Provides cluster-level tools for Meridian operators"
}

// Help implements cli.Command.
func (c *OperatorCommand) Help() string {
	return strings.TrimSpace(`
Usage: meridian operator <subcommand> [options]

  Cluster-level tools:

    meridian operator raft list-peers       the Raft servers of a datacenter
    meridian operator raft remove-peer      removes a server from Raft
    meridian operator raft transfer-leader  hands leadership to another server
    meridian operator autopilot get-config  the autopilot configuration
    meridian operator autopilot set-config  changes it
    meridian operator autopilot state       server health, voters and zones
    meridian operator federation            every datacenter's reachability
`)
}

// Run implements cli.Command.
func (c *OperatorCommand) Run(args []string) int { return cli.RunResultHelp }

// OperatorRaftCommand is the parent of the raft verbs.
type OperatorRaftCommand struct{}

var _ cli.Command = (*OperatorRaftCommand)(nil)

// Synopsis implements cli.Command.
func (c *OperatorRaftCommand) Synopsis() string { return "Provides tools for the Raft subsystem" }

// Help implements cli.Command.
func (c *OperatorRaftCommand) Help() string {
	return strings.TrimSpace(`
Usage: meridian operator raft <subcommand> [options]

    meridian operator raft list-peers
    meridian operator raft remove-peer -address=IP:port | -id=UUID
    meridian operator raft transfer-leader [-id=UUID]
`)
}

// Run implements cli.Command.
func (c *OperatorRaftCommand) Run(args []string) int { return cli.RunResultHelp }

// OperatorRaftListCommand lists the Raft peers.
type OperatorRaftListCommand struct {
	UI cli.Ui
}

var _ cli.Command = (*OperatorRaftListCommand)(nil)

// Synopsis implements cli.Command.
func (c *OperatorRaftListCommand) Synopsis() string {
	return "Displays the current Raft peer configuration"
}

func (c *OperatorRaftListCommand) flags() *httpFlagsSet {
	return readFlagSet("operator raft list-peers")
}

// Help implements cli.Command.
func (c *OperatorRaftListCommand) Help() string {
	return strings.TrimSpace(`
Usage: meridian operator raft list-peers [options]

  Lists the servers of the datacenter's Raft configuration, which one
  leads, and which vote.

Options:

`) + "\n" + flagHelp(c.flags().fs)
}

// Run implements cli.Command.
func (c *OperatorRaftListCommand) Run(args []string) int {
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
	conf, err := client.Operator().RaftGetConfiguration(f.h.queryOptions())
	if err != nil {
		c.UI.Error(agentError(f.h.address(), err))
		return 1
	}
	rows := []string{"Node\x1fID\x1fAddress\x1fState\x1fVoter\x1fRaftProtocol"}
	for _, s := range conf.Servers {
		state := "follower"
		if s.Leader {
			state = "leader"
		}
		rows = append(rows, strings.Join([]string{s.Node, s.ID, s.Address, state, strconv.FormatBool(s.Voter), s.ProtocolVersion}, "\x1f"))
	}
	c.UI.Output(columnize(rows))
	return 0
}

// OperatorRaftRemoveCommand removes a Raft peer.
type OperatorRaftRemoveCommand struct {
	UI cli.Ui
}

var _ cli.Command = (*OperatorRaftRemoveCommand)(nil)

// Synopsis implements cli.Command.
func (c *OperatorRaftRemoveCommand) Synopsis() string {
	return "Remove a Meridian server from the Raft configuration"
}

func (c *OperatorRaftRemoveCommand) flags() (*httpFlagsSet, *string, *string) {
	fs := newFlagSet("operator raft remove-peer")
	h := &httpFlags{}
	h.addHTTPFlags(fs)
	h.addDCFlags(fs)
	addr := fs.String("address", "", "The server address (IP:port) to remove.")
	id := fs.String("id", "", "The server ID to remove.")
	return &httpFlagsSet{fs: fs, h: h}, addr, id
}

// Help implements cli.Command.
func (c *OperatorRaftRemoveCommand) Help() string {
	f, _, _ := c.flags()
	return strings.TrimSpace(`
Usage: meridian operator raft remove-peer [options]

  Removes a server from the Raft configuration, so that quorum is counted
  without it. As Consul's, it removes even a server that is still alive;
  one that is still a LAN member is added back (as a non-voter) by the
  leader's next reconcile, so stop it or make it leave first.

Options:

`) + "\n" + flagHelp(f.fs)
}

// Run implements cli.Command.
func (c *OperatorRaftRemoveCommand) Run(args []string) int {
	f, addr, id := c.flags()
	if err := f.fs.Parse(args); err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	if (*addr == "") == (*id == "") {
		c.UI.Error("Error: give exactly one of -address or -id")
		return 1
	}
	client, err := f.h.client()
	if err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	q := &api.WriteOptions{Datacenter: f.h.datacenter}
	if *id != "" {
		err = client.Operator().RaftRemovePeerByID(*id, q)
	} else {
		err = client.Operator().RaftRemovePeerByAddress(*addr, q)
	}
	if err != nil {
		c.UI.Error(agentError(f.h.address(), err))
		return 1
	}
	target := *addr
	if *id != "" {
		target = *id
	}
	c.UI.Output(fmt.Sprintf("Removed peer with %s %q from the Raft configuration", map[bool]string{true: "id", false: "address"}[*id != ""], target))
	return 0
}

// OperatorFederationCommand shows every datacenter's status.
type OperatorFederationCommand struct {
	UI cli.Ui
}

var _ cli.Command = (*OperatorFederationCommand)(nil)

// Synopsis implements cli.Command.
func (c *OperatorFederationCommand) Synopsis() string {
	return "Shows which datacenters are reachable, with their servers and RTT"
}

func (c *OperatorFederationCommand) flags() *httpFlagsSet {
	fs := newFlagSet("operator federation")
	h := &httpFlags{}
	h.addHTTPFlags(fs)
	h.addDCFlags(fs)
	return &httpFlagsSet{fs: fs, h: h}
}

// Help implements cli.Command.
func (c *OperatorFederationCommand) Help() string {
	return strings.TrimSpace(`
Usage: meridian operator federation [options]

  Shows every datacenter known through the WAN pool as the local servers
  see it: servers known and alive, whether a leader answered, when a
  request last succeeded, the median RTT, and the last error.

Options:

`) + "\n" + flagHelp(c.flags().fs)
}

// federationDC mirrors the JSON of /v1/operator/federation.
type federationDC struct {
	Datacenter    string
	Local         bool
	ServersKnown  int
	ServersAlive  int
	Servers       []string
	LeaderKnown   bool
	LastContact   time.Time
	LastError     string
	LastErrorTime time.Time
	MedianRTT     string
	Reachable     bool
}

// Run implements cli.Command.
func (c *OperatorFederationCommand) Run(args []string) int {
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
	var dcs []federationDC
	if err := getJSON(client, "/v1/operator/federation", f.h.datacenter, &dcs); err != nil {
		c.UI.Error(agentError(f.h.address(), err))
		return 1
	}
	rows := []string{"Datacenter\x1fReachable\x1fServers\x1fLeader\x1fRTT\x1fLast contact\x1fLast error"}
	for _, dc := range dcs {
		name := dc.Datacenter
		if dc.Local {
			name += " (local)"
		}
		contact := "never"
		if !dc.LastContact.IsZero() {
			contact = time.Since(dc.LastContact).Round(time.Second).String() + " ago"
		}
		rtt := dc.MedianRTT
		if dc.Local || rtt == "" {
			rtt = "-"
		}
		lastErr := dc.LastError
		if lastErr == "" {
			lastErr = "-"
		}
		rows = append(rows, strings.Join([]string{
			name, yesNo(dc.Reachable), fmt.Sprintf("%d/%d alive", dc.ServersAlive, dc.ServersKnown),
			yesNo(dc.LeaderKnown), rtt, contact, lastErr,
		}, "\x1f"))
	}
	c.UI.Output(columnize(rows))
	return 0
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// getJSON reads an endpoint the api client has no method for.
func getJSON(client *api.Client, path, dc string, out any) error {
	_, err := client.Raw().Query(path, out, &api.QueryOptions{Datacenter: dc})
	return err
}
