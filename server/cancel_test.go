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
// A call that ends before (done yields its error) fails the test at once.
func waitBlocking(t *testing.T, servers []*Server, want int64, within time.Duration, done <-chan error) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d blocking queries", want), within, func() error {
		select {
		case err := <-done:
			t.Fatalf("the blocking call ended early: %v", err)
		default:
		}
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

// blockingStarted waits up to 10s until one blocking query waits on the
// servers, and returns the call's error if it ends first.
func blockingStarted(t *testing.T, servers []*Server, done <-chan error) error {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			return fmt.Errorf("ended before blocking: %w", err)
		case <-time.After(20 * time.Millisecond):
		}
		var n int64
		for _, s := range servers {
			n += s.blockingQueries.Load()
		}
		if n == 1 {
			return nil
		}
	}
	t.Fatal("no blocking query started within 10s")
	return nil
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
		call := c.client.Go("KVS.Get", blockingGet(structs.QueryOptions{AllowStale: true}), &structs.IndexedDirEntries{}, nil)
		early := make(chan error, 1)
		go func() {
			<-call.Done
			early <- call.Error
		}()
		waitBlocking(t, servers, 1, 10*time.Second, early)
		if got := leader.Stats()["rpc"]["blocking_queries"]; got != "1" {
			t.Errorf("Stats blocking_queries = %s, want 1", got)
		}
		c.conn.Close()
		waitBlocking(t, servers, 0, 5*time.Second, nil)
		<-early
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
		// On a loaded machine an election can leave a default read
		// without a leader for the hold time: such a call ends early with
		// "No cluster leader" and is tried again.
		for attempt := 1; ; attempt++ {
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				done <- pool.RPC(ctx, "dc1", target.RPCAddr(), "KVS.Get", args, &structs.IndexedDirEntries{})
			}()
			err := blockingStarted(t, servers, done)
			if err != nil {
				cancel()
				if structs.IsErr(err, structs.ErrNoLeader) && attempt < 5 {
					t.Logf("attempt %d: %v", attempt, err)
					waitForLeader(t, servers)
					continue
				}
				t.Fatalf("the blocking call ended early: %v", err)
			}
			cancel()
			waitBlocking(t, servers, 0, 5*time.Second, nil)
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("the cancelled call did not return")
			}
			break
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
