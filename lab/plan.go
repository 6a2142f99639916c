package lab

import (
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"time"
)

// Default ports every agent uses on its own address.
const (
	PortServer  = 8300
	PortSerfLAN = 8301
	PortSerfWAN = 8302
	PortHTTP    = 8500
)

// Agent is one planned agent.
type Agent struct {
	// Name is the node name: dc1-s1, dc1-c1.
	Name string `json:"name"`
	// DC is its datacenter.
	DC string `json:"dc"`
	// Server is true for servers.
	Server bool `json:"server"`
	// Host is its own loopback address.
	Host string `json:"host"`
	// Relay is a server's relay address (its advertised WAN address).
	Relay string `json:"relay,omitempty"`
	// Dir holds its data dir and log.
	Dir string `json:"dir"`
	// PID is its process ID while it runs.
	PID int `json:"pid,omitempty"`
}

// HTTPAddr is the agent's HTTP API address.
func (a *Agent) HTTPAddr() string { return net.JoinHostPort(a.Host, strconv.Itoa(PortHTTP)) }

// LogFile is the agent's log.
func (a *Agent) LogFile() string { return filepath.Join(a.Dir, "agent.log") }

// DC is one planned datacenter.
type DC struct {
	// Name is dc1, dc2, ...
	Name string `json:"name"`
	// HTTP is the entry agent's HTTP URL (the first client, or the first
	// server when there are no clients).
	HTTP string `json:"http"`
	// Servers and Clients count the agents.
	Servers int `json:"servers"`
	Clients int `json:"clients"`
	// Agents are its agents, clients first.
	Agents []*Agent `json:"agents"`
}

// Plan is where everything of a lab lives.
type Plan struct {
	// Subnet is the lab's loopback network.
	Subnet string `json:"subnet"`
	// RTT is the injected latency, as -wan-rtt reads it.
	RTT string `json:"wan_rtt,omitempty"`
	// DCs are the datacenters in order.
	DCs []*DC `json:"dcs"`
}

// NewPlan lays out a validated config.
func NewPlan(c *Config) *Plan {
	p := &Plan{Subnet: c.Subnet.String(), RTT: FormatRTT(c.RTT)}
	addr := c.Subnet.Addr().Next() // skip the network address
	next := func() string {
		s := addr.String()
		addr = addr.Next()
		return s
	}
	var servers []*Agent
	for i := 1; i <= c.DCs; i++ {
		dc := &DC{Name: DCName(i), Servers: c.Servers, Clients: c.Clients}
		for j := 1; j <= c.Clients; j++ {
			dc.Agents = append(dc.Agents, &Agent{Name: fmt.Sprintf("%s-c%d", dc.Name, j), DC: dc.Name, Host: next()})
		}
		for j := 1; j <= c.Servers; j++ {
			s := &Agent{Name: fmt.Sprintf("%s-s%d", dc.Name, j), DC: dc.Name, Server: true, Host: next()}
			dc.Agents = append(dc.Agents, s)
			servers = append(servers, s)
		}
		for _, a := range dc.Agents {
			a.Dir = filepath.Join(c.Dir, dc.Name, a.Name)
		}
		dc.HTTP = "http://" + dc.Agents[0].HTTPAddr()
		p.DCs = append(p.DCs, dc)
	}
	for _, s := range servers {
		s.Relay = next()
	}
	return p
}

// Agents lists every agent, datacenter by datacenter.
func (p *Plan) Agents() []*Agent {
	var out []*Agent
	for _, dc := range p.DCs {
		out = append(out, dc.Agents...)
	}
	return out
}

// Servers lists the servers of dc, or of every datacenter when dc is "".
func (p *Plan) Servers(dc string) []*Agent {
	var out []*Agent
	for _, a := range p.Agents() {
		if a.Server && (dc == "" || a.DC == dc) {
			out = append(out, a)
		}
	}
	return out
}

// DC finds a datacenter by name.
func (p *Plan) DC(name string) *DC {
	for _, dc := range p.DCs {
		if dc.Name == name {
			return dc
		}
	}
	return nil
}

// DCNames lists the datacenters' names.
func (p *Plan) DCNames() []string {
	var out []string
	for _, dc := range p.DCs {
		out = append(out, dc.Name)
	}
	return out
}

// hostDCs maps every agent address to its datacenter.
func (p *Plan) hostDCs() map[netip.Addr]string {
	m := map[netip.Addr]string{}
	for _, a := range p.Agents() {
		m[netip.MustParseAddr(a.Host)] = a.DC
	}
	return m
}

// wanTimings picks the WAN pool's failure-detector timings for the largest
// injected round trip: a probe must outlast a round trip with margin for a
// loaded machine, and the interval must exceed the timeout.
func wanTimings(maxRTT time.Duration) (probeInterval, probeTimeout time.Duration) {
	probeTimeout = 2*maxRTT + 50*time.Millisecond
	if probeTimeout < 200*time.Millisecond {
		probeTimeout = 200 * time.Millisecond
	}
	probeInterval = 2 * probeTimeout
	return probeInterval, probeTimeout
}

// agentHCL is the configuration every agent of the lab shares: quick but
// not twitchy timings for loopback and the injected WAN latency.
func agentHCL(maxRTT time.Duration) string {
	pi, pt := wanTimings(maxRTT)
	return fmt.Sprintf(`# Written by meridian lab: timings for one machine.
performance { raft_multiplier = 1 }
gossip_lan {
  probe_interval  = "500ms"
  probe_timeout   = "250ms"
  gossip_interval = "100ms"
  suspicion_mult  = 3
}
gossip_wan {
  probe_interval  = %q
  probe_timeout   = %q
  gossip_interval = "100ms"
  suspicion_mult  = 3
  retransmit_mult = 6
}
`, pi.String(), pt.String())
}
