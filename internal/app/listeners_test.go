package app

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/policypush/policypush/internal/httpapi"
	"github.com/policypush/policypush/internal/ingest"
)

// notFound is what the router answers for a path it does not know, and so
// what either listener answers for the other's routes.
const notFound = "404 page not found\n"

// route is one request of a route class.
type route struct {
	name, method, path string
	public             bool // the internet must reach it
	auth               bool
	body               string
	accept             string // "": none
}

var routes = []route{
	{"metrics", "GET", "/metrics", false, false, "", ""},
	{"liveness", "GET", "/healthz", false, false, "", ""},
	{"readiness", "GET", "/readyz", false, false, "", ""},
	{"admin API", "GET", "/api/policies", false, true, "", ""},
	{"console", "GET", "/", false, false, "", ""},
	{"console data", "GET", "/console/data.json", false, false, "", ""},
	{"short link", "GET", "/r/unknown-token", true, false, "", ""},
	// A phone's browser gets the notice page's not-found page instead
	// of JSON; the internal listener still answers only the router's 404.
	{"short link in a browser", "GET", "/r/unknown-token", true, false, "", "text/html,*/*;q=0.8"},
	{"wechat callback", "GET", "/wechat/callback?timestamp=1&nonce=n&signature=x&echostr=e", true, false, "", ""},
	{"aliyun callback", "POST", "/sms/callback/aliyun", true, false, "[]", ""},
	{"tencent callback", "POST", "/sms/callback/tencent", true, false, "[]", ""},
	{"policy library", "GET", "/policies", true, false, "", ""},
	{"policy page", "GET", "/policies/skill-upgrade-subsidy", true, false, "", ""},
	{"policy JSON", "GET", "/public/policies/skill-upgrade-subsidy", true, false, "", ""},
	{"self-check page", "GET", "/check", true, false, "", ""},
	{"self-check", "POST", "/public/check", true, false, `{"subject_type": "resident", "profile": {}}`, ""},
}

// ask sends rt to addr and returns the status and body, following no
// redirect (a sign-in page is an answer of the route's own).
func ask(t *testing.T, c *http.Client, addr string, rt route, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(rt.method, "http://"+addr+rt.path, strings.NewReader(rt.body))
	if err != nil {
		t.Fatal(err)
	}
	if rt.auth {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rt.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if rt.accept != "" {
		req.Header.Set("Accept", rt.accept)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func noRedirects() *http.Client {
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// TestListenerSplit: with POLICYPUSH_PUBLIC_ADDR set, each route class is
// served on its own listener and answers the router's plain 404 on the
// other, so the public one reveals nothing of /metrics, /api or the
// console; unset, one listener serves everything. The public routes are
// rate-limited per client, with 429 and Retry-After, counted on /metrics;
// another client and the internal routes are not held up.
func TestListenerSplit(t *testing.T) {
	t.Run("split", func(t *testing.T) {
		e := newEnv(t)
		e.cfg.PublicAddr = "127.0.0.1:0"
		e.cfg.PublicRate, e.cfg.PublicBurst = 0.5, 10
		s := e.start(ingest.Hooks{})
		public, internal := <-s.public, <-s.addr
		c := noRedirects()
		for _, rt := range routes {
			for _, side := range []struct {
				name, addr string
				public     bool
			}{{"public", public, true}, {"internal", internal, false}} {
				t.Run(rt.name+" on the "+side.name+" listener", func(t *testing.T) {
					code, body := ask(t, c, side.addr, rt, e.cfg.AdminToken.Value())
					if side.public == rt.public {
						if body == notFound {
							t.Errorf("%s %s: the route is not served here (%d %q)", rt.method, rt.path, code, body)
						}
						if rt.name == "short link in a browser" && (code != http.StatusNotFound ||
							!strings.Contains(body, "链接无效或已过期") || !strings.Contains(body, "12333")) {
							t.Errorf("%s %s in a browser: %d %.200q, want the notice page's not-found page", rt.method, rt.path, code, body)
						}
						return
					}
					if code != http.StatusNotFound || body != notFound {
						t.Errorf("%s %s: %d %.200q, want the router's plain 404", rt.method, rt.path, code, body)
					}
				})
			}
		}

		t.Run("rate limit", func(t *testing.T) {
			var limited *http.Response
			for i := 0; i < 30 && limited == nil; i++ {
				resp, err := c.Get("http://" + public + "/r/unknown-token")
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusTooManyRequests {
					limited = resp
				}
			}
			if limited == nil || limited.Header.Get("Retry-After") == "" {
				t.Fatalf("30 requests at once from one client with a burst of 10: never 429 with Retry-After (%v)", limited)
			}
			// Still limited: a phone's browser gets the citizens' page, in
			// the site's frame, with Retry-After; a JSON client, JSON.
			for _, p := range []string{"/n/unknown-token", "/r/unknown-token"} {
				req, _ := http.NewRequest(http.MethodGet, "http://"+public+p, nil)
				req.Header.Set("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				page := string(b)
				if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" ||
					!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(page, `<header class="top">`) ||
					!strings.Contains(page, "一分钟") || !strings.Contains(page, `href="tel:12333"`) {
					t.Errorf("%s in a browser, limited: %d %v %.300q, want 429 with Retry-After and the friendly page", p, resp.StatusCode, resp.Header, page)
				}
				req.Header.Set("Accept", "application/json")
				resp, err = c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ = io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Content-Type") != "application/json" ||
					!strings.Contains(string(b), `"error":"too many requests`) {
					t.Errorf("%s from a JSON client, limited: %d %q, want 429 with a JSON error", p, resp.StatusCode, b)
				}
			}
			// Another client (the loopback has every 127.x address) has
			// its own bucket; the internal routes have none.
			other := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{
				LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}).DialContext}}
			if code, body := ask(t, other, public, route{method: "GET", path: "/r/unknown-token"}, ""); code != http.StatusNotFound {
				t.Errorf("another client: %d %q, want the short link's own 404", code, body)
			}
			for range 20 {
				if code, _ := ask(t, c, internal, route{method: "GET", path: "/healthz"}, ""); code != 200 {
					t.Fatalf("/healthz while the client is limited: %d", code)
				}
			}
			_, metrics := ask(t, c, internal, route{method: "GET", path: "/metrics"}, "")
			if !strings.Contains(metrics, "policypush_http_rate_limited_total ") ||
				strings.Contains(metrics, "policypush_http_rate_limited_total 0\n") {
				t.Errorf("policypush_http_rate_limited_total does not count the refusals")
			}
		})
	})

	t.Run("one listener", func(t *testing.T) {
		e := newEnv(t)
		s := e.start(ingest.Hooks{})
		addr := <-s.addr
		c := noRedirects()
		for _, rt := range routes {
			t.Run(rt.name, func(t *testing.T) {
				if code, body := ask(t, c, addr, rt, e.cfg.AdminToken.Value()); body == notFound {
					t.Errorf("%s %s: not served (%d)", rt.method, rt.path, code)
				}
			})
		}
		select {
		case a := <-s.public:
			t.Errorf("a public listener on %s, without POLICYPUSH_PUBLIC_ADDR", a)
		default:
		}
	})
}

// TestSlowlorisBothListeners: on the internal and on the public listener
// of a running service, a POST whose body never arrives, headers sent a
// byte at a time and an idle keep-alive connection are each closed by the
// server within its configured timeout, never served.
func TestSlowlorisBothListeners(t *testing.T) {
	e := newEnv(t)
	e.cfg.PublicAddr = "127.0.0.1:0"
	limits := httpapi.Limits{ReadHeader: 300 * time.Millisecond, Read: 600 * time.Millisecond, Write: 2 * time.Second,
		Idle: 400 * time.Millisecond, MaxHeaderBytes: 16 << 10, MaxBody: 1 << 20}
	e.http = func(l *httpapi.Limits) { *l = limits }
	s := e.start(ingest.Hooks{})
	public, internal := <-s.public, <-s.addr
	auth := "Authorization: Bearer " + e.cfg.AdminToken.Value() + "\r\n"

	for _, side := range []struct {
		name, addr string
		post       string // a route that reads its body
		get        string // a prompt request
	}{
		{"internal", internal, "POST /api/notices/requeue HTTP/1.1\r\nHost: x\r\n" + auth, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"public", public, "POST /sms/callback/aliyun HTTP/1.1\r\nHost: x\r\n", "GET /r/unknown-token HTTP/1.1\r\nHost: x\r\n\r\n"},
	} {
		dial := func(t *testing.T) net.Conn {
			t.Helper()
			c, err := net.Dial("tcp", side.addr)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			return c
		}
		t.Run(side.name+": body never arrives", func(t *testing.T) {
			c := dial(t)
			start := time.Now()
			if _, err := io.WriteString(c, side.post+"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			closedWithin(t, c, start, limits.Read)
		})
		t.Run(side.name+": headers a byte at a time", func(t *testing.T) {
			c := dial(t)
			start := time.Now()
			// About 2 s at 25 ms a byte, several times the limit.
			for _, b := range []byte(strings.Replace(side.get, "\r\n\r\n", "\r\nX-Slow: "+strings.Repeat("a", 40)+"\r\n\r\n", 1)) {
				if _, err := c.Write([]byte{b}); err != nil {
					break // closed under us: what the test wants
				}
				time.Sleep(25 * time.Millisecond)
			}
			closedWithin(t, c, start, limits.ReadHeader)
		})
		t.Run(side.name+": idle keep-alive", func(t *testing.T) {
			c := dial(t)
			if _, err := io.WriteString(c, side.get); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatalf("a prompt request: %v", err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.Close {
				t.Fatal("the server closed a prompt request's connection at once: nothing is kept alive to test")
			}
			closedWithin(t, c, time.Now(), limits.Idle)
		})
	}
}

// closedWithin fails unless the server closes c about limit after start,
// having served nothing on it (a 4xx as it closes is allowed).
func closedWithin(t *testing.T, c net.Conn, start time.Time, limit time.Duration) {
	t.Helper()
	_ = c.SetReadDeadline(start.Add(limit + 3*time.Second))
	got, err := io.ReadAll(c)
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		t.Fatalf("the connection is still open %v after the %v limit", time.Since(start)-limit, limit)
	}
	if took := time.Since(start); took > limit+time.Second {
		t.Errorf("closed after %v, want about %v", took, limit)
	}
	if len(got) > 0 && !strings.HasPrefix(string(got), "HTTP/1.1 4") {
		t.Errorf("answered %.200q before closing, want nothing or a 4xx", got)
	}
}
