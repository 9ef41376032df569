package noticepage_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/policypush/policypush/internal/console/browsertest"
	"github.com/policypush/policypush/internal/noticepage"
)

// pageSizes are a phone's (375×812, an iPhone X's CSS pixels, as WeChat's
// browser shows a page) and a desktop window's.
var pageSizes = []struct{ w, h int64 }{{375, 812}, {1280, 800}}

// missingGlyphsJS returns the characters of the page's text that render
// as the font's "missing glyph" box (tofu), or an error string starting
// with "!" when the method itself cannot be trusted.
//
// document.fonts.check says only whether a font is loaded, not whether it
// has a character, and a system font always counts as loaded; so each
// character is drawn on a canvas in the body's font stack, with the
// browser's own fallback, and compared with characters that no font has
// (unassigned code points): a character drawn the same as those is a box.
const missingGlyphsJS = `(() => {
	const font = '28px ' + getComputedStyle(document.body).fontFamily;
	const c = document.createElement('canvas');
	c.width = 48; c.height = 48;
	const g = c.getContext('2d', {willReadFrequently: true});
	const draw = (ch) => {
		g.clearRect(0, 0, c.width, c.height);
		g.font = font;
		g.fillStyle = '#000';
		g.textBaseline = 'middle';
		g.fillText(ch, 6, 24);
		const d = g.getImageData(0, 0, c.width, c.height).data;
		let h = 0;
		for (let i = 3; i < d.length; i += 4) h = (h * 31 + d[i]) | 0;
		return g.measureText(ch).width.toFixed(2) + ':' + h;
	};
	const missing = ['\u0378', '\u0379', '\u{10FFFD}'].map(draw);
	if (missing[0] !== missing[1]) return ['!two unassigned code points render differently: the method does not hold'];
	if (missing.includes(draw('政'))) return ['!政 renders as a missing glyph: no Chinese font'];
	const chars = new Set();
	const w = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
	for (let n = w.nextNode(); n; n = w.nextNode()) {
		for (const ch of n.nodeValue) if (ch.trim() !== '') chars.add(ch);
	}
	for (const el of document.querySelectorAll('input[type=submit], input[placeholder], textarea')) {
		for (const ch of (el.value || '') + (el.placeholder || '')) if (ch.trim() !== '') chars.add(ch);
	}
	return Array.from(chars).filter((ch) => missing.includes(draw(ch)));
})()`

// unlabelledJS returns the ids of the visible form fields that no label
// names.
const unlabelledJS = `Array.from(document.querySelectorAll('input:not([type=hidden]), textarea, select'))
	.filter((e) => e.labels.length === 0 || Array.from(e.labels).every((l) => l.textContent.trim() === ''))
	.map((e) => e.id || e.name)`

// smallTargetsJS returns the buttons and the fields' labels that are
// visible and smaller than 44×44 CSS pixels (WCAG 2.5.5's target size),
// which a thumb misses.
const smallTargetsJS = `Array.from(document.querySelectorAll('button, summary, label.check, .link-button, a.tel'))
	.filter((e) => e.getClientRects().length > 0)
	.filter((e) => { const r = e.getBoundingClientRect(); return r.width < 44 || r.height < 44; })
	.map((e) => e.id || e.textContent.trim().slice(0, 20))`

// noScript turns JavaScript off in the page: the page must work without
// it, as in a browser that blocks it. (The test's own evaluations still
// run.)
func noScript(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
	_, err := cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
	return chromedp.Void{}, err
}

// scriptingJS reports whether the page's document runs scripts: when it
// does, HTML inside <noscript> is parsed as text (HTML's scripting flag).
const scriptingJS = `(() => {
	const n = document.createElement('noscript');
	n.innerHTML = '<b></b>';
	return n.children.length === 0;
})()`

// checkLayout fails when the page, at its current size, is wider than the
// window (it would scroll sideways on a phone) or shows a missing glyph.
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
	if bad := browsertest.Run(p, chromedp.Evaluate[[]string](unlabelledJS)); len(bad) > 0 {
		t.Errorf("%s: form fields without a label: %q", name, bad)
	}
	if small := browsertest.Run(p, chromedp.Evaluate[[]string](smallTargetsJS)); len(small) > 0 {
		t.Errorf("%s: tap targets smaller than 44×44 px: %q", name, small)
	}
	missing := browsertest.Run(p, chromedp.Evaluate[[]string](missingGlyphsJS))
	if len(missing) > 0 {
		t.Errorf("%s: characters without a glyph in the page's font: %q", name, missing)
	}
}

// shoot checks the page at each of pageSizes and keeps a screenshot of
// each, then leaves the window at a phone's size.
func shoot(t *testing.T, p *browsertest.Page, name string) {
	t.Helper()
	for _, s := range pageSizes {
		size := fmt.Sprintf("%s-%dx%d", name, s.w, s.h)
		p.Screenshot(size, s.w, s.h)
		checkLayout(t, p, size)
	}
	browsertest.Run(p, chromedp.EmulateViewport(375, 812, chromedp.EmulateMobile))
	checkLayout(t, p, name+"-mobile")
}

// TestNoticePageInBrowser opens notice pages in headless Chromium at a
// phone's size and a desktop's, gives each answer as a person does, by
// clicking, and checks that the Notices got exactly that answer and that
// the page shows the status afterwards.
func TestNoticePageInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a browser")
	}
	fake := newPageFake(pageViews)
	np, err := noticepage.NewPage(fake, noticepage.PageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	np.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	p := browsertest.Start(t, srv.URL+"/n/tok-others", "#title")
	browsertest.Run(p, chromedp.Action[chromedp.Void](noScript))
	browsertest.Run(p, chromedp.Steps(chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#title"))))
	if browsertest.Run(p, chromedp.Evaluate[bool](scriptingJS)) {
		t.Error("scripts still run in the page: the test would not show that it works without them")
	}
	if lang := browsertest.Run(p, chromedp.Evaluate[string](`document.documentElement.lang`)); lang != "zh-CN" {
		t.Errorf("lang = %q", lang)
	}
	shoot(t, p, "notice-others")

	tests := []struct {
		name, token string
		steps       []chromedp.Action[chromedp.Void] // the person's clicks and typing
		submit      string                           // the button then pressed
		wantCall    string
		wantStatus  string
	}{
		{
			name: "claim-confirm", token: "tok-confirm",
			steps: []chromedp.Action[chromedp.Void]{
				chromedp.Click(chromedp.CSS("#confirm")),
			},
			submit:   "#claim-submit",
			wantCall: "claim tok-confirm confirmed=true", wantStatus: "已申领",
		},
		{
			name: "dispute", token: "tok-unknown",
			steps: []chromedp.Action[chromedp.Void]{
				chromedp.Click(chromedp.CSS("#dispute-box > summary")),
				chromedp.WaitVisible(chromedp.CSS("#cond-1")),
				chromedp.Click(chromedp.CSS("#cond-1")),
				chromedp.SendKeys(chromedp.CSS("#note"), "我是本市户籍"),
			},
			submit:   "#dispute-submit",
			wantCall: `dispute tok-unknown ["本市户籍"] "我是本市户籍"`, wantStatus: "已提交更正",
		},
		{
			name: "stop-policy", token: "tok-eligible",
			steps: []chromedp.Action[chromedp.Void]{
				chromedp.Click(chromedp.CSS("#stop-box > summary")),
				chromedp.WaitVisible(chromedp.CSS("#scope-policy")),
				chromedp.Click(chromedp.CSS("#scope-all")),
				chromedp.Click(chromedp.CSS("#scope-policy")),
			},
			submit:   "#stop-submit",
			wantCall: "stop tok-eligible policy", wantStatus: "已停止接收",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			browsertest.Run(p, chromedp.Steps(
				chromedp.EmulateViewport(375, 812, chromedp.EmulateMobile),
				chromedp.Navigate(srv.URL+"/n/"+tc.token),
				chromedp.WaitVisible(chromedp.CSS("#title")),
			))
			shoot(t, p, "notice-"+tc.token[4:])
			before := len(fake.Calls())
			browsertest.Run(p, chromedp.Steps(tc.steps...))
			shoot(t, p, "notice-"+tc.name+"-filled")
			browsertest.Run(p, chromedp.Click(chromedp.CSS(tc.submit)))
			browsertest.Run(p, chromedp.WaitVisible(chromedp.CSS("#status-title")))
			calls := fake.Calls()
			if got := calls[before:]; !slices.Equal(got, []string{tc.wantCall}) {
				t.Errorf("the Notices got %q, want %q", got, tc.wantCall)
			}
			if got := browsertest.Run(p, chromedp.Text(chromedp.CSS("#status-title"))); got != tc.wantStatus {
				t.Errorf("the page shows %q, want %q", got, tc.wantStatus)
			}
			if loc := browsertest.Run(p, chromedp.Location()); !strings.Contains(loc, "/n/"+tc.token+"?done=") {
				t.Errorf("after the answer the browser shows %s", loc)
			}
			shoot(t, p, "notice-"+tc.name+"-done")
		})
	}

	// The pages without an answer to give here: 免申即享, and a case
	// already paid.
	for _, token := range []string{"tok-automatic", "tok-granted"} {
		browsertest.Run(p, chromedp.Steps(
			chromedp.Navigate(srv.URL+"/n/"+token),
			chromedp.WaitVisible(chromedp.CSS("#title")),
		))
		shoot(t, p, "notice-"+token[4:])
	}

	if errs := p.Errors(); len(errs) > 0 {
		t.Errorf("errors in the pages (a CSP violation, a failed load): %q", errs)
	}

	t.Run("not-found", func(t *testing.T) {
		before := len(p.Errors())
		browsertest.Run(p, chromedp.Steps(
			chromedp.Navigate(srv.URL+"/n/"+expiredToken),
			chromedp.WaitVisible(chromedp.CSS("#title")),
		))
		if got := browsertest.Run(p, chromedp.Text(chromedp.CSS("#title"))); got != "链接无效或已过期" {
			t.Errorf("an expired token shows %q", got)
		}
		shoot(t, p, "notice-not-found")
		// The page's own 404 is logged as a failed load; nothing else
		// may be.
		for _, e := range p.Errors()[before:] {
			if !strings.Contains(e, "404 (Not Found) ("+srv.URL+"/n/"+expiredToken+")") {
				t.Errorf("error in the page: %q", e)
			}
		}
	})

}
