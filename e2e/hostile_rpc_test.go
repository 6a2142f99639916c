package e2e

// Issue 9's hostile input against real servers (hosts 160-167): a
// three-server datacenter and a client take malformed RPCs on the server
// port (the null check entry that used to kill the leader, unknown
// methods, garbage bodies, huge declared lengths), garbage bytes on 8300,
// and thousands of garbage UDP packets and TCP connections on the gossip
// ports 8301 and 8302. Afterwards every server still runs, a leader is
// known (the same one unless the machine's load forced an election), no
// call panicked, and a write and a read through the client answer within
// seconds.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	netrpc "net/rpc"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/hashicorp/go-msgpack/v2/codec"
	msgpackrpc "github.com/hashicorp/net-rpc-msgpackrpc/v2"
)

// foreignHandle is the msgpack setting a foreign client would use.
func foreignHandle() *codec.MsgpackHandle {
	h := &codec.MsgpackHandle{}
	h.RawToString = true
	h.WriteExt = true
	return h
}

// foreignCall dials addr's server port as an outsider, says "RPC" (0x01)
// and makes one msgpack net/rpc call with body, which the server must
// answer (or refuse by hanging up) within 15 seconds. It returns the
// remote error text, "" for success.
func foreignCall(t *testing.T, addr, method string, body any) (string, error) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "", fmt.Errorf("dial %s: %w", addr, err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(15 * time.Second)); err != nil {
		return "", err
	}
	if _, err := conn.Write([]byte{0x01}); err != nil {
		return "", fmt.Errorf("write protocol byte: %w", err)
	}
	client := netrpc.NewClientWithCodec(msgpackrpc.NewCodecFromHandle(true, true, conn, foreignHandle()))
	defer client.Close()
	var reply any
	err = client.Call(method, body, &reply)
	var se netrpc.ServerError
	switch {
	case err == nil:
		return "", nil
	case errors.As(err, &se):
		return string(se), nil
	}
	return "", fmt.Errorf("%s to %s: %w", method, addr, err)
}

// rawExchange sends header and then raw body bytes on a new server-port
// connection, closes its writing side and reads until the server hangs up,
// which must happen within 15 seconds. It returns what the server sent.
func rawExchange(addr string, method string, body []byte) ([]byte, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(15 * time.Second)); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.WriteByte(0x01)
	if err := codec.NewEncoder(&buf, foreignHandle()).Encode(map[string]any{"ServiceMethod": method, "Seq": uint64(1)}); err != nil {
		return nil, err
	}
	buf.Write(body)
	if _, err := conn.Write(buf.Bytes()); err != nil {
		return nil, fmt.Errorf("write: %w", err)
	}
	_ = conn.(*net.TCPConn).CloseWrite()
	out, err := io.ReadAll(bufio.NewReader(conn))
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return out, fmt.Errorf("%s with body %x: the server neither answered nor hung up within 15s", method, body)
	}
	return out, nil
}

// garbageTCP opens n connections to addr, each sending up to 2 KiB of
// random bytes, and closes them; connections the target refuses or
// resets are fine. It stops at deadline.
func garbageTCP(r *rand.Rand, addr string, n int, deadline time.Time, first func(i int) []byte) error {
	sent := 0
	for i := 0; i < n && time.Now().Before(deadline); i++ {
		conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			continue
		}
		_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
		b := make([]byte, 1+r.IntN(2048))
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		if first != nil {
			b = append(first(i), b...)
		}
		if _, err := conn.Write(b); err == nil {
			sent++
		}
		conn.Close()
	}
	if sent == 0 {
		return fmt.Errorf("no garbage connection to %s could be written", addr)
	}
	return nil
}

// garbageUDP sends n random datagrams of up to 1,400 bytes to addr.
func garbageUDP(r *rand.Rand, addr string, n int, deadline time.Time) error {
	conn, err := net.Dial("udp", addr)
	if err != nil {
		return fmt.Errorf("dial udp %s: %w", addr, err)
	}
	defer conn.Close()
	for i := 0; i < n && time.Now().Before(deadline); i++ {
		b := make([]byte, 1+r.IntN(1400))
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		// Messages of memberlist's own types with garbage after them
		// reach deeper than random first bytes.
		if i%2 == 0 {
			b[0] = byte(i / 2 % 16)
		}
		_, _ = conn.Write(b) // a refused datagram (ICMP) fails a later write; keep going
	}
	return nil
}

func TestHostileInputKeepsServersUp(t *testing.T) {
	c := newCluster(t, 160, 167)
	rc := startRaftCluster(t, c, "hostile")
	leader, followers := rc.leader(t)
	leaderAddr := leader.Host + ":8300"
	r := rand.New(rand.NewPCG(9, 160))
	// Every loop below is bounded in count and by this deadline.
	deadline := time.Now().Add(3 * time.Minute)

	step(t, "a null check entry is refused by a follower and by the leader", func(t *testing.T) {
		bodies := []map[string]any{
			{"Datacenter": "dc1", "Node": "evil", "Address": "192.0.2.66", "Checks": []any{nil}},
			{"Datacenter": "dc1", "Node": "evil", "Address": "192.0.2.66", "Checks": []any{map[string]any{"CheckID": "c"}, nil}},
			{"Node": "evil", "Address": "192.0.2.66", "Service": nil, "Check": nil, "Checks": []any{nil, nil, nil}},
		}
		for _, s := range []*agentProc{followers[0], leader} {
			for i, body := range bodies {
				text, err := foreignCall(t, s.Host+":8300", "Catalog.Register", body)
				if err != nil {
					t.Fatalf("body %d to %s: %v", i, s.Name, err)
				}
				if !strings.Contains(text, "check is null") {
					t.Errorf("body %d to %s: answer %q, want a refusal naming the null check", i, s.Name, text)
				}
			}
		}
	})

	step(t, "other malformed RPCs are answered or closed", func(t *testing.T) {
		for _, s := range rc.servers {
			addr := s.Host + ":8300"
			if text, err := foreignCall(t, addr, "Nope.Nothing", map[string]any{}); err != nil || !strings.Contains(text, "can't find method") {
				t.Errorf("unknown method on %s: %q %v", s.Name, text, err)
			}
			if text, err := foreignCall(t, addr, "Catalog.Register", []any{1, "two", 3.0}); err != nil || text == "" {
				t.Errorf("wrong body type on %s: %q %v, want an error answer", s.Name, text, err)
			}
			raw := [][]byte{
				[]byte("this is not msgpack"),
				{0xdb, 0xff, 0xff, 0xff, 0xff, 'a'},                                            // a 4 GiB string, 1 byte sent
				{0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0},                                           // a 4-billion-entry array
				{0xdf, 0xff, 0xff, 0xff, 0xff},                                                 // a 4-billion-pair map
				{0x81, 0xa6, 'C', 'h', 'e', 'c', 'k', 's', 0xdd, 0x7f, 0xff, 0xff, 0xff, 0xc0}, // Checks: [nil, ...2^31]
				{0xc1, 0xc1, 0xc1},                                                             // never-used type bytes
			}
			for _, m := range []string{"Catalog.Register", "KVS.Apply", "Txn.Apply", "Coordinate.Update", "Session.Apply"} {
				for _, b := range raw {
					if _, err := rawExchange(addr, m, b); err != nil {
						t.Errorf("%s on %s: %v", m, s.Name, err)
					}
				}
			}
			// A header declaring a huge method name, then nothing.
			if _, err := rawExchange(addr, strings.Repeat("M", 1<<16), nil); err != nil {
				t.Errorf("huge method name on %s: %v", s.Name, err)
			}
		}
	})

	step(t, "garbage bytes on the server port", func(t *testing.T) {
		for _, s := range rc.servers {
			addr := s.Host + ":8300"
			protos := []byte{0x00, 0x01, 0x03, 0x04, 0xff} // unknown, RPC, multiplex, unknown, unknown
			if err := garbageTCP(r, addr, 300, deadline, func(i int) []byte { return []byte{protos[i%len(protos)]} }); err != nil {
				t.Error(err)
			}
		}
	})

	step(t, "thousands of garbage packets on the gossip ports", func(t *testing.T) {
		for _, s := range rc.servers {
			for _, port := range []int{8301, 8302} {
				addr := fmt.Sprintf("%s:%d", s.Host, port)
				if err := garbageUDP(r, addr, 2000, deadline); err != nil {
					t.Error(err)
				}
				if err := garbageTCP(r, addr, 150, deadline, nil); err != nil {
					t.Error(err)
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the hostile input took longer than its 3-minute budget")
		}
	})

	step(t, "every server is up, a leader is known, nothing panicked", func(t *testing.T) {
		for _, s := range rc.servers {
			if !s.Running() {
				t.Fatalf("%s exited: %s", s.Name, s.logTail(30))
			}
		}
		// Every server runs (checked above), so a leader that changed
		// did not die; on a loaded machine an election may happen anyway.
		if now := waitLeader(t, 10*time.Second, rc.all...); now != leaderAddr {
			t.Logf("leader is %s, was %s", now, leaderAddr)
		}
		for _, s := range rc.servers {
			self, err := s.API.Agent().Self()
			if err != nil {
				t.Fatalf("agent self of %s: %v", s.Name, err)
			}
			stats, _ := self["Stats"]["rpc"].(map[string]any)
			if p := fmt.Sprint(stats["rpc_panics"]); p != "0" {
				t.Errorf("%s: rpc_panics = %s, want 0 (stats %v)", s.Name, p, stats)
			}
		}
	})

	step(t, "a write and a read through the client answer within seconds", func(t *testing.T) {
		start := time.Now()
		waitFor(t, 10*time.Second, "a write and a read through the client", func() error {
			if _, err := rc.client.API.KV().Put(&api.KVPair{Key: "hostile/after", Value: []byte("still here")}, nil); err != nil {
				return fmt.Errorf("kv put: %w", err)
			}
			kv, _, err := rc.client.API.KV().Get("hostile/after", nil)
			if err != nil {
				return fmt.Errorf("kv get: %w", err)
			}
			if kv == nil || string(kv.Value) != "still here" {
				return fmt.Errorf("kv get: %v", kv)
			}
			if _, _, err := rc.client.API.Catalog().Nodes(nil); err != nil {
				return fmt.Errorf("catalog nodes: %w", err)
			}
			return nil
		})
		t.Logf("write and read answered after %s", time.Since(start).Round(time.Millisecond))
	})
}
