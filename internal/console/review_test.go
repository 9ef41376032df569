package console

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/policypush/policypush/internal/funnel"
	"github.com/policypush/policypush/internal/store"
)

type fakeReview struct {
	cases   []store.Case
	decided []int64
	reason  string
}

func (f *fakeReview) ReviewPolicies() []ReviewPolicy {
	return []ReviewPolicy{{ID: "p-review", Title: "审核政策", Domain: "employment", Review: true}, {ID: "p-other", Title: "其他政策"}}
}

func (f *fakeReview) Cases(_ context.Context, flt store.CaseFilter) ([]store.Case, error) {
	var out []store.Case
	for _, c := range f.cases {
		if c.PolicyID == flt.PolicyID && c.Status == flt.Status {
			out = append(out, c)
		}
	}
	return out, nil
}

func (f *fakeReview) Decide(_ context.Context, who Officer, ids []int64, approve bool, reason string) ([]store.Case, error) {
	for _, id := range ids {
		if id == 99 {
			return nil, &store.CaseStateError{ID: 99, Status: "approved"}
		}
	}
	f.decided, f.reason = ids, reason
	return make([]store.Case, len(ids)), nil
}

func (f *fakeReview) Disputes(context.Context) ([]store.DisputeSource, error) {
	return []store.DisputeSource{{Source: "jinbao", Open: 1, Requests: []store.DisputeRequest{{ID: 7, PolicyID: "p-review", SubjectMasked: "p_****01",
		Fields: []string{"insurance.unemployment.cumulative_months"}, Note: "我已缴满", Status: "open", ReportedAt: time.Now()}}}}, nil
}

func (f *fakeReview) Funnel(context.Context) (*funnel.Report, []*funnel.Report, error) {
	day := time.Now().In(shanghai).Format(time.DateOnly)
	counts := []store.FunnelCount{}
	for _, p := range []string{"a", "b", "c"} {
		counts = append(counts, store.FunnelCount{PolicyID: p, Source: "event", Day: mustDay(day), Step: "sent", Cases: 100},
			store.FunnelCount{PolicyID: p, Source: "event", Day: mustDay(day), Step: "matched", Cases: 100})
	}
	counts = append(counts, store.FunnelCount{PolicyID: "c", Source: "event", Day: mustDay(day), Step: "stopped", Cases: 40},
		store.FunnelCount{PolicyID: "a", Source: "event", Day: mustDay(day), Step: "granted", Cases: 3, Amount: 4500})
	reps := funnel.Build(counts, nil, nil)
	return funnel.Total(reps, nil), reps, nil
}

func mustDay(s string) time.Time { d, _ := time.Parse(time.DateOnly, s); return d }

// The case pages render with the queue's explanation and data date, a
// rejection without a reason is refused before the store is asked, a
// batch goes to the store whole, a conflict is told; the funnel page
// draws one trend as inline SVG and flags the policy whose stop rate is
// far above the others' (TestFunnelPage tells the rest).
func TestReviewPages(t *testing.T) {
	asOf := time.Date(2026, 11, 30, 2, 0, 0, 0, time.UTC)
	amt := 1500.0
	src := &fakeReview{cases: []store.Case{{ID: 5, SubjectType: "resident", SubjectMasked: "p_****01", PolicyID: "p-review", Status: "claimed",
		Amount: &amt, UpdatedAt: time.Now(), DataAsOf: &asOf, Explanation: []byte(`{"conditions":[{"name":"参保满12个月","verdict":"true"}]}`)}}}
	v := NewReview(src, ReviewOptions{
		Who:  func(context.Context) (Officer, bool) { return Officer{Name: "rita", Role: "reviewer"}, true },
		CSRF: func(context.Context) string { return "tok" },
		Log:  slog.New(slog.DiscardHandler),
	})
	mux := http.NewServeMux()
	read, decide := v.Pages()
	for p, h := range read {
		mux.Handle(p, h)
	}
	for p, h := range decide {
		mux.Handle(p, h)
	}
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		b, _ := io.ReadAll(rec.Body)
		return rec.Code, string(b)
	}
	post := func(form url.Values) (int, string, string) {
		req := httptest.NewRequest("POST", "/console/review/decide", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		_ = req.ParseForm()
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		b, _ := io.ReadAll(rec.Body)
		return rec.Code, rec.Header().Get("Location"), string(b)
	}

	code, page := get("/console/review")
	for _, want := range []string{"审核政策：待审核", "p_****01", "1,500", "✓", "参保满12个月", "2026-11-30", `id="approve-5"`, `name="csrf" value="tok"`} {
		if code != 200 || !strings.Contains(page, want) {
			t.Errorf("queue: %d, no %q", code, want)
		}
	}
	code, _, body := post(url.Values{"policy": {"p-review"}, "status": {"claimed"}, "id": {"5"}, "decision": {"reject"}, "reason": {" "}})
	if code != 400 || !strings.Contains(body, "不通过须填写理由") || src.decided != nil {
		t.Errorf("a rejection without a reason: %d, decided %v", code, src.decided)
	}
	code, loc, _ := post(url.Values{"policy": {"p-review"}, "status": {"claimed"}, "id": {"5", "6"}, "decision": {"approve"}, "reason": {"齐全"}})
	if code != http.StatusSeeOther || !strings.Contains(loc, "done=") || len(src.decided) != 2 || src.reason != "齐全" {
		t.Errorf("batch: %d %q %v", code, loc, src.decided)
	}
	code, _, _ = post(url.Values{"policy": {"p-review"}, "status": {"claimed"}, "decision": {"reject:6"}, "reason": {"缺材料"}})
	if code != http.StatusSeeOther || len(src.decided) != 1 || src.decided[0] != 6 {
		t.Errorf("one row's button: %d %v", code, src.decided)
	}
	code, _, body = post(url.Values{"policy": {"p-review"}, "status": {"claimed"}, "id": {"5", "99"}, "decision": {"approve"}})
	if code != http.StatusConflict || !strings.Contains(body, "案件 99 已不是待审核状态") {
		t.Errorf("conflict: %d", code)
	}

	code, page = get("/console/disputes")
	if code != 200 || !strings.Contains(page, "数据来源：jinbao") || !strings.Contains(page, "我已缴满") {
		t.Errorf("disputes: %d %s", code, page)
	}
	code, page = get("/console/funnel")
	if code != 200 || strings.Count(page, "<svg") != 1 || !strings.Contains(page, `class="day"`) || !strings.Contains(page, "4,500") {
		t.Errorf("funnel: %d, %d charts", code, strings.Count(page, "<svg"))
	}
	if !strings.Contains(page, `class="flagged" data-policy="c"`) || strings.Contains(page, `class="flagged" data-policy="a"`) {
		t.Errorf("the policy with 400 stops per 1000 is not flagged alone")
	}
}

// fakeFunnel has four policies: a, b and c with cases, c's stops far
// above the others' and on two days, q with none yet.
type fakeFunnel struct {
	fakeReview
	now time.Time
}

func (f *fakeFunnel) ReviewPolicies() []ReviewPolicy {
	return []ReviewPolicy{{ID: "a", Title: "一次性扩岗补助"}, {ID: "b", Title: "稳岗返还"}, {ID: "c", Title: "社保断缴提醒"}, {ID: "q", Title: "尚无案件的政策"}}
}

func (f *fakeFunnel) Funnel(context.Context) (*funnel.Report, []*funnel.Report, error) {
	today := mustDay(f.now.In(shanghai).Format(time.DateOnly))
	earlier := today.AddDate(0, 0, -3)
	var counts []store.FunnelCount
	for _, p := range []string{"a", "b", "c"} {
		counts = append(counts, store.FunnelCount{PolicyID: p, Source: "event", Day: today, Step: "matched", Cases: 100},
			store.FunnelCount{PolicyID: p, Source: "event", Day: today, Step: "sent", Cases: 100})
	}
	counts = append(counts,
		store.FunnelCount{PolicyID: "c", Source: "event", Day: earlier, Step: "matched", Cases: 20},
		store.FunnelCount{PolicyID: "c", Source: "event", Day: earlier, Step: "sent", Cases: 20},
		store.FunnelCount{PolicyID: "c", Source: "event", Day: earlier, Step: "stopped", Cases: 10},
		store.FunnelCount{PolicyID: "c", Source: "event", Day: today, Step: "stopped", Cases: 30},
		store.FunnelCount{PolicyID: "a", Source: "event", Day: today, Step: "granted", Cases: 3, Amount: 4500},
		// b, 稳岗返还, is 免申即享: 2 claimed (approved at once), 60 paid, 58 of them never claimed.
		store.FunnelCount{PolicyID: "b", Source: "event", Day: today, Step: "claimed", Cases: 2},
		store.FunnelCount{PolicyID: "b", Source: "event", Day: today, Step: "approved", Cases: 2},
		store.FunnelCount{PolicyID: "b", Source: "event", Day: today, Step: "granted", Cases: 60, Amount: 60000},
		store.FunnelCount{PolicyID: "b", Source: "event", Day: today, Step: "granted_unclaimed", Cases: 58})
	reps := funnel.Build(counts, nil, func(id string) bool { return id == "b" })
	return funnel.Total(reps, nil), reps, nil
}

// The funnel page draws one trend: every policy's by default, or the one
// ?policy= names, picked from a plain GET form or the table's links; the
// flagged policy comes first in the table and the picker, marked, and
// its trend says why; a policy with no case yet gets an empty chart, an
// unknown one a clear message and no chart. The chart's totals agree with
// the table's, which the page reckons apart.
func TestFunnelPage(t *testing.T) {
	now := time.Date(2026, 12, 8, 2, 0, 0, 0, time.UTC)
	v := NewReview(&fakeFunnel{now: now}, ReviewOptions{Log: slog.New(slog.DiscardHandler), Now: func() time.Time { return now }})
	read, _ := v.Pages()
	h := read["GET /console/funnel"]
	total := regexp.MustCompile(`<g class="row" data-step="([a-z_]+)" data-total="([\d,.]+)">`)
	cell := regexp.MustCompile(`data-key="funnel/([a-z]+)/matched">(\d+)<`)
	for _, tc := range []struct {
		query   string
		code    int
		charts  int
		want    []string
		absent  []string
		matched string // the chart's matched total
		table   string // the table's row that must agree with it
	}{{
		query: "", code: 200, charts: 1, matched: "320", table: "total",
		want: []string{`<h2 id="trend-heading">近30天趋势：全部政策</h2>`, `id="trend" data-policy=""`, `<option value="" selected>全部政策</option>`,
			`<a href="/console/funnel#trend" aria-current="true">全部政策</a>`,
			`id="flagged"`, `<a href="/console/funnel?policy=c#trend">社保断缴提醒</a>`,
			`<optgroup label="已标出（率远高于其他政策）"><option value="c">⚠ 社保断缴提醒</option></optgroup>`,
			`<optgroup label="还没有案件"><option value="q">尚无案件的政策</option></optgroup>`,
			`method="get" action="/console/funnel#trend"`, "近30天中 2 天有数据", `<title id="trend-title">`, `aria-labelledby="trend-title trend-desc"`},
		absent: []string{`id="trend-flag"`, `id="trend-missing"`},
	}, {
		query: "c", code: 200, charts: 1, matched: "120", table: "c",
		want: []string{`<h2 id="trend-heading">近30天趋势：社保断缴提醒</h2>`, `id="trend" data-policy="c"`, `<option value="c" selected>⚠ 社保断缴提醒</option>`,
			`<a href="/console/funnel?policy=c#trend" aria-current="true">`, `id="trend-flag">⚠ 不再接收率远高于其他政策`,
			`data-step="stopped" data-total="40"`, "<summary>逐日数字（2 天）</summary>"},
		absent: []string{`<option value="" selected>`, `id="trend-missing"`},
	}, {
		query: "a", code: 200, charts: 1, matched: "100", table: "a",
		want:   []string{`近30天趋势：一次性扩岗补助`, `<option value="a" selected>一次性扩岗补助</option>`, `data-step="granted_yuan" data-total="4,500"`, "近30天中只有 2026-12-08 一天有数据"},
		absent: []string{`id="trend-flag"`},
	}, {
		// 免申即享: 60 paid of 100 found, 58 without a claim; read against
		// the cases found, not the 2 approved (3000%), and not starred.
		query: "b", code: 200, charts: 1, matched: "100", table: "b",
		want: []string{`近30天趋势：稳岗返还`, `data-step="granted" data-total="60"`, `data-step="granted_unclaimed" data-total="58"`,
			`>60.0%</text>`, `>96.7%</text>`, `data-key="funnel/b/granted_unclaimed">58<`, `data-key="funnel/b/granted/conv">占匹配 60.0%<`,
			`<th scope="col">其中未申领</th>`, "“其中未申领”是未经申领就发放的"},
		absent: []string{"%*", "3000.0%", "标 * 的"},
	}, {
		query: "q", code: 200, charts: 1, matched: "0",
		want:   []string{`近30天趋势：尚无案件的政策`, `<option value="q" selected>`, "2026-11-09至2026-12-08没有数据"},
		absent: []string{`class="day"`, "<details"},
	}, {
		query: "nope<b>", code: 404, charts: 0,
		want:   []string{`id="trend-missing"`, "没有编号为“nope&lt;b&gt;”的政策", `id="funnel-table"`, `<option value="">全部政策</option>`},
		absent: []string{"nope<b>", "<figure"},
	}} {
		t.Run("policy="+tc.query, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/console/funnel?policy="+url.QueryEscape(tc.query), nil))
			page := rec.Body.String()
			if rec.Code != tc.code {
				t.Errorf("status %d, want %d", rec.Code, tc.code)
			}
			if got := rec.Header().Get("Content-Security-Policy"); got != csp {
				t.Errorf("CSP %q, want the console's", got)
			}
			if n := strings.Count(page, "<svg"); n != tc.charts {
				t.Errorf("%d charts, want %d", n, tc.charts)
			}
			for _, want := range tc.want {
				if !strings.Contains(page, want) {
					t.Errorf("no %s", want)
				}
			}
			for _, bad := range tc.absent {
				if strings.Contains(page, bad) {
					t.Errorf("%s, which should not be there", bad)
				}
			}
			if i, j := strings.Index(page, `id="trend"`), strings.Index(page, `id="funnel-table"`); i < 0 || i > j {
				t.Errorf("the trend (at %d) is not above the table (at %d)", i, j)
			}
			// The flagged policy leads the table.
			if rows := regexp.MustCompile(`<tr(?: class="flagged")? data-policy="([a-z]*)"`).FindAllStringSubmatch(page, -1); len(rows) != 4 ||
				rows[0][1] != "c" || !strings.Contains(rows[0][0], "flagged") || strings.Contains(rows[1][0], "flagged") {
				t.Errorf("table rows %v: want c first and flagged alone, then a, b and the total", rows)
			}
			if tc.charts == 0 {
				return
			}
			totals := map[string]string{}
			for _, m := range total.FindAllStringSubmatch(page, -1) {
				totals[m[1]] = m[2]
			}
			if totals["matched"] != tc.matched {
				t.Errorf("the chart's matched total %q, want %q", totals["matched"], tc.matched)
			}
			if tc.table != "" {
				for _, m := range cell.FindAllStringSubmatch(page, -1) {
					if m[1] == tc.table && m[2] != totals["matched"] {
						t.Errorf("the table's %s matched %s, the chart's %s", tc.table, m[2], totals["matched"])
					}
				}
			}
		})
	}
}
