package rpc

import (
	"bytes"
	"encoding/binary"
	"net"
	"strings"
	"sync"
	"testing"
)

// recordingConn records each Write.
type recordingConn struct {
	net.Conn
	mu     sync.Mutex
	writes [][]byte
}

func (r *recordingConn) Write(b []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writes = append(r.writes, append([]byte(nil), b...))
	return len(b), nil
}

// yamuxHeader builds a frame header.
func yamuxHeader(typ byte, length uint32) []byte {
	h := make([]byte, yamuxHeaderSize)
	h[1] = typ
	binary.BigEndian.PutUint32(h[4:8], 7)
	binary.BigEndian.PutUint32(h[8:12], length)
	return h
}

func TestCoalescingConnJoinsDataHeaderAndBody(t *testing.T) {
	small := []byte("hello")
	large := []byte(strings.Repeat("x", coalesceCopyMax+1))
	windowUpdate := yamuxHeader(1, 1024) // no body follows
	ping := yamuxHeader(2, 99)
	steps := [][]byte{
		yamuxHeader(yamuxTypeData, uint32(len(small))), small,
		windowUpdate,
		yamuxHeader(yamuxTypeData, uint32(len(large))), large,
		ping,
		yamuxHeader(yamuxTypeData, 0), // an empty data frame (FIN) has no body
	}
	rec := &recordingConn{}
	c := newCoalescingConn(rec)
	var want bytes.Buffer
	for i, b := range steps {
		n, err := c.Write(b)
		if err != nil || n != len(b) {
			t.Fatalf("write %d: n %d, err %v; want %d, nil", i, n, err, len(b))
		}
		want.Write(b)
	}
	var got bytes.Buffer
	for _, w := range rec.writes {
		got.Write(w)
	}
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Fatalf("the bytes changed: got %d bytes, want %d", got.Len(), want.Len())
	}
	// Data header and body go out together; the rest one by one. (The
	// large body goes out by net.Buffers, which writes its parts in turn
	// on a connection without writev.)
	if len(rec.writes) < 5 || len(rec.writes[0]) != yamuxHeaderSize+len(small) {
		t.Errorf("writes %d, the first of %d bytes; want the small frame in one write of %d", len(rec.writes), len(rec.writes[0]), yamuxHeaderSize+len(small))
	}
	if !bytes.Equal(rec.writes[1], windowUpdate) {
		t.Errorf("the window update was not written alone")
	}
	if last := rec.writes[len(rec.writes)-1]; len(last) != yamuxHeaderSize {
		t.Errorf("an empty data frame was held back: the last write has %d bytes", len(last))
	}
}
