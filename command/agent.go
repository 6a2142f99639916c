package command

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/cli"
	"github.com/hashicorp/go-hclog"

	"github.com/meridian-sd/meridian/agent"
	"github.com/meridian-sd/meridian/agent/config"
	"github.com/meridian-sd/meridian/version"
)

// AgentCommand runs an agent until it is told to stop.
type AgentCommand struct {
	UI cli.Ui
	// Signals, when set, replaces the process's signals (tests).
	Signals <-chan os.Signal
}

var _ cli.Command = (*AgentCommand)(nil)

// Synopsis implements cli.Command.
func (c *AgentCommand) Synopsis() string { return "Runs a Meridian agent" }

// Help implements cli.Command.
func (c *AgentCommand) Help() string {
	return strings.TrimSpace(`
Usage: meridian agent [options]

  Starts the Meridian agent and runs until an interrupt is received. The
  agent is a server with -server, otherwise a client. It joins its
  datacenter's LAN gossip pool; servers also join the WAN pool that spans
  all datacenters.

  Configuration comes from Consul-style JSON or HCL files (-config-file,
  -config-dir; later files override earlier ones) and from flags, which
  override files. SIGINT leaves the cluster gracefully (servers skip the
  leave unless skip_leave_on_interrupt is false); SIGTERM shuts down without
  leaving on servers (leave_on_terminate changes it); SIGHUP reloads the
  configuration (log level, node meta, services and checks, DNS answer
  settings, TLS certificates; other changes are logged and wait for a
  restart).

Options:

`) + "\n" + config.NewFlags().Help()
}

// Run implements cli.Command.
func (c *AgentCommand) Run(args []string) int {
	load := func() (*config.RuntimeConfig, []string, error) {
		return config.Load(config.LoadOpts{Args: args})
	}
	rc, warnings, err := load()
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			c.UI.Output(c.Help())
			return 0
		}
		c.UI.Error(configErrorText(err))
		return 1
	}
	level := hclog.LevelFromString(rc.LogLevel)
	logger := hclog.NewInterceptLogger(&hclog.LoggerOptions{
		Name:       "agent",
		Level:      level,
		JSONFormat: rc.LogJSON,
		Output:     os.Stderr,
		TimeFormat: "2006-01-02T15:04:05.000Z0700",
	})
	if rc.PidFile != "" {
		if err := os.WriteFile(rc.PidFile, []byte(fmt.Sprintf("%d\n", os.Getpid())), 0o644); err != nil {
			c.UI.Error(fmt.Sprintf("Error writing pid file %s: %v", rc.PidFile, err))
			return 1
		}
		defer os.Remove(rc.PidFile)
	}

	// Catch signals before anything starts so none is lost.
	sigCh := c.Signals
	if sigCh == nil {
		ch := make(chan os.Signal, 4)
		signal.Notify(ch, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
		defer signal.Stop(ch)
		sigCh = ch
	}

	c.UI.Output("==> Starting Meridian agent...")
	// The agent logs the warnings, and on a reload only new ones.
	a, err := agent.New(rc, agent.Options{Logger: logger, Reload: load, Warnings: warnings})
	if err != nil {
		c.UI.Error(fmt.Sprintf("Error creating agent: %v", err))
		return 1
	}
	if err := a.Start(); err != nil {
		c.UI.Error(fmt.Sprintf("Error starting agent: %v", err))
		return 1
	}
	c.banner(rc, a)
	c.UI.Output("==> Meridian agent running!")
	return c.wait(a, rc, sigCh)
}

// configErrorText shows every configuration problem, one per line.
func configErrorText(err error) string {
	lines := strings.Split(err.Error(), "\n")
	if len(lines) == 1 {
		return "Error: " + lines[0]
	}
	return "Error: invalid configuration:\n  " + strings.Join(lines, "\n  ")
}

func (c *AgentCommand) banner(rc *config.RuntimeConfig, a *agent.Agent) {
	httpAddrs := make([]string, 0, len(a.HTTPAddrs()))
	for _, addr := range a.HTTPAddrs() {
		httpAddrs = append(httpAddrs, agent.HTTPAddrString(addr))
	}
	dnsAddrs := make([]string, 0, len(a.DNSAddrs()))
	for _, addr := range a.DNSAddrs() {
		dnsAddrs = append(dnsAddrs, addr.String())
	}
	if len(dnsAddrs) == 0 {
		dnsAddrs = append(dnsAddrs, "off")
	}
	lines := [][2]string{
		{"Version", version.Human()},
		{"Node ID", rc.NodeID},
		{"Node name", rc.NodeName},
		{"Datacenter", rc.Datacenter},
		{"Server", fmt.Sprintf("%v (Bootstrap: %v)", rc.ServerMode, rc.Bootstrap || rc.DevMode)},
		{"HTTP addr", strings.Join(httpAddrs, ", ")},
		{"DNS addr", strings.Join(dnsAddrs, ", ") + " (UDP and TCP)"},
		{"Cluster addr", rc.SerfAdvertiseAddrLAN.String()},
		{"Encrypt", fmt.Sprintf("Gossip: %v, TLS-Outgoing: %v, TLS-Incoming: %v",
			a.GossipEncrypted(), rc.TLS.InternalRPC.VerifyOutgoing, rc.TLS.InternalRPC.VerifyIncoming)},
	}
	if httpsAddrs := a.HTTPSAddrs(); len(httpsAddrs) > 0 {
		addrs := make([]string, 0, len(httpsAddrs))
		for _, addr := range httpsAddrs {
			addrs = append(addrs, addr.String())
		}
		lines = append(lines[:6], append([][2]string{{"HTTPS addr", strings.Join(addrs, ", ")}}, lines[6:]...)...)
	}
	c.UI.Output("    Meridian agent configuration:\n")
	for _, l := range lines {
		c.UI.Info(fmt.Sprintf("%14s: %s", l[0], l[1]))
	}
	c.UI.Output("")
}

// wait runs until a signal, an API leave, or a fatal error ends the agent.
func (c *AgentCommand) wait(a *agent.Agent, rc *config.RuntimeConfig, sigCh <-chan os.Signal) int {
	for {
		var sig os.Signal
		select {
		case s := <-sigCh:
			sig = s
		case <-a.ShutdownCh():
			c.UI.Output("==> Agent has left the cluster and shut down")
			return 0
		case err := <-a.FatalCh():
			c.UI.Error(fmt.Sprintf("Error: %v", err))
			a.Shutdown()
			return 1
		}
		if sig == syscall.SIGHUP {
			c.UI.Output("==> Caught signal: hangup, reloading configuration")
			if err := a.Reload(); err != nil {
				c.UI.Error(fmt.Sprintf("Error reloading: %v", err))
			}
			continue
		}
		c.UI.Output(fmt.Sprintf("==> Caught signal: %v", sig))
		graceful := (sig == os.Interrupt && !rc.SkipLeaveOnInt) || (sig == syscall.SIGTERM && rc.LeaveOnTerm)
		if !graceful {
			a.Shutdown()
			return 1
		}
		c.UI.Output("==> Gracefully leaving the cluster, send another signal to stop at once")
		done := make(chan error, 1)
		go func() { done <- a.Leave() }()
		select {
		case err := <-done:
			a.Shutdown()
			if err != nil {
				c.UI.Error(fmt.Sprintf("Error leaving: %v", err))
				return 1
			}
			return 0
		case <-sigCh:
			a.Shutdown()
			return 1
		case <-time.After(30 * time.Second):
			c.UI.Error("Error: leave timed out after 30s")
			a.Shutdown()
			return 1
		}
	}
}
