package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/meridian-sd/meridian/client"
	"github.com/meridian-sd/meridian/rpc"
)

// TestAbandonedBlockingQueriesFreeClientStreams: blocking queries sent
// through a client agent whose HTTP clients hang up leave the client's RPC
// pool at once (the request's context reaches the pool, which closes the
// stream), so that their streams are freed and a new request answers at
// once, even with more abandoned queries than the pool has streams.
func TestAbandonedBlockingQueriesFreeClientStreams(t *testing.T) {
	const (
		maxStreams = 64
		queries    = 3 * maxStreams
	)
	srv := startKVServer(t)
	cl := startTestAgent(t, func(o *Options) {
		o.ClientConfig = func(cc *client.Config) {
			cc.PoolConfig = func(pc *rpc.ConnPoolConfig) {
				pc.MaxStreams = maxStreams
				pc.StreamCloseTimeout = 300 * time.Millisecond
			}
		}
	})
	if err := cl.Client.Agent().Join(srv.LANAddr(), false); err != nil {
		t.Fatal(err)
	}
	mustPut(t, cl.Client.KV(), "blocked", "v")
	_, meta, err := cl.Client.KV().Get("blocked", nil)
	if err != nil {
		t.Fatal(err)
	}
	pool := cl.client
	url := fmt.Sprintf("http://%s/v1/kv/blocked?index=%d&wait=5m", cl.HTTPAddr, meta.LastIndex)

	// Many blocking queries, each on its own connection, then every
	// client hangs up.
	ctx, hangUp := context.WithCancel(context.Background())
	defer hangUp()
	hc := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 0, DisableKeepAlives: true}}
	defer hc.CloseIdleConnections()
	var wg sync.WaitGroup
	errs := make(chan error, queries)
	for range queries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
			if err != nil {
				errs <- err
				return
			}
			resp, err := hc.Do(req)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				err = fmt.Errorf("blocking query answered %d before the hang-up", resp.StatusCode)
			}
			if !errors.Is(err, context.Canceled) {
				errs <- err
			}
		}()
	}
	WaitFor(t, "the pool's streams all taken by blocking queries", 15*time.Second, func() error {
		if n := pool.Stats()["rpc_pool"]["in_flight"]; n != strconv.Itoa(maxStreams) {
			return fmt.Errorf("%s calls in flight", n)
		}
		return nil
	})
	hangUp()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("blocking query: %v", err)
	}

	WaitFor(t, "the abandoned calls out of the pool", 5*time.Second, func() error {
		// The pool may keep idle streams of finished calls for the next
		// ones (rpc.ConnPoolConfig.MaxIdleStreams); an abandoned call's
		// stream is closed, never kept, so every stream left is idle.
		st := pool.Stats()["rpc_pool"]
		if st["in_flight"] != "0" || st["streams"] != st["idle_streams"] {
			return fmt.Errorf("pool stats %v", st)
		}
		return nil
	})
	start := time.Now()
	mustPut(t, cl.Client.KV(), "after", "w")
	if p := mustGet(t, cl.Client.KV(), "after"); p == nil || string(p.Value) != "w" {
		t.Fatalf("read after the abandoned queries: %v", p)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("a write and a read after the abandoned queries took %s", took)
	}
}
