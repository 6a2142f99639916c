package lab

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Limits of a lab's shape.
const (
	// MaxDCs bounds -dcs.
	MaxDCs = 16
	// MaxServers bounds -servers (per datacenter).
	MaxServers = 7
	// MaxClients bounds -clients (per datacenter).
	MaxClients = 32
	// MaxRTT bounds one injected round trip.
	MaxRTT = 2 * time.Second
)

// DefaultSubnet is the loopback network agents take addresses from.
var DefaultSubnet = netip.MustParsePrefix("127.0.58.0/24")

// loopback is the network every lab address must be in.
var loopback = netip.MustParsePrefix("127.0.0.0/8")

// Config describes a lab.
type Config struct {
	// DCs is the number of datacenters, named dc1 to dcN (1 to MaxDCs).
	DCs int
	// Servers is the number of servers per datacenter (1 to MaxServers).
	Servers int
	// Clients is the number of client agents per datacenter (0 to
	// MaxClients).
	Clients int
	// RTT holds injected round-trip times per pair of datacenters; a pair
	// that is left out gets none.
	RTT map[Pair]time.Duration
	// Subnet is the loopback network agents and relays take addresses
	// from; default DefaultSubnet.
	Subnet netip.Prefix
	// Dir holds the lab's state, the agents' data and logs.
	Dir string
	// Binary is the meridian executable the agents run.
	Binary string
	// LogLevel is the agents' -log-level; default info.
	LogLevel string
}

// Pair is an unordered pair of datacenter names, stored with A < B.
type Pair struct{ A, B string }

// NewPair orders a and b.
func NewPair(a, b string) Pair {
	if dcIndex(b) < dcIndex(a) {
		a, b = b, a
	}
	return Pair{A: a, B: b}
}

func (p Pair) String() string { return p.A + "-" + p.B }

// DCName is the name of datacenter i (1-based).
func DCName(i int) string { return "dc" + strconv.Itoa(i) }

// dcIndex is the number of a dcN name, 0 when it is not one.
func dcIndex(name string) int {
	if !strings.HasPrefix(name, "dc") {
		return 0
	}
	n, err := strconv.Atoi(name[2:])
	if err != nil || n < 1 || "dc"+strconv.Itoa(n) != name {
		return 0
	}
	return n
}

// ParseRTT parses -wan-rtt: comma-separated dcA-dcB=DURATION items, for
// datacenters dc1 to dc<dcs>.
func ParseRTT(s string, dcs int) (map[Pair]time.Duration, error) {
	out := map[Pair]time.Duration{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		pair, val, ok := strings.Cut(item, "=")
		if !ok {
			return nil, fmt.Errorf("-wan-rtt item %q is not dcA-dcB=DURATION (for example dc1-dc2=60ms)", item)
		}
		a, b, ok := strings.Cut(pair, "-")
		if !ok {
			return nil, fmt.Errorf("-wan-rtt item %q does not name two datacenters as dcA-dcB", item)
		}
		for _, dc := range []string{a, b} {
			if n := dcIndex(dc); n == 0 || n > dcs {
				return nil, fmt.Errorf("-wan-rtt names unknown datacenter %q: the lab has dc1 to %s", dc, DCName(dcs))
			}
		}
		if a == b {
			return nil, fmt.Errorf("-wan-rtt item %q pairs %s with itself; latency is only injected between datacenters", item, a)
		}
		d, err := time.ParseDuration(val)
		if err != nil {
			return nil, fmt.Errorf("-wan-rtt item %q: %q is not a duration (for example 60ms)", item, val)
		}
		if d < 0 || d > MaxRTT {
			return nil, fmt.Errorf("-wan-rtt item %q: the round trip must be between 0 and %s", item, MaxRTT)
		}
		p := NewPair(a, b)
		if _, dup := out[p]; dup {
			return nil, fmt.Errorf("-wan-rtt gives the pair %s twice", p)
		}
		out[p] = d
	}
	return out, nil
}

// FormatRTT renders rtt as ParseRTT reads it, pairs in order.
func FormatRTT(rtt map[Pair]time.Duration) string {
	var items []string
	for p, d := range rtt {
		items = append(items, p.String()+"="+d.String())
	}
	sort.Strings(items)
	return strings.Join(items, ",")
}

// ParseSubnet parses -subnet and checks that it is loopback.
func ParseSubnet(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(strings.TrimSpace(s))
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("-subnet %q is not a network in CIDR form (for example 127.0.58.0/24)", s)
	}
	p = p.Masked()
	if !p.Addr().Is4() || !loopback.Contains(p.Addr()) || p.Bits() < loopback.Bits() {
		return netip.Prefix{}, fmt.Errorf("-subnet %s is not a loopback network: lab agents only use addresses in 127.0.0.0/8", p)
	}
	return p, nil
}

// Validate checks the shape, the subnet's size and the directory.
func (c *Config) Validate() error {
	switch {
	case c.DCs < 1 || c.DCs > MaxDCs:
		return fmt.Errorf("-dcs must be between 1 and %d, not %d", MaxDCs, c.DCs)
	case c.Servers < 1 || c.Servers > MaxServers:
		return fmt.Errorf("-servers must be between 1 and %d, not %d", MaxServers, c.Servers)
	case c.Clients < 0 || c.Clients > MaxClients:
		return fmt.Errorf("-clients must be between 0 and %d, not %d", MaxClients, c.Clients)
	case c.Dir == "":
		return errors.New("-dir is required: the lab keeps its state, data and logs there")
	case c.Binary == "":
		return errors.New("no meridian binary to run the agents")
	}
	if !c.Subnet.IsValid() {
		c.Subnet = DefaultSubnet
	}
	if _, err := ParseSubnet(c.Subnet.String()); err != nil {
		return err
	}
	for p, d := range c.RTT {
		for _, dc := range []string{p.A, p.B} {
			if n := dcIndex(dc); n == 0 || n > c.DCs {
				return fmt.Errorf("-wan-rtt names unknown datacenter %q: the lab has dc1 to %s", dc, DCName(c.DCs))
			}
		}
		if d < 0 || d > MaxRTT {
			return fmt.Errorf("-wan-rtt %s: the round trip must be between 0 and %s", p, MaxRTT)
		}
	}
	need := c.DCs * (2*c.Servers + c.Clients)
	if have := usable(c.Subnet); have < need {
		return fmt.Errorf("-subnet %s has %d usable addresses but the lab needs %d (one per agent and one relay per server): use a larger network", c.Subnet, have, need)
	}
	return nil
}

// usable is the number of host addresses of p, without the network and
// broadcast addresses.
func usable(p netip.Prefix) int {
	hostBits := 32 - p.Bits()
	if hostBits < 2 {
		return 0
	}
	if hostBits > 20 {
		return 1 << 20 // more than any lab needs
	}
	return 1<<hostBits - 2
}

// MaxRTTOf is the largest injected round trip.
func (c *Config) MaxRTTOf() time.Duration {
	var m time.Duration
	for _, d := range c.RTT {
		if d > m {
			m = d
		}
	}
	return m
}
