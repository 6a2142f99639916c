package rpc

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/meridian-sd/meridian/structs"
)

// ServerAddr names one server a client agent may call. It is comparable, so
// it can be a map key or compared with ==.
type ServerAddr struct {
	// Name is the server's node name.
	Name string
	// ID is the server's node ID; it identifies the server when set,
	// otherwise Name does.
	ID string
	// Datacenter is the server's datacenter.
	Datacenter string
	// Addr is the server port's address as host:port.
	Addr string
}

// key identifies the server across address changes.
func (s ServerAddr) key() string {
	if s.ID != "" {
		return "id:" + s.ID
	}
	return "name:" + s.Name
}

// NetAddr returns Addr as a net.Addr for ConnPool.RPC.
func (s ServerAddr) NetAddr() net.Addr { return tcpAddr(s.Addr) }

// String names the server for logs.
func (s ServerAddr) String() string {
	return fmt.Sprintf("%s (%s) %s", s.Name, s.Datacenter, s.Addr)
}

// tcpAddr is a host:port that has not been resolved.
type tcpAddr string

// Network is always "tcp".
func (a tcpAddr) Network() string { return "tcp" }

// String is the host:port.
func (a tcpAddr) String() string { return string(a) }

// ManagerConfig configures a Manager.
type ManagerConfig struct {
	// Pool makes the Manager's calls and the pings of a rebalance. Required;
	// the Manager does not own it and never shuts it down.
	Pool *ConnPool
	// Logger receives the Manager's logs. Default: a logger named
	// "rpc.manager" writing to stderr at INFO.
	Logger hclog.Logger
	// ClusterSize returns the number of agents in the datacenter's LAN pool;
	// the rebalance interval grows with it so that all clients together
	// rebalance at most RebalanceConnsPerSecPerServer times a second per
	// server. Nil means the number of known servers. Default nil.
	ClusterSize func() int
	// MinRebalanceInterval is the shortest time between two rebalances; a
	// random jitter of up to half of it is added each time. Default 2m.
	MinRebalanceInterval time.Duration
	// RebalanceConnsPerSecPerServer is how many new connections per second
	// each server should see at most from all clients' rebalances together.
	// Default 64.
	RebalanceConnsPerSecPerServer float64
	// PingTimeout caps each ping a rebalance sends to find a live server to
	// put first. Default 5s.
	PingTimeout time.Duration
}

// DefaultManagerConfig returns a ManagerConfig with every default filled in
// except Pool, which the caller must provide.
func DefaultManagerConfig() *ManagerConfig {
	return &ManagerConfig{
		Logger:                        hclog.New(&hclog.LoggerOptions{Name: "rpc.manager", Level: hclog.Info}),
		MinRebalanceInterval:          2 * time.Minute,
		RebalanceConnsPerSecPerServer: 64,
		PingTimeout:                   5 * time.Second,
	}
}

// validate reports the first unusable setting.
func (c *ManagerConfig) validate() error {
	switch {
	case c.Pool == nil:
		return errors.New("rpc manager config: Pool is required")
	case c.Logger == nil:
		return errors.New("rpc manager config: Logger is required")
	case c.MinRebalanceInterval <= 0:
		return fmt.Errorf("rpc manager config: MinRebalanceInterval must be positive, got %s", c.MinRebalanceInterval)
	case c.RebalanceConnsPerSecPerServer <= 0:
		return fmt.Errorf("rpc manager config: RebalanceConnsPerSecPerServer must be positive, got %g", c.RebalanceConnsPerSecPerServer)
	case c.PingTimeout <= 0:
		return fmt.Errorf("rpc manager config: PingTimeout must be positive, got %s", c.PingTimeout)
	}
	return nil
}

// Manager is a client agent's view of its datacenter's servers, after
// Consul's router.Manager. The first server of its list is the one calls go
// to; a failed server is moved to the end so the next takes over; and every
// few minutes the list is shuffled, so that the clients of a datacenter spread
// over its servers and come back to a server that recovered.
type Manager struct {
	cfg    *ManagerConfig
	logger hclog.Logger

	mu      sync.Mutex
	servers []ServerAddr

	rebalanceCh chan struct{} // asks the loop to rebalance now
	ctx         context.Context
	cancel      context.CancelFunc
	wg          sync.WaitGroup
}

// NewManager validates cfg and starts the rebalance loop; Shutdown stops it.
func NewManager(cfg *ManagerConfig) (*Manager, error) {
	if cfg == nil {
		return nil, errors.New("rpc manager config: nil")
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Manager{
		cfg:         cfg,
		logger:      cfg.Logger,
		rebalanceCh: make(chan struct{}, 1),
		ctx:         ctx,
		cancel:      cancel,
	}
	m.wg.Add(1)
	go m.rebalanceLoop()
	return m, nil
}

// Shutdown stops the rebalance loop and waits for it. It is idempotent.
func (m *Manager) Shutdown() {
	m.cancel()
	m.wg.Wait()
}

// AddServer adds s at the end of the list, or updates the entry of the same
// server (same ID, or same Name when ID is empty) in place.
func (m *Manager) AddServer(s ServerAddr) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, cur := range m.servers {
		if cur.key() == s.key() {
			m.servers[i] = s
			return
		}
	}
	m.servers = append(m.servers, s)
}

// RemoveServer forgets the server s names (by ID, or Name when ID is empty).
func (m *Manager) RemoveServer(s ServerAddr) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, cur := range m.servers {
		if cur.key() == s.key() {
			m.servers = append(m.servers[:i:i], m.servers[i+1:]...)
			return
		}
	}
}

// NotifyFailedServer reports that a call to s failed. If s is still the
// current server it moves to the end of the list, so FindServer returns the
// next one; a report about any other server changes nothing, so that many
// calls failing on the same server at once cycle only once.
func (m *Manager) NotifyFailedServer(s ServerAddr) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.servers) > 1 && m.servers[0] == s {
		m.servers = append(m.servers[1:len(m.servers):len(m.servers)], s)
	}
}

// FindServer returns the server calls should go to now, false when none is
// known.
func (m *Manager) FindServer() (ServerAddr, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.servers) == 0 {
		return ServerAddr{}, false
	}
	return m.servers[0], true
}

// Servers returns a copy of the list, current server first.
func (m *Manager) Servers() []ServerAddr {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]ServerAddr(nil), m.servers...)
}

// NumServers is the number of known servers.
func (m *Manager) NumServers() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.servers)
}

// RPC calls method on the current server and, when the call fails in
// transport (see CanRetry), reports the server failed and tries the next,
// each server at most once. Errors returned by the remote method, such as
// structs.ErrNoLeader or a validation error, are returned as they are,
// without trying another server. With no known server it returns
// structs.ErrNoServers.
func (m *Manager) RPC(ctx context.Context, method string, args, reply any) error {
	attempts := m.NumServers()
	if attempts == 0 {
		return structs.ErrNoServers
	}
	var lastErr error
	for range attempts {
		srv, ok := m.FindServer()
		if !ok {
			break
		}
		err := m.cfg.Pool.RPC(ctx, srv.Datacenter, srv.NetAddr(), method, args, reply)
		if err == nil || IsRemoteError(err) {
			return err
		}
		if ctx.Err() != nil {
			return err
		}
		m.logger.Warn("rpc to server failed", "server", srv.String(), "method", method, "error", err)
		m.NotifyFailedServer(srv)
		if !CanRetry(args, err) {
			return err
		}
		lastErr = err
	}
	if lastErr == nil {
		return structs.ErrNoServers
	}
	return lastErr
}

// RebalanceServers shuffles the list and then pings servers from its head,
// moving those that do not answer to the end, until one answers; that one
// becomes the current server. Servers added or removed meanwhile are kept or
// dropped as the list says when it finishes.
func (m *Manager) RebalanceServers(ctx context.Context) {
	list := m.Servers()
	if len(list) < 2 {
		return
	}
	rand.Shuffle(len(list), func(i, j int) { list[i], list[j] = list[j], list[i] })
	for range len(list) {
		if ctx.Err() != nil {
			return
		}
		pctx, cancel := context.WithTimeout(ctx, m.cfg.PingTimeout)
		err := m.cfg.Pool.Ping(pctx, list[0].Datacenter, list[0].NetAddr())
		cancel()
		if err == nil {
			break
		}
		m.logger.Debug("rebalance: server did not answer ping", "server", list[0].String(), "error", err)
		list = append(list[1:], list[0])
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	current := make(map[string]ServerAddr, len(m.servers))
	for _, s := range m.servers {
		current[s.key()] = s
	}
	merged := make([]ServerAddr, 0, len(m.servers))
	for _, s := range list {
		if cur, ok := current[s.key()]; ok {
			merged = append(merged, cur)
			delete(current, s.key())
		}
	}
	for _, s := range m.servers {
		if _, ok := current[s.key()]; ok {
			merged = append(merged, s)
		}
	}
	m.servers = merged
}

// TriggerRebalance asks the rebalance loop to rebalance now instead of at its
// next timer.
func (m *Manager) TriggerRebalance() {
	select {
	case m.rebalanceCh <- struct{}{}:
	default:
	}
}

// rebalanceInterval is how long to wait before the next rebalance: at least
// MinRebalanceInterval plus jitter, and long enough that all ClusterSize
// clients rebalancing against numServers servers stay under
// RebalanceConnsPerSecPerServer new connections per second per server.
func (m *Manager) rebalanceInterval() time.Duration {
	numServers := m.NumServers()
	clusterSize := numServers
	if m.cfg.ClusterSize != nil {
		clusterSize = m.cfg.ClusterSize()
	}
	return rebalanceInterval(m.cfg.MinRebalanceInterval, m.cfg.RebalanceConnsPerSecPerServer, numServers, clusterSize)
}

// rebalanceInterval computes Manager.rebalanceInterval from its inputs; see
// there.
func rebalanceInterval(min time.Duration, connsPerSecPerServer float64, numServers, clusterSize int) time.Duration {
	interval := min + rand.N(min/2+1)
	if numServers < 1 {
		numServers = 1
	}
	rate := float64(numServers) * connsPerSecPerServer
	scaled := time.Duration(float64(clusterSize) / rate * float64(time.Second))
	if scaled > interval {
		return scaled
	}
	return interval
}

// rebalanceLoop rebalances on its timer or when triggered, until Shutdown.
func (m *Manager) rebalanceLoop() {
	defer m.wg.Done()
	timer := time.NewTimer(m.rebalanceInterval())
	defer timer.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-timer.C:
		case <-m.rebalanceCh:
		}
		m.RebalanceServers(m.ctx)
		timer.Reset(m.rebalanceInterval())
	}
}
