package command

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/hashicorp/cli"

	"github.com/meridian-sd/meridian/lab"
)

// LabUpCommand starts a local federation of datacenters and runs until
// interrupted.
type LabUpCommand struct {
	UI cli.Ui
	// Signals, when set, replaces the process's signals (tests).
	Signals <-chan os.Signal
	// Binary, when set, replaces the running executable as the agents'
	// binary (tests of the command package, whose executable is the test).
	Binary string
}

var _ cli.Command = (*LabUpCommand)(nil)

// Synopsis implements cli.Command.
func (c *LabUpCommand) Synopsis() string {
	return "Starts several federated datacenters on this machine"
}

type labUpFlags struct {
	fs       *flag.FlagSet
	dcs      *int
	servers  *int
	clients  *int
	rtt      *string
	subnet   *string
	dir      *string
	logLevel *string
}

func (c *LabUpCommand) flags() *labUpFlags {
	fs := newFlagSet("lab up")
	return &labUpFlags{
		fs:      fs,
		dcs:     fs.Int("dcs", 2, fmt.Sprintf("Number of datacenters, named dc1 to dcN (1 to %d). Default 2.", lab.MaxDCs)),
		servers: fs.Int("servers", 3, fmt.Sprintf("Servers per datacenter (1 to %d). Default 3.", lab.MaxServers)),
		clients: fs.Int("clients", 1, fmt.Sprintf("Client agents per datacenter (0 to %d). Default 1.", lab.MaxClients)),
		rtt: fs.String("wan-rtt", "", "Round-trip times injected between datacenters, as dcA-dcB=DURATION "+
			"items separated by commas (dc1-dc2=60ms,dc1-dc3=120ms). Any set of pairs can be given; "+
			"a pair left out gets no added latency."),
		subnet: fs.String("subnet", lab.DefaultSubnet.String(), "Loopback network (inside 127.0.0.0/8) the agents and "+
			"their relays take addresses from, one each, in order. Default "+lab.DefaultSubnet.String()+"."),
		dir:      fs.String("dir", "", "Directory for the lab's state, the agents' data and logs (required)."),
		logLevel: fs.String("log-level", "info", "The agents' log level (trace, debug, info, warn, error). Default info."),
	}
}

// Help implements cli.Command.
func (c *LabUpCommand) Help() string {
	return strings.TrimSpace(`
Usage: meridian lab up -dir DIR [-dcs N] [-servers S] [-clients C] [-wan-rtt dc1-dc2=60ms,...] [-subnet 127.0.58.0/24]

  Starts N federated datacenters on this machine, each of S servers and C
  client agents, every agent a real "meridian agent" process on a loopback
  address of its own with the default ports. Datacenters are joined over
  the WAN for you; the given round-trip times are injected between them
  by relays in this process, which "lab partition" also uses to cut a
  datacenter off. Prints one line per datacenter with the HTTP address of
  its first agent once every datacenter has a leader and the WAN pool is
  complete, then stays in the foreground: ^C (or "lab down -dir DIR")
  stops every agent it started. Data and logs stay in DIR; the next "lab
  up" in DIR starts over.

  Linux only: it uses addresses across 127.0.0.0/8 and /proc.

Options:

`) + "\n" + flagHelp(c.flags().fs)
}

// Run implements cli.Command.
func (c *LabUpCommand) Run(args []string) int {
	f := c.flags()
	if err := f.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			c.UI.Output(c.Help())
			return 0
		}
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	if f.fs.NArg() > 0 {
		c.UI.Error(fmt.Sprintf("Error: lab up takes no arguments, got %q", f.fs.Args()))
		return 1
	}
	cfg, err := c.config(f)
	if err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}

	// Catch signals before anything starts so none is lost.
	sigCh := c.Signals
	if sigCh == nil {
		ch := make(chan os.Signal, 4)
		signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
		defer signal.Stop(ch)
		sigCh = ch
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	upErr := make(chan error, 1)
	var l *lab.Lab
	go func() {
		var err error
		l, err = lab.Up(ctx, cfg, uiWriter{c.UI})
		upErr <- err
	}()
	select {
	case err := <-upErr:
		if err != nil {
			c.UI.Error("Error: " + err.Error())
			return 1
		}
	case sig := <-sigCh:
		c.UI.Output(fmt.Sprintf("==> Caught signal: %v, stopping the lab", sig))
		cancel()
		if err := <-upErr; err == nil {
			l.Close()
		}
		c.UI.Output("==> Every agent of the lab stopped")
		return 1
	}
	defer l.Close()
	c.UI.Output("")
	for _, dc := range l.Plan().DCs {
		c.UI.Output(fmt.Sprintf("%s  %s", dc.Name, dc.HTTP))
	}
	c.UI.Output("")
	first := l.Plan().DCs[0]
	c.UI.Output(fmt.Sprintf("Lab running. Try: meridian members -wan -http-addr=%s", l.Plan().Servers(first.Name)[0].HTTPAddr()))
	c.UI.Output(fmt.Sprintf("^C or `meridian lab down -dir %s` stops it; `meridian lab partition -dir %s dcN` cuts a datacenter off.", l.Dir(), l.Dir()))
	select {
	case sig := <-sigCh:
		c.UI.Output(fmt.Sprintf("==> Caught signal: %v, stopping the lab", sig))
	case <-l.StopRequested():
		c.UI.Output("==> Stopping the lab (lab down)")
	}
	l.Close()
	c.UI.Output("==> Every agent of the lab stopped")
	return 0
}

// config turns the flags into a lab config, one sentence per mistake.
func (c *LabUpCommand) config(f *labUpFlags) (lab.Config, error) {
	cfg := lab.Config{DCs: *f.dcs, Servers: *f.servers, Clients: *f.clients, Dir: *f.dir, LogLevel: *f.logLevel}
	if cfg.DCs < 1 || cfg.DCs > lab.MaxDCs {
		return cfg, fmt.Errorf("-dcs must be between 1 and %d, not %d", lab.MaxDCs, cfg.DCs)
	}
	rtt, err := lab.ParseRTT(*f.rtt, cfg.DCs)
	if err != nil {
		return cfg, err
	}
	cfg.RTT = rtt
	if cfg.Subnet, err = lab.ParseSubnet(*f.subnet); err != nil {
		return cfg, err
	}
	switch strings.ToLower(cfg.LogLevel) {
	case "trace", "debug", "info", "warn", "error":
	default:
		return cfg, fmt.Errorf("-log-level %q is not one of trace, debug, info, warn, error", cfg.LogLevel)
	}
	cfg.Binary = c.Binary
	if cfg.Binary == "" {
		if cfg.Binary, err = os.Executable(); err != nil {
			return cfg, fmt.Errorf("find the meridian binary to run the agents: %w", err)
		}
	}
	return cfg, cfg.Validate()
}

// uiWriter sends progress lines to the UI.
type uiWriter struct{ ui cli.Ui }

func (w uiWriter) Write(p []byte) (int, error) {
	w.ui.Output(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

var _ io.Writer = uiWriter{}
