package noticepage_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/policypush/policypush/internal/citizenweb"
	"github.com/policypush/policypush/internal/console/browsertest"
	"github.com/policypush/policypush/internal/noticepage"
)

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
	citizenweb.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	p := browsertest.Start(t, srv.URL+"/n/tok-others", "#title")
	browsertest.Run(p, chromedp.Action[chromedp.Void](browsertest.NoScript))
	browsertest.Run(p, chromedp.Steps(chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#title"))))
	if browsertest.Run(p, chromedp.Evaluate[bool](browsertest.ScriptingJS)) {
		t.Error("scripts still run in the page: the test would not show that it works without them")
	}
	if lang := browsertest.Run(p, chromedp.Evaluate[string](`document.documentElement.lang`)); lang != "zh-CN" {
		t.Errorf("lang = %q", lang)
	}
	browsertest.Shoot(t, p, "notice-others")

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
			browsertest.Shoot(t, p, "notice-"+tc.token[4:])
			before := len(fake.Calls())
			browsertest.Run(p, chromedp.Steps(tc.steps...))
			browsertest.Shoot(t, p, "notice-"+tc.name+"-filled")
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
			browsertest.Shoot(t, p, "notice-"+tc.name+"-done")
		})
	}

	// The pages without an answer to give here: 免申即享, and a case
	// already paid.
	for _, token := range []string{"tok-automatic", "tok-granted"} {
		browsertest.Run(p, chromedp.Steps(
			chromedp.Navigate(srv.URL+"/n/"+token),
			chromedp.WaitVisible(chromedp.CSS("#title")),
		))
		browsertest.Shoot(t, p, "notice-"+token[4:])
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
		browsertest.Shoot(t, p, "notice-not-found")
		// The page's own 404 is logged as a failed load; nothing else
		// may be.
		for _, e := range p.Errors()[before:] {
			if !strings.Contains(e, "404 (Not Found) ("+srv.URL+"/n/"+expiredToken+")") {
				t.Errorf("error in the page: %q", e)
			}
		}
	})

}
