package structs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/hashicorp/go-msgpack/v2/codec"
)

// Size limits of Raft log entries.
//
// The log store (raft-wal v0.4.1) refuses, when it reads a segment back, a
// frame larger than its MaxEntrySize of 64 MiB, and it does not check that
// size when it writes: an entry over it is committed and acknowledged, and
// the data dir can then no longer start. So every entry is bounded here,
// before it reaches Raft, by one limit for all kinds (MaxRaftEntrySize) and
// by tighter ones for the kinds whose natural size is small.
const (
	// MaxRaftEntrySize is the largest encoded command (type byte and
	// msgpack body) written to Raft. It leaves 1 MiB below raft-wal's
	// 64 MiB frame limit for what the log store adds around the command
	// (index, term, type, lengths and a timestamp: under 64 bytes today).
	MaxRaftEntrySize = 63 << 20
	// MaxRegisterSize bounds one catalog registration or deregistration
	// entry: a node with its meta and addresses, one service and its checks.
	MaxRegisterSize = 4 << 20
	// MaxSessionSize bounds one session entry: a name, a node and the IDs
	// of the checks the session depends on.
	MaxSessionSize = 1 << 20
	// MaxCoordinateSize bounds one node's coordinate update (node name,
	// segment and vector); a batch entry holds a configured number of them.
	MaxCoordinateSize = 4 << 10
	// MaxValueSizeLimit is the highest limits.kv_max_value_size and
	// limits.txn_max_req_len accepted: a KV entry or a transaction carrying
	// that many bytes of values still leaves MaxRaftEntrySize room for its
	// keys and framing.
	MaxValueSizeLimit = 32 << 20
)

// ErrRequestTooLarge is returned for a write whose entry would be larger
// than its limit; nothing of it has been applied. Its text starts the
// error sentence (see IsTooLarge), and it carries CodeTooLarge, which
// crosses RPC with it (HTTP 413).
var ErrRequestTooLarge error = &Error{Code: CodeTooLarge, Err: errors.New("Request too large")}

// IsTooLarge reports whether err is or wraps ErrRequestTooLarge, or any
// error with CodeTooLarge (a request field over a bound of Validate), or,
// from a peer that flattened it into text, wraps an error whose text
// starts with it.
func IsTooLarge(err error) bool {
	if errors.Is(err, ErrRequestTooLarge) || CodeOf(err) == CodeTooLarge {
		return true
	}
	for ; err != nil; err = errors.Unwrap(err) {
		if strings.HasPrefix(err.Error(), ErrRequestTooLarge.Error()+": ") {
			return true
		}
	}
	return false
}

// limitedBuffer collects an encoding and fails once it would pass limit,
// so that an oversized request costs no more memory than the limit.
type limitedBuffer struct {
	buf      bytes.Buffer
	limit    int
	exceeded bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.buf.Len()+len(p) > b.limit {
		b.exceeded = true
		return 0, ErrRequestTooLarge
	}
	return b.buf.Write(p)
}

// EncodeLimited is Encode with a bound: an entry (type byte included)
// larger than limit is refused with ErrRequestTooLarge, without ever
// holding more than limit bytes of it.
func EncodeLimited(h *codec.MsgpackHandle, t MessageType, msg any, limit int) ([]byte, error) {
	b := &limitedBuffer{limit: limit}
	if _, err := b.Write([]byte{uint8(t)}); err != nil {
		return nil, fmt.Errorf("%w: a %s entry is larger than the limit of %d bytes", ErrRequestTooLarge, t, limit)
	}
	err := codec.NewEncoder(b, h).Encode(msg)
	if b.exceeded {
		return nil, fmt.Errorf("%w: a %s entry is larger than the limit of %d bytes", ErrRequestTooLarge, t, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", t, err)
	}
	return b.buf.Bytes(), nil
}

// EntryEncoder is EncodeLimited reusing its msgpack encoders between
// entries (a new one costs more than encoding a small request). It is
// safe for concurrent use.
type EntryEncoder struct {
	h    *codec.MsgpackHandle
	pool sync.Pool // of *codec.Encoder, pointed at io.Discard while idle
}

// NewEntryEncoder returns an encoder of entries with h's settings.
func NewEntryEncoder(h *codec.MsgpackHandle) *EntryEncoder {
	return &EntryEncoder{h: h}
}

// Encode is EncodeLimited(h, t, msg, limit).
func (e *EntryEncoder) Encode(t MessageType, msg any, limit int) ([]byte, error) {
	b := &limitedBuffer{limit: limit}
	if _, err := b.Write([]byte{uint8(t)}); err != nil {
		return nil, fmt.Errorf("%w: a %s entry is larger than the limit of %d bytes", ErrRequestTooLarge, t, limit)
	}
	enc, _ := e.pool.Get().(*codec.Encoder)
	if enc == nil {
		enc = codec.NewEncoder(b, e.h)
	} else {
		enc.Reset(b)
	}
	err := enc.Encode(msg)
	if b.exceeded {
		return nil, fmt.Errorf("%w: a %s entry is larger than the limit of %d bytes", ErrRequestTooLarge, t, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", t, err)
	}
	// Only an encoder that finished cleanly is kept, and not holding
	// the entry.
	enc.Reset(io.Discard)
	e.pool.Put(enc)
	return b.buf.Bytes(), nil
}

// logMaxInitLen is the MaxInitLen of NewLogHandle: the most elements (or
// bytes) the decoder provisions at once for a collection before it has
// read it. With msgpack's default (256 KiB for bytes), a large byte value
// is grown chunk by chunk, copying what it has each time: decoding a
// 63 MiB entry took about 10 s of copying here. 4 MiB brings that under
// a second, and a corrupt length still provisions at most 4M elements.
const logMaxInitLen = 4 << 20

// NewLogHandle returns NewMsgpackHandle's settings for decoding what the
// servers wrote themselves and bounded: Raft entries and state snapshot
// records. Its decoders provision larger collections at once (see
// logMaxInitLen), which a peer's RPC must not be able to ask for.
func NewLogHandle() *codec.MsgpackHandle {
	h := NewMsgpackHandle()
	h.MaxInitLen = logMaxInitLen
	return h
}
