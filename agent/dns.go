package agent

// The DNS interface, as Consul's: names under the agent's domain
// (default "consul.") answer from the catalog, other names go to the
// configured recursors.
//
//	<node>.node[.<dc>].<domain>                 A/AAAA of the node
//	[<tag>.]<service>.service[.<dc>].<domain>   A/AAAA and SRV of healthy instances
//	_<service>._<tag|tcp>.service[.<dc>].<domain>  the RFC 2782 form of the same
//	<reversed ip>.in-addr.arpa, <nibbles>.ip6.arpa   PTR to the node (or else the service) with that address
//
// Node lookups carry the node's meta as TXT records ("key=value", RFC
// 1464): in the answer for TXT and ANY questions, in the additional
// section otherwise (unless dns_config.enable_additional_node_meta_txt is
// false).
//	<query id or name>.query[.<dc>].<domain>    A/AAAA and SRV of a prepared query's answer
//
// Healthy means no critical check (and no warning with only_passing).
// Answers are shuffled so clients spread over instances, and UDP answers
// are capped at udp_answer_limit records.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/meridian-sd/meridian/acl"
	"github.com/meridian-sd/meridian/agent/config"
	"github.com/meridian-sd/meridian/structs"
)

// dnsServer serves one agent's DNS on every DNS address, UDP and TCP.
type dnsServer struct {
	agent   *Agent
	domains []string
	// rpc sends the catalog reads: the agent's RPC (tests put a fake
	// here).
	rpc func(method string, args, reply any) error

	mu      sync.Mutex
	servers []*dns.Server
	addrs   []net.Addr
}

// startDNS listens on every DNS address of the configuration.
func (a *Agent) startDNS(rc *config.RuntimeConfig) error {
	if len(rc.DNSAddrs) == 0 {
		return nil
	}
	// Lookups are made with the default token, which the servers check
	// and filter with as they do for HTTP reads.
	// A name the token may not read does not exist: a refusal answers
	// as an empty result (NXDOMAIN), as Consul's DNS does.
	rpcDefault := func(method string, args, reply any) error {
		err := a.RPCContext(contextWithToken(context.Background(), a.agentToken("default")), method, args, reply)
		if err != nil && aclErrorStatus(err) == http.StatusForbidden {
			return nil
		}
		return err
	}
	d := &dnsServer{agent: a, rpc: rpcDefault, domains: []string{dns.Fqdn(strings.ToLower(rc.DNSDomain))}}
	if rc.DNSAltDomain != "" {
		d.domains = append(d.domains, dns.Fqdn(strings.ToLower(rc.DNSAltDomain)))
	}
	mux := dns.NewServeMux()
	for _, dom := range d.domains {
		mux.HandleFunc(dom, d.handleQuery)
	}
	mux.HandleFunc("in-addr.arpa.", d.handlePTR)
	mux.HandleFunc("ip6.arpa.", d.handlePTR)
	mux.HandleFunc(".", d.handleRecurse)
	for _, ap := range rc.DNSAddrs {
		pc, ln, err := listenDNS(ap)
		if err != nil {
			d.shutdown()
			return err
		}
		udp := &dns.Server{PacketConn: pc, Handler: mux}
		tcp := &dns.Server{Listener: ln, Handler: mux}
		d.servers = append(d.servers, udp, tcp)
		d.addrs = append(d.addrs, pc.LocalAddr())
		for _, srv := range []*dns.Server{udp, tcp} {
			a.wg.Add(1)
			go func() {
				defer a.wg.Done()
				if err := srv.ActivateAndServe(); err != nil && !errors.Is(err, net.ErrClosed) {
					a.logger.Debug("dns server stopped", "error", err)
				}
			}()
		}
		a.logger.Info("dns listening", "addr", pc.LocalAddr().String())
	}
	a.dns = d
	return nil
}

// listenDNS opens UDP and TCP on the same port. For port 0 it retries
// until the port the kernel gave for UDP is also free for TCP.
func listenDNS(ap netip.AddrPort) (net.PacketConn, net.Listener, error) {
	var lastErr error
	for attempt := 0; attempt < 20; attempt++ {
		pc, err := net.ListenPacket("udp", ap.String())
		if err != nil {
			return nil, nil, fmt.Errorf("listen for dns on udp %s: %w", ap, err)
		}
		tcpAddr := netip.AddrPortFrom(ap.Addr(), uint16(pc.LocalAddr().(*net.UDPAddr).Port))
		ln, err := net.Listen("tcp", tcpAddr.String())
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		lastErr = fmt.Errorf("listen for dns on tcp %s: %w", tcpAddr, err)
		if ap.Port() != 0 {
			break
		}
	}
	return nil, nil, lastErr
}

// DNSAddrs are the addresses the DNS interface listens on (UDP and TCP).
func (a *Agent) DNSAddrs() []net.Addr {
	if a.dns == nil {
		return nil
	}
	return a.dns.addrs
}

func (d *dnsServer) shutdown() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, s := range d.servers {
		s.Shutdown()
	}
	d.servers = nil
}

// handleQuery answers a name under one of the agent's domains.
func (d *dnsServer) handleQuery(w dns.ResponseWriter, req *dns.Msg) {
	resp := new(dns.Msg)
	resp.SetReply(req)
	resp.Authoritative = true
	resp.RecursionAvailable = len(d.agent.cfg().DNSRecursors) > 0
	if len(req.Question) != 1 {
		resp.SetRcode(req, dns.RcodeFormatError)
		w.WriteMsg(resp)
		return
	}
	q := req.Question[0]
	_, udp := w.RemoteAddr().(*net.UDPAddr)
	if err := d.answer(q, resp, udp); err != nil {
		d.agent.logger.Debug("dns query failed", "name", q.Name, "error", err)
		resp.SetRcode(req, dns.RcodeServerFailure)
	}
	if resp.Rcode == dns.RcodeNameError || (resp.Rcode == dns.RcodeSuccess && len(resp.Answer) == 0) {
		resp.Ns = append(resp.Ns, d.soa(q.Name))
	}
	if udp {
		limitUDP(resp, req, d.agent.cfg().DNSUDPAnswerLimit)
	}
	w.WriteMsg(resp)
}

// answer fills resp for question q.
func (d *dnsServer) answer(q dns.Question, resp *dns.Msg, udp bool) error {
	name := strings.ToLower(q.Name)
	domain := ""
	for _, dom := range d.domains {
		if dns.IsSubDomain(dom, name) {
			domain = dom
			break
		}
	}
	rest := strings.TrimSuffix(strings.TrimSuffix(name, domain), ".")
	if rest == "" {
		// The domain itself: its SOA and NS.
		switch q.Qtype {
		case dns.TypeSOA, dns.TypeANY:
			resp.Answer = append(resp.Answer, d.soa(q.Name))
		case dns.TypeNS:
			resp.Answer = append(resp.Answer, &dns.NS{Hdr: hdr(q.Name, dns.TypeNS, 0), Ns: "ns." + domain})
		}
		return nil
	}
	labels := dns.SplitDomainName(rest)
	rc := d.agent.cfg()
	dc := rc.Datacenter
	// The last label may be a datacenter: node.<dc> or service.<dc>.
	kind := func(l string) bool { return l == "node" || l == "service" || l == "addr" || l == "query" }
	if n := len(labels); n >= 2 && !kind(labels[n-1]) && kind(labels[n-2]) {
		dc = labels[n-1]
		labels = labels[:n-1]
	}
	n := len(labels)
	switch {
	case n == 2 && labels[n-1] == "addr":
		ip := decodeHexIP(labels[0])
		if ip == nil {
			resp.Rcode = dns.RcodeNameError
			return nil
		}
		if rr := addrRecord(q.Name, ip.String(), q.Qtype, rc.DNSNodeTTL); rr != nil {
			resp.Answer = append(resp.Answer, rr)
		}
		return nil
	case n >= 2 && labels[n-1] == "node":
		return d.nodeLookup(q, resp, strings.Join(labels[:n-1], "."), dc, domain)
	case n == 3 && labels[n-1] == "service" && strings.HasPrefix(labels[0], "_") && strings.HasPrefix(labels[1], "_"):
		// _service._tag.service: "tcp" and "udp" mean any tag.
		tag := strings.TrimPrefix(labels[1], "_")
		if tag == "tcp" || tag == "udp" {
			tag = ""
		}
		return d.serviceLookup(q, resp, strings.TrimPrefix(labels[0], "_"), tag, dc, domain, true)
	case n == 2 && labels[n-1] == "service":
		return d.serviceLookup(q, resp, labels[0], "", dc, domain, false)
	case n >= 2 && labels[n-1] == "query":
		return d.preparedQueryLookup(q, resp, strings.Join(labels[:n-1], "."), dc, domain)
	case n == 3 && labels[n-1] == "service":
		return d.serviceLookup(q, resp, labels[1], labels[0], dc, domain, false)
	}
	resp.Rcode = dns.RcodeNameError
	return nil
}

func hdr(name string, t uint16, ttl time.Duration) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: uint32(ttl / time.Second)}
}

// soa is the domain's SOA, for negative answers.
func (d *dnsServer) soa(qname string) *dns.SOA {
	domain := d.domains[0]
	for _, dom := range d.domains {
		if dns.IsSubDomain(dom, strings.ToLower(qname)) {
			domain = dom
		}
	}
	return &dns.SOA{
		Hdr:     hdr(domain, dns.TypeSOA, 0),
		Ns:      "ns." + domain,
		Mbox:    "hostmaster." + domain,
		Serial:  uint32(time.Now().Unix()),
		Refresh: 3600, Retry: 600, Expire: 86400, Minttl: 0,
	}
}

// addrRecord is an A or AAAA record for addr, nil if addr is not an IP or
// does not match the question type.
func addrRecord(name string, addr string, qtype uint16, ttl time.Duration) dns.RR {
	ip := net.ParseIP(addr)
	if ip == nil {
		return nil
	}
	if v4 := ip.To4(); v4 != nil {
		if qtype != dns.TypeA && qtype != dns.TypeANY && qtype != dns.TypeSRV {
			return nil
		}
		return &dns.A{Hdr: hdr(name, dns.TypeA, ttl), A: v4}
	}
	if qtype != dns.TypeAAAA && qtype != dns.TypeANY && qtype != dns.TypeSRV {
		return nil
	}
	return &dns.AAAA{Hdr: hdr(name, dns.TypeAAAA, ttl), AAAA: ip}
}

func (d *dnsServer) queryOptions() structs.QueryOptions {
	return structs.QueryOptions{AllowStale: d.agent.cfg().DNSAllowStale}
}

// read sends a catalog read for DNS, whose options are opts (inside args)
// and whose reply's meta is meta (inside reply). A stale read answered by
// a server that has not heard from the leader for longer than
// dns_config.max_stale is sent again without ?stale, so the leader
// answers, as Consul does.
func (d *dnsServer) read(method string, args any, opts *structs.QueryOptions, reply any, meta *structs.QueryMeta) error {
	if err := d.rpc(method, args, reply); err != nil {
		return err
	}
	maxStale := d.agent.cfg().DNSMaxStale
	if !opts.AllowStale || meta.LastContact <= maxStale {
		return nil
	}
	d.agent.logger.Warn("dns: stale answer is older than max_stale, asking the leader",
		"method", method, "last_contact", meta.LastContact, "max_stale", maxStale)
	opts.AllowStale = false
	reflect.ValueOf(reply).Elem().SetZero()
	return d.rpc(method, args, reply)
}

func (d *dnsServer) nodeLookup(q dns.Question, resp *dns.Msg, node, dc, domain string) error {
	args := &structs.NodeSpecificRequest{Datacenter: dc, Node: node, QueryOptions: d.queryOptions()}
	var out structs.IndexedNodeServices
	if err := d.read("Catalog.NodeServices", args, &args.QueryOptions, &out, &out.QueryMeta); err != nil {
		if structs.IsErr(err, structs.ErrNoDCPath) {
			resp.Rcode = dns.RcodeNameError
			return nil
		}
		return err
	}
	if out.NodeServices == nil || out.NodeServices.Node == nil {
		resp.Rcode = dns.RcodeNameError
		return nil
	}
	authz, err := d.authorizer()
	if err != nil {
		return err
	}
	if !authz.Allowed(acl.ResourceNode, out.NodeServices.Node.Node, acl.Read) {
		// As if it did not exist, as Consul answers.
		resp.Rcode = dns.RcodeNameError
		return nil
	}
	rc := d.agent.cfg()
	ttl := rc.DNSNodeTTL
	if rr := addrRecord(q.Name, out.NodeServices.Node.Address, q.Qtype, ttl); rr != nil {
		resp.Answer = append(resp.Answer, rr)
	}
	// The node's meta as TXT records, as Consul's: the answer to TXT and
	// ANY questions, additional records of the others.
	switch {
	case q.Qtype == dns.TypeTXT || q.Qtype == dns.TypeANY:
		resp.Answer = append(resp.Answer, metaTXT(q.Name, out.NodeServices.Node.Meta, ttl)...)
	case rc.DNSNodeMetaTXT:
		resp.Extra = append(resp.Extra, metaTXT(q.Name, out.NodeServices.Node.Meta, ttl)...)
	}
	return nil
}

// metaTXT renders node meta as TXT records, one "key=value" each in key
// order, the key quoted as RFC 1464 asks ('=', '`' and outer spaces
// behind a '`').
func metaTXT(name string, meta map[string]string, ttl time.Duration) []dns.RR {
	keys := make([]string, 0, len(meta))
	for k := range meta {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]dns.RR, 0, len(keys))
	for _, k := range keys {
		out = append(out, &dns.TXT{Hdr: hdr(name, dns.TypeTXT, ttl), Txt: []string{rfc1464Key(k) + "=" + meta[k]}})
	}
	return out
}

// rfc1464Key quotes an attribute name for a TXT record (RFC 1464 section
// 2): backquote, '=' and leading and trailing spaces get a backquote.
func rfc1464Key(k string) string {
	k = strings.ReplaceAll(k, "`", "``")
	k = strings.ReplaceAll(k, "=", "`=")
	trimmed := strings.TrimLeft(k, " ")
	lead := len(k) - len(trimmed)
	body := strings.TrimRight(trimmed, " ")
	trail := len(trimmed) - len(body)
	return strings.Repeat("` ", lead) + body + strings.Repeat("` ", trail)
}

// reverseIP reads the address of a reverse name: "4.3.2.1.in-addr.arpa."
// or the 32 nibbles of an ip6.arpa name; nil when it is not one.
func reverseIP(name string) net.IP {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if rest, ok := strings.CutSuffix(name, ".in-addr.arpa"); ok {
		parts := strings.Split(rest, ".")
		if len(parts) != 4 {
			return nil
		}
		for i, j := 0, 3; i < j; i, j = i+1, j-1 {
			parts[i], parts[j] = parts[j], parts[i]
		}
		ip := net.ParseIP(strings.Join(parts, "."))
		if ip == nil || ip.To4() == nil {
			return nil
		}
		return ip
	}
	if rest, ok := strings.CutSuffix(name, ".ip6.arpa"); ok {
		nibbles := strings.Split(rest, ".")
		if len(nibbles) != 32 {
			return nil
		}
		var b strings.Builder
		for i := len(nibbles) - 1; i >= 0; i-- {
			if len(nibbles[i]) != 1 || !strings.Contains("0123456789abcdef", nibbles[i]) {
				return nil
			}
			b.WriteString(nibbles[i])
			if i%4 == 0 && i > 0 {
				b.WriteByte(':')
			}
		}
		return net.ParseIP(b.String())
	}
	return nil
}

// handlePTR answers a reverse lookup from the catalog of the agent's
// datacenter, as Consul's: a PTR to <node>.node.<dc>.<domain> for every
// node with that address, or else to <service>.service.<domain> for the
// first service instance registered with it. An address the catalog does
// not know goes to the recursors (NXDOMAIN without them).
func (d *dnsServer) handlePTR(w dns.ResponseWriter, req *dns.Msg) {
	if len(req.Question) != 1 {
		resp := new(dns.Msg)
		resp.SetRcode(req, dns.RcodeFormatError)
		w.WriteMsg(resp)
		return
	}
	q := req.Question[0]
	ip := reverseIP(q.Name)
	var names []string
	if ip != nil && (q.Qtype == dns.TypePTR || q.Qtype == dns.TypeANY) {
		var err error
		if names, err = d.ptrNames(ip); err != nil {
			d.agent.logger.Debug("dns reverse lookup failed", "name", q.Name, "error", err)
			resp := new(dns.Msg)
			resp.SetRcode(req, dns.RcodeServerFailure)
			w.WriteMsg(resp)
			return
		}
	}
	rc := d.agent.cfg()
	if len(names) == 0 && len(rc.DNSRecursors) > 0 {
		d.handleRecurse(w, req)
		return
	}
	resp := new(dns.Msg)
	resp.SetReply(req)
	resp.Authoritative = true
	resp.RecursionAvailable = len(rc.DNSRecursors) > 0
	for _, n := range names {
		resp.Answer = append(resp.Answer, &dns.PTR{Hdr: hdr(q.Name, dns.TypePTR, 0), Ptr: n})
	}
	if len(names) == 0 {
		resp.Rcode = dns.RcodeNameError
		resp.Ns = append(resp.Ns, d.soa(d.domains[0]))
	}
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		limitUDP(resp, req, rc.DNSUDPAnswerLimit)
	}
	w.WriteMsg(resp)
}

// ptrNames are the names a reverse lookup of ip answers.
func (d *dnsServer) ptrNames(ip net.IP) ([]string, error) {
	rc := d.agent.cfg()
	domain := d.domains[0]
	authz, err := d.authorizer()
	if err != nil {
		return nil, err
	}
	args := &structs.DCSpecificRequest{Datacenter: rc.Datacenter, QueryOptions: d.queryOptions()}
	var nodes structs.IndexedNodes
	if err := d.read("Catalog.ListNodes", args, &args.QueryOptions, &nodes, &nodes.QueryMeta); err != nil {
		return nil, err
	}
	var names []string
	for _, n := range nodes.Nodes {
		if a := net.ParseIP(n.Address); a != nil && a.Equal(ip) && authz.Allowed(acl.ResourceNode, n.Node, acl.Read) {
			names = append(names, fmt.Sprintf("%s.node.%s.%s", n.Node, rc.Datacenter, domain))
		}
	}
	if len(names) > 0 {
		return names, nil
	}
	sargs := &structs.ServiceSpecificRequest{Datacenter: rc.Datacenter, ServiceAddress: ip.String(), QueryOptions: d.queryOptions()}
	var svcs structs.IndexedServiceNodes
	if err := d.read("Catalog.ServiceNodes", sargs, &sargs.QueryOptions, &svcs, &svcs.QueryMeta); err != nil {
		return nil, err
	}
	for _, sn := range svcs.ServiceNodes {
		if authz.Allowed(acl.ResourceService, sn.ServiceName, acl.Read) {
			return []string{fmt.Sprintf("%s.service.%s", sn.ServiceName, domain)}, nil
		}
	}
	return nil, nil
}

func (d *dnsServer) serviceTTL(service string) time.Duration {
	ttls := d.agent.cfg().DNSServiceTTL
	if ttl, ok := ttls[service]; ok {
		return ttl
	}
	return ttls["*"]
}

func (d *dnsServer) serviceLookup(q dns.Question, resp *dns.Msg, service, tag, dc, domain string, rfc2782 bool) error {
	args := &structs.ServiceSpecificRequest{Datacenter: dc, ServiceName: service, QueryOptions: d.queryOptions()}
	if tag != "" {
		args.ServiceTags, args.TagFilter = []string{tag}, true
	}
	var out structs.IndexedCheckServiceNodes
	if err := d.read("Health.ServiceNodes", args, &args.QueryOptions, &out, &out.QueryMeta); err != nil {
		if structs.IsErr(err, structs.ErrNoDCPath) {
			resp.Rcode = dns.RcodeNameError
			return nil
		}
		return err
	}
	authz, err := d.authorizer()
	if err != nil {
		return err
	}
	if kept, _ := filterResult(authz, out.Nodes); kept != nil {
		out.Nodes = kept.(structs.CheckServiceNodes)
	}
	onlyPassing := d.agent.cfg().DNSOnlyPassing
	var healthy structs.CheckServiceNodes
	for _, n := range out.Nodes {
		ok := true
		for _, c := range n.Checks {
			if c.Status == structs.HealthCritical || (onlyPassing && c.Status == structs.HealthWarning) {
				ok = false
				break
			}
		}
		if ok {
			healthy = append(healthy, n)
		}
	}
	if len(out.Nodes) == 0 {
		resp.Rcode = dns.RcodeNameError
		return nil
	}
	rand.Shuffle(len(healthy), func(i, j int) { healthy[i], healthy[j] = healthy[j], healthy[i] })
	serviceRecords(q, resp, healthy, dc, domain, d.serviceTTL(service), q.Qtype == dns.TypeSRV || rfc2782)
	return nil
}

// serviceRecords appends the A/AAAA (or SRV, with their addresses as
// extra records) of service instances to resp. dc is the datacenter asked
// for, used when an instance's node does not say its own.
func serviceRecords(q dns.Question, resp *dns.Msg, healthy structs.CheckServiceNodes, dc, domain string, ttl time.Duration, wantSRV bool) {
	seen := map[string]bool{}
	for _, n := range healthy {
		addr := n.Service.Address
		if addr == "" {
			addr = n.Node.Address
		}
		if wantSRV {
			target := fmt.Sprintf("%s.node.%s.%s", n.Node.Node, dcName(n.Node.Datacenter, dc), domain)
			if net.ParseIP(n.Service.Address) != nil && n.Service.Address != n.Node.Address {
				// The instance has an address of its own: point at it.
				target = fmt.Sprintf("%s.addr.%s.%s", hexIP(n.Service.Address), dcName(n.Node.Datacenter, dc), domain)
			}
			port := n.Service.Port
			resp.Answer = append(resp.Answer, &dns.SRV{Hdr: hdr(q.Name, dns.TypeSRV, ttl), Priority: 1, Weight: 1, Port: uint16(port), Target: target})
			if rr := addrRecord(target, addr, dns.TypeSRV, ttl); rr != nil && !seen[target] {
				seen[target] = true
				resp.Extra = append(resp.Extra, rr)
			}
			continue
		}
		if seen[addr] {
			continue
		}
		if rr := addrRecord(q.Name, addr, q.Qtype, ttl); rr != nil {
			seen[addr] = true
			resp.Answer = append(resp.Answer, rr)
		}
	}
}

func dcName(nodeDC, asked string) string {
	if nodeDC != "" {
		return nodeDC
	}
	return asked
}

// hexIP is the hex form Consul uses in <hex>.addr.<dc>.<domain> names.
func hexIP(addr string) string {
	ip := net.ParseIP(addr)
	if v4 := ip.To4(); v4 != nil {
		return fmt.Sprintf("%02x%02x%02x%02x", v4[0], v4[1], v4[2], v4[3])
	}
	return fmt.Sprintf("%x", []byte(ip))
}

// decodeHexIP reads the hex form back; nil when it is not an address.
func decodeHexIP(s string) net.IP {
	if len(s) != 8 && len(s) != 32 {
		return nil
	}
	b := make([]byte, len(s)/2)
	if _, err := fmt.Sscanf(s, "%x", &b); err != nil || len(b) != len(s)/2 {
		return nil
	}
	return net.IP(b)
}

// limitUDP caps the answers of a UDP reply and sets TC when the reply
// still does not fit the client's buffer.
func limitUDP(resp, req *dns.Msg, limit int) {
	if limit > 0 && len(resp.Answer) > limit {
		resp.Answer = resp.Answer[:limit]
	}
	size := dns.MinMsgSize
	if opt := req.IsEdns0(); opt != nil {
		size = int(opt.UDPSize())
	}
	if resp.Len() > size {
		resp.Truncate(size)
	}
}

// handleRecurse forwards names outside the domains to the recursors.
func (d *dnsServer) handleRecurse(w dns.ResponseWriter, req *dns.Msg) {
	rc := d.agent.cfg()
	if len(rc.DNSRecursors) == 0 {
		resp := new(dns.Msg)
		resp.SetRcode(req, dns.RcodeRefused)
		w.WriteMsg(resp)
		return
	}
	// UDP first, TCP when the upstream answer is truncated.
	udpClient := &dns.Client{Net: "udp", Timeout: rc.DNSRecursorTimeout}
	tcpClient := &dns.Client{Net: "tcp", Timeout: rc.DNSRecursorTimeout}
	for _, r := range rc.DNSRecursors {
		addr := r
		if _, _, err := net.SplitHostPort(r); err != nil {
			addr = net.JoinHostPort(r, "53")
		}
		ctx, cancel := context.WithTimeout(d.agent.ctx, rc.DNSRecursorTimeout)
		resp, _, err := udpClient.ExchangeContext(ctx, req, addr)
		if err == nil && resp != nil && resp.Truncated {
			resp, _, err = tcpClient.ExchangeContext(ctx, req, addr)
		}
		cancel()
		if err == nil && resp != nil {
			resp.Compress = true
			w.WriteMsg(resp)
			return
		}
		d.agent.logger.Debug("dns recursor failed", "recursor", addr, "error", err)
	}
	resp := new(dns.Msg)
	resp.SetRcode(req, dns.RcodeServerFailure)
	w.WriteMsg(resp)
}

// authorizer is what DNS lookups may see: the agent's default token
// (acl.tokens.default), or the anonymous token.
func (d *dnsServer) authorizer() (*acl.Authorizer, error) {
	authz, _, err := d.agent.ResolveToken(d.agent.agentToken("default"))
	return authz, err
}
