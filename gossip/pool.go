// Package gossip runs Meridian's two gossip pools on hashicorp/serf: the LAN
// pool every agent of a datacenter is in, and the WAN pool shared by the
// servers of all datacenters.
//
// A Pool wraps one serf instance: it builds the memberlist profile (LAN, WAN
// or the fast local profile used by -dev and tests), applies the operator's
// timing overrides, keeps snapshots and the keyring in the data directory,
// refuses members that do not belong (another datacenter in a LAN pool, a
// client in the WAN pool) and delivers serf events, in order, to one
// handler from a goroutine the Pool owns.
package gossip

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"
)

// Snapshot and keyring file names inside data_dir/serf/, as Consul's.
const (
	LANSnapshot = "local.snapshot"
	WANSnapshot = "remote.snapshot"
	LANKeyring  = "local.keyring"
	WANKeyring  = "remote.keyring"
)

// MinQueryTimeout is the least base timeout of a serf query in a pool
// (see serfConfig).
const MinQueryTimeout = 5 * time.Second

// Profile picks the memberlist base configuration.
type Profile int

const (
	// ProfileLAN is memberlist's LAN profile (Consul's default for LAN)
	// with a faster failure detector (LANProbeInterval, LANProbeTimeout,
	// LANSuspicionMult).
	ProfileLAN Profile = iota
	// ProfileWAN is memberlist's WAN profile.
	ProfileWAN
	// ProfileLocal is fast loopback timing for -dev and tests.
	ProfileLocal
)

// The LAN failure detector. memberlist's LAN defaults (1s, 500ms, 4) mark
// a SIGKILLed member of a 31-node pool failed after about 8s: about two
// probe intervals until a probe fails, then the suspicion timeout
// suspicion_mult × log10(members) × probe_interval (6s), which Lifeguard
// only reaches when suspicion_mult-2 other members confirm the suspicion.
// Shorter probe intervals and one confirmation instead of two bring that
// to about 5s. The probe timeout keeps memberlist's ratio of half the
// interval, so a probe still has as large a share of its interval for
// the indirect probes, and a suspicion nobody confirms (a live but slow
// member) still gets SuspicionMaxTimeoutMult times the minimum (up to
// 21s at 31 members) to refute. The figures and the comparison of false
// suspicions under CPU load are in website/docs/performance.md.
const (
	LANProbeInterval = 800 * time.Millisecond
	LANProbeTimeout  = 400 * time.Millisecond
	LANSuspicionMult = 3
)

// Tuning holds the operator's overrides of memberlist timing (Consul's
// gossip_lan / gossip_wan blocks). A zero field keeps the profile's value.
type Tuning struct {
	// GossipNodes is how many nodes each gossip round sends to.
	GossipNodes int
	// GossipInterval is the time between gossip rounds.
	GossipInterval time.Duration
	// ProbeInterval is the time between failure-detector probes.
	ProbeInterval time.Duration
	// ProbeTimeout is how long a probe waits for an ack.
	ProbeTimeout time.Duration
	// SuspicionMult scales how long a suspect node has to refute.
	SuspicionMult int
	// RetransmitMult scales how often a broadcast is retransmitted.
	RetransmitMult int
}

// Config configures a Pool.
type Config struct {
	// NodeName is the member name: the node name in the LAN pool,
	// "node.dc" in the WAN pool.
	NodeName string
	// Datacenter is the agent's datacenter.
	Datacenter string
	// WAN marks the WAN pool: members must be servers.
	WAN bool
	// BindAddr and BindPort are where memberlist listens (TCP and UDP).
	BindAddr string
	BindPort int
	// AdvertiseAddr and AdvertisePort are what other members are told;
	// empty/0 means the bind values.
	AdvertiseAddr string
	AdvertisePort int
	// Tags are the member tags (see Tags).
	Tags map[string]string
	// Profile selects the memberlist base timings.
	Profile Profile
	// Tuning overrides individual timings.
	Tuning Tuning
	// DataDir is data_dir/serf; empty keeps nothing on disk (-dev).
	DataDir string
	// EncryptKey is the gossip key given by -encrypt (16, 24 or 32 bytes);
	// nil for none. An existing keyring file in DataDir wins over it, as
	// in Consul; Create logs a warning when the key is not the file's
	// primary key.
	EncryptKey []byte
	// PlaintextIncoming accepts unencrypted gossip besides encrypted
	// gossip while a key is in use (encrypt_verify_incoming = false), for
	// turning encryption on in a running pool. Default false: with a key,
	// only encrypted gossip is accepted.
	PlaintextIncoming bool
	// PlaintextOutgoing sends gossip unencrypted while a key is in use
	// (encrypt_verify_outgoing = false), the first step of turning
	// encryption on in a running pool. Default false: with a key, gossip
	// is sent encrypted.
	PlaintextOutgoing bool
	// KeyringSyncInterval is how often the pool checks whether its keyring
	// changed (keys installed, made primary or removed by serf key queries
	// from any member) and then rewrites the keyring file atomically.
	// Default DefaultKeyringSyncInterval.
	KeyringSyncInterval time.Duration
	// RejoinAfterLeave lets a snapshot rejoin even after a graceful leave.
	RejoinAfterLeave bool
	// ReconnectTimeout is how long a failed member is kept before it is
	// reaped (Consul default 72h).
	ReconnectTimeout time.Duration
	// Logger receives serf and memberlist logs.
	Logger hclog.Logger
	// OnEvent receives every serf event, one at a time, in order.
	OnEvent func(serf.Event)
}

// Pool is one running serf pool.
type Pool struct {
	cfg    Config
	ml     *memberlist.Config
	serf   *serf.Serf
	events chan serf.Event
	done   chan struct{}
	wg     sync.WaitGroup

	// keyringFile is where the keyring is persisted ("" for none);
	// keyringWritten is what it holds, under keyringLock (keyring.go).
	keyringFile    string
	keyringLock    sync.Mutex
	keyringWritten [][]byte

	// peersFile is where the pool's members are kept ("" for none);
	// peersChanged wakes the loop that writes it; left, under peersLock,
	// stops the writing after a graceful leave (peers.go).
	peersFile    string
	peersChanged chan struct{}
	peersLock    sync.Mutex
	left         bool
	// peersChecks counts peersLoop's looks at the members, for tests.
	peersChecks atomic.Uint64

	shutdownOnce sync.Once
	shutdownErr  error
}

// Create starts a pool. The pool is not joined to anybody yet: call Join, or
// rely on the snapshot of a previous run.
func Create(cfg Config) (*Pool, error) {
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.NodeName == "" {
		return nil, errors.New("gossip pool needs a node name")
	}
	sc, err := cfg.serfConfig()
	if err != nil {
		return nil, err
	}
	p := &Pool{
		cfg:    cfg,
		events: make(chan serf.Event, 2048),
		done:   make(chan struct{}),
	}
	sc.EventCh = p.events
	p.ml = sc.MemberlistConfig
	// serf writes the keyring file non-atomically: the pool does it
	// (keyring.go).
	p.keyringFile, sc.KeyringFile = sc.KeyringFile, ""
	if p.ml.Keyring != nil {
		p.keyringWritten = currentKeys(p.ml.Keyring)
	}
	var peers []peerEntry
	if cfg.DataDir != "" {
		p.peersFile = filepath.Join(cfg.DataDir, LANPeers)
		if cfg.WAN {
			p.peersFile = filepath.Join(cfg.DataDir, WANPeers)
		}
		p.peersChanged = make(chan struct{}, 1)
		if peers, err = readPeers(p.peersFile); err != nil {
			// Serf's snapshot may still rejoin; the file is rewritten
			// at the next membership change.
			cfg.Logger.Warn("ignoring the pool's member file", "pool", cfg.poolName(), "error", err)
			peers = nil
		}
	}
	s, err := serf.Create(sc)
	if err != nil {
		return nil, fmt.Errorf("start %s gossip on %s: %w", cfg.poolName(), net.JoinHostPort(cfg.BindAddr, strconv.Itoa(cfg.BindPort)), err)
	}
	p.serf = s
	p.wg.Add(1)
	go p.eventLoop()
	if p.peersFile != "" {
		p.wg.Add(1)
		go p.peersLoop(peers)
		if len(peers) > 0 {
			p.wg.Add(1)
			go p.rejoinPeers(peers)
		}
	}
	if p.keyringFile != "" && p.ml.Keyring != nil {
		interval := cfg.KeyringSyncInterval
		if interval <= 0 {
			interval = DefaultKeyringSyncInterval
		}
		p.wg.Add(1)
		go p.keyringLoop(interval)
	}
	return p, nil
}

func (c *Config) poolName() string {
	if c.WAN {
		return "wan"
	}
	return "lan"
}

func (c *Config) serfConfig() (*serf.Config, error) {
	sc := serf.DefaultConfig()
	sc.Init()
	sc.NodeName = c.NodeName
	sc.Tags = c.Tags
	sc.RejoinAfterLeave = c.RejoinAfterLeave
	sc.EnableNameConflictResolution = false
	sc.Logger = c.Logger.Named("serf").StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true})
	if c.ReconnectTimeout > 0 {
		sc.ReconnectTimeout = c.ReconnectTimeout
	}
	// Leave messages must have time to spread before the process exits.
	sc.LeavePropagateDelay = 1 * time.Second

	var ml *memberlist.Config
	switch c.Profile {
	case ProfileWAN:
		ml = memberlist.DefaultWANConfig()
	case ProfileLocal:
		ml = memberlist.DefaultLocalConfig()
		// Fast enough for tests and -dev, slow enough for loaded CI.
		ml.ProbeInterval = 200 * time.Millisecond
		ml.ProbeTimeout = 100 * time.Millisecond
		ml.GossipInterval = 50 * time.Millisecond
		ml.SuspicionMult = 3
		ml.PushPullInterval = 5 * time.Second
		ml.TCPTimeout = 2 * time.Second
		sc.LeavePropagateDelay = 200 * time.Millisecond
		sc.ReapInterval = 1 * time.Second
		sc.ReconnectInterval = 1 * time.Second
		sc.TombstoneTimeout = 30 * time.Second
	default:
		ml = memberlist.DefaultLANConfig()
		// An operator who sets any of the failure detector's timings
		// gets memberlist's defaults for the others, as in Consul, so
		// that a partial gossip_lan block means what it meant there.
		if t := c.Tuning; t.ProbeInterval == 0 && t.ProbeTimeout == 0 && t.SuspicionMult == 0 {
			ml.ProbeInterval = LANProbeInterval
			ml.ProbeTimeout = LANProbeTimeout
			ml.SuspicionMult = LANSuspicionMult
		}
	}
	// A node restarted under the same name from a new address is let in
	// after this long instead of being refused until it is reaped, as
	// Consul configures it.
	ml.DeadNodeReclaimTime = 30 * time.Second
	if c.Profile == ProfileLocal {
		ml.DeadNodeReclaimTime = time.Second
	}
	ml.Name = c.NodeName
	ml.BindAddr = c.BindAddr
	ml.BindPort = c.BindPort
	ml.AdvertiseAddr = c.AdvertiseAddr
	ml.AdvertisePort = c.AdvertisePort
	ml.Logger = c.Logger.Named("memberlist").StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true})
	t := c.Tuning
	if t.GossipNodes > 0 {
		ml.GossipNodes = t.GossipNodes
	}
	if t.GossipInterval > 0 {
		ml.GossipInterval = t.GossipInterval
	}
	if t.ProbeInterval > 0 {
		ml.ProbeInterval = t.ProbeInterval
	}
	if t.ProbeTimeout > 0 {
		ml.ProbeTimeout = t.ProbeTimeout
	}
	if t.SuspicionMult > 0 {
		ml.SuspicionMult = t.SuspicionMult
	}
	if t.RetransmitMult > 0 {
		ml.RetransmitMult = t.RetransmitMult
	}
	sc.MemberlistConfig = ml
	sc.Merge = &mergeDelegate{dc: c.Datacenter, wan: c.WAN}
	// Serf's queries (the keyring operations) wait for every member's
	// answer up to GossipInterval * QueryTimeoutMult * ceil(log10(N+1)).
	// With fast gossip timings that is under a second, less than a busy
	// member may need to answer (it writes its keyring file first), so
	// the base is kept at MinQueryTimeout (5s: on a loaded 2-core machine
	// members were seen answering after 2s). That raises the default LAN
	// base (3.2s) too; the WAN's (8s) is above it. A query ends as soon as
	// every member answered, so the floor only costs time when a member
	// does not answer.
	if base := ml.GossipInterval * time.Duration(sc.QueryTimeoutMult); base > 0 && base < MinQueryTimeout {
		sc.QueryTimeoutMult = int((MinQueryTimeout + ml.GossipInterval - 1) / ml.GossipInterval)
	}

	if c.DataDir != "" {
		if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("create serf data dir: %w", err)
		}
		if c.WAN {
			sc.SnapshotPath = filepath.Join(c.DataDir, WANSnapshot)
			sc.KeyringFile = filepath.Join(c.DataDir, WANKeyring)
		} else {
			sc.SnapshotPath = filepath.Join(c.DataDir, LANSnapshot)
			sc.KeyringFile = filepath.Join(c.DataDir, LANKeyring)
		}
	}
	kr, fromFile, err := loadKeyring(sc.KeyringFile, c.EncryptKey)
	if err != nil {
		return nil, err
	}
	if fromFile && c.EncryptKey != nil && !bytes.Equal(kr.GetPrimaryKey(), c.EncryptKey) {
		c.Logger.Warn("the encrypt key is ignored: the keyring file in the data dir has other keys and is used instead; remove the file to start over with the new key",
			"pool", c.poolName(), "keyring", sc.KeyringFile)
	}
	if kr != nil {
		ml.Keyring = kr
		ml.GossipVerifyIncoming = !c.PlaintextIncoming
		ml.GossipVerifyOutgoing = !c.PlaintextOutgoing
	}
	return sc, nil
}

// eventLoop hands serf events to the handler until Shutdown; it answers
// keyring sync queries itself (keyring.go).
func (p *Pool) eventLoop() {
	defer p.wg.Done()
	for {
		select {
		case e := <-p.events:
			if q, ok := e.(*serf.Query); ok && q.Name == KeyringSyncQuery {
				p.answerKeyringSync(q)
				continue
			}
			if _, ok := e.(serf.MemberEvent); ok {
				p.notePeersChanged()
			}
			if p.cfg.OnEvent != nil {
				p.cfg.OnEvent(e)
			}
		case <-p.done:
			return
		}
	}
}

// BindPort is the port the pool listens on (the kernel's choice when the
// configured port was 0).
func (p *Pool) BindPort() int { return p.ml.BindPort }

// Serf returns the underlying serf instance.
func (p *Pool) Serf() *serf.Serf { return p.serf }

// Join contacts the given addresses ("ip", "ip:port", "host:port"); an
// address without a port gets defaultPort. It returns how many were reached.
func (p *Pool) Join(addrs []string, defaultPort int) (int, error) {
	full := make([]string, 0, len(addrs))
	for _, a := range addrs {
		full = append(full, WithDefaultPort(a, defaultPort))
	}
	n, err := p.serf.Join(full, true)
	if n > 0 {
		// Serf reports an error if any address failed; reaching one is
		// enough to be joined, as with Consul.
		if err != nil {
			p.cfg.Logger.Warn("some join addresses were not reached", "pool", p.cfg.poolName(), "error", err)
		}
		return n, nil
	}
	if err != nil {
		return 0, fmt.Errorf("join %s pool: %w", p.cfg.poolName(), oneLineError{err})
	}
	return 0, fmt.Errorf("join %s pool: no address could be reached", p.cfg.poolName())
}

// oneLineError shows an error that serf builds from several (one per
// address, rendered over several lines) on one line, so that a failed join
// reads as one sentence in logs, API answers and the CLI.
type oneLineError struct{ err error }

func (e oneLineError) Error() string {
	if m, ok := e.err.(interface{ WrappedErrors() []error }); ok {
		parts := make([]string, 0, len(m.WrappedErrors()))
		for _, w := range m.WrappedErrors() {
			parts = append(parts, w.Error())
		}
		return strings.Join(parts, "; ")
	}
	return strings.Join(strings.Fields(e.err.Error()), " ")
}

func (e oneLineError) Unwrap() error { return e.err }

// WithDefaultPort appends port to an address that has none.
func WithDefaultPort(addr string, port int) string {
	if _, _, err := net.SplitHostPort(addr); err == nil {
		return addr
	}
	// A bare IPv6 address may be written with or without brackets.
	host := addr
	if len(host) > 1 && host[0] == '[' && host[len(host)-1] == ']' {
		host = host[1 : len(host)-1]
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// Members lists the pool's members as this agent sees them.
func (p *Pool) Members() []serf.Member { return p.serf.Members() }

// LocalMember is this agent's own member record.
func (p *Pool) LocalMember() serf.Member { return p.serf.LocalMember() }

// Leave leaves the pool gracefully; the pool stays up until Shutdown.
func (p *Pool) Leave() error {
	// The member file goes first, for good: serf's Leave fails only when
	// a leave is already under way, after a shutdown, or when its
	// message cannot be encoded, none of which leaves the agent a member
	// that should rejoin.
	p.forgetPeers()
	if err := p.serf.Leave(); err != nil {
		return fmt.Errorf("leave %s pool: %w", p.cfg.poolName(), err)
	}
	return nil
}

// RemoveFailedNode forces a failed member into the left state, or removes
// it completely with prune.
func (p *Pool) RemoveFailedNode(name string, prune bool) error {
	var err error
	if prune {
		err = p.serf.RemoveFailedNodePrune(name)
	} else {
		err = p.serf.RemoveFailedNode(name)
	}
	if err != nil {
		return fmt.Errorf("force-leave %q from %s pool: %w", name, p.cfg.poolName(), err)
	}
	return nil
}

// Shutdown stops the pool without leaving. It is idempotent.
func (p *Pool) Shutdown() error {
	p.shutdownOnce.Do(func() {
		p.shutdownErr = p.serf.Shutdown()
		close(p.done)
		p.wg.Wait()
		if err := p.SyncKeyring(); err != nil {
			p.cfg.Logger.Error("cannot persist the keyring at shutdown", "pool", p.cfg.poolName(), "error", err)
		}
	})
	return p.shutdownErr
}
