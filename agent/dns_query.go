package agent

import (
	"time"

	"github.com/miekg/dns"

	"github.com/meridian-sd/meridian/structs"
)

// preparedQueryLookup answers <query id or name>.query[.<dc>].<domain>:
// the prepared query is executed (failing over as it says), and its
// instances are the A/AAAA or SRV records; SRV targets name the
// datacenter that answered. The TTL is the query's DNS.TTL, else the
// service's service_ttl. An unknown query is NXDOMAIN.
func (d *dnsServer) preparedQueryLookup(q dns.Question, resp *dns.Msg, idOrName, dc, domain string) error {
	args := &structs.PreparedQueryExecuteRequest{
		Datacenter:    dc,
		QueryIDOrName: idOrName,
		Agent:         structs.QuerySource{Datacenter: d.agent.datacenter(), Node: d.agent.nodeName()},
		QueryOptions:  d.queryOptions(),
	}
	args.Token = d.agent.agentToken("default")
	var out structs.PreparedQueryExecuteResponse
	if err := d.read("PreparedQuery.Execute", args, &args.QueryOptions, &out, &out.QueryMeta); err != nil {
		if structs.IsQueryNotFound(err) || structs.IsErr(err, structs.ErrNoDCPath) {
			resp.Rcode = dns.RcodeNameError
			return nil
		}
		return err
	}
	ttl := d.serviceTTL(out.Service)
	if out.DNS.TTL != "" {
		if v, err := time.ParseDuration(out.DNS.TTL); err == nil && v >= 0 {
			ttl = v
		}
	}
	if len(out.Nodes) == 0 {
		resp.Rcode = dns.RcodeNameError
		return nil
	}
	answerDC := out.Datacenter
	if answerDC == "" {
		answerDC = dc
	}
	serviceRecords(q, resp, out.Nodes, answerDC, domain, ttl, q.Qtype == dns.TypeSRV)
	return nil
}
