package server

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/meridian-sd/meridian/rpc"
	"github.com/meridian-sd/meridian/structs"
)

// waitBlocking waits until the servers have want blocking queries waiting
// in all. The sum, not one server's count, so that a leader change on a
// loaded machine (the query then waits on the new leader) does not matter.
func waitBlocking(t *testing.T, servers []*Server, want int64, within time.Duration) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d blocking queries", want), within, func() error {
		var n int64
		for _, s := range servers {
			n += s.blockingQueries.Load()
		}
		if n != want {
			return fmt.Errorf("%d blocking queries", n)
		}
		return nil
	})
}

// blockingGet is a KV read that would wait five minutes for a change that
// never comes.
func blockingGet(opts structs.QueryOptions) *structs.KeyRequest {
	opts.MinQueryIndex = 1 << 40
	opts.MaxQueryTime = 5 * time.Minute
	return &structs.KeyRequest{Datacenter: "dc1", Key: "never/written", QueryOptions: opts}
}

// TestBlockingQueryEndsWhenCallerHangsUp checks that a blocking query on
// the server ends as soon as the stream or connection it came on closes,
// instead of holding its goroutine and stream for the whole wait: on a
// plain connection, on a multiplexed stream of the connection pool whose
// call is cancelled, and through a follower that forwarded it to the
// leader.
func TestBlockingQueryEndsWhenCallerHangsUp(t *testing.T) {
	servers := startCluster(t, "dc1", 3)
	leader := waitForLeader(t, servers)
	var follower *Server
	for _, s := range servers {
		if s != leader {
			follower = s
			break
		}
	}

	t.Run("plain connection closed", func(t *testing.T) {
		c := dialForeign(t, leader)
		call := c.client.Go("KVS.Get", blockingGet(structs.QueryOptions{}), &structs.IndexedDirEntries{}, nil)
		waitBlocking(t, servers, 1, 10*time.Second)
		if got := leader.Stats()["rpc"]["blocking_queries"]; got != "1" {
			t.Errorf("Stats blocking_queries = %s, want 1", got)
		}
		c.conn.Close()
		waitBlocking(t, servers, 0, 5*time.Second)
		<-call.Done
	})

	pc := rpc.DefaultConnPoolConfig()
	pc.Logger = leader.logger.Named("test-pool")
	pool, err := rpc.NewConnPool(pc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Shutdown() })

	run := func(t *testing.T, target *Server, args *structs.KeyRequest) {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- pool.RPC(ctx, "dc1", target.RPCAddr(), "KVS.Get", args, &structs.IndexedDirEntries{})
		}()
		waitBlocking(t, servers, 1, 10*time.Second)
		cancel()
		waitBlocking(t, servers, 0, 5*time.Second)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("the cancelled call did not return")
		}
		// The session is still good for the next call.
		if err := pool.Ping(context.Background(), "dc1", target.RPCAddr()); err != nil {
			t.Fatalf("ping after the cancelled call: %v", err)
		}
	}
	t.Run("pool stream cancelled", func(t *testing.T) {
		run(t, leader, blockingGet(structs.QueryOptions{}))
	})
	t.Run("forwarded to the leader", func(t *testing.T) {
		// A default read sent to a follower is answered by the leader:
		// the query waits there, and must end there.
		run(t, follower, blockingGet(structs.QueryOptions{}))
	})
	t.Run("stale read on a follower", func(t *testing.T) {
		run(t, follower, blockingGet(structs.QueryOptions{AllowStale: true}))
	})
}
