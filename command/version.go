package command

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/hashicorp/cli"

	"github.com/meridian-sd/meridian/version"
)

// VersionCommand prints the version.
type VersionCommand struct {
	UI cli.Ui
}

var _ cli.Command = (*VersionCommand)(nil)

// Synopsis implements cli.Command.
func (c *VersionCommand) Synopsis() string { return "Prints the Meridian version" }

// Help implements cli.Command.
func (c *VersionCommand) Help() string {
	return strings.TrimSpace(`
Usage: meridian version [-format=json]

  Prints the version of this binary and the protocol versions it speaks.

Options:

  -format=<string>
      Output format: text (default) or json.
`)
}

type versionInfo struct {
	Version     string
	Revision    string
	Prerelease  string
	BuildDate   string
	Protocol    int
	ProtocolMin int
	ProtocolMax int
}

// Run implements cli.Command.
func (c *VersionCommand) Run(args []string) int {
	fs := newFlagSet("version")
	format := fs.String("format", "text", "")
	if err := fs.Parse(args); err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	if fs.NArg() > 0 {
		c.UI.Error("Error: version takes no arguments")
		return 1
	}
	info := versionInfo{
		Version:     version.Version,
		Revision:    version.GitCommit,
		Prerelease:  version.Prerelease,
		Protocol:    version.ProtocolVersion,
		ProtocolMin: version.ProtocolVersionMin,
		ProtocolMax: version.ProtocolVersionMax,
	}
	switch *format {
	case "text":
		c.UI.Output("Meridian v" + version.Human())
		if version.GitCommit != "" {
			c.UI.Output("Revision " + version.GitCommit)
		}
		c.UI.Output(fmt.Sprintf("Protocol %d spoken by default, understands %d to %d", info.Protocol, info.ProtocolMin, info.ProtocolMax))
	case "json":
		buf, err := json.MarshalIndent(info, "", "  ")
		if err != nil {
			c.UI.Error("Error: " + err.Error())
			return 1
		}
		c.UI.Output(string(buf))
	default:
		c.UI.Error(fmt.Sprintf("Error: invalid -format %q: must be text or json", *format))
		return 1
	}
	return 0
}
