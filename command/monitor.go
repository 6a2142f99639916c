package command

import (
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/hashicorp/cli"
)

// MonitorCommand streams the agent's logs.
type MonitorCommand struct {
	UI cli.Ui
	// ShutdownCh, when set, stops the command (tests); otherwise SIGINT
	// and SIGTERM do.
	ShutdownCh <-chan struct{}
}

var _ cli.Command = (*MonitorCommand)(nil)

// Synopsis implements cli.Command.
func (c *MonitorCommand) Synopsis() string { return "Stream logs from a Meridian agent" }

func (c *MonitorCommand) flags() (*httpFlagsSet, *string, *bool) {
	fs := newFlagSet("monitor")
	h := &httpFlags{}
	h.addHTTPFlags(fs)
	level := fs.String("log-level", "info", "The lowest level to show: trace, debug, info, warn or error.")
	jsonOut := fs.Bool("log-json", false, "Stream the logs as JSON.")
	return &httpFlagsSet{fs: fs, h: h}, level, jsonOut
}

// Help implements cli.Command.
func (c *MonitorCommand) Help() string {
	f, _, _ := c.flags()
	return strings.TrimSpace(`
Usage: meridian monitor [options]

  Streams the agent's log lines, at the given level or above, until
  interrupted. The level is independent of the agent's own log level.

Options:

`) + "\n" + flagHelp(f.fs)
}

// Run implements cli.Command.
func (c *MonitorCommand) Run(args []string) int {
	f, level, jsonOut := c.flags()
	if err := f.fs.Parse(args); err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	if f.fs.NArg() > 0 {
		c.UI.Error("Error: monitor takes no arguments")
		return 1
	}
	client, err := f.h.client()
	if err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	stopCh := make(chan struct{})
	defer close(stopCh)
	var logCh chan string
	if *jsonOut {
		logCh, err = client.Agent().MonitorJSON(*level, stopCh, nil)
	} else {
		logCh, err = client.Agent().Monitor(*level, stopCh, nil)
	}
	if err != nil {
		c.UI.Error(agentError(f.h.address(), err))
		return 1
	}
	shutdown := c.ShutdownCh
	if shutdown == nil {
		sigCh := make(chan os.Signal, 1)
		signal.Notify(sigCh, os.Interrupt, syscall.SIGTERM)
		defer signal.Stop(sigCh)
		done := make(chan struct{})
		go func() {
			select {
			case <-sigCh:
				close(done)
			case <-stopCh:
			}
		}()
		shutdown = done
	}
	for {
		select {
		case line := <-logCh:
			if line == "" {
				c.UI.Error("Remote side ended the monitor! This usually means that the remote side has exited or crashed.")
				return 1
			}
			c.UI.Output(strings.TrimRight(line, "\n"))
		case <-shutdown:
			return 0
		}
	}
}
