package browsertest

import (
	"context"
	"fmt"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// The citizens' pages' checks, shared by every browser test of them (the
// notice page, the policy library, the self-check): no horizontal
// overflow, no missing glyph, every field labelled, tap targets large
// enough, and pages that work without script.

// Sizes are a phone's (375×812, an iPhone X's CSS pixels, as WeChat's
// browser shows a page) and a desktop window's.
var Sizes = []struct{ W, H int64 }{{375, 812}, {1280, 800}}

// MissingGlyphsJS returns the characters of the page's text that render
// as the font's "missing glyph" box (tofu), or an error string starting
// with "!" when the method itself cannot be trusted.
//
// document.fonts.check says only whether a font is loaded, not whether it
// has a character, and a system font always counts as loaded; so each
// character is drawn on a canvas in the body's font stack, with the
// browser's own fallback, and compared with characters that no font has
// (unassigned code points): a character drawn the same as those is a box.
const MissingGlyphsJS = `(() => {
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

// UnlabelledJS returns the ids of the visible form fields that no label
// names.
const UnlabelledJS = `Array.from(document.querySelectorAll('input:not([type=hidden]), textarea, select'))
	.filter((e) => e.labels.length === 0 || Array.from(e.labels).every((l) => l.textContent.trim() === ''))
	.map((e) => e.id || e.name)`

// SmallTargetsJS returns the buttons and the fields' labels that are
// visible and smaller than 44×44 CSS pixels (WCAG 2.5.5's target size),
// which a thumb misses.
const SmallTargetsJS = `Array.from(document.querySelectorAll('button, summary, label.check, .link-button, a.tel'))
	.filter((e) => e.getClientRects().length > 0)
	.filter((e) => { const r = e.getBoundingClientRect(); return r.width < 44 || r.height < 44; })
	.map((e) => e.id || e.textContent.trim().slice(0, 20))`

// HeadingsJS returns the problems of the page's heading outline: it must
// have one h1, first, and no level may be skipped on the way down.
const HeadingsJS = `(() => {
	const hs = Array.from(document.querySelectorAll('h1, h2, h3, h4, h5, h6')).map((h) => +h.tagName[1]);
	const bad = [];
	if (hs.length === 0 || hs[0] !== 1) bad.push('the first heading is not an h1: ' + hs.join(','));
	if (hs.filter((l) => l === 1).length !== 1) bad.push('not exactly one h1: ' + hs.join(','));
	for (let i = 1; i < hs.length; i++) if (hs[i] > hs[i - 1] + 1) bad.push('h' + hs[i - 1] + ' then h' + hs[i]);
	return bad;
})()`

// NoScript turns JavaScript off in the page: the page must work without
// it, as in a browser that blocks it. (The test's own evaluations still
// run.)
func NoScript(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
	_, err := cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
	return chromedp.Void{}, err
}

// ScriptingJS reports whether the page's document runs scripts: when it
// does, HTML inside <noscript> is parsed as text (HTML's scripting flag).
const ScriptingJS = `(() => {
	const n = document.createElement('noscript');
	n.innerHTML = '<b></b>';
	return n.children.length === 0;
})()`

// CheckLayout fails when the page, at its current size, is wider than the
// window (it would scroll sideways on a phone), has a field without a
// label or a tap target too small, or shows a missing glyph.
func CheckLayout(t *testing.T, p *Page, name string) {
	t.Helper()
	type widths struct {
		Scroll int `json:"scroll"`
		Inner  int `json:"inner"`
	}
	w := Run(p, chromedp.Evaluate[widths](`({scroll: document.documentElement.scrollWidth, inner: window.innerWidth})`))
	if w.Scroll > w.Inner {
		t.Errorf("%s: the page is %dpx wide in a window of %dpx: it overflows horizontally", name, w.Scroll, w.Inner)
	}
	if bad := Run(p, chromedp.Evaluate[[]string](UnlabelledJS)); len(bad) > 0 {
		t.Errorf("%s: form fields without a label: %q", name, bad)
	}
	if small := Run(p, chromedp.Evaluate[[]string](SmallTargetsJS)); len(small) > 0 {
		t.Errorf("%s: tap targets smaller than 44×44 px: %q", name, small)
	}
	if missing := Run(p, chromedp.Evaluate[[]string](MissingGlyphsJS)); len(missing) > 0 {
		t.Errorf("%s: characters without a glyph in the page's font: %q", name, missing)
	}
}

// Shoot checks the page at each of Sizes and keeps a screenshot of each,
// then leaves the window at a phone's size.
func Shoot(t *testing.T, p *Page, name string) {
	t.Helper()
	for _, s := range Sizes {
		size := fmt.Sprintf("%s-%dx%d", name, s.W, s.H)
		p.Screenshot(size, s.W, s.H)
		CheckLayout(t, p, size)
	}
	Run(p, chromedp.EmulateViewport(375, 812, chromedp.EmulateMobile))
	CheckLayout(t, p, name+"-mobile")
}
