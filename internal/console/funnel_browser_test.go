package console

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/policypush/policypush/internal/console/browsertest"
	"github.com/policypush/policypush/internal/funnel"
	"github.com/policypush/policypush/internal/store"
	"github.com/policypush/policypush/internal/testlog"
)

// monthFunnel has six policies with 30 days of cases, weekends quieter;
// "c" answers far more often with a stop than the others.
type monthFunnel struct {
	fakeFunnel
}

func (f *monthFunnel) ReviewPolicies() []ReviewPolicy {
	var out []ReviewPolicy
	for i, id := range []string{"a", "b", "c", "d", "e", "f"} {
		out = append(out, ReviewPolicy{ID: id, Title: []string{"一次性扩岗补助", "失业保险稳岗返还", "社保断缴提醒", "就业见习补贴", "人才租房补贴", "职业技能培训补贴"}[i]})
	}
	return out
}

func (f *monthFunnel) Funnel(context.Context) (*funnel.Report, []*funnel.Report, error) {
	today := mustDay(f.now.In(shanghai).Format(time.DateOnly))
	var counts []store.FunnelCount
	add := func(p string, day time.Time, step string, n int, amount float64) {
		if n > 0 {
			counts = append(counts, store.FunnelCount{PolicyID: p, Source: "event", Day: day, Step: step, Cases: n, Amount: amount})
		}
	}
	for pi, p := range []string{"a", "b", "c", "d", "e", "f"} {
		for i := range 30 {
			day := today.AddDate(0, 0, -i)
			n := 20 + 7*pi + (i*13)%17
			if wd := day.Weekday(); wd == time.Saturday || wd == time.Sunday {
				n /= 4
			}
			add(p, day, "matched", n, 0)
			add(p, day, "sent", n*9/10, 0)
			add(p, day, "delivered", n*85/100, 0)
			add(p, day, "opened", n/4, 0)
			add(p, day, "claimed", n/10, 0)
			add(p, day, "approved", n/12, 0)
			add(p, day, "granted", n/15, float64(n/15)*1500)
			add(p, day, "disputed", i%9/8, 0)
			if p == "c" {
				add(p, day, "stopped", n/5, 0)
			}
		}
	}
	reps := funnel.Build(counts, nil, nil)
	return funnel.Total(reps, nil), reps, nil
}

// In headless Chromium, with script off, under the console's CSP: the
// funnel page draws one chart of 30 days with no error and no missing
// glyph, the chart has an accessible name, and the picker (a GET form)
// draws the flagged policy's chart with its flag.
func TestFunnelPageInBrowser(t *testing.T) {
	now := time.Now()
	v := NewReview(&monthFunnel{fakeFunnel{now: now}}, ReviewOptions{Log: testlog.New(t), Now: func() time.Time { return now }})
	read, _ := v.Pages()
	mux := http.NewServeMux()
	mux.Handle("GET /console/", New(&fakeSource{snap: testSnapshot()}, testlog.New(t))) // the stylesheets
	mux.Handle("GET /console/funnel", read["GET /console/funnel"])
	srv := httptest.NewServer(mux)
	defer srv.Close()

	p := browsertest.Start(t, srv.URL+"/console/funnel", "#funnel-table")
	browsertest.Run(p, chromedp.Action[chromedp.Void](browsertest.NoScript))
	browsertest.Run(p, chromedp.Steps(chromedp.Navigate(srv.URL+"/console/funnel"), chromedp.WaitVisible(chromedp.CSS("svg.trend"))))
	if n := browsertest.Run(p, chromedp.Evaluate[int](`document.querySelectorAll("svg").length`)); n != 1 {
		t.Errorf("%d charts, want 1", n)
	}
	// Thirty days of six policies: a bar a day in each step's row.
	if n := browsertest.Run(p, chromedp.Evaluate[int](`document.querySelectorAll('svg.trend g[data-step="matched"] rect.day').length`)); n != 30 {
		t.Errorf("%d bars of matches, want 30", n)
	}
	name := browsertest.Run(p, chromedp.Evaluate[string](`(() => {
		const s = document.querySelector("svg.trend");
		return s.getAttribute("aria-labelledby").split(" ").map((id) => document.getElementById(id).textContent).join(" / ");
	})()`))
	if !strings.Contains(name, "全部政策：") || !strings.Contains(name, "合计：匹配") {
		t.Errorf("the chart's accessible name and description: %q", name)
	}
	w := browsertest.Run(p, chromedp.Evaluate[float64](`document.querySelector("svg.trend").getBoundingClientRect().width`))
	if w < 600 || w > 1366 {
		t.Errorf("the chart is %.0f px wide", w)
	}
	if missing := browsertest.Run(p, chromedp.Evaluate[[]string](browsertest.MissingGlyphsJS)); len(missing) > 0 {
		t.Errorf("characters without a glyph: %q", missing)
	}
	p.Screenshot("funnel-month-1280x800", 1280, 800)

	browsertest.Run(p, chromedp.Steps(
		chromedp.SetValue(chromedp.CSS("#trend-policy"), "c"),
		chromedp.Click(chromedp.CSS(".trend-pick button")),
		chromedp.WaitVisible(chromedp.CSS(`#trend[data-policy="c"] #trend-flag`)),
	))
	if got := browsertest.Run(p, chromedp.Evaluate[string](`location.search + location.hash`)); got != "?policy=c#trend" {
		t.Errorf("the picker went to %q", got)
	}
	first := browsertest.Run(p, chromedp.Evaluate[string](`document.querySelector("#funnel-table tbody tr").dataset.policy`))
	if first != "c" {
		t.Errorf("the table starts with %q, want the flagged c", first)
	}
	p.Screenshot("funnel-month-flagged-1280x800", 1280, 800)
	time.Sleep(200 * time.Millisecond)
	for _, err := range p.Errors() {
		t.Errorf("error on the page: %s", err)
	}
}
