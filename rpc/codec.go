package rpc

import (
	"errors"
	"fmt"
	"io"
	netrpc "net/rpc"
	"sync"
	"time"

	"github.com/hashicorp/go-msgpack/v2/codec"
	msgpackrpc "github.com/hashicorp/net-rpc-msgpackrpc/v2"

	"github.com/meridian-sd/meridian/structs"
)

// NewClientCodec returns a net/rpc client codec speaking msgpack with h on
// conn. A nil h means a fresh structs.NewMsgpackHandle. Reads and writes are
// buffered; every request is flushed whole.
func NewClientCodec(conn io.ReadWriteCloser, h *codec.MsgpackHandle) netrpc.ClientCodec {
	return newCodec(conn, h)
}

// NewServerCodec returns a net/rpc server codec speaking msgpack with h on
// conn. A nil h means a fresh structs.NewMsgpackHandle.
func NewServerCodec(conn io.ReadWriteCloser, h *codec.MsgpackHandle) netrpc.ServerCodec {
	return newCodec(conn, h)
}

// newLimitedServerCodec is NewServerCodec reading at most max bytes per
// request (see Dispatcher.ServeCodec, which starts each request's count).
func newLimitedServerCodec(conn io.ReadWriteCloser, h *codec.MsgpackHandle, max int64) *msgpackCodec {
	if h == nil {
		h = structs.NewMsgpackHandle()
	}
	lim := &limitedReader{r: conn, max: max, left: max}
	rw := struct {
		io.Reader
		io.Writer
		io.Closer
	}{lim, conn, conn}
	return &msgpackCodec{MsgpackCodec: msgpackrpc.NewCodecFromHandle(true, true, rw, h), conn: conn, limit: lim}
}

// errRequestTooLarge is the read error past a request's byte limit.
var errRequestTooLarge = errors.New("request too large")

// limitedReader fails reads once a request has read max bytes. Only the
// goroutine that reads requests uses it. The count is taken below the
// codec's read buffer, so it may include up to a buffer's worth of the
// next request: the limit is approximate by that much.
type limitedReader struct {
	r    io.Reader
	max  int64
	left int64
	hit  bool
}

// Read reads at most what is left of the request's allowance.
func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		l.hit = true
		return 0, errRequestTooLarge
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}

// startRequest gives the next request its full allowance.
func (c *msgpackCodec) startRequest() {
	if c.limit != nil {
		c.limit.left, c.limit.hit = c.limit.max, false
	}
}

// overLimit reports whether the current request ran past its allowance.
func (c *msgpackCodec) overLimit() bool { return c.limit != nil && c.limit.hit }

// drainBytes, drainTime and drainIdle bound what drainRest reads after a
// request refused as too large: in all, for how long, and how long it
// waits for more.
const (
	drainBytes = 1 << 20
	drainTime  = time.Second
	drainIdle  = 250 * time.Millisecond
)

// drainRest reads and discards what the peer still sends of a request
// refused as too large, until the peer pauses for drainIdle, up to
// drainBytes or drainTime, before the connection is closed. A peer still
// writing its request reads the refusal only once its write is done;
// closing with its bytes unread would make the kernel reset the
// connection, and the peer would see "connection reset" instead of the
// answer. Connections without read deadlines are not drained.
func (c *msgpackCodec) drainRest() {
	d, ok := c.conn.(interface{ SetReadDeadline(time.Time) error })
	if c.limit == nil || !ok {
		return
	}
	end := time.Now().Add(drainTime)
	buf := make([]byte, 32<<10)
	for read := 0; read < drainBytes; {
		next := time.Now().Add(drainIdle)
		if next.After(end) {
			next = end
		}
		if d.SetReadDeadline(next) != nil {
			return
		}
		n, err := c.limit.r.Read(buf)
		read += n
		if err != nil {
			return
		}
	}
}

// limitBytes is the allowance of one request.
func (c *msgpackCodec) limitBytes() int64 {
	if c.limit == nil {
		return 0
	}
	return c.limit.max
}

// msgpackCodec is msgpackrpc's codec with a Close that may run while another
// goroutine reads, as rpc.Client.Close does: the library's own Close sets an
// unguarded flag, so this one closes the connection instead, which fails the
// read.
type msgpackCodec struct {
	*msgpackrpc.MsgpackCodec
	conn      io.Closer
	limit     *limitedReader // nil: no limit
	closeOnce sync.Once
	closeErr  error
}

// newCodec builds a msgpackCodec on conn.
func newCodec(conn io.ReadWriteCloser, h *codec.MsgpackHandle) *msgpackCodec {
	if h == nil {
		h = structs.NewMsgpackHandle()
	}
	return &msgpackCodec{MsgpackCodec: msgpackrpc.NewCodecFromHandle(true, true, conn, h), conn: conn}
}

// Close closes the connection once.
func (c *msgpackCodec) Close() error {
	c.closeOnce.Do(func() { c.closeErr = c.conn.Close() })
	return c.closeErr
}

// MapRemoteError turns an error returned by a remote method back into
// something callers can test: a coded error (see structs.EncodeRPCError)
// becomes a *structs.Error with its code and message, so structs.CodeOf
// works and the text is the message alone; the text of a contract error
// (structs.ErrNoLeader, structs.ErrNoDCPath, ...) becomes its sentinel, so
// errors.Is works; any other remote error is returned unchanged (as an
// rpc.ServerError, whose text is exactly the remote one). Errors that did
// not come from a remote method are returned unchanged.
//
// Remote errors are deliberately not wrapped: a server that forwards a call
// returns the answer's error from its own endpoint, and only an unchanged
// text and code are still recognised after the next hop.
func MapRemoteError(err error) error {
	if err == nil {
		return nil
	}
	var se netrpc.ServerError
	if !errors.As(err, &se) {
		return err
	}
	if coded := structs.DecodeRPCError(string(se)); structs.CodeOf(coded) != "" {
		return coded
	}
	if mapped := structs.ContractError(se); mapped != error(se) {
		return mapped
	}
	return err
}

// IsRemoteError reports whether err, returned by ConnPool.RPC or
// Manager.RPC, came from the remote method itself (an application error such
// as "No cluster leader" or a validation error) rather than from a failure to
// reach the server or to complete the exchange.
func IsRemoteError(err error) bool {
	return err != nil && !IsConnError(err)
}

// CallError is the error of a call that failed in transport: the server could
// not be reached, the session broke, or the call timed out or was cancelled.
// Errors returned by the remote method are never a CallError (see
// MapRemoteError).
type CallError struct {
	// Method is the called method, such as "Catalog.Register".
	Method string
	// Addr is the server's address.
	Addr string
	// Sent is true when the request may have reached the server: the failure
	// came after the pool started writing it. A request that was not sent is
	// always safe to try on another server; one that was sent is safe only if
	// it is a read.
	Sent bool
	// Err is the underlying failure; context.Canceled or
	// context.DeadlineExceeded when the caller's context ended, and
	// os.ErrDeadlineExceeded when the call's own timeout fired.
	Err error
}

// Error says which call to which server failed, in Consul's wording.
func (e *CallError) Error() string {
	return fmt.Sprintf("rpc error making call: %s to %s: %v", e.Method, e.Addr, e.Err)
}

// Unwrap returns the underlying failure.
func (e *CallError) Unwrap() error { return e.Err }

// IsConnError reports whether err is a transport failure (a CallError) rather
// than an error returned by the remote method.
func IsConnError(err error) bool {
	var ce *CallError
	return errors.As(err, &ce)
}

// CanRetry reports whether a call with args that failed with err may be tried
// again on another server: never for an error returned by the remote method;
// never after a timeout or cancellation, since the time the caller allowed is
// spent; always when the request was not sent; and after it was sent only for
// reads (args implementing structs.RPCInfo with IsRead true), since a write may
// already have been applied.
func CanRetry(args any, err error) bool {
	var ce *CallError
	if !errors.As(err, &ce) {
		return false
	}
	if isTimeoutOrCancel(ce.Err) {
		return false
	}
	if !ce.Sent {
		return true
	}
	info, ok := args.(structs.RPCInfo)
	return ok && info.IsRead()
}
