package console

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
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
	reps := funnel.Build(counts, nil)
	return funnel.Total(reps, nil), reps, nil
}

func mustDay(s string) time.Time { d, _ := time.Parse(time.DateOnly, s); return d }

// The case pages render with the queue's explanation and data date, a
// rejection without a reason is refused before the store is asked, a
// batch goes to the store whole, a conflict is told; the funnel page
// draws its trend as inline SVG and flags the policy whose stop rate is
// far above the others'.
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
	if code != 200 || strings.Count(page, "<svg") != 4 || !strings.Contains(page, "<polyline") || !strings.Contains(page, "4,500") {
		t.Errorf("funnel: %d, %d charts", code, strings.Count(page, "<svg"))
	}
	if !strings.Contains(page, `class="flagged" data-policy="c"`) || strings.Contains(page, `class="flagged" data-policy="a"`) {
		t.Errorf("the policy with 400 stops per 1000 is not flagged alone")
	}
}
