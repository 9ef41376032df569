package publicity

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/policypush/policypush/internal/rules"
	"github.com/policypush/policypush/internal/store"
)

func TestUntil(t *testing.T) {
	at := func(s string) time.Time {
		d, err := time.ParseInLocation("2006-01-02 15:04", s, rules.Shanghai)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	data, err := os.ReadFile("../../rules/calendar.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cal, err := rules.ParseCalendar("calendar.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		approved string
		days     int
		cal      *rules.Calendar
		want     string // the last day of 公示
	}{
		{"2026-12-07 10:00", 5, nil, "2026-12-14"}, // Monday: Tue..Fri, Mon
		{"2026-12-11 23:30", 5, nil, "2026-12-18"}, // Friday
		{"2026-12-12 09:00", 1, nil, "2026-12-14"}, // Saturday: Monday
		{"2026-12-07 10:00", 0, nil, "2026-12-07"},
		{"2026-12-07 10:00", 5, cal, "2026-12-14"}, // no holiday between
		// 国庆 2026: 10-01..10-07 off, Saturday 10-10 worked (调休).
		{"2026-09-30 16:00", 5, nil, "2026-10-07"}, // weekdays only
		{"2026-09-30 16:00", 5, cal, "2026-10-13"}, // Thu 8, Fri 9, Sat 10, Mon 12, Tue 13
		{"2026-09-18 11:00", 1, cal, "2026-09-20"}, // Sunday 09-20 is worked
		{"2027-09-30 16:00", 2, cal, "2027-10-04"}, // a year the calendar lacks: weekdays
	} {
		got := Until(at(tt.approved), tt.days, tt.cal).AddDate(0, 0, -1).Format(time.DateOnly)
		if got != tt.want {
			t.Errorf("Until(%s, %d, calendar %v) ends %s, want %s", tt.approved, tt.days, tt.cal != nil, got, tt.want)
		}
	}
	if !Ready(at("2026-12-07 10:00"), 0, nil, at("2026-12-07 10:00")) {
		t.Error("with no days of 公示, an approved case is not ready at once")
	}
	if Ready(at("2026-12-07 10:00"), 5, nil, at("2026-12-14 23:59")) || !Ready(at("2026-12-07 10:00"), 5, nil, at("2026-12-15 00:00")) {
		t.Error("Ready before the end, or not after it")
	}
}

type fakeStore []store.ApprovedCase

func (f fakeStore) ApprovedCases(_ context.Context, policyID string) ([]store.ApprovedCase, error) {
	var out []store.ApprovedCase
	for _, c := range f {
		if c.PolicyID == policyID {
			out = append(out, c)
		}
	}
	return out, nil
}

// The list shows enterprises masked with their amounts and residents only
// as a count; no id or name appears whole, in the JSON or on the page.
func TestPublicityList(t *testing.T) {
	amt := func(f float64) *float64 { return &f }
	approved := time.Date(2026, 12, 7, 2, 0, 0, 0, time.UTC)
	st := fakeStore{
		{ID: 1, SubjectType: "enterprise", SubjectID: "91510100MA6C7XYZ12", Name: "成都示例科技有限公司", PolicyID: "e", Amount: amt(38640.5), ApprovedAt: approved},
		{ID: 2, SubjectType: "enterprise", SubjectID: "91510100MA6C7ABC34", Name: "四川另一家制造股份有限公司", PolicyID: "e", Amount: amt(1000), ApprovedAt: approved},
		{ID: 3, SubjectType: "resident", SubjectID: "p_secret01", PolicyID: "r", Amount: amt(1500), ApprovedAt: approved},
		{ID: 4, SubjectType: "resident", SubjectID: "p_secret02", PolicyID: "r", Amount: amt(2000), ApprovedAt: approved},
	}
	pols := map[string]Policy{"e": {ID: "e", Title: "稳岗返还", Department: "失业保险科"}, "r": {ID: "r", Title: "技能提升补贴", Department: "职业能力建设科"}}
	h, err := New(st, func(id string) (Policy, bool) { p, ok := pols[id]; return p, ok }, 5, time.Now, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Register(mux)
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		b, _ := io.ReadAll(rec.Body)
		return rec.Code, string(b)
	}

	code, body := get("/public/policies/e/publicity")
	var l List
	if err := json.Unmarshal([]byte(body), &l); err != nil || code != 200 {
		t.Fatalf("%d %s %v", code, body, err)
	}
	if l.Count != 2 || l.Enterprises != 2 || len(l.Cases) != 2 || l.Amount != 39640.5 {
		t.Errorf("list %+v", l)
	}
	if c := l.Cases[0]; c.NameMasked != "成都****公司" || c.IDMasked != "915101**********12" || *c.Amount != 38640.5 || c.Until != "2026-12-14" {
		t.Errorf("entry %+v", c)
	}
	code, body = get("/public/policies/r/publicity")
	_ = json.Unmarshal([]byte(body), &l)
	if code != 200 || l.Count != 2 || l.Residents != 2 || len(l.Cases) != 0 || l.Amount != 3500 {
		t.Errorf("residents: %d %s", code, body)
	}
	_, page := get("/policies/r/publicity")
	if !strings.Contains(page, "2 名个人") || !strings.Contains(page, "3,500 元") {
		t.Errorf("resident page: %s", page)
	}
	_, epage := get("/policies/e/publicity")
	if !strings.Contains(epage, "成都****公司") || !strings.Contains(epage, "38,640.5") {
		t.Errorf("enterprise page: %s", epage)
	}
	for _, out := range []string{body, page, epage} {
		for _, leak := range []string{"p_secret", "MA6C7XYZ", "示例科技", "另一家制造"} {
			if strings.Contains(out, leak) {
				t.Errorf("%q shown: %s", leak, out)
			}
		}
	}
	// The page is in the citizens' frame, under their strict CSP, with its
	// own stylesheet served where the router cannot take it for a policy.
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/policies/e/publicity", nil))
	if csp := rec.Header().Get("Content-Security-Policy"); csp != pageCSP || !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("page CSP %q", csp)
	}
	if !strings.Contains(epage, `<header class="top">`) || !strings.Contains(epage, `href="/policies" aria-current="page"`) ||
		!strings.Contains(epage, `<link rel="stylesheet" href="/public/assets/publicity.css">`) {
		t.Errorf("the page is not in the citizens' frame: %s", epage)
	}
	if strings.Contains(epage, "<style") || strings.Contains(epage, "style=") {
		t.Errorf("inline style, which the CSP blocks: %s", epage)
	}
	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/public/assets/publicity.css", nil))
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "text/css; charset=utf-8" || !strings.Contains(rec.Body.String(), ".pub td::before") {
		t.Errorf("stylesheet: %d %s", rec.Code, rec.Header())
	}
	if code, _ := get("/public/policies/none/publicity"); code != 404 {
		t.Errorf("unknown policy: %d", code)
	}
	if code, _ := get("/policies/none/publicity"); code != 404 {
		t.Errorf("unknown policy page: %d", code)
	}
}
