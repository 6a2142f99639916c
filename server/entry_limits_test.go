package server

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/hashicorp/serf/coordinate"

	"github.com/meridian-sd/meridian/rpc"
	"github.com/meridian-sd/meridian/structs"
)

// entrySize is the size raftApply sees for msg: the type byte and its
// msgpack encoding.
func entrySize(t testing.TB, typ structs.MessageType, msg any) int {
	t.Helper()
	var w countingWriter
	if err := codec.NewEncoder(&w, structs.NewMsgpackHandle()).Encode(msg); err != nil {
		t.Fatal(err)
	}
	return 1 + int(w)
}

// countingWriter counts what is written to it, so that the size of a
// large encoding is known without holding it.
type countingWriter int

func (w *countingWriter) Write(p []byte) (int, error) {
	*w += countingWriter(len(p))
	return len(p), nil
}

// padTo finds the filler length n for which build(n) encodes to exactly
// target bytes. msgpack's length headers grow at a few thresholds, so the
// size is linear in n only piecewise: a few rounds settle it.
func padTo(t testing.TB, typ structs.MessageType, target int, build func(n int) any) int {
	t.Helper()
	// Past 64 KiB the headers stop growing: start there, so that a large
	// target is reached in one step without encoding it.
	n := min(target/2, 1<<17)
	for range 5 {
		size := entrySize(t, typ, build(n))
		if size == target {
			return n
		}
		n += target - size
		if n < 0 {
			t.Fatalf("a %s entry is %d bytes without filler, over the target %d", typ, size-n, target)
		}
	}
	t.Fatalf("no filler makes a %s entry exactly %d bytes", typ, target)
	return 0
}

// largest names what TestLargestEntriesSurviveRestart writes.
const (
	bigNode    = "big-node"
	bigService = "big-svc"
	bigCheck   = "big-check"
	bigKey     = "big/kv"
)

// bigRegister is a registration of bigNode (or another node of the same
// length) whose node meta holds n filler bytes, already in the form
// validateRegister leaves it in, so that its encoding is the entry's.
func bigRegister(node string, n int) *structs.RegisterRequest {
	return &structs.RegisterRequest{
		Datacenter: "dc1", Node: node, Address: "10.1.2.3",
		NodeMeta: padMeta(n),
		Service:  &structs.NodeService{ID: bigService, Service: bigService, Tags: []string{"a", "b"}, Port: 8080},
		Check: &structs.HealthCheck{Node: node, CheckID: bigCheck, Name: bigCheck, Status: structs.HealthPassing,
			ServiceID: bigService, Output: "ok"},
	}
}

// padMeta is node meta holding n filler bytes, in values of at most
// 512 KiB (a request's fields are bounded, see structs.MaxTextLen).
func padMeta(n int) map[string]string {
	m := map[string]string{}
	for i := 0; n > 0; i++ {
		chunk := min(n, 512*1024)
		m[fmt.Sprintf("pad%03d", i)] = strings.Repeat("m", chunk)
		n -= chunk
	}
	return m
}

// bigSession is a session of bigNode whose name holds n filler bytes; its
// ID is a placeholder of a UUID's length, replaced by the server.
func bigSession(n int) *structs.SessionRequest {
	return &structs.SessionRequest{Datacenter: "dc1", Op: structs.SessionCreate, Session: structs.Session{
		ID:       strings.Repeat("0", 36),
		Name:     strings.Repeat("s", n),
		Node:     bigNode,
		Behavior: structs.SessionKeysRelease,
	}}
}

// largestView is what must come back after a restart.
type largestView struct {
	kv          []byte
	txnA, txnB  []byte
	nodeMeta    string
	checkOutput string
	session     string
	coordNode   string
}

func viewLargest(t testing.TB, s *Server, sessionID, coordNode string) largestView {
	t.Helper()
	st := s.fsm.State()
	var v largestView
	value := func(key string) []byte {
		_, e, err := st.KVSGet(nil, key)
		if err != nil || e == nil {
			t.Fatalf("key %s: %v, %v", key, e, err)
		}
		return e.Value
	}
	v.kv, v.txnA, v.txnB = value(bigKey), value("big/txn/a"), value("big/txn/b")
	_, n, err := st.GetNode(nil, bigNode)
	if err != nil || n == nil {
		t.Fatalf("node %s: %v, %v", bigNode, n, err)
	}
	keys := make([]string, 0, len(n.Meta))
	for k := range n.Meta {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v.nodeMeta += n.Meta[k]
	}
	_, checks, err := st.NodeChecks(nil, bigNode)
	if err != nil || len(checks) != 1 {
		t.Fatalf("checks of %s: %v, %v", bigNode, checks, err)
	}
	v.checkOutput = checks[0].Output
	_, sess, err := st.SessionGet(nil, sessionID)
	if err != nil || sess == nil {
		t.Fatalf("session %s: %v, %v", sessionID, sess, err)
	}
	v.session = sess.Name
	_, coords, err := st.Coordinate(nil, coordNode)
	if err != nil || len(coords) != 1 {
		t.Fatalf("coordinate of the long-named node: %v, %v", coords, err)
	}
	v.coordNode = coords[0].Node
	return v
}

func (v largestView) equal(o largestView) bool {
	return bytes.Equal(v.kv, o.kv) && bytes.Equal(v.txnA, o.txnA) && bytes.Equal(v.txnB, o.txnB) &&
		v.nodeMeta == o.nodeMeta && v.checkOutput == o.checkOutput && v.session == o.session && v.coordNode == o.coordNode
}

func (v largestView) String() string {
	return fmt.Sprintf("kv %d bytes, txn %d+%d bytes, node meta %d bytes, check output %q, session name %d bytes, coordinate of a %d-byte node name",
		len(v.kv), len(v.txnA), len(v.txnB), len(v.nodeMeta), v.checkOutput, len(v.session), len(v.coordNode))
}

// TestLargestEntriesSurviveRestart writes the largest entry each kind of
// write accepts (a KV value at kv_max_value_size, a transaction at
// txn_max_req_len, a catalog registration, a session and a coordinate
// update at their limits), sees one byte more of each refused, and brings
// the server back from its data dir twice: from the log, then from a
// snapshot alone. Everything written must come back.
func TestLargestEntriesSurviveRestart(t *testing.T) {
	cfg := testConfig(t, "dc1")
	cfg.Bootstrap = true
	s := startServer(t, cfg)
	waitForLeader(t, []*Server{s})
	kvMax, txnMax := s.config.KVMaxValueSize, max(s.config.TxnMaxReqLen, s.config.KVMaxValueSize)

	// KV: a value of exactly kv_max_value_size, and one byte more.
	var ok bool
	kvReq := func(key string, n int) *structs.KVSRequest {
		return &structs.KVSRequest{Datacenter: "dc1", Op: structs.KVSSet, DirEnt: structs.DirEntry{Key: key, Value: bytes.Repeat([]byte("k"), n)}}
	}
	if err := s.RPC("KVS.Apply", kvReq("big/kv-over", kvMax+1), &ok); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("KV value of %d bytes: %v, want it refused", kvMax+1, err)
	}
	if err := s.RPC("KVS.Apply", kvReq(bigKey, kvMax), &ok); err != nil || !ok {
		t.Fatalf("KV value of %d bytes: %v, %v", kvMax, ok, err)
	}

	// Transaction: values adding up to txn_max_req_len, and one byte more.
	txnReq := func(a, b int) *structs.TxnRequest {
		return &structs.TxnRequest{Datacenter: "dc1", Ops: structs.TxnOps{
			{KV: &structs.TxnKVOp{Verb: structs.KVSSet, DirEnt: structs.DirEntry{Key: "big/txn/a", Value: bytes.Repeat([]byte("a"), a)}}},
			{KV: &structs.TxnKVOp{Verb: structs.KVSSet, DirEnt: structs.DirEntry{Key: "big/txn/b", Value: bytes.Repeat([]byte("b"), b)}}},
		}}
	}
	var txnOut structs.TxnResponse
	if err := s.RPC("Txn.Apply", txnReq(txnMax/2, txnMax-txnMax/2+1), &txnOut); !structs.IsTooLarge(err) {
		t.Fatalf("transaction of %d bytes of values: %v %+v, want Request too large", txnMax+1, err, txnOut)
	}
	if _, e, _ := s.fsm.State().KVSGet(nil, "big/txn/a"); e != nil {
		t.Fatalf("a refused transaction wrote big/txn/a")
	}
	if err := s.RPC("Txn.Apply", txnReq(txnMax/2, txnMax-txnMax/2), &txnOut); err != nil || len(txnOut.Errors) > 0 {
		t.Fatalf("transaction of %d bytes of values: %v %+v", txnMax, err, txnOut.Errors)
	}

	// Catalog registration of exactly MaxRegisterSize, and one byte more
	// (for another node of the same name length, which must not appear).
	n := padTo(t, structs.RegisterRequestType, structs.MaxRegisterSize, func(n int) any { return bigRegister(bigNode, n) })
	var empty struct{}
	if err := s.RPC("Catalog.Register", bigRegister("big-nod2", n+1), &empty); !structs.IsTooLarge(err) {
		t.Fatalf("registration of %d bytes: %v, want Request too large", structs.MaxRegisterSize+1, err)
	}
	if _, node, _ := s.fsm.State().GetNode(nil, "big-nod2"); node != nil {
		t.Fatalf("a refused registration created its node")
	}
	if err := s.RPC("Catalog.Register", bigRegister(bigNode, n), &empty); err != nil {
		t.Fatalf("registration of %d bytes: %v", structs.MaxRegisterSize, err)
	}

	// Session of exactly MaxSessionSize, and one byte more.
	n = padTo(t, structs.SessionRequestType, structs.MaxSessionSize, func(n int) any { return bigSession(n) })
	var sessionID string
	if err := s.RPC("Session.Apply", bigSession(n+1), &sessionID); !structs.IsTooLarge(err) {
		t.Fatalf("session of %d bytes: %v, want Request too large", structs.MaxSessionSize+1, err)
	}
	if err := s.RPC("Session.Apply", bigSession(n), &sessionID); err != nil {
		t.Fatalf("session of %d bytes: %v", structs.MaxSessionSize, err)
	}

	// Coordinate update of exactly MaxCoordinateSize (a long node name),
	// and one byte more. The node must be in the catalog for the leader's
	// batch to keep its coordinate.
	coord := coordinate.NewCoordinate(coordinate.DefaultConfig())
	coordOf := func(n int) *structs.Coordinate {
		return &structs.Coordinate{Node: strings.Repeat("c", n), Coord: coord}
	}
	n = padTo(t, structs.CoordinateBatchUpdateType, structs.MaxCoordinateSize, func(n int) any { return coordOf(n) })
	coordNode := coordOf(n).Node
	if err := s.RPC("Catalog.Register", &structs.RegisterRequest{Datacenter: "dc1", Node: coordNode, Address: "10.1.2.4"}, &empty); err != nil {
		t.Fatal(err)
	}
	update := func(node string) error {
		return s.RPC("Coordinate.Update", &structs.CoordinateUpdateRequest{Datacenter: "dc1", Node: node, Coord: coord}, &empty)
	}
	if err := update(coordNode + "c"); !structs.IsTooLarge(err) {
		t.Fatalf("coordinate update of %d bytes: %v, want Request too large", structs.MaxCoordinateSize+1, err)
	}
	if err := update(coordNode); err != nil {
		t.Fatalf("coordinate update of %d bytes: %v", structs.MaxCoordinateSize, err)
	}
	waitFor(t, "the leader to write the coordinate", 5*time.Second, func() error {
		_, coords, err := s.fsm.State().Coordinate(nil, coordNode)
		if err != nil || len(coords) != 1 {
			return fmt.Errorf("%d coordinates, %v", len(coords), err)
		}
		return nil
	})

	want := viewLargest(t, s, sessionID, coordNode)
	if len(want.kv) != kvMax || len(want.txnA)+len(want.txnB) != txnMax {
		t.Fatalf("written: %v", want)
	}
	t.Logf("written: %v", want)

	// Restart from the log.
	id := identityOf(s)
	id.tweak = func(c *Config) {
		// The snapshot below then leaves no log behind it, so that the
		// last restart can only come back through Restore.
		c.RaftConfig.TrailingLogs = 0
	}
	s.Shutdown()
	start := time.Now()
	r := startServer(t, restartConfig(t, id))
	waitForLeader(t, []*Server{r})
	waitFor(t, "the log to be applied again", 10*time.Second, func() error { return r.waitReady() })
	t.Logf("restart from the log: leader with its state after %s", time.Since(start).Round(time.Millisecond))
	if got := viewLargest(t, r, sessionID, coordNode); !got.equal(want) {
		t.Fatalf("after a restart from the log: %v\nwant %v", got, want)
	}

	// Restart from a snapshot alone.
	if err := r.raft.Snapshot().Error(); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	r.Shutdown()
	start = time.Now()
	r = startServer(t, restartConfig(t, id))
	waitForLeader(t, []*Server{r})
	waitFor(t, "the state to be restored", 10*time.Second, func() error { return r.waitReady() })
	t.Logf("restart from the snapshot: leader with its state after %s", time.Since(start).Round(time.Millisecond))
	if n, _ := strconv.Atoi(r.raft.Stats()["last_snapshot_index"]); n == 0 {
		t.Fatalf("restarted server has no snapshot: %v", r.raft.Stats())
	}
	if got := viewLargest(t, r, sessionID, coordNode); !got.equal(want) {
		t.Fatalf("after a restart from the snapshot: %v\nwant %v", got, want)
	}
}

// TestRaftApplyBound: an entry of structs.MaxRaftEntrySize plus one byte
// is refused before it reaches the log. (That the log store reads an entry
// of exactly the limit back is TestLogStoreHoldsLargestEntry; a whole
// server restarted on such an entry costs minutes under the race
// detector.)
func TestRaftApplyBound(t *testing.T) {
	s := startCluster(t, "dc1", 1)[0]
	req := func(n int) *structs.KVSRequest {
		return &structs.KVSRequest{Datacenter: "dc1", Op: structs.KVSSet, DirEnt: structs.DirEntry{Key: "huge", Value: bytes.Repeat([]byte("h"), n)}}
	}
	n := padTo(t, structs.KVSRequestType, structs.MaxRaftEntrySize, func(n int) any { return req(n) })
	before := s.raft.LastIndex()
	if _, err := s.raftApply(structs.KVSRequestType, req(n+1)); !structs.IsTooLarge(err) {
		t.Fatalf("entry of %d bytes: %v, want Request too large", structs.MaxRaftEntrySize+1, err)
	}
	if after := s.raft.LastIndex(); after != before {
		t.Fatalf("a refused entry reached the log: last index %d -> %d", before, after)
	}
	// A small write still goes through.
	kvApply(t, s, structs.KVSSet, "after", "v")
}

// TestOversizedRegisterOverRPC is the regression test of a 64 MiB
// Catalog.Register sent to the server port: it used to be committed, and
// the data dir then failed to start ("frame header indicates a record
// larger than MaxEntrySize"). It is refused with Request too large, the
// server goes on serving writes, and it restarts from its data dir.
func TestOversizedRegisterOverRPC(t *testing.T) {
	s := startCluster(t, "dc1", 1)[0]
	pc := rpc.DefaultConnPoolConfig()
	pool, err := rpc.NewConnPool(pc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Shutdown() })

	// 64 MiB of node meta, in 64 KiB values: one 64 MiB string would cost
	// the server's RPC decoder (msgpack grows a long string 256 KiB at a
	// time, copying it each time) more time than the race detector allows
	// a test; the bound under test is the same.
	meta := make(map[string]string, 1024)
	value := strings.Repeat("x", 64<<10)
	for i := range 1024 {
		meta[fmt.Sprintf("k%04d", i)] = value
	}
	huge := &structs.RegisterRequest{Datacenter: "dc1", Node: "huge-node", Address: "10.9.9.9", NodeMeta: meta}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var empty struct{}
	err = pool.RPC(ctx, "dc1", s.RPCAddr(), "Catalog.Register", huge, &empty)
	if !structs.IsTooLarge(err) {
		t.Fatalf("64 MiB registration over RPC: %v, want Request too large", err)
	}
	huge, meta = nil, nil

	// The server keeps working, on the same connection pool.
	small := &structs.KVSRequest{Datacenter: "dc1", Op: structs.KVSSet, DirEnt: structs.DirEntry{Key: "after", Value: []byte("v")}}
	var ok bool
	if err := pool.RPC(ctx, "dc1", s.RPCAddr(), "KVS.Apply", small, &ok); err != nil || !ok {
		t.Fatalf("write after the refusal: %v, %v", ok, err)
	}

	id := identityOf(s)
	s.Shutdown()
	r := startServer(t, restartConfig(t, id))
	waitForLeader(t, []*Server{r})
	waitFor(t, "the log to be applied again", 10*time.Second, func() error { return r.waitReady() })
	if _, node, _ := r.fsm.State().GetNode(nil, "huge-node"); node != nil {
		t.Fatalf("the refused registration is in the catalog after the restart")
	}
	if _, e, _ := r.fsm.State().KVSGet(nil, "after"); e == nil || string(e.Value) != "v" {
		t.Fatalf("the write after the refusal is lost after the restart: %v", e)
	}
}
