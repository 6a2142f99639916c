package command

import (
	"flag"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/hashicorp/cli"
	"github.com/hashicorp/consul/api"
	"github.com/hashicorp/serf/serf"

	"github.com/meridian-sd/meridian/gossip"
)

// MembersCommand lists the members of the LAN or WAN pool.
type MembersCommand struct {
	UI cli.Ui
}

var _ cli.Command = (*MembersCommand)(nil)

// Synopsis implements cli.Command.
func (c *MembersCommand) Synopsis() string { return "Lists the members of a Meridian cluster" }

func (c *MembersCommand) flags() (*httpFlagsSet, *bool, *bool, *string) {
	fs := newFlagSet("members")
	h := &httpFlags{}
	h.addHTTPFlags(fs)
	wan := fs.Bool("wan", false, "List the WAN pool (servers of all datacenters) instead of the LAN pool.")
	detailed := fs.Bool("detailed", false, "Show every member tag instead of the summary columns.")
	status := fs.String("status", ".*", "Only show members whose status matches this regular expression (alive, leaving, left, failed).")
	return &httpFlagsSet{fs: fs, h: h}, wan, detailed, status
}

// Help implements cli.Command.
func (c *MembersCommand) Help() string {
	f, _, _, _ := c.flags()
	return strings.TrimSpace(`
Usage: meridian members [options]

  Lists the members of the agent's LAN gossip pool, or with -wan the servers
  of every datacenter in the WAN pool (named node.datacenter).

Options:

`) + "\n" + flagHelp(f.fs)
}

// httpFlagsSet pairs a flag set with its HTTP flags.
type httpFlagsSet struct {
	fs *flag.FlagSet
	h  *httpFlags
}

// Run implements cli.Command.
func (c *MembersCommand) Run(args []string) int {
	f, wan, detailed, status := c.flags()
	if err := f.fs.Parse(args); err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	if f.fs.NArg() > 0 {
		c.UI.Error(fmt.Sprintf("Error: members takes no arguments, got %q", f.fs.Args()))
		return 1
	}
	re, err := regexp.Compile(*status)
	if err != nil {
		c.UI.Error(fmt.Sprintf("Error: invalid -status regular expression %q: %v", *status, err))
		return 1
	}
	client, err := f.h.client()
	if err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	members, err := client.Agent().Members(*wan)
	if err != nil {
		c.UI.Error(agentError(f.h.address(), err))
		return 1
	}
	var shown []*api.AgentMember
	for _, m := range members {
		if re.MatchString(statusText(m.Status)) {
			shown = append(shown, m)
		}
	}
	if len(shown) == 0 {
		// Consul exits 2 when the filter leaves nothing.
		return 2
	}
	sort.Slice(shown, func(i, j int) bool { return memberLess(shown[i], shown[j]) })
	var rows []string
	if *detailed {
		rows = append(rows, "Node\x1fAddress\x1fStatus\x1fTags")
		for _, m := range shown {
			rows = append(rows, strings.Join([]string{m.Name, memberAddr(m), statusText(m.Status), tagText(m.Tags)}, "\x1f"))
		}
	} else {
		rows = append(rows, "Node\x1fAddress\x1fStatus\x1fType\x1fBuild\x1fProtocol\x1fDC\x1fPartition\x1fSegment")
		for _, m := range shown {
			typ := "client"
			if m.Tags[gossip.TagRole] == gossip.RoleServer {
				typ = "server"
			}
			segment := "<default>"
			if typ == "server" {
				segment = "<all>"
			}
			rows = append(rows, strings.Join([]string{
				m.Name, memberAddr(m), statusText(m.Status), typ, gossip.BuildVersion(m.Tags[gossip.TagBuild]),
				m.Tags[gossip.TagVsn], m.Tags[gossip.TagDatacenter], "default", segment,
			}, "\x1f"))
		}
	}
	c.UI.Output(columnize(rows))
	return 0
}

// memberLess orders servers of a DC by name, as Consul's members does
// (by DC, then name).
func memberLess(a, b *api.AgentMember) bool {
	if da, db := a.Tags[gossip.TagDatacenter], b.Tags[gossip.TagDatacenter]; da != db {
		return da < db
	}
	return a.Name < b.Name
}

func memberAddr(m *api.AgentMember) string {
	if strings.Contains(m.Addr, ":") {
		return fmt.Sprintf("[%s]:%d", m.Addr, m.Port)
	}
	return fmt.Sprintf("%s:%d", m.Addr, m.Port)
}

// statusText names a serf member status.
func statusText(s int) string {
	switch serf.MemberStatus(s) {
	case serf.StatusAlive:
		return "alive"
	case serf.StatusLeaving:
		return "leaving"
	case serf.StatusLeft:
		return "left"
	case serf.StatusFailed:
		return "failed"
	}
	return "none"
}

func tagText(tags map[string]string) string {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+tags[k])
	}
	return strings.Join(parts, ",")
}

// columnize lays out rows of \x1f-separated cells in left-aligned columns
// two spaces apart, as Consul's CLI prints tables.
func columnize(rows []string) string {
	cells := make([][]string, len(rows))
	var widths []int
	for i, r := range rows {
		cells[i] = strings.Split(r, "\x1f")
		for j, c := range cells[i] {
			if j >= len(widths) {
				widths = append(widths, 0)
			}
			if l := len([]rune(c)); l > widths[j] {
				widths[j] = l
			}
		}
	}
	var b strings.Builder
	for i, row := range cells {
		for j, c := range row {
			if j == len(row)-1 {
				b.WriteString(c)
				break
			}
			b.WriteString(c)
			b.WriteString(strings.Repeat(" ", widths[j]-len([]rune(c))+2))
		}
		if i < len(cells)-1 {
			b.WriteByte('\n')
		}
	}
	return b.String()
}
