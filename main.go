// Command meridian is the Meridian agent and its command-line client.
package main

import (
	"fmt"
	"os"
	"runtime"

	"github.com/hashicorp/cli"

	"github.com/meridian-sd/meridian/command"
	"github.com/meridian-sd/meridian/version"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "agent" {
		// The agent samples the heap only when it can serve profiles
		// (enable_debug, or ACLs on; agent.New turns sampling back on):
		// the samples' stack table alone touches about 1 MiB. Set first
		// thing in main, as early as the runtime asks it to be set
		// (package initialisation has allocated with the default rate,
		// a few samples); a reload that turns enable_debug on changes it
		// once more, with no profile served until then.
		runtime.MemProfileRate = 0
	}
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
