package publicity

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/policypush/policypush/internal/citizenweb"
	"github.com/policypush/policypush/internal/console/browsertest"
	"github.com/policypush/policypush/internal/store"
)

// TestPublicityInBrowser opens the 公示 page in headless Chromium at a
// phone's size and a desktop's, with a list of enterprises and residents
// and with an empty one: no sideways scrolling, no missing glyph, one h1
// and no skipped heading, nothing the CSP blocks, and the list stacked
// into labelled lines on the phone but a table on the desktop.
func TestPublicityInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a browser")
	}
	amt := func(f float64) *float64 { return &f }
	approved := time.Date(2026, 12, 7, 2, 0, 0, 0, time.UTC)
	st := fakeStore{{ID: 100, SubjectType: "resident", SubjectID: "p_browser", PolicyID: "e", Amount: amt(1500), ApprovedAt: approved}}
	for i := range 12 {
		st = append(st, store.ApprovedCase{ID: int64(i + 1), SubjectType: "enterprise",
			SubjectID: fmt.Sprintf("91510100MA6C7X%04d", i), Name: "成都市高新区第" + fmt.Sprint(i) + "号精密智能制造股份有限公司",
			PolicyID: "e", Amount: amt(1234567.89 + float64(i)), ApprovedAt: approved})
	}
	st = append(st, store.ApprovedCase{ID: 50, SubjectType: "enterprise", SubjectID: "91510100MA6C7Y0050", PolicyID: "e", ApprovedAt: approved}) // no name, no amount
	pols := map[string]Policy{
		"e":     {ID: "e", Title: "失业保险稳岗返还（单位）", Department: "失业保险科"},
		"empty": {ID: "empty", Title: "一次性扩岗补助", Department: "就业促进科"},
	}
	h, err := New(st, func(id string) (Policy, bool) { p, ok := pols[id]; return p, ok }, 5, time.Now, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Register(mux)
	citizenweb.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	p := browsertest.Start(t, srv.URL+"/policies/e/publicity", "#title")
	headings := func(name string) {
		t.Helper()
		if bad := browsertest.Run(p, chromedp.Evaluate[[]string](browsertest.HeadingsJS)); len(bad) > 0 {
			t.Errorf("%s: headings: %q", name, bad)
		}
	}
	// How the rows are laid out: the shared and the page's stylesheet
	// both applied, or the rows would be table rows at every size.
	rowDisplay := func() string {
		return browsertest.Run(p, chromedp.Evaluate[string](`getComputedStyle(document.querySelector('.pub tbody tr')).display`))
	}
	browsertest.Shoot(t, p, "publicity-list") // leaves the phone's size
	headings("list")
	if d := rowDisplay(); d != "block" {
		t.Errorf("on a phone a row is displayed %q, want block (stacked)", d)
	}
	if bg := browsertest.Run(p, chromedp.Evaluate[string](`getComputedStyle(document.querySelector('header.top')).backgroundColor`)); bg == "rgba(0, 0, 0, 0)" {
		t.Error("the header has no background: the shared stylesheet did not load")
	}
	text := browsertest.Run(p, chromedp.Text(chromedp.CSS("main")))
	for _, want := range []string{"失业保险稳岗返还（单位）", "13 家单位和 1 名个人", "成都****公司", "（名称未登记）", "1,234,567.89", "2026年12月14日", "12333"} {
		if !strings.Contains(text, want) {
			t.Errorf("the page does not show %q:\n%s", want, text)
		}
	}
	browsertest.Run(p, chromedp.EmulateViewport(1280, 800))
	if d := rowDisplay(); d != "table-row" {
		t.Errorf("on a desktop a row is displayed %q, want table-row", d)
	}

	browsertest.Run(p, chromedp.Steps(chromedp.Navigate(srv.URL+"/policies/empty/publicity"), chromedp.WaitVisible(chromedp.CSS("#title"))))
	browsertest.Shoot(t, p, "publicity-empty")
	headings("empty")
	if text := browsertest.Run(p, chromedp.Text(chromedp.CSS("main"))); !strings.Contains(text, "目前没有拟享受本政策的单位或个人") {
		t.Errorf("the empty list does not say so:\n%s", text)
	}

	// Give a blocked load the time to be reported.
	time.Sleep(250 * time.Millisecond)
	if errs := p.Errors(); len(errs) > 0 {
		t.Errorf("errors in the pages (a CSP violation is one): %q", errs)
	}

	// The page of a policy that is not in force: a 404, in the same frame.
	browsertest.Run(p, chromedp.Steps(chromedp.Navigate(srv.URL+"/policies/none/publicity"), chromedp.WaitVisible(chromedp.CSS("#title"))))
	browsertest.Shoot(t, p, "publicity-missing")
	headings("missing")

}
