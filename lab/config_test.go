package lab

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestParseRTT(t *testing.T) {
	got, err := ParseRTT(" dc2-dc1=60ms, dc1-dc3=1s ,dc2-dc3=0s", 3)
	if err != nil {
		t.Fatal(err)
	}
	want := map[Pair]time.Duration{{"dc1", "dc2"}: 60 * time.Millisecond, {"dc1", "dc3"}: time.Second, {"dc2", "dc3"}: 0}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for p, d := range want {
		if got[p] != d {
			t.Errorf("%s: got %s, want %s", p, got[p], d)
		}
	}
	if s := FormatRTT(got); s != "dc1-dc2=60ms,dc1-dc3=1s,dc2-dc3=0s" {
		t.Errorf("FormatRTT = %q", s)
	}
	if got, err := ParseRTT("", 2); err != nil || len(got) != 0 {
		t.Errorf("empty: %v %v", got, err)
	}
}

func TestParseRTTBadInput(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"dc1-dc2", "is not dcA-dcB=DURATION"},
		{"dc1=60ms", "does not name two datacenters"},
		{"dc1-dc4=60ms", `unknown datacenter "dc4": the lab has dc1 to dc3`},
		{"dc1-east=60ms", `unknown datacenter "east"`},
		{"dc01-dc2=60ms", `unknown datacenter "dc01"`},
		{"dc2-dc2=60ms", "pairs dc2 with itself"},
		{"dc1-dc2=fast", `"fast" is not a duration`},
		{"dc1-dc2=-1ms", "between 0 and 2s"},
		{"dc1-dc2=3s", "between 0 and 2s"},
		{"dc1-dc2=60ms,dc2-dc1=10ms", "gives the pair dc1-dc2 twice"},
	} {
		_, err := ParseRTT(tc.in, 3)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("ParseRTT(%q) = %v, want one sentence with %q", tc.in, err, tc.want)
		}
	}
}

func TestParseSubnet(t *testing.T) {
	p, err := ParseSubnet("127.0.58.9/24")
	if err != nil || p.String() != "127.0.58.0/24" {
		t.Errorf("got %v %v, want 127.0.58.0/24", p, err)
	}
	for _, in := range []string{"10.0.0.0/24", "192.168.1.0/24", "::1/128", "0.0.0.0/0", "126.0.0.0/7"} {
		if _, err := ParseSubnet(in); err == nil || !strings.Contains(err.Error(), "not a loopback network") {
			t.Errorf("ParseSubnet(%q) = %v, want a refusal as not loopback", in, err)
		}
	}
	if _, err := ParseSubnet("127.0.58.0"); err == nil || !strings.Contains(err.Error(), "CIDR") {
		t.Errorf("no prefix length: %v", err)
	}
}

func TestValidate(t *testing.T) {
	base := func() Config {
		return Config{DCs: 2, Servers: 3, Clients: 1, Dir: "/x", Binary: "/bin/true", Subnet: DefaultSubnet}
	}
	if c := base(); c.Validate() != nil {
		t.Fatalf("valid config refused: %v", c.Validate())
	}
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"no dcs", func(c *Config) { c.DCs = 0 }, "-dcs must be between 1 and 16, not 0"},
		{"many dcs", func(c *Config) { c.DCs = 17 }, "-dcs must be between"},
		{"no servers", func(c *Config) { c.Servers = 0 }, "-servers must be between 1 and 7"},
		{"negative clients", func(c *Config) { c.Clients = -1 }, "-clients must be between 0 and 32"},
		{"no dir", func(c *Config) { c.Dir = "" }, "-dir is required"},
		{"small subnet", func(c *Config) { c.Subnet = netip.MustParsePrefix("127.0.58.0/29") }, "has 6 usable addresses but the lab needs 14"},
		{"not loopback", func(c *Config) { c.Subnet = netip.MustParsePrefix("10.1.0.0/16") }, "not a loopback network"},
		{"rtt for unknown dc", func(c *Config) { c.RTT = map[Pair]time.Duration{{"dc1", "dc3"}: time.Millisecond} }, `unknown datacenter "dc3"`},
	} {
		c := base()
		tc.mod(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestPlan(t *testing.T) {
	c := Config{DCs: 2, Servers: 3, Clients: 1, Dir: "/lab", Binary: "m", Subnet: DefaultSubnet}
	p := NewPlan(&c)
	var got []string
	for _, a := range p.Agents() {
		got = append(got, a.Name+"@"+a.Host+"/"+a.Relay)
	}
	want := []string{
		"dc1-c1@127.0.58.1/", "dc1-s1@127.0.58.2/127.0.58.9", "dc1-s2@127.0.58.3/127.0.58.10", "dc1-s3@127.0.58.4/127.0.58.11",
		"dc2-c1@127.0.58.5/", "dc2-s1@127.0.58.6/127.0.58.12", "dc2-s2@127.0.58.7/127.0.58.13", "dc2-s3@127.0.58.8/127.0.58.14",
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("plan:\n got %v\nwant %v", got, want)
	}
	if p.DCs[1].HTTP != "http://127.0.58.5:8500" || p.DCs[0].Agents[1].Dir != "/lab/dc1/dc1-s1" {
		t.Errorf("dc2 HTTP %q, dc1-s1 dir %q", p.DCs[1].HTTP, p.DCs[0].Agents[1].Dir)
	}
	// Without clients the first server is the entry point.
	c.Clients = 0
	if p := NewPlan(&c); p.DCs[0].HTTP != "http://127.0.58.1:8500" || !p.DCs[0].Agents[0].Server {
		t.Errorf("no clients: entry %q", p.DCs[0].HTTP)
	}
}

func TestWANTimings(t *testing.T) {
	for _, rtt := range []time.Duration{0, 60 * time.Millisecond, 500 * time.Millisecond, MaxRTT} {
		pi, pt := wanTimings(rtt)
		if pt < 2*rtt || pi <= pt || pt < 200*time.Millisecond {
			t.Errorf("rtt %s: probe interval %s, timeout %s", rtt, pi, pt)
		}
	}
	if hcl := agentHCL(60 * time.Millisecond); !strings.Contains(hcl, `probe_timeout   = "200ms"`) {
		t.Errorf("agent config:\n%s", hcl)
	}
}
