// Package client is a Meridian client agent's link to its datacenter: it
// is in the LAN pool, learns the servers from their member tags, and sends
// every RPC to one of them through a pooled, multiplexed connection,
// moving to another server when one fails.
package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	metrics "github.com/hashicorp/go-metrics"
	"github.com/hashicorp/serf/serf"

	"github.com/meridian-sd/meridian/gossip"
	"github.com/meridian-sd/meridian/rpc"
	"github.com/meridian-sd/meridian/structs"
	"github.com/meridian-sd/meridian/tlsutil"
)

// Config configures a Client.
type Config struct {
	// NodeName is the agent's node name.
	NodeName string
	// NodeID is the agent's persistent UUID.
	NodeID string
	// Datacenter is the agent's datacenter. Default "dc1".
	Datacenter string
	// DataDir holds serf/; empty keeps nothing on disk.
	DataDir string
	// SerfLAN configures the LAN pool; the client fills in name, tags,
	// data dir and event handler.
	SerfLAN gossip.Config
	// SerfLANDefaultPort completes join addresses without a port. Default 8301.
	SerfLANDefaultPort int
	// RPCTimeout caps one RPC that is not a blocking query. Default 10s.
	RPCTimeout time.Duration
	// RPCHoldTimeout is how long a request waits for a first server to be
	// known (right after the agent starts and joins) before it fails with
	// "No known Consul servers". Default 7s.
	RPCHoldTimeout time.Duration
	// DefaultQueryTime and MaxQueryTime are the agent's
	// default_query_time and max_query_time: the wait servers give a
	// blocking query that names none, and its cap. The client's timeout
	// for a blocking query is that wait plus a margin, so they should
	// match the servers'. Defaults structs.DefaultQueryTime (5m) and
	// structs.MaxQueryTime (10m).
	DefaultQueryTime time.Duration
	MaxQueryTime     time.Duration
	// Logger receives the client's logs.
	Logger hclog.Logger
	// Dial replaces the TCP dialer of the RPC pool (fault injection); nil
	// for the default.
	Dial rpc.DialFunc
	// PoolConfig, when set, adjusts the RPC pool's configuration (tests
	// shorten its timeouts).
	PoolConfig func(*rpc.ConnPoolConfig)
	// TLS, when set, makes RPC to servers use TLS as it says
	// (tls.internal_rpc). Nil: plaintext.
	TLS *tlsutil.Configurator
	// Metrics is where the client emits client.rpc and
	// client.rpc.failed (lib/telemetry); nil emits nothing.
	Metrics *metrics.Metrics
	// UserEventHandler, when set, receives the user events of the LAN
	// pool, on the pool's event goroutine; it must not block.
	UserEventHandler func(serf.UserEvent)
}

// DefaultConfig returns a client configuration with Consul's defaults.
func DefaultConfig() *Config {
	return &Config{
		Datacenter:         "dc1",
		SerfLAN:            gossip.Config{Profile: gossip.ProfileLAN, BindAddr: "0.0.0.0", BindPort: 8301},
		SerfLANDefaultPort: 8301,
		RPCTimeout:         10 * time.Second,
		DefaultQueryTime:   structs.DefaultQueryTime,
		MaxQueryTime:       structs.MaxQueryTime,
	}
}

// Client is a running client agent's gossip and RPC side.
type Client struct {
	config  *Config
	logger  hclog.Logger
	serfLAN *gossip.Pool
	pool    *rpc.ConnPool
	servers *rpc.Manager

	shutdownCh   chan struct{}
	shutdownOnce sync.Once
}

// NewClient starts the LAN pool and the RPC machinery.
func NewClient(cfg *Config) (*Client, error) {
	if cfg.NodeName == "" || cfg.Datacenter == "" {
		return nil, errors.New("client config: node name and datacenter are required")
	}
	logger := cfg.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	c := &Client{config: cfg, logger: logger.Named("client"), shutdownCh: make(chan struct{})}

	pc := rpc.DefaultConnPoolConfig()
	pc.Logger = c.logger.Named("pool")
	pc.RPCTimeout = cfg.RPCTimeout
	pc.DefaultQueryTime = cfg.DefaultQueryTime
	pc.MaxQueryTime = cfg.MaxQueryTime
	if cfg.Dial != nil {
		pc.Dial = cfg.Dial
	}
	if cfg.TLS != nil {
		pc.TLS = cfg.TLS
	}
	if cfg.PoolConfig != nil {
		cfg.PoolConfig(pc)
	}
	var err error
	if c.pool, err = rpc.NewConnPool(pc); err != nil {
		return nil, fmt.Errorf("create rpc pool: %w", err)
	}
	mc := rpc.DefaultManagerConfig()
	mc.Pool = c.pool
	mc.Logger = c.logger.Named("servers")
	// The manager starts before the LAN pool exists; it reads the pool
	// through an atomic pointer set once the pool is up.
	var lanPool atomic.Pointer[gossip.Pool]
	mc.ClusterSize = func() int {
		if p := lanPool.Load(); p != nil {
			return p.Serf().NumNodes()
		}
		return 1
	}
	if c.servers, err = rpc.NewManager(mc); err != nil {
		c.pool.Shutdown()
		return nil, fmt.Errorf("create server manager: %w", err)
	}

	lan := cfg.SerfLAN
	lan.NodeName = cfg.NodeName
	lan.Datacenter = cfg.Datacenter
	lan.Tags = gossip.Tags(gossip.TagsConfig{NodeID: cfg.NodeID, Datacenter: cfg.Datacenter})
	lan.Logger = c.logger.Named("lan")
	lan.OnEvent = c.lanEvent
	if cfg.DataDir != "" {
		lan.DataDir = filepath.Join(cfg.DataDir, "serf")
	}
	if c.serfLAN, err = gossip.Create(lan); err != nil {
		c.servers.Shutdown()
		c.pool.Shutdown()
		return nil, err
	}
	lanPool.Store(c.serfLAN)
	return c, nil
}

// lanEvent keeps the server list in step with the LAN pool and hands
// user events to the agent.
func (c *Client) lanEvent(e serf.Event) {
	if ue, ok := e.(serf.UserEvent); ok {
		if c.config.UserEventHandler != nil {
			c.config.UserEventHandler(ue)
		}
		return
	}
	me, ok := e.(serf.MemberEvent)
	if !ok {
		return
	}
	for _, m := range me.Members {
		meta, ok := gossip.IsServer(m)
		if !ok || meta.Datacenter != c.config.Datacenter {
			continue
		}
		addr := rpc.ServerAddr{Name: meta.Name, ID: meta.ID, Datacenter: meta.Datacenter, Addr: meta.Addr.String()}
		switch me.Type {
		case serf.EventMemberJoin, serf.EventMemberUpdate:
			c.servers.AddServer(addr)
		case serf.EventMemberFailed:
			c.servers.NotifyFailedServer(addr)
		case serf.EventMemberLeave, serf.EventMemberReap:
			c.servers.RemoveServer(addr)
		}
	}
}

// RPC sends a request to a server of this datacenter.
func (c *Client) RPC(method string, args, reply any) error {
	return c.RPCContext(context.Background(), method, args, reply)
}

// RPCContext is RPC with a caller's context. While no server is known
// yet (the LAN join's events are still being handled) the request waits
// up to RPCHoldTimeout for one.
func (c *Client) RPCContext(ctx context.Context, method string, args, reply any) error {
	if err := c.waitForServers(ctx); err != nil {
		return err
	}
	if m := c.config.Metrics; m != nil {
		m.IncrCounter([]string{"client", "rpc"}, 1)
	}
	err := c.servers.RPC(ctx, method, args, reply)
	if m := c.config.Metrics; m != nil && err != nil {
		m.IncrCounter([]string{"client", "rpc", "failed"}, 1)
	}
	return err
}

// waitForServers waits up to RPCHoldTimeout for a first server to be
// known.
func (c *Client) waitForServers(ctx context.Context) error {
	if c.servers.NumServers() == 0 && c.config.RPCHoldTimeout > 0 {
		deadline := time.Now().Add(c.config.RPCHoldTimeout)
		for c.servers.NumServers() == 0 && time.Now().Before(deadline) {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-c.shutdownCh:
				return errors.New("client agent is shutting down")
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	return nil
}

// SnapshotRPC sends a snapshot save or restore to a server (see
// rpc.ProtoSnapshot). For a save the archive is returned; close it.
func (c *Client) SnapshotRPC(ctx context.Context, args *structs.SnapshotRequest, in io.Reader) (*structs.SnapshotResponse, io.ReadCloser, error) {
	if err := c.waitForServers(ctx); err != nil {
		return nil, nil, err
	}
	return c.servers.SnapshotRPC(ctx, args, in)
}

// NumServers is how many servers the client knows.
func (c *Client) NumServers() int { return c.servers.NumServers() }

// LANMembers lists the LAN pool.
func (c *Client) LANMembers() []serf.Member { return c.serfLAN.Members() }

// LocalMember is this agent's member record.
func (c *Client) LocalMember() serf.Member { return c.serfLAN.LocalMember() }

// JoinLAN joins the LAN pool.
func (c *Client) JoinLAN(addrs []string) (int, error) {
	return c.serfLAN.Join(addrs, c.config.SerfLANDefaultPort)
}

// RemoveFailedNode force-leaves a member from the LAN pool.
func (c *Client) RemoveFailedNode(node string, prune bool) error {
	return c.serfLAN.RemoveFailedNode(node, prune)
}

// LANSerf exposes the LAN serf instance.
func (c *Client) LANSerf() *serf.Serf { return c.serfLAN.Serf() }

// Leave leaves the LAN pool gracefully.
func (c *Client) Leave() error { return c.serfLAN.Leave() }

// Stats returns the sections of /v1/agent/self's Stats and `info`.
func (c *Client) Stats() map[string]map[string]string {
	return map[string]map[string]string{
		"consul": {
			"server":        "false",
			"known_servers": strconv.Itoa(c.servers.NumServers()),
		},
		"serf_lan": c.serfLAN.Serf().Stats(),
		// The RPC pool to the servers: streams open (including those
		// closed here and not yet by the server, and the idle ones kept
		// for the next calls) and calls in flight.
		"rpc_pool": {
			"sessions":     strconv.Itoa(c.pool.NumSessions()),
			"streams":      strconv.Itoa(c.pool.NumStreams()),
			"idle_streams": strconv.Itoa(c.pool.NumIdleStreams()),
			"in_flight":    strconv.FormatInt(c.pool.InFlight(), 10),
		},
	}
}

// Shutdown stops everything without leaving; it is idempotent.
func (c *Client) Shutdown() error {
	c.shutdownOnce.Do(func() {
		close(c.shutdownCh)
		c.serfLAN.Shutdown()
		c.servers.Shutdown()
		c.pool.Shutdown()
	})
	return nil
}
