package app

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/policypush/policypush/internal/console/browsertest"
	"github.com/policypush/policypush/internal/ingest"
	"github.com/policypush/policypush/internal/rules"
)

// consultA11yJS returns what breaks basic accessibility on a page: form
// fields no label names, a page without exactly one h1, a heading that
// skips a level, and an image or button without a name.
const consultA11yJS = `(() => {
	const bad = [];
	for (const e of document.querySelectorAll('input:not([type=hidden]), textarea, select')) {
		if (e.labels.length === 0 || Array.from(e.labels).every((l) => l.textContent.trim() === '')) bad.push('unlabelled ' + (e.id || e.name));
	}
	const hs = Array.from(document.querySelectorAll('h1, h2, h3, h4, h5, h6'));
	if (hs.filter((h) => h.tagName === 'H1').length !== 1) bad.push('not exactly one h1');
	let last = 0;
	for (const h of hs) {
		const n = +h.tagName[1];
		if (n > last + 1) bad.push('heading skips from h' + last + ' to ' + h.tagName + ': ' + h.textContent.trim().slice(0, 20));
		last = n;
	}
	for (const b of document.querySelectorAll('button, a')) if (b.textContent.trim() === '' && !b.getAttribute('aria-label')) bad.push('unnamed ' + b.tagName);
	if (document.documentElement.lang !== 'zh-CN') bad.push('lang ' + document.documentElement.lang);
	return bad;
})()`

// TestConsultationInBrowser opens /consultations and the draft's page of
// the real service in headless Chromium, at a phone's size (375×812) and a
// desktop's, checks that neither overflows sideways, shows a missing glyph
// or breaks basic accessibility, then writes and submits a comment with the
// keyboard alone and finds it in PostgreSQL.
func TestConsultationInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the service and a browser")
	}
	e := newEnv(t)
	var c clock
	c.set(time.Date(2026, 12, 10, 10, 0, 0, 0, rules.Shanghai))
	e.clock = c.now
	s := e.start(ingest.Hooks{})
	base := "http://" + <-s.addr
	const id = "skill-upgrade-subsidy-2027"

	p := browsertest.Start(t, base+"/consultations", "#title")
	check := func(name string) {
		t.Helper()
		for _, size := range []struct{ w, h int64 }{{375, 812}, {1280, 800}} {
			p.Screenshot(fmt.Sprintf("%s-%dx%d", name, size.w, size.h), size.w, size.h)
			checkLayout(t, p, name)
			if bad := browsertest.Run(p, chromedp.Evaluate[[]string](consultA11yJS)); len(bad) > 0 {
				t.Errorf("%s at %dpx: %q", name, size.w, bad)
			}
		}
		browsertest.Run(p, chromedp.EmulateViewport(375, 812, chromedp.EmulateMobile))
		checkLayout(t, p, name+"-mobile")
	}
	if got := browsertest.Run(p, chromedp.Text(chromedp.CSS("main"))); !strings.Contains(got, "失业保险技能提升补贴标准调整") {
		t.Fatalf("/consultations does not list the draft: %s", got)
	}
	check("consultations")

	browsertest.Run(p, chromedp.Steps(
		chromedp.Click(chromedp.CSS(`a[href="/consultations/`+id+`"]`)),
		chromedp.WaitVisible(chromedp.CSS("#text")),
	))
	check("consultation-draft")
	page := browsertest.Run(p, chromedp.Text(chromedp.CSS("main")))
	for _, want := range []string{"参加失业保险累计满12个月", "近12个月内取得职业技能证书", "影响测算", "2026年12月1日至2026年12月31日"} {
		if !strings.Contains(page, want) {
			t.Errorf("the draft's page lacks %q", want)
		}
	}

	// The keyboard alone: Tab to the text, type, Tab to the name, type,
	// Tab to the button, Enter.
	active := func() string {
		return browsertest.Run(p, chromedp.Evaluate[string](`document.activeElement ? document.activeElement.id : ''`))
	}
	tabTo := func(want string) {
		t.Helper()
		for range 40 {
			if active() == want {
				return
			}
			browsertest.Run(p, chromedp.KeyEvent(kb.Tab))
		}
		t.Fatalf("Tab never reaches #%s", want)
	}
	browsertest.Run(p, chromedp.Evaluate[bool](`document.activeElement.blur(), true`))
	const text = "建议将补贴申领期限由取证后12个月延长至18个月。"
	tabTo("text")
	browsertest.Run(p, chromedp.KeyEvent(text))
	tabTo("name")
	browsertest.Run(p, chromedp.KeyEvent("李女士"))
	tabTo("submit")
	browsertest.Run(p, chromedp.KeyEvent(kb.Enter))
	browsertest.Run(p, chromedp.WaitVisible(chromedp.CSS("#done")))
	check("consultation-done")

	var body, name, status string
	if err := e.db.QueryRow(context.Background(), `SELECT body, name, status FROM consultation_comments WHERE policy_id = $1`, id).
		Scan(&body, &name, &status); err != nil {
		t.Fatal(err)
	}
	if body != text || name != "李女士" || status != "pending" {
		t.Errorf("stored %q by %q (%s), want %q by 李女士, pending", body, name, status, text)
	}
	if errs := p.Errors(); len(errs) > 0 {
		t.Errorf("errors in the pages (a CSP violation, a failed load): %q", errs)
	}
}
