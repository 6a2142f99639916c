package agent

import (
	"fmt"
	"net"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/miekg/dns"
)

func dnsQuery(t *testing.T, a *TestAgent, name string, qtype uint16, network string) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	c := &dns.Client{Net: network, Timeout: 5 * time.Second}
	resp, _, err := c.Exchange(m, a.DNSAddrs()[0].String())
	if err != nil {
		t.Fatalf("dns %s %s: %v", name, dns.TypeToString[qtype], err)
	}
	return resp
}

func answerAddrs(m *dns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		switch r := rr.(type) {
		case *dns.A:
			out = append(out, r.A.String())
		case *dns.AAAA:
			out = append(out, r.AAAA.String())
		}
	}
	sort.Strings(out)
	return out
}

func TestDNS(t *testing.T) {
	// An upstream resolver for recursion.
	upstream := &dns.Server{Addr: "127.0.0.1:0", Net: "udp", Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.ParseIP("192.0.2.7")})
		w.WriteMsg(m)
	})}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	upstream.PacketConn = pc
	go upstream.ActivateAndServe()
	t.Cleanup(func() { upstream.Shutdown() })

	a := StartTestAgent(t, "-server", "-bootstrap", "-dns-port=0", "-recursor="+pc.LocalAddr().String(),
		`-hcl=dns_config { service_ttl { "*" = "5s" } node_ttl = "7s" }`)
	a.WaitForLeader(t)
	c := a.Client
	reg := func(node, addr, id, svcAddr string, port int, tags []string, status string) {
		r := &api.CatalogRegistration{Node: node, Address: addr,
			Service: &api.AgentService{ID: id, Service: "web", Address: svcAddr, Port: port, Tags: tags},
			Check:   &api.AgentCheck{Node: node, CheckID: "chk-" + id, Name: "web", Status: status, ServiceID: id}}
		if _, err := c.Catalog().Register(r, nil); err != nil {
			t.Fatal(err)
		}
	}
	reg("web1", "10.0.0.1", "web-1", "", 8080, []string{"primary"}, api.HealthPassing)
	reg("web2", "10.0.0.2", "web-2", "10.9.9.9", 8081, []string{"backup"}, api.HealthWarning)
	reg("web3", "10.0.0.3", "web-3", "", 8082, nil, api.HealthCritical)

	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			m := dnsQuery(t, a, "web1.node.consul", dns.TypeA, network)
			if got := answerAddrs(m); m.Rcode != dns.RcodeSuccess || len(got) != 1 || got[0] != "10.0.0.1" || m.Answer[0].Header().Ttl != 7 {
				t.Fatalf("web1.node.consul: rcode %d answers %v", m.Rcode, m.Answer)
			}
			m = dnsQuery(t, a, "web1.node.dc1.consul", dns.TypeA, network)
			if got := answerAddrs(m); len(got) != 1 {
				t.Fatalf("web1.node.dc1.consul: %v", m.Answer)
			}
			// Critical instances are left out; a service address wins.
			m = dnsQuery(t, a, "web.service.consul", dns.TypeA, network)
			if got := strings.Join(answerAddrs(m), ","); got != "10.0.0.1,10.9.9.9" || m.Answer[0].Header().Ttl != 5 {
				t.Fatalf("web.service.consul: %s", m)
			}
			m = dnsQuery(t, a, "primary.web.service.consul", dns.TypeA, network)
			if got := strings.Join(answerAddrs(m), ","); got != "10.0.0.1" {
				t.Fatalf("primary.web.service.consul: %v", got)
			}
			m = dnsQuery(t, a, "_web._tcp.service.consul", dns.TypeSRV, network)
			ports := []int{}
			for _, rr := range m.Answer {
				srv, ok := rr.(*dns.SRV)
				if !ok {
					t.Fatalf("non-SRV answer %v", rr)
				}
				ports = append(ports, int(srv.Port))
			}
			sort.Ints(ports)
			if fmt.Sprint(ports) != "[8080 8081]" || len(m.Extra) != 2 {
				t.Fatalf("SRV answers %v extra %v", m.Answer, m.Extra)
			}
			// The addr name in an SRV target resolves.
			m = dnsQuery(t, a, "0a090909.addr.dc1.consul", dns.TypeA, network)
			if got := answerAddrs(m); len(got) != 1 || got[0] != "10.9.9.9" {
				t.Fatalf("addr lookup: %v", m.Answer)
			}
			for _, name := range []string{"nobody.node.consul", "nothing.service.consul", "web.service.nowhere.consul", "foo.bar.consul"} {
				m = dnsQuery(t, a, name, dns.TypeA, network)
				if m.Rcode != dns.RcodeNameError || len(m.Ns) != 1 {
					t.Fatalf("%s: rcode %d ns %v, want NXDOMAIN with SOA", name, m.Rcode, m.Ns)
				}
			}
			m = dnsQuery(t, a, "example.org", dns.TypeA, network)
			if got := answerAddrs(m); len(got) != 1 || got[0] != "192.0.2.7" {
				t.Fatalf("recursion: %v", m)
			}
		})
	}
}
