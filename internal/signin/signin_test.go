package signin_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/policypush/policypush/internal/console"
	"github.com/policypush/policypush/internal/pgtest"
	"github.com/policypush/policypush/internal/signin"
	"github.com/policypush/policypush/internal/store"
)

const adminToken = "test-admin-token-0123456789"

// clock is a time the test moves on.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// lockedBuffer collects the log of the service and the handlers it calls.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type emptySource struct{}

func (emptySource) Snapshot(context.Context) (console.Snapshot, error) {
	return console.Snapshot{GeneratedAt: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}, nil
}

// testEnv is the sign-in service over a fresh database, with the console
// behind it as the app mounts it.
type testEnv struct {
	srv   *httptest.Server
	pool  *store.Store
	clock *clock
	log   *lockedBuffer
}

func newEnv(t *testing.T, mutate func(c *signin.Config, baseURL string)) *testEnv {
	t.Helper()
	st, err := store.Open(context.Background(), pgtest.NewDatabase(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close) // runs before pgtest drops the database
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	e := &testEnv{pool: st, clock: &clock{t: time.Now()}, log: &lockedBuffer{}}
	log := slog.New(slog.NewTextHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := signin.Config{
		Verifier:  signin.NewTokenVerifier(adminToken, signin.Identity{Name: "admin-token", Role: "admin"}),
		Sessions:  signin.NewPostgresSessions(st.Pool()),
		FailDelay: 10 * time.Millisecond,
		Log:       log,
		Now:       e.clock.now,
	}
	var h http.Handler
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(e.srv.Close)
	if mutate != nil {
		mutate(&cfg, e.srv.URL)
	}
	svc, err := signin.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	svc.Register(mux)
	c := svc.Protect("viewer", console.New(emptySource{}, log))
	mux.Handle("GET /{$}", c)
	mux.Handle("GET /console/", c)
	// A page with a form, as the console's case pages (forms_test.go).
	form := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := signin.FromContext(r.Context())
		fmt.Fprintf(w, "ok %s %s %s", r.Method, id.Name, signin.CSRFFromContext(r.Context()))
	})
	mux.Handle("GET /console/form", svc.ProtectForms("viewer", form))
	mux.Handle("POST /console/form", svc.ProtectForms("reviewer", form))
	h = mux
	return e
}

// noRedirect is a client that shows each answer as it is.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

type resp struct {
	code    int
	header  http.Header
	body    string
	cookies map[string]*http.Cookie
}

func (e *testEnv) do(t *testing.T, method, path string, form url.Values, header map[string]string, cookies ...*http.Cookie) resp {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	for _, c := range cookies {
		if c != nil {
			req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
		}
	}
	res, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := resp{code: res.StatusCode, header: res.Header, body: string(b), cookies: map[string]*http.Cookie{}}
	for _, c := range res.Cookies() {
		r.cookies[c.Name] = c
	}
	return r
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// loginForm opens the sign-in page and returns its CSRF cookie and field.
func (e *testEnv) loginForm(t *testing.T) (*http.Cookie, string) {
	t.Helper()
	r := e.do(t, "GET", "/console/login", nil, nil)
	if r.code != http.StatusOK {
		t.Fatalf("GET /console/login = %d", r.code)
	}
	c := r.cookies[signin.LoginCSRFCookie]
	m := csrfField.FindStringSubmatch(r.body)
	if c == nil || m == nil || c.Value != m[1] {
		t.Fatalf("the sign-in page has no matching CSRF cookie and field: cookie %v, field %v", c, m)
	}
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
		t.Errorf("CSRF cookie %v: want HttpOnly, SameSite=Strict", c)
	}
	return c, m[1]
}

// signIn signs in with token and returns the session cookie, or nil.
func (e *testEnv) signIn(t *testing.T, token string) (resp, *http.Cookie) {
	t.Helper()
	c, csrf := e.loginForm(t)
	r := e.do(t, "POST", "/console/login", url.Values{"token": {token}, "csrf": {csrf}}, nil, c)
	return r, r.cookies[signin.SessionCookie]
}

// TestConsoleRequiresSignIn walks an officer through the console: turned
// away without a session, refused with a wrong token, let in with the right
// one, and out again after logout, when the old cookie opens nothing.
func TestConsoleRequiresSignIn(t *testing.T) {
	e := newEnv(t, nil)
	html := map[string]string{"Accept": "text/html,application/xhtml+xml"}

	// No session: pages go to the sign-in page, the rest get 401 JSON.
	for _, path := range []string{"/", "/console/"} {
		r := e.do(t, "GET", path, nil, html)
		if r.code != http.StatusSeeOther || r.header.Get("Location") != "/console/login" {
			t.Errorf("GET %s without a session = %d to %q, want 303 to /console/login", path, r.code, r.header.Get("Location"))
		}
	}
	for _, path := range []string{"/console/data.json", "/console/app.js", "/console/style.css", "/console/session.json"} {
		r := e.do(t, "GET", path, nil, nil)
		if r.code != http.StatusUnauthorized || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
			t.Errorf("GET %s without a session = %d %s, want 401 JSON", path, r.code, r.header.Get("Content-Type"))
		}
	}
	// A made-up cookie is no session either.
	fake := &http.Cookie{Name: signin.SessionCookie, Value: strings.Repeat("A", 43)}
	if r := e.do(t, "GET", "/console/data.json", nil, nil, fake); r.code != http.StatusUnauthorized {
		t.Errorf("data.json with a made-up cookie = %d, want 401", r.code)
	}

	// The sign-in page and what it needs load without a session.
	page := e.do(t, "GET", "/console/login", nil, html)
	if page.code != http.StatusOK || !strings.Contains(page.body, "访问令牌") || !strings.Contains(page.body, `lang="zh-CN"`) {
		t.Errorf("sign-in page = %d:\n%s", page.code, page.body)
	}
	if csp := page.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") ||
		!strings.Contains(csp, "form-action 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("sign-in page CSP = %q", csp)
	}
	if strings.Contains(page.body, "<script") || strings.Contains(page.body, "style=") || strings.Contains(page.body, "统一身份认证") {
		t.Error("the sign-in page has a script, an inline style, or an OIDC button though OIDC is off")
	}
	for _, path := range []string{"/console/login/login.css", "/console/login/favicon.svg"} {
		if r := e.do(t, "GET", path, nil, nil); r.code != http.StatusOK {
			t.Errorf("GET %s = %d, want 200", path, r.code)
		}
	}

	// A wrong token: the page again, with a message, and no session.
	start := time.Now()
	r, sess := e.signIn(t, "not-the-token-at-all")
	if r.code != http.StatusUnauthorized || sess != nil || !strings.Contains(r.body, "访问令牌不正确") {
		t.Errorf("wrong token = %d, session cookie %v, body:\n%s", r.code, sess, r.body)
	}
	if time.Since(start) < 10*time.Millisecond {
		t.Error("a wrong token was answered without the delay")
	}
	if !csrfField.MatchString(r.body) {
		t.Error("the page after a wrong token has no form to try again")
	}

	// The right token: a session cookie, HttpOnly and SameSite=Strict.
	r, sess = e.signIn(t, adminToken)
	if r.code != http.StatusSeeOther || r.header.Get("Location") != "/" {
		t.Errorf("right token = %d to %q, want 303 to /", r.code, r.header.Get("Location"))
	}
	if sess == nil {
		t.Fatal("no session cookie after the right token")
	}
	if !sess.HttpOnly || sess.SameSite != http.SameSiteStrictMode || sess.Path != "/" || sess.Secure {
		t.Errorf("session cookie %s: want HttpOnly, SameSite=Strict, Path=/, not Secure over http", sess)
	}
	if sess.MaxAge != int(8*time.Hour/time.Second) {
		t.Errorf("session cookie MaxAge = %d, want 8 h", sess.MaxAge)
	}
	if c := r.cookies[signin.LoginCSRFCookie]; c == nil || c.MaxAge >= 0 {
		t.Errorf("the sign-in form's CSRF cookie was not cleared: %v", c)
	}

	// Only the hash of the cookie's value is stored.
	var officer, role, csrf string
	sum := sha256.Sum256([]byte(sess.Value))
	if err := e.pool.Pool().QueryRow(t.Context(),
		`SELECT officer, role, csrf FROM console_sessions WHERE id_hash = $1`, sum[:]).Scan(&officer, &role, &csrf); err != nil {
		t.Fatalf("the session's row by the hash of its cookie: %v", err)
	}
	if officer != "admin-token" || role != "admin" {
		t.Errorf("session row = %s %s, want admin-token admin", officer, role)
	}
	var plain int
	if err := e.pool.Pool().QueryRow(t.Context(),
		`SELECT count(*) FROM console_sessions WHERE id_hash = $1 OR officer = $2 OR csrf = $2`, []byte(sess.Value), sess.Value).Scan(&plain); err != nil || plain != 0 {
		t.Errorf("the cookie's value is stored in clear (%d rows, %v)", plain, err)
	}

	// Signed in: the console and its data.
	if r := e.do(t, "GET", "/console/data.json", nil, nil, sess); r.code != http.StatusOK || !strings.Contains(r.body, "generated_at") {
		t.Errorf("data.json signed in = %d %s", r.code, r.body)
	}
	if r := e.do(t, "GET", "/", nil, html, sess); r.code != http.StatusOK || !strings.Contains(r.body, "政策推送运行看板") {
		t.Errorf("/ signed in = %d", r.code)
	}
	if r := e.do(t, "GET", "/console/login", nil, html, sess); r.code != http.StatusSeeOther || r.header.Get("Location") != "/" {
		t.Errorf("the sign-in page signed in = %d to %q, want 303 to /", r.code, r.header.Get("Location"))
	}
	info := e.do(t, "GET", "/console/session.json", nil, nil, sess)
	if info.code != http.StatusOK || !strings.Contains(info.body, `"name":"admin-token"`) ||
		!strings.Contains(info.body, `"role":"admin"`) || !strings.Contains(info.body, `"csrf":"`+csrf+`"`) {
		t.Errorf("session.json = %d %s", info.code, info.body)
	}

	// Logout ends the session: the cookie is cleared and refused.
	r = e.do(t, "POST", "/console/logout", url.Values{"csrf": {csrf}}, nil, sess)
	if r.code != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/console/login") {
		t.Errorf("logout = %d to %q", r.code, r.header.Get("Location"))
	}
	if c := r.cookies[signin.SessionCookie]; c == nil || c.MaxAge >= 0 || c.Value != "" {
		t.Errorf("logout did not clear the session cookie: %v", c)
	}
	if r := e.do(t, "GET", "/console/data.json", nil, nil, sess); r.code != http.StatusUnauthorized {
		t.Errorf("data.json with the cookie of a logged-out session = %d, want 401", r.code)
	}
	if r := e.do(t, "GET", "/", nil, html, sess); r.code != http.StatusSeeOther {
		t.Errorf("/ with the cookie of a logged-out session = %d, want 303", r.code)
	}
	if r := e.do(t, "GET", "/console/login?signed_out=1", nil, html); !strings.Contains(r.body, "您已退出登录") {
		t.Error("the sign-in page after logout does not say so")
	}

	// A session lasts 8 hours.
	_, sess = e.signIn(t, adminToken)
	e.clock.add(8*time.Hour - time.Minute)
	if r := e.do(t, "GET", "/console/data.json", nil, nil, sess); r.code != http.StatusOK {
		t.Errorf("data.json after 7h59m = %d, want 200", r.code)
	}
	e.clock.add(2 * time.Minute)
	if r := e.do(t, "GET", "/console/data.json", nil, nil, sess); r.code != http.StatusUnauthorized {
		t.Errorf("data.json after 8h01m = %d, want 401", r.code)
	}

	// Neither the token nor a cookie's value is in the log.
	logs := e.log.String()
	for _, secret := range []string{adminToken, "not-the-token-at-all", sess.Value, csrf} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log holds a secret %q:\n%s", secret, logs)
		}
	}
}

// TestSecureCookie: a console reached over HTTPS gets Secure cookies.
func TestSecureCookie(t *testing.T) {
	e := newEnv(t, func(c *signin.Config, _ string) { c.Secure = true })
	c, _ := e.loginForm(t)
	if !c.Secure {
		t.Errorf("CSRF cookie %v is not Secure", c)
	}
	_, sess := e.signIn(t, adminToken)
	if sess == nil || !sess.Secure {
		t.Errorf("session cookie %v is not Secure", sess)
	}
}

// TestLoginCSRF: the sign-in form and logout are refused without their
// CSRF token, with a wrong one, and from another site.
func TestLoginCSRF(t *testing.T) {
	e := newEnv(t, nil)
	cookie, csrf := e.loginForm(t)
	other := &http.Cookie{Name: signin.LoginCSRFCookie, Value: strings.Repeat("B", 43)}
	good := url.Values{"token": {adminToken}, "csrf": {csrf}}
	same := e.srv.URL

	for _, tc := range []struct {
		name   string
		form   url.Values
		header map[string]string
		cookie *http.Cookie
		want   int
	}{
		{"no token, no cookie", url.Values{"token": {adminToken}}, nil, nil, http.StatusForbidden},
		{"no token in the form", url.Values{"token": {adminToken}}, nil, cookie, http.StatusForbidden},
		{"no cookie", good, nil, nil, http.StatusForbidden},
		{"wrong token", url.Values{"token": {adminToken}, "csrf": {strings.Repeat("C", 43)}}, nil, cookie, http.StatusForbidden},
		{"token of another cookie", good, nil, other, http.StatusForbidden},
		{"empty token and cookie", url.Values{"token": {adminToken}, "csrf": {""}},
			nil, &http.Cookie{Name: signin.LoginCSRFCookie, Value: ""}, http.StatusForbidden},
		{"cross-site Origin", good, map[string]string{"Origin": "https://evil.example"}, cookie, http.StatusForbidden},
		{"cross-site Sec-Fetch-Site", good, map[string]string{"Sec-Fetch-Site": "cross-site"}, cookie, http.StatusForbidden},
		{"same-site but other origin", good, map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "http://other.localhost"}, cookie, http.StatusForbidden},
		{"same origin", good, map[string]string{"Origin": same, "Sec-Fetch-Site": "same-origin"}, cookie, http.StatusSeeOther},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(t, "POST", "/console/login", tc.form, tc.header, tc.cookie)
			if r.code != tc.want {
				t.Errorf("POST /console/login = %d, want %d:\n%s", r.code, tc.want, r.body)
			}
			if sess := r.cookies[signin.SessionCookie]; (sess != nil) != (tc.want == http.StatusSeeOther) {
				t.Errorf("session cookie %v with status %d", sess, r.code)
			}
		})
	}

	_, sess := e.signIn(t, adminToken)
	info := e.do(t, "GET", "/console/session.json", nil, nil, sess)
	m := regexp.MustCompile(`"csrf":"([^"]+)"`).FindStringSubmatch(info.body)
	if m == nil {
		t.Fatalf("session.json has no csrf: %s", info.body)
	}
	for _, tc := range []struct {
		name   string
		form   url.Values
		header map[string]string
	}{
		{"logout without a token", url.Values{}, nil},
		{"logout with the sign-in form's token", url.Values{"csrf": {csrf}}, nil},
		{"logout from another site", url.Values{"csrf": {m[1]}}, map[string]string{"Origin": "https://evil.example"}},
		{"logout from another site by Sec-Fetch-Site", url.Values{"csrf": {m[1]}}, map[string]string{"Sec-Fetch-Site": "cross-site"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r := e.do(t, "POST", "/console/logout", tc.form, tc.header, sess); r.code != http.StatusForbidden {
				t.Errorf("POST /console/logout = %d, want 403", r.code)
			}
			if r := e.do(t, "GET", "/console/data.json", nil, nil, sess); r.code != http.StatusOK {
				t.Errorf("a refused logout ended the session: data.json = %d", r.code)
			}
		})
	}
}

// TestWrongTokensAreSlowed: wrong tokens wait, a few at a time, and the
// rest are turned away at once; a right token is never held up.
func TestWrongTokensAreSlowed(t *testing.T) {
	e := newEnv(t, func(c *signin.Config, _ string) { c.FailDelay = 700 * time.Millisecond; c.FailSlots = 1 })
	cookie, csrf := e.loginForm(t)
	wrong := url.Values{"token": {"guess-guess-guess-guess"}, "csrf": {csrf}}
	first := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest("POST", e.srv.URL+"/console/login", strings.NewReader(wrong.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(&http.Cookie{Name: cookie.Name, Value: cookie.Value})
		res, err := noRedirect.Do(req)
		if err != nil {
			first <- 0
			return
		}
		res.Body.Close()
		first <- res.StatusCode
	}()
	time.Sleep(200 * time.Millisecond) // the first guess is waiting
	if r := e.do(t, "POST", "/console/login", wrong, nil, cookie); r.code != http.StatusTooManyRequests {
		t.Errorf("a second guess while one waits = %d, want 429", r.code)
	}
	start := time.Now()
	if r := e.do(t, "POST", "/console/login", url.Values{"token": {adminToken}, "csrf": {csrf}}, nil, cookie); r.code != http.StatusSeeOther {
		t.Errorf("the right token while a guess waits = %d, want 303", r.code)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("the right token took %v", d)
	}
	if code := <-first; code != http.StatusUnauthorized {
		t.Errorf("the first guess = %d, want 401", code)
	}
}

func TestTokenVerifier(t *testing.T) {
	v := signin.NewTokenVerifier(adminToken, signin.Identity{Name: "admin-token", Role: "admin"})
	for _, tc := range []struct {
		token string
		ok    bool
	}{
		{adminToken, true}, {"", false}, {adminToken + "x", false}, {adminToken[:len(adminToken)-1], false}, {strings.ToUpper(adminToken), false},
	} {
		id, err := v.Verify(t.Context(), tc.token)
		if tc.ok != (err == nil) || (tc.ok && id.Role != "admin") {
			t.Errorf("Verify(%q) = %v, %v", tc.token, id, err)
		}
	}
	if !signin.AtLeast("admin", "viewer") || signin.AtLeast("viewer", "reviewer") || signin.AtLeast("root", "viewer") || !signin.AtLeast("publisher", "publisher") {
		t.Error("AtLeast misorders the roles")
	}
}

// TestAssetsAreSelfContained: the sign-in page holds nothing its CSP would
// block or that needs the network.
func TestAssetsAreSelfContained(t *testing.T) {
	checks := []struct {
		file, pattern, why string
	}{
		{"login.html", `<script\b`, "a script"},
		{"login.html", `<style\b`, "an inline stylesheet"},
		{"login.html", `\sstyle\s*=`, "an inline style attribute"},
		{"login.html", `\son[a-z]+\s*=`, "an inline event handler"},
		{"*", `(?i)https?://[^\s"'<>)]*`, "an external URL"},
		{"*", `(?i)(src|href)\s*=\s*["']?//`, "a protocol-relative URL"},
		{"login.css", `@import|url\(`, "a stylesheet or font fetched by the CSS"},
	}
	for _, c := range checks {
		re := regexp.MustCompile(c.pattern)
		for _, f := range []string{"login.html", "login.css", "favicon.svg"} {
			if c.file != "*" && c.file != f {
				continue
			}
			b, err := os.ReadFile("assets/" + f)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range re.FindAll(b, -1) {
				if string(m) != "http://www.w3.org/2000/svg" {
					t.Errorf("%s has %s: %q", f, c.why, m)
				}
			}
		}
	}
}

// TestDeleteOfficerSessions: revoking an officer ends their sessions, and
// only theirs.
func TestDeleteOfficerSessions(t *testing.T) {
	e := newEnv(t, nil)
	_, a := e.signIn(t, adminToken)
	_, b := e.signIn(t, adminToken)
	sessions := signin.NewPostgresSessions(e.pool.Pool())
	other := sha256.Sum256([]byte("another officer's cookie"))
	if err := sessions.CreateSession(t.Context(), other[:], signin.Session{Identity: signin.Identity{Name: "li", Role: "viewer"},
		CSRF: "x", CreatedAt: e.clock.now(), ExpiresAt: e.clock.now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	n, err := sessions.DeleteOfficerSessions(t.Context(), "admin-token")
	if err != nil || n != 2 {
		t.Fatalf("DeleteOfficerSessions = %d, %v; want 2", n, err)
	}
	for _, c := range []*http.Cookie{a, b} {
		if r := e.do(t, "GET", "/console/data.json", nil, nil, c); r.code != http.StatusUnauthorized {
			t.Errorf("data.json with a revoked officer's session = %d, want 401", r.code)
		}
	}
	if _, err := sessions.Session(t.Context(), other[:], e.clock.now()); err != nil {
		t.Errorf("another officer's session: %v", err)
	}
}
