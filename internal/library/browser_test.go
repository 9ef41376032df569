package library_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/policypush/policypush/internal/console/browsertest"
)

// TestLibraryInBrowser opens the library's pages and the self-check in
// headless Chromium with JavaScript off, at a phone's size and a
// desktop's: no horizontal overflow, no missing glyph, every field
// labelled, headings in order; then uses the search and the self-check by
// keyboard alone: Tab reaches the submit button and Enter submits.
func TestLibraryInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a browser")
	}
	srv := newServer(t, catalogue(t), map[string]int64{"job-retention-refund": 57})
	states := newServer(t, stateRules(t), nil)

	p := browsertest.Start(t, srv.URL+"/policies", "#title")
	browsertest.Run(p, chromedp.Action[chromedp.Void](browsertest.NoScript))
	browsertest.Run(p, chromedp.Steps(chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#title"))))
	if browsertest.Run(p, chromedp.Evaluate[bool](browsertest.ScriptingJS)) {
		t.Fatal("scripts still run in the page: the test would not show that it works without them")
	}
	check := func(name string) {
		t.Helper()
		if lang := browsertest.Run(p, chromedp.Evaluate[string](`document.documentElement.lang`)); lang != "zh-CN" {
			t.Errorf("%s: lang = %q", name, lang)
		}
		if bad := browsertest.Run(p, chromedp.Evaluate[[]string](browsertest.HeadingsJS)); len(bad) > 0 {
			t.Errorf("%s: headings: %q", name, bad)
		}
		browsertest.Shoot(t, p, name)
	}
	open := func(url, name string) {
		t.Helper()
		browsertest.Run(p, chromedp.Steps(chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS("#title"))))
		check(name)
	}
	open(srv.URL+"/policies", "library")
	open(srv.URL+"/policies/job-retention-refund", "policy")
	if got := browsertest.Run(p, chromedp.Text(chromedp.CSS("#notified"))); !strings.Contains(got, "57 家企业") {
		t.Errorf("reach = %q", got)
	}
	open(srv.URL+"/policies/flexible-employment-insurance-subsidy", "policy-resident")
	open(states.URL+"/policies/repealed", "policy-repealed")
	if got := browsertest.Run(p, chromedp.Text(chromedp.CSS("#banner"))); !strings.Contains(got, "已废止") || !strings.Contains(got, "2026年3月31日") {
		t.Errorf("the repealed policy's banner says %q", got)
	}
	open(srv.URL+"/check", "check")
	open(srv.URL+"/check?subject=enterprise", "check-enterprise")

	// tabTo presses Tab until the element with id has the focus, as a
	// keyboard user does, and fails when it never gets it.
	tabTo := func(id string, most int) {
		t.Helper()
		for range most {
			if browsertest.Run(p, chromedp.Evaluate[string](`document.activeElement ? document.activeElement.id : ''`)) == id {
				return
			}
			browsertest.Run(p, chromedp.KeyEvent(kb.Tab))
		}
		t.Fatalf("%d presses of Tab never reached #%s", most, id)
	}

	t.Run("search by keyboard", func(t *testing.T) {
		browsertest.Run(p, chromedp.Steps(chromedp.Navigate(srv.URL+"/policies"), chromedp.WaitVisible(chromedp.CSS("#title"))))
		tabTo("q", 10)
		browsertest.Run(p, chromedp.KeyEvent("稳岗"))
		tabTo("search-submit", 10)
		browsertest.Run(p, chromedp.KeyEvent(kb.Enter))
		browsertest.Run(p, chromedp.WaitVisible(chromedp.CSS("#hits")))
		if got := browsertest.Run(p, chromedp.Text(chromedp.CSS("#hits"))); !strings.Contains(got, "失业保险稳岗返还") {
			t.Errorf("the hits are %q", got)
		}
		check("library-search")
	})

	t.Run("self-check by keyboard", func(t *testing.T) {
		browsertest.Run(p, chromedp.Steps(chromedp.Navigate(srv.URL+"/check?subject=enterprise"), chromedp.WaitVisible(chromedp.CSS("#title"))))
		browsertest.Run(p, chromedp.Steps(
			chromedp.SendKeys(chromedp.CSS("#f-ui-paid_full_months"), "48"),
			chromedp.SetValue(chromedp.CSS("#f-size_class"), "small"),
		))
		tabTo("check-submit", 200)
		browsertest.Run(p, chromedp.KeyEvent(kb.Enter))
		browsertest.Run(p, chromedp.WaitVisible(chromedp.CSS("#h-results")))
		if got := browsertest.Run(p, chromedp.Value(chromedp.CSS("#f-ui-paid_full_months"))); got != "48" {
			t.Errorf("the answer typed is not kept: %q", got)
		}
		if got := browsertest.Run(p, chromedp.Text(chromedp.CSS("#next"))); !strings.HasPrefix(got, "建议接着回答") {
			t.Errorf("next question: %q", got)
		}
		check("check-results")
	})

	if errs := p.Errors(); len(errs) > 0 {
		t.Errorf("errors in the pages (a CSP violation, a failed load): %q", errs)
	}

	// With script, each answer updates the results in place: no submit,
	// no new page, and nothing the CSP refuses.
	t.Run("self-check with script", func(t *testing.T) {
		js := browsertest.Start(t, srv.URL+"/check", "#title")
		if browsertest.Run(js, chromedp.Evaluate[bool](`document.getElementById('results') !== null`)) {
			t.Fatal("results before any answer")
		}
		browsertest.Run(js, chromedp.Click(chromedp.CSS("#f-veteran-is_veteran-yes")))
		browsertest.Run(js, chromedp.WaitVisible(chromedp.CSS("#h-results")))
		if loc := browsertest.Run(js, chromedp.Location()); loc != srv.URL+"/check" {
			t.Errorf("the browser left the page: %s", loc)
		}
		first := browsertest.Run(js, chromedp.Text(chromedp.CSS("#results")))
		browsertest.Run(js, chromedp.SetValue(chromedp.CSS("#f-employment-status"), "retired"))
		browsertest.Run(js, chromedp.Evaluate[bool](`document.getElementById('f-employment-status').dispatchEvent(new Event('change', {bubbles: true}))`))
		browsertest.Run(js, chromedp.Poll[bool](`document.getElementById('results').textContent.trim() !== `+strconvQuote(first)))
		if got := browsertest.Run(js, chromedp.Text(chromedp.CSS("#live"))); got == "" {
			t.Errorf("the live region says nothing")
		}
		browsertest.Shoot(t, js, "check-live")
		if errs := js.Errors(); len(errs) > 0 {
			t.Errorf("errors in the page with script: %q", errs)
		}
	})
}

func strconvQuote(s string) string { return strconv.Quote(s) }
