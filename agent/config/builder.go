package config

import (
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"strings"
)

// devConfig is the layer -dev puts under the config files, as Consul's dev
// mode: a server on loopback with memberlist's local-network timings and
// Consul's fastest raft timings, logging at debug. (bootstrap is set in
// build, and only for a server, so that a dev agent can be made a client.)
func devConfig() rawConfig {
	lan, wan := localGossip(), localGossip()
	return rawConfig{
		Server:      ptr(true),
		BindAddr:    ptr("127.0.0.1"),
		ClientAddr:  ptr("127.0.0.1"),
		LogLevel:    ptr("debug"),
		Performance: rawPerformance{RaftMultiplier: ptr(1)},
		GossipLAN:   gossipRaw(lan),
		GossipWAN:   gossipRaw(wan),
	}
}

func gossipRaw(g GossipConfig) rawGossip {
	return rawGossip{
		GossipNodes:    ptr(g.GossipNodes),
		GossipInterval: ptr(g.GossipInterval),
		ProbeInterval:  ptr(g.ProbeInterval),
		ProbeTimeout:   ptr(g.ProbeTimeout),
		SuspicionMult:  ptr(g.SuspicionMult),
		RetransmitMult: ptr(g.RetransmitMult),
	}
}

func gossipConfig(r rawGossip) GossipConfig {
	return GossipConfig{
		GossipNodes:    deref(r.GossipNodes),
		GossipInterval: deref(r.GossipInterval),
		ProbeInterval:  deref(r.ProbeInterval),
		ProbeTimeout:   deref(r.ProbeTimeout),
		SuspicionMult:  deref(r.SuspicionMult),
		RetransmitMult: deref(r.RetransmitMult),
	}
}

func ptr[T any](v T) *T { return &v }

// or returns what p points to, or def when p is nil.
func or[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

// dnsLabelRE matches a name DNS can serve as one label.
var dnsLabelRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)

// build resolves the merged configuration into l.rc, applying defaults and
// checking how values combine.
func (l *loader) build(dev bool) {
	c := &l.merged
	rc := &RuntimeConfig{DevMode: dev, Sources: l.sources}
	fail := func(format string, args ...any) {
		l.errs = append(l.errs, &Error{Msg: fmt.Sprintf(format, args...)})
	}
	warn := func(format string, args ...any) {
		l.warnings = append(l.warnings, fmt.Sprintf(format, args...))
	}

	// Identity.
	rc.Datacenter = or(c.Datacenter, DefaultDatacenter)
	rc.NodeName = deref(c.NodeName)
	if rc.NodeName == "" {
		hostname := l.opts.Hostname
		if hostname == nil {
			hostname = os.Hostname
		}
		name, err := hostname()
		switch {
		case err != nil:
			fail("node_name is not set and the hostname cannot be read (%v): set node_name or -node", err)
		case strings.TrimSpace(name) == "":
			fail("node_name is not set and the hostname is empty: set node_name or -node")
		}
		rc.NodeName = name
	}
	if rc.NodeName != "" && !dnsLabelRE.MatchString(rc.NodeName) {
		warn("node name %q will not be discoverable via DNS: use only letters, digits and '-', at most 63 characters", rc.NodeName)
	}
	rc.NodeID = deref(c.NodeID)
	rc.NodeMeta = c.NodeMeta
	rc.TaggedAddresses = c.TaggedAddresses

	// Mode.
	rc.ServerMode = deref(c.Server)
	rc.Bootstrap = deref(c.Bootstrap)
	rc.BootstrapExpect = deref(c.BootstrapExpect)
	if dev && rc.ServerMode && c.Bootstrap == nil && rc.BootstrapExpect == 0 {
		rc.Bootstrap = true
	}
	switch {
	case rc.BootstrapExpect > 0 && !rc.ServerMode:
		fail("bootstrap_expect is set but the agent is not a server: set server = true (-server) or remove bootstrap_expect")
	case rc.Bootstrap && !rc.ServerMode:
		fail("bootstrap is set but the agent is not a server: set server = true (-server) or remove bootstrap")
	case rc.BootstrapExpect > 0 && dev:
		fail("bootstrap_expect cannot be used in -dev mode, which runs a single server that bootstraps itself")
	case rc.BootstrapExpect > 0 && rc.Bootstrap:
		fail("bootstrap and bootstrap_expect cannot both be set: use bootstrap for a single server, bootstrap_expect for several")
	case rc.BootstrapExpect == 1:
		rc.Bootstrap, rc.BootstrapExpect = true, 0
		warn("bootstrap_expect = 1 is the same as bootstrap = true: this server elects itself")
	case rc.BootstrapExpect == 2:
		warn("bootstrap_expect = 2: a cluster of 2 servers cannot survive the loss of either; 3 or 5 are recommended")
	case rc.BootstrapExpect > 2 && rc.BootstrapExpect%2 == 0:
		warn("bootstrap_expect = %d: an even number of servers tolerates no more failures than %d; an odd number is recommended",
			rc.BootstrapExpect, rc.BootstrapExpect-1)
	}

	// Files.
	rc.DataDir = deref(c.DataDir)
	rc.PidFile = deref(c.PidFile)
	if rc.DataDir == "" && !dev {
		fail("data_dir is required (set data_dir or -data-dir) unless the agent runs with -dev")
	}
	if rc.DataDir != "" {
		if fi, err := os.Stat(rc.DataDir); err == nil && !fi.IsDir() {
			fail("data_dir %q is not a directory", rc.DataDir)
		}
	}

	l.buildAddresses(rc, c, fail)

	// Joining.
	rc.StartJoinAddrsLAN = c.StartJoin
	rc.StartJoinAddrsWAN = c.StartJoinWAN
	rc.RetryJoinLAN = l.withoutCloudJoin("retry_join", c.RetryJoin)
	rc.RetryJoinWAN = l.withoutCloudJoin("retry_join_wan", c.RetryJoinWAN)
	rc.RetryJoinIntervalLAN = or(c.RetryInterval, DefaultRetryInterval)
	rc.RetryJoinIntervalWAN = or(c.RetryIntervalWAN, DefaultRetryInterval)
	rc.RetryJoinMaxAttemptsLAN = deref(c.RetryMax)
	rc.RetryJoinMaxAttemptsWAN = deref(c.RetryMaxWAN)
	rc.RejoinAfterLeave = deref(c.RejoinAfterLeave)
	if !rc.ServerMode && (len(rc.StartJoinAddrsWAN) > 0 || len(rc.RetryJoinWAN) > 0) {
		fail("start_join_wan and retry_join_wan are for servers, but the agent is not a server: set server = true (-server) or remove them")
	}

	// Gossip.
	rc.EncryptKey = deref(c.Encrypt)
	rc.EncryptVerifyIncoming = or(c.EncryptVerifyIncoming, true)
	rc.EncryptVerifyOutgoing = or(c.EncryptVerifyOutgoing, true)
	rc.GossipLAN = gossipConfig(c.GossipLAN)
	rc.GossipWAN = gossipConfig(c.GossipWAN)
	rc.ReconnectTimeoutLAN = or(c.ReconnectTimeout, DefaultReconnectTimeout)
	rc.ReconnectTimeoutWAN = or(c.ReconnectTimeoutWAN, DefaultReconnectTimeout)
	for _, g := range []struct {
		key string
		cfg GossipConfig
	}{{"gossip_lan", rc.GossipLAN}, {"gossip_wan", rc.GossipWAN}} {
		if g.cfg.ProbeTimeout > 0 && g.cfg.ProbeInterval > 0 && g.cfg.ProbeTimeout > g.cfg.ProbeInterval {
			fail("%s.probe_timeout %s must not exceed %s.probe_interval %s", g.key, g.cfg.ProbeTimeout, g.key, g.cfg.ProbeInterval)
		}
	}

	// Leaving: servers stay in the cluster on a signal unless told
	// otherwise, clients leave, as in Consul.
	rc.LeaveOnTerm = or(c.LeaveOnTerminate, !rc.ServerMode)
	rc.SkipLeaveOnInt = or(c.SkipLeaveOnInterrupt, rc.ServerMode)

	// Performance.
	rc.RaftMultiplier = or(c.Performance.RaftMultiplier, DefaultRaftMultiplier)
	rc.LeaveDrainTime = or(c.Performance.LeaveDrainTime, DefaultLeaveDrainTime)
	rc.RPCHoldTimeout = or(c.Performance.RPCHoldTimeout, DefaultRPCHoldTimeout)

	// Agent.
	rc.LogLevel = or(c.LogLevel, DefaultLogLevel)
	rc.LogJSON = deref(c.LogJSON)
	rc.EnableRemoteScriptChecks = deref(c.EnableScriptChecks)
	rc.EnableLocalScriptChecks = deref(c.EnableLocalScriptChecks)
	rc.CheckUpdateInterval = or(c.CheckUpdateInterval, DefaultCheckUpdateInterval)
	rc.CheckOutputMaxSize = or(c.CheckOutputMaxSize, DefaultCheckOutputMaxSize)
	rc.SyncCoordinateRateTarget = or(c.SyncCoordinateRateTarget, DefaultSyncCoordinateRate)
	rc.SyncCoordinateIntervalMin = or(c.SyncCoordinateIntervalMin, DefaultSyncCoordinateInterval)
	rc.SessionTTLMin = or(c.SessionTTLMin, DefaultSessionTTLMin)
	rc.DefaultQueryTime = or(c.DefaultQueryTime, DefaultQueryTime)
	rc.MaxQueryTime = or(c.MaxQueryTime, DefaultMaxQueryTime)
	if rc.DefaultQueryTime > rc.MaxQueryTime {
		fail("default_query_time %s must not exceed max_query_time %s", rc.DefaultQueryTime, rc.MaxQueryTime)
	}
	rc.KVMaxValueSize = or(c.Limits.KVMaxValueSize, DefaultKVMaxValueSize)
	rc.TxnMaxReqLen = or(c.Limits.TxnMaxReqLen, DefaultTxnMaxReqLen)
	rc.HTTPMaxConnsPerClient = or(c.Limits.HTTPMaxConnsPerClient, DefaultHTTPMaxConnsPerClient)
	rc.RPCMaxConnsPerClient = or(c.Limits.RPCMaxConnsPerClient, DefaultRPCMaxConnsPerClient)

	// DNS.
	rc.DNSDomain = fqdn(or(c.Domain, DefaultDomain))
	if alt := deref(c.AltDomain); alt != "" {
		rc.DNSAltDomain = fqdn(alt)
		if strings.EqualFold(rc.DNSAltDomain, rc.DNSDomain) {
			fail("alt_domain %q must differ from domain", alt)
		}
	}
	rc.DNSRecursors = c.Recursors
	rc.DNSAllowStale = or(c.DNSConfig.AllowStale, true)
	rc.DNSMaxStale = or(c.DNSConfig.MaxStale, DefaultDNSMaxStale)
	rc.DNSNodeTTL = deref(c.DNSConfig.NodeTTL)
	rc.DNSServiceTTL = c.DNSConfig.ServiceTTL
	rc.DNSOnlyPassing = deref(c.DNSConfig.OnlyPassing)
	rc.DNSNodeMetaTXT = or(c.DNSConfig.NodeMetaTXT, true)
	rc.DNSUDPAnswerLimit = or(c.DNSConfig.UDPAnswerLimit, DefaultDNSUDPAnswerLimit)
	rc.DNSRecursorTimeout = or(c.DNSConfig.RecursorTimeout, DefaultDNSRecursorTimeout)

	l.buildACL(rc, c, fail)
	l.buildAutopilot(rc, c, fail)
	l.buildUI(rc, c)
	l.buildTelemetry(rc, c, fail)
	l.buildTLS(rc, c)
	l.buildDefinitions(rc)
	if len(l.errs) == 0 {
		l.rc = rc
	}
}

// withoutCloudJoin drops the cloud auto-join entries ("provider=aws
// tag_key=..."), which need go-discover, from a join list, with a warning
// for each.
func (l *loader) withoutCloudJoin(key string, addrs []string) []string {
	var out []string
	for _, a := range addrs {
		if strings.Contains(a, "provider=") {
			l.warnings = append(l.warnings, fmt.Sprintf(
				"%s entry %q uses cloud auto-join, which Meridian does not support; it is ignored", key, a))
			continue
		}
		out = append(out, a)
	}
	return out
}

// fqdn adds the trailing dot to a domain name.
func fqdn(s string) string {
	if strings.HasSuffix(s, ".") {
		return s
	}
	return s + "."
}

// buildAddresses resolves the addresses, ports and listeners.
func (l *loader) buildAddresses(rc *RuntimeConfig, c *rawConfig, fail func(string, ...any)) {
	one := func(s string) netip.Addr {
		addrs, _ := resolveAddrs(s) // checked while decoding
		if len(addrs) == 0 {
			return netip.Addr{}
		}
		return addrs[0]
	}
	rc.BindAddr = one(or(c.BindAddr, DefaultBindAddr))
	switch {
	case c.AdvertiseAddr != nil:
		rc.AdvertiseAddrLAN = one(*c.AdvertiseAddr)
	case rc.BindAddr.IsUnspecified():
		detect := l.opts.AdvertiseIP
		if detect == nil {
			detect = defaultAdvertiseIP
		}
		ip, err := detect(rc.BindAddr)
		if err != nil {
			fail("bind_addr is %s and no address to advertise was found (%v): set advertise_addr (-advertise) or bind_addr (-bind)", rc.BindAddr, err)
		}
		rc.AdvertiseAddrLAN = ip
	default:
		rc.AdvertiseAddrLAN = rc.BindAddr
	}
	if rc.AdvertiseAddrLAN.IsUnspecified() {
		fail("advertise_addr cannot be %s: give an address other agents can reach", rc.AdvertiseAddrLAN)
	}
	rc.AdvertiseAddrWAN = rc.AdvertiseAddrLAN
	if c.AdvertiseAddrWAN != nil {
		rc.AdvertiseAddrWAN = one(*c.AdvertiseAddrWAN)
		if rc.AdvertiseAddrWAN.IsUnspecified() {
			fail("advertise_addr_wan cannot be %s: give an address other servers can reach", rc.AdvertiseAddrWAN)
		}
	}
	rc.ClientAddrs, _ = resolveAddrs(or(c.ClientAddr, DefaultClientAddr))

	rc.HTTPPort = or(c.Ports.HTTP, DefaultHTTPPort)
	rc.DNSPort = or(c.Ports.DNS, DefaultDNSPort)
	rc.ServerPort = or(c.Ports.Server, DefaultServerPort)
	rc.SerfPortLAN = or(c.Ports.SerfLAN, DefaultSerfLANPort)
	rc.SerfPortWAN = or(c.Ports.SerfWAN, DefaultSerfWANPort)

	listeners := func(override *string, port int) []netip.AddrPort {
		if port < 0 {
			return nil
		}
		addrs := rc.ClientAddrs
		if override != nil {
			addrs, _ = resolveAddrs(*override)
		}
		out := make([]netip.AddrPort, len(addrs))
		for i, a := range addrs {
			out[i] = netip.AddrPortFrom(a, uint16(port))
		}
		return out
	}
	httpAddrs := c.Addresses.HTTP
	if httpAddrs != nil {
		paths, rest, _ := splitUnixAddrs(*httpAddrs) // checked while decoding
		rc.HTTPUnixSockets = paths
		if len(paths) > 0 {
			httpAddrs = &rest
		}
	}
	if len(rc.HTTPUnixSockets) > 0 && strings.TrimSpace(*httpAddrs) == "" {
		// Only unix sockets: no TCP listener for HTTP.
		rc.HTTPAddrs = nil
	} else {
		rc.HTTPAddrs = listeners(httpAddrs, rc.HTTPPort)
	}
	rc.UnixSockets = UnixSocketConfig{
		Mode:  or(c.UnixSockets.Mode, ""),
		User:  or(c.UnixSockets.User, ""),
		Group: or(c.UnixSockets.Group, ""),
	}
	rc.DNSAddrs = listeners(c.Addresses.DNS, rc.DNSPort)
	rc.HTTPSPort = or(c.Ports.HTTPS, DefaultHTTPSPort)
	rc.HTTPSAddrs = listeners(c.Addresses.HTTPS, rc.HTTPSPort)

	rc.RPCBindAddr = netip.AddrPortFrom(rc.BindAddr, uint16(rc.ServerPort))
	rc.RPCAdvertiseAddr = netip.AddrPortFrom(rc.AdvertiseAddrLAN, uint16(rc.ServerPort))
	serfLAN := rc.BindAddr
	if c.SerfLAN != nil {
		serfLAN = one(*c.SerfLAN)
	}
	rc.SerfBindAddrLAN = netip.AddrPortFrom(serfLAN, uint16(rc.SerfPortLAN))
	rc.SerfAdvertiseAddrLAN = netip.AddrPortFrom(rc.AdvertiseAddrLAN, uint16(rc.SerfPortLAN))
	if rc.ServerMode && rc.SerfPortWAN >= 0 {
		serfWAN := rc.BindAddr
		if c.SerfWAN != nil {
			serfWAN = one(*c.SerfWAN)
		}
		rc.SerfBindAddrWAN = netip.AddrPortFrom(serfWAN, uint16(rc.SerfPortWAN))
		rc.SerfAdvertiseAddrWAN = netip.AddrPortFrom(rc.AdvertiseAddrWAN, uint16(rc.SerfPortWAN))
	}

	// The server RPC and gossip listeners must not collide.
	type listener struct {
		key  string
		addr netip.AddrPort
	}
	var ls []listener
	if rc.ServerMode {
		ls = append(ls, listener{"ports.server", rc.RPCBindAddr})
	}
	ls = append(ls, listener{"ports.serf_lan", rc.SerfBindAddrLAN})
	if rc.SerfBindAddrWAN.IsValid() {
		ls = append(ls, listener{"ports.serf_wan", rc.SerfBindAddrWAN})
	}
	for i := range ls {
		for j := i + 1; j < len(ls); j++ {
			a, b := ls[i].addr, ls[j].addr
			if a.Port() == 0 || a.Port() != b.Port() {
				continue
			}
			if a.Addr() == b.Addr() || a.Addr().IsUnspecified() || b.Addr().IsUnspecified() {
				fail("%s and %s are both port %d on the same address: give them different ports", ls[i].key, ls[j].key, a.Port())
			}
		}
	}
}

// buildDefinitions collects the services and checks of all sources and
// checks what only the whole set can show: IDs defined twice and script
// checks that are not allowed. (A check's service_id may name a service
// registered through the HTTP API earlier, so it is not checked here.)
func (l *loader) buildDefinitions(rc *RuntimeConfig) {
	scripts := rc.EnableRemoteScriptChecks || rc.EnableLocalScriptChecks
	scriptErr := func(src, key, id string) {
		l.errs = append(l.errs, &Error{Source: src, Key: key, Msg: fmt.Sprintf(
			"%s: check %q runs a script, and script checks are disabled: set enable_local_script_checks (or enable_script_checks) to true",
			key, id)})
	}
	services := map[string]definedService{}
	checks := map[string]string{} // check ID -> where
	for _, s := range l.services {
		if prev, ok := services[s.def.ID]; ok {
			l.errs = append(l.errs, &Error{Source: s.src, Key: s.key, Msg: fmt.Sprintf(
				"%s: service ID %q is already defined at %s in %s", s.key, s.def.ID, prev.key, prev.src)})
			continue
		}
		services[s.def.ID] = s
		for _, c := range s.def.Checks {
			where := fmt.Sprintf("%s in %s", s.key, s.src)
			if prev, ok := checks[c.ID]; ok {
				l.errs = append(l.errs, &Error{Source: s.src, Key: s.key, Msg: fmt.Sprintf(
					"%s: check ID %q is already defined at %s", s.key, c.ID, prev)})
			}
			checks[c.ID] = where
			if len(c.Args) > 0 && !scripts {
				scriptErr(s.src, s.key, c.ID)
			}
		}
		rc.Services = append(rc.Services, s.def)
	}
	for _, c := range l.checks {
		if prev, ok := checks[c.def.ID]; ok {
			l.errs = append(l.errs, &Error{Source: c.src, Key: c.key, Msg: fmt.Sprintf(
				"%s: check ID %q is already defined at %s", c.key, c.def.ID, prev)})
			continue
		}
		checks[c.def.ID] = fmt.Sprintf("%s in %s", c.key, c.src)
		if len(c.def.Args) > 0 && !scripts {
			scriptErr(c.src, c.key, c.def.ID)
		}
		rc.Checks = append(rc.Checks, c.def)
	}
}
