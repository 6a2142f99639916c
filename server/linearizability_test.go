package server

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/meridian-sd/meridian/structs"
)

// Linearizability of the KV store under server restarts
//
// Several clients run reads (?consistent), writes, compare-and-sets and
// deletes on a few keys of a 3-server cluster, each through a random live
// server, while a nemesis shuts servers down (the leader half of the time)
// and brings them back on the same data dir and ports. Every operation is
// recorded with its call and return times and the history is checked with
// porcupine against a sequential model of one register per key.
//
// Writes are unique values, so a value identifies the write (and thus the
// ModifyIndex) that produced it: a CAS at the index a read returned is
// modelled as "succeeds iff the key still holds the value that read saw".
// A write that fails may still have been committed (the leader may have
// died after replicating it), so a failed write, CAS or delete is recorded
// as having an unknown outcome that may take effect at any time after its
// call: its return time is past the end of the history. A failed read has
// no effect and is left out.

type linKind int

const (
	linGet linKind = iota
	linPut
	linCAS
	linDelete
)

type linInput struct {
	kind   linKind
	key    string
	value  string // put and cas: the value written
	expect linState
}

type linOutput struct {
	got     linState // get
	ok      bool     // cas: whether it succeeded
	unknown bool     // a write whose outcome is not known
}

// linState is one key: its value, or absent.
type linState struct {
	value  string
	exists bool
}

func (s linState) String() string {
	if !s.exists {
		return "<absent>"
	}
	return s.value
}

func linModel() porcupine.Model {
	return porcupine.Model{
		Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
			byKey := map[string][]porcupine.Operation{}
			var keys []string
			for _, op := range history {
				k := op.Input.(linInput).key
				if _, ok := byKey[k]; !ok {
					keys = append(keys, k)
				}
				byKey[k] = append(byKey[k], op)
			}
			out := make([][]porcupine.Operation, 0, len(keys))
			for _, k := range keys {
				out = append(out, byKey[k])
			}
			return out
		},
		Init: func() any { return linState{} },
		Step: func(state, input, output any) (bool, any) {
			st, in, out := state.(linState), input.(linInput), output.(linOutput)
			switch in.kind {
			case linGet:
				return out.got == st, st
			case linPut:
				return true, linState{value: in.value, exists: true}
			case linDelete:
				return true, linState{}
			case linCAS:
				match := st == in.expect
				if !out.unknown && out.ok != match {
					return false, st
				}
				if match {
					return true, linState{value: in.value, exists: true}
				}
				return true, st
			}
			return false, st
		},
		DescribeOperation: func(input, output any) string {
			in, out := input.(linInput), output.(linOutput)
			res := ""
			switch {
			case out.unknown:
				res = "?"
			case in.kind == linCAS:
				res = fmt.Sprint(out.ok)
			}
			switch in.kind {
			case linGet:
				return fmt.Sprintf("get(%s) -> %s", in.key, out.got)
			case linPut:
				return fmt.Sprintf("put(%s, %s) %s", in.key, in.value, res)
			case linDelete:
				return fmt.Sprintf("delete(%s) %s", in.key, res)
			default:
				return fmt.Sprintf("cas(%s, %s -> %s) -> %s", in.key, in.expect, in.value, res)
			}
		},
		DescribeState: func(state any) string { return state.(linState).String() },
	}
}

// linCluster is a 3-server cluster whose servers come and go.
type linCluster struct {
	t       *testing.T
	mu      sync.Mutex
	servers []*Server // nil while down
}

func (c *linCluster) pick(r *rand.Rand) *Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	var up []*Server
	for _, s := range c.servers {
		if s != nil {
			up = append(up, s)
		}
	}
	if len(up) == 0 {
		return nil
	}
	return up[r.IntN(len(up))]
}

func (c *linCluster) set(i int, s *Server) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.servers[i] = s
}

func (c *linCluster) get(i int) *Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.servers[i]
}

// linRecorder collects the history.
type linRecorder struct {
	start time.Time
	mu    sync.Mutex
	ops   []porcupine.Operation
	stats map[string]int
}

func (r *linRecorder) now() int64 { return int64(time.Since(r.start)) }

func (r *linRecorder) add(client int, in linInput, out linOutput, call, ret int64, stat string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ops = append(r.ops, porcupine.Operation{ClientId: client, Input: in, Output: out, Call: call, Return: ret})
	r.stats[stat]++
}

func (r *linRecorder) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ops)
}

func TestKVLinearizableUnderRestarts(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 20 seconds")
	}
	const (
		// Eight keys and a paced workload keep each key's history to a few
		// hundred operations: with the handful of unknown outcomes that
		// restarts cause, the check then ends in seconds. 12,000
		// operations over four keys once ran into the checker's timeout.
		numKeys    = 8
		numClients = 6
		runFor     = 15 * time.Second
		maxOps     = 6000
	)
	servers := startCluster(t, "dc1", 3)
	c := &linCluster{t: t, servers: servers}
	rec := &linRecorder{start: time.Now(), stats: map[string]int{}}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)

	ctx, cancel := context.WithTimeout(context.Background(), runFor)
	defer cancel()
	var wg sync.WaitGroup
	for i := 0; i < numClients; i++ {
		wg.Add(1)
		go func(client int) {
			defer wg.Done()
			linClient(ctx, c, rec, client, rand.New(rand.NewPCG(seed, uint64(client))), numKeys, maxOps)
		}(i)
	}
	restarts := linNemesis(ctx, t, c, rand.New(rand.NewPCG(seed, 1<<32)))
	wg.Wait()

	rec.mu.Lock()
	history := rec.ops
	stats := rec.stats
	rec.mu.Unlock()
	// An operation with an unknown outcome may take effect any time after
	// its call, so it "returns" after everything else.
	end := rec.now() + int64(time.Hour)
	for i := range history {
		if history[i].Output.(linOutput).unknown {
			history[i].Return = end
		}
	}
	t.Logf("%d operations, %d restarts: %v", len(history), restarts, stats)
	if restarts < 2 || stats["get"] < 100 || stats["put"] < 50 || stats["cas-ok"] < 10 {
		t.Fatalf("too little happened to judge: %d restarts, %v", restarts, stats)
	}

	model := linModel()
	res, info := porcupine.CheckOperationsVerbose(model, history, 90*time.Second)
	switch res {
	case porcupine.Ok:
	case porcupine.Illegal:
		f, err := os.CreateTemp("", "kv-linearizability-*.html")
		if err == nil {
			if verr := porcupine.Visualize(model, info, f); verr != nil {
				t.Logf("visualize: %v", verr)
			}
			f.Close()
			t.Logf("visualization of the history: %s", f.Name())
		}
		t.Fatal("the KV history is not linearizable")
	default:
		t.Fatalf("the linearizability check did not finish: %s", res)
	}
}

// linClient runs operations until ctx ends or the history is full.
func linClient(ctx context.Context, c *linCluster, rec *linRecorder, client int, r *rand.Rand, numKeys, maxOps int) {
	seq := 0
	for ctx.Err() == nil && rec.len() < maxOps {
		// Pace the client so the history spans the whole nemesis run.
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Duration(r.IntN(10)) * time.Millisecond):
		}
		s := c.pick(r)
		if s == nil {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		key := fmt.Sprintf("lin/%d", r.IntN(numKeys))
		seq++
		value := fmt.Sprintf("c%d-%d", client, seq)
		switch p := r.IntN(100); {
		case p < 40:
			linRead(s, rec, client, key)
		case p < 65:
			in := linInput{kind: linPut, key: key, value: value}
			linWrite(s, rec, client, in, &structs.KVSRequest{Datacenter: "dc1", Op: structs.KVSSet,
				DirEnt: structs.DirEntry{Key: key, Value: []byte(value)}})
		case p < 95:
			// Read, then compare-and-set at the index that read saw.
			got, idx, ok := linRead(s, rec, client, key)
			if !ok {
				continue
			}
			in := linInput{kind: linCAS, key: key, value: value, expect: got}
			linWrite(s, rec, client, in, &structs.KVSRequest{Datacenter: "dc1", Op: structs.KVSCAS,
				DirEnt: structs.DirEntry{Key: key, Value: []byte(value), ModifyIndex: idx}})
		default:
			in := linInput{kind: linDelete, key: key}
			linWrite(s, rec, client, in, &structs.KVSRequest{Datacenter: "dc1", Op: structs.KVSDelete,
				DirEnt: structs.DirEntry{Key: key}})
		}
	}
}

// linRead does a ?consistent read and records it if it succeeded.
func linRead(s *Server, rec *linRecorder, client int, key string) (linState, uint64, bool) {
	args := &structs.KeyRequest{Datacenter: "dc1", Key: key, QueryOptions: structs.QueryOptions{RequireConsistent: true}}
	var out structs.IndexedDirEntries
	call := rec.now()
	err := s.RPC("KVS.Get", args, &out)
	ret := rec.now()
	if err != nil {
		return linState{}, 0, false
	}
	var st linState
	var idx uint64
	if len(out.Entries) > 0 {
		st = linState{value: string(out.Entries[0].Value), exists: true}
		idx = out.Entries[0].ModifyIndex
	}
	rec.add(client, linInput{kind: linGet, key: key}, linOutput{got: st}, call, ret, "get")
	return st, idx, true
}

// linWrite applies a write; a failure is recorded as an unknown outcome.
func linWrite(s *Server, rec *linRecorder, client int, in linInput, args *structs.KVSRequest) {
	var ok bool
	call := rec.now()
	err := s.RPC("KVS.Apply", args, &ok)
	ret := rec.now()
	out := linOutput{ok: ok}
	stat := map[linKind]string{linPut: "put", linCAS: "cas", linDelete: "delete"}[in.kind]
	switch {
	case err != nil:
		out.unknown = true
		stat += "-unknown"
	case in.kind == linCAS && ok:
		stat += "-ok"
	}
	rec.add(client, in, out, call, ret, stat)
}

// linNemesis shuts a server down (the leader half of the time) every
// second or two, brings it back on its data dir and ports, and waits for
// it to catch up before the next one, so that a quorum is always up.
func linNemesis(ctx context.Context, t *testing.T, c *linCluster, r *rand.Rand) int {
	restarts := 0
	sleep := func(d time.Duration) bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(d):
			return true
		}
	}
	for sleep(time.Second + time.Duration(r.IntN(1000))*time.Millisecond) {
		victim := r.IntN(3)
		if r.IntN(2) == 0 {
			for i := 0; i < 3; i++ {
				if s := c.get(i); s != nil && s.IsLeader() {
					victim = i
				}
			}
		}
		old := c.get(victim)
		id := identityOf(old)
		c.set(victim, nil)
		old.Shutdown()
		time.Sleep(time.Duration(200+r.IntN(600)) * time.Millisecond)

		s, err := NewServer(restartConfig(t, id))
		if err != nil {
			t.Errorf("restart %s: %v", id.name, err)
			return restarts
		}
		t.Cleanup(func() { s.Shutdown() })
		restarts++
		var peers []string
		for i := 0; i < 3; i++ {
			if o := c.get(i); o != nil {
				peers = append(peers, lanAddr(o))
			}
		}
		if _, err := s.JoinLAN(peers); err != nil {
			t.Logf("rejoin %s: %v", id.name, err)
		}
		c.set(victim, s)
		// Caught up: it knows a leader and has applied what the leader had
		// committed when we looked.
		deadline := time.Now().Add(15 * time.Second)
		for time.Now().Before(deadline) {
			var leader *Server
			for i := 0; i < 3; i++ {
				if o := c.get(i); o != nil && o.IsLeader() {
					leader = o
				}
			}
			if leader != nil && s.raft.Leader() != "" && s.raft.AppliedIndex() >= leader.raft.CommitIndex() {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return restarts
}
