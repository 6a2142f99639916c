// Package cache is the agent's cache of server reads, behind Consul's
// `?cached` query parameter.
//
// An entry is one read (an RPC method and its arguments, the caller's token
// included) and holds the last answer with the index it reflects. Two kinds
// of entries exist, as in Consul's agent cache:
//
//   - Simple entries are fetched when missing, and again when the caller's
//     Cache-Control max-age (or must-revalidate) finds them too old. If that
//     fetch fails and the entry is younger than stale-if-error allows, the
//     old answer is served.
//   - Refreshed entries (Refresh) keep a blocking query open to the servers
//     from the first read on, so the answer follows every change at once.
//     Their age is zero while the refresh works and counts from the first
//     failure when the servers cannot be reached; the answer is still served
//     ("fail static").
//
// What a peer can make the agent hold is bounded: at most MaxEntries
// entries (the least recently read is dropped first, its refresh stopped),
// and an entry nobody read for EntryTTL is dropped. Errors are never
// cached. Concurrent misses of one entry share one fetch.
package cache

import (
	"container/list"
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"
)

// Fetcher reads the answer from the servers: a blocking read above
// minIndex waiting at most wait when minIndex is not zero. It returns the
// encoded answer and the index it reflects.
type Fetcher func(ctx context.Context, minIndex uint64, wait time.Duration) (value []byte, index uint64, err error)

// Options are one read's wishes.
type Options struct {
	// Refresh makes the entry a background-refreshed one (set by the
	// endpoint, not the caller).
	Refresh bool
	// MaxAge, when not zero, refetches a simple entry older than this.
	MaxAge time.Duration
	// MustRevalidate refetches a simple entry on every read, but with
	// StaleIfError still serves the old one when the servers fail.
	MustRevalidate bool
	// StaleIfError serves an entry up to this old when the refetch fails.
	StaleIfError time.Duration
	// MinIndex, when not zero, makes the read block until the entry's index
	// exceeds it or Wait passes.
	MinIndex uint64
	// Wait caps a blocking read; zero means DefaultWait.
	Wait time.Duration
}

// Meta says how the answer was served.
type Meta struct {
	// Hit is true when the answer came from the cache without a fetch.
	Hit bool
	// Age is how stale the answer may be: the time since it was fetched
	// (simple entries), or since the refresh lost the servers (refreshed
	// entries, zero while the refresh works).
	Age time.Duration
	// Index is the index the answer reflects.
	Index uint64
}

// Config sets the cache's bounds and timings.
type Config struct {
	// MaxEntries bounds the number of entries; default 4096.
	MaxEntries int
	// EntryTTL drops an entry nobody read for this long; default 72 hours,
	// as Consul's.
	EntryTTL time.Duration
	// FetchTimeout bounds a fetch that is not a blocking one; default 30 s.
	FetchTimeout time.Duration
	// RefreshWait is the wait of the refresh's blocking reads; default 5
	// minutes.
	RefreshWait time.Duration
	// RetryMin and RetryMax bound the refresh's back-off after a failure;
	// defaults 1 s and 1 minute.
	RetryMin, RetryMax time.Duration
	// DefaultWait is a blocking read's wait when the caller gives none;
	// default 5 minutes.
	DefaultWait time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Revoked, when set, says that a fetch's error means the caller lost
	// the right to the answer (an ACL refusal): the entry is dropped, not
	// served stale, and its refresh stops.
	Revoked func(error) bool
}

func (c Config) withDefaults() Config {
	if c.MaxEntries <= 0 {
		c.MaxEntries = 4096
	}
	if c.EntryTTL <= 0 {
		c.EntryTTL = 72 * time.Hour
	}
	if c.FetchTimeout <= 0 {
		c.FetchTimeout = 30 * time.Second
	}
	if c.RefreshWait <= 0 {
		c.RefreshWait = 5 * time.Minute
	}
	if c.RetryMin <= 0 {
		c.RetryMin = time.Second
	}
	if c.RetryMax < c.RetryMin {
		c.RetryMax = max(time.Minute, c.RetryMin)
	}
	if c.DefaultWait <= 0 {
		c.DefaultWait = 5 * time.Minute
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// ErrClosed is returned by reads after Close.
var ErrClosed = errors.New("agent cache is closed")

// Cache is the agent's cache. Its zero value is not usable: use New.
type Cache struct {
	cfg    Config
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	entries map[string]*entry
	lru     *list.List // of *entry, most recently read at the front
	hits    uint64
	misses  uint64
}

// entry is one cached read. Its fields below mu are guarded by Cache.mu.
type entry struct {
	key     string
	elem    *list.Element
	refresh bool
	// fetch is the latest fetcher given for the entry (the refresh uses it).
	fetch Fetcher

	valid     bool
	value     []byte
	index     uint64
	fetchedAt time.Time
	// lostAt is when the refresh first failed since its last success; zero
	// while it works.
	lostAt   time.Time
	lastRead time.Time
	// changed is closed and replaced whenever value, index or lostAt change.
	changed chan struct{}
	// inflight is non-nil while a fetch (not the refresh's) runs; it is
	// closed when that fetch ends, with fetchErr set.
	inflight chan struct{}
	fetchErr error
	// stop ends the entry's refresh (when it is dropped).
	stop       context.CancelFunc
	refreshing bool
	dropped    bool
}

// New makes a cache; Close stops its refreshes.
func New(cfg Config) *Cache {
	ctx, cancel := context.WithCancel(context.Background())
	c := &Cache{
		cfg:     cfg.withDefaults(),
		ctx:     ctx,
		cancel:  cancel,
		entries: make(map[string]*entry),
		lru:     list.New(),
	}
	c.wg.Add(1)
	go c.janitor()
	return c
}

// Close stops every refresh and waits for them; reads fail afterwards.
func (c *Cache) Close() {
	c.cancel()
	c.wg.Wait()
}

// Stats are the cache's counters.
type Stats struct {
	Entries      int
	Hits, Misses uint64
}

// Stats returns the counters.
func (c *Cache) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Stats{Entries: len(c.entries), Hits: c.hits, Misses: c.misses}
}

// Get returns the answer for key, from the cache or from fetch.
func (c *Cache) Get(ctx context.Context, key string, opts Options, fetch Fetcher) ([]byte, Meta, error) {
	if c.ctx.Err() != nil {
		return nil, Meta{}, ErrClosed
	}
	wait := opts.Wait
	if wait <= 0 {
		wait = c.cfg.DefaultWait
	}
	var deadline <-chan time.Time
	if opts.MinIndex > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		deadline = t.C
	}
	fetched, timedOut := false, false
	for {
		c.mu.Lock()
		e := c.entryLocked(key, opts.Refresh)
		e.fetch = fetch
		e.lastRead = c.cfg.Now()
		c.lru.MoveToFront(e.elem)

		if e.valid && e.refresh {
			c.startRefreshLocked(e)
			age := c.ageLocked(e)
			// A refresh that lost the servers longer ago than the caller
			// accepts: try them once more before answering.
			if fetched || opts.MaxAge <= 0 || age <= opts.MaxAge {
				if opts.MinIndex > 0 && e.index <= opts.MinIndex && !timedOut {
					ch := e.changed
					c.mu.Unlock()
					select {
					case <-ch:
					case <-deadline:
						timedOut = true
					case <-ctx.Done():
						return nil, Meta{}, ctx.Err()
					case <-c.ctx.Done():
						return nil, Meta{}, ErrClosed
					}
					continue
				}
				return c.answerLocked(e, !fetched, age)
			}
		}
		if e.valid && !e.refresh {
			age := c.ageLocked(e)
			fresh := (opts.MaxAge <= 0 || age <= opts.MaxAge) && !opts.MustRevalidate
			if fetched || (fresh && (opts.MinIndex == 0 || e.index > opts.MinIndex)) {
				return c.answerLocked(e, !fetched, age)
			}
		}

		// A fetch is needed: join the one running or start one.
		c.misses++
		if e.inflight == nil {
			e.inflight = make(chan struct{})
			minIndex, fetchWait := uint64(0), time.Duration(0)
			if !e.refresh && opts.MinIndex > 0 {
				minIndex, fetchWait = opts.MinIndex, wait
			}
			c.wg.Add(1)
			go c.fetchOnce(e, fetch, minIndex, fetchWait)
		}
		done := e.inflight
		c.mu.Unlock()
		select {
		case <-done:
		case <-ctx.Done():
			return nil, Meta{}, ctx.Err()
		case <-c.ctx.Done():
			return nil, Meta{}, ErrClosed
		}
		c.mu.Lock()
		if err := e.fetchErr; err != nil {
			if c.revoked(err) {
				c.dropLocked(e)
				c.mu.Unlock()
				return nil, Meta{}, err
			}
			// Serve the old answer when the caller allows one this old.
			if e.valid && opts.StaleIfError > 0 && c.ageSinceFetchLocked(e) <= opts.StaleIfError {
				return c.answerLocked(e, true, c.ageLocked(e))
			}
			c.mu.Unlock()
			return nil, Meta{}, err
		}
		c.mu.Unlock()
		fetched = true
	}
}

// answerLocked returns e's answer and unlocks the cache.
func (c *Cache) answerLocked(e *entry, hit bool, age time.Duration) ([]byte, Meta, error) {
	if hit {
		c.hits++
	}
	out, meta := e.value, Meta{Hit: hit, Age: age, Index: e.index}
	c.mu.Unlock()
	return out, meta, nil
}

// entryLocked finds or makes the entry of key, dropping the least
// recently read one when the cache is full.
func (c *Cache) entryLocked(key string, refresh bool) *entry {
	if e, ok := c.entries[key]; ok {
		return e
	}
	for len(c.entries) >= c.cfg.MaxEntries {
		oldest := c.lru.Back()
		if oldest == nil {
			break
		}
		c.dropLocked(oldest.Value.(*entry))
	}
	e := &entry{key: key, refresh: refresh, changed: make(chan struct{})}
	e.elem = c.lru.PushFront(e)
	c.entries[key] = e
	return e
}

// revoked reports whether err means the caller lost the right to the
// answer.
func (c *Cache) revoked(err error) bool {
	return c.cfg.Revoked != nil && c.cfg.Revoked(err)
}

// dropLocked removes e and stops its refresh.
func (c *Cache) dropLocked(e *entry) {
	if e.dropped {
		return
	}
	e.dropped = true
	delete(c.entries, e.key)
	c.lru.Remove(e.elem)
	if e.stop != nil {
		e.stop()
	}
}

// ageLocked is the answer's age as Meta reports it.
func (c *Cache) ageLocked(e *entry) time.Duration {
	if e.refresh {
		if e.lostAt.IsZero() {
			return 0
		}
		return c.cfg.Now().Sub(e.lostAt)
	}
	return c.ageSinceFetchLocked(e)
}

func (c *Cache) ageSinceFetchLocked(e *entry) time.Duration {
	return c.cfg.Now().Sub(e.fetchedAt)
}

// setLocked stores a fetched answer and wakes the blocked readers.
func (c *Cache) setLocked(e *entry, value []byte, index uint64) {
	e.valid = true
	e.value = value
	e.index = index
	e.fetchedAt = c.cfg.Now()
	e.lostAt = time.Time{}
	close(e.changed)
	e.changed = make(chan struct{})
}

// fetchOnce runs a read's fetch and ends e.inflight.
func (c *Cache) fetchOnce(e *entry, fetch Fetcher, minIndex uint64, wait time.Duration) {
	defer c.wg.Done()
	timeout := c.cfg.FetchTimeout
	if minIndex > 0 {
		timeout += wait
	}
	ctx, cancel := context.WithTimeout(c.ctx, timeout)
	value, index, err := fetch(ctx, minIndex, wait)
	cancel()
	c.mu.Lock()
	defer c.mu.Unlock()
	if err == nil {
		c.setLocked(e, value, max(index, 1))
	}
	e.fetchErr = err
	close(e.inflight)
	e.inflight = nil
}

// startRefreshLocked starts the background refresh of a refreshed entry
// once it holds an answer.
func (c *Cache) startRefreshLocked(e *entry) {
	if !e.refresh || e.refreshing || e.dropped || c.ctx.Err() != nil {
		return
	}
	e.refreshing = true
	ctx, stop := context.WithCancel(c.ctx)
	e.stop = stop
	c.wg.Add(1)
	go c.refresh(ctx, e)
}

// refresh keeps e current with blocking reads until it is dropped.
func (c *Cache) refresh(ctx context.Context, e *entry) {
	defer c.wg.Done()
	failures := 0
	for ctx.Err() == nil {
		c.mu.Lock()
		fetch, index := e.fetch, e.index
		c.mu.Unlock()
		fctx, cancel := context.WithTimeout(ctx, c.cfg.RefreshWait+c.cfg.FetchTimeout)
		start := c.cfg.Now()
		value, next, err := fetch(fctx, index, c.cfg.RefreshWait)
		cancel()
		if ctx.Err() != nil {
			return
		}
		c.mu.Lock()
		if err != nil && c.revoked(err) {
			// The token lost its right: readers waiting on the entry
			// fetch again, and get the refusal.
			c.dropLocked(e)
			close(e.changed)
			e.changed = make(chan struct{})
			c.mu.Unlock()
			return
		}
		if err != nil {
			if e.lostAt.IsZero() {
				e.lostAt = c.cfg.Now()
				close(e.changed)
				e.changed = make(chan struct{})
			}
			c.mu.Unlock()
			failures++
			if !sleep(ctx, backoff(c.cfg.RetryMin, c.cfg.RetryMax, failures)) {
				return
			}
			continue
		}
		failures = 0
		grew := next > index
		c.setLocked(e, value, max(next, 1))
		c.mu.Unlock()
		if !grew && c.cfg.Now().Sub(start) < c.cfg.RetryMin/4 {
			// The index did not move and the read did not block: do not
			// spin on a server that answers at once.
			if !sleep(ctx, c.cfg.RetryMin/4) {
				return
			}
		}
	}
}

// janitor drops entries nobody read for EntryTTL.
func (c *Cache) janitor() {
	defer c.wg.Done()
	every := min(max(c.cfg.EntryTTL/10, 10*time.Millisecond), time.Minute)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		}
		c.mu.Lock()
		now := c.cfg.Now()
		for el := c.lru.Back(); el != nil; {
			e := el.Value.(*entry)
			prev := el.Prev()
			if now.Sub(e.lastRead) < c.cfg.EntryTTL {
				break // the list is in read order: the rest are newer
			}
			if e.inflight == nil {
				c.dropLocked(e)
			}
			el = prev
		}
		c.mu.Unlock()
	}
}

// backoff is the wait after n failures, doubling from lo up to hi, with
// up to a quarter of jitter.
func backoff(lo, hi time.Duration, n int) time.Duration {
	d := lo
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	return d - time.Duration(rand.Int64N(int64(d)/4+1))
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
