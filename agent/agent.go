// Package agent is the Meridian agent that runs on every machine: it owns
// a server or a client (gossip, RPC), the HTTP API, the join loops and the
// coordinate updates. It is wiring only: the work is done by the packages
// it starts.
package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-uuid"
	"github.com/hashicorp/serf/serf"

	"github.com/meridian-sd/meridian/agent/config"
	"github.com/meridian-sd/meridian/client"
	"github.com/meridian-sd/meridian/gossip"
	"github.com/meridian-sd/meridian/lib/fsutil"
	"github.com/meridian-sd/meridian/lib/telemetry"
	"github.com/meridian-sd/meridian/server"
	"github.com/meridian-sd/meridian/tlsutil"
)

// delegate is what the agent needs from a server or a client.
type delegate interface {
	RPC(method string, args, reply any) error
	LANMembers() []serf.Member
	LocalMember() serf.Member
	JoinLAN(addrs []string) (int, error)
	LANSerf() *serf.Serf
	Leave() error
	Shutdown() error
	Stats() map[string]map[string]string
}

// Options are what the agent gets besides its configuration.
type Options struct {
	// Logger is the agent's logger; its level follows log_level.
	Logger hclog.InterceptLogger
	// Reload re-reads the configuration (flags and files) for SIGHUP and
	// /v1/agent/reload; nil disables reloading.
	Reload func() (*config.RuntimeConfig, []string, error)
	// Warnings are the warnings of the load that produced the
	// configuration given to New, which logs them. A reload logs only
	// warnings not logged before.
	Warnings []string
	// ServerConfig, when set, adjusts the server config before it starts
	// (tests shrink timings with it).
	ServerConfig func(*server.Config)
	// ClientConfig is the same for clients.
	ClientConfig func(*client.Config)
	// Local, when set, adjusts the timings of local services, checks and
	// anti-entropy (agent_services.go); tests shorten them.
	Local func(*LocalConfig)
	// HTTPLimits, when set, adjusts the HTTP listener's limits
	// (http_limits.go); tests shorten them.
	HTTPLimits func(*HTTPLimits)
}

// Agent is a running agent.
type Agent struct {
	opts   Options
	logger hclog.InterceptLogger

	// readCache serves ?cached reads (cached_read.go).
	readCache readCache

	// jsonBufs holds buffers that responses are encoded into (http.go).
	jsonBufs sync.Pool

	cfgLock sync.RWMutex
	config  *config.RuntimeConfig

	// warned holds the configuration warnings logged so far (reload.go).
	warnedLock sync.Mutex
	warned     map[string]bool

	delegate delegate
	server   *server.Server
	client   *client.Client
	// tls holds the certificates of every TLS endpoint; Reload updates it.
	tls *tlsutil.Configurator

	// svc holds the local services and checks, their runners and
	// anti-entropy (agent_services.go).
	svc agentServices

	// acl caches resolved tokens on a client agent (acl.go).
	acl agentACL

	// events are the user events received (user_event.go).
	events userEvents

	// telemetry holds the agent's metrics sinks (metrics_endpoint.go).
	telemetry *telemetry.Telemetry

	httpServers []*http.Server
	httpAddrs   []net.Addr
	httpsAddrs  []net.Addr
	dns         *dnsServer
	// httpConns limits HTTP connections per client IP, and httpLimits
	// are the listener's other limits (http_limits.go).
	httpConns  *connLimiter
	httpLimits HTTPLimits

	// fatalCh reports errors that end the agent (retry-join giving up).
	fatalCh chan error

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	leaveOnce    sync.Once
	leaveErr     error
	shutdownOnce sync.Once
	shutdownCh   chan struct{}
}

// New builds an agent from a resolved configuration. Nothing listens until
// Start.
func New(rc *config.RuntimeConfig, opts Options) (*Agent, error) {
	if opts.Logger == nil {
		opts.Logger = hclog.NewInterceptLogger(&hclog.LoggerOptions{Name: "agent", Output: os.Stderr})
	}
	ctx, cancel := context.WithCancel(context.Background())
	a := &Agent{
		opts:       opts,
		logger:     opts.Logger,
		config:     rc,
		warned:     map[string]bool{},
		fatalCh:    make(chan error, 1),
		ctx:        ctx,
		cancel:     cancel,
		shutdownCh: make(chan struct{}),
		httpLimits: DefaultHTTPLimits(),
		httpConns:  newConnLimiter(opts.Logger, rc.HTTPMaxConnsPerClient),
	}
	if opts.HTTPLimits != nil {
		opts.HTTPLimits(&a.httpLimits)
	}
	a.logWarnings(opts.Warnings)
	sampleHeapIfServed(rc)
	return a, nil
}

// cfg returns the current configuration.
func (a *Agent) cfg() *config.RuntimeConfig {
	a.cfgLock.RLock()
	defer a.cfgLock.RUnlock()
	return a.config
}

func (a *Agent) nodeName() string   { return a.cfg().NodeName }
func (a *Agent) datacenter() string { return a.cfg().Datacenter }

// Start brings the agent up: node ID, server or client, HTTP listeners,
// joins. On error everything started is stopped again.
func (a *Agent) Start() error {
	rc := a.cfg()
	if err := a.setupNodeID(rc); err != nil {
		return err
	}
	if err := a.setupTLS(rc); err != nil {
		return err
	}
	if err := a.startTelemetry(rc); err != nil {
		return err
	}
	var err error
	if rc.ServerMode {
		err = a.startServer(rc)
	} else {
		err = a.startClient(rc)
	}
	if err != nil {
		a.telemetry.Shutdown()
		return err
	}
	// Local services and checks need the server or client for their RPCs
	// and must be loaded before the HTTP API serves them.
	if err := a.startServices(rc); err != nil {
		a.Shutdown()
		return err
	}
	if err := a.startDNS(rc); err != nil {
		a.Shutdown()
		return err
	}
	if err := a.startHTTP(rc); err != nil {
		a.Shutdown()
		return err
	}
	if err := a.startHTTPS(rc); err != nil {
		a.Shutdown()
		return err
	}
	if err := a.startJoins(rc); err != nil {
		a.Shutdown()
		return err
	}
	a.goLoop(a.sendCoordinates)
	a.logger.Info("agent started", "node", rc.NodeName, "datacenter", rc.Datacenter, "server", rc.ServerMode)
	return nil
}

// goLoop runs fn in a goroutine the agent owns until Shutdown.
func (a *Agent) goLoop(fn func(ctx context.Context)) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		fn(a.ctx)
	}()
}

// setupNodeID reads the node ID from the data dir, or creates it there
// once; a configured ID must match the stored one.
func (a *Agent) setupNodeID(rc *config.RuntimeConfig) error {
	if rc.DevMode {
		// -dev keeps nothing on disk, even with a data dir set.
		rc.DataDir = ""
	}
	if rc.DataDir == "" {
		if rc.NodeID == "" {
			id, err := uuid.GenerateUUID()
			if err != nil {
				return fmt.Errorf("generate node id: %w", err)
			}
			rc.NodeID = id
		}
		return nil
	}
	if err := os.MkdirAll(rc.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir %s: %w", rc.DataDir, err)
	}
	file := filepath.Join(rc.DataDir, "node-id")
	buf, err := os.ReadFile(file)
	switch {
	case err == nil:
		stored := strings.TrimSpace(string(buf))
		if _, perr := uuid.ParseUUID(stored); perr != nil {
			return fmt.Errorf("node id in %s is not a valid UUID: %q", file, stored)
		}
		if rc.NodeID != "" && !strings.EqualFold(rc.NodeID, stored) {
			return fmt.Errorf("node id %s does not match %s stored in %s", rc.NodeID, stored, file)
		}
		rc.NodeID = strings.ToLower(stored)
		return nil
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("read node id: %w", err)
	}
	if rc.NodeID == "" {
		if rc.NodeID, err = uuid.GenerateUUID(); err != nil {
			return fmt.Errorf("generate node id: %w", err)
		}
	}
	if err := fsutil.WriteFileAtomic(file, []byte(rc.NodeID), 0o600); err != nil {
		return fmt.Errorf("write node id: %w", err)
	}
	return nil
}

// gossipConfig maps the runtime config of one pool onto gossip.Config.
func gossipConfig(rc *config.RuntimeConfig, wan bool) (gossip.Config, error) {
	g := gossip.Config{
		RejoinAfterLeave: rc.RejoinAfterLeave,
	}
	bind, adv, tune, profile := rc.SerfBindAddrLAN, rc.SerfAdvertiseAddrLAN, rc.GossipLAN, gossip.ProfileLAN
	g.ReconnectTimeout = rc.ReconnectTimeoutLAN
	if wan {
		bind, adv, tune, profile = rc.SerfBindAddrWAN, rc.SerfAdvertiseAddrWAN, rc.GossipWAN, gossip.ProfileWAN
		g.ReconnectTimeout = rc.ReconnectTimeoutWAN
	}
	g.Profile = profile
	g.BindAddr = bind.Addr().String()
	g.BindPort = int(bind.Port())
	if adv.IsValid() {
		g.AdvertiseAddr = adv.Addr().String()
		g.AdvertisePort = int(adv.Port())
	}
	g.Tuning = gossip.Tuning{
		GossipNodes:    tune.GossipNodes,
		GossipInterval: tune.GossipInterval,
		ProbeInterval:  tune.ProbeInterval,
		ProbeTimeout:   tune.ProbeTimeout,
		SuspicionMult:  tune.SuspicionMult,
		RetransmitMult: tune.RetransmitMult,
	}
	// Both default to true; turning them off lets encryption be rolled
	// out on a running pool, as in Consul.
	g.PlaintextIncoming = !rc.EncryptVerifyIncoming
	g.PlaintextOutgoing = !rc.EncryptVerifyOutgoing
	if rc.EncryptKey != "" {
		key, err := gossip.DecodeKey(rc.EncryptKey)
		if err != nil {
			return g, err
		}
		g.EncryptKey = key
	}
	return g, nil
}

func (a *Agent) startServer(rc *config.RuntimeConfig) error {
	sc := server.DefaultConfig()
	sc.NodeName = rc.NodeName
	sc.NodeID = rc.NodeID
	sc.Datacenter = rc.Datacenter
	sc.DataDir = rc.DataDir
	sc.DevMode = rc.DevMode
	sc.Bootstrap = rc.Bootstrap || rc.DevMode
	sc.BootstrapExpect = rc.BootstrapExpect
	sc.RPCAddr = net.TCPAddrFromAddrPort(rc.RPCBindAddr)
	if rc.RPCAdvertiseAddr.IsValid() && rc.RPCAdvertiseAddr.Port() != 0 {
		sc.RPCAdvertise = net.TCPAddrFromAddrPort(rc.RPCAdvertiseAddr)
	} else if rc.RPCAdvertiseAddr.IsValid() {
		sc.RPCAdvertise = &net.TCPAddr{IP: rc.RPCAdvertiseAddr.Addr().AsSlice()}
	}
	var err error
	if sc.SerfLAN, err = gossipConfig(rc, false); err != nil {
		return err
	}
	if sc.SerfWAN, err = gossipConfig(rc, true); err != nil {
		return err
	}
	hb, el, lease := rc.RaftTimings()
	sc.RaftConfig.HeartbeatTimeout = hb
	sc.RaftConfig.ElectionTimeout = el
	sc.RaftConfig.LeaderLeaseTimeout = lease
	if rc.RPCHoldTimeout > 0 {
		sc.RPCHoldTimeout = rc.RPCHoldTimeout
	}
	if rc.LeaveDrainTime > 0 {
		sc.LeaveDrainTime = rc.LeaveDrainTime
	}
	if rc.SessionTTLMin > 0 {
		sc.SessionTTLMin = rc.SessionTTLMin
	}
	if rc.DefaultQueryTime > 0 && rc.MaxQueryTime > 0 {
		sc.DefaultQueryTime = rc.DefaultQueryTime
		sc.MaxQueryTime = rc.MaxQueryTime
	}
	if rc.KVMaxValueSize > 0 {
		sc.KVMaxValueSize = rc.KVMaxValueSize
	}
	if rc.TxnMaxReqLen > 0 {
		sc.TxnMaxReqLen = rc.TxnMaxReqLen
	}
	sc.RPCMaxConnsPerClient = rc.RPCMaxConnsPerClient
	sc.NodeMeta = rc.NodeMeta
	sc.Autopilot = serverAutopilotConfig(rc)
	// Autopilot's pace follows raft_multiplier: Consul's 2s health
	// refresh and 10s reconcile at the default 5, five times faster at 1.
	if m := time.Duration(rc.RaftMultiplier); m > 0 {
		sc.AutopilotUpdateInterval = m * 400 * time.Millisecond
		sc.AutopilotReconcileInterval = m * 2 * time.Second
	}
	if rc.DevMode {
		sc.ReconcileInterval = 5 * time.Second
		sc.CoordinateUpdatePeriod = time.Second
	}
	sc.ACL = serverACLConfig(rc)
	// A replication token set through the agent token API and persisted
	// wins over the configuration.
	sc.ACL.ReplicationToken = a.agentToken("replication")
	sc.Logger = a.logger
	sc.TLS = a.tls
	sc.UserEventHandler = a.handleUserEvent
	sc.Metrics = a.telemetry.Metrics()
	if a.opts.ServerConfig != nil {
		a.opts.ServerConfig(sc)
	}
	s, err := server.NewServer(sc)
	if err != nil {
		return err
	}
	a.server = s
	a.delegate = s
	return nil
}

func (a *Agent) startClient(rc *config.RuntimeConfig) error {
	cc := client.DefaultConfig()
	cc.NodeName = rc.NodeName
	cc.NodeID = rc.NodeID
	cc.Datacenter = rc.Datacenter
	cc.DataDir = rc.DataDir
	var err error
	if cc.SerfLAN, err = gossipConfig(rc, false); err != nil {
		return err
	}
	if rc.DefaultQueryTime > 0 && rc.MaxQueryTime > 0 {
		cc.DefaultQueryTime = rc.DefaultQueryTime
		cc.MaxQueryTime = rc.MaxQueryTime
	}
	if rc.RPCHoldTimeout > 0 {
		cc.RPCHoldTimeout = rc.RPCHoldTimeout
	}
	cc.Logger = a.logger
	cc.TLS = a.tls
	cc.UserEventHandler = a.handleUserEvent
	cc.Metrics = a.telemetry.Metrics()
	if a.opts.ClientConfig != nil {
		a.opts.ClientConfig(cc)
	}
	c, err := client.NewClient(cc)
	if err != nil {
		return err
	}
	a.client = c
	a.delegate = c
	return nil
}

// startHTTP listens on every HTTP address and unix socket.
func (a *Agent) startHTTP(rc *config.RuntimeConfig) error {
	mux := a.routes()
	for _, ap := range rc.HTTPAddrs {
		ln, err := net.Listen("tcp", ap.String())
		if err != nil {
			return fmt.Errorf("listen for http on %s: %w", ap, err)
		}
		a.serveHTTP(mux, ln)
	}
	for _, path := range rc.HTTPUnixSockets {
		ln, err := listenUnix(path, rc.UnixSockets)
		if err != nil {
			return fmt.Errorf("listen for http on unix socket %s: %w", path, err)
		}
		a.serveHTTP(mux, ln)
	}
	return nil
}

// serveHTTP serves the API on ln until shutdown.
func (a *Agent) serveHTTP(mux http.Handler, ln net.Listener) {
	ln = a.httpConns.listen(ln)
	// No ReadTimeout or WriteTimeout: wrap bounds the body's read
	// itself, and a blocking query holds its request for minutes.
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: a.httpLimits.ReadHeaderTimeout,
		IdleTimeout:       a.httpLimits.IdleTimeout,
		MaxHeaderBytes:    a.httpLimits.MaxHeaderBytes,
		ErrorLog:          a.logger.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}),
	}
	a.httpServers = append(a.httpServers, srv)
	a.httpAddrs = append(a.httpAddrs, ln.Addr())
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.logger.Error("http server stopped", "addr", ln.Addr().String(), "error", err)
		}
	}()
	a.logger.Info("http api listening", "addr", HTTPAddrString(ln.Addr()))
}

// GossipEncrypted reports whether the LAN gossip is encrypted, from the
// encrypt key or from the keyring file in the data dir.
func (a *Agent) GossipEncrypted() bool {
	return a.delegate != nil && a.delegate.LANSerf().EncryptionEnabled()
}

// HTTPAddrs are the addresses the HTTP API listens on.
func (a *Agent) HTTPAddrs() []net.Addr { return a.httpAddrs }

// Server returns the agent's server, nil on a client.
func (a *Agent) Server() *server.Server { return a.server }

// RPC sends a request through the agent's server or client.
func (a *Agent) RPC(method string, args, reply any) error {
	return a.RPCContext(context.Background(), method, args, reply)
}

// contextRPC is a delegate whose calls take the caller's context.
type contextRPC interface {
	RPCContext(ctx context.Context, method string, args, reply any) error
}

// RPCContext is RPC on behalf of a caller that may give up: HTTP handlers
// pass their request's context, so that when the HTTP client hangs up the
// call is abandoned at once and its stream to the server closed, instead
// of living on for a blocking query's whole wait. A delegate without
// RPCContext gets the call without the context.
func (a *Agent) RPCContext(ctx context.Context, method string, args, reply any) error {
	if a.delegate == nil {
		return errors.New("agent is not started")
	}
	tokenFromContext(ctx, args)
	if d, ok := a.delegate.(contextRPC); ok {
		return d.RPCContext(ctx, method, args, reply)
	}
	return a.delegate.RPC(method, args, reply)
}

// FatalCh reports errors after which the agent must stop.
func (a *Agent) FatalCh() <-chan error { return a.fatalCh }

// ShutdownCh is closed when the agent has shut down (after a leave
// requested through the API, for example).
func (a *Agent) ShutdownCh() <-chan struct{} { return a.shutdownCh }

// Leave leaves the gossip pools gracefully (and Raft, on a server). It is
// idempotent.
func (a *Agent) Leave() error {
	a.leaveOnce.Do(func() {
		if a.delegate == nil {
			return
		}
		a.logger.Info("agent leaving the cluster")
		a.leaveErr = a.delegate.Leave()
	})
	return a.leaveErr
}

// Shutdown stops everything without leaving; it is idempotent.
func (a *Agent) Shutdown() error {
	a.shutdownOnce.Do(func() {
		a.logger.Info("agent shutting down")
		a.cancel()
		// Requests get a moment to finish; blocking queries would hold
		// shutdown for their whole wait, so what is left is cut off (its
		// RPC fails once the server or client below stops).
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		for _, srv := range a.httpServers {
			if err := srv.Shutdown(ctx); err != nil {
				srv.Close()
			}
		}
		cancel()
		if a.dns != nil {
			a.dns.shutdown()
		}
		// The cache's refreshes read through the delegate: stop them first.
		a.readCache.close()
		// Check runners stop once no request can register new ones.
		a.stopServices()
		if a.delegate != nil {
			a.delegate.Shutdown()
		}
		a.acl.shutdown()
		a.wg.Wait()
		if a.telemetry != nil {
			a.telemetry.Shutdown()
		}
		close(a.shutdownCh)
	})
	return nil
}
