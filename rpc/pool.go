package rpc

import (
	"context"
	"errors"
	"fmt"
	"net"
	netrpc "net/rpc"
	"os"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/hashicorp/yamux"

	"github.com/meridian-sd/meridian/structs"
)

// ErrPoolShutdown is the cause of a call made on a pool that was shut down.
var ErrPoolShutdown = errors.New("connection pool is shut down")

// ConnPoolConfig configures a ConnPool.
type ConnPoolConfig struct {
	// Logger receives the pool's logs. Default: a logger named "rpc.pool"
	// writing to stderr at INFO.
	Logger hclog.Logger
	// Dial opens connections to servers. Default: a plain TCP dialer. Tests
	// put a FaultDialer here.
	Dial DialFunc
	// DialTimeout caps dialing a server and writing the protocol byte.
	// Default 10s.
	DialTimeout time.Duration
	// RPCTimeout caps a call that is not a blocking query and whose context
	// has no deadline, from the start of the call to its reply. Default 60s.
	RPCTimeout time.Duration
	// BlockingQueryMargin is added to the wait of a blocking query (a call
	// whose args embed structs.QueryOptions with MinQueryIndex > 0) to make
	// its timeout: the wait (its MaxQueryTime, or DefaultQueryTime when
	// zero, capped at MaxQueryTime, as the server clamps it) plus the
	// server's jitter (wait / structs.JitterFraction) plus this margin.
	// Default 60s, like Consul's.
	BlockingQueryMargin time.Duration
	// DefaultQueryTime is the wait a server gives a blocking query that
	// names none: the agent's default_query_time. Default
	// structs.DefaultQueryTime (5m).
	DefaultQueryTime time.Duration
	// MaxQueryTime caps the wait a server gives a blocking query: the
	// agent's max_query_time. Default structs.MaxQueryTime (10m).
	MaxQueryTime time.Duration
	// MaxIdleTime is how long a session to a server may go unused before the
	// reaper closes it. Default 2m.
	MaxIdleTime time.Duration
	// ReapInterval is how often the reaper looks for idle sessions.
	// Default 30s.
	ReapInterval time.Duration
	// LocalDatacenter, when set, keeps the sessions to servers of other
	// datacenters open however long they stay idle (their idle streams are
	// still closed after MaxIdleTime): a WAN dial costs a TCP and maybe a
	// TLS handshake over the WAN's round trip, which the first forwarded
	// request after a quiet spell would pay. Keepalive pings
	// (KeepAliveInterval) close such a session when its server is gone.
	// Default empty: every idle session is closed.
	LocalDatacenter string
	// MaxStreams caps the calls in flight on one server's session; further
	// calls wait for a free stream within their timeout. Default 1024.
	MaxStreams int
	// MaxIdleStreams caps the streams of one server's session that the
	// pool keeps open between calls, each with its codec, so that the next
	// call skips opening and closing a stream (three yamux frames each way
	// and the codec's buffers). Zero opens a stream per call. A stream idle
	// for MaxIdleTime is closed by the reaper. Default 64.
	MaxIdleStreams int
	// KeepAliveInterval is how often a session is pinged to find a dead
	// server. Default 30s.
	KeepAliveInterval time.Duration
	// WriteTimeout is how long a write to a session may block before the
	// session is judged broken and closed. Default 10s.
	WriteTimeout time.Duration
	// StreamCloseTimeout is how long a stream the pool closed (after its
	// answer, or when its caller gave up) waits for the server to close
	// its side before the pool resets it and forgets it. A server closes
	// at once after an answer, and when its caller hangs up ends a
	// blocking query and closes too; this bounds what a server that does
	// neither costs the pool. Default 10s.
	StreamCloseTimeout time.Duration
	// TLS, when set and asking for it, makes every dial TLS, checking the
	// server as one of the datacenter the call is for (tls.go). Default
	// nil: plaintext.
	TLS ClientTLS
}

// DefaultConnPoolConfig returns a ConnPoolConfig with every default filled in.
func DefaultConnPoolConfig() *ConnPoolConfig {
	return &ConnPoolConfig{
		Logger:              hclog.New(&hclog.LoggerOptions{Name: "rpc.pool", Level: hclog.Info}),
		Dial:                defaultDial,
		DialTimeout:         10 * time.Second,
		RPCTimeout:          60 * time.Second,
		BlockingQueryMargin: 60 * time.Second,
		DefaultQueryTime:    structs.DefaultQueryTime,
		MaxQueryTime:        structs.MaxQueryTime,
		MaxIdleTime:         2 * time.Minute,
		ReapInterval:        30 * time.Second,
		MaxStreams:          1024,
		MaxIdleStreams:      64,
		KeepAliveInterval:   30 * time.Second,
		WriteTimeout:        10 * time.Second,
		StreamCloseTimeout:  10 * time.Second,
	}
}

// validate reports the first unusable setting.
func (c *ConnPoolConfig) validate() error {
	positive := []struct {
		name string
		d    time.Duration
	}{
		{"DialTimeout", c.DialTimeout},
		{"RPCTimeout", c.RPCTimeout},
		{"MaxIdleTime", c.MaxIdleTime},
		{"ReapInterval", c.ReapInterval},
		{"KeepAliveInterval", c.KeepAliveInterval},
		{"WriteTimeout", c.WriteTimeout},
		{"StreamCloseTimeout", c.StreamCloseTimeout},
		{"DefaultQueryTime", c.DefaultQueryTime},
		{"MaxQueryTime", c.MaxQueryTime},
	}
	for _, p := range positive {
		if p.d <= 0 {
			return fmt.Errorf("rpc pool config: %s must be positive, got %s", p.name, p.d)
		}
	}
	switch {
	case c.Logger == nil:
		return errors.New("rpc pool config: Logger is required")
	case c.Dial == nil:
		return errors.New("rpc pool config: Dial is required")
	case c.BlockingQueryMargin < 0:
		return fmt.Errorf("rpc pool config: BlockingQueryMargin must not be negative, got %s", c.BlockingQueryMargin)
	case c.MaxStreams <= 0:
		return fmt.Errorf("rpc pool config: MaxStreams must be positive, got %d", c.MaxStreams)
	case c.MaxIdleStreams < 0:
		return fmt.Errorf("rpc pool config: MaxIdleStreams must not be negative, got %d", c.MaxIdleStreams)
	}
	return nil
}

// ConnPool makes RPC calls to servers. It keeps one yamux session
// (ProtoMultiplex) per server address and runs each call on a stream of its
// own, so any number of goroutines may call at once. A stream whose call
// ended cleanly (an answer read whole, nothing abandoned) goes back to the
// session's idle list with its codec, up to MaxIdleStreams, for the next
// call; any other stream is closed. A session that breaks is dropped and the
// next call redials; a session or idle stream left unused for MaxIdleTime is
// closed by the pool's reaper.
type ConnPool struct {
	cfg    *ConnPoolConfig
	logger hclog.Logger
	handle *codec.MsgpackHandle
	mux    *yamux.Config

	ctx    context.Context // cancelled on Shutdown: stops dials and the reaper
	cancel context.CancelFunc

	mu       sync.Mutex
	sessions map[string]*poolSession // by address
	shutdown bool

	// inFlight counts the calls holding a stream slot (see InFlight).
	inFlight atomic.Int64
	// seq numbers requests, so an answer is matched to its request.
	seq atomic.Uint64

	wg sync.WaitGroup // reaper and dialers
}

// poolSession is one server's session, or the dial that will produce it.
type poolSession struct {
	addr  string
	dc    string         // the server's datacenter, for TLS
	ready chan struct{}  // closed once the dial finished
	sess  *yamux.Session // set before ready is closed; nil if the dial failed
	err   error          // the dial's failure, set before ready is closed
	sem   chan struct{}  // a token per call in flight, MaxStreams at most

	// Guarded by ConnPool.mu.
	refs     int       // calls holding the session
	lastUsed time.Time // when the last call released it

	idleMu sync.Mutex
	idle   []*pooledStream // open streams between calls, the most recent last
}

// pooledStream is a stream with its codec, kept open between calls.
type pooledStream struct {
	stream   *yamux.Stream
	codec    *msgpackCodec
	lastUsed time.Time // when its last call ended; set while idle

	// req and resp are the headers of the stream's call, kept with it
	// since it carries one call at a time.
	req  netrpc.Request
	resp netrpc.Response
}

// close closes the stream.
func (st *pooledStream) close() { _ = st.codec.Close() }

// closedByServer reports whether the server closed or reset st while it
// was idle (or sent something unasked): a read that must not wait, which
// answers at once from the stream's state without touching the network.
func (st *pooledStream) closedByServer() bool {
	_ = st.stream.SetReadDeadline(time.Unix(1, 0))
	var b [1]byte
	n, err := st.stream.Read(b[:])
	_ = st.stream.SetReadDeadline(time.Time{})
	return n > 0 || !errors.Is(err, yamux.ErrTimeout)
}

// takeIdle returns the most recently used idle stream, or nil.
func (ps *poolSession) takeIdle() *pooledStream {
	ps.idleMu.Lock()
	defer ps.idleMu.Unlock()
	n := len(ps.idle)
	if n == 0 {
		return nil
	}
	st := ps.idle[n-1]
	ps.idle[n-1] = nil
	ps.idle = ps.idle[:n-1]
	return st
}

// putIdle keeps st for the next call, or closes it when max are idle.
func (ps *poolSession) putIdle(st *pooledStream, max int, now time.Time) {
	ps.idleMu.Lock()
	if len(ps.idle) < max {
		st.lastUsed = now
		ps.idle = append(ps.idle, st)
		st = nil
	}
	ps.idleMu.Unlock()
	if st != nil {
		st.close()
	}
}

// reapIdle closes the idle streams last used before cutoff.
func (ps *poolSession) reapIdle(cutoff time.Time) {
	ps.idleMu.Lock()
	// The least recently used come first.
	n := 0
	for n < len(ps.idle) && ps.idle[n].lastUsed.Before(cutoff) {
		n++
	}
	old := append([]*pooledStream(nil), ps.idle[:n]...)
	ps.idle = append(ps.idle[:0], ps.idle[n:]...)
	ps.idleMu.Unlock()
	for _, st := range old {
		st.close()
	}
}

// numIdle is the number of idle streams.
func (ps *poolSession) numIdle() int {
	ps.idleMu.Lock()
	defer ps.idleMu.Unlock()
	return len(ps.idle)
}

// NewConnPool validates cfg and starts the pool's reaper.
func NewConnPool(cfg *ConnPoolConfig) (*ConnPool, error) {
	if cfg == nil {
		return nil, errors.New("rpc pool config: nil")
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	mux := yamuxConfig(cfg.Logger, cfg.MaxStreams, cfg.KeepAliveInterval, cfg.WriteTimeout)
	mux.StreamCloseTimeout = cfg.StreamCloseTimeout
	p := &ConnPool{
		cfg:    cfg,
		logger: cfg.Logger,
		handle: structs.NewMsgpackHandle(),
		// The client never accepts streams; the backlog sizes the window of
		// unacknowledged stream opens, which MaxStreams already bounds.
		mux:      mux,
		ctx:      ctx,
		cancel:   cancel,
		sessions: make(map[string]*poolSession),
	}
	p.wg.Add(1)
	go p.reapLoop()
	return p, nil
}

// Shutdown closes every session, which fails the calls in flight, stops the
// reaper and waits for the pool's goroutines. Later calls fail with
// ErrPoolShutdown. Shutdown is idempotent.
func (p *ConnPool) Shutdown() error {
	p.mu.Lock()
	if p.shutdown {
		p.mu.Unlock()
		p.wg.Wait()
		return nil
	}
	p.shutdown = true
	sessions := p.sessions
	p.sessions = nil
	p.mu.Unlock()

	p.cancel()
	for _, ps := range sessions {
		select {
		case <-ps.ready:
			if ps.sess != nil {
				_ = ps.sess.Close()
			}
		default:
			// Still dialing: the dialer sees the shutdown and closes it.
		}
	}
	p.wg.Wait()
	return nil
}

// NumSessions is the number of server sessions open or being dialed.
func (p *ConnPool) NumSessions() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.sessions)
}

// InFlight is the number of calls in flight: those holding a stream slot
// (at most MaxStreams per server). A call whose caller gives up leaves it
// at once.
func (p *ConnPool) InFlight() int64 { return p.inFlight.Load() }

// NumStreams is the number of streams open on the pool's sessions,
// counting the idle ones kept for the next calls (see NumIdleStreams) and
// those the pool closed and whose server has not closed its side yet (each
// for StreamCloseTimeout at most).
func (p *ConnPool) NumStreams() int {
	p.mu.Lock()
	var sessions []*yamux.Session
	for _, ps := range p.sessions {
		select {
		case <-ps.ready:
			if ps.sess != nil {
				sessions = append(sessions, ps.sess)
			}
		default:
		}
	}
	p.mu.Unlock()
	n := 0
	for _, s := range sessions {
		n += s.NumStreams()
	}
	return n
}

// NumIdleStreams is the number of open streams kept for the next calls.
func (p *ConnPool) NumIdleStreams() int {
	p.mu.Lock()
	var sessions []*poolSession
	for _, ps := range p.sessions {
		sessions = append(sessions, ps)
	}
	p.mu.Unlock()
	n := 0
	for _, ps := range sessions {
		n += ps.numIdle()
	}
	return n
}

// Ping calls StatusPingMethod on the server at addr.
func (p *ConnPool) Ping(ctx context.Context, dc string, addr net.Addr) error {
	var reply struct{}
	return p.RPC(ctx, dc, addr, StatusPingMethod, struct{}{}, &reply)
}

// RPC calls method on the server at addr of datacenter dc (dc only labels
// logs) with args, decoding the answer into reply.
//
// The call's deadline is ctx's when ctx has one; otherwise it is RPCTimeout
// from now, or for a blocking query its wait plus jitter plus
// BlockingQueryMargin. Cancelling ctx abandons the call at once.
//
// An error returned by the remote method comes back with its text unchanged,
// contract texts mapped to their structs sentinels (see MapRemoteError).
// Every other failure is a *CallError naming the method and address.
func (p *ConnPool) RPC(ctx context.Context, dc string, addr net.Addr, method string, args, reply any) error {
	if addr == nil {
		return &CallError{Method: method, Addr: "<nil>", Err: errors.New("no server address")}
	}
	target := addr.String()
	callErr := func(sent bool, err error) error {
		p.logger.Debug("rpc call failed", "method", method, "server", target, "dc", dc, "sent", sent, "error", err)
		return &CallError{Method: method, Addr: target, Sent: sent, Err: err}
	}

	callCtx := ctx
	timeout := time.Duration(0)
	if _, ok := ctx.Deadline(); !ok {
		timeout = p.callTimeout(args)
		var cancel context.CancelFunc
		callCtx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	deadline, _ := callCtx.Deadline()
	// cause explains a failure that happened after callCtx ended. The
	// stream's deadline timer may fire a moment before the context's, so the
	// clock is asked too.
	cause := func(err error) error {
		expired := !time.Now().Before(deadline)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case timeout == 0 && expired:
			return context.DeadlineExceeded
		case callCtx.Err() != nil || expired:
			return fmt.Errorf("timed out after %s: %w", timeout, os.ErrDeadlineExceeded)
		}
		return err
	}

	// A session that turns out to be closed when a stream is opened on it is
	// replaced once: nothing was sent yet. A call on a kept stream that
	// broke (its server restarted or closed the session while it was idle)
	// is tried once more on a new stream when that is safe: nothing was
	// sent, or it is a read.
	for attempt := 0; ; attempt++ {
		ps, err := p.acquire(callCtx, dc, target)
		if err != nil {
			return callErr(false, cause(err))
		}
		// acquire's selects may pick a ready session or a free slot over
		// a context that has already ended: nothing is sent then.
		if err := callCtx.Err(); err != nil {
			p.release(ps)
			return callErr(false, cause(err))
		}
		st := ps.takeIdle()
		for st != nil && st.closedByServer() {
			st.close()
			st = ps.takeIdle()
		}
		reused := st != nil
		if st == nil {
			stream, err := ps.sess.OpenStream()
			if err != nil {
				p.release(ps)
				p.drop(ps)
				if attempt == 0 && callCtx.Err() == nil {
					continue
				}
				return callErr(false, cause(fmt.Errorf("open stream: %w", err)))
			}
			st = &pooledStream{stream: stream, codec: newCodec(stream, p.handle)}
		}
		sent, reusable, err := p.call(callCtx, st, method, args, reply)
		if reusable && p.cfg.MaxIdleStreams > 0 {
			ps.putIdle(st, p.cfg.MaxIdleStreams, time.Now())
		} else {
			st.close()
		}
		p.release(ps)
		if err == nil {
			return nil
		}
		var se netrpc.ServerError
		if errors.As(err, &se) {
			if IsTLSRequired(err) {
				// The server closes a plaintext session it refused.
				p.drop(ps)
			}
			return MapRemoteError(err)
		}
		if ps.sess.IsClosed() {
			p.drop(ps)
		}
		if reused && attempt == 0 && callCtx.Err() == nil && !isTimeoutOrCancel(err) && (!sent || isRead(args)) {
			p.logger.Debug("rpc call on a kept stream failed, retrying on a new stream", "method", method, "server", target, "error", err)
			continue
		}
		return callErr(sent, cause(err))
	}
}

// isRead reports whether args are those of a read, which may be sent twice.
func isRead(args any) bool {
	info, ok := args.(structs.RPCInfo)
	return ok && info.IsRead()
}

// call runs one request and response on st, unblocking it when callCtx
// ends. It reports whether any of the request may have been sent, and
// whether the stream is fit for another call: the answer was read whole
// and matched the request, and callCtx did not end meanwhile.
//
// callCtx's end, its deadline included, is the only timer: the stream gets
// no deadline of its own, since yamux starts a timer for every read and
// write that waits while one is set.
func (p *ConnPool) call(callCtx context.Context, st *pooledStream, method string, args, reply any) (sent, reusable bool, err error) {
	stop := context.AfterFunc(callCtx, func() {
		// A deadline in the past wakes a blocked read or write at once.
		_ = st.stream.SetDeadline(time.Unix(1, 0))
	})
	sent, inStep, err := p.exchange(st, method, args, reply)
	if !stop() {
		// The deadline was (or is being) moved to the past: the stream
		// cannot carry another call.
		return sent, false, err
	}
	return sent, inStep, err
}

// exchange writes one request and reads its answer. sent is false only
// when writing failed before anything could reach the server; inStep
// reports whether the codec is at the start of the next answer.
func (p *ConnPool) exchange(st *pooledStream, method string, args, reply any) (sent, inStep bool, err error) {
	c := st.codec
	req := &st.req
	*req = netrpc.Request{ServiceMethod: method, Seq: p.seq.Add(1)}
	if err := c.WriteRequest(req, args); err != nil {
		// The codec encodes into its buffer and flushes once: a stream
		// that refuses the flush (closed, reset) took nothing.
		return !isStreamClosed(err), false, err
	}
	resp := &st.resp
	*resp = netrpc.Response{}
	if err := c.ReadResponseHeader(resp); err != nil {
		return true, false, err
	}
	if resp.Seq != req.Seq {
		return true, false, fmt.Errorf("answer for request %d arrived for request %d", resp.Seq, req.Seq)
	}
	if resp.Error != "" {
		// A stream that carried an error is not kept: the server hangs up
		// after some errors (a request over its size limit, one it could
		// not decode), and its close may reach us only after the stream
		// was handed to the next call, which would then fail with EOF.
		// Errors are rare, so opening a new stream after one costs little.
		_ = c.ReadResponseBody(nil)
		return true, false, netrpc.ServerError(resp.Error)
	}
	if err := c.ReadResponseBody(reply); err != nil {
		return true, false, err
	}
	return true, true, nil
}

// isStreamClosed reports whether err is a write refused by a stream or
// session that was already closed, before any byte left.
func isStreamClosed(err error) bool {
	return errors.Is(err, yamux.ErrStreamClosed) || errors.Is(err, yamux.ErrSessionShutdown) ||
		errors.Is(err, yamux.ErrConnectionReset)
}

// callTimeout is the timeout of a call with args and no deadline of its own.
func (p *ConnPool) callTimeout(args any) time.Duration {
	if wait, ok := blockingWait(args, p.cfg.DefaultQueryTime, p.cfg.MaxQueryTime); ok {
		return wait + wait/structs.JitterFraction + p.cfg.BlockingQueryMargin
	}
	return p.cfg.RPCTimeout
}

// blockingWait reports whether args is a blocking query, a struct embedding
// structs.QueryOptions with MinQueryIndex > 0, and how long the server may
// hold it: its MaxQueryTime, def when zero, capped at max, as the server
// clamps it.
func blockingWait(args any, def, max time.Duration) (time.Duration, bool) {
	v := reflect.ValueOf(args)
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return 0, false
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return 0, false
	}
	qoType := reflect.TypeFor[structs.QueryOptions]()
	var q structs.QueryOptions
	if v.Type() == qoType {
		q = v.Interface().(structs.QueryOptions)
	} else {
		f, ok := v.Type().FieldByName("QueryOptions")
		if !ok || (f.Type != qoType && f.Type != reflect.PointerTo(qoType)) {
			return 0, false
		}
		fv, err := v.FieldByIndexErr(f.Index)
		if err != nil {
			return 0, false
		}
		if fv.Kind() == reflect.Pointer {
			if fv.IsNil() {
				return 0, false
			}
			fv = fv.Elem()
		}
		q = fv.Interface().(structs.QueryOptions)
	}
	if q.MinQueryIndex == 0 {
		return 0, false
	}
	wait := q.MaxQueryTime
	if wait <= 0 {
		wait = def
	}
	if wait > max {
		wait = max
	}
	return wait, true
}

// acquire returns the session to addr, dialing it if there is none, and a
// stream slot on it; release gives both back.
func (p *ConnPool) acquire(ctx context.Context, dc, addr string) (*poolSession, error) {
	for attempt := 0; ; attempt++ {
		p.mu.Lock()
		if p.shutdown {
			p.mu.Unlock()
			return nil, ErrPoolShutdown
		}
		ps := p.sessions[addr]
		if ps == nil {
			ps = &poolSession{
				addr:  addr,
				dc:    dc,
				ready: make(chan struct{}),
				sem:   make(chan struct{}, p.cfg.MaxStreams),
			}
			p.sessions[addr] = ps
			p.wg.Add(1)
			go p.dial(ps)
		}
		ps.refs++
		p.mu.Unlock()

		select {
		case <-ps.ready:
		case <-ctx.Done():
			p.unref(ps)
			return nil, ctx.Err()
		}
		if ps.err != nil {
			p.unref(ps)
			return nil, ps.err
		}
		if ps.sess.IsClosed() {
			p.unref(ps)
			p.drop(ps)
			if attempt == 0 {
				continue
			}
			return nil, fmt.Errorf("session to %s: %w", addr, yamux.ErrSessionShutdown)
		}
		select {
		case ps.sem <- struct{}{}:
			p.inFlight.Add(1)
			return ps, nil
		case <-ctx.Done():
			p.unref(ps)
			return nil, fmt.Errorf("wait for a free stream: %w", ctx.Err())
		}
	}
}

// release gives back a stream slot and the reference taken by acquire.
func (p *ConnPool) release(ps *poolSession) {
	p.inFlight.Add(-1)
	<-ps.sem
	p.unref(ps)
}

// unref drops a reference and notes the time for the reaper.
func (p *ConnPool) unref(ps *poolSession) {
	p.mu.Lock()
	ps.refs--
	ps.lastUsed = time.Now()
	p.mu.Unlock()
}

// drop forgets a broken session, so the next call redials, and closes it.
func (p *ConnPool) drop(ps *poolSession) {
	p.mu.Lock()
	if p.sessions[ps.addr] == ps {
		delete(p.sessions, ps.addr)
	}
	p.mu.Unlock()
	if ps.sess != nil {
		_ = ps.sess.Close()
	}
}

// dial connects ps to its server, announces ProtoMultiplex and starts the
// yamux client session. A failed dial is forgotten at once, so the next call
// dials again; the calls waiting on it share its error.
func (p *ConnPool) dial(ps *poolSession) {
	defer p.wg.Done()
	sess, err := p.connect(ps.dc, ps.addr)

	p.mu.Lock()
	shutdown := p.shutdown
	switch {
	case err != nil:
		ps.err = err
		if p.sessions[ps.addr] == ps {
			delete(p.sessions, ps.addr)
		}
	case shutdown:
		ps.err = ErrPoolShutdown
	default:
		ps.sess = sess
		ps.lastUsed = time.Now()
	}
	close(ps.ready)
	p.mu.Unlock()

	if err == nil && shutdown {
		_ = sess.Close()
	}
}

// connect dials addr, a server of datacenter dc, within DialTimeout
// (TLS included) and returns a client session on it.
func (p *ConnPool) connect(dc, addr string) (*yamux.Session, error) {
	ctx, cancel := context.WithTimeout(p.ctx, p.cfg.DialTimeout)
	defer cancel()
	conn, err := p.cfg.Dial(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	if conn, err = dialTLS(ctx, p.cfg.TLS, dc, conn, p.cfg.DialTimeout); err != nil {
		return nil, err
	}
	if err := writeProtoByte(conn, ProtoMultiplex, p.cfg.DialTimeout); err != nil {
		_ = conn.Close()
		return nil, err
	}
	sess, err := yamux.Client(newCoalescingConn(conn), p.mux)
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("start session: %w", err)
	}
	return sess, nil
}

// reapLoop closes idle sessions every ReapInterval until Shutdown.
func (p *ConnPool) reapLoop() {
	defer p.wg.Done()
	ticker := time.NewTicker(p.cfg.ReapInterval)
	defer ticker.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return
		case now := <-ticker.C:
			p.reap(now)
		}
	}
}

// reap closes the sessions that no call holds and that were last used more
// than MaxIdleTime before now, or that are already closed, and the idle
// streams of the others last used more than MaxIdleTime before now.
func (p *ConnPool) reap(now time.Time) {
	var idle, kept []*poolSession
	p.mu.Lock()
	for addr, ps := range p.sessions {
		select {
		case <-ps.ready:
		default:
			continue
		}
		if ps.sess == nil {
			continue
		}
		warm := p.cfg.LocalDatacenter != "" && ps.dc != "" && ps.dc != p.cfg.LocalDatacenter
		if ps.refs == 0 && (ps.sess.IsClosed() || (!warm && now.Sub(ps.lastUsed) > p.cfg.MaxIdleTime)) {
			delete(p.sessions, addr)
			idle = append(idle, ps)
			continue
		}
		kept = append(kept, ps)
	}
	p.mu.Unlock()
	for _, ps := range idle {
		p.logger.Debug("closing idle session", "server", ps.addr)
		_ = ps.sess.Close()
	}
	for _, ps := range kept {
		ps.reapIdle(now.Add(-p.cfg.MaxIdleTime))
	}
}

// isTimeoutOrCancel reports whether err says the call ran out of time or its
// caller gave up.
func isTimeoutOrCancel(err error) bool {
	return errors.Is(err, context.Canceled) ||
		errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, os.ErrDeadlineExceeded)
}
