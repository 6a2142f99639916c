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
	// DownAsyncCache behaves as extend-cache here.
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

	mu      sync.Mutex
	entries map[string]cacheEntry[T]
}

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
	return &Cache[T]{ttl: ttl, down: down, now: now, maxSize: 4096, entries: map[string]cacheEntry[T]{}}
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
	authz, ident, err := fetch()
	if err == nil {
		c.mu.Lock()
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
		c.mu.Unlock()
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

// Purge forgets every entry (after a token or policy changed here).
func (c *Cache[T]) Purge() {
	c.mu.Lock()
	clear(c.entries)
	c.mu.Unlock()
}
