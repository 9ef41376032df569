package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/policypush/policypush/internal/console/browsertest"
	"github.com/policypush/policypush/internal/signin"

	"github.com/policypush/policypush/internal/testlog"
)

// fakeSource serves a snapshot or an error that a test can change while
// the page polls.
type fakeSource struct {
	mu   sync.Mutex
	snap Snapshot
	err  error
}

func (f *fakeSource) Snapshot(context.Context) (Snapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.snap, f.err
}

func (f *fakeSource) set(s Snapshot, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.snap, f.err = s, err
}

// escapeTitle would add an image and bold text to the page if it were
// taken as markup.
const escapeTitle = `<img src=x onerror="alert(1)"> & <b>稳岗</b> "返还" 'x'`

func testSnapshot() Snapshot {
	return Snapshot{
		GeneratedAt: time.Date(2026, 11, 27, 9, 30, 15, 0, time.UTC),
		Policies: []PolicyFunnel{
			{ID: "skill-upgrade-subsidy", Title: "职业技能提升补贴", Subject: "resident", Status: "active", InForce: true,
				Matched: 1200, Waiting: 40, Sent: 1100, Delivered: 990, Clicked: 123, Failed: 60, Suppressed: 7, Cancelled: 3, Claimed: 41, Disputed: 9, Stopped: 4,
				WaitingForChannel: 1025, WaitingForConsent: 4},
			{ID: "job-retention-refund", Title: escapeTitle, Subject: "enterprise", Status: "draft", InForce: false,
				Matched: 5, Waiting: 0, Sent: 4, Delivered: 2, Clicked: 1, Failed: 1, Suppressed: 0, Cancelled: 0, Claimed: 1},
			{ID: "nothing-yet", Title: "尚无匹配", Subject: "resident", Status: "active", InForce: true},
		},
		Channels: []ChannelHealth{
			{Channel: "wechat", Sent: 800, Delivered: 640, Failed: 50, Waiting: 30, Suppressed: 5, Fallbacks: 45},
			{Channel: "sms", Sent: 345, Delivered: 345, Failed: 10, Waiting: 10, Suppressed: 2, Fallbacks: 0},
		},
		Backlog: Backlog{OutboxWaiting: 40, OldestDueSeconds: 125.4, DLQMessages: 3, UnknownOutcome: 2},
		Rules:   RulesState{Loaded: 12, LastReload: time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC), LastReloadOK: true},
		Sweeps: []SweepProgress{
			{ID: 7, Kind: "backfill", SubjectType: "resident", Status: "running", DoneChunks: 3, TotalChunks: 10, Profiles: 30000, Matched: 1200},
		},
	}
}

// newMux mounts the console as its doc comment says the app should.
func newMux(src Source, log *slog.Logger) *http.ServeMux {
	h := New(src, log)
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", h)
	mux.Handle("GET /console/", h)
	return mux
}

func TestHandler(t *testing.T) {
	ok := &fakeSource{snap: testSnapshot()}
	down := &fakeSource{err: errors.New("database down")}
	tests := []struct {
		name      string
		src       Source
		method    string
		path      string
		direct    bool // call the Handler itself, not through the mux
		wantCode  int
		wantType  string
		wantBody  []string // substrings
		wantCache string
	}{
		{name: "page", src: ok, path: "/", wantCode: 200, wantType: "text/html; charset=utf-8", wantCache: "no-cache",
			wantBody: []string{`lang="zh-CN"`, `<script src="/console/app.js" defer></script>`, `href="/console/style.css"`, "政策推送漏斗"}},
		{name: "page head", src: ok, method: http.MethodHead, path: "/", wantCode: 200, wantType: "text/html; charset=utf-8"},
		{name: "script", src: ok, path: "/console/app.js", wantCode: 200, wantType: "text/javascript; charset=utf-8", wantCache: "no-cache",
			wantBody: []string{"fetch('/console/data.json'"}},
		{name: "style", src: ok, path: "/console/style.css", wantCode: 200, wantType: "text/css; charset=utf-8",
			wantBody: []string{".bar"}},
		{name: "icon", src: ok, path: "/console/favicon.svg", wantCode: 200, wantType: "image/svg+xml", wantBody: []string{"<svg"}},
		{name: "data", src: ok, path: "/console/data.json", wantCode: 200, wantType: "application/json", wantCache: "no-store",
			wantBody: []string{`"generated_at":"2026-11-27T09:30:15Z"`, `"id":"skill-upgrade-subsidy"`}},
		{name: "source error", src: down, path: "/console/data.json", wantCode: 503, wantType: "application/json", wantCache: "no-store",
			wantBody: []string{`{"error":"console data unavailable, try again later"}`}},
		{name: "unknown asset", src: ok, path: "/console/nope.js", wantCode: 404, wantType: "application/json", wantBody: []string{`"error"`}},
		{name: "page only at root", src: ok, path: "/console/index.html", wantCode: 404},
		{name: "console dir", src: ok, path: "/console/", wantCode: 404},
		{name: "elsewhere", src: ok, path: "/other", direct: true, wantCode: 404},
		{name: "post", src: ok, method: http.MethodPost, path: "/", direct: true, wantCode: 405, wantType: "application/json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h http.Handler = newMux(tt.src, testlog.New(t))
			if tt.direct {
				h = New(tt.src, testlog.New(t))
			}
			method := tt.method
			if method == "" {
				method = http.MethodGet
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(method, tt.path, nil))
			res := rec.Result()
			body := rec.Body.String()
			if res.StatusCode != tt.wantCode {
				t.Fatalf("status = %d, want %d; body %q", res.StatusCode, tt.wantCode, body)
			}
			if tt.wantType != "" && res.Header.Get("Content-Type") != tt.wantType {
				t.Errorf("Content-Type = %q, want %q", res.Header.Get("Content-Type"), tt.wantType)
			}
			if tt.wantCache != "" && res.Header.Get("Cache-Control") != tt.wantCache {
				t.Errorf("Cache-Control = %q, want %q", res.Header.Get("Cache-Control"), tt.wantCache)
			}
			if got := res.Header.Get("Content-Security-Policy"); got != csp {
				t.Errorf("Content-Security-Policy = %q, want %q", got, csp)
			}
			if got := res.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options = %q, want nosniff", got)
			}
			if method == http.MethodHead && body != "" {
				t.Errorf("HEAD has a body: %q", body)
			}
			for _, s := range tt.wantBody {
				if !strings.Contains(body, s) {
					t.Errorf("body does not contain %q:\n%s", s, body)
				}
			}
		})
	}
}

func TestCSPIsStrict(t *testing.T) {
	for _, want := range []string{"default-src 'self'", "script-src 'self'", "style-src 'self'", "object-src 'none'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	for _, bad := range []string{"unsafe", "*", "http:", "https:", "data:"} {
		if strings.Contains(csp, bad) {
			t.Errorf("CSP %q allows %q", csp, bad)
		}
	}
}

// TestAssetsAreSelfContained reads the embedded files for what the CSP
// would block or what would need the network: inline code, external URLs,
// and markup built from strings in the script.
func TestAssetsAreSelfContained(t *testing.T) {
	checks := []struct {
		file    string
		pattern string
		why     string
	}{
		{"index.html", `<script\b[^>]*>[^<\s]`, "an inline script"},
		{"index.html", `<style\b`, "an inline stylesheet"},
		{"index.html", `\sstyle\s*=`, "an inline style attribute"},
		{"index.html", `\son[a-z]+\s*=`, "an inline event handler"},
		{"*", `(?i)https?://[^\s"'<>)]*`, "an external URL"},
		{"*", `(?i)(src|href)\s*=\s*["']?//`, "a protocol-relative URL"},
		{"style.css", `@import|url\(`, "a stylesheet or font fetched by the CSS"},
		{"app.js", `innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function`, "markup or code built from strings"},
	}
	files, err := fs.Glob(assetFS, "assets/*")
	if err != nil || len(files) < 4 {
		t.Fatalf("embedded assets = %v, %v; want the page, script, stylesheet and icon", files, err)
	}
	for _, c := range checks {
		re := regexp.MustCompile(c.pattern)
		for _, f := range files {
			if c.file != "*" && "assets/"+c.file != f {
				continue
			}
			b, err := assetFS.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, loc := range re.FindAllIndex(b, -1) {
				if string(b[loc[0]:loc[1]]) == "http://www.w3.org/2000/svg" {
					continue // the SVG namespace: a name, never fetched
				}
				t.Errorf("%s has %s: %q", f, c.why, b[loc[0]:min(len(b), loc[1]+40)])
			}
		}
	}
}

func TestDataJSON(t *testing.T) {
	tests := []struct {
		name string
		snap Snapshot
		// want is the snapshot the client decodes; nil: snap itself.
		want func(got Snapshot) error
	}{
		{name: "full", snap: testSnapshot()},
		{name: "empty", snap: Snapshot{}, want: func(got Snapshot) error {
			if got.GeneratedAt.IsZero() {
				return errors.New("generated_at is zero, want the time of the request")
			}
			return nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			newMux(&fakeSource{snap: tt.snap}, testlog.New(t)).ServeHTTP(rec, httptest.NewRequest("GET", "/console/data.json", nil))
			if rec.Code != 200 {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}

			// The shape: every key of the contract, and no other.
			var raw map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &raw); err != nil {
				t.Fatal(err)
			}
			wantKeys(t, "snapshot", raw, "generated_at", "policies", "channels", "backlog", "rules", "sweeps")
			wantKeys(t, "backlog", raw["backlog"], "outbox_waiting", "oldest_due_seconds", "dlq_messages", "unknown_outcome")
			wantKeys(t, "rules", raw["rules"], "loaded", "last_reload", "last_reload_ok")
			for _, list := range []string{"policies", "channels", "sweeps"} {
				items, ok := raw[list].([]any)
				if !ok {
					t.Fatalf("%s = %#v, want a JSON array (never null)", list, raw[list])
				}
				for _, it := range items {
					switch list {
					case "policies":
						wantKeys(t, list, it, "id", "title", "subject", "status", "in_force", "matched", "waiting", "sent",
							"delivered", "clicked", "failed", "suppressed", "cancelled", "waiting_for_channel", "waiting_for_consent",
							"claimed", "disputed", "stopped")
					case "channels":
						wantKeys(t, list, it, "channel", "sent", "delivered", "failed", "waiting", "suppressed", "fallbacks")
					case "sweeps":
						wantKeys(t, list, it, "id", "kind", "subject_type", "status", "done_chunks", "total_chunks", "profiles", "matched")
					}
				}
			}

			var got Snapshot
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			if tt.want != nil {
				if err := tt.want(got); err != nil {
					t.Error(err)
				}
				return
			}
			if !reflect.DeepEqual(got, tt.snap) {
				t.Errorf("decoded snapshot\n%+v\nwant\n%+v", got, tt.snap)
			}
		})
	}
}

func wantKeys(t *testing.T, what string, v any, keys ...string) {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Errorf("%s = %#v, want an object", what, v)
		return
	}
	var got []string
	for k := range m {
		got = append(got, k)
	}
	slices.Sort(got)
	slices.Sort(keys)
	if !slices.Equal(got, keys) {
		t.Errorf("%s keys = %v, want %v", what, got, keys)
	}
}

// TestSourceErrorIsLogged checks that the cause of a 503 reaches the log,
// since the browser is not told it; a snapshot JSON cannot hold is one too.
func TestSourceErrorIsLogged(t *testing.T) {
	nan := testSnapshot()
	nan.Backlog.OldestDueSeconds = math.NaN()
	tests := []struct {
		name    string
		src     *fakeSource
		wantLog string
	}{
		{"source", &fakeSource{err: errors.New("database down")}, "database down"},
		{"unencodable", &fakeSource{snap: nan}, "NaN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			rec := httptest.NewRecorder()
			newMux(tt.src, slog.New(slog.NewTextHandler(io.MultiWriter(&buf, testlog.Writer(t)), nil))).ServeHTTP(rec, httptest.NewRequest("GET", "/console/data.json", nil))
			if rec.Code != http.StatusServiceUnavailable {
				t.Fatalf("status = %d, want 503", rec.Code)
			}
			var body map[string]string
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body["error"] == "" {
				t.Errorf("body %q (%v), want JSON with an error", rec.Body, err)
			}
			if strings.Contains(rec.Body.String(), tt.wantLog) {
				t.Errorf("body %q shows the internal error", rec.Body)
			}
			if !strings.Contains(buf.String(), tt.wantLog) {
				t.Errorf("log %q lacks %q", buf.String(), tt.wantLog)
			}
		})
	}
}

func TestAssetRevalidation(t *testing.T) {
	mux := newMux(&fakeSource{}, testlog.New(t))
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/console/app.js", nil))
	etag := rec.Header().Get("ETag")
	if rec.Code != 200 || etag == "" {
		t.Fatalf("status %d, ETag %q; want 200 with an ETag", rec.Code, etag)
	}
	req := httptest.NewRequest("GET", "/console/app.js", nil)
	req.Header.Set("If-None-Match", etag)
	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotModified {
		t.Errorf("revalidation: status %d, want 304", rec.Code)
	}
}

// TestConsoleInBrowser loads the page in headless Chromium over a fake
// source and checks what a person would see: the fake's numbers, the
// escaped title, the refresh, and the error banner, with no error in the
// browser's console.
func TestConsoleInBrowser(t *testing.T) {
	src := &fakeSource{snap: testSnapshot()}
	srv := httptest.NewServer(signedInMux(t, src))
	defer srv.Close()

	// Without a session the console sends the browser to the sign-in
	// page, which must fit a phone and a desktop and show its Chinese.
	p := browsertest.Start(t, srv.URL+"/", `#token`)
	for _, size := range []struct {
		name string
		w, h int64
	}{{"login-375x812", 375, 812}, {"login-1280x800", 1280, 800}} {
		p.Screenshot(size.name, size.w, size.h)
		if over := browsertest.Run(p, chromedp.Evaluate[bool](
			`document.documentElement.scrollWidth > document.documentElement.clientWidth`)); over {
			t.Errorf("the sign-in page scrolls sideways at %s", size.name)
		}
	}
	if got := browsertest.Run(p, chromedp.Evaluate[string](`document.querySelector('label[for="token"]').textContent`)); got != "访问令牌" {
		t.Errorf("the token field's label = %q", got)
	}
	p.SignIn("not-the-token", `#login-error`)
	if got := browsertest.Run(p, chromedp.Evaluate[string](`document.getElementById('login-error').textContent`)); !strings.Contains(got, "访问令牌不正确") {
		t.Errorf("after a wrong token the page says %q", got)
	}
	p.Screenshot("login-wrong-token-375x812", 375, 812)
	p.SignIn(consoleToken, `body[data-state="ok"]`)
	p.Screenshot("console-1280x800", 1280, 800)
	p.Screenshot("console-375x812", 375, 812)
	browsertest.Run(p, chromedp.EmulateViewport(1366, 768))
	who := waitTexts(t, p, "the officer's name", func(m map[string]string) bool { return m["session/name"] != "" })
	if who["session/name"] != "admin-token" || who["session/role"] != "管理员" {
		t.Errorf("signed in as %q (%q), want admin-token (管理员)", who["session/name"], who["session/role"])
	}
	texts := p.Texts()
	snap := testSnapshot()

	for _, pf := range snap.Policies {
		stages := map[string]int64{"matched": pf.Matched, "sent": pf.Sent, "delivered": pf.Delivered, "clicked": pf.Clicked,
			"claimed": pf.Claimed, "disputed": pf.Disputed, "stopped": pf.Stopped,
			"waiting": pf.Waiting, "failed": pf.Failed, "suppressed": pf.Suppressed, "cancelled": pf.Cancelled,
			"waiting_for_channel": pf.WaitingForChannel, "waiting_for_consent": pf.WaitingForConsent}
		for stage, want := range stages {
			wantNumber(t, texts, "policy/"+pf.ID+"/"+stage, want)
		}
		if got := texts["policy/"+pf.ID+"/title"]; got != pf.Title {
			t.Errorf("title of %s = %q, want %q", pf.ID, got, pf.Title)
		}
		state := texts["policy/"+pf.ID+"/state"]
		if got := strings.Contains(state, "未生效"); got == pf.InForce {
			t.Errorf("state of %s = %q, in force %v", pf.ID, state, pf.InForce)
		}
	}
	for _, ch := range snap.Channels {
		stages := map[string]int64{"sent": ch.Sent, "delivered": ch.Delivered, "failed": ch.Failed,
			"waiting": ch.Waiting, "suppressed": ch.Suppressed, "fallbacks": ch.Fallbacks}
		for stage, want := range stages {
			wantNumber(t, texts, "channel/"+ch.Channel+"/"+stage, want)
		}
	}
	local := func(tm time.Time) string { return tm.In(time.Local).Format("2006-01-02 15:04:05") }
	for key, want := range map[string]string{
		"policy/skill-upgrade-subsidy/matched": "1,200", // as a person reads it
		"channel/wechat/rate":                  "80%",
		"channel/sms/rate":                     "100%",
		"backlog/outbox_waiting":               "40",
		"backlog/oldest_due":                   "2 分 5 秒",
		"backlog/dlq_messages":                 "3",
		"backlog/unknown_outcome":              "2",
		"rules/loaded":                         "12 条",
		"rules/last_reload_ok":                 "成功",
		"rules/last_reload":                    local(snap.Rules.LastReload),
		"updated":                              local(snap.GeneratedAt),
		"sweep/7/status":                       "进行中",
		"sweep/7/progress":                     "3 / 10 批（30%）",
		"sweep/7/profiles":                     "30,000",
		"error":                                "",
	} {
		if got, ok := texts[key]; !ok || got != want {
			t.Errorf("%s = %q (present: %v), want %q", key, got, ok, want)
		}
	}

	// The data attributes other tests rely on, and the title as text: had
	// it been taken as markup there would be an image and bold text.
	matched := browsertest.Run(p, chromedp.Evaluate[string](
		`document.querySelector('[data-policy="skill-upgrade-subsidy"][data-stage="matched"]').textContent`))
	if matched != "1,200" {
		t.Errorf(`[data-policy="skill-upgrade-subsidy"][data-stage="matched"] = %q, want "1,200"`, matched)
	}
	if n := browsertest.Run(p, chromedp.Evaluate[int](`document.querySelectorAll('img, main b').length`)); n != 0 {
		t.Errorf("the page has %d img or b elements: a title was taken as markup", n)
	}
	if errs := pageErrors(p); len(errs) > 0 {
		t.Errorf("errors in the page: %q", errs)
	}

	// The source fails: the banner says so, and the last numbers stay.
	src.set(Snapshot{}, errors.New("database down"))
	texts = waitTexts(t, p, "the error banner", func(m map[string]string) bool { return m["error"] != "" })
	if !strings.Contains(texts["error"], "数据刷新失败") || !strings.Contains(texts["error"], "503") {
		t.Errorf("banner = %q, want it to say that the refresh failed with 503", texts["error"])
	}
	if !browsertest.Run(p, chromedp.Evaluate[bool](
		`(() => { const b = document.getElementById('error'); return !b.hidden && b.getBoundingClientRect().height > 0; })()`)) {
		t.Error("the error banner is not visible")
	}
	wantNumber(t, texts, "policy/skill-upgrade-subsidy/matched", 1200)
	// The failed request is logged by the browser itself; anything else
	// (an exception, say) is a fault of the page.
	for _, e := range pageErrors(p) {
		if !strings.Contains(e, "status of 503") {
			t.Errorf("error in the page while the source fails: %q", e)
		}
	}

	// The source recovers with new numbers: the banner goes, they show.
	next := testSnapshot()
	next.Policies[0].Matched = 1300
	next.Channels[0].Delivered = 700
	src.set(next, nil)
	texts = waitTexts(t, p, "the recovery", func(m map[string]string) bool { return m["error"] == "" })
	wantNumber(t, texts, "policy/skill-upgrade-subsidy/matched", 1300)
	wantNumber(t, texts, "channel/wechat/delivered", 700)
	if got := texts["channel/wechat/rate"]; got != "87.5%" {
		t.Errorf("wechat rate = %q, want 87.5%%", got)
	}

	// Logout: back on the sign-in page, which says so, and the console is
	// closed again.
	browsertest.Run(p, chromedp.Steps(chromedp.Click(chromedp.CSS("#logout")), chromedp.WaitVisible(chromedp.CSS("#login-notice"))))
	if got := browsertest.Run(p, chromedp.Evaluate[string](`document.getElementById('login-notice').textContent`)); !strings.Contains(got, "已退出登录") {
		t.Errorf("after logout the page says %q", got)
	}
	browsertest.Run(p, chromedp.Steps(chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#token"))))
	if path := browsertest.Run(p, chromedp.Evaluate[string](`location.pathname`)); path != "/console/login" {
		t.Errorf("the console after logout shows %s, want the sign-in page", path)
	}
}

// pageErrors are the page's errors but the browser's report of the
// sign-in page's 401, the answer the test asked for with a wrong token.
func pageErrors(p *browsertest.Page) []string {
	var errs []string
	for _, e := range p.Errors() {
		if !strings.Contains(e, "status of 401") || !strings.Contains(e, "/console/login)") {
			errs = append(errs, e)
		}
	}
	return errs
}

const consoleToken = "console-test-token-0123456789"

// signedInMux mounts the console behind the sign-in, as the app does, with
// sessions kept in memory.
func signedInMux(t *testing.T, src Source) *http.ServeMux {
	t.Helper()
	gate, err := signin.New(signin.Config{
		Verifier:  signin.NewTokenVerifier(consoleToken, signin.Identity{Name: "admin-token", Role: "admin"}),
		Sessions:  &memSessions{m: map[string]signin.Session{}},
		FailDelay: 10 * time.Millisecond,
		Log:       testlog.New(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	gate.Register(mux)
	h := gate.Protect("viewer", New(src, testlog.New(t)))
	mux.Handle("GET /{$}", h)
	mux.Handle("GET /console/", h)
	return mux
}

// memSessions keeps the test's sessions in memory.
type memSessions struct {
	mu sync.Mutex
	m  map[string]signin.Session
}

func (s *memSessions) CreateSession(_ context.Context, id []byte, sess signin.Session) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[string(id)] = sess
	return nil
}

func (s *memSessions) Session(_ context.Context, id []byte, now time.Time) (signin.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.m[string(id)]
	if !ok || !now.Before(sess.ExpiresAt) {
		return signin.Session{}, signin.ErrNoSession
	}
	return sess, nil
}

func (s *memSessions) DeleteSession(_ context.Context, id []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, string(id))
	return nil
}

// wantNumber checks a number the page shows, formatted for people
// ("1,234"), against the source's.
func wantNumber(t *testing.T, texts map[string]string, key string, want int64) {
	t.Helper()
	s, ok := texts[key]
	got, err := strconv.ParseInt(strings.ReplaceAll(s, ",", ""), 10, 64)
	if !ok || err != nil || got != want {
		t.Errorf("%s = %q (present: %v), want %d", key, s, ok, want)
	}
}

// waitTexts reads the page until cond holds, for at most three refreshes.
func waitTexts(t *testing.T, p *browsertest.Page, what string, cond func(map[string]string) bool) map[string]string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		texts := p.Texts()
		if cond(texts) {
			return texts
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: the page still shows %q", what, texts)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
