package app

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/policypush/policypush/internal/console/browsertest"
	"github.com/policypush/policypush/internal/ingest"
	"github.com/policypush/policypush/internal/noticepage"
	"github.com/policypush/policypush/internal/notify/wechat/wechattest"
)

// wechatUA is the User-Agent of WeChat's built-in browser on an iPhone.
const wechatUA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.47(0x18002f2f) NetType/WIFI Language/zh_CN"

func userAgent(ua string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{UserAgent: ua})
		return err
	})
}

func clearCookies() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, network.ClearBrowserCookies, cdp.Empty{})
		return err
	})
}

// freeAddr is a loopback address nobody listens on, for a service whose
// public URL must be known before it starts (WeChat redirects to it).
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestNoticePageWeChatOAuthOnRealService opens notices the real service
// sent over WeChat in headless Chromium with WeChat's User-Agent, against
// a fake of WeChat's authorize page and code exchange (silenceper's real
// client runs in the service): the person the notice is for sees the
// personal part and claims; another WeChat user sees only the public part
// and cannot answer; an errcode of WeChat shows the public part with a
// note; outside WeChat, and on the JSON API, the token alone still opens it.
func TestNoticePageWeChatOAuthOnRealService(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the service and a browser")
	}
	const (
		appID, secret = "wx_test_app", "test-secret-value"
		openid        = "oWXpage_person_0000001"
		someoneElse   = "oWXpage_someone_000002"
	)
	e := newEnv(t)
	tpl := &fakeWeChat{unfollowed: map[string]bool{}}
	oauth := wechattest.NewOAuth(appID, secret)
	mux := http.NewServeMux()
	mux.Handle("/connect/", oauth)
	mux.Handle("/sns/", oauth)
	mux.Handle("/", tpl)
	wx := httptest.NewServer(mux)
	defer wx.Close()
	e.cfg.RulesDir = answerRules(t)
	e.cfg.WeChatAppID, e.cfg.WeChatSecret, e.cfg.WeChatAPIBase, e.cfg.WeChatOpenBase = appID, secret, wx.URL, wx.URL
	e.cfg.WeChatToken = "callback-token"
	e.cfg.QuietHours.On = false
	e.cfg.PublicBurst = 1000 // a browser's many requests are not a script's
	addr := freeAddr(t)
	e.cfg.HTTPAddr, e.cfg.PublicURL = addr, "http://"+addr
	var logs syncBuffer
	e.logs = &logs
	var c clock
	c.set(now)
	e.clock = c.now

	s := e.start(ingest.Hooks{})
	e.produce(answerPerson("p_wx", openid))
	e.waitFor("three sent notices", func() bool {
		return e.countOr("SELECT count(*) FROM outbox WHERE status IN ('sent', 'delivered')") == 3
	})
	base := "http://" + <-s.addr
	if base != e.cfg.PublicURL {
		t.Fatalf("the service listens at %s, not its public URL %s", base, e.cfg.PublicURL)
	}
	tokens := map[string]string{}
	tpl.mu.Lock()
	for _, m := range tpl.sent {
		link, _ := m["url"].(string)
		data, _ := m["data"].(map[string]any)
		thing, _ := data["thing1"].(map[string]any)
		tokens[fmt.Sprint(thing["value"])] = link[strings.LastIndex(link, "/r/")+3:]
	}
	tpl.mu.Unlock()
	one, two, three := tokens["answer-one"], tokens["answer-two"], tokens["answer-three"]
	if one == "" || two == "" || three == "" {
		t.Fatalf("tokens %v", tokens)
	}
	matchOf := func(tok string) int {
		return e.count("SELECT match_id::int FROM outbox WHERE click_token = $1", tok)
	}

	// An unknown token is a 404, with no trip to WeChat.
	p := browsertest.Start(t, base+"/n/"+strings.Repeat("0", 32), "#title") // (its 404 is an error of the page)
	browsertest.Run(p, chromedp.Steps(userAgent(wechatUA), chromedp.EmulateViewport(375, 812, chromedp.EmulateMobile)))
	open := func(target, wait string) (string, string) {
		t.Helper()
		browsertest.Run(p, chromedp.Steps(chromedp.Navigate(base+target), chromedp.WaitVisible(chromedp.CSS(wait))))
		// The browser keeps the authorize URL's #wechat_redirect through
		// the redirects back, as WeChat's does.
		loc, _, _ := strings.Cut(browsertest.Run(p, chromedp.Location()), "#")
		return loc, browsertest.Run(p, chromedp.Text(chromedp.CSS("main")))
	}

	if _, text := open("/n/"+strings.Repeat("0", 32), "#title"); !strings.Contains(text, "链接无效或已过期") || len(oauth.Redirects()) != 0 {
		t.Errorf("an unknown token in WeChat: %d trips to WeChat\n%s", len(oauth.Redirects()), text)
	}

	// The person the notices are for, in their WeChat: the short link
	// records the click, WeChat signs them in silently, the page is theirs.
	oauth.SetUser(openid)
	loc, text := open("/r/"+one, "#claim-submit")
	if loc != base+"/n/"+one {
		t.Errorf("the subject landed on %s, want the page without code or state", loc)
	}
	if r := oauth.Redirects(); len(r) != 1 || r[0] != e.cfg.PublicURL+"/n/"+one {
		t.Errorf("redirect_uri %q, want POLICYPUSH_PUBLIC_URL and the page's path", r)
	}
	for _, want := range []string{"答复测试一号补贴", "养老保险缴费满12个月", "本市户籍", "1,000"} {
		if !strings.Contains(text, want) {
			t.Errorf("the subject's page lacks %q:\n%s", want, text)
		}
	}
	if n := e.count("SELECT count(*) FROM outbox WHERE click_token = $1 AND clicked_at IS NOT NULL", one); n != 1 {
		t.Error("the click was not recorded")
	}
	checkLayout(t, p, "wechat-subject-375x812")
	browsertest.Run(p, chromedp.Click(chromedp.CSS("#claim-submit")))
	browsertest.Run(p, chromedp.WaitVisible(chromedp.CSS("#status-title")))
	if n := e.count("SELECT count(*) FROM cases WHERE match_id = $1 AND status = 'claimed'", matchOf(one)); n != 1 {
		t.Errorf("%d claimed cases after the subject's click, want 1", n)
	}
	// Their other notice: no second trip to WeChat.
	if loc, _ := open("/n/"+two, "#claim-submit"); loc != base+"/n/"+two || len(oauth.Redirects()) != 1 {
		t.Errorf("the subject's other notice: at %s after %d trips to WeChat", loc, len(oauth.Redirects()))
	}

	// Someone else, in their own WeChat, with the forwarded link.
	browsertest.Run(p, clearCookies())
	oauth.SetUser(someoneElse)
	loc, text = open("/n/"+two, "#public-note")
	if loc != base+"/n/"+two+"?wx=other" {
		t.Errorf("someone else landed on %s", loc)
	}
	for _, want := range []string{"答复测试二号补贴", "就业促进科", "某人社发〔2026〕1号", "这条通知不是发给当前微信号的"} {
		if !strings.Contains(text, want) {
			t.Errorf("someone else's page lacks %q:\n%s", want, text)
		}
	}
	for _, leak := range []string{"养老保险缴费满12个月", "在本市就业", "1,000", "确认申领", "答复测试一号补贴"} {
		if strings.Contains(text, leak) {
			t.Errorf("someone else's page shows %q:\n%s", leak, text)
		}
	}
	p.Screenshot("wechat-other-375x812", 375, 812)
	checkLayout(t, p, "wechat-other-375x812")
	// Nor can they answer, with a CSRF token of their own.
	csrf := strings.Repeat("C", 42) + "w"
	for action, form := range map[string]url.Values{
		"claim": {}, "dispute": {"condition": {"在本市就业"}}, "stop": {"scope": {"all"}},
	} {
		form.Set("csrf", csrf)
		req, _ := http.NewRequest(http.MethodPost, base+"/n/"+two+"/"+action, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("User-Agent", wechatUA)
		req.AddCookie(&http.Cookie{Name: noticepage.CSRFCookie, Value: csrf})
		resp, err := noRedirects().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("someone else's %s: %d, want 403", action, resp.StatusCode)
		}
	}
	m2 := matchOf(two)
	if n := e.count("SELECT count(*) FROM cases WHERE match_id = $1", m2) +
		e.count("SELECT count(*) FROM correction_requests WHERE subject_id = 'p_wx'") +
		e.count("SELECT count(*) FROM policy_opt_outs WHERE subject_id = 'p_wx'") +
		e.count("SELECT count(*) FROM opt_outs WHERE subject_id = 'p_wx'"); n != 0 {
		t.Errorf("someone else's answers changed %d rows", n)
	}

	// WeChat answers the exchange with an errcode: the public part and a
	// note, not a failure.
	browsertest.Run(p, clearCookies())
	oauth.SetUser(openid)
	oauth.FailWith(40029, "invalid code")
	loc, text = open("/n/"+three, "#public-note")
	if loc != base+"/n/"+three+"?wx=failed" || !strings.Contains(text, "暂时无法通过微信确认您的身份") ||
		strings.Contains(text, "参加职工养老保险") || !strings.Contains(text, "答复测试三号补贴") {
		t.Errorf("an errcode: at %s\n%s", loc, text)
	}
	oauth.FailWith(0, "")

	// Outside WeChat, and on the JSON API for outside apps, the token
	// alone opens the personal part, as before.
	get := func(path, ua string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		req.Header.Set("User-Agent", ua)
		resp, err := noRedirects().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/n/"+three, "Mozilla/5.0 (iPhone) Safari/604.1"); code != http.StatusOK || !strings.Contains(body, "参加职工养老保险") {
		t.Errorf("outside WeChat: %d", code)
	}
	if code, body := get("/public/notices/"+three, wechatUA); code != http.StatusOK || !strings.Contains(body, "参加职工养老保险") {
		t.Errorf("the JSON API from WeChat: %d %s", code, body)
	}

	if strings.Contains(logs.String(), openid) || strings.Contains(logs.String(), someoneElse) {
		t.Error("an openid is in the service's log")
	}
	unknown := base + "/n/" + strings.Repeat("0", 32)
	for _, err := range p.Errors() {
		if !strings.Contains(err, "status of 404") || !strings.Contains(err, unknown+")") {
			t.Errorf("an error in the pages: %q", err)
		}
	}
}

// TestClickTokensOldAndNew: notices get 22-character tokens now, and a
// token of the old form (32 hex digits, minted before) still opens its
// short link, its page and its JSON, so links already sent keep working.
func TestClickTokensOldAndNew(t *testing.T) {
	e := newEnv(t)
	fake := &fakeWeChat{unfollowed: map[string]bool{}}
	api := httptest.NewServer(fake)
	defer api.Close()
	e.cfg.RulesDir = answerRules(t)
	e.cfg.WeChatAppID, e.cfg.WeChatSecret, e.cfg.WeChatAPIBase = "wx_test_app", "test-secret-value", api.URL
	e.cfg.WeChatToken = "callback-token"
	e.cfg.QuietHours.On = false
	s := e.start(ingest.Hooks{})
	e.produce(answerPerson("p_tok", "oTok_person_0000001"))
	e.waitFor("three sent notices", func() bool {
		return e.countOr("SELECT count(*) FROM outbox WHERE status IN ('sent', 'delivered')") == 3
	})
	base := "http://" + <-s.addr
	if n := e.count("SELECT count(*) FROM outbox WHERE length(click_token) = 22"); n != 3 {
		t.Errorf("%d of 3 notices have a 22-character token", n)
	}
	var id int
	var fresh string
	if err := e.db.QueryRow(t.Context(), "SELECT id, click_token FROM outbox ORDER BY id LIMIT 1").Scan(&id, &fresh); err != nil {
		t.Fatal(err)
	}
	const old = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
	if _, err := e.db.Exec(t.Context(), "UPDATE outbox SET click_token = $1 WHERE id = $2", old, id); err != nil {
		t.Fatal(err)
	}
	var other string
	if err := e.db.QueryRow(t.Context(), "SELECT click_token FROM outbox WHERE id <> $1 ORDER BY id LIMIT 1", id).Scan(&other); err != nil {
		t.Fatal(err)
	}
	get := func(path string) (int, string, string) {
		resp, err := noRedirects().Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Location"), string(b)
	}
	for _, tok := range []string{old, other} {
		if code, loc, _ := get("/r/" + tok); code/100 != 3 || loc != "/n/"+tok {
			t.Errorf("/r/%s: %d to %q", tok, code, loc)
		}
		if code, _, body := get("/n/" + tok); code != http.StatusOK || !strings.Contains(body, "养老保险缴费满12个月") {
			t.Errorf("/n/%s: %d", tok, code)
		}
		if code, _, _ := get("/public/notices/" + tok); code != http.StatusOK {
			t.Errorf("/public/notices/%s: %d", tok, code)
		}
	}
	if n := e.count("SELECT count(*) FROM outbox WHERE click_token = $1 AND clicked_at IS NOT NULL", old); n != 1 {
		t.Error("the old token's click was not recorded")
	}
	// The token it had is gone with the row's change; one of neither form
	// is a 404 without a query.
	for _, tok := range []string{fresh, "0f1e2d3c4b5a69788796a5b4c3d2e1f", "not+a/token_at-all_22c"} {
		if code, _, _ := get("/n/" + url.PathEscape(tok)); code != http.StatusNotFound {
			t.Errorf("/n/%s: %d, want 404", tok, code)
		}
	}
}
