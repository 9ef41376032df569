package app

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/policypush/policypush/internal/console/browsertest"
)

// TestReviewQueueInBrowser is the console's review queue of the real
// service in headless Chromium, with a Chinese font: an officer signs in,
// opens the queue of a review: true policy, sees each claim with its
// explanation and data date, rejects one with a reason, approves a
// selected batch of two, and is refused a rejection without a reason;
// each click is checked in PostgreSQL, and the funnel page draws its
// trend.
func TestReviewQueueInBrowser(t *testing.T) {
	if err := browsertest.ChineseFont(); err != nil && !testing.Short() {
		t.Fatal(err)
	}
	e, fake, pub, adm := caseEnv(t)
	var events [][]byte
	for i := 1; i <= 4; i++ {
		events = append(events, firmEvent(fmt.Sprintf("rq-%d", i), fmt.Sprintf("91510100MA6RQ0000%d", i), fmt.Sprintf("成都审核%d号有限公司", i), "small",
			fmt.Sprintf("oReview_firm_000000000%d", i)))
	}
	e.produce(events...)
	e.waitFor("four sent notices", func() bool { return e.countOr("SELECT count(*) FROM outbox WHERE status = 'sent'") == 4 })
	ids := map[int]int{}
	for i := 1; i <= 4; i++ {
		tok := tokenOf(t, fake, fmt.Sprintf("oReview_firm_000000000%d", i))
		if code, body := pub.post("/public/notices/"+tok+"/claim", "{}"); code != 200 || !strings.Contains(body, "claimed") {
			t.Fatalf("claim %d: %d %s", i, code, body)
		}
		ids[i] = e.count("SELECT match_id::int FROM outbox WHERE click_token = $1", tok)
	}
	status := func(i int) string {
		t.Helper()
		var s string
		if err := e.db.QueryRow(t.Context(), "SELECT status FROM cases WHERE match_id = $1", ids[i]).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}

	base := adm.base
	p := browsertest.Start(t, base+"/console/review?policy=case-review", "#token")
	p.SignIn(e.cfg.AdminToken.Value(), `body[data-state="ok"]`)
	browsertest.Run(p, chromedp.Steps(
		chromedp.Navigate(base+"/console/review?policy=case-review&status=claimed"),
		chromedp.WaitVisible(chromedp.CSS("#queue-title")),
	))
	text := browsertest.Run(p, chromedp.Text(chromedp.CSS("main")))
	for _, want := range []string{"案件测试small补贴：待审核", "企业规模符合", "本年度尚未享受", "2026-11-20", "5,000", "91****01"} {
		if !strings.Contains(text, want) {
			t.Errorf("the queue does not show %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "91510100MA6RQ") || strings.Contains(text, "审核1号") {
		t.Errorf("the queue shows a raw id or name:\n%s", text)
	}
	p.Screenshot("review-queue-1280x800", 1280, 800)

	// A rejection without a reason is refused, and nothing changes.
	browsertest.Run(p, chromedp.Steps(
		chromedp.Click(chromedp.CSS(fmt.Sprintf("#reject-%d", ids[1]))),
		chromedp.WaitVisible(chromedp.CSS("#error")),
	))
	if msg := browsertest.Run(p, chromedp.Text(chromedp.CSS("#error"))); !strings.Contains(msg, "不通过须填写理由") || status(1) != "claimed" {
		t.Errorf("a rejection without a reason: %q, case %s", msg, status(1))
	}
	// One rejected with a reason.
	browsertest.Run(p, chromedp.Steps(
		chromedp.SendKeys(chromedp.CSS("#reason"), "缺少参保证明"),
		chromedp.Click(chromedp.CSS(fmt.Sprintf("#reject-%d", ids[1]))),
		chromedp.WaitVisible(chromedp.CSS("#notice")),
	))
	e.waitFor("case 1 rejected", func() bool {
		return e.countOr(fmt.Sprintf("SELECT count(*) FROM cases WHERE match_id = %d AND status = 'rejected'", ids[1])) == 1
	})
	if n := e.count("SELECT count(*) FROM case_events WHERE match_id = $1 AND to_status = 'rejected' AND actor_kind = 'officer' AND reason = '缺少参保证明'", ids[1]); n != 1 {
		t.Errorf("the rejection's history row: %d", n)
	}
	// A selected batch of two approved.
	browsertest.Run(p, chromedp.Steps(
		chromedp.Click(chromedp.CSS(fmt.Sprintf("#pick-%d", ids[2]))),
		chromedp.Click(chromedp.CSS(fmt.Sprintf("#pick-%d", ids[3]))),
		chromedp.SendKeys(chromedp.CSS("#reason"), "材料齐全"),
		chromedp.Click(chromedp.CSS("#approve-selected")),
	))
	// The page before showed a #notice too, so the database says when
	// the batch is done,
	e.waitFor("the batch decided", func() bool {
		return e.countOr(fmt.Sprintf("SELECT count(*) FROM cases WHERE match_id IN (%d, %d) AND status = 'approved'", ids[2], ids[3])) == 2
	})
	// and the page, once it has loaded the queue again, says so.
	browsertest.Run(p, chromedp.WaitVisible(chromedp.CSS(`#notice[data-done="已通过 2 件。"]`)))
	if status(2) != "approved" || status(3) != "approved" || status(4) != "claimed" {
		t.Errorf("after the batch: %s %s %s, want approved approved claimed", status(2), status(3), status(4))
	}
	if n := e.count("SELECT count(*) FROM audit_log WHERE action = 'case.approve' AND actor_role = 'admin'"); n != 2 {
		t.Errorf("%d approval audit rows, want 2", n)
	}
	left := browsertest.Run(p, chromedp.Evaluate[int](`document.querySelectorAll("tr[data-case]").length`))
	if left != 1 {
		t.Errorf("%d cases left in the queue, want 1", left)
	}
	p.Screenshot("review-queue-after-1280x800", 1280, 800)

	browsertest.Run(p, chromedp.Steps(
		chromedp.Navigate(base+"/console/funnel"),
		chromedp.WaitVisible(chromedp.CSS("#funnel-table")),
	))
	// One chart, of every policy: a row per step, and today's bars.
	if n := browsertest.Run(p, chromedp.Evaluate[int](`document.querySelectorAll("svg.trend").length`)); n != 1 {
		t.Errorf("%d trend charts, want 1", n)
	}
	if n := browsertest.Run(p, chromedp.Evaluate[int](`document.querySelectorAll("svg.trend g[data-step]").length`)); n < 7 {
		t.Errorf("%d trend rows, want one per step at least", n)
	}
	if n := browsertest.Run(p, chromedp.Evaluate[int](`document.querySelectorAll("svg.trend rect.day").length`)); n == 0 {
		t.Error("no day's bar in the trend")
	}
	p.Screenshot("review-funnel-1280x800", 1280, 800)
	// The picker is a plain GET form: choosing the policy draws its chart.
	browsertest.Run(p, chromedp.Steps(
		chromedp.SetValue(chromedp.CSS("#trend-policy"), "case-review"),
		chromedp.Click(chromedp.CSS(".trend-pick button")),
		chromedp.WaitVisible(chromedp.CSS(`#trend[data-policy="case-review"] svg.trend`)),
	))
	if h := browsertest.Run(p, chromedp.Text(chromedp.CSS("#trend-heading"))); !strings.Contains(h, "案件测试small补贴") {
		t.Errorf("the picked policy's trend is headed %q", h)
	}
	time.Sleep(200 * time.Millisecond)
	// The refused rejection is answered 400 on purpose, which the
	// browser logs; anything else is a fault.
	for _, err := range p.Errors() {
		if !strings.Contains(err, "status of 400") || !strings.Contains(err, "/console/review/decide") {
			t.Errorf("error on the pages: %q", err)
		}
	}
}
