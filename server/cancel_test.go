package server

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/meridian-sd/meridian/rpc"
	"github.com/meridian-sd/meridian/structs"
)

// waitBlocking waits until s has want blocking queries waiting.
func waitBlocking(t *testing.T, s *Server, want string, within time.Duration) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%s blocking queries on %s", want, s.NodeName()), within, func() error {
		if got := s.Stats()["rpc"]["blocking_queries"]; got != want {
			return fmt.Errorf("blocking_queries = %s", got)
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
		waitBlocking(t, leader, "1", 10*time.Second)
		c.conn.Close()
		waitBlocking(t, leader, "0", 5*time.Second)
		<-call.Done
	})

	pc := rpc.DefaultConnPoolConfig()
	pc.Logger = leader.logger.Named("test-pool")
	pool, err := rpc.NewConnPool(pc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Shutdown() })

	run := func(t *testing.T, target *Server, args *structs.KeyRequest, watch *Server) {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- pool.RPC(ctx, "dc1", target.RPCAddr(), "KVS.Get", args, &structs.IndexedDirEntries{})
		}()
		waitBlocking(t, watch, "1", 10*time.Second)
		cancel()
		waitBlocking(t, watch, "0", 5*time.Second)
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
		run(t, leader, blockingGet(structs.QueryOptions{}), leader)
	})
	t.Run("forwarded to the leader", func(t *testing.T) {
		// A default read sent to a follower is answered by the leader:
		// the query waits there, and must end there.
		run(t, follower, blockingGet(structs.QueryOptions{}), leader)
		waitBlocking(t, follower, "0", 5*time.Second)
	})
	t.Run("stale read on a follower", func(t *testing.T) {
		run(t, follower, blockingGet(structs.QueryOptions{AllowStale: true}), follower)
	})
}
