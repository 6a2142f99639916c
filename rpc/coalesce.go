package rpc

import (
	"encoding/binary"
	"net"
)

// yamux frames a data frame as a 12-byte header (version, type, flags,
// stream ID, length) followed by length bytes of body, and its session
// writes the two with two calls to the connection's Write: two system
// calls and, with TCP_NODELAY, two segments per message. coalescingConn
// sits between a session and its connection and holds back the header of
// a data frame with a body until the next Write, which carries the body,
// and writes both at once. Only write boundaries change, never the bytes
// or their order; every other frame (window updates, pings, go-away)
// passes straight through.
//
// A session has one writer (its send loop), which is the only caller of
// Write; Write is not safe for concurrent use.
type coalescingConn struct {
	net.Conn
	hdr  [yamuxHeaderSize]byte
	held bool   // hdr holds a data frame's header whose body comes next
	buf  []byte // reused to join a header and a small body
}

const (
	yamuxHeaderSize = 12
	yamuxTypeData   = 0
	// coalesceCopyMax is the largest body copied behind its header into
	// one buffer; larger ones go out with writev (net.Buffers).
	coalesceCopyMax = 16 << 10
)

// newCoalescingConn wraps conn for a yamux session.
func newCoalescingConn(conn net.Conn) *coalescingConn { return &coalescingConn{Conn: conn} }

// Write writes b, holding back a data frame's header until its body.
func (c *coalescingConn) Write(b []byte) (int, error) {
	if c.held {
		c.held = false
		if len(b) <= coalesceCopyMax {
			c.buf = append(append(c.buf[:0], c.hdr[:]...), b...)
			n, err := c.Conn.Write(c.buf)
			return max(n-yamuxHeaderSize, 0), err
		}
		bufs := net.Buffers{c.hdr[:], b}
		n, err := bufs.WriteTo(c.Conn)
		return max(int(n)-yamuxHeaderSize, 0), err
	}
	if len(b) == yamuxHeaderSize && b[1] == yamuxTypeData && binary.BigEndian.Uint32(b[8:12]) > 0 {
		copy(c.hdr[:], b)
		c.held = true
		return len(b), nil
	}
	return c.Conn.Write(b)
}
