package noticepage_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/policypush/policypush/internal/citizenweb"
	"github.com/policypush/policypush/internal/noticepage"
)

var updatePage = flag.Bool("update-page", false, "rewrite the notice page's golden files in testdata/page")

// pageFake is a Notices over a few fixed views that records every answer
// and changes the view as the store would: the answered action is gone and
// the status moves on.
type pageFake struct {
	mu    sync.Mutex
	views map[string]noticepage.View
	calls []string
	err   error // returned by every method when set
}

// expiredToken is a token whose notice expired: the fake answers it
// ErrNotFound, as it answers a token it does not know.
const expiredToken = "expired-0123456789abcdef"

func newPageFake(views map[string]noticepage.View) *pageFake {
	vs := map[string]noticepage.View{}
	for k, v := range views {
		vs[k] = v
	}
	return &pageFake{views: vs}
}

func (f *pageFake) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func (f *pageFake) find(token string) (noticepage.View, error) {
	if f.err != nil {
		return noticepage.View{}, f.err
	}
	v, ok := f.views[token]
	if !ok || token == expiredToken {
		return noticepage.View{}, noticepage.ErrNotFound
	}
	return v, nil
}

func (f *pageFake) View(_ context.Context, token string) (noticepage.View, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.find(token)
}

func (f *pageFake) answered(token, status string, drop ...string) {
	v := f.views[token]
	v.Status = status
	v.Actions = slices.DeleteFunc(slices.Clone(v.Actions), func(a string) bool { return slices.Contains(drop, a) })
	f.views[token] = v
}

func (f *pageFake) Claim(_ context.Context, token string, confirmed bool) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, err := f.find(token)
	if err != nil {
		return "", err
	}
	if v.Apply.Mode == "confirm" && !confirmed {
		return "", &noticepage.InputError{Message: "请先勾选确认事项。"}
	}
	f.calls = append(f.calls, fmt.Sprintf("claim %s confirmed=%t", token, confirmed))
	f.answered(token, "claimed", noticepage.ActionClaim)
	return "claimed", nil
}

func (f *pageFake) Dispute(_ context.Context, token string, conditions []string, note string) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, err := f.find(token)
	if err != nil {
		return 0, err
	}
	for _, c := range conditions {
		if !slices.ContainsFunc(v.Conditions, func(x noticepage.Condition) bool { return x.Name == c }) {
			return 0, &noticepage.InputError{Message: "没有这项条件：" + c}
		}
	}
	f.calls = append(f.calls, fmt.Sprintf("dispute %s %q %q", token, conditions, note))
	f.answered(token, "disputed", noticepage.ActionDispute)
	return 17, nil
}

func (f *pageFake) Stop(_ context.Context, token, scope string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.find(token); err != nil {
		return err
	}
	f.calls = append(f.calls, fmt.Sprintf("stop %s %s", token, scope))
	f.answered(token, "declined", noticepage.ActionClaim, noticepage.ActionDispute, noticepage.ActionStop)
	return nil
}

func amount(a float64) *float64 { return &a }

var allActions = []string{noticepage.ActionClaim, noticepage.ActionDispute, noticepage.ActionStop}

// The fixtures: the views the golden pages are rendered from.
var (
	eligibleView = noticepage.View{
		PolicyID: "skill-upgrade-subsidy", PolicyVersion: 1,
		Title: "失业保险技能提升补贴", Department: "市人力资源和社会保障局职业能力建设科",
		Source: noticepage.Source{Doc: "人社部发〔2017〕40号", URL: "https://www.mohrss.gov.cn/SYrlzyhshbzb/jiuye/zcwj/201705/t20170504_270296.html"},
		Result: "eligible",
		Conditions: []noticepage.Condition{
			{Name: "参加失业保险累计满12个月", Verdict: "true"},
			{Name: "取得职业资格证书或职业技能等级证书", Verdict: "true"},
			{Name: "本年度未领取过同类补贴", Verdict: "true"},
		},
		Amount: amount(2000), DataAsOf: "2026-11-30",
		Apply: noticepage.Apply{Mode: "apply", How: "在“掌上12333”App 或线下窗口提交申请",
			URL:       "https://example.gov.cn/apply/skill",
			Materials: []string{"身份证", "职业资格证书或职业技能等级证书"},
			Deadline:  "2026-12-31", Office: "市民服务中心二楼人社窗口（东城区政务路8号）"},
		Status: "opened", Actions: allActions, SubjectType: "resident",
	}
	unknownView = noticepage.View{
		PolicyID: "elderly-care", PolicyVersion: 2, Title: "高龄津贴", Department: "民政局",
		Source: noticepage.Source{Doc: "关于发放高龄津贴的通知"},
		Result: "unknown",
		Conditions: []noticepage.Condition{
			{Name: "年满80周岁", Verdict: "true"},
			{Name: "本市户籍", Verdict: "unknown"},
			{Name: "未入住公办养老机构", Verdict: "false"},
		},
		DataAsOf: "2026-10-08", Apply: noticepage.Apply{Mode: "apply", How: "到社区居委会申请"},
		Status: "notified", Actions: allActions, SubjectType: "resident",
	}
	confirmView = noticepage.View{
		PolicyID: "stable-jobs-refund", PolicyVersion: 3, Title: "失业保险稳岗返还",
		Department: "失业保险科", Source: noticepage.Source{Doc: "稳岗返还政策通知", URL: "https://example.gov.cn/doc/wg"},
		Result:     "eligible",
		Conditions: []noticepage.Condition{{Name: "上年度未裁员或裁员率不高于5.5%", Verdict: "true"}, {Name: "足额缴纳失业保险费满12个月", Verdict: "true"}},
		Amount:     amount(12345.5), DataAsOf: "2026-11-30",
		Apply: noticepage.Apply{Mode: "confirm", Deadline: "2026-12-20",
			Confirm: "我确认单位在社保经办机构登记的银行账户正确，同意将返还资金转入该账户。"},
		Status: "opened", Actions: allActions, SubjectType: "enterprise",
	}
	automaticView = noticepage.View{
		PolicyID: "pension-raise", PolicyVersion: 1, Title: "基本养老金调整", Department: "养老保险科",
		Source: noticepage.Source{Doc: "2026年调整基本养老金的通知", URL: "https://example.gov.cn/doc/yl"},
		Result: "eligible", Conditions: []noticepage.Condition{{Name: "按月领取基本养老金", Verdict: "true"}},
		Amount: amount(85), DataAsOf: "2026-11-29",
		Apply:  noticepage.Apply{Mode: "automatic", Deadline: "2026-12-25"},
		Status: "opened", Actions: []string{noticepage.ActionDispute, noticepage.ActionStop}, SubjectType: "resident",
	}
	othersView = func() noticepage.View {
		v := eligibleView
		v.Others = []noticepage.Other{
			{Link: "/n/tok-other-1", Title: "就业困难人员社会保险补贴"},
			{Link: "/n/tok-other-2", Title: "一次性创业补贴"},
		}
		return v
	}()
	claimedView = func() noticepage.View {
		v := eligibleView
		v.Status, v.Actions = "claimed", []string{noticepage.ActionDispute, noticepage.ActionStop}
		return v
	}()
	grantedView = func() noticepage.View {
		v := automaticView
		v.Status, v.Actions, v.Automatic = "granted", nil, "调整后的养老金将于2027年1月随当月养老金一并发放，无需办理。"
		return v
	}()
)

var pageViews = map[string]noticepage.View{
	"tok-eligible":  eligibleView,
	"tok-unknown":   unknownView,
	"tok-confirm":   confirmView,
	"tok-automatic": automaticView,
	"tok-others":    othersView,
	"tok-claimed":   claimedView,
	"tok-granted":   grantedView,
	expiredToken:    eligibleView,
}

// testCSRF is a CSRF token of the form the page gives, sent as the cookie
// so that the rendered pages do not change from run to run.
var testCSRF = strings.Repeat("A", 42) + "w"

type pageEnv struct {
	fake *pageFake
	h    http.Handler
	log  *bytes.Buffer
}

func newPageEnv(t *testing.T, opts noticepage.PageOptions) *pageEnv {
	t.Helper()
	e := &pageEnv{fake: newPageFake(pageViews), log: &bytes.Buffer{}}
	opts.Log = slog.New(slog.NewTextHandler(e.log, nil))
	p, err := noticepage.NewPage(e.fake, opts)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	p.Register(mux)
	citizenweb.Register(mux)
	e.h = mux
	return e
}

func (e *pageEnv) get(target string, cookie bool) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, target, nil)
	if cookie {
		r.AddCookie(&http.Cookie{Name: noticepage.CSRFCookie, Value: testCSRF})
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	return w
}

// post posts form to target as the page's own form does, with the CSRF
// cookie unless cookie is "", and with the request's headers set by
// header.
func (e *pageEnv) post(target string, form url.Values, cookie string, header map[string]string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		r.Header.Set(k, v)
	}
	if cookie != "" {
		r.AddCookie(&http.Cookie{Name: noticepage.CSRFCookie, Value: cookie})
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	return w
}

// hashed matches the content hash in the shared assets' names: a golden
// file says which asset the page links, and an edit of the shared
// stylesheet should not rewrite every golden file.
var hashed = regexp.MustCompile(`(` + regexp.QuoteMeta(citizenweb.Prefix) + `[a-z]+)\.[0-9a-f]{12}\.`)

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	got = hashed.ReplaceAll(got, []byte("$1.HASH."))
	path := filepath.Join("testdata", "page", name+".html")
	if *updatePage {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run TestNoticePageGolden -update-page to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run with -update-page to accept, then read the diff):\n--- got\n%s", path, got)
	}
}

const wantCSP = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'"

// checkPageHeaders checks what every page the citizen gets must carry.
func checkPageHeaders(t *testing.T, h http.Header) {
	t.Helper()
	for k, want := range map[string]string{
		"Content-Security-Policy": wantCSP,
		"Cache-Control":           "no-store",
		"Referrer-Policy":         "no-referrer",
		"X-Content-Type-Options":  "nosniff",
		"Content-Type":            "text/html; charset=utf-8",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
}

var (
	inlineScript = regexp.MustCompile(`(?i)<script|\son[a-z]+=|\sstyle=|javascript:`)
	loads        = regexp.MustCompile(`<(?:link|img|script|iframe)[^>]*(?:href|src)="([^"]*)"`)
)

// checkPlain checks that a page runs no script and loads nothing from
// elsewhere, and that its language is Chinese.
func checkPlain(t *testing.T, body string) {
	t.Helper()
	if m := inlineScript.FindString(body); m != "" {
		t.Errorf("the page has inline script or style: %q", m)
	}
	for _, m := range loads.FindAllStringSubmatch(body, -1) {
		if !strings.HasPrefix(m[1], "/n/assets/") && !strings.HasPrefix(m[1], citizenweb.Prefix) {
			t.Errorf("the page loads %q, not one of its own or the citizens' pages' shared assets", m[1])
		}
	}
	if !strings.Contains(body, `<html lang="zh-CN">`) {
		t.Error(`the page is not <html lang="zh-CN">`)
	}
	for _, secret := range []string{"138", "openid", "@"} {
		if strings.Contains(body, secret) {
			t.Errorf("the page contains %q, which looks like contact data", secret)
		}
	}
}

// TestNoticePageGolden renders the page of each fixture and compares it
// with testdata/page/<name>.html, and checks what each must say.
func TestNoticePageGolden(t *testing.T) {
	tests := []struct {
		name, target string
		code         int
		want         []string // substrings of the page
		notWant      []string
	}{
		{name: "eligible", target: "/n/tok-eligible", code: 200, want: []string{
			"<h1 id=\"title\">失业保险技能提升补贴</h1>", "市人力资源和社会保障局职业能力建设科",
			`<a href="https://www.mohrss.gov.cn/`, "人社部发〔2017〕40号", "为什么推送给您",
			`<span class="name">参加失业保险累计满12个月</span><span class="verdict">符合</span>`,
			"数据截至 2026年11月30日", "预计金额 <strong>¥2,000 元</strong>",
			"<dt>办理方式</dt>", "<dt>在线办理</dt>", `href="https://example.gov.cn/apply/skill"`,
			"<dt>所需材料</dt>", "<li>身份证</li>", "<dt>截止日期</dt><dd>2026年12月31日</dd>",
			"<dt>办理地点</dt>", `<a class="tel" href="tel:12333">12333</a>`,
			`action="/n/tok-eligible/claim"`, `action="/n/tok-eligible/dispute"`, `action="/n/tok-eligible/stop"`,
			`name="csrf" value="` + testCSRF + `"`, ">确认申领<", "<summary>信息有误</summary>", "<summary>不再接收</summary>",
			`maxlength="500"`, "仅此项政策", "所有主动推送",
		}, notWant: []string{`id="confirm"`, `id="status"`, "免申即享", "您还有"}},
		{name: "unknown", target: "/n/tok-unknown", code: 200, want: []string{
			`<span class="verdict">暂无数据</span>`, `<span class="verdict">不符合</span>`, "部分条件暂无数据",
			"政策依据：关于发放高龄津贴的通知", "数据截至 2026年10月8日", "咨询电话",
		}, notWant: []string{"预计金额", "<dt>在线办理</dt>", "<dt>截止日期</dt>"}},
		{name: "confirm", target: "/n/tok-confirm", code: 200, want: []string{
			`<input type="checkbox" id="confirm" name="confirm" value="1" required>`,
			"我确认单位在社保经办机构登记的银行账户正确，同意将返还资金转入该账户。", "¥12,345.50 元",
		}},
		{name: "automatic", target: "/n/tok-automatic", code: 200, want: []string{
			"免申即享", "您无需提交申请，也无需做任何操作。经办机构将在2026年12月25日前按规定直接为您办理。",
		}, notWant: []string{">确认申领<", `id="claim"`}},
		{name: "others", target: "/n/tok-others", code: 200, want: []string{
			"您还有 2 项可办理的政策", `<a href="/n/tok-other-1">就业困难人员社会保险补贴</a>`, `<a href="/n/tok-other-2">一次性创业补贴</a>`,
		}},
		{name: "done-claim", target: "/n/tok-claimed?done=claim", code: 200, want: []string{
			`<p class="status-title" id="status-title">已申领</p>`, "我们已记录您的申领",
		}, notWant: []string{`id="claim"`}},
		{name: "claimed", target: "/n/tok-claimed", code: 200, want: []string{`<p class="status-title" id="status-title">已申领</p>`}},
		{name: "done-claim-granted", target: "/n/tok-granted?done=claim", code: 200, want: []string{
			`<p class="status-title" id="status-title">已发放</p>`,
		}, notWant: []string{"已申领"}},
		{name: "done-stop-all", target: "/n/tok-eligible?done=stop&scope=all", code: 200, want: []string{
			"已停止接收", "您不会再收到任何主动推送的政策消息",
		}},
		{name: "granted", target: "/n/tok-granted", code: 200, want: []string{
			"已发放", "调整后的养老金将于2027年1月随当月养老金一并发放，无需办理。",
		}, notWant: []string{"您的答复"}},
		{name: "not-found", target: "/n/no-such-token", code: 404, want: []string{"链接无效或已过期", "12333"}},
	}
	e := newPageEnv(t, noticepage.PageOptions{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := e.get(tc.target, true)
			if w.Code != tc.code {
				t.Fatalf("GET %s: %d, want %d", tc.target, w.Code, tc.code)
			}
			checkPageHeaders(t, w.Header())
			body := w.Body.String()
			checkPlain(t, body)
			for _, s := range tc.want {
				if !strings.Contains(body, s) {
					t.Errorf("the page lacks %q", s)
				}
			}
			for _, s := range tc.notWant {
				if strings.Contains(body, s) {
					t.Errorf("the page has %q", s)
				}
			}
			golden(t, tc.name, w.Body.Bytes())
		})
	}
}

// TestNoticePageNotFoundSame checks that an unknown and an expired token
// get the same 404, on the page and on each answer.
func TestNoticePageNotFoundSame(t *testing.T) {
	e := newPageEnv(t, noticepage.PageOptions{})
	unknown, expired := e.get("/n/no-such-token", true), e.get("/n/"+expiredToken, true)
	if unknown.Code != 404 || expired.Code != 404 {
		t.Fatalf("codes %d and %d, want 404", unknown.Code, expired.Code)
	}
	if unknown.Body.String() != expired.Body.String() {
		t.Errorf("the 404 pages differ:\n%s\n---\n%s", unknown.Body, expired.Body)
	}
	if !strings.Contains(unknown.Body.String(), "链接无效或已过期") {
		t.Errorf("the 404 page does not say the link is invalid or expired:\n%s", unknown.Body)
	}
	if c := unknown.Result().Cookies(); len(c) > 0 {
		t.Errorf("the 404 sets cookies %v", c)
	}
	form := url.Values{"csrf": {testCSRF}, "condition": {"本市户籍"}, "scope": {"policy"}}
	for _, a := range allActions {
		u, x := e.post("/n/no-such-token/"+a, form, testCSRF, nil), e.post("/n/"+expiredToken+"/"+a, form, testCSRF, nil)
		if u.Code != 404 || x.Code != 404 || u.Body.String() != unknown.Body.String() || x.Body.String() != unknown.Body.String() {
			t.Errorf("POST %s: %d and %d, or other pages than GET's 404", a, u.Code, x.Code)
		}
		checkPageHeaders(t, u.Header())
	}
	if calls := e.fake.Calls(); len(calls) > 0 {
		t.Errorf("answers to unknown tokens were recorded: %q", calls)
	}
}

// TestNoticePageCSRF checks that an answer without the page's CSRF token,
// or from another site, is refused with 403 and records nothing.
func TestNoticePageCSRF(t *testing.T) {
	other := strings.Repeat("B", 42) + "w"
	tests := []struct {
		name   string
		form   url.Values
		cookie string
		header map[string]string
	}{
		{name: "no cookie", form: url.Values{"csrf": {testCSRF}}},
		{name: "no field", form: url.Values{}, cookie: testCSRF},
		{name: "wrong field", form: url.Values{"csrf": {other}}, cookie: testCSRF},
		{name: "empty both", form: url.Values{"csrf": {""}}, cookie: ""},
		{name: "malformed cookie", form: url.Values{"csrf": {"x"}}, cookie: "x"},
		{name: "cross-site origin", form: url.Values{"csrf": {testCSRF}}, cookie: testCSRF,
			header: map[string]string{"Origin": "https://evil.example"}},
		{name: "cross-site fetch", form: url.Values{"csrf": {testCSRF}}, cookie: testCSRF,
			header: map[string]string{"Sec-Fetch-Site": "cross-site"}},
	}
	for _, tc := range tests {
		for _, a := range allActions {
			t.Run(tc.name+"/"+a, func(t *testing.T) {
				e := newPageEnv(t, noticepage.PageOptions{})
				form := url.Values{"condition": {"本年度未领取过同类补贴"}, "scope": {"policy"}}
				for k, v := range tc.form {
					form[k] = v
				}
				w := e.post("/n/tok-eligible/"+a, form, tc.cookie, tc.header)
				if w.Code != http.StatusForbidden {
					t.Fatalf("%d, want 403", w.Code)
				}
				checkPageHeaders(t, w.Header())
				body := w.Body.String()
				checkPlain(t, body)
				if !strings.Contains(body, "12333") || !strings.Contains(body, `href="/n/tok-eligible"`) {
					t.Errorf("the 403 page does not lead back to the notice and 12333:\n%s", body)
				}
				if calls := e.fake.Calls(); len(calls) > 0 {
					t.Errorf("recorded %q", calls)
				}
			})
		}
	}

	t.Run("same origin passes", func(t *testing.T) {
		e := newPageEnv(t, noticepage.PageOptions{})
		w := e.post("/n/tok-eligible/claim", url.Values{"csrf": {testCSRF}}, testCSRF,
			map[string]string{"Origin": "http://example.com", "Sec-Fetch-Site": "same-origin"})
		if w.Code != http.StatusSeeOther {
			t.Fatalf("%d, want 303:\n%s", w.Code, w.Body)
		}
	})
}

// TestNoticePageCSRFCookie checks the double-submit cookie a GET sets.
func TestNoticePageCSRFCookie(t *testing.T) {
	tests := []struct {
		name       string
		publicURL  string
		tls        bool
		wantSecure bool
	}{
		{name: "http", publicURL: "http://127.0.0.1:8080"},
		{name: "https public URL", publicURL: "https://zc.example.gov.cn", wantSecure: true},
		{name: "TLS", tls: true, wantSecure: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newPageEnv(t, noticepage.PageOptions{PublicURL: tc.publicURL})
			r := httptest.NewRequest(http.MethodGet, "/n/tok-eligible", nil)
			if tc.tls {
				r.TLS = &tls.ConnectionState{}
			}
			w := httptest.NewRecorder()
			e.h.ServeHTTP(w, r)
			cookies := w.Result().Cookies()
			if len(cookies) != 1 {
				t.Fatalf("cookies %v, want one", cookies)
			}
			c := cookies[0]
			if c.Name != noticepage.CSRFCookie || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode ||
				c.Path != "/n/" || c.Secure != tc.wantSecure || len(c.Value) != 43 {
				t.Errorf("cookie %+v", c)
			}
			if !strings.Contains(w.Body.String(), `name="csrf" value="`+c.Value+`"`) {
				t.Error("the forms do not carry the cookie's token")
			}
			// The token the cookie holds answers the form.
			p := e.post("/n/tok-eligible/claim", url.Values{"csrf": {c.Value}}, c.Value, nil)
			if p.Code != http.StatusSeeOther {
				t.Errorf("claim with the page's token: %d, want 303", p.Code)
			}
		})
	}
	t.Run("kept", func(t *testing.T) {
		e := newPageEnv(t, noticepage.PageOptions{})
		if c := e.get("/n/tok-eligible", true).Result().Cookies(); len(c) != 0 {
			t.Errorf("a request with a valid cookie got a new one: %v", c)
		}
	})
}

// TestNoticePageAnswers posts each answer as the page's forms do and
// checks the call the fake recorded, the redirect, and the page after it.
func TestNoticePageAnswers(t *testing.T) {
	long := strings.Repeat("错", 501)
	tests := []struct {
		name, token, action string
		form                url.Values
		wantCode            int
		wantLocation        string
		wantCall            string   // "": none
		wantBody            []string // of the page after the redirect, or of the 400
	}{
		{name: "claim", token: "tok-eligible", action: "claim", form: url.Values{},
			wantCode: 303, wantLocation: "/n/tok-eligible?done=claim", wantCall: "claim tok-eligible confirmed=false",
			wantBody: []string{"已申领", "我们已记录您的申领"}},
		{name: "claim confirm", token: "tok-confirm", action: "claim", form: url.Values{"confirm": {"1"}},
			wantCode: 303, wantLocation: "/n/tok-confirm?done=claim", wantCall: "claim tok-confirm confirmed=true",
			wantBody: []string{"已申领", "我们已收到您的确认"}},
		{name: "claim confirm unticked", token: "tok-confirm", action: "claim", form: url.Values{},
			wantCode: 400, wantBody: []string{`<p class="form-error" role="alert" id="form-error">请先勾选确认事项。</p>`}},
		{name: "dispute", token: "tok-unknown", action: "dispute",
			form:     url.Values{"condition": {"本市户籍", "未入住公办养老机构"}, "note": {"  我是本市户籍，2019年迁入。 "}},
			wantCode: 303, wantLocation: "/n/tok-unknown?done=dispute",
			wantCall: `dispute tok-unknown ["本市户籍" "未入住公办养老机构"] "我是本市户籍，2019年迁入。"`,
			wantBody: []string{"已提交更正"}},
		{name: "dispute nothing ticked", token: "tok-unknown", action: "dispute", form: url.Values{"note": {"都不对"}},
			wantCode: 400, wantBody: []string{"请至少勾选一项有误的信息。", "<details class=\"answer\" id=\"dispute-box\" open>", ">都不对</textarea>"}},
		{name: "dispute note too long", token: "tok-unknown", action: "dispute", form: url.Values{"condition": {"本市户籍"}, "note": {long}},
			wantCode: 400, wantBody: []string{"补充说明最多 500 字", `value="本市户籍" checked>`}},
		{name: "dispute unknown condition", token: "tok-unknown", action: "dispute", form: url.Values{"condition": {"不存在的条件"}},
			wantCode: 400, wantBody: []string{"没有这项条件：不存在的条件"}},
		{name: "stop policy", token: "tok-eligible", action: "stop", form: url.Values{"scope": {"policy"}},
			wantCode: 303, wantLocation: "/n/tok-eligible?done=stop&scope=policy", wantCall: "stop tok-eligible policy",
			wantBody: []string{"已停止接收", "您不会再收到这项政策的推送消息"}},
		{name: "stop all", token: "tok-eligible", action: "stop", form: url.Values{"scope": {"all"}},
			wantCode: 303, wantLocation: "/n/tok-eligible?done=stop&scope=all", wantCall: "stop tok-eligible all",
			wantBody: []string{"已停止接收", "您不会再收到任何主动推送的政策消息"}},
		{name: "stop no scope", token: "tok-eligible", action: "stop", form: url.Values{"scope": {"everything"}},
			wantCode: 400, wantBody: []string{"请选择不再接收的范围。", `<details class="answer" id="stop-box" open>`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newPageEnv(t, noticepage.PageOptions{})
			tc.form.Set("csrf", testCSRF)
			w := e.post("/n/"+tc.token+"/"+tc.action, tc.form, testCSRF, nil)
			if w.Code != tc.wantCode {
				t.Fatalf("%d, want %d:\n%s", w.Code, tc.wantCode, w.Body)
			}
			calls := e.fake.Calls()
			if tc.wantCall == "" && len(calls) > 0 || tc.wantCall != "" && !slices.Equal(calls, []string{tc.wantCall}) {
				t.Errorf("recorded %q, want %q", calls, tc.wantCall)
			}
			body := w.Body.String()
			if tc.wantCode == 303 {
				if got := w.Header().Get("Location"); got != tc.wantLocation {
					t.Errorf("Location %q, want %q", got, tc.wantLocation)
				}
				if w.Header().Get("Content-Security-Policy") != wantCSP || w.Header().Get("Referrer-Policy") != "no-referrer" {
					t.Errorf("the redirect lacks the page's headers: %v", w.Header())
				}
				after := e.get(tc.wantLocation, true)
				if after.Code != 200 {
					t.Fatalf("GET %s: %d", tc.wantLocation, after.Code)
				}
				body = after.Body.String()
			} else {
				checkPageHeaders(t, w.Header())
				checkPlain(t, body)
			}
			for _, s := range tc.wantBody {
				if !strings.Contains(body, s) {
					t.Errorf("the page lacks %q:\n%s", s, body)
				}
			}
		})
	}
}

// TestNoticePageFailure checks that an error of Notices gets a friendly
// 503 and a log line without the token, which is the credential.
func TestNoticePageFailure(t *testing.T) {
	e := newPageEnv(t, noticepage.PageOptions{})
	e.fake.err = errors.New("store: connection refused")
	w := e.get("/n/tok-eligible", true)
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "请稍后再试") {
		t.Errorf("%d:\n%s", w.Code, w.Body)
	}
	checkPageHeaders(t, w.Header())
	p := e.post("/n/tok-eligible/claim", url.Values{"csrf": {testCSRF}}, testCSRF, nil)
	if p.Code != http.StatusServiceUnavailable {
		t.Errorf("claim: %d, want 503", p.Code)
	}
	if !strings.Contains(e.log.String(), "connection refused") {
		t.Errorf("the error was not logged: %s", e.log)
	}
	if strings.Contains(e.log.String(), "tok-eligible") {
		t.Errorf("the log holds the token: %s", e.log)
	}
}

// TestNoticePageAssets checks the page's own stylesheet, which the CSP
// lets it load; the icon is the citizens' pages' shared one.
func TestNoticePageAssets(t *testing.T) {
	e := newPageEnv(t, noticepage.PageOptions{})
	for path, ct := range map[string]string{"/n/assets/page.css": "text/css; charset=utf-8"} {
		w := e.get(path, false)
		body, _ := io.ReadAll(w.Body)
		if w.Code != 200 || w.Header().Get("Content-Type") != ct || len(body) == 0 {
			t.Errorf("GET %s: %d %q, %d bytes", path, w.Code, w.Header().Get("Content-Type"), len(body))
		}
		if w.Header().Get("Content-Security-Policy") != wantCSP {
			t.Errorf("GET %s: no CSP", path)
		}
	}
	for _, path := range []string{"/n/assets/nothing.js", "/n/assets/favicon.svg"} {
		if w := e.get(path, false); w.Code != 404 {
			t.Errorf("GET %s: %d, want 404", path, w.Code)
		}
	}
}
