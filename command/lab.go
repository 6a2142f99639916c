package command

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/cli"

	"github.com/meridian-sd/meridian/lab"
)

// LabCommand is the parent of the lab verbs.
type LabCommand struct{}

var _ cli.Command = (*LabCommand)(nil)

// Synopsis implements cli.Command.
func (c *LabCommand) Synopsis() string {
	return "Runs a local multi-datacenter federation with WAN latency and partitions"
}

// Help implements cli.Command.
func (c *LabCommand) Help() string {
	return strings.TrimSpace(`
Usage: meridian lab <subcommand> -dir DIR [options]

  Runs several federated datacenters of real agents on this machine, with
  injected WAN latency, and cuts datacenters off and back on:

    $ meridian lab up -dir /tmp/lab -dcs 2 -servers 3 -clients 1 -wan-rtt dc1-dc2=60ms
    $ meridian lab status -dir /tmp/lab
    $ meridian lab partition -dir /tmp/lab dc2
    $ meridian lab heal -dir /tmp/lab
    $ meridian lab down -dir /tmp/lab
`)
}

// Run implements cli.Command.
func (c *LabCommand) Run(args []string) int { return cli.RunResultHelp }

// labDirFlags parses -dir and the positional datacenters of a lab verb.
func labDirFlags(ui cli.Ui, name, help string, args []string) (dir string, rest []string, code int, ok bool) {
	fs := newFlagSet(name)
	d := fs.String("dir", "", "The directory of the running lab (as given to lab up).")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			ui.Output(help)
			return "", nil, 0, false
		}
		ui.Error("Error: " + err.Error())
		return "", nil, 1, false
	}
	if *d == "" {
		ui.Error("Error: -dir is required: name the directory the lab was started with")
		return "", nil, 1, false
	}
	return *d, fs.Args(), 0, true
}

func labDirHelp() string {
	fs := newFlagSet("lab")
	fs.String("dir", "", "The directory of the running lab (as given to lab up).")
	return flagHelp(fs)
}

// labCall sends a request to the lab and prints its lines.
func labCall(ui cli.Ui, dir string, req lab.Request) (*lab.Response, int) {
	resp, err := lab.Call(dir, req)
	if err != nil {
		if errors.Is(err, lab.ErrNotRunning) {
			ui.Error("Error: " + err.Error() + ": start one with `meridian lab up -dir " + dir + "`")
		} else {
			ui.Error("Error: " + err.Error())
		}
		return nil, 1
	}
	for _, l := range resp.Lines {
		ui.Output(l)
	}
	if resp.Error != "" {
		ui.Error("Error: " + resp.Error)
		return resp, 1
	}
	return resp, 0
}

// LabPartitionCommand cuts datacenters' WAN links.
type LabPartitionCommand struct {
	UI cli.Ui
}

var _ cli.Command = (*LabPartitionCommand)(nil)

// Synopsis implements cli.Command.
func (c *LabPartitionCommand) Synopsis() string {
	return "Cuts datacenters' WAN links in a running lab"
}

// Help implements cli.Command.
func (c *LabPartitionCommand) Help() string {
	return strings.TrimSpace(`
Usage: meridian lab partition -dir DIR dc [dc...]

  Cuts the WAN links of each named datacenter of the lab running in DIR:
  datagrams between it and the other datacenters are dropped, relayed
  connections are closed and new ones refused. Its LAN keeps working, so
  it serves its own reads and writes; requests for it from other
  datacenters (?dc=dc2) fail, and so do its requests for them. "lab heal"
  restores the links.

Options:

`) + "\n" + labDirHelp()
}

// Run implements cli.Command.
func (c *LabPartitionCommand) Run(args []string) int {
	dir, dcs, code, ok := labDirFlags(c.UI, "lab partition", c.Help(), args)
	if !ok {
		return code
	}
	if len(dcs) == 0 {
		c.UI.Error("Error: name the datacenters to partition, for example: meridian lab partition -dir " + dir + " dc2")
		return 1
	}
	_, code = labCall(c.UI, dir, lab.Request{Op: "partition", DCs: dcs})
	return code
}

// LabHealCommand restores datacenters' WAN links.
type LabHealCommand struct {
	UI cli.Ui
}

var _ cli.Command = (*LabHealCommand)(nil)

// Synopsis implements cli.Command.
func (c *LabHealCommand) Synopsis() string { return "Restores datacenters' WAN links in a running lab" }

// Help implements cli.Command.
func (c *LabHealCommand) Help() string {
	return strings.TrimSpace(`
Usage: meridian lab heal -dir DIR [dc...]

  Restores the WAN links of the named datacenters of the lab running in
  DIR, or of every partitioned datacenter when none is named. The healed
  datacenters' servers join the WAN pool again (as an operator would;
  gossip alone would take until serf's 30-second reconnect), and heal
  returns once every server sees every other alive.

Options:

`) + "\n" + labDirHelp()
}

// Run implements cli.Command.
func (c *LabHealCommand) Run(args []string) int {
	dir, dcs, code, ok := labDirFlags(c.UI, "lab heal", c.Help(), args)
	if !ok {
		return code
	}
	_, code = labCall(c.UI, dir, lab.Request{Op: "heal", DCs: dcs})
	return code
}

// LabStatusCommand shows a running lab's datacenters.
type LabStatusCommand struct {
	UI cli.Ui
}

var _ cli.Command = (*LabStatusCommand)(nil)

// Synopsis implements cli.Command.
func (c *LabStatusCommand) Synopsis() string { return "Shows the datacenters of a running lab" }

// Help implements cli.Command.
func (c *LabStatusCommand) Help() string {
	return strings.TrimSpace(`
Usage: meridian lab status -dir DIR

  Shows the datacenters of the lab running in DIR: name, HTTP address of
  the entry agent, servers, clients, whether its WAN links are cut, and
  its leader as that agent sees it.

Options:

`) + "\n" + labDirHelp()
}

// Run implements cli.Command.
func (c *LabStatusCommand) Run(args []string) int {
	dir, rest, code, ok := labDirFlags(c.UI, "lab status", c.Help(), args)
	if !ok {
		return code
	}
	if len(rest) > 0 {
		c.UI.Error(fmt.Sprintf("Error: lab status takes no arguments, got %q", rest))
		return 1
	}
	resp, code := labCall(c.UI, dir, lab.Request{Op: "status"})
	if code != 0 {
		return code
	}
	st := resp.Status
	if st == nil {
		c.UI.Error("Error: the lab sent no status")
		return 1
	}
	rows := []string{"DC\x1fHTTP\x1fServers\x1fClients\x1fWAN\x1fLeader"}
	for _, dc := range st.DCs {
		wan := "connected"
		if dc.Partitioned {
			wan = "partitioned"
		}
		leader := dc.Leader
		switch {
		case dc.Error != "":
			leader = "unknown (" + dc.Error + ")"
		case leader == "":
			leader = "none"
		}
		rows = append(rows, fmt.Sprintf("%s\x1f%s\x1f%d\x1f%d\x1f%s\x1f%s", dc.Name, dc.HTTP, dc.Servers, dc.Clients, wan, leader))
	}
	c.UI.Output(columnize(rows))
	rtt := st.RTT
	if rtt == "" {
		rtt = "none"
	}
	c.UI.Output(fmt.Sprintf("\nLab pid %d, subnet %s, WAN round trips: %s", st.PID, st.Subnet, rtt))
	if st.Unidentified > 0 {
		c.UI.Output(fmt.Sprintf("%d relayed connections could not be traced to an agent and got no latency.", st.Unidentified))
	}
	return 0
}

// LabDownCommand stops a running lab.
type LabDownCommand struct {
	UI cli.Ui
}

var _ cli.Command = (*LabDownCommand)(nil)

// Synopsis implements cli.Command.
func (c *LabDownCommand) Synopsis() string { return "Stops a running lab" }

// Help implements cli.Command.
func (c *LabDownCommand) Help() string {
	return strings.TrimSpace(`
Usage: meridian lab down -dir DIR

  Stops the lab running in DIR, as ^C in its terminal does, and waits until
  it has stopped every agent. Agents a previous lab left running (listed in
  DIR/lab.json, and still naming DIR on their command line) are killed. Data
  and logs stay in DIR.

Options:

`) + "\n" + labDirHelp()
}

// labDownTimeout caps waiting for the lab to stop.
const labDownTimeout = 60 * time.Second

// Run implements cli.Command.
func (c *LabDownCommand) Run(args []string) int {
	dir, rest, code, ok := labDirFlags(c.UI, "lab down", c.Help(), args)
	if !ok {
		return code
	}
	if len(rest) > 0 {
		c.UI.Error(fmt.Sprintf("Error: lab down takes no arguments, got %q", rest))
		return 1
	}
	lines, err := lab.Down(dir, labDownTimeout)
	if err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	for _, l := range lines {
		c.UI.Output(l)
	}
	return 0
}
