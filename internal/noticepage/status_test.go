package noticepage_test

import (
	"encoding/json"
	"html"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/policypush/policypush/internal/citizenweb"
	"github.com/policypush/policypush/internal/console/browsertest"
	"github.com/policypush/policypush/internal/noticepage"
)

// statusView is eligibleView in a case's status, with the answers the
// app leaves for it (internal/app actionsFor).
func statusView(status string, actions ...string) noticepage.View {
	v := eligibleView
	v.Status, v.Actions = status, actions
	return v
}

const rejectReason = "经核查，贵单位2026年10月起已在外省参保，不符合“在本市参加失业保险”的条件。"

// TestNoticePageStatusWords renders the page of a notice in each case
// status of CONTRACTS §8 and checks what it says: no banner before an
// answer, and for every later status a banner whose words fit it — a
// lapsed case is one whose latest data no longer meets the conditions,
// not one past a deadline, and says what to do if that data is wrong; a
// rejected case shows the officer's reason, escaped, and where to ask.
func TestNoticePageStatusWords(t *testing.T) {
	dispute, stop := noticepage.ActionDispute, noticepage.ActionStop
	rejected := statusView("rejected", stop)
	rejected.Reason = rejectReason
	rejectedHTML := statusView("rejected", stop)
	rejectedHTML.Reason = `<script>alert(1)</script> 材料"不全"`
	rejectedNoOffice := statusView("rejected", stop)
	rejectedNoOffice.Apply.Office = ""
	tests := []struct {
		name   string
		view   noticepage.View
		title  string // the banner's heading; "" for no banner
		want   []string
		absent []string
		golden bool
	}{
		{name: "matched", view: statusView("matched", allActions...), want: []string{">确认申领<"}},
		{name: "notified", view: statusView("notified", allActions...), want: []string{">确认申领<"}},
		{name: "opened", view: statusView("opened", allActions...), want: []string{">确认申领<"}},
		{name: "claimed", view: statusView("claimed", dispute, stop), title: "已申领", want: []string{"我们已收到您的申领"}},
		{name: "disputed", view: statusView("disputed", allActions...), title: "已提交更正", want: []string{"核实更正后，会重新判断"}},
		{name: "declined", view: statusView("declined", allActions...), title: "已停止接收", want: []string{"您不会再收到这项政策的推送消息"}},
		{name: "approved", view: statusView("approved", stop), title: "已审核通过", want: []string{"将按规定发放"}},
		{name: "rejected", view: rejected, title: "未通过审核", golden: true, want: []string{
			"您的这次申领没有通过",
			`<p class="reason" id="reason"><span class="reason-label">原因：</span>` + html.EscapeString(rejectReason) + `</p>`,
			`请拨打咨询电话 <a href="tel:12333">12333</a>，或到市民服务中心二楼人社窗口（东城区政务路8号）咨询。`,
		}, absent: []string{">确认申领<", "<summary>信息有误</summary>"}},
		{name: "rejected-escaped", view: rejectedHTML, title: "未通过审核", want: []string{
			`&lt;script&gt;alert(1)&lt;/script&gt; 材料&#34;不全&#34;`,
		}, absent: []string{"<script>alert"}},
		{name: "rejected-no-reason-no-office", view: rejectedNoOffice, title: "未通过审核", want: []string{
			`请拨打咨询电话 <a href="tel:12333">12333</a>。`,
		}, absent: []string{`id="reason"`, "或到"}},
		{name: "granted", view: statusView("granted", stop), title: "已发放", want: []string{"请留意到账情况"}},
		{name: "lapsed", view: statusView("lapsed", dispute, stop), title: "已不符合条件", golden: true, want: []string{
			"根据有关部门最新提供的信息，您已不再符合这项政策的条件，本次无需办理。",
			"如果您认为有关信息有误，请点击下方“信息有误”告诉我们，核实更正后会重新判断；也可拨打咨询电话",
			"<summary>信息有误</summary>",
		}, absent: []string{"期限已过", "已过期", ">确认申领<"}},
		{name: "lapsed-no-dispute", view: statusView("lapsed", stop), title: "已不符合条件", want: []string{
			"如果您认为有关信息有误，请拨打咨询电话",
		}, absent: []string{"点击下方", "<summary>信息有误</summary>"}},
	}
	views := map[string]noticepage.View{}
	for _, tc := range tests {
		views["tok-"+tc.name] = tc.view
	}
	np, err := noticepage.NewPage(newPageFake(views), noticepage.PageOptions{Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	np.Register(mux)
	citizenweb.Register(mux)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/n/tok-"+tc.name, nil)
			r.AddCookie(&http.Cookie{Name: noticepage.CSRFCookie, Value: testCSRF})
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, r)
			if w.Code != http.StatusOK {
				t.Fatalf("%d", w.Code)
			}
			body := w.Body.String()
			checkPlain(t, body)
			if tc.title == "" {
				if strings.Contains(body, `id="status"`) {
					t.Errorf("a banner before any answer:\n%s", body)
				}
			} else if !strings.Contains(body, `<p class="status-title" id="status-title">`+tc.title+`</p>`) {
				t.Errorf("the banner is not %q:\n%s", tc.title, body)
			}
			for _, s := range tc.want {
				if !strings.Contains(body, s) {
					t.Errorf("the page lacks %q", s)
				}
			}
			for _, s := range tc.absent {
				if strings.Contains(body, s) {
					t.Errorf("the page has %q", s)
				}
			}
			if tc.view.Status != "rejected" && strings.Contains(body, "原因：") {
				t.Error("a reason on a page of a case that is not rejected")
			}
			if tc.golden {
				golden(t, tc.name, w.Body.Bytes())
			}
		})
	}
}

// TestNoticeJSONReason checks that the notice's JSON carries a rejected
// case's reason as the added field "reason", with every field of
// CONTRACTS §7 still there, and has no "reason" at all otherwise.
func TestNoticeJSONReason(t *testing.T) {
	rejected := statusView("rejected", noticepage.ActionStop)
	rejected.Reason = rejectReason
	mux := http.NewServeMux()
	noticepage.NewAPI(newPageFake(map[string]noticepage.View{
		"tok-rejected": rejected, "tok-approved": statusView("approved", noticepage.ActionStop),
	}), noticepage.APIOptions{Log: slog.New(slog.DiscardHandler)}).Register(mux)
	get := func(token string) map[string]any {
		t.Helper()
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/public/notices/"+token, nil))
		var m map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil || w.Code != 200 {
			t.Fatalf("%s: %d %s", token, w.Code, w.Body)
		}
		return m
	}
	m := get("tok-rejected")
	if m["reason"] != rejectReason || m["status"] != "rejected" {
		t.Errorf("rejected: reason %q, status %q", m["reason"], m["status"])
	}
	for _, k := range []string{"policy_id", "policy_version", "title", "department", "source", "result", "conditions",
		"amount", "data_as_of", "apply", "status", "actions", "others"} {
		if _, ok := m[k]; !ok {
			t.Errorf("the JSON lacks §7's %q", k)
		}
	}
	if _, ok := get("tok-approved")["reason"]; ok {
		t.Error(`an approved case's JSON has "reason"`)
	}
}

// TestNoticeStatusInBrowser opens the pages of a rejected case (a long
// reason) and a lapsed one in headless Chromium at a phone's size and a
// desktop's: the banners fit, with no missing glyph.
func TestNoticeStatusInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a browser")
	}
	rejected := statusView("rejected", noticepage.ActionStop)
	rejected.Reason = strings.Repeat(rejectReason, 3) + "https://example.gov.cn/a/very/long/path/without/any/break/0123456789abcdef"
	np, err := noticepage.NewPage(newPageFake(map[string]noticepage.View{
		"tok-rejected": rejected, "tok-lapsed": statusView("lapsed", noticepage.ActionDispute, noticepage.ActionStop),
	}), noticepage.PageOptions{Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	np.Register(mux)
	citizenweb.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	p := browsertest.Start(t, srv.URL+"/n/tok-rejected", "#status")
	for _, name := range []string{"rejected", "lapsed"} {
		browsertest.Run(p, chromedp.Steps(chromedp.Navigate(srv.URL+"/n/tok-"+name), chromedp.WaitVisible(chromedp.CSS("#status"))))
		// A banner comes before the policy's h1, so its title is no
		// heading: the outline starts at the h1 and skips no level.
		if bad := browsertest.Run(p, chromedp.Evaluate[[]string](browsertest.HeadingsJS)); len(bad) > 0 {
			t.Errorf("%s: headings: %q", name, bad)
		}
		browsertest.Shoot(t, p, "notice-"+name)
	}
	if errs := p.Errors(); len(errs) > 0 {
		t.Errorf("errors in the pages: %q", errs)
	}
}
