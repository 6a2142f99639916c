package agent

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/meridian-sd/meridian/structs"
)

// HTTP listener limits: what one client can make the agent hold.
//
//   - Headers: at most 64 KiB, request line included (more is 431), read
//     within 10 s (a slowloris is cut off then).
//   - Bodies: every body is read by wrap, before the endpoint runs, through
//     one cap per route: limits.kv_max_value_size for /v1/kv,
//     limits.txn_max_req_len (or kv_max_value_size when larger) for
//     /v1/txn, 64 KiB for /v1/session/create, and 1 MiB for every other
//     endpoint. A body
//     over its cap is 413 with a sentence naming the limit, and the
//     connection is closed after it; the rest of a refused body of at
//     most drainLimit (8 MiB) is read and dropped first, so a client that
//     writes before it reads gets the answer, and a larger one is read no
//     further. The body must arrive within
//     30 s, or the answer is 408.
//   - Idle keep-alive connections are closed after 60 s.
//   - There is no write timeout: a blocking query may hold its request for
//     up to max_query_time plus jitter.
//   - Connections: at most limits.http_max_conns_per_client (default 200,
//     0 for no limit) open at once from one source IP; one more is answered
//     429 Too Many Requests and closed at once, as Consul does.

// HTTPLimits are the HTTP listener's fixed limits. Tests shrink them
// through Options.HTTPLimits.
type HTTPLimits struct {
	// MaxBody caps the body of an endpoint without a limit of its own, in
	// bytes. A catalog registration with hundreds of checks, each with
	// 4 KiB of output, fits with room to spare. Default 1 MiB.
	MaxBody int64
	// MaxHeaderBytes caps the request line and headers. Default 64 KiB.
	MaxHeaderBytes int
	// ReadHeaderTimeout bounds the reading of the request line and
	// headers. Default 10s.
	ReadHeaderTimeout time.Duration
	// BodyReadTimeout bounds the reading of a request body. Default 30s.
	BodyReadTimeout time.Duration
	// IdleTimeout closes keep-alive connections that carry no request.
	// Default 60s.
	IdleTimeout time.Duration
	// MaxSnapshotSize caps a snapshot archive sent to PUT /v1/snapshot,
	// in bytes; it is spooled to a file, never held in memory. Default
	// structs.DefaultMaxSnapshotSize (1 GiB).
	MaxSnapshotSize int64
	// SnapshotReadTimeout bounds the reading of a snapshot archive sent
	// to PUT /v1/snapshot. Default 10m.
	SnapshotReadTimeout time.Duration
}

// DefaultHTTPLimits returns the limits an agent runs with.
func DefaultHTTPLimits() HTTPLimits {
	return HTTPLimits{
		MaxBody:           1 << 20,
		MaxHeaderBytes:    64 << 10,
		ReadHeaderTimeout: 10 * time.Second,
		BodyReadTimeout:   30 * time.Second,
		IdleTimeout:       60 * time.Second,

		MaxSnapshotSize:     structs.DefaultMaxSnapshotSize,
		SnapshotReadTimeout: 10 * time.Minute,
	}
}

// refuseWriteTimeout bounds the write of the 429 to a refused connection:
// a client that does not read it does not hold the accept loop.
const refuseWriteTimeout = 10 * time.Millisecond

// bodyLimit is the cap of one route's request bodies.
type bodyLimit struct {
	// bytes is the largest body accepted.
	bytes int64
	// key names the configuration key that sets it, if any.
	key string
	// what names the body in the 413 sentence; default "Request body".
	what string
	// stream leaves the body unread: the endpoint reads it itself, within
	// bytes (PUT /v1/snapshot spools it to a file).
	stream bool
}

// bodyLimitFunc returns a route's current cap (from the configuration,
// which a reload may change).
type bodyLimitFunc func() bodyLimit

// defaultBodyLimit is the cap of routes without one of their own.
func (a *Agent) defaultBodyLimit() bodyLimit { return bodyLimit{bytes: a.httpLimits.MaxBody} }

// kvBodyLimit caps PUT /v1/kv bodies: the value.
func (a *Agent) kvBodyLimit() bodyLimit {
	return bodyLimit{bytes: int64(a.cfg().KVMaxValueSize), key: "limits.kv_max_value_size", what: "Value"}
}

// sessionBodyLimit caps PUT /v1/session/create bodies.
func sessionBodyLimit() bodyLimit { return bodyLimit{bytes: maxSessionBodySize} }

// txnBodyLimit caps /v1/txn bodies.
func (a *Agent) txnBodyLimit() bodyLimit {
	lim := a.txnLimits()
	key := "limits.txn_max_req_len"
	if lim.maxTxn > a.cfg().TxnMaxReqLen {
		key = "limits.kv_max_value_size"
	}
	return bodyLimit{bytes: int64(lim.maxTxn), key: key}
}

// errBodyTooLarge is the 413 answer for a body over lim.
func errBodyTooLarge(lim bodyLimit) error {
	what, by := lim.what, ""
	if what == "" {
		what = "Request body"
	}
	if lim.key != "" {
		by = " (" + lim.key + ")"
	}
	return HTTPError{Code: http.StatusRequestEntityTooLarge,
		Reason: fmt.Sprintf("%s is too large: the limit is %d bytes%s", what, lim.bytes, by)}
}

// drainLimit bounds how much of a refused body the agent reads (and
// discards, holding none of it) before it answers, so that an ordinary
// client that sends a value somewhat over a limit reads the 413 instead of
// a reset connection.
const drainLimit = 8 << 20

// readBody reads the request body whole, within lim and timeout,
// and puts it back as an in-memory body for the endpoint. The read
// deadline is lifted afterwards: net/http cancels a request's context when
// a read of its connection fails, and a blocking query must keep its
// context for its whole wait.
func readBody(resp http.ResponseWriter, req *http.Request, lim bodyLimit, timeout time.Duration) error {
	if req.Body == nil || req.Body == http.NoBody || lim.stream {
		return nil
	}
	rc := http.NewResponseController(resp)
	body := req.Body
	// A refused body is read no further than drainLimit, thrown away as it
	// arrives and within the body timeout, so that a client still sending
	// it gets the answer rather than a connection reset; past that, the
	// read deadline is set in the past, the server's own attempt to drain
	// the rest fails at once, and the connection is closed after the
	// answer, however slowly or long the client sends. (Recorders in
	// tests do not support deadlines; connections do.)
	refuse := func(err error, drain bool) error {
		resp.Header().Set("Connection", "close")
		if drain {
			_ = rc.SetReadDeadline(time.Now().Add(timeout))
			_, _ = io.Copy(io.Discard, io.LimitReader(body, drainLimit))
		}
		_ = rc.SetReadDeadline(time.Unix(1, 0))
		return err
	}
	if req.ContentLength > lim.bytes {
		return refuse(errBodyTooLarge(lim), req.ContentLength <= drainLimit)
	}
	_ = rc.SetReadDeadline(time.Now().Add(timeout))
	var buf bytes.Buffer
	if req.ContentLength > 0 {
		buf.Grow(int(req.ContentLength))
	}
	if _, err := buf.ReadFrom(http.MaxBytesReader(resp, req.Body, lim.bytes)); err != nil {
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			return refuse(errBodyTooLarge(lim), true)
		case errors.Is(err, os.ErrDeadlineExceeded):
			return refuse(HTTPError{Code: http.StatusRequestTimeout,
				Reason: fmt.Sprintf("Request body not received within %s", timeout)}, false)
		}
		return refuse(badRequest("Cannot read the request body: %v", err), false)
	}
	_ = rc.SetReadDeadline(time.Time{})
	req.Body = io.NopCloser(bytes.NewReader(buf.Bytes()))
	req.ContentLength = int64(buf.Len())
	return nil
}

// connLimiter counts the open HTTP connections of each source IP and
// refuses those over the limit (limits.http_max_conns_per_client).
type connLimiter struct {
	logger hclog.Logger
	// max is the limit per source IP; 0 means none. A reload sets it;
	// connections already open stay.
	max atomic.Int64
	// refused counts connections refused since start.
	refused atomic.Uint64
	// lastWarn is when a refusal was last logged (unix nanoseconds): an
	// attack is logged every refuseLogEvery, not for every connection.
	lastWarn atomic.Int64

	mu   sync.Mutex
	open map[netip.Addr]int
}

// refuseLogEvery spaces the warnings about refused connections.
const refuseLogEvery = 10 * time.Second

func newConnLimiter(logger hclog.Logger, max int) *connLimiter {
	l := &connLimiter{logger: logger, open: make(map[netip.Addr]int)}
	l.max.Store(int64(max))
	return l
}

// setMax changes the limit (on reload).
func (l *connLimiter) setMax(max int) { l.max.Store(int64(max)) }

// acquire counts a connection from ip, or reports that ip is at its limit.
func (l *connLimiter) acquire(ip netip.Addr) bool {
	max := l.max.Load()
	l.mu.Lock()
	defer l.mu.Unlock()
	if max > 0 && int64(l.open[ip]) >= max {
		return false
	}
	l.open[ip]++
	return true
}

// release uncounts a connection from ip.
func (l *connLimiter) release(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[ip]--; l.open[ip] <= 0 {
		delete(l.open, ip)
	}
}

// numOpen is the number of connections open from ip.
func (l *connLimiter) numOpen(ip netip.Addr) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open[ip]
}

// listen wraps ln so that its connections are counted and limited.
func (l *connLimiter) listen(ln net.Listener) net.Listener {
	return &limitListener{Listener: ln, l: l}
}

// refuse answers 429 on a connection over the limit and closes it.
func (l *connLimiter) refuse(c net.Conn, ip netip.Addr) {
	from := ip.String()
	if !ip.IsValid() {
		// Unix socket clients have no address: they count as one client.
		from = "the unix socket's clients"
	}
	l.refused.Add(1)
	max := l.max.Load()
	now := time.Now().UnixNano()
	if last := l.lastWarn.Load(); now-last >= int64(refuseLogEvery) && l.lastWarn.CompareAndSwap(last, now) {
		l.logger.Warn("http connection refused: too many from one client",
			"client", from, "limit", max, "refused_total", l.refused.Load())
	}
	msg := fmt.Sprintf("Too many concurrent connections from %s: the limit is %d (limits.http_max_conns_per_client)\n", from, max)
	resp := fmt.Sprintf("HTTP/1.1 429 Too Many Requests\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(msg), msg)
	_ = c.SetWriteDeadline(time.Now().Add(refuseWriteTimeout))
	_, _ = io.WriteString(c, resp)
	_ = c.Close()
}

// limitListener is a listener whose connections connLimiter counts.
type limitListener struct {
	net.Listener
	l *connLimiter
}

// Accept returns the next connection within its source's limit; those
// over it are refused here and never reach the HTTP server.
func (ll *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := ll.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := remoteIP(c)
		if !ll.l.acquire(ip) {
			ll.l.refuse(c, ip)
			continue
		}
		return &limitedConn{Conn: c, l: ll.l, ip: ip}, nil
	}
}

// limitedConn releases its count once, when closed.
type limitedConn struct {
	net.Conn
	l    *connLimiter
	ip   netip.Addr
	once sync.Once
}

func (c *limitedConn) Close() error {
	c.once.Do(func() { c.l.release(c.ip) })
	return c.Conn.Close()
}

// remoteIP is the source IP of c; connections from an address that is not
// IP (those on a unix socket) share the zero address, and so one limit.
func remoteIP(c net.Conn) netip.Addr {
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(ta.IP); ok {
			return ip.Unmap()
		}
	}
	return netip.Addr{}
}
