// Package server is a Meridian server: one member of its datacenter's Raft
// group, in both gossip pools, answering RPCs from agents and from the
// servers of other datacenters.
//
// A Server owns: the LAN and WAN serf pools (gossip), the Raft instance and
// its FSM over the state store (state), the server port with its RPC, Raft
// and multiplexed protocols (rpc), the router of remote datacenters, and the
// leader's duties (leader.go) while it leads.
package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	metrics "github.com/hashicorp/go-metrics"
	"github.com/hashicorp/raft"
	autopilot "github.com/hashicorp/raft-autopilot"
	raftwal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
	"github.com/hashicorp/serf/serf"

	"github.com/meridian-sd/meridian/gossip"
	"github.com/meridian-sd/meridian/rpc"
	"github.com/meridian-sd/meridian/structs"
)

// Server is a running Meridian server.
type Server struct {
	config *Config
	logger hclog.Logger

	serfLAN *gossip.Pool
	// wanPool is replaced when a server that left the WAN pool joins it
	// again; read it through wan().
	wanPool atomic.Pointer[gossip.Pool]
	// wanLeft is set by LeaveWAN until the next JoinWAN.
	wanLeft atomic.Bool
	// wanLock serialises leaving and rejoining the WAN pool.
	wanLock sync.Mutex

	fsm           *FSM
	raft          *raft.Raft
	raftLayer     *rpc.RaftLayer
	raftTransport *raft.NetworkTransport
	raftWAL       *raftwal.WAL
	raftMeta      *metadb.BoltMetaDB
	raftInmem     *raft.InmemStore
	leaderNotify  chan bool
	// leaderWatch wakes requests held for a leader when it changes.
	leaderWatch *leaderWatch

	// autopilot watches server health and manages voters while this
	// server leads (autopilot.go).
	autopilot  *autopilot.Autopilot
	apDelegate *autopilotDelegate

	dispatcher *rpc.Dispatcher
	// rpcRules are the ACL entries of the RPC methods (acl_rpc.go).
	rpcRules    map[string]rpcRule
	rpcListener net.Listener
	rpcMux      *rpc.Server
	connPool    *rpc.ConnPool

	// router knows the servers of every datacenter from the WAN pool.
	router *Router

	// localServers are this DC's servers from the LAN pool, by Raft address.
	localLock    sync.RWMutex
	localServers map[raft.ServerAddress]*gossip.ServerMeta

	// reconcileCh carries LAN member changes to the leader loop.
	reconcileCh chan memberChange
	// lanStart is when the LAN pool started; absent members are not
	// taken for reaped before it has had time to rejoin its peers.
	lanStart time.Time
	// floodCh asks the flood loop to join LAN servers to the WAN.
	floodCh chan struct{}
	// bootstrapCh asks the bootstrap loop to reconsider -bootstrap-expect.
	bootstrapCh chan struct{}

	// coordinate updates queued for the leader to write in batches.
	coordLock    sync.Mutex
	coordUpdates map[string]*structs.Coordinate

	sessionTimers *sessionTimers
	tombstones    tombstoneClock

	// acls resolves tokens (acl.go).
	acls *aclState

	// metrics receives the server's own metrics (Config.Metrics).
	metrics *metrics.Metrics

	bootstrapped atomic.Bool
	// bootstrappedConf is the configuration this server bootstrapped
	// Raft with under -bootstrap-expect, nil if it did not; only the
	// bootstrap loop's goroutine uses it.
	bootstrappedConf *raft.Configuration
	// readyForConsistentReads is set while this server leads and has
	// applied everything of earlier terms (see consistentRead).
	readyForConsistentReads atomic.Bool
	leaving                 atomic.Bool
	// blockingQueries counts blocking queries waiting now.
	blockingQueries atomic.Int64

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// snapshotReady is set once Raft is up and snapshot requests can be
	// served; snapshotOps holds a token per snapshot operation running
	// (snapshot_endpoint.go).
	snapshotReady atomic.Bool
	snapshotOps   chan struct{}

	shutdownOnce sync.Once
}

// NewServer starts a server: RPC listener, Raft, gossip pools and the
// background loops. It returns once everything is listening.
func NewServer(cfg *Config) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		config:        cfg,
		logger:        logger.Named("server"),
		localServers:  make(map[raft.ServerAddress]*gossip.ServerMeta),
		reconcileCh:   make(chan memberChange, 256),
		floodCh:       make(chan struct{}, 1),
		bootstrapCh:   make(chan struct{}, 1),
		coordUpdates:  make(map[string]*structs.Coordinate),
		sessionTimers: newSessionTimers(),
		leaderWatch:   newLeaderWatch(),
		snapshotOps:   make(chan struct{}, maxSnapshotOps),
		ctx:           ctx,
		cancel:        cancel,
	}
	s.router = NewRouter(cfg.Datacenter, s.logger.Named("router"))
	s.metrics = cfg.Metrics
	if s.metrics == nil {
		s.metrics, _ = metrics.New(&metrics.Config{FilterDefault: true, TimerGranularity: time.Millisecond}, &metrics.BlackholeSink{})
	}
	s.acls = newACLState(cfg.ACL, cfg.Datacenter)

	fail := func(err error) (*Server, error) {
		s.Shutdown()
		return nil, err
	}
	if err := s.setupRPC(); err != nil {
		return fail(err)
	}
	if err := s.setupRaft(); err != nil {
		return fail(err)
	}
	s.setupAutopilot()
	if err := s.registerEndpoints(); err != nil {
		return fail(err)
	}
	if err := s.setupSerf(); err != nil {
		return fail(err)
	}
	s.clearSnapshotTmp()
	s.snapshotReady.Store(true)

	s.goLoop(s.watchLeader)
	s.goLoop(s.monitorLeadership)
	s.goLoop(s.floodLoop)
	s.goLoop(s.federationProbe)
	s.goLoop(s.bootstrapLoop)
	s.triggerBootstrap()
	return s, nil
}

// goLoop runs fn in a goroutine the server owns until Shutdown.
func (s *Server) goLoop(fn func(ctx context.Context)) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		fn(s.ctx)
	}()
}

func (s *Server) setupRPC() error {
	// Endpoints are registered by NewServer once Raft is up: the port
	// listens before that (Raft rides on it), and a request arriving in
	// between (a peer still forwarding to this address after a quick
	// restart) must fail as unknown rather than find no Raft.
	s.dispatcher = rpc.NewDispatcher(s.logger.Named("rpc"))
	s.dispatcher.SetObserver(s.observeRPC)
	ln, err := net.ListenTCP("tcp", s.config.RPCAddr)
	if err != nil {
		return fmt.Errorf("listen on server port %s: %w", s.config.RPCAddr, err)
	}
	s.rpcListener = ln
	if s.config.RPCAdvertise == nil {
		addr := ln.Addr().(*net.TCPAddr)
		if addr.IP.IsUnspecified() {
			return fmt.Errorf("server port is bound to %s: an advertise address is required", addr)
		}
		s.config.RPCAdvertise = addr
	}
	if s.config.RPCAdvertise.Port == 0 {
		s.config.RPCAdvertise = &net.TCPAddr{IP: s.config.RPCAdvertise.IP, Port: ln.Addr().(*net.TCPAddr).Port}
	}
	s.raftLayer = rpc.NewRaftLayer(s.config.RPCAdvertise, nil)
	sc := rpc.DefaultServerConfig()
	sc.Listener = ln
	sc.Dispatcher = s.dispatcher
	sc.MaxConnsPerClient = s.config.RPCMaxConnsPerClient
	sc.RaftLayer = s.raftLayer
	sc.SnapshotHandler = s.SnapshotRPC
	sc.Logger = s.logger.Named("rpc")
	if s.config.TLS != nil {
		sc.TLS = s.config.TLS
		s.raftLayer.UseTLS(s.config.Datacenter, s.config.TLS)
	}
	mux, err := rpc.NewServer(sc)
	if err != nil {
		ln.Close()
		return fmt.Errorf("start server port: %w", err)
	}
	s.rpcMux = mux
	pc := rpc.DefaultConnPoolConfig()
	pc.Logger = s.logger.Named("pool")
	pc.RPCTimeout = s.config.RPCTimeout
	// Forwarded calls carry their own deadlines (rpcTimeout); a call that
	// does not still gets a blocking query's timeout from this server's
	// query times.
	pc.DefaultQueryTime = s.config.DefaultQueryTime
	pc.MaxQueryTime = s.config.MaxQueryTime
	// A server that does not answer a dial is given up on quickly, so a
	// forwarded request still has time for the next one.
	pc.DialTimeout = 3 * time.Second
	// Sessions to other datacenters' servers stay open when idle, so a
	// forwarded request after a quiet spell does not pay a WAN dial.
	pc.LocalDatacenter = s.config.Datacenter
	if s.config.TLS != nil {
		pc.TLS = s.config.TLS
	}
	if s.connPool, err = rpc.NewConnPool(pc); err != nil {
		return fmt.Errorf("create connection pool: %w", err)
	}
	return nil
}

func (s *Server) setupRaft() error {
	st, err := newFSM(s.logger.Named("fsm"))
	if err != nil {
		return err
	}
	s.fsm = st

	rc := *s.config.RaftConfig
	rc.LocalID = raft.ServerID(s.config.NodeID)
	rc.Logger = s.logger.Named("raft")
	s.leaderNotify = make(chan bool, 16)
	rc.NotifyCh = s.leaderNotify

	s.raftTransport = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  s.raftLayer,
		MaxPool: 3,
		Timeout: 10 * time.Second,
		Logger:  s.logger.Named("raft-net"),
	})

	var (
		logs   raft.LogStore
		stable raft.StableStore
		snaps  raft.SnapshotStore
	)
	if s.config.DevMode && s.config.DataDir == "" {
		s.raftInmem = raft.NewInmemStore()
		logs, stable = s.raftInmem, s.raftInmem
		snaps = raft.NewInmemSnapshotStore()
	} else {
		dir := filepath.Join(s.config.DataDir, "raft")
		wal, meta, err := openLogStore(filepath.Join(dir, "wal"), s.logger.Named("wal"))
		if err != nil {
			return err
		}
		s.raftWAL = wal
		s.raftMeta = meta
		// The leader reads back every entry it has just written to send
		// it to the followers: from disk (a pread per entry) without
		// this cache of the newest entries.
		cache, err := raft.NewLogCache(raftLogCacheSize, wal)
		if err != nil {
			return fmt.Errorf("raft log cache: %w", err)
		}
		logs, stable = cache, wal
		fs, err := raft.NewFileSnapshotStoreWithLogger(dir, 2, s.logger.Named("snapshot"))
		if err != nil {
			return fmt.Errorf("open raft snapshots in %s: %w", dir, err)
		}
		snaps = fs
		if _, err := s.recoverFromPeersJSON(dir, &rc, logs, stable, snaps); err != nil {
			return err
		}
	}

	hasState, err := raft.HasExistingState(logs, stable, snaps)
	if err != nil {
		return fmt.Errorf("check raft state: %w", err)
	}
	if hasState {
		s.bootstrapped.Store(true)
	} else if s.config.DevMode || s.config.Bootstrap {
		conf := raft.Configuration{Servers: []raft.Server{{
			Suffrage: raft.Voter,
			ID:       rc.LocalID,
			Address:  s.raftTransport.LocalAddr(),
		}}}
		if err := raft.BootstrapCluster(&rc, logs, stable, snaps, s.raftTransport, conf); err != nil {
			return fmt.Errorf("bootstrap raft: %w", err)
		}
		s.bootstrapped.Store(true)
	}

	r, err := raft.NewRaft(&rc, s.fsm, logs, stable, snaps, s.raftTransport)
	if err != nil {
		return fmt.Errorf("start raft: %w", err)
	}
	s.raft = r
	return nil
}

func (s *Server) setupSerf() error {
	// The WAN pool starts first so that its real port (the configured one
	// may be 0) can go into the LAN tags for flood joins.
	wan, err := s.createWAN()
	if err != nil {
		return err
	}
	s.router.AddServer(wan.LocalMember())

	lan := s.config.SerfLAN
	lan.NodeName = s.config.NodeName
	lan.Datacenter = s.config.Datacenter
	lan.WAN = false
	lan.Tags = gossip.Tags(gossip.TagsConfig{
		NodeID:          s.config.NodeID,
		Datacenter:      s.config.Datacenter,
		Server:          true,
		ServerPort:      s.config.RPCAdvertise.Port,
		Bootstrap:       s.config.Bootstrap,
		BootstrapExpect: s.config.BootstrapExpect,
		WANJoinPort:     wan.BindPort(),
	})
	meta, dropped := nodeMetaTags(s.config.NodeMeta, s.config.Autopilot.RedundancyZoneTag)
	for k, v := range meta {
		lan.Tags[k] = v
	}
	if len(dropped) > 0 {
		s.logger.Warn("node_meta keys not gossiped to the other servers (reserved, or over the tag size limit); autopilot cannot use them as redundancy zones", "keys", dropped)
	}
	lan.Logger = s.logger.Named("lan")
	lan.OnEvent = s.lanEvent
	if s.config.DataDir != "" {
		lan.DataDir = filepath.Join(s.config.DataDir, "serf")
	}
	if s.serfLAN, err = gossip.Create(lan); err != nil {
		return err
	}
	s.lanStart = time.Now()
	s.addLocalServer(s.serfLAN.LocalMember())
	return nil
}

// createWAN starts this server's WAN pool and makes it current.
func (s *Server) createWAN() (*gossip.Pool, error) {
	wan := s.config.SerfWAN
	wan.NodeName = gossip.WANName(s.config.NodeName, s.config.Datacenter)
	wan.Datacenter = s.config.Datacenter
	wan.WAN = true
	wan.Tags = gossip.Tags(gossip.TagsConfig{
		NodeID:          s.config.NodeID,
		Datacenter:      s.config.Datacenter,
		Server:          true,
		ServerPort:      s.config.RPCAdvertise.Port,
		Bootstrap:       s.config.Bootstrap,
		BootstrapExpect: s.config.BootstrapExpect,
	})
	wan.Logger = s.logger.Named("wan")
	wan.OnEvent = s.wanEvent
	if s.config.DataDir != "" {
		wan.DataDir = filepath.Join(s.config.DataDir, "serf")
	}
	pool, err := gossip.Create(wan)
	if err != nil {
		return nil, err
	}
	// The bind port may have been 0: rejoins must reuse the real one.
	s.config.SerfWAN.BindPort = pool.BindPort()
	s.wanPool.Store(pool)
	return pool, nil
}

// wan returns the current WAN pool.
func (s *Server) wan() *gossip.Pool { return s.wanPool.Load() }

// Shutdown stops the server without leaving; it is idempotent.
func (s *Server) Shutdown() error {
	s.shutdownOnce.Do(func() {
		s.logger.Info("shutting down server")
		s.cancel()
		if s.serfLAN != nil {
			s.serfLAN.Shutdown()
		}
		if p := s.wan(); p != nil {
			p.Shutdown()
		}
		if s.raft != nil {
			if err := s.raft.Shutdown().Error(); err != nil {
				s.logger.Warn("raft shutdown", "error", err)
			}
		}
		if s.rpcMux != nil {
			s.rpcMux.Shutdown()
		}
		if s.raftTransport != nil {
			s.raftTransport.Close()
		}
		if s.raftWAL != nil {
			s.raftWAL.Close()
			s.raftMeta.Close()
		}
		if s.connPool != nil {
			s.connPool.Shutdown()
		}
		s.acls.remote.Close()
		s.wg.Wait()
		s.sessionTimers.stopAll()
	})
	return nil
}

// Leave leaves the WAN and LAN pools gracefully and, when other servers
// remain, takes this server out of the Raft configuration so that quorum
// is computed without it.
func (s *Server) Leave() error {
	s.logger.Info("server starting leave")
	s.leaving.Store(true)

	numPeers, err := s.numPeers()
	if err != nil {
		s.logger.Error("read raft peers", "error", err)
	}
	isLeader := s.IsLeader()
	if isLeader && numPeers > 1 {
		if err := s.await(s.raft.RemoveServer(raft.ServerID(s.config.NodeID), 0, 0), "remove self from raft"); err != nil {
			s.logger.Error("remove self from raft", "error", err)
		}
	}
	if err := s.wan().Leave(); err != nil {
		s.logger.Error("leave wan pool", "error", err)
	}
	if err := s.serfLAN.Leave(); err != nil {
		s.logger.Error("leave lan pool", "error", err)
	}
	// A follower is removed by the leader when it sees the LAN leave; wait
	// for that (bounded) so a restart elsewhere finds a clean configuration.
	if !isLeader && numPeers > 1 {
		deadline := time.Now().Add(s.config.LeaveDrainTime)
		for time.Now().Before(deadline) {
			present, err := s.inRaftConfig()
			if err != nil || !present {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

// LeaveWAN leaves only the WAN pool.
//
// The server also shuts its WAN pool down and stops advertising its WAN
// port to its LAN peers, so that their flood joins do not pull it back in;
// `join -wan` on it (or a restart) brings it back. Its router then knows
// only its own datacenter.
func (s *Server) LeaveWAN() error {
	s.wanLock.Lock()
	defer s.wanLock.Unlock()
	if s.wanLeft.Load() {
		return nil
	}
	pool := s.wan()
	if err := pool.Leave(); err != nil {
		return err
	}
	s.wanLeft.Store(true)
	self := pool.LocalMember()
	pool.Shutdown()
	if err := s.setWANJoinPort(0); err != nil {
		s.logger.Warn("stop advertising the wan port", "error", err)
	}
	s.router.Reset(self)
	s.logger.Info("left the wan pool")
	return nil
}

// setWANJoinPort updates the LAN tag that tells this datacenter's servers
// where to flood-join this server into the WAN pool; 0 removes it.
func (s *Server) setWANJoinPort(port int) error {
	tags := make(map[string]string)
	for k, v := range s.serfLAN.LocalMember().Tags {
		tags[k] = v
	}
	if port == 0 {
		delete(tags, gossip.TagWANJoinPort)
	} else {
		tags[gossip.TagWANJoinPort] = strconv.Itoa(port)
	}
	return s.serfLAN.Serf().SetTags(tags)
}

func (s *Server) numPeers() (int, error) {
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return 0, err
	}
	n := 0
	for _, srv := range f.Configuration().Servers {
		if srv.Suffrage == raft.Voter {
			n++
		}
	}
	return n, nil
}

func (s *Server) inRaftConfig() (bool, error) {
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return false, err
	}
	for _, srv := range f.Configuration().Servers {
		if srv.ID == raft.ServerID(s.config.NodeID) {
			return true, nil
		}
	}
	return false, nil
}

// raftLogCacheSize is how many of the newest Raft log entries are kept in
// memory for replication: two batches of MaxAppendEntries (64), enough
// for followers that keep up; one further behind is read from disk.
const raftLogCacheSize = 128

// openLogStore opens the durable Raft log and stable store (raft-wal) in
// dir. raft-wal's Close does not close its meta store, whose file lock
// would then block a server restarted in the same process, so the caller
// gets the meta store too and closes it after the WAL.
func openLogStore(dir string, logger hclog.Logger) (*raftwal.WAL, *metadb.BoltMetaDB, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("create raft log dir: %w", err)
	}
	meta := &metadb.BoltMetaDB{}
	wal, err := raftwal.Open(dir, raftwal.WithLogger(logger), raftwal.WithMetaStore(meta))
	if err != nil {
		meta.Close()
		return nil, nil, fmt.Errorf("open raft log in %s: %w", dir, err)
	}
	return wal, meta, nil
}

// IsLeader reports whether this server is the Raft leader.
func (s *Server) IsLeader() bool { return s.raft.State() == raft.Leader }

// Datacenter is the server's datacenter.
func (s *Server) Datacenter() string { return s.config.Datacenter }

// NodeName is the server's node name.
func (s *Server) NodeName() string { return s.config.NodeName }

// LANMembers lists the LAN pool.
func (s *Server) LANMembers() []serf.Member { return s.serfLAN.Members() }

// WANMembers lists the WAN pool.
func (s *Server) WANMembers() []serf.Member { return s.wan().Members() }

// LocalMember is this server's LAN member record.
func (s *Server) LocalMember() serf.Member { return s.serfLAN.LocalMember() }

// JoinLAN joins the LAN pool through the given addresses.
func (s *Server) JoinLAN(addrs []string) (int, error) {
	return s.serfLAN.Join(addrs, s.config.SerfLANDefaultPort)
}

// JoinWAN joins the WAN pool through the given addresses.
func (s *Server) JoinWAN(addrs []string) (int, error) {
	if err := s.rejoinWAN(); err != nil {
		return 0, err
	}
	return s.wan().Join(addrs, s.config.SerfWANDefaultPort)
}

// rejoinWAN restarts the WAN pool of a server that left it.
func (s *Server) rejoinWAN() error {
	s.wanLock.Lock()
	defer s.wanLock.Unlock()
	if !s.wanLeft.Load() {
		return nil
	}
	pool, err := s.createWAN()
	if err != nil {
		return fmt.Errorf("restart the wan pool: %w", err)
	}
	s.router.AddServer(pool.LocalMember())
	if err := s.setWANJoinPort(pool.BindPort()); err != nil {
		s.logger.Warn("advertise the wan port", "error", err)
	}
	s.wanLeft.Store(false)
	return nil
}

// RemoveFailedNode force-leaves a member from the LAN pool, or the WAN
// pool with wan. In the WAN pool a bare node name is accepted for a server
// of this datacenter.
func (s *Server) RemoveFailedNode(node string, prune, wan bool) error {
	if wan {
		if err := s.wan().RemoveFailedNode(node, prune); err != nil {
			return err
		}
		if prune {
			s.router.RemoveServerByName(node)
		}
		return nil
	}
	if err := s.serfLAN.RemoveFailedNode(node, prune); err != nil {
		return err
	}
	// Consul also tries the WAN name, so one force-leave clears a server
	// from both pools.
	_ = s.wan().RemoveFailedNode(gossip.WANName(node, s.config.Datacenter), prune)
	return nil
}

// LANSerf exposes the LAN serf instance (coordinates, keyring).
func (s *Server) LANSerf() *serf.Serf { return s.serfLAN.Serf() }

// WANSerf exposes the WAN serf instance.
func (s *Server) WANSerf() *serf.Serf { return s.wan().Serf() }

// RPCAddr is the advertised server port address.
func (s *Server) RPCAddr() *net.TCPAddr { return s.config.RPCAdvertise }

// Stats returns the sections of /v1/agent/self's Stats and `info`.
func (s *Server) Stats() map[string]map[string]string {
	numKnownDCs := len(s.router.Datacenters())
	stats := map[string]map[string]string{
		"consul": {
			"server":            "true",
			"leader":            strconv.FormatBool(s.IsLeader()),
			"leader_addr":       string(s.raft.Leader()),
			"bootstrap":         strconv.FormatBool(s.config.Bootstrap),
			"known_datacenters": strconv.Itoa(numKnownDCs),
		},
		"rpc": {
			"rpc_panics":       strconv.FormatUint(s.dispatcher.Panics(), 10),
			"rpc_in_flight":    strconv.FormatInt(s.dispatcher.InFlight(), 10),
			"blocking_queries": strconv.FormatInt(s.blockingQueries.Load(), 10),
		},
		"raft":     s.raft.Stats(),
		"serf_lan": s.serfLAN.Serf().Stats(),
		"serf_wan": s.wan().Serf().Stats(),
	}
	return stats
}

// errShutdown is returned by calls made while the server stops.
var errShutdown = errors.New("server is shutting down")
