package httpapi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestPublic: the routes the internet must reach, today's and those later
// issues add, are public; everything else — metrics, health, the API, the
// console — is internal, however the path is dressed up.
func TestPublic(t *testing.T) {
	for _, c := range []struct {
		path     string
		public   bool
		callback bool
	}{
		{"/r/abc", true, false},
		{"/r/", true, false},
		{"/n/abc", true, false},
		{"/public/notices/abc", true, false},
		{"/public/policies", true, false},
		{"/policies", true, false},
		{"/policies/talent-rent-subsidy/publicity", true, false},
		{"/check", true, false},
		{"/consultations", true, false},
		{"/wechat/callback", true, true},
		{"/sms/callback/aliyun", true, true},
		{"/sms/callback/tencent", true, true},

		{"/", false, false},
		{"", false, false},
		{"/metrics", false, false},
		{"/healthz", false, false},
		{"/readyz", false, false},
		{"/api/policies", false, false},
		{"/api/policies/preview", false, false},
		{"/console/data.json", false, false},
		{"/rx", false, false},
		{"/policiesx", false, false},
		{"/checkout", false, false},
		{"/wechat/callbacks", false, false},
		{"/sms", false, false},
		{"/r/../metrics", false, false},
		{"/public/../api/policies", false, false},
		{"/api/../r/x", true, false},
		{"//r/x", true, false},
		{"*", false, false},
	} {
		if got := Public(c.path); got != c.public {
			t.Errorf("Public(%q) = %v, want %v", c.path, got, c.public)
		}
		if got := Callback(c.path); got != c.callback {
			t.Errorf("Callback(%q) = %v, want %v", c.path, got, c.callback)
		}
	}
}

// TestOnly: each side of the split serves its own routes and answers the
// other side's as unknown paths, with nothing of the route's own answer.
func TestOnly(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "served "+r.URL.Path) })
	pub, internal := Only(h, true), Only(h, false)
	for _, c := range []struct {
		path   string
		public bool
	}{{"/r/x", true}, {"/sms/callback/aliyun", true}, {"/n/x", true}, {"/metrics", false}, {"/api/policies", false}, {"/", false}} {
		for _, side := range []struct {
			name string
			h    http.Handler
			pub  bool
		}{{"public", pub, true}, {"internal", internal, false}} {
			rec := httptest.NewRecorder()
			side.h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, c.path, nil))
			want, body := http.StatusNotFound, "404 page not found\n"
			if side.pub == c.public {
				want, body = http.StatusOK, "served "+c.path
			}
			if rec.Code != want || rec.Body.String() != body {
				t.Errorf("%s %s: %d %q, want %d %q", side.name, c.path, rec.Code, rec.Body.String(), want, body)
			}
		}
	}
}

// fakeClock is a clock the test moves.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time      { return c.t }
func (c *fakeClock) add(d time.Duration) { c.t = c.t.Add(d) }
func request(path, remote string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, path, nil)
	r.RemoteAddr = remote
	return r
}

// TestRateLimit: one client gets its burst and then 429 with Retry-After
// and a JSON error, counted; another client, and the internal routes and
// the callbacks, are unaffected; time refills the bucket; an IPv6 client
// is its /64.
func TestRateLimit(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)}
	reg := prometheus.NewRegistry()
	l, err := NewLimiter(RateLimit{PerSecond: 1, Burst: 3}, reg, clock.now)
	if err != nil {
		t.Fatal(err)
	}
	h := l.Wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }))
	do := func(path, remote string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, request(path, remote))
		return rec
	}
	for i := range 3 {
		if rec := do("/r/x", "203.0.113.7:5000"); rec.Code != 200 {
			t.Fatalf("request %d of the burst: %d", i+1, rec.Code)
		}
	}
	rec := do("/r/x", "203.0.113.7:5001") // another port, the same client
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "1" ||
		rec.Header().Get("Content-Type") != "application/json" || !strings.Contains(rec.Body.String(), `"error":"too many requests`) {
		t.Fatalf("after the burst: %d %v %q, want 429 with Retry-After: 1 and a JSON error", rec.Code, rec.Header(), rec.Body)
	}
	if got := refusals(t, reg); got != 1 {
		t.Errorf("policypush_http_rate_limited_total = %v, want 1", got)
	}
	for _, c := range []struct{ what, path, remote string }{
		{"another client", "/r/x", "198.51.100.1:5000"},
		{"an internal route", "/metrics", "203.0.113.7:5000"},
		{"a callback", "/sms/callback/aliyun", "203.0.113.7:5000"},
	} {
		if rec := do(c.path, c.remote); rec.Code != 200 {
			t.Errorf("%s: %d, want 200", c.what, rec.Code)
		}
	}
	clock.add(time.Second)
	if rec := do("/n/x", "203.0.113.7:5000"); rec.Code != 200 {
		t.Errorf("a second later: %d, want 200", rec.Code)
	}
	if rec := do("/n/x", "203.0.113.7:5000"); rec.Code != 429 {
		t.Errorf("and at once again: %d, want 429", rec.Code)
	}

	// One /64: its addresses share a bucket; the next /64 has its own.
	for i := range 3 {
		do("/r/x", "[2001:db8:1:2::"+string(rune('a'+i))+"]:443")
	}
	if rec := do("/r/x", "[2001:db8:1:2:ffff::1]:443"); rec.Code != 429 {
		t.Errorf("another address of the same /64: %d, want 429", rec.Code)
	}
	if rec := do("/r/x", "[2001:db8:1:3::1]:443"); rec.Code != 200 {
		t.Errorf("the next /64: %d, want 200", rec.Code)
	}
}

// refusals reads policypush_http_rate_limited_total from reg.
func refusals(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "policypush_http_rate_limited_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatal("policypush_http_rate_limited_total is not registered")
	return 0
}

// TestRateLimitBounded: the limiter forgets idle clients as it goes, and
// never remembers more than its bound however many clients come at once.
func TestRateLimitBounded(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)}
	l, err := NewLimiter(RateLimit{PerSecond: 10, Burst: 20, Clients: 100}, prometheus.NewRegistry(), clock.now)
	if err != nil {
		t.Fatal(err)
	}
	h := l.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	addr := func(i int) string {
		return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}).String() + ":1"
	}
	for i := range 1000 {
		h.ServeHTTP(httptest.NewRecorder(), request("/r/x", addr(i)))
		if n := l.Len(); n > 100 {
			t.Fatalf("after %d clients the limiter remembers %d, over its bound of 100", i+1, n)
		}
	}
	// A refilled bucket is forgotten: 2 s refills a burst of 20 at 10/s.
	clock.add(2 * time.Second)
	h.ServeHTTP(httptest.NewRecorder(), request("/r/x", "192.0.2.1:1"))
	if n := l.Len(); n != 1 {
		t.Errorf("after every client was idle for a refill, the limiter remembers %d, want 1", n)
	}
	if _, err := NewLimiter(RateLimit{PerSecond: 1, Burst: 0}, prometheus.NewRegistry(), nil); err == nil {
		t.Error("a burst of 0 is accepted")
	}
}

// TestClientIP: X-Forwarded-For is believed only from a trusted proxy, and
// only up to the first entry the proxies did not write.
func TestClientIP(t *testing.T) {
	lb := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	for _, c := range []struct {
		name, remote, xff string
		trusted           []netip.Prefix
		want              string
	}{
		{"no proxy", "203.0.113.7:5000", "", nil, "203.0.113.7"},
		{"a claim from an untrusted peer", "203.0.113.7:5000", "198.51.100.1", lb, "203.0.113.7"},
		{"through the load balancer", "10.1.2.3:5000", "198.51.100.1", lb, "198.51.100.1"},
		{"a spoofed entry to the left", "10.1.2.3:5000", "1.2.3.4, 198.51.100.1", lb, "198.51.100.1"},
		{"two proxies", "10.1.2.3:5000", "198.51.100.1, 10.9.9.9", lb, "198.51.100.1"},
		{"the proxy adds nothing", "10.1.2.3:5000", "", lb, "10.1.2.3"},
		{"IPv4 in IPv6", "[::ffff:203.0.113.7]:5000", "", nil, "203.0.113.7"},
		{"garbage", "not an address", "", nil, "invalid IP"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := request("/r/x", c.remote)
			if c.xff != "" {
				r.Header.Set("X-Forwarded-For", c.xff)
			}
			if got := ClientIP(r, c.trusted).String(); got != c.want {
				t.Errorf("ClientIP = %s, want %s", got, c.want)
			}
		})
	}
}

// TestReadyzNamesFailingCheck: /readyz names the failing check without
// the error's text, and the log says why once per change, without the
// password the error carried.
func TestReadyzNamesFailingCheck(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	var fail error
	raw := "failed to connect to postgres://policypush:s3cret-pw@db.internal:5432/policypush: connection refused"
	h := New(prometheus.NewRegistry(), Logged(log, map[string]Check{
		"database": func(context.Context) error { return fail },
		"kafka":    func(context.Context) error { return nil },
		"rules":    func(context.Context) error { return nil },
	}), ShortLinks{})
	probe := func() (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		return rec.Code, strings.TrimSpace(rec.Body.String())
	}
	if code, body := probe(); code != 200 || body != `{"database":"ok","kafka":"ok","rules":"ok"}` {
		t.Fatalf("ready: %d %s", code, body)
	}
	fail = errors.New(raw)
	for range 3 {
		code, body := probe()
		if code != 503 || body != `{"database":"failing","kafka":"ok","rules":"ok"}` {
			t.Fatalf("failing: %d %s", code, body)
		}
	}
	fail = nil
	probe()
	out := logs.String()
	if n := strings.Count(out, "readiness check failing"); n != 1 {
		t.Errorf("logged the failure %d times over three probes, want once:\n%s", n, out)
	}
	if !strings.Contains(out, "connection refused") || !strings.Contains(out, "check=database") {
		t.Errorf("the log does not say which check failed and why:\n%s", out)
	}
	if strings.Contains(out, "s3cret-pw") {
		t.Errorf("the log carries the password:\n%s", out)
	}
	if !strings.Contains(out, "readiness check ok again") {
		t.Errorf("the recovery is not logged:\n%s", out)
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"dial postgres://u:pw@h:5432/db":          "dial postgres://<redacted>@h:5432/db",
		"host=h user=u password=pw dbname=d":      "host=h user=u password=<redacted> dbname=d",
		"password='a b' x":                        "password=<redacted> x",
		"dial tcp 127.0.0.1:9092: refused":        "dial tcp 127.0.0.1:9092: refused",
		"no broker reachable: https://h/x failed": "no broker reachable: https://h/x failed",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestRateLimitPage: with a Page, a refused client that asks for HTML (a
// phone's browser on /r/ or /n/) gets the page, with Retry-After, counted
// like any refusal; a JSON client, curl (*/*) and one that names nothing
// get the JSON error; every refusal varies by Accept. Without a Page, a
// browser gets JSON as before.
func TestRateLimitPage(t *testing.T) {
	const browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
	page := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = io.WriteString(w, "<p>请一分钟后再试</p>")
	})
	for _, withPage := range []bool{true, false} {
		clock := &fakeClock{t: time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)}
		reg := prometheus.NewRegistry()
		rl := RateLimit{PerSecond: 1, Burst: 1}
		if withPage {
			rl.Page = page
		}
		l, err := NewLimiter(rl, reg, clock.now)
		if err != nil {
			t.Fatal(err)
		}
		h := l.Wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }))
		first := httptest.NewRecorder()
		h.ServeHTTP(first, request("/r/x", "203.0.113.7:1"))
		if first.Code != 200 {
			t.Fatalf("the burst: %d", first.Code)
		}
		for i, tc := range []struct {
			path, accept string
			html         bool
		}{
			{"/r/x", browser, true},
			{"/n/x", browser, true},
			{"/n/x", "text/html", true},
			{"/public/notices/x", "application/json", false},
			{"/n/x", "application/json, text/html;q=0.5", false},
			{"/r/x", "*/*", false},
			{"/r/x", "", false},
		} {
			r := request(tc.path, "203.0.113.7:2")
			if tc.accept != "" {
				r.Header.Set("Accept", tc.accept)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			wantHTML := tc.html && withPage
			ct := rec.Header().Get("Content-Type")
			switch {
			case rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "1":
				t.Errorf("page=%v %s %q: %d, Retry-After %q; want 429 with Retry-After: 1", withPage, tc.path, tc.accept, rec.Code, rec.Header().Get("Retry-After"))
			case wantHTML && (ct != "text/html; charset=utf-8" || rec.Body.String() != "<p>请一分钟后再试</p>"):
				t.Errorf("page=%v %s %q: %q %q, want the page", withPage, tc.path, tc.accept, ct, rec.Body)
			case !wantHTML && (ct != "application/json" || !strings.Contains(rec.Body.String(), `"error":"too many requests`)):
				t.Errorf("page=%v %s %q: %q %q, want the JSON error", withPage, tc.path, tc.accept, ct, rec.Body)
			case withPage && rec.Header().Get("Vary") != "Accept":
				t.Errorf("page=%v %s %q: Vary %q, want Accept", withPage, tc.path, tc.accept, rec.Header().Get("Vary"))
			}
			if got := refusals(t, reg); got != float64(i+1) {
				t.Errorf("page=%v: %v refusals counted, want %d", withPage, got, i+1)
			}
		}
	}
}
