package wechat

import (
	"sync"
	"time"

	"github.com/silenceper/wechat/v2/cache"
)

// Cache is silenceper's token cache interface (Get, Set, IsExist, Delete).
// A cache shared by several replicas (Redis, PostgreSQL) lets them share one
// access token; NewMemoryCache is the in-process default.
type Cache = cache.Cache

// MemoryCache is a concurrency-safe in-memory Cache. silenceper's own
// cache.Memory reads its map without the lock and fails under -race.
type MemoryCache struct {
	mu   sync.RWMutex
	data map[string]memoryEntry
	now  func() time.Time
}

type memoryEntry struct {
	val     any
	expires time.Time
}

var _ Cache = (*MemoryCache)(nil)

// NewMemoryCache returns an empty MemoryCache.
func NewMemoryCache() *MemoryCache {
	return &MemoryCache{data: map[string]memoryEntry{}, now: time.Now}
}

// Get returns the value under key, or nil when it is absent or expired.
func (c *MemoryCache) Get(key string) any {
	c.mu.RLock()
	e, ok := c.data[key]
	c.mu.RUnlock()
	if !ok {
		return nil
	}
	if !c.now().Before(e.expires) {
		c.mu.Lock()
		if cur, ok := c.data[key]; ok && cur.expires.Equal(e.expires) {
			delete(c.data, key)
		}
		c.mu.Unlock()
		return nil
	}
	return e.val
}

// Set stores val under key for timeout. A timeout <= 0 stores nothing (as
// with silenceper's cache.Memory, the value is expired at once): the token
// handle computes expires_in minus a margin, and a token that short-lived
// must not be kept.
func (c *MemoryCache) Set(key string, val any, timeout time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if timeout <= 0 {
		delete(c.data, key)
		return nil
	}
	c.data[key] = memoryEntry{val: val, expires: c.now().Add(timeout)}
	return nil
}

// IsExist reports whether key holds an unexpired value.
func (c *MemoryCache) IsExist(key string) bool { return c.Get(key) != nil }

// Delete removes key.
func (c *MemoryCache) Delete(key string) error {
	c.mu.Lock()
	delete(c.data, key)
	c.mu.Unlock()
	return nil
}
