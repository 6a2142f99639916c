package rpc

// Snapshot streams (ProtoSnapshot)
//
// A snapshot archive can be far larger than an RPC argument may be, so a
// save or restore travels on a connection of its own: the dialer writes
// ProtoSnapshot (inside TLS when it uses TLS), then
//
//	request:  a frame holding a structs.SnapshotRequest
//	archive:  for a restore, exactly request.Size bytes
//
// and the server answers
//
//	response: a frame holding a structs.SnapshotResponse
//	archive:  for a successful save, exactly response.Size bytes
//
// after which the connection is closed. A frame is a 4-byte big-endian
// length and that many bytes of msgpack (structs.NewMsgpackHandle); a
// frame is at most maxSnapshotFrame bytes. An error travels in the
// response's Error, encoded as structs.EncodeRPCError does, so its code
// and contract texts survive forwarding.
//
// The server answers a restore only after reading the whole archive,
// except when it refuses it early (a bad token, an archive over the
// size cap): the dialer reads the answer while it is still writing, so it
// sees such a refusal instead of a broken pipe. Every read and write on
// either side must make progress within an idle timeout; the server
// bounds the request frame by HandshakeTimeout, and the size of a restore
// by what its handler allows.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/go-msgpack/v2/codec"

	"github.com/meridian-sd/meridian/structs"
)

// maxSnapshotFrame bounds a request or response frame: a few names, a
// token and numbers.
const maxSnapshotFrame = 64 << 10

// DefaultSnapshotIdleTimeout is how long a snapshot stream may go
// without a read or write making progress before it is given up.
const DefaultSnapshotIdleTimeout = 60 * time.Second

// snapshotLinger bounds how long a server reads and drops the rest of a
// restore it refused early, so that the dialer reads the refusal rather
// than a reset connection.
const snapshotLinger = 5 * time.Second

// SnapshotHandler serves one snapshot request on a server. For a restore,
// in yields the archive (exactly req.Size bytes, or an error). For a save
// it returns the archive, resp.Size bytes, which the caller closes. An
// error is sent to the dialer as the response's Error.
type SnapshotHandler func(ctx context.Context, req *structs.SnapshotRequest, in io.Reader) (*structs.SnapshotResponse, io.ReadCloser, error)

// writeFrame writes v as one frame.
func writeFrame(w io.Writer, h *codec.MsgpackHandle, v any) error {
	var buf []byte
	if err := codec.NewEncoderBytes(&buf, h).Encode(v); err != nil {
		return fmt.Errorf("encode snapshot frame: %w", err)
	}
	if len(buf) > maxSnapshotFrame {
		return fmt.Errorf("snapshot frame of %d bytes exceeds the limit of %d", len(buf), maxSnapshotFrame)
	}
	out := make([]byte, 4+len(buf))
	binary.BigEndian.PutUint32(out, uint32(len(buf)))
	copy(out[4:], buf)
	if _, err := w.Write(out); err != nil {
		return fmt.Errorf("write snapshot frame: %w", err)
	}
	return nil
}

// readFrame reads one frame into v.
func readFrame(r io.Reader, h *codec.MsgpackHandle, v any) error {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return fmt.Errorf("read snapshot frame: %w", err)
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > maxSnapshotFrame {
		return fmt.Errorf("snapshot frame of %d bytes exceeds the limit of %d", n, maxSnapshotFrame)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return fmt.Errorf("read snapshot frame: %w", err)
	}
	dec := codec.NewDecoderBytes(buf, h)
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decode snapshot frame: %w", err)
	}
	if dec.NumBytesRead() != len(buf) {
		return errors.New("decode snapshot frame: stray bytes after the message")
	}
	return nil
}

// idleConn gives every read and write on a connection its own deadline,
// so that a stream stops only when it stalls, however long it is.
type idleConn struct {
	net.Conn
	idle time.Duration
}

func (c idleConn) Read(p []byte) (int, error) {
	if err := c.Conn.SetReadDeadline(time.Now().Add(c.idle)); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c idleConn) Write(p []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.idle)); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

// serveSnapshot serves one snapshot stream on conn; the caller closes it.
func (s *Server) serveSnapshot(conn net.Conn) {
	h := s.cfg.SnapshotHandler
	if h == nil {
		s.logger.Warn("snapshot connection refused: no snapshot handler", "remote", conn.RemoteAddr())
		return
	}
	var req structs.SnapshotRequest
	if err := conn.SetReadDeadline(time.Now().Add(s.cfg.HandshakeTimeout)); err != nil {
		return
	}
	if err := readFrame(conn, s.handle, &req); err != nil {
		s.garbageLog.Warn("bad snapshot request", "remote", conn.RemoteAddr(), "error", err)
		return
	}
	ic := idleConn{Conn: conn, idle: s.cfg.SnapshotIdleTimeout}
	answer := func(resp *structs.SnapshotResponse) bool {
		if err := writeFrame(ic, s.handle, resp); err != nil {
			s.logger.Debug("snapshot answer not sent", "remote", conn.RemoteAddr(), "error", err)
			return false
		}
		return true
	}
	refuse := func(err error) {
		if answer(&structs.SnapshotResponse{Error: structs.EncodeRPCError(err)}) && req.Op == structs.SnapshotRestore {
			// Read and drop what is left of the archive, bounded, so
			// that closing does not reset the connection before the
			// dialer has read the answer; it hangs up once it has.
			_ = conn.SetReadDeadline(time.Now().Add(snapshotLinger))
			_, _ = io.Copy(io.Discard, io.LimitReader(conn, req.Size))
		}
	}
	if err := req.Validate(); err != nil {
		refuse(err)
		return
	}
	var in io.Reader
	if req.Op == structs.SnapshotRestore {
		in = &exactReader{r: io.LimitReader(ic, req.Size), left: req.Size}
	}
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	resp, body, err := h(ctx, &req, in)
	if err != nil {
		refuse(err)
		return
	}
	if body == nil {
		resp.Size = 0
		answer(resp)
		return
	}
	defer body.Close()
	if !answer(resp) {
		return
	}
	if n, err := io.CopyN(ic, body, resp.Size); err != nil {
		s.logger.Warn("snapshot stream broken off", "remote", conn.RemoteAddr(), "sent", n, "size", resp.Size, "error", err)
	}
}

// exactReader reads exactly left bytes from r: an early end of r is
// io.ErrUnexpectedEOF, not a short archive.
type exactReader struct {
	r    io.Reader
	left int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.left <= 0 {
		return 0, io.EOF
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if errors.Is(err, io.EOF) && e.left > 0 {
		err = fmt.Errorf("snapshot stream ended %d bytes early: %w", e.left, io.ErrUnexpectedEOF)
	}
	return n, err
}

// SnapshotRPC runs one snapshot request on the server at addr of
// datacenter dc over a connection of its own. For a restore, in must
// yield args.Size bytes. For a save, the archive is returned, its
// response.Size bytes, and the caller must close it. ctx bounds the
// whole exchange, the archive's reading included; besides, every read
// and write must make progress within DefaultSnapshotIdleTimeout.
func (p *ConnPool) SnapshotRPC(ctx context.Context, dc string, addr net.Addr, args *structs.SnapshotRequest, in io.Reader) (*structs.SnapshotResponse, io.ReadCloser, error) {
	const method = "Snapshot"
	if addr == nil {
		return nil, nil, &CallError{Method: method, Addr: "<nil>", Err: errors.New("no server address")}
	}
	target := addr.String()
	callErr := func(sent bool, err error) error {
		p.logger.Debug("snapshot call failed", "server", target, "dc", dc, "sent", sent, "error", err)
		return &CallError{Method: method, Addr: target, Sent: sent, Err: err}
	}
	dialCtx, cancel := context.WithTimeout(ctx, p.cfg.DialTimeout)
	conn, err := p.cfg.Dial(dialCtx, "tcp", target)
	if err == nil {
		conn, err = dialTLS(dialCtx, p.cfg.TLS, dc, conn, p.cfg.DialTimeout)
	}
	cancel()
	if err != nil {
		return nil, nil, callErr(false, fmt.Errorf("dial: %w", err))
	}
	if err := writeProtoByte(conn, ProtoSnapshot, p.cfg.DialTimeout); err != nil {
		conn.Close()
		return nil, nil, callErr(false, err)
	}
	var closeOnce sync.Once
	closeConn := func() { closeOnce.Do(func() { _ = conn.Close() }) }
	stop := context.AfterFunc(ctx, closeConn)
	fail := func(sent bool, err error) (*structs.SnapshotResponse, io.ReadCloser, error) {
		stop()
		closeConn()
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, nil, callErr(sent, err)
	}
	ic := idleConn{Conn: conn, idle: DefaultSnapshotIdleTimeout}
	if err := writeFrame(ic, p.handle, args); err != nil {
		return fail(false, err)
	}
	// The archive is written while the answer is awaited, so that an
	// early refusal is read rather than run into.
	var wg sync.WaitGroup
	var writeErr error
	if args.Op == structs.SnapshotRestore {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := io.CopyN(ic, in, args.Size)
			if err != nil {
				writeErr = fmt.Errorf("send snapshot archive: %d of %d bytes: %w", n, args.Size, err)
				// The server waits for the rest: hang up.
				closeConn()
			}
		}()
	}
	var resp structs.SnapshotResponse
	readErr := readFrame(ic, p.handle, &resp)
	if readErr != nil || resp.Error != "" {
		// Unblock the writer, if still writing, and wait for it.
		closeConn()
	}
	wg.Wait()
	switch {
	case readErr != nil && writeErr != nil && ctx.Err() == nil:
		return fail(true, fmt.Errorf("%w (%v)", writeErr, readErr))
	case readErr != nil:
		return fail(true, readErr)
	case resp.Error != "":
		stop()
		return nil, nil, structs.DecodeRPCError(resp.Error)
	case writeErr != nil:
		return fail(true, writeErr)
	case resp.Size < 0 || (args.Op == structs.SnapshotRestore && resp.Size != 0):
		return fail(true, fmt.Errorf("bad snapshot answer: size %d", resp.Size))
	}
	if resp.Size == 0 {
		stop()
		closeConn()
		return &resp, nil, nil
	}
	body := &snapshotBody{
		r:     &exactReader{r: io.LimitReader(ic, resp.Size), left: resp.Size},
		close: func() { stop(); closeConn() },
	}
	return &resp, body, nil
}

// snapshotBody is a save's archive as it arrives; Close hangs up.
type snapshotBody struct {
	r     io.Reader
	close func()
}

func (b *snapshotBody) Read(p []byte) (int, error) { return b.r.Read(p) }

func (b *snapshotBody) Close() error {
	b.close()
	return nil
}

// SnapshotRPC runs a snapshot request on the current server, moving to
// the next one while a server cannot be reached and nothing was sent
// (the archive of a restore cannot be sent twice). With no known server
// it returns structs.ErrNoServers.
func (m *Manager) SnapshotRPC(ctx context.Context, args *structs.SnapshotRequest, in io.Reader) (*structs.SnapshotResponse, io.ReadCloser, error) {
	attempts := m.NumServers()
	var lastErr error = structs.ErrNoServers
	for range attempts {
		srv, ok := m.FindServer()
		if !ok {
			break
		}
		resp, body, err := m.cfg.Pool.SnapshotRPC(ctx, srv.Datacenter, srv.NetAddr(), args, in)
		var ce *CallError
		if err == nil || !errors.As(err, &ce) {
			return resp, body, err
		}
		m.logger.Warn("snapshot request to server failed", "server", srv.String(), "error", err)
		m.NotifyFailedServer(srv)
		if ce.Sent || ctx.Err() != nil {
			return nil, nil, err
		}
		lastErr = err
	}
	return nil, nil, lastErr
}
