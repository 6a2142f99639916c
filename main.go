// Command meridian is the Meridian agent and its command-line client.
package main

import (
	"fmt"
	"os"

	"github.com/hashicorp/cli"

	"github.com/meridian-sd/meridian/command"
	"github.com/meridian-sd/meridian/version"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	ui := command.DefaultUI()
	// "meridian -v" and "--version" print the version as Consul does.
	for _, a := range args {
		if a == "-v" || a == "-version" || a == "--version" {
			args = []string{"version"}
			break
		}
		if len(a) > 0 && a[0] != '-' {
			break
		}
	}
	c := &cli.CLI{
		Name:        "meridian",
		Version:     version.Human(),
		Args:        args,
		Commands:    command.Commands(ui),
		HelpFunc:    cli.BasicHelpFunc("meridian"),
		HelpWriter:  os.Stdout,
		ErrorWriter: os.Stderr,
	}
	code, err := c.Run()
	if err != nil {
		fmt.Fprintf(os.Stderr, "Error executing CLI: %v\n", err)
		return 1
	}
	return code
}
