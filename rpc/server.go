package rpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/hashicorp/yamux"

	"github.com/meridian-sd/meridian/structs"
)

// ServerConfig configures a Server.
type ServerConfig struct {
	// Listener is the server port's listener. When nil, the server listens on
	// BindAddr itself. Either way the Server owns the listener and closes it
	// on Shutdown.
	Listener net.Listener
	// BindAddr is the TCP address to listen on when Listener is nil, as
	// host:port. Default "127.0.0.1:8300"; use port 0 in tests.
	BindAddr string
	// Dispatcher holds the endpoints and runs every call (see Dispatcher);
	// the server package registers them with Register. Required:
	// DefaultServerConfig leaves it nil.
	Dispatcher *Dispatcher
	// RaftLayer receives the connections whose first byte is ProtoRaft. When
	// nil such connections are logged and closed. Default nil.
	RaftLayer *RaftLayer
	// Logger receives the server's logs. Default: a logger named "rpc.server"
	// writing to stderr at INFO.
	Logger hclog.Logger
	// HandshakeTimeout is how long a new connection may take to send its
	// protocol byte before it is closed. Default 5s.
	HandshakeTimeout time.Duration
	// AcceptBacklog is how many streams of one multiplexed session may wait to
	// be accepted; further streams are reset. Default 256.
	AcceptBacklog int
	// KeepAliveInterval is how often a multiplexed session is pinged to find
	// a dead peer. Default 30s.
	KeepAliveInterval time.Duration
	// WriteTimeout is how long a write to a multiplexed session may block
	// before the session is judged broken and closed. Default 10s.
	WriteTimeout time.Duration
	// TLS, when set, lets the port accept TLS (ProtoTLS) and decides
	// whether plaintext is refused (tls.go). Default nil: plaintext only.
	TLS ServerTLS
	// MaxStreamsPerConn caps the streams one multiplexed session may have
	// open at once; a stream opened beyond it is closed at once (its call
	// fails, the session goes on). A client agent's connection pool opens
	// one stream per call in flight. Default 1024.
	MaxStreamsPerConn int
	// MaxConnsPerClient caps the TCP connections one source IP may hold
	// open to the server port at once, RPC and Raft alike; a connection
	// beyond it is closed as soon as it is accepted, with a log line.
	// Zero means no cap. Default 100, as Consul's
	// limits.rpc_max_conns_per_client.
	MaxConnsPerClient int
	// MaxRequestSize caps the bytes one RPC request (header and argument)
	// may take on the wire; reading stops there, the call is answered
	// with a too-large error and the connection or stream is closed, so a
	// client cannot make a server decode an unbounded request. Default
	// 64 MiB: above the largest Raft entry (structs.MaxRaftEntrySize),
	// so every request that could be applied fits.
	MaxRequestSize int64
	// SnapshotHandler serves the connections whose first byte is
	// ProtoSnapshot (snapshot.go). When nil they are logged and closed.
	// Default nil.
	SnapshotHandler SnapshotHandler
	// SnapshotIdleTimeout is how long a snapshot stream may go without a
	// read or write making progress. Default DefaultSnapshotIdleTimeout.
	SnapshotIdleTimeout time.Duration
}

// DefaultServerConfig returns a ServerConfig with every default filled in
// except Dispatcher, which the caller must provide.
func DefaultServerConfig() *ServerConfig {
	return &ServerConfig{
		BindAddr:          fmt.Sprintf("127.0.0.1:%d", DefaultPort),
		Logger:            hclog.New(&hclog.LoggerOptions{Name: "rpc.server", Level: hclog.Info}),
		HandshakeTimeout:  5 * time.Second,
		AcceptBacklog:     256,
		KeepAliveInterval: 30 * time.Second,
		WriteTimeout:      10 * time.Second,
		MaxStreamsPerConn: 1024,
		MaxConnsPerClient: 100,
		MaxRequestSize:    64 << 20,

		SnapshotIdleTimeout: DefaultSnapshotIdleTimeout,
	}
}

// validate reports the first unusable setting.
func (c *ServerConfig) validate() error {
	switch {
	case c.Dispatcher == nil:
		return errors.New("rpc server config: Dispatcher is required")
	case c.Listener == nil && c.BindAddr == "":
		return errors.New("rpc server config: one of Listener or BindAddr is required")
	case c.Logger == nil:
		return errors.New("rpc server config: Logger is required")
	case c.HandshakeTimeout <= 0:
		return fmt.Errorf("rpc server config: HandshakeTimeout must be positive, got %s", c.HandshakeTimeout)
	case c.AcceptBacklog <= 0:
		return fmt.Errorf("rpc server config: AcceptBacklog must be positive, got %d", c.AcceptBacklog)
	case c.KeepAliveInterval <= 0:
		return fmt.Errorf("rpc server config: KeepAliveInterval must be positive, got %s", c.KeepAliveInterval)
	case c.WriteTimeout <= 0:
		return fmt.Errorf("rpc server config: WriteTimeout must be positive, got %s", c.WriteTimeout)
	case c.MaxStreamsPerConn <= 0:
		return fmt.Errorf("rpc server config: MaxStreamsPerConn must be positive, got %d", c.MaxStreamsPerConn)
	case c.MaxRequestSize <= 0:
		return fmt.Errorf("rpc server config: MaxRequestSize must be positive, got %d", c.MaxRequestSize)
	case c.SnapshotIdleTimeout <= 0:
		return fmt.Errorf("rpc server config: SnapshotIdleTimeout must be positive, got %s", c.SnapshotIdleTimeout)
	case c.MaxConnsPerClient < 0:
		return fmt.Errorf("rpc server config: MaxConnsPerClient must not be negative, got %d", c.MaxConnsPerClient)
	}
	return nil
}

// yamuxConfig builds the session settings shared by the server and the pool.
func yamuxConfig(logger hclog.Logger, backlog int, keepAlive, writeTimeout time.Duration) *yamux.Config {
	cfg := yamux.DefaultConfig()
	cfg.AcceptBacklog = backlog
	cfg.KeepAliveInterval = keepAlive
	cfg.ConnectionWriteTimeout = writeTimeout
	cfg.LogOutput = nil
	cfg.Logger = logger.Named("yamux").StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true})
	return cfg
}

// Server accepts connections on the server port and dispatches each by its
// first byte: RPC, a yamux session of RPC streams, or Raft.
type Server struct {
	cfg    *ServerConfig
	ln     net.Listener
	logger hclog.Logger
	handle *codec.MsgpackHandle
	mux    *yamux.Config

	mu       sync.Mutex
	conns    map[net.Conn]struct{} // live connections, closed on Shutdown
	perIP    map[string]int        // live connections by source IP
	shutdown bool

	// Refusals and garbage are logged at most once per interval each,
	// with a count of what was not logged, so that a flood of them costs
	// no more than a trickle.
	refusedLog *sampledLog
	streamLog  *sampledLog
	garbageLog *sampledLog

	ctx    context.Context // cancelled on Shutdown
	cancel context.CancelFunc

	wg sync.WaitGroup // accept loop, connection and stream handlers
}

// NewServer validates cfg, listens if cfg.Listener is nil, and starts
// accepting connections.
func NewServer(cfg *ServerConfig) (*Server, error) {
	if cfg == nil {
		return nil, errors.New("rpc server config: nil")
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	ln := cfg.Listener
	if ln == nil {
		var err error
		ln, err = net.Listen("tcp", cfg.BindAddr)
		if err != nil {
			return nil, fmt.Errorf("rpc server listen on %s: %w", cfg.BindAddr, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg:        cfg,
		ln:         ln,
		logger:     cfg.Logger,
		handle:     structs.NewMsgpackHandle(),
		mux:        yamuxConfig(cfg.Logger, cfg.AcceptBacklog, cfg.KeepAliveInterval, cfg.WriteTimeout),
		conns:      make(map[net.Conn]struct{}),
		perIP:      make(map[string]int),
		ctx:        ctx,
		refusedLog: newSampledLog(cfg.Logger, 10*time.Second),
		streamLog:  newSampledLog(cfg.Logger, 10*time.Second),
		garbageLog: newSampledLog(cfg.Logger, 10*time.Second),
		cancel:     cancel,
	}
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Shutdown stops accepting, closes every live connection (including those
// handed to the RaftLayer) and waits for the server's goroutines. A method
// call in progress keeps its goroutine until the method returns, so endpoints
// must return promptly once the server package shuts down. Shutdown is
// idempotent.
func (s *Server) Shutdown() error {
	s.mu.Lock()
	if s.shutdown {
		s.mu.Unlock()
		s.wg.Wait()
		return nil
	}
	s.shutdown = true
	s.cancel()
	conns := make([]net.Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()

	err := s.ln.Close()
	for _, c := range conns {
		_ = c.Close()
	}
	s.wg.Wait()
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("close rpc listener: %w", err)
	}
	return nil
}

// errTooManyConns refuses a connection over MaxConnsPerClient.
var errTooManyConns = errors.New("too many connections from this address")

// track records a live connection. It fails (and the caller must close the
// connection) once the server is shutting down, or when the connection's
// source IP already holds MaxConnsPerClient connections.
func (s *Server) track(c net.Conn) error {
	ip := sourceIP(c)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutdown {
		return net.ErrClosed
	}
	if max := s.cfg.MaxConnsPerClient; max > 0 && s.perIP[ip] >= max {
		return errTooManyConns
	}
	s.conns[c] = struct{}{}
	s.perIP[ip]++
	return nil
}

// untrack forgets a connection that was closed.
func (s *Server) untrack(c net.Conn) {
	ip := sourceIP(c)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.conns[c]; !ok {
		return
	}
	delete(s.conns, c)
	if s.perIP[ip]--; s.perIP[ip] <= 0 {
		delete(s.perIP, ip)
	}
}

// sourceIP is the IP a connection comes from, the key of
// MaxConnsPerClient.
func sourceIP(c net.Conn) string {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.String()
	}
	host, _, err := net.SplitHostPort(c.RemoteAddr().String())
	if err != nil {
		return c.RemoteAddr().String()
	}
	return host
}

// ConnsFrom is how many connections ip holds open now.
func (s *Server) ConnsFrom(ip string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.perIP[ip]
}

// acceptLoop accepts connections until the listener closes.
func (s *Server) acceptLoop() {
	defer s.wg.Done()
	var delay time.Duration
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			select {
			case <-s.ctx.Done():
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Back off on transient errors such as running out of file
			// descriptors, as net/http does.
			if delay == 0 {
				delay = 5 * time.Millisecond
			} else if delay *= 2; delay > time.Second {
				delay = time.Second
			}
			s.logger.Error("failed to accept connection", "error", err, "retry_in", delay)
			select {
			case <-time.After(delay):
			case <-s.ctx.Done():
				return
			}
			continue
		}
		delay = 0
		if err := s.track(conn); err != nil {
			_ = conn.Close()
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.refusedLog.Warn("connection refused: limits.rpc_max_conns_per_client reached",
				"remote", conn.RemoteAddr(), "limit", s.cfg.MaxConnsPerClient)
			continue
		}
		s.wg.Add(1)
		go s.handleConn(conn)
	}
}

// handleConn reads the protocol byte and serves the connection accordingly.
func (s *Server) handleConn(conn net.Conn) {
	defer s.wg.Done()
	handedOff := false
	defer func() {
		if !handedOff {
			_ = conn.Close()
			s.untrack(conn)
		}
	}()

	var buf [1]byte
	if err := conn.SetReadDeadline(time.Now().Add(s.cfg.HandshakeTimeout)); err != nil {
		s.logger.Error("failed to set handshake deadline", "remote", conn.RemoteAddr(), "error", err)
		return
	}
	if _, err := io.ReadFull(conn, buf[:]); err != nil {
		if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
			s.garbageLog.Warn("failed to read protocol byte", "remote", conn.RemoteAddr(), "error", err)
		}
		return
	}
	if err := conn.SetReadDeadline(time.Time{}); err != nil {
		s.logger.Error("failed to clear handshake deadline", "remote", conn.RemoteAddr(), "error", err)
		return
	}

	c, proto, ok := s.acceptTLS(conn, Protocol(buf[0]))
	if !ok {
		return
	}
	switch proto {
	case ProtoRPC:
		s.serveRPC(c)
	case ProtoMultiplex:
		s.serveMultiplex(c)
	case ProtoSnapshot:
		s.serveSnapshot(c)
	case ProtoRaft:
		if s.cfg.RaftLayer == nil {
			s.logger.Warn("raft connection refused: no raft layer", "remote", conn.RemoteAddr())
			return
		}
		tc := &trackedConn{Conn: c, raw: conn, srv: s}
		if err := s.cfg.RaftLayer.Handoff(s.ctx, tc); err != nil {
			s.logger.Debug("raft connection not handed off", "remote", conn.RemoteAddr(), "error", err)
			return
		}
		handedOff = true
	default:
		s.garbageLog.Warn("unknown protocol byte, closing connection", "remote", conn.RemoteAddr(), "byte", fmt.Sprintf("0x%02x", byte(proto)))
	}
}

// serveRPC serves RPC calls on rw until the peer hangs up or the server
// shuts down. The dispatcher runs the calls of one connection concurrently,
// cancels their context when rw ends, and waits for them before returning.
func (s *Server) serveRPC(rw io.ReadWriteCloser) {
	s.cfg.Dispatcher.ServeCodec(s.ctx, newLimitedServerCodec(rw, s.handle, s.cfg.MaxRequestSize))
}

// serveMultiplex runs a yamux server session on conn and serves every
// accepted stream as its own net/rpc connection.
func (s *Server) serveMultiplex(conn net.Conn) {
	sess, err := yamux.Server(newCoalescingConn(conn), s.mux)
	if err != nil {
		s.logger.Error("failed to start multiplexed session", "remote", conn.RemoteAddr(), "error", err)
		return
	}
	defer sess.Close()
	streams := make(chan struct{}, s.cfg.MaxStreamsPerConn)
	for {
		stream, err := sess.AcceptStream()
		if err != nil {
			if !sess.IsClosed() {
				s.logger.Error("failed to accept stream", "remote", conn.RemoteAddr(), "error", err)
			}
			return
		}
		select {
		case streams <- struct{}{}:
		default:
			s.streamLog.Warn("stream refused: the session has MaxStreamsPerConn streams open",
				"remote", conn.RemoteAddr(), "limit", s.cfg.MaxStreamsPerConn)
			_ = stream.Close()
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() { <-streams }()
			s.serveRPC(stream)
		}()
	}
}

// trackedConn is a connection handed to the RaftLayer: the Server still closes
// it on Shutdown, and forgets it once Raft closes it.
type trackedConn struct {
	net.Conn
	// raw is the accepted connection the Server tracks; Conn is the TLS
	// session on it, or raw itself.
	raw  net.Conn
	srv  *Server
	once sync.Once
}

// Close closes the connection and forgets it.
func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.srv.untrack(c.raw) })
	return err
}
