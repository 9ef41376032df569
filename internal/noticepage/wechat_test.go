package noticepage_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/policypush/policypush/internal/noticepage"
	"github.com/policypush/policypush/internal/notify/wechat"
	"github.com/policypush/policypush/internal/notify/wechat/wechattest"
)

const (
	wxAppID     = "wx_page_test"
	wxSecret    = "page-test-secret-0123456789"
	wxUA        = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.47(0x18002f2f) NetType/WIFI Language/zh_CN"
	phoneUA     = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
	ownerOpenID = "oOWNER_openid_page_0001"
	otherOpenID = "oOTHER_openid_page_0002"
)

// owners is the notices' subjects' openids on record, by token.
type owners struct {
	mu     sync.Mutex
	openid map[string]string
	asked  int
}

func (o *owners) IsSubject(_ context.Context, token, openid string) (bool, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.asked++
	want, ok := o.openid[token]
	return ok && want == openid, nil
}

type wxEnv struct {
	fake   *wechattest.OAuth
	notice *pageFake
	owners *owners
	page   *httptest.Server
	log    *bytes.Buffer
}

// newWxEnv runs the page with WeChat sign-in, silenceper's real OAuth
// client, and a fake of WeChat's authorize page and code exchange.
func newWxEnv(t *testing.T) *wxEnv {
	t.Helper()
	e := &wxEnv{fake: wechattest.NewOAuth(wxAppID, wxSecret), log: &bytes.Buffer{}}
	wx := httptest.NewServer(e.fake)
	t.Cleanup(wx.Close)
	oauth, err := wechat.NewOAuth(wechat.Config{AppID: wxAppID, Secret: wxSecret, APIBase: wx.URL}, wx.URL)
	if err != nil {
		t.Fatal(err)
	}
	one, two := eligibleView, unknownView
	one.Owner, two.Owner = "resident/p1", "resident/p1"
	one.Others = []noticepage.Other{{Link: "/n/tok-two", Title: two.Title}}
	e.notice = newPageFake(map[string]noticepage.View{"tok-one": one, "tok-two": two, "tok-three": confirmView})
	e.owners = &owners{openid: map[string]string{"tok-one": ownerOpenID, "tok-two": ownerOpenID, "tok-three": "oSOMEONE_else"}}
	mux := http.NewServeMux()
	e.page = httptest.NewUnstartedServer(mux)
	e.page.Start()
	t.Cleanup(e.page.Close)
	p, err := noticepage.NewPage(e.notice, noticepage.PageOptions{
		PublicURL: e.page.URL, Log: slog.New(slog.NewTextHandler(e.log, nil)),
		WeChat: &noticepage.WeChatOptions{OAuth: oauth, Owners: e.owners, SessionKey: []byte("0123456789abcdef0123456789abcdef")},
	})
	if err != nil {
		t.Fatal(err)
	}
	p.Register(mux)
	return e
}

// browser is a phone's browser: a cookie jar and a User-Agent; it follows
// redirects and records them.
type browser struct {
	c    *http.Client
	ua   string
	hops []string
}

func newBrowser(t *testing.T, ua string) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	b := &browser{ua: ua}
	b.c = &http.Client{Jar: jar, CheckRedirect: func(r *http.Request, _ []*http.Request) error {
		b.hops = append(b.hops, r.URL.String())
		r.Header.Set("User-Agent", b.ua)
		return nil
	}}
	return b
}

func (b *browser) do(t *testing.T, method, target string, form url.Values) (int, string, string) {
	t.Helper()
	b.hops = nil
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	r, err := http.NewRequest(method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("User-Agent", b.ua)
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	resp, err := b.c.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Request.URL.String(), string(got)
}

func (b *browser) cookie(base, name string) string {
	u, _ := url.Parse(base + "/n/")
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// personalPart are things only the person may see on tok-one's page.
var personalPart = []string{"参加失业保险累计满12个月", "为什么推送给您", "2,000", `id="claim"`, `id="dispute"`, `id="stop"`, "数据截至", "高龄津贴"}

// publicPart is what anyone may see of it.
var publicPart = []string{"失业保险技能提升补贴", "市人力资源和社会保障局职业能力建设科", "人社部发〔2017〕40号", "在“掌上12333”App 或线下窗口提交申请",
	"职业资格证书或职业技能等级证书", "市民服务中心二楼人社窗口", "12333"}

func checkParts(t *testing.T, body string, personal bool) {
	t.Helper()
	for _, s := range publicPart {
		if !strings.Contains(body, s) {
			t.Errorf("the page lacks its public part %q", s)
		}
	}
	for _, s := range personalPart {
		if strings.Contains(body, s) != personal {
			t.Errorf("personal part %q shown: %t, want %t", s, !personal, personal)
		}
	}
}

// TestNoticePageWeChatOAuth opens the page as WeChat's browser does,
// through silenceper's real OAuth client and a fake of WeChat's endpoints:
// the notice's subject sees the personal part and may answer, on this
// notice and their other ones, without a second redirect; another WeChat
// user sees only the public part, with a note, and may not answer.
func TestNoticePageWeChatOAuth(t *testing.T) {
	e := newWxEnv(t)
	base := e.page.URL

	// The subject.
	e.fake.SetUser(ownerOpenID)
	me := newBrowser(t, wxUA)
	code, final, body := me.do(t, http.MethodGet, base+"/n/tok-one", nil)
	if code != http.StatusOK || final != base+"/n/tok-one" {
		t.Fatalf("the subject's page: %d at %s", code, final)
	}
	if len(me.hops) != 3 || !strings.Contains(me.hops[0], "/connect/oauth2/authorize") || !strings.Contains(me.hops[1], "code=") {
		t.Errorf("the redirects: %q, want to WeChat, back with a code, then the page", me.hops)
	}
	if r := e.fake.Redirects(); len(r) != 1 || r[0] != base+"/n/tok-one" {
		t.Errorf("redirect_uri %q, want the public URL and the page's path", r)
	}
	checkParts(t, body, true)
	if strings.Contains(body, "仅显示公开信息") {
		t.Error("the subject's page has the public part's note")
	}
	// Again, and the person's other notice (a digest's page): no new
	// redirect, no new exchange.
	for _, tok := range []string{"tok-one", "tok-two"} {
		if code, final, body := me.do(t, http.MethodGet, base+"/n/"+tok, nil); code != http.StatusOK || len(me.hops) != 0 ||
			!strings.Contains(body, `id="claim"`) {
			t.Errorf("%s again: %d at %s after %q", tok, code, final, me.hops)
		}
	}
	if n := e.fake.Exchanges(); n != 1 {
		t.Errorf("%d code exchanges, want 1", n)
	}
	// The subject answers.
	csrf := me.cookie(base, noticepage.CSRFCookie)
	code, final, _ = me.do(t, http.MethodPost, base+"/n/tok-one/claim", url.Values{"csrf": {csrf}})
	if code != http.StatusOK || !strings.HasSuffix(final, "/n/tok-one?done=claim") {
		t.Errorf("the subject's claim: %d at %s", code, final)
	}

	// Someone else in WeChat, with the same link.
	e.fake.SetUser(otherOpenID)
	other := newBrowser(t, wxUA)
	code, final, body = other.do(t, http.MethodGet, base+"/n/tok-two", nil)
	if code != http.StatusOK || final != base+"/n/tok-two?wx=other" {
		t.Fatalf("another user's page: %d at %s", code, final)
	}
	if strings.Contains(body, "年满80周岁") || strings.Contains(body, `method="post"`) || !strings.Contains(body, "高龄津贴") ||
		!strings.Contains(body, "这条通知不是发给当前微信号的") {
		t.Errorf("another user's page shows more than the public part, or no note:\n%s", body)
	}
	code, _, body = other.do(t, http.MethodGet, base+"/n/tok-one?wx=other", nil)
	checkParts(t, body, false)
	if code != http.StatusOK {
		t.Errorf("public part: %d", code)
	}
	// Nor may they answer, even with a CSRF token of their own: nothing
	// reaches Notices.
	before := len(e.notice.Calls())
	otherCSRF := "B" + testCSRF[1:]
	u, _ := url.Parse(base + "/n/")
	other.c.Jar.SetCookies(u, []*http.Cookie{{Name: noticepage.CSRFCookie, Value: otherCSRF, Path: "/n/"}})
	for _, a := range []struct {
		action string
		form   url.Values
	}{
		{"claim", url.Values{}},
		{"dispute", url.Values{"condition": {"参加失业保险累计满12个月"}}},
		{"stop", url.Values{"scope": {"all"}}},
	} {
		a.form.Set("csrf", otherCSRF)
		code, _, body := other.do(t, http.MethodPost, base+"/n/tok-one/"+a.action, a.form)
		if code != http.StatusForbidden || !strings.Contains(body, "只有收到这条通知的本人可以答复") {
			t.Errorf("another user's %s: %d\n%s", a.action, code, body)
		}
	}
	if calls := e.notice.Calls(); len(calls) != before {
		t.Errorf("another user's answers reached Notices: %q", calls[before:])
	}
	// The subject's session does not open a notice of someone else.
	if code, final, _ := me.do(t, http.MethodGet, base+"/n/tok-three", nil); code != http.StatusOK || !strings.HasSuffix(final, "?wx=other") {
		t.Errorf("another subject's notice with the subject's session: %d at %s", code, final)
	}

	// The openids never appear in a URL or the log.
	for _, s := range append(append(me.hops, other.hops...), e.log.String()) {
		if strings.Contains(s, ownerOpenID) || strings.Contains(s, otherOpenID) || strings.Contains(s, wxSecret) {
			t.Errorf("an openid or the secret in %q", s)
		}
	}
}

// TestNoticePageWeChatState refuses a way back from WeChat that this
// browser did not start: no state cookie, or another state than its own.
// A code is not exchanged then, and nothing personal is shown.
func TestNoticePageWeChatState(t *testing.T) {
	e := newWxEnv(t)
	base := e.page.URL
	stolen := e.fake.Code(ownerOpenID) // a code of the subject, somehow obtained

	b := newBrowser(t, wxUA)
	b.c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	for name, target := range map[string]string{
		"missing state":   "/n/tok-one?code=" + stolen,
		"no state cookie": "/n/tok-one?code=" + stolen + "&state=" + strings.Repeat("ab", 32),
	} {
		code, _, body := b.do(t, http.MethodGet, base+target, nil)
		if code != http.StatusForbidden || !strings.Contains(body, "无法确认身份") || strings.Contains(body, "参加失业保险累计满12个月") {
			t.Errorf("%s: %d\n%s", name, code, body)
		}
	}
	// The browser starts a redirect of its own, and a forged state comes back.
	code, _, _ := b.do(t, http.MethodGet, base+"/n/tok-one", nil)
	if code != http.StatusFound || b.cookie(base, noticepage.WeChatStateCookie) == "" {
		t.Fatalf("the start: %d, state cookie %q", code, b.cookie(base, noticepage.WeChatStateCookie))
	}
	code, _, body := b.do(t, http.MethodGet, base+"/n/tok-one?code="+stolen+"&state="+strings.Repeat("cd", 32), nil)
	if code != http.StatusForbidden || strings.Contains(body, "参加失业保险累计满12个月") {
		t.Errorf("a forged state: %d", code)
	}
	if n := e.fake.Exchanges(); n != 0 {
		t.Errorf("%d codes exchanged on a refused state", n)
	}
	if b.cookie(base, noticepage.WeChatSessionCookie) != "" {
		t.Error("a refused state left a session")
	}
	// A forged session cookie opens nothing either.
	u, _ := url.Parse(base + "/n/")
	b.c.Jar.SetCookies(u, []*http.Cookie{{Name: noticepage.WeChatSessionCookie, Value: "99999999999.AAAA", Path: "/n/"}})
	if code, _, _ := b.do(t, http.MethodGet, base+"/n/tok-one", nil); code != http.StatusFound {
		t.Errorf("a forged session cookie: %d, want the redirect to WeChat", code)
	}
}

// TestNoticePageWeChatError shows the public part with a clear note, not
// a 500, when WeChat answers the exchange with an errcode, and offers to
// try again.
func TestNoticePageWeChatError(t *testing.T) {
	e := newWxEnv(t)
	base := e.page.URL
	e.fake.SetUser(ownerOpenID)
	e.fake.FailWith(40029, "invalid code")
	b := newBrowser(t, wxUA)
	code, final, body := b.do(t, http.MethodGet, base+"/n/tok-one", nil)
	if code != http.StatusOK || final != base+"/n/tok-one?wx=failed" {
		t.Fatalf("an errcode: %d at %s", code, final)
	}
	checkParts(t, body, false)
	if !strings.Contains(body, "暂时无法通过微信确认您的身份") || !strings.Contains(body, `href="/n/tok-one"`) {
		t.Errorf("no note or no retry:\n%s", body)
	}
	if !strings.Contains(e.log.String(), "40029") {
		t.Errorf("the errcode is not logged: %s", e.log)
	}
	// WeChat recovers; trying again works.
	e.fake.FailWith(0, "")
	if code, final, body := b.do(t, http.MethodGet, base+"/n/tok-one", nil); code != http.StatusOK ||
		final != base+"/n/tok-one" || !strings.Contains(body, `id="claim"`) {
		t.Errorf("again: %d at %s", code, final)
	}
}

// TestNoticePageWeChatOutside: outside WeChat the page is as before: the
// token alone opens the personal part, no redirect, answers accepted.
func TestNoticePageWeChatOutside(t *testing.T) {
	e := newWxEnv(t)
	base := e.page.URL
	b := newBrowser(t, phoneUA)
	code, final, body := b.do(t, http.MethodGet, base+"/n/tok-one", nil)
	if code != http.StatusOK || final != base+"/n/tok-one" || len(b.hops) != 0 {
		t.Fatalf("outside WeChat: %d at %s after %q", code, final, b.hops)
	}
	checkParts(t, body, true)
	code, final, _ = b.do(t, http.MethodPost, base+"/n/tok-one/stop", url.Values{"csrf": {b.cookie(base, noticepage.CSRFCookie)}, "scope": {"policy"}})
	if code != http.StatusOK || !strings.Contains(final, "done=stop") {
		t.Errorf("a stop outside WeChat: %d at %s", code, final)
	}
	if len(e.fake.Redirects()) != 0 || e.fake.Exchanges() != 0 || e.owners.asked != 0 {
		t.Error("WeChat was asked outside WeChat")
	}
}

// TestNoticePagePublicGolden is the public part's page, for review.
func TestNoticePagePublicGolden(t *testing.T) {
	e := newWxEnv(t)
	b := newBrowser(t, wxUA)
	code, _, body := b.do(t, http.MethodGet, e.page.URL+"/n/tok-one?wx=other", nil)
	if code != http.StatusOK {
		t.Fatal(code)
	}
	checkPlain(t, body)
	golden(t, "public-other", []byte(body))
}
