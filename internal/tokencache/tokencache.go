// Package tokencache keeps provider access tokens (the WeChat stable access
// token) in PostgreSQL, so that every replica of the service shares one
// token: one replica fetches it and the others read it, and a replica that
// drops a stale token (after errcode 40001, 42001 or 40014) drops it for all.
//
// A Cache implements silenceper's cache.Cache and cache.ContextCache over
// the token_cache table (migration 00005). Tokens are credentials, so each
// value is sealed with a pii.Sealer, bound to its key as associated data: a
// sealed value copied under another key does not open. Values are never
// logged nor put in an error.
//
// silenceper's interface has no context, so each call runs under a context
// of its own bounded by a short timeout (DefaultOpTimeout, WithOpTimeout).
// A failed read is reported to the error handler (WithErrorHandler) and
// reads as absent: the library then fetches a token from the stable-token
// endpoint, which hands out the current token rather than revoking it, so a
// needless fetch is harmless.
//
// Each Cache keeps the tokens it read for at most a second (DefaultFrontTTL,
// WithFrontTTL), so that sending 50 messages a second does not cost 50
// queries a second. Set and Delete clear the entry at once in their own
// Cache; another Cache (another replica) sees them within the front TTL.
// In that window a replica may still send with a token another replica has
// dropped; it then gets 40001 and drops the key itself, which may remove
// the fresh token the other replica just stored. That costs one more fetch
// from the stable-token endpoint, which returns the same current token.
//
// Expiry is decided by the database clock, so that replicas whose clocks
// differ agree on it. Expired rows read as absent and are overwritten by the
// next Set; there is one row per key (per app id), so none are pruned.
package tokencache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/silenceper/wechat/v2/cache"

	"github.com/policypush/policypush/internal/pii"
)

// DefaultOpTimeout bounds each database call made by a Cache method.
const DefaultOpTimeout = 3 * time.Second

// DefaultFrontTTL is how long a Cache serves a value it read without asking
// the database again.
const DefaultFrontTTL = time.Second

// ShortTimeout is the lifetime Set gives a value when its timeout is zero or
// negative. silenceper passes expires_in minus 300 s, which is <= 0 only for
// a token that expires within five minutes: keeping it briefly, rather than
// not at all, spares a fetch per send, and a token that dies early is
// dropped and refetched through the stale-token path.
const ShortTimeout = 30 * time.Second

// ErrNotString is returned by Set for a value that is not a string: the
// cache holds tokens only.
var ErrNotString = errors.New("value is not a string")

// silenceper's credential handles use the plain methods; its open-platform
// code uses the Context variants when the cache has them.
var (
	_ cache.Cache        = (*Cache)(nil)
	_ cache.ContextCache = (*Cache)(nil)
)

// Cache is a token cache shared through PostgreSQL. It is safe for
// concurrent use.
type Cache struct {
	pool      *pgxpool.Pool
	sealer    *pii.Sealer
	opTimeout time.Duration
	frontTTL  time.Duration
	onError   func(error)

	mu sync.Mutex
	// gen counts Sets and Deletes, so that a read that raced one does not
	// put back into the front the value that was just replaced or deleted.
	gen   uint64
	front map[string]frontEntry
}

type frontEntry struct {
	val   string
	until time.Time
}

// Option configures a Cache.
type Option func(*Cache)

// WithOpTimeout bounds each database call (default DefaultOpTimeout). For
// the Context methods it bounds the caller's context further. d <= 0 keeps
// the default.
func WithOpTimeout(d time.Duration) Option {
	return func(c *Cache) {
		if d > 0 {
			c.opTimeout = d
		}
	}
}

// WithFrontTTL sets how long a value read from the database is served from
// memory (default DefaultFrontTTL); it is also the longest a Delete or Set
// made by another replica can go unseen. d <= 0 turns the front off: every
// call asks the database.
func WithFrontTTL(d time.Duration) Option {
	return func(c *Cache) { c.frontTTL = max(d, 0) }
}

// WithErrorHandler receives the errors that Get and IsExist swallow (they
// read as absent). The errors name the operation and key, never the value.
// fn must be safe for concurrent use. By default such errors are dropped.
func WithErrorHandler(fn func(error)) Option {
	return func(c *Cache) { c.onError = fn }
}

// New returns a Cache over pool, which must hold the token_cache table
// (store.Migrate creates it), sealing values with sealer. Both are required.
func New(pool *pgxpool.Pool, sealer *pii.Sealer, opts ...Option) *Cache {
	if pool == nil || sealer == nil {
		// A programming error, and one that would otherwise surface only at
		// the first send.
		panic("tokencache: New needs a pool and a sealer")
	}
	c := &Cache{
		pool:      pool,
		sealer:    sealer,
		opTimeout: DefaultOpTimeout,
		frontTTL:  DefaultFrontTTL,
		front:     map[string]frontEntry{},
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Get returns the string stored under key, or nil when there is none, it
// has expired, it does not open, or the database cannot be read.
func (c *Cache) Get(key string) any { return c.GetContext(context.Background(), key) }

// IsExist reports whether Get would return a value.
func (c *Cache) IsExist(key string) bool { return c.IsExistContext(context.Background(), key) }

// Set stores val, which must be a string, under key for timeout (ShortTimeout
// when timeout <= 0), replacing any value there.
func (c *Cache) Set(key string, val any, timeout time.Duration) error {
	return c.SetContext(context.Background(), key, val, timeout)
}

// Delete removes key for every replica. Deleting an absent key is not an
// error.
func (c *Cache) Delete(key string) error { return c.DeleteContext(context.Background(), key) }

// GetContext is Get under ctx (further bounded by the op timeout).
func (c *Cache) GetContext(ctx context.Context, key string) any {
	if v, ok := c.fromFront(key); ok {
		return v
	}
	c.mu.Lock()
	gen := c.gen
	c.mu.Unlock()

	v, ttl, ok, err := c.load(ctx, key)
	if err != nil {
		c.report(err)
		return nil
	}
	if !ok {
		// Absence is not kept: a Set by another replica must be seen at once.
		return nil
	}
	c.toFront(key, v, ttl, gen)
	return v
}

// IsExistContext is IsExist under ctx.
func (c *Cache) IsExistContext(ctx context.Context, key string) bool {
	return c.GetContext(ctx, key) != nil
}

// SetContext is Set under ctx.
func (c *Cache) SetContext(ctx context.Context, key string, val any, timeout time.Duration) error {
	s, ok := val.(string)
	if !ok {
		// %T only: the value itself may be a credential.
		return fmt.Errorf("tokencache: set %q: %w (got %T)", key, ErrNotString, val)
	}
	if timeout <= 0 {
		timeout = ShortTimeout
	}
	sealed, err := c.sealer.SealAAD([]byte(s), []byte(key))
	if err != nil {
		return fmt.Errorf("tokencache: set %q: %w", key, err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.opTimeout)
	defer cancel()
	// The database computes expires_at, as it judges expiry on read.
	_, err = c.pool.Exec(ctx, `
		INSERT INTO token_cache (key, value, expires_at)
		VALUES ($1, $2, now() + make_interval(secs => $3))
		ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at`,
		key, sealed, timeout.Seconds())
	// Forget the old value whether or not the write succeeded: after a
	// failed Set the database, not memory, should answer.
	c.forget(key)
	if err != nil {
		return fmt.Errorf("tokencache: set %q: %w", key, err)
	}
	return nil
}

// DeleteContext is Delete under ctx.
func (c *Cache) DeleteContext(ctx context.Context, key string) error {
	ctx, cancel := context.WithTimeout(ctx, c.opTimeout)
	defer cancel()
	_, err := c.pool.Exec(ctx, `DELETE FROM token_cache WHERE key = $1`, key)
	c.forget(key)
	if err != nil {
		return fmt.Errorf("tokencache: delete %q: %w", key, err)
	}
	return nil
}

// load reads key's unexpired value and how long it has left.
func (c *Cache) load(ctx context.Context, key string) (val string, ttl time.Duration, ok bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, c.opTimeout)
	defer cancel()
	var (
		sealed []byte
		secs   float64
	)
	err = c.pool.QueryRow(ctx, `
		SELECT value, extract(epoch FROM expires_at - now())::float8
		FROM token_cache WHERE key = $1 AND expires_at > now()`, key).Scan(&sealed, &secs)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", 0, false, nil
	}
	if err != nil {
		return "", 0, false, fmt.Errorf("tokencache: get %q: %w", key, err)
	}
	// The key is the associated data. Store's personal fields use
	// "type\x00id", and a text key cannot hold a NUL, so neither kind of
	// ciphertext opens as the other.
	plain, err := c.sealer.OpenAAD(sealed, []byte(key))
	if err != nil {
		return "", 0, false, fmt.Errorf("tokencache: get %q: %w", key, err)
	}
	return string(plain), time.Duration(secs * float64(time.Second)), true, nil
}

func (c *Cache) fromFront(key string) (string, bool) {
	if c.frontTTL <= 0 {
		return "", false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.front[key]
	if !ok {
		return "", false
	}
	if !time.Now().Before(e.until) {
		delete(c.front, key)
		return "", false
	}
	return e.val, true
}

// toFront keeps val for the front TTL, or less if the row expires sooner,
// unless a Set or Delete has run since the read began (gen).
func (c *Cache) toFront(key, val string, ttl time.Duration, gen uint64) {
	if c.frontTTL <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	c.front[key] = frontEntry{val: val, until: time.Now().Add(min(c.frontTTL, ttl))}
}

func (c *Cache) forget(key string) {
	c.mu.Lock()
	c.gen++
	delete(c.front, key)
	c.mu.Unlock()
}

func (c *Cache) report(err error) {
	if c.onError != nil {
		c.onError(err)
	}
}
