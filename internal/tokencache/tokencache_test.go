package tokencache_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/silenceper/wechat/v2/cache"

	"github.com/policypush/policypush/internal/notify/wechat"
	"github.com/policypush/policypush/internal/pgtest"
	"github.com/policypush/policypush/internal/pii"
	"github.com/policypush/policypush/internal/store"
	"github.com/policypush/policypush/internal/tokencache"
)

// *Cache is what silenceper's account config and wechat.New accept.
var (
	_ cache.Cache        = (*tokencache.Cache)(nil)
	_ cache.ContextCache = (*tokencache.Cache)(nil)
	_ wechat.Cache       = (*tokencache.Cache)(nil)
)

const token = "ACCESS-TOKEN-77-SeCrEt-abcdefghijklmnop"

func newSealer(t *testing.T, b byte) *pii.Sealer {
	t.Helper()
	s, err := pii.NewSealer(bytes.Repeat([]byte{b}, pii.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// rotated is a sealer after a key rotation: key 9 current, setup's key 7
// held for reading.
func rotated(t *testing.T) *pii.Sealer {
	t.Helper()
	s, err := pii.NewSealer(bytes.Repeat([]byte{9}, pii.KeySize), bytes.Repeat([]byte{7}, pii.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// setup returns a pool on a fresh migrated database, its URL and a sealer.
func setup(t *testing.T) (*pgxpool.Pool, string, *pii.Sealer) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	url := pgtest.NewDatabase(t)
	sealer := newSealer(t, 7)
	st, err := store.Open(context.Background(), url, sealer)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close) // runs before pgtest drops the database
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return st.Pool(), url, sealer
}

// errSink collects what a Cache reports.
type errSink struct {
	mu   sync.Mutex
	errs []error
}

func (s *errSink) handle(err error) {
	s.mu.Lock()
	s.errs = append(s.errs, err)
	s.mu.Unlock()
}

func (s *errSink) all() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]error(nil), s.errs...)
}

// noLeak fails if any error mentions the token.
func noLeak(t *testing.T, errs ...error) {
	t.Helper()
	for _, err := range errs {
		if err != nil && strings.Contains(err.Error(), token) {
			t.Fatalf("error leaks the token: %v", err)
		}
	}
}

// waitAbsent polls c until key reads as absent, and fails if that takes
// longer than bound.
func waitAbsent(t *testing.T, c *tokencache.Cache, key string, bound time.Duration) {
	t.Helper()
	start := time.Now()
	for {
		v := c.Get(key)
		if v == nil {
			return
		}
		if v != token {
			t.Fatalf("Get = %v while waiting for absence", v)
		}
		if time.Since(start) > bound {
			t.Fatalf("still present after %v", bound)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSharedBetweenInstances(t *testing.T) {
	pool, _, sealer := setup(t)
	tests := []struct {
		name     string
		frontTTL time.Duration
	}{
		{"no front", 0},
		{"front", 300 * time.Millisecond},
		{"default front", tokencache.DefaultFrontTTL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sink errSink
			opts := []tokencache.Option{tokencache.WithErrorHandler(sink.handle)}
			if tt.frontTTL != tokencache.DefaultFrontTTL {
				opts = append(opts, tokencache.WithFrontTTL(tt.frontTTL))
			}
			a := tokencache.New(pool, sealer, opts...)
			b := tokencache.New(pool, sealer, opts...)
			key := "shared_" + strings.ReplaceAll(tt.name, " ", "_")

			if v := a.Get(key); v != nil {
				t.Fatalf("fresh Get = %v", v)
			}
			if a.IsExist(key) {
				t.Fatal("fresh IsExist = true")
			}
			if err := a.Set(key, token, time.Hour); err != nil {
				t.Fatal(err)
			}
			// A value set in A is read in B, as a string.
			if v, ok := b.Get(key).(string); !ok || v != token {
				t.Fatalf("B.Get = %v", b.Get(key))
			}
			if !b.IsExist(key) {
				t.Fatal("B.IsExist = false")
			}
			// A reads it too (and keeps it in its front, if it has one).
			if v := a.Get(key); v != token {
				t.Fatalf("A.Get = %v", v)
			}

			start := time.Now()
			if err := b.Delete(key); err != nil {
				t.Fatal(err)
			}
			// The deleting instance sees its own Delete at once.
			if v := b.Get(key); v != nil {
				t.Fatalf("B.Get after its Delete = %v", v)
			}
			if tt.frontTTL == 0 {
				if v := a.Get(key); v != nil {
					t.Fatalf("A.Get after B.Delete = %v, want nil at once without a front", v)
				}
			}
			// The other instance sees it within the front TTL.
			waitAbsent(t, a, key, tt.frontTTL+200*time.Millisecond-time.Since(start))
			if errs := sink.all(); len(errs) > 0 {
				t.Fatalf("reported errors: %v", errs)
			}
		})
	}
}

// The front serves a value without the database, and its own Set and
// Delete clear it at once.
func TestFront(t *testing.T) {
	pool, _, sealer := setup(t)
	ctx := context.Background()
	c := tokencache.New(pool, sealer, tokencache.WithFrontTTL(time.Minute))
	if err := c.Set("k", token, time.Hour); err != nil {
		t.Fatal(err)
	}
	if v := c.Get("k"); v != token {
		t.Fatalf("Get = %v", v)
	}
	// Behind the Cache's back: the front still answers.
	if _, err := pool.Exec(ctx, `DELETE FROM token_cache`); err != nil {
		t.Fatal(err)
	}
	if v := c.Get("k"); v != token {
		t.Fatalf("Get from the front = %v", v)
	}
	// Its own Set replaces the front's value at once.
	if err := c.Set("k", "second", time.Hour); err != nil {
		t.Fatal(err)
	}
	if v := c.Get("k"); v != "second" {
		t.Fatalf("Get after Set = %v", v)
	}
	// Its own Delete clears it at once.
	if err := c.Delete("k"); err != nil {
		t.Fatal(err)
	}
	if v := c.Get("k"); v != nil {
		t.Fatalf("Get after Delete = %v", v)
	}
	// The front never outlives the row.
	if err := c.Set("short", token, 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if v := c.Get("short"); v != token {
		t.Fatalf("Get short = %v", v)
	}
	waitAbsent(t, c, "short", 600*time.Millisecond)
}

// onSelect runs a function when a token_cache SELECT has finished, before
// the Cache that made it continues: it stages a Delete racing a Get.
type onSelect struct {
	mu sync.Mutex
	fn func()
}

type sqlKey struct{}

func (o *onSelect) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	return context.WithValue(ctx, sqlKey{}, d.SQL)
}

func (o *onSelect) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryEndData) {
	sql, _ := ctx.Value(sqlKey{}).(string)
	if !strings.Contains(sql, "SELECT value") {
		return
	}
	o.mu.Lock()
	fn := o.fn
	o.fn = nil
	o.mu.Unlock()
	if fn != nil {
		fn()
	}
}

// A Get that read a value just before a Delete of the same Cache does not
// put it back into the front.
func TestDeleteDuringGet(t *testing.T) {
	_, url, sealer := setup(t)
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	tracer := &onSelect{}
	cfg.ConnConfig.Tracer = tracer
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	c := tokencache.New(pool, sealer, tokencache.WithFrontTTL(time.Minute))
	if err := c.Set("k", token, time.Hour); err != nil {
		t.Fatal(err)
	}
	var delErr error
	tracer.mu.Lock()
	tracer.fn = func() { delErr = c.Delete("k") }
	tracer.mu.Unlock()
	// This Get read the token before the Delete, and may return it...
	if v := c.Get("k"); v != token {
		t.Fatalf("racing Get = %v", v)
	}
	if delErr != nil {
		t.Fatal(delErr)
	}
	// ...but the next one must not.
	if v := c.Get("k"); v != nil {
		t.Fatalf("Get after Delete = %v: the racing read was kept", v)
	}
}

func TestExpiry(t *testing.T) {
	pool, _, sealer := setup(t)
	a := tokencache.New(pool, sealer)
	b := tokencache.New(pool, sealer, tokencache.WithFrontTTL(0))
	const ttl = 300 * time.Millisecond
	if err := a.Set("k", token, ttl); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if v := b.Get("k"); v != token {
		t.Fatalf("Get before expiry = %v", v)
	}
	if v := a.Get("k"); v != token {
		t.Fatalf("Get before expiry = %v", v)
	}
	time.Sleep(ttl - time.Since(start) + 50*time.Millisecond)
	// An expired row reads as absent, in both instances, though it is
	// still there.
	for name, c := range map[string]*tokencache.Cache{"a": a, "b": b} {
		if v := c.Get("k"); v != nil {
			t.Fatalf("%s: Get after expiry = %v", name, v)
		}
		if c.IsExist("k") {
			t.Fatalf("%s: IsExist after expiry", name)
		}
	}
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM token_cache WHERE key = 'k'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("rows %d, %v", n, err)
	}
	// A new Set revives the key.
	if err := a.Set("k", token, time.Hour); err != nil {
		t.Fatal(err)
	}
	if v := b.Get("k"); v != token {
		t.Fatalf("Get after a new Set = %v", v)
	}
}

// Set stores expires_at = now + timeout, and ShortTimeout for timeout <= 0.
func TestSetTimeout(t *testing.T) {
	pool, _, sealer := setup(t)
	c := tokencache.New(pool, sealer)
	tests := []struct {
		timeout, want time.Duration
	}{
		{6900 * time.Second, 6900 * time.Second},
		{90 * time.Second, 90 * time.Second},
		{0, tokencache.ShortTimeout},
		{-5 * time.Minute, tokencache.ShortTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.timeout.String(), func(t *testing.T) {
			if err := c.Set("k", token, tt.timeout); err != nil {
				t.Fatal(err)
			}
			var secs float64
			err := pool.QueryRow(context.Background(),
				`SELECT extract(epoch FROM expires_at - now())::float8 FROM token_cache WHERE key = 'k'`).Scan(&secs)
			if err != nil {
				t.Fatal(err)
			}
			got := time.Duration(secs * float64(time.Second))
			if got > tt.want || got < tt.want-5*time.Second {
				t.Fatalf("expires in %v, want about %v", got, tt.want)
			}
			if v := c.Get("k"); v != token {
				t.Fatalf("Get = %v", v)
			}
		})
	}
}

// A value that does not open reads as absent and is reported.
func TestSealedValueBoundToKeyAndSealer(t *testing.T) {
	pool, _, sealer := setup(t)
	ctx := context.Background()
	if err := tokencache.New(pool, sealer).Set("k1", token, time.Hour); err != nil {
		t.Fatal(err)
	}
	// A copy of k1's sealed value under k2.
	if _, err := pool.Exec(ctx, `INSERT INTO token_cache (key, value, expires_at)
		SELECT 'k2', value, expires_at FROM token_cache WHERE key = 'k1'`); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		sealer *pii.Sealer
		key    string
		want   any
	}{
		{"own key", sealer, "k1", token},
		{"copied under another key", sealer, "k2", nil},
		{"another sealer", newSealer(t, 9), "k1", nil},
		{"another sealer holding the key as old", rotated(t), "k1", token},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sink errSink
			c := tokencache.New(pool, tt.sealer, tokencache.WithErrorHandler(sink.handle))
			if v := c.Get(tt.key); v != tt.want {
				t.Fatalf("Get = %v, want %v", v, tt.want)
			}
			if got := c.IsExist(tt.key); got != (tt.want != nil) {
				t.Fatalf("IsExist = %v", got)
			}
			errs := sink.all()
			if tt.want != nil {
				if len(errs) > 0 {
					t.Fatalf("reported %v", errs)
				}
				return
			}
			if len(errs) != 2 {
				t.Fatalf("reported %d errors, want 2 (Get, IsExist): %v", len(errs), errs)
			}
			for _, err := range errs {
				// Under a key not held at all, the error says so by key id.
				if !errors.Is(err, pii.ErrOpen) && !errors.Is(err, pii.ErrUnheldKey) || !strings.Contains(err.Error(), tt.key) {
					t.Fatalf("reported %v, want pii.ErrOpen or ErrUnheldKey naming the key", err)
				}
			}
			noLeak(t, errs...)
		})
	}
}

func TestValueIsSealed(t *testing.T) {
	pool, _, sealer := setup(t)
	c := tokencache.New(pool, sealer)
	if err := c.Set("k", token, time.Hour); err != nil {
		t.Fatal(err)
	}
	var first []byte
	if err := pool.QueryRow(context.Background(), `SELECT value FROM token_cache WHERE key = 'k'`).Scan(&first); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(first, []byte(token)) || bytes.Contains(first, []byte("SeCrEt")) {
		t.Fatalf("stored value holds the token: %q", first)
	}
	if len(first) <= len(token) {
		t.Fatalf("stored %d bytes for a %d-byte token: not sealed", len(first), len(token))
	}
	// Sealing again uses a fresh nonce: equal tokens are not recognisable.
	if err := c.Set("k", token, time.Hour); err != nil {
		t.Fatal(err)
	}
	var second []byte
	if err := pool.QueryRow(context.Background(), `SELECT value FROM token_cache WHERE key = 'k'`).Scan(&second); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(first, second) {
		t.Fatal("two seals of one token are equal")
	}
}

func TestSetRejectsNonString(t *testing.T) {
	pool, _, sealer := setup(t)
	c := tokencache.New(pool, sealer)
	tests := []struct {
		name string
		val  any
	}{
		{"nil", nil},
		{"int", 42},
		{"bytes", []byte(token)},
		{"pointer", new(string)},
		{"struct", struct{ Token string }{token}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.Set("k", tt.val, time.Hour)
			if !errors.Is(err, tokencache.ErrNotString) {
				t.Fatalf("Set = %v, want ErrNotString", err)
			}
			noLeak(t, err)
			if v := c.Get("k"); v != nil {
				t.Fatalf("Get after a refused Set = %v", v)
			}
		})
	}
	// An empty string is a string.
	if err := c.Set("k", "", time.Hour); err != nil {
		t.Fatal(err)
	}
	if v := c.Get("k"); v != "" {
		t.Fatalf("Get = %#v, want \"\"", v)
	}
}

// A database that fails makes Get and IsExist read as absent and report,
// and Set and Delete return the error.
func TestDatabaseErrors(t *testing.T) {
	pool, url, sealer := setup(t)
	ctx := context.Background()

	t.Run("closed pool", func(t *testing.T) {
		p, err := pgxpool.New(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		var sink errSink
		c := tokencache.New(p, sealer, tokencache.WithErrorHandler(sink.handle))
		if err := c.Set("k", token, time.Hour); err != nil {
			t.Fatal(err)
		}
		p.Close()
		// The row is there, but c can only ask its closed pool (its front is
		// empty: Set clears it).
		if v := c.Get("k"); v != nil {
			t.Fatalf("Get = %v", v)
		}
		if c.IsExist("k") {
			t.Fatal("IsExist = true")
		}
		if n := len(sink.all()); n != 2 {
			t.Fatalf("reported %d errors, want 2", n)
		}
		setErr := c.Set("k", token, time.Hour)
		delErr := c.Delete("k")
		if setErr == nil || delErr == nil {
			t.Fatalf("Set = %v, Delete = %v on a closed pool", setErr, delErr)
		}
		noLeak(t, append(sink.all(), setErr, delErr)...)
	})

	t.Run("op timeout", func(t *testing.T) {
		var sink errSink
		c := tokencache.New(pool, sealer, tokencache.WithErrorHandler(sink.handle),
			tokencache.WithOpTimeout(200*time.Millisecond), tokencache.WithFrontTTL(0))
		if err := c.Set("k", token, time.Hour); err != nil {
			t.Fatal(err)
		}
		// Another session locks the table: every call would wait.
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = tx.Rollback(ctx) }()
		if _, err := tx.Exec(ctx, `LOCK TABLE token_cache IN ACCESS EXCLUSIVE MODE`); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if v := c.Get("k"); v != nil {
			t.Fatalf("Get = %v", v)
		}
		if err := c.Delete("k"); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Delete = %v, want a deadline error", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("two calls took %v under a 200ms op timeout", d)
		}
		errs := sink.all()
		if len(errs) != 1 || !errors.Is(errs[0], context.DeadlineExceeded) {
			t.Fatalf("reported %v, want one deadline error", errs)
		}
		_ = tx.Rollback(ctx)
		// Once the lock is gone the value is there again.
		if v := c.Get("k"); v != token {
			t.Fatalf("Get after the lock = %v", v)
		}
	})

	t.Run("caller's context", func(t *testing.T) {
		var sink errSink
		c := tokencache.New(pool, sealer, tokencache.WithErrorHandler(sink.handle), tokencache.WithFrontTTL(0))
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := cache.SetContext(cctx, c, "ctx", token, time.Hour); !errors.Is(err, context.Canceled) {
			t.Fatalf("SetContext = %v", err)
		}
		if err := cache.SetContext(ctx, c, "ctx", token, time.Hour); err != nil {
			t.Fatal(err)
		}
		if v := cache.GetContext(cctx, c, "ctx"); v != nil {
			t.Fatalf("GetContext(canceled) = %v", v)
		}
		if v := cache.GetContext(ctx, c, "ctx"); v != token {
			t.Fatalf("GetContext = %v", v)
		}
		if !cache.IsExistContext(ctx, c, "ctx") {
			t.Fatal("IsExistContext = false")
		}
		if err := cache.DeleteContext(ctx, c, "ctx"); err != nil {
			t.Fatal(err)
		}
		if cache.IsExistContext(ctx, c, "ctx") {
			t.Fatal("IsExistContext after DeleteContext = true")
		}
		if errs := sink.all(); len(errs) != 1 || !errors.Is(errs[0], context.Canceled) {
			t.Fatalf("reported %v, want one cancellation", errs)
		}
	})
}

// Many goroutines over three instances (one without a front) see only
// values that were set, or nothing, and nothing fails. Run under -race.
func TestConcurrent(t *testing.T) {
	pool, _, sealer := setup(t)
	var sink errSink
	caches := []*tokencache.Cache{
		tokencache.New(pool, sealer, tokencache.WithErrorHandler(sink.handle)),
		tokencache.New(pool, sealer, tokencache.WithErrorHandler(sink.handle), tokencache.WithFrontTTL(50*time.Millisecond)),
		tokencache.New(pool, sealer, tokencache.WithErrorHandler(sink.handle), tokencache.WithFrontTTL(0)),
	}
	keys := []string{"k0", "k1"}
	valid := func(key string, v any) bool {
		s, ok := v.(string)
		return ok && strings.HasPrefix(s, key+"-tok-")
	}
	const workers, rounds = 24, 60
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds)
	for w := range workers {
		wg.Go(func() {
			c := caches[w%len(caches)]
			for i := range rounds {
				key := keys[(w+i)%len(keys)]
				switch (w + i) % 5 {
				case 0:
					if err := c.Set(key, fmt.Sprintf("%s-tok-%d-%d", key, w, i), time.Minute); err != nil {
						errs <- err
					}
				case 1:
					if err := c.Delete(key); err != nil {
						errs <- err
					}
				case 2:
					// Exercised for races; a failure would be reported.
					_ = c.IsExist(key)
				default:
					if v := c.Get(key); v != nil && !valid(key, v) {
						errs <- fmt.Errorf("Get(%s) = %#v", key, v)
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if r := sink.all(); len(r) > 0 {
		t.Fatalf("reported %v", r)
	}
	// After the storm, all instances agree once the fronts have lapsed.
	if err := caches[0].Set("k0", "k0-tok-final", time.Minute); err != nil {
		t.Fatal(err)
	}
	time.Sleep(tokencache.DefaultFrontTTL + 100*time.Millisecond)
	for n, c := range caches {
		if v := c.Get("k0"); v != "k0-tok-final" {
			t.Fatalf("cache %d: Get = %v", n, v)
		}
	}
}

// Two replicas of the WeChat client, each with its own Cache over one
// database, fetch one token between them, and a stale token dropped by one
// is refreshed once for both.
func TestWeChatReplicasShareToken(t *testing.T) {
	pool, _, sealer := setup(t)
	f := &fakeWeChat{valid: map[string]bool{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	const front = 200 * time.Millisecond
	newClient := func() *wechat.Client {
		c, err := wechat.New(wechat.Config{AppID: "wxAPP", Secret: "SECRET", APIBase: srv.URL,
			HTTPClient: &http.Client{Timeout: 2 * time.Second}},
			tokencache.New(pool, sealer, tokencache.WithFrontTTL(front)))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	a, b := newClient(), newClient()
	send := func(c *wechat.Client) {
		t.Helper()
		if _, err := c.Send(context.Background(), wechat.Message{ToOpenID: "o-1", TemplateID: "tpl"}); err != nil {
			t.Fatal(err)
		}
	}
	send(a)
	send(b)
	send(a)
	if n := f.fetches(); n != 1 {
		t.Fatalf("%d token fetches for two replicas, want 1", n)
	}
	// WeChat stops accepting the token (40001): A drops it and fetches the
	// next; B, once its front has lapsed, reads the new one.
	f.revokeAll()
	send(a)
	time.Sleep(front + 50*time.Millisecond)
	send(b)
	if n := f.fetches(); n != 2 {
		t.Fatalf("%d token fetches, want 2", n)
	}
	var raw []byte
	if err := pool.QueryRow(context.Background(), `SELECT value FROM token_cache`).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("ACCESS-TOKEN")) {
		t.Fatal("the stored token is not sealed")
	}
}

// fakeWeChat answers stable_token and template/send.
type fakeWeChat struct {
	mu    sync.Mutex
	n     int
	valid map[string]bool
}

func (f *fakeWeChat) fetches() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}

func (f *fakeWeChat) revokeAll() {
	f.mu.Lock()
	clear(f.valid)
	f.mu.Unlock()
}

func (f *fakeWeChat) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	switch r.URL.Path {
	case "/cgi-bin/stable_token":
		f.n++
		tok := fmt.Sprintf("ACCESS-TOKEN-%d", f.n)
		f.valid[tok] = true
		fmt.Fprintf(w, `{"access_token":%q,"expires_in":7200}`, tok)
	case "/cgi-bin/message/template/send":
		if !f.valid[r.URL.Query().Get("access_token")] {
			fmt.Fprint(w, `{"errcode":40001,"errmsg":"invalid credential"}`)
			return
		}
		fmt.Fprint(w, `{"errcode":0,"errmsg":"ok","msgid":1}`)
	default:
		http.NotFound(w, r)
	}
}
