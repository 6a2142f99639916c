package acl

import (
	"sync"
	"time"
)

// DownPolicy is what a resolver does when the servers that know a token
// cannot be asked (acl.down_policy).
type DownPolicy string

// Down policies, as Consul's.
const (
	// DownExtendCache keeps using what was resolved before, however old;
	// a token never resolved is denied.
	DownExtendCache DownPolicy = "extend-cache"
	// DownAsyncCache is extend-cache that also answers from an expired
	// entry at once while it is fetched again in the background, so a
	// request never waits for the fetch of a token it has seen before.
	DownAsyncCache DownPolicy = "async-cache"
	// DownDeny denies everything.
	DownDeny DownPolicy = "deny"
	// DownAllow allows everything but ACL management.
	DownAllow DownPolicy = "allow"
)

// Cache keeps resolved tokens for a TTL, for resolvers that ask another
// server (client agents, servers of secondary datacenters). T is the
// token's identity. The zero value is not usable: use NewCache.
type Cache[T any] struct {
	ttl     time.Duration
	down    DownPolicy
	now     func() time.Time
	maxSize int

	mu       sync.Mutex
	entries  map[string]cacheEntry[T]
	inflight map[string]bool
	closed   bool
	wg       sync.WaitGroup
}

// maxAsyncRefreshes bounds the background fetches of async-cache; beyond
// it an expired entry is fetched in the request, as with extend-cache.
const maxAsyncRefreshes = 64

type cacheEntry[T any] struct {
	authz   *Authorizer
	ident   T
	fetched time.Time
}

// NewCache returns a cache keeping entries for ttl (acl.token_ttl), that
// applies down when a fetch fails. now may be nil for time.Now.
func NewCache[T any](ttl time.Duration, down DownPolicy, now func() time.Time) *Cache[T] {
	if now == nil {
		now = time.Now
	}
	return &Cache[T]{ttl: ttl, down: down, now: now, maxSize: 4096,
		entries: map[string]cacheEntry[T]{}, inflight: map[string]bool{}}
}

// Resolve returns the cached entry for secret while it is fresh, and
// otherwise calls fetch. isNotFound recognises the errors that mean the
// secret is unknown: they are passed on and never cached, so that a token
// created a moment later works. Any other fetch error (the servers cannot
// be reached) is handled by the down policy.
func (c *Cache[T]) Resolve(secret string, isNotFound func(error) bool, fetch func() (*Authorizer, T, error)) (*Authorizer, T, error) {
	c.mu.Lock()
	e, ok := c.entries[secret]
	c.mu.Unlock()
	now := c.now()
	if ok && now.Sub(e.fetched) < c.ttl {
		return e.authz, e.ident, nil
	}
	if ok && c.down == DownAsyncCache && c.refreshAsync(secret, isNotFound, fetch) {
		return e.authz, e.ident, nil
	}
	authz, ident, err := fetch()
	if err == nil {
		c.store(secret, authz, ident, now)
		return authz, ident, nil
	}
	if isNotFound(err) {
		c.mu.Lock()
		delete(c.entries, secret)
		c.mu.Unlock()
		var zero T
		return nil, zero, err
	}
	switch c.down {
	case DownAllow:
		return AllowAll(), e.ident, nil
	case DownDeny:
		return DenyAll(), e.ident, nil
	}
	if ok {
		return e.authz, e.ident, nil
	}
	var zero T
	return nil, zero, err
}

// refreshAsync starts a background fetch of secret unless one runs
// already; false when it cannot (closed, or too many running).
func (c *Cache[T]) refreshAsync(secret string, isNotFound func(error) bool, fetch func() (*Authorizer, T, error)) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inflight[secret] {
		return true
	}
	if c.closed || len(c.inflight) >= maxAsyncRefreshes {
		return false
	}
	c.inflight[secret] = true
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		authz, ident, err := fetch()
		switch {
		case err == nil:
			c.store(secret, authz, ident, c.now())
		case isNotFound(err):
			c.mu.Lock()
			delete(c.entries, secret)
			c.mu.Unlock()
		}
		// Any other error keeps the expired entry (the servers are down).
		c.mu.Lock()
		delete(c.inflight, secret)
		c.mu.Unlock()
	}()
	return true
}

// Close waits for the background fetches to end; afterwards there are
// none. Call it when the fetches' connections are shut down.
func (c *Cache[T]) Close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.wg.Wait()
}

// store keeps an entry, bounded.
func (c *Cache[T]) store(secret string, authz *Authorizer, ident T, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.maxSize {
		// Bounded: drop everything stale, or everything.
		for k, old := range c.entries {
			if now.Sub(old.fetched) >= c.ttl {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= c.maxSize {
			clear(c.entries)
		}
	}
	c.entries[secret] = cacheEntry[T]{authz: authz, ident: ident, fetched: now}
}

// Purge forgets every entry (after a token or policy changed here).
func (c *Cache[T]) Purge() {
	c.mu.Lock()
	clear(c.entries)
	c.mu.Unlock()
}
