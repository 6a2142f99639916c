package agent

import (
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/miekg/dns"

	"github.com/meridian-sd/meridian/structs"
)

// staleCatalog is a fake RPC for the DNS server: a stale read answers
// with lastContact and address staleAddr, a leader read with 0 and
// leaderAddr. It records the AllowStale of every call.
type staleCatalog struct {
	lastContact time.Duration
	calls       []bool
}

const staleAddr, leaderAddr = "10.0.0.1", "10.0.0.2"

func (c *staleCatalog) rpc(method string, args, reply any) error {
	var opts structs.QueryOptions
	switch a := args.(type) {
	case *structs.NodeSpecificRequest:
		opts = a.QueryOptions
	case *structs.ServiceSpecificRequest:
		opts = a.QueryOptions
	default:
		return fmt.Errorf("unexpected args %T", args)
	}
	c.calls = append(c.calls, opts.AllowStale)
	addr, meta := leaderAddr, structs.QueryMeta{KnownLeader: true}
	if opts.AllowStale {
		addr, meta.LastContact = staleAddr, c.lastContact
	}
	switch out := reply.(type) {
	case *structs.IndexedNodeServices:
		out.QueryMeta = meta
		out.NodeServices = &structs.NodeServices{Node: &structs.Node{Node: "n1", Address: addr}}
	case *structs.IndexedCheckServiceNodes:
		out.QueryMeta = meta
		out.Nodes = structs.CheckServiceNodes{{
			Node:    &structs.Node{Node: "n1", Address: addr},
			Service: &structs.NodeService{ID: "web", Service: "web", Port: 80},
		}}
	default:
		return fmt.Errorf("unexpected reply %T", reply)
	}
	return nil
}

// TestDNSMaxStale: with allow_stale, an answer from a server that has not
// heard from the leader for longer than max_stale is asked again of the
// leader; a fresh enough one, or allow_stale off, takes one read.
func TestDNSMaxStale(t *testing.T) {
	for _, tc := range []struct {
		name        string
		hcl         string
		lastContact time.Duration
		wantCalls   []bool
		wantAddr    string
	}{
		{"fresh enough", `dns_config { max_stale = "5s" }`, 2 * time.Second, []bool{true}, staleAddr},
		{"too stale", `dns_config { max_stale = "5s" }`, 10 * time.Second, []bool{true, false}, leaderAddr},
		{"default max_stale", ``, 1000 * time.Hour, []bool{true}, staleAddr},
		{"allow_stale off", `dns_config { allow_stale = false max_stale = "5s" }`, 10 * time.Second, []bool{false}, leaderAddr},
	} {
		for _, name := range []string{"n1.node.consul.", "web.service.consul."} {
			t.Run(tc.name+" "+name, func(t *testing.T) {
				rc := testRuntimeConfig(t, "-hcl="+tc.hcl)
				a, err := New(rc, Options{Logger: hclog.NewInterceptLogger(&hclog.LoggerOptions{Output: newTestLogWriter(t)})})
				if err != nil {
					t.Fatal(err)
				}
				fake := &staleCatalog{lastContact: tc.lastContact}
				d := &dnsServer{agent: a, rpc: fake.rpc, domains: []string{"consul."}}
				resp := new(dns.Msg)
				if err := d.answer(dns.Question{Name: name, Qtype: dns.TypeA, Qclass: dns.ClassINET}, resp, false); err != nil {
					t.Fatal(err)
				}
				if fmt.Sprint(fake.calls) != fmt.Sprint(tc.wantCalls) {
					t.Errorf("reads with AllowStale %v, want %v", fake.calls, tc.wantCalls)
				}
				if got := answerAddrs(resp); len(got) != 1 || got[0] != tc.wantAddr {
					t.Errorf("answer %v, want %s", got, tc.wantAddr)
				}
			})
		}
	}
}
