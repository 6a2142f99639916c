package server

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"math"
	"net"
	netrpc "net/rpc"
	"os"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-msgpack/v2/codec"

	"github.com/meridian-sd/meridian/rpc"
	"github.com/meridian-sd/meridian/structs"
)

// fillMode says how fill builds a request value.
type fillMode int

const (
	fillNils     fillMode = iota // pointers nil, lists of one nil or zero entry
	fillEntries                  // pointers set, lists with a nil and a filled entry
	fillNegative                 // every number negative or extreme, strings odd
)

// fill builds a value of type t for mode, down to depth levels.
func fill(t reflect.Type, mode fillMode, depth int) reflect.Value {
	v := reflect.New(t).Elem()
	if depth <= 0 {
		return v
	}
	switch t.Kind() {
	case reflect.Pointer:
		if mode != fillNils {
			v.Set(reflect.New(t.Elem()))
			v.Elem().Set(fill(t.Elem(), mode, depth-1))
		}
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			if t.Field(i).IsExported() {
				v.Field(i).Set(fill(t.Field(i).Type, mode, depth-1))
			}
		}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			v.SetBytes([]byte("\x00\xff"))
			break
		}
		s := reflect.MakeSlice(t, 0, 2)
		s = reflect.Append(s, reflect.Zero(t.Elem())) // nil for pointers
		if mode != fillNils {
			s = reflect.Append(s, fill(t.Elem(), mode, depth-1))
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(t)
		m.SetMapIndex(fill(t.Key(), mode, depth-1), fill(t.Elem(), mode, depth-1))
		v.Set(m)
	case reflect.String:
		switch mode {
		case fillNegative:
			v.SetString("../\x00 é/..")
		default:
			v.SetString("dc1")
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if mode == fillNegative {
			v.SetInt(math.MinInt32)
		} else {
			v.SetInt(1)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if mode == fillNegative {
			v.SetUint(math.MaxUint32)
		} else {
			v.SetUint(1)
		}
	case reflect.Float32, reflect.Float64:
		if mode == fillNegative {
			v.SetFloat(math.NaN())
		} else {
			v.SetFloat(1)
		}
	case reflect.Bool:
		v.SetBool(mode != fillNils)
	}
	return v
}

// fuzzTarget is one in-process server the fuzz inputs are sent to.
type fuzzTarget struct {
	s       *Server
	methods []rpc.MethodInfo
	handle  *codec.MsgpackHandle
}

// send writes one request, method's header then body as raw bytes, on a
// new plain connection, closes the writing side and reads whatever answer
// comes. The server must answer or hang up promptly, whatever the body.
func (ft *fuzzTarget) send(t *testing.T, method string, body []byte) {
	conn, err := net.DialTimeout("tcp", ft.s.RPCAddr().String(), 5*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(20 * time.Second)); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	buf.WriteByte(byte(rpc.ProtoRPC))
	if err := codec.NewEncoder(&buf, ft.handle).Encode(&netrpc.Request{ServiceMethod: method, Seq: 1}); err != nil {
		t.Fatal(err)
	}
	buf.Write(body)
	if _, err := conn.Write(buf.Bytes()); err != nil {
		t.Fatalf("write: %v", err)
	}
	// The caller hangs up its side: a body cut short ends there, and a
	// blocking query ends with the call's context.
	_ = conn.(*net.TCPConn).CloseWrite()
	dec := codec.NewDecoder(bufio.NewReader(conn), ft.handle)
	var resp netrpc.Response
	if err := dec.Decode(&resp); err == nil {
		var discard any
		_ = dec.Decode(&discard)
	}
	// Whatever the answer, the connection must end: read to EOF.
	if _, err := io.Copy(io.Discard, conn); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("%s: the server neither answered nor hung up within 20s", method)
	}
}

// FuzzRPC drives every registered RPC method of a real server with msgpack
// bodies built from the method's own argument type (zero values, nil
// pointers and nil list entries, negative and extreme numbers) and with the
// fuzzer's raw bytes, and checks that no call panics (the dispatcher's
// recover counts any that does), that every call ends, and that the server
// still answers afterwards. The method table comes from the dispatcher's
// registrations, so a new endpoint is covered without touching this test.
//
// In a normal `go test` run only the seeds run; fuzz with
//
//	go test -run '^$' -fuzz FuzzRPC -fuzztime 60s ./server/
func FuzzRPC(f *testing.F) {
	// The server logs to a buffer: a fuzz target may not call f.Log, and
	// a failure quotes the log (with the stack of any panic).
	logs := &lockedBuffer{}
	cfg := testConfig(f, "dc1")
	cfg.Bootstrap = true
	cfg.Logger = hclog.New(&hclog.LoggerOptions{Name: cfg.NodeName, Output: logs, Level: hclog.Warn})
	s := startServer(f, cfg)
	waitForLeader(f, []*Server{s})
	ft := &fuzzTarget{s: s, methods: s.dispatcher.Methods(), handle: structs.NewMsgpackHandle()}
	if len(ft.methods) < 30 {
		f.Fatalf("only %d methods registered", len(ft.methods))
	}
	for i, m := range ft.methods {
		for _, mode := range []fillMode{fillNils, fillEntries, fillNegative} {
			var body bytes.Buffer
			if err := codec.NewEncoder(&body, ft.handle).Encode(fill(m.Args, mode, 6).Interface()); err != nil {
				f.Fatalf("encode seed for %s: %v", m.Name, err)
			}
			f.Add(uint8(i), body.Bytes())
		}
		f.Add(uint8(i), []byte{0xc0})                                                         // nil
		f.Add(uint8(i), []byte{0x80})                                                         // {}
		f.Add(uint8(i), []byte{0xdf, 0xff, 0xff, 0xff, 0xff})                                 // a map of 2^32-1 pairs, none sent
		f.Add(uint8(i), []byte{0xdd, 0x7f, 0xff, 0xff, 0xff, 0xc0})                           // a huge array
		f.Add(uint8(i), []byte{0x81, 0xa4, 'N', 'o', 'd', 'e', 0xdb, 0xff, 0xff, 0xff, 0xff}) // a 4 GiB string, none sent
		f.Add(uint8(i), []byte("garbage that is not msgpack at all"))
	}
	// A body for an unknown method.
	f.Add(uint8(len(ft.methods)), []byte{0x80})
	ping := dialForeign(f, s)

	f.Fuzz(func(t *testing.T, idx uint8, body []byte) {
		method := "Nope.Unknown"
		if i := int(idx) % (len(ft.methods) + 1); i < len(ft.methods) {
			method = ft.methods[i].Name
		}
		ft.send(t, method, body)
		if p := s.dispatcher.Panics(); p != 0 {
			t.Fatalf("%s with body %x: %d calls panicked; server log:\n%s", method, body, p, logs.String())
		}
		if err := ping.call(t, "Status.Ping", struct{}{}, &struct{}{}); err != nil {
			t.Fatalf("server stopped answering after %s with body %x: %v", method, body, err)
		}
	})
}

// lockedBuffer is a log sink safe for concurrent writers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() > 1<<20 {
		b.buf.Reset()
	}
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
