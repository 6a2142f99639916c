package agent

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// TestCachedReadsOnClient drives ?cached through the official client on a
// client agent: a miss then hits, answers that follow changes by the
// background refresh, a blocking read on the cache, and answers that
// outlive the servers.
func TestCachedReadsOnClient(t *testing.T) {
	srv := startKVServer(t)
	cl := StartTestAgent(t)
	if err := cl.Client.Agent().Join(srv.LANAddr(), false); err != nil {
		t.Fatal(err)
	}
	waitForNode(t, srv.Client, cl.Name)
	register := func(id string) {
		t.Helper()
		reg := &api.CatalogRegistration{
			Node: "ext", Address: "10.0.0.9",
			Service: &api.AgentService{ID: id, Service: "web", Port: 80, Tags: []string{"v1"}},
		}
		if _, err := srv.Client.Catalog().Register(reg, nil); err != nil {
			t.Fatal(err)
		}
	}
	register("web1")
	cached := &api.QueryOptions{UseCache: true}

	t.Run("miss then hit", func(t *testing.T) {
		nodes, meta, err := cl.Client.Health().Service("web", "", false, cached)
		if err != nil {
			t.Fatal(err)
		}
		if meta.CacheHit || len(nodes) != 1 || nodes[0].Service.ID != "web1" {
			t.Fatalf("first cached read: hit %v, %d nodes; want a miss with web1", meta.CacheHit, len(nodes))
		}
		nodes, meta2, err := cl.Client.Health().Service("web", "", false, cached)
		if err != nil {
			t.Fatal(err)
		}
		if !meta2.CacheHit || meta2.CacheAge != 0 || len(nodes) != 1 || meta2.LastIndex != meta.LastIndex {
			t.Fatalf("second cached read: hit %v age %s index %d (first %d), %d nodes; want a hit, age 0, same index",
				meta2.CacheHit, meta2.CacheAge, meta2.LastIndex, meta.LastIndex, len(nodes))
		}
		svcs, smeta, err := cl.Client.Catalog().Services(cached)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := svcs["web"]; !ok || smeta.CacheHit {
			t.Fatalf("catalog services: %v, hit %v; want web, a miss", svcs, smeta.CacheHit)
		}
		if _, smeta, err = cl.Client.Catalog().Services(cached); err != nil || !smeta.CacheHit {
			t.Fatalf("catalog services again: hit %v, %v; want a hit", smeta.CacheHit, err)
		}
		// A different read (a tag filter) is an entry of its own.
		_, tmeta, err := cl.Client.Catalog().Service("web", "v1", cached)
		if err != nil || tmeta.CacheHit {
			t.Fatalf("catalog service with a tag: hit %v, %v; want a miss", tmeta.CacheHit, err)
		}
		// Without ?cached nothing says cache.
		_, umeta, err := cl.Client.Health().Service("web", "", false, nil)
		if err != nil || umeta.CacheHit {
			t.Fatalf("uncached read: hit %v, %v", umeta.CacheHit, err)
		}
	})

	t.Run("refresh follows changes and wakes blocking reads", func(t *testing.T) {
		_, meta, err := cl.Client.Health().Service("web", "", false, cached)
		if err != nil {
			t.Fatal(err)
		}
		type answer struct {
			n    int
			meta *api.QueryMeta
			err  error
		}
		woke := make(chan answer, 1)
		go func() {
			opts := &api.QueryOptions{UseCache: true, WaitIndex: meta.LastIndex, WaitTime: 20 * time.Second}
			nodes, m, err := cl.Client.Health().Service("web", "", false, opts)
			woke <- answer{len(nodes), m, err}
		}()
		register("web2")
		select {
		case a := <-woke:
			if a.err != nil {
				t.Fatal(a.err)
			}
			if a.n != 2 || !a.meta.CacheHit || a.meta.LastIndex <= meta.LastIndex {
				t.Fatalf("blocking cached read woke with %d nodes, hit %v, index %d (was %d); want 2, a hit, a newer index",
					a.n, a.meta.CacheHit, a.meta.LastIndex, meta.LastIndex)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("the blocking cached read did not wake on a new instance")
		}
		// A plain cached read sees it too, still a hit.
		nodes, m, err := cl.Client.Health().Service("web", "", false, cached)
		if err != nil || len(nodes) != 2 || !m.CacheHit {
			t.Fatalf("cached read after the change: %d nodes, hit %v, %v", len(nodes), m.CacheHit, err)
		}
	})

	t.Run("bad requests", func(t *testing.T) {
		for _, tc := range []struct {
			query, cacheControl, want string
		}{
			{"?cached&consistent", "", "Cannot specify ?cached with ?consistent"},
			{"?cached", "max-age=soon", "Cache-Control: max-age must be a whole number of seconds"},
		} {
			req, err := http.NewRequest("GET", "http://"+cl.HTTPAddr+"/v1/health/service/web"+tc.query, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.cacheControl != "" {
				req.Header.Set("Cache-Control", tc.cacheControl)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			body := string(b)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, tc.want) {
				t.Errorf("%s (Cache-Control %q): %d %q; want 400 %q", tc.query, tc.cacheControl, resp.StatusCode, body, tc.want)
			}
		}
	})

	t.Run("answers outlive the servers", func(t *testing.T) {
		srv.Shutdown()
		if _, _, err := cl.Client.Health().Service("web", "", false, nil); err == nil {
			// The client may not have noticed yet; the uncached read must
			// fail once it has.
			WaitFor(t, "uncached reads to fail", 15*time.Second, func() error {
				if _, _, err := cl.Client.Health().Service("web", "", false, nil); err == nil {
					return fmt.Errorf("uncached read still succeeds")
				}
				return nil
			})
		}
		WaitFor(t, "a cached answer with an age", 20*time.Second, func() error {
			nodes, m, err := cl.Client.Health().Service("web", "", false, cached)
			if err != nil {
				return fmt.Errorf("cached read: %v", err)
			}
			if len(nodes) != 2 || !m.CacheHit {
				return fmt.Errorf("cached read: %d nodes, hit %v; want the 2 known, a hit", len(nodes), m.CacheHit)
			}
			if m.CacheAge < time.Second {
				return fmt.Errorf("age %s", m.CacheAge)
			}
			return nil
		})
		// max-age shorter than the age makes the agent try the servers,
		// which fail; stale-if-error lets the old answer through.
		opts := &api.QueryOptions{UseCache: true, MaxAge: time.Second, StaleIfError: time.Hour}
		if _, m, err := cl.Client.Health().Service("web", "", false, opts); err != nil || !m.CacheHit {
			t.Fatalf("cached read with max-age and stale-if-error: hit %v, %v; want the old answer", m != nil && m.CacheHit, err)
		}
		if _, _, err := cl.Client.Health().Service("web", "", false, &api.QueryOptions{UseCache: true, MaxAge: time.Second}); err == nil {
			t.Fatal("cached read with a max-age the answer exceeds succeeded with the servers down")
		}
	})
}

// TestCachedPreparedQueryExecute: prepared query execution is a simple
// cache entry, as in Consul: it is served as cached until the caller's
// max-age says it is too old.
func TestCachedPreparedQueryExecute(t *testing.T) {
	a := startKVServer(t)
	register := func(node string) {
		t.Helper()
		reg := &api.CatalogRegistration{
			Node: node, Address: "10.0.0.1",
			Service: &api.AgentService{ID: "db", Service: "db", Port: 5432},
		}
		if _, err := a.Client.Catalog().Register(reg, nil); err != nil {
			t.Fatal(err)
		}
	}
	register("db1")
	id, _, err := a.Client.PreparedQuery().Create(&api.PreparedQueryDefinition{Name: "db", Service: api.ServiceQuery{Service: "db"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	exec := func(opts *api.QueryOptions) (int, *api.QueryMeta) {
		t.Helper()
		res, meta, err := a.Client.PreparedQuery().Execute(id, opts)
		if err != nil {
			t.Fatal(err)
		}
		return len(res.Nodes), meta
	}
	if n, m := exec(&api.QueryOptions{UseCache: true}); n != 1 || m.CacheHit {
		t.Fatalf("first cached execute: %d nodes, hit %v; want 1, a miss", n, m.CacheHit)
	}
	register("db2")
	// The simple entry is not refreshed: the cached answer still has one.
	if n, m := exec(&api.QueryOptions{UseCache: true}); n != 1 || !m.CacheHit {
		t.Fatalf("second cached execute: %d nodes, hit %v; want the cached 1, a hit", n, m.CacheHit)
	}
	if n, _ := exec(nil); n != 2 {
		t.Fatalf("uncached execute: %d nodes, want 2", n)
	}
	// must-revalidate (max-age=0) fetches again and stores the new answer.
	req, err := http.NewRequest("GET", "http://"+a.HTTPAddr+"/v1/query/"+id+"/execute?cached", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Cache-Control", "max-age=0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Cache") != "MISS" {
		t.Fatalf("execute with max-age=0: %d, X-Cache %q; want 200, MISS", resp.StatusCode, resp.Header.Get("X-Cache"))
	}
	if n, m := exec(&api.QueryOptions{UseCache: true}); n != 2 || !m.CacheHit {
		t.Fatalf("cached execute after the revalidation: %d nodes, hit %v; want 2, a hit", n, m.CacheHit)
	}
}
