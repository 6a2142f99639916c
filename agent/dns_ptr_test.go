package agent

import (
	"reflect"
	"testing"

	"github.com/hashicorp/consul/api"
	"github.com/miekg/dns"
)

// txtOf lists the texts of the TXT records among rrs.
func txtOf(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		if t, ok := rr.(*dns.TXT); ok {
			out = append(out, t.Txt...)
		}
	}
	return out
}

// ptrOf lists the targets of the PTR records among rrs.
func ptrOf(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		if p, ok := rr.(*dns.PTR); ok {
			out = append(out, p.Ptr)
		}
	}
	return out
}

// TestDNSReverseAndNodeMetaTXT: PTR records for node and service
// addresses (IPv4 and IPv6) and node meta as TXT records, as Consul's DNS
// answers them.
func TestDNSReverseAndNodeMetaTXT(t *testing.T) {
	a := StartTestAgent(t, "-server", "-bootstrap", "-dns-port=0")
	a.WaitForLeader(t)
	cat := a.Client.Catalog()
	for _, reg := range []*api.CatalogRegistration{
		{Node: "ext1", Address: "192.0.2.50", NodeMeta: map[string]string{"rack": "r1", "a=b": "c"}},
		{Node: "ext6", Address: "2001:db8::5"},
		{Node: "ext2", Address: "192.0.2.51", Service: &api.AgentService{ID: "web1", Service: "web", Address: "192.0.2.60", Port: 80}},
	} {
		if _, err := cat.Register(reg, nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		addr string
		want []string
	}{
		{"192.0.2.50", []string{"ext1.node.dc1.consul."}},
		{"2001:db8::5", []string{"ext6.node.dc1.consul."}},
		{"192.0.2.60", []string{"web.service.consul."}},
	} {
		rev, err := dns.ReverseAddr(tc.addr)
		if err != nil {
			t.Fatal(err)
		}
		m := dnsQuery(t, a, rev, dns.TypePTR, "udp")
		if m.Rcode != dns.RcodeSuccess || !reflect.DeepEqual(ptrOf(m.Answer), tc.want) {
			t.Errorf("PTR %s: rcode %s, %v, want %v", rev, dns.RcodeToString[m.Rcode], ptrOf(m.Answer), tc.want)
		}
	}
	if m := dnsQuery(t, a, "99.2.0.192.in-addr.arpa.", dns.TypePTR, "udp"); m.Rcode != dns.RcodeNameError {
		t.Errorf("PTR of an unknown address: rcode %s, %v", dns.RcodeToString[m.Rcode], m.Answer)
	}
	if m := dnsQuery(t, a, "x.2.0.192.in-addr.arpa.", dns.TypePTR, "tcp"); m.Rcode != dns.RcodeNameError {
		t.Errorf("PTR of a bad name: rcode %s", dns.RcodeToString[m.Rcode])
	}

	wantTXT := []string{"a`=b=c", "rack=r1"}
	m := dnsQuery(t, a, "ext1.node.consul.", dns.TypeTXT, "udp")
	if got := txtOf(m.Answer); !reflect.DeepEqual(got, wantTXT) {
		t.Errorf("TXT of ext1: %v, want %v", got, wantTXT)
	}
	m = dnsQuery(t, a, "ext1.node.consul.", dns.TypeA, "udp")
	if len(answerAddrs(m)) != 1 || !reflect.DeepEqual(txtOf(m.Extra), wantTXT) || len(txtOf(m.Answer)) != 0 {
		t.Errorf("A of ext1: answer %v, extra %v", m.Answer, m.Extra)
	}

	// Without the additional TXT records, only TXT questions get them.
	b := StartTestAgent(t, "-server", "-bootstrap", "-dns-port=0", "-hcl=dns_config { enable_additional_node_meta_txt = false }")
	b.WaitForLeader(t)
	if _, err := b.Client.Catalog().Register(&api.CatalogRegistration{Node: "ext1", Address: "192.0.2.50", NodeMeta: map[string]string{"rack": "r1"}}, nil); err != nil {
		t.Fatal(err)
	}
	if m := dnsQuery(t, b, "ext1.node.consul.", dns.TypeA, "udp"); len(answerAddrs(m)) != 1 || len(txtOf(m.Extra)) != 0 {
		t.Errorf("A of ext1 without additional TXT: answer %v, extra %v", m.Answer, m.Extra)
	}
	if m := dnsQuery(t, b, "ext1.node.consul.", dns.TypeTXT, "udp"); !reflect.DeepEqual(txtOf(m.Answer), []string{"rack=r1"}) {
		t.Errorf("TXT of ext1 without additional TXT: %v", m.Answer)
	}
}

func TestRFC1464Key(t *testing.T) {
	for in, want := range map[string]string{"rack": "rack", "a=b": "a`=b", "q`x": "q``x", " lead": "` lead", "trail ": "trail` "} {
		if got := rfc1464Key(in); got != want {
			t.Errorf("rfc1464Key(%q) = %q, want %q", in, got, want)
		}
	}
}
