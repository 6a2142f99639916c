package cache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// source is a fake server: a value with an index, read by blocking
// queries as the servers answer them.
type source struct {
	mu      sync.Mutex
	value   string
	index   uint64
	err     error
	changed chan struct{}
	calls   atomic.Int64
}

func newSource(v string) *source {
	return &source{value: v, index: 10, changed: make(chan struct{})}
}

func (s *source) set(v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.value = v
	s.index++
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *source) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.err = err
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *source) fetch(ctx context.Context, minIndex uint64, wait time.Duration) ([]byte, uint64, error) {
	s.calls.Add(1)
	var timeout <-chan time.Time
	if minIndex > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		timeout = t.C
	}
	for {
		s.mu.Lock()
		v, idx, err, ch := s.value, s.index, s.err, s.changed
		s.mu.Unlock()
		if err != nil {
			return nil, 0, err
		}
		if minIndex == 0 || idx > minIndex {
			return []byte(v), idx, nil
		}
		select {
		case <-ch:
		case <-timeout:
			return []byte(v), idx, nil
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		}
	}
}

// clock is a settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newTestCache(t *testing.T, cfg Config) *Cache {
	t.Helper()
	c := New(cfg)
	t.Cleanup(c.Close)
	return c
}

func get(t *testing.T, c *Cache, key string, opts Options, f Fetcher) (string, Meta) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, m, err := c.Get(ctx, key, opts, f)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	return string(v), m
}

func TestSimpleEntryHitMissAge(t *testing.T) {
	clk := &clock{now: time.Unix(1000, 0)}
	c := newTestCache(t, Config{Now: clk.Now})
	src := newSource("a")

	v, m := get(t, c, "k", Options{}, src.fetch)
	if v != "a" || m.Hit || m.Index != 10 {
		t.Fatalf("first read = %q %+v, want a miss of a at 10", v, m)
	}
	src.set("b")
	clk.add(7 * time.Second)
	v, m = get(t, c, "k", Options{}, src.fetch)
	if v != "a" || !m.Hit || m.Age != 7*time.Second {
		t.Fatalf("second read = %q %+v, want a hit of a, 7s old", v, m)
	}
	// max-age: older than 5 s is fetched again.
	v, m = get(t, c, "k", Options{MaxAge: 5 * time.Second}, src.fetch)
	if v != "b" || m.Hit || m.Age != 0 {
		t.Fatalf("read with max-age = %q %+v, want a miss of b", v, m)
	}
	// must-revalidate always fetches.
	src.set("c")
	v, m = get(t, c, "k", Options{MustRevalidate: true}, src.fetch)
	if v != "c" || m.Hit {
		t.Fatalf("read with must-revalidate = %q %+v, want a miss of c", v, m)
	}
	if st := c.Stats(); st.Hits != 1 || st.Misses != 3 || st.Entries != 1 {
		t.Fatalf("stats = %+v, want 1 hit, 3 misses, 1 entry", st)
	}
}

func TestStaleIfErrorAndErrorsNotCached(t *testing.T) {
	clk := &clock{now: time.Unix(1000, 0)}
	c := newTestCache(t, Config{Now: clk.Now})
	src := newSource("a")
	get(t, c, "k", Options{}, src.fetch)

	src.fail(errors.New("No cluster leader"))
	clk.add(10 * time.Second)
	// Too old for max-age, the servers fail, stale-if-error allows 60 s.
	v, m := get(t, c, "k", Options{MaxAge: time.Second, StaleIfError: time.Minute}, src.fetch)
	if v != "a" || !m.Hit || m.Age != 10*time.Second {
		t.Fatalf("read with stale-if-error = %q %+v, want the stale a", v, m)
	}
	// Without stale-if-error the error comes back.
	if _, _, err := c.Get(context.Background(), "k", Options{MaxAge: time.Second}, src.fetch); err == nil || err.Error() != "No cluster leader" {
		t.Fatalf("read without stale-if-error: err = %v, want No cluster leader", err)
	}
	// Older than stale-if-error: the error too.
	clk.add(time.Minute)
	if _, _, err := c.Get(context.Background(), "k", Options{MaxAge: time.Second, StaleIfError: time.Minute}, src.fetch); err == nil {
		t.Fatal("read past stale-if-error succeeded")
	}
	// A key whose first fetch fails caches nothing: the next read fetches.
	before := src.calls.Load()
	if _, _, err := c.Get(context.Background(), "other", Options{}, src.fetch); err == nil {
		t.Fatal("first read of a failing key succeeded")
	}
	src.fail(nil)
	v, m = get(t, c, "other", Options{}, src.fetch)
	if v != "a" || m.Hit || src.calls.Load() != before+2 {
		t.Fatalf("read after the error = %q %+v after %d fetches, want a fresh fetch", v, m, src.calls.Load()-before)
	}
}

func TestConcurrentMissesShareOneFetch(t *testing.T) {
	c := newTestCache(t, Config{})
	release := make(chan struct{})
	var calls atomic.Int64
	slow := func(ctx context.Context, _ uint64, _ time.Duration) ([]byte, uint64, error) {
		calls.Add(1)
		<-release
		return []byte("v"), 3, nil
	}
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, _, err := c.Get(context.Background(), "k", Options{}, slow)
			if err == nil && string(v) != "v" {
				err = fmt.Errorf("got %q", v)
			}
			errs <- err
		}()
	}
	// Let the readers queue behind the first fetch, then release it.
	deadline := time.Now().Add(5 * time.Second)
	for c.Stats().Misses < 20 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d fetches for 20 concurrent misses, want 1", n)
	}
}

func TestRefreshFollowsChangesAndBlocks(t *testing.T) {
	c := newTestCache(t, Config{RefreshWait: 2 * time.Second, RetryMin: 20 * time.Millisecond, RetryMax: 50 * time.Millisecond})
	src := newSource("a")
	v, m := get(t, c, "svc", Options{Refresh: true}, src.fetch)
	if v != "a" || m.Hit || m.Index != 10 {
		t.Fatalf("first read = %q %+v", v, m)
	}
	// A blocking read above the current index wakes on the change the
	// refresh brings in.
	type res struct {
		v string
		m Meta
	}
	woke := make(chan res, 1)
	go func() {
		v, m, err := c.Get(context.Background(), "svc", Options{Refresh: true, MinIndex: 10, Wait: 10 * time.Second}, src.fetch)
		if err != nil {
			woke <- res{v: "error: " + err.Error()}
			return
		}
		woke <- res{string(v), m}
	}()
	src.set("b")
	select {
	case r := <-woke:
		if r.v != "b" || !r.m.Hit || r.m.Index != 11 || r.m.Age != 0 {
			t.Fatalf("blocked read woke with %q %+v, want a hit of b at 11", r.v, r.m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the blocked read did not wake on the change")
	}
	// A plain read is a hit of the refreshed value, without a fetch of its own.
	calls := src.calls.Load()
	v, m = get(t, c, "svc", Options{Refresh: true}, src.fetch)
	if v != "b" || !m.Hit {
		t.Fatalf("read after the refresh = %q %+v", v, m)
	}
	// The servers go away: the answer is still served, its age counting.
	src.fail(errors.New("rpc error: connection refused"))
	deadlineAge := time.Now().Add(5 * time.Second)
	for {
		v, m = get(t, c, "svc", Options{Refresh: true}, src.fetch)
		if m.Age > 0 {
			break
		}
		if time.Now().After(deadlineAge) {
			t.Fatal("age stayed 0 after the servers failed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if v != "b" || !m.Hit {
		t.Fatalf("read while the servers fail = %q %+v, want the last answer", v, m)
	}
	// They come back: the refresh recovers and the age is 0 again.
	src.fail(nil)
	src.set("c")
	deadline := time.Now().Add(5 * time.Second)
	for {
		v, m = get(t, c, "svc", Options{Refresh: true}, src.fetch)
		if v == "c" && m.Age == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("refresh did not recover: %q %+v", v, m)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if src.calls.Load() <= calls {
		t.Fatal("no background fetches happened")
	}
}

func TestBlockingReadTimesOutWithCurrentAnswer(t *testing.T) {
	c := newTestCache(t, Config{RefreshWait: time.Second})
	src := newSource("a")
	get(t, c, "svc", Options{Refresh: true}, src.fetch)
	start := time.Now()
	v, m := get(t, c, "svc", Options{Refresh: true, MinIndex: 10, Wait: 150 * time.Millisecond}, src.fetch)
	if v != "a" || m.Index != 10 {
		t.Fatalf("timed-out read = %q %+v, want a at 10", v, m)
	}
	if time.Since(start) < 150*time.Millisecond {
		t.Fatalf("blocking read returned after %s, before its wait", time.Since(start))
	}
	// A simple entry blocks through the fetch itself.
	v, m = get(t, c, "plain", Options{}, src.fetch)
	go func() {
		time.Sleep(50 * time.Millisecond)
		src.set("b")
	}()
	v, m = get(t, c, "plain", Options{MinIndex: m.Index, Wait: 5 * time.Second}, src.fetch)
	if v != "b" || m.Hit {
		t.Fatalf("blocking read of a simple entry = %q %+v, want a miss of b", v, m)
	}
}

func TestEntriesAreBounded(t *testing.T) {
	c := newTestCache(t, Config{MaxEntries: 3, RefreshWait: 5 * time.Second})
	srcs := make([]*source, 5)
	for i := range srcs {
		srcs[i] = newSource(fmt.Sprint(i))
		get(t, c, fmt.Sprint("k", i), Options{Refresh: true}, srcs[i].fetch)
	}
	if st := c.Stats(); st.Entries != 3 {
		t.Fatalf("%d entries, want 3", st.Entries)
	}
	// The dropped entries' refreshes stopped: their sources see no more
	// reads after a change.
	for _, i := range []int{0, 1} {
		n := srcs[i].calls.Load()
		srcs[i].set("changed")
		time.Sleep(50 * time.Millisecond)
		if got := srcs[i].calls.Load(); got != n {
			t.Errorf("source %d of a dropped entry was read %d more times", i, got-n)
		}
	}
	// The kept ones still refresh.
	deadline := time.Now().Add(5 * time.Second)
	srcs[4].set("new")
	for {
		if v, _ := get(t, c, "k4", Options{Refresh: true}, srcs[4].fetch); v == "new" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a kept entry stopped refreshing")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestUnreadEntriesExpire(t *testing.T) {
	c := newTestCache(t, Config{EntryTTL: 100 * time.Millisecond})
	src := newSource("a")
	get(t, c, "k", Options{Refresh: true}, src.fetch)
	deadline := time.Now().Add(5 * time.Second)
	for c.Stats().Entries != 0 {
		if time.Now().After(deadline) {
			t.Fatal("an unread entry was not dropped")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCloseStopsRefreshes(t *testing.T) {
	c := New(Config{RefreshWait: time.Minute})
	src := newSource("a")
	for i := range 10 {
		if _, _, err := c.Get(context.Background(), fmt.Sprint(i), Options{Refresh: true}, src.fetch); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan struct{})
	go func() { c.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not stop the refreshes")
	}
	if _, _, err := c.Get(context.Background(), "0", Options{}, src.fetch); !errors.Is(err, ErrClosed) {
		t.Fatalf("read after close: err = %v, want ErrClosed", err)
	}
}
