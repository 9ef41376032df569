package app

import (
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/policypush/policypush/internal/config"
	"github.com/policypush/policypush/internal/console/browsertest"
	"github.com/policypush/policypush/internal/ingest"
	"github.com/policypush/policypush/internal/rules"
)

// pageRule is answerRule with an apply: block, so that the page shows the
// confirm checkbox for mode confirm.
func pageRule(id, title, cond, expr, apply string) string {
	return strings.Replace(answerRule(id, title, cond, expr), "notify:\n", apply+"notify:\n", 1)
}

// TestNoticePageOnRealService opens the page of a notice the real service
// sent in headless Chromium, at a phone's size and a desktop's, and gives
// each answer by clicking, as a person does: a claim with the confirm box
// ticked, a dispute of one condition with a note, a stop of one policy.
// Each is checked in PostgreSQL afterwards.
func TestNoticePageOnRealService(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the service and a browser")
	}
	e := newEnv(t)
	fake := &fakeWeChat{unfollowed: map[string]bool{}}
	api := httptest.NewServer(fake)
	defer api.Close()
	dir := t.TempDir()
	for name, body := range map[string]string{
		"page-one.yaml": pageRule("page-one", "页面测试一号补贴", "本市户籍", "resident.hukou.is_local == true",
			"apply:\n  mode: confirm\n  how: 核对后发放至本人社保卡。\n  confirm: 确认本人社保卡账户信息无误\n"),
		"page-two.yaml":   answerRule("page-two", "页面测试二号补贴", "在本市就业", `resident.employment.status == "employed"`),
		"page-three.yaml": answerRule("page-three", "页面测试三号补贴", "参加职工养老保险", `resident.insurance.pension.scheme == "employee"`),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	e.cfg.RulesDir = dir
	e.cfg.WeChatAppID, e.cfg.WeChatSecret, e.cfg.WeChatAPIBase = "wx_test_app", "test-secret-value", api.URL
	e.cfg.WeChatToken = "callback-token"
	e.cfg.QuietHours.On = false
	var c clock
	c.set(now)
	e.clock = c.now

	s := e.start(ingest.Hooks{})
	e.produce(answerPerson("p_page", "oPage_person_0000001"))
	e.waitFor("three sent notices", func() bool {
		return e.countOr("SELECT count(*) FROM outbox WHERE status IN ('sent', 'delivered')") == 3
	})
	base := "http://" + <-s.addr

	// The short links of the messages WeChat got, by policy.
	links := map[string]string{}
	fake.mu.Lock()
	for _, m := range fake.sent {
		link, _ := m["url"].(string)
		data, _ := m["data"].(map[string]any)
		thing, _ := data["thing1"].(map[string]any)
		links[fmt.Sprint(thing["value"])] = link
	}
	fake.mu.Unlock()
	tokenOf := func(policy string) string {
		t.Helper()
		link := links[policy]
		i := strings.LastIndex(link, "/r/")
		if !strings.HasPrefix(link, e.cfg.PublicURL+"/r/") || i < 0 {
			t.Fatalf("%s's message links to %q, not a short link: %v", policy, link, links)
		}
		return link[i+3:]
	}
	matchOf := func(tok string) int {
		return e.count("SELECT match_id::int FROM outbox WHERE click_token = $1", tok)
	}

	// The person opens the short link: the click is recorded and the
	// browser lands on the page.
	one := tokenOf("page-one")
	p := browsertest.Start(t, base+"/r/"+one, "#title")
	if loc := browsertest.Run(p, chromedp.Location()); !strings.HasSuffix(loc, "/n/"+one) {
		t.Errorf("the short link led to %s, want /n/%s", loc, one)
	}
	if n := e.count("SELECT count(*) FROM outbox WHERE click_token = $1 AND clicked_at IS NOT NULL", one); n != 1 {
		t.Error("the click was not recorded")
	}
	open := func(tok string) {
		t.Helper()
		browsertest.Run(p, chromedp.Steps(
			chromedp.EmulateViewport(375, 812, chromedp.EmulateMobile),
			chromedp.Navigate(base+"/n/"+tok),
			chromedp.WaitVisible(chromedp.CSS("#title")),
		))
	}
	open(one)
	text := browsertest.Run(p, chromedp.Text(chromedp.CSS("main")))
	for _, want := range []string{"页面测试一号补贴", "养老保险缴费满12个月", "本市户籍", "就业促进科", "确认本人社保卡账户信息无误"} {
		if !strings.Contains(text, want) {
			t.Errorf("the page does not show %q:\n%s", want, text)
		}
	}
	for _, leak := range []string{"oPage_person", "cumulative_months", "p_page"} {
		if strings.Contains(text, leak) {
			t.Errorf("the page shows %q", leak)
		}
	}
	p.Screenshot("e2e-notice-375x812", 375, 812)
	checkLayout(t, p, "e2e-notice-375x812")

	answer := func(name, tok string, steps []chromedp.Action[chromedp.Void], submit string) {
		t.Helper()
		open(tok)
		browsertest.Run(p, chromedp.Steps(steps...))
		browsertest.Run(p, chromedp.Click(chromedp.CSS(submit)))
		browsertest.Run(p, chromedp.WaitVisible(chromedp.CSS("#status-title")))
		p.Screenshot("e2e-"+name+"-done", 375, 812)
		checkLayout(t, p, "e2e-"+name+"-done")
	}

	// 确认申领, with the confirm box ticked: a claimed case.
	answer("claim", one, []chromedp.Action[chromedp.Void]{chromedp.Click(chromedp.CSS("#confirm"))}, "#claim-submit")
	if n := e.count("SELECT count(*) FROM cases WHERE match_id = $1 AND status = 'claimed'", matchOf(one)); n != 1 {
		t.Errorf("%d claimed cases after the click, want 1", n)
	}

	// 信息有误 on one condition, with a note: a correction request.
	two := tokenOf("page-two")
	answer("dispute", two, []chromedp.Action[chromedp.Void]{
		chromedp.Click(chromedp.CSS("#dispute-box > summary")),
		chromedp.WaitVisible(chromedp.CSS("#cond-0")),
		chromedp.Click(chromedp.CSS("#cond-0")),
		chromedp.SendKeys(chromedp.CSS("#note"), "我已缴满36个月"),
	}, "#dispute-submit")
	if n := e.count(`SELECT count(*) FROM correction_requests WHERE subject_id = 'p_page' AND status = 'open'
AND note = '我已缴满36个月' AND conditions = ARRAY['养老保险缴费满12个月']`); n != 1 {
		t.Errorf("%d correction requests for the disputed condition, want 1", n)
	}

	// 不再接收, 仅此项政策: an opt-out of that policy from the page.
	three := tokenOf("page-three")
	answer("stop", three, []chromedp.Action[chromedp.Void]{
		chromedp.Click(chromedp.CSS("#stop-box > summary")),
		chromedp.WaitVisible(chromedp.CSS("#scope-policy")),
		chromedp.Click(chromedp.CSS("#scope-policy")),
	}, "#stop-submit")
	if n := e.count("SELECT count(*) FROM policy_opt_outs WHERE subject_id = 'p_page' AND policy_id = 'page-three' AND source = 'page'"); n != 1 {
		t.Errorf("%d opt-outs of page-three from the page, want 1", n)
	}
	if n := e.count("SELECT count(*) FROM opt_outs WHERE subject_id = 'p_page'"); n != 0 {
		t.Errorf("a stop of one policy turned off %d channels", n)
	}

	// The page again, in a desktop window.
	open(two)
	browsertest.Run(p, chromedp.EmulateViewport(1280, 800))
	p.Screenshot("e2e-notice-1280x800", 1280, 800)
	checkLayout(t, p, "e2e-notice-1280x800")

	time.Sleep(250 * time.Millisecond) // a late failed request is logged
	if errs := p.Errors(); len(errs) > 0 {
		t.Errorf("errors in the pages: %q", errs)
	}
}

// checkLayout fails when the page, at its current size, is wider than the
// window (it would scroll sideways on a phone) or shows a missing glyph.
// (internal/noticepage's browser test checks more of the layout, on a fake.)
func checkLayout(t *testing.T, p *browsertest.Page, name string) {
	t.Helper()
	type widths struct {
		Scroll int `json:"scroll"`
		Inner  int `json:"inner"`
	}
	w := browsertest.Run(p, chromedp.Evaluate[widths](`({scroll: document.documentElement.scrollWidth, inner: window.innerWidth})`))
	if w.Scroll > w.Inner {
		t.Errorf("%s: the page is %dpx wide in a window of %dpx: it overflows horizontally", name, w.Scroll, w.Inner)
	}
	if missing := browsertest.Run(p, chromedp.Evaluate[[]string](browsertest.MissingGlyphsJS)); len(missing) > 0 {
		t.Errorf("%s: characters without a glyph in the page's font: %q", name, missing)
	}
}

// TestDigestPageOnRealService opens the link of a digest of three notices
// the real service sent, in headless Chromium at a phone's size: the page
// lists the other two notices, each a link to its own page.
func TestDigestPageOnRealService(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the service and a browser")
	}
	e := newEnv(t)
	fake := &fakeWeChat{}
	api := httptest.NewServer(fake)
	defer api.Close()
	e.cfg.WeChatAppID, e.cfg.WeChatSecret, e.cfg.WeChatAPIBase = "wx_test_app", "test-secret-value", api.URL
	e.cfg.WeChatTemplateID, e.cfg.WeChatToken = "TPL_DEFAULT", "callback-token"
	e.cfg.WeChatDigestTemplate = "TPL_DIGEST"
	e.cfg.DigestWindow = 10 * time.Minute
	e.cfg.QuietHours = config.Window{On: true, From: 21 * time.Hour, To: 8 * time.Hour}
	var c clock
	c.set(time.Date(2026, 11, 20, 22, 0, 0, 0, rules.Shanghai))
	e.clock = c.now

	s := e.start(ingest.Hooks{})
	_, ids, _, morning := threeAtMorning(t, e, s, &c)
	c.set(morning.Add(time.Second))
	e.waitFor("the digest sent", func() bool {
		return e.countOr("SELECT count(*) FROM outbox WHERE status = 'sent' AND digest_id IS NOT NULL") == 3
	})
	fake.mu.Lock()
	sent := append([]map[string]any(nil), fake.sent...)
	fake.mu.Unlock()
	if len(sent) != 1 {
		t.Fatalf("WeChat got %d messages, want one digest", len(sent))
	}
	link, _ := sent[0]["url"].(string)
	if !strings.HasPrefix(link, e.cfg.PublicURL+"/r/") {
		t.Fatalf("the digest links to %q, not a short link", link)
	}
	token := link[strings.LastIndex(link, "/r/")+3:]
	base := "http://" + <-s.addr

	p := browsertest.Start(t, base+"/r/"+token, "#title")
	browsertest.Run(p, chromedp.Steps(
		chromedp.EmulateViewport(375, 812, chromedp.EmulateMobile),
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS("#others")),
	))
	if got := browsertest.Run(p, chromedp.Text(chromedp.CSS("#h-others"))); got != "您还有 2 项可办理的政策" {
		t.Errorf("the digest's page says %q, want 您还有 2 项可办理的政策", got)
	}
	hrefs := browsertest.Run(p, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('#others a'), (a) => a.getAttribute('href'))`))
	var want []string
	for _, id := range ids {
		var tok string
		if err := e.db.QueryRow(t.Context(), "SELECT click_token FROM outbox WHERE id = $1", id).Scan(&tok); err != nil {
			t.Fatal(err)
		}
		if tok != token {
			want = append(want, "/n/"+tok)
		}
	}
	slices.Sort(hrefs)
	slices.Sort(want)
	if !slices.Equal(hrefs, want) {
		t.Errorf("the digest's page links to %q, want the other two notices %q", hrefs, want)
	}
	p.Screenshot("e2e-digest-375x812", 375, 812)
	checkLayout(t, p, "e2e-digest-375x812")
	// Each of the others opens its own page.
	for _, h := range hrefs {
		browsertest.Run(p, chromedp.Steps(chromedp.Navigate(base+h), chromedp.WaitVisible(chromedp.CSS("#claim-submit, #title"))))
		if loc := browsertest.Run(p, chromedp.Location()); !strings.HasSuffix(loc, h) {
			t.Errorf("the link %s opened %s", h, loc)
		}
	}
	time.Sleep(250 * time.Millisecond)
	if errs := p.Errors(); len(errs) > 0 {
		t.Errorf("errors in the pages: %q", errs)
	}
}
