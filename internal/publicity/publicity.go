// Package publicity serves the 公示 list of a policy's approved cases
// (CONTRACTS §8, §9) on the public listener: GET /public/policies/{id}/publicity
// (JSON) and GET /policies/{id}/publicity (a plain page for phones).
// Enterprises appear by masked name and masked USCC with their amounts;
// residents never by name or id, only as a count. An approved case is on
// the list for a number of working days (POLICYPUSH_PUBLICITY_DAYS) and
// counts as ready for payment after that.
package publicity

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/policypush/policypush/internal/rules"
	"github.com/policypush/policypush/internal/store"
)

// Until is the end of the 公示 of a case approved at approved: the close
// of the days-th working day (Asia/Shanghai) after the day of approval.
// Working days are those of cal, the rule directory's holiday calendar
// (rules/calendar.yaml: public holidays off, 调休 weekends worked); a nil
// cal, or a year it does not list, counts Monday to Friday.
func Until(approved time.Time, days int, cal *rules.Calendar) time.Time {
	y, m, d := approved.In(rules.Shanghai).Date()
	day := time.Date(y, m, d, 0, 0, 0, 0, rules.Shanghai)
	for n := 0; n < days; {
		day = day.AddDate(0, 0, 1)
		if cal.WorkingDay(day) {
			n++
		}
	}
	return day.AddDate(0, 0, 1) // the end of that day
}

// Ready reports whether a case approved at approved is ready for payment
// at now: its 公示 is over.
// With no days of 公示 (POLICYPUSH_PUBLICITY_DAYS=0) it is ready at once.
func Ready(approved time.Time, days int, cal *rules.Calendar, now time.Time) bool {
	return days <= 0 || !now.Before(Until(approved, days, cal))
}

// Store is what the list reads; *store.Store implements it.
type Store interface {
	ApprovedCases(ctx context.Context, policyID string) ([]store.ApprovedCase, error)
}

// Policy is what the list says of its policy.
type Policy struct {
	ID, Title, Department, Subject string
	// Calendar is the holiday calendar of the rule set the policy is in;
	// nil counts weekdays.
	Calendar *rules.Calendar
}

// Handler serves the list.
type Handler struct {
	st     Store
	policy func(id string) (Policy, bool)
	days   int
	now    func() time.Time
	log    *slog.Logger
	page   *page
}

// New returns the handler; policy finds a policy of the set in force.
func New(st Store, policy func(id string) (Policy, bool), days int, now func() time.Time, log *slog.Logger) (*Handler, error) {
	p, err := newPage()
	if err != nil {
		return nil, err
	}
	return &Handler{st: st, policy: policy, days: days, now: now, log: log, page: p}, nil
}

// Register adds the routes to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /public/policies/{id}/publicity", h.serveJSON)
	mux.HandleFunc("GET /policies/{id}/publicity", h.servePage)
	mux.HandleFunc("GET "+cssPath, h.serveCSS)
}

// Entry is an enterprise on the list.
type Entry struct {
	NameMasked string   `json:"name_masked"`
	IDMasked   string   `json:"id_masked"`
	Amount     *float64 `json:"amount"`
	ApprovedOn string   `json:"approved_on"`
	Until      string   `json:"until"` // the last day of its 公示
}

// List is the JSON of the list.
type List struct {
	PolicyID    string  `json:"policy_id"`
	Title       string  `json:"title"`
	Department  string  `json:"department"`
	Days        int     `json:"days"` // working days of 公示
	Cases       []Entry `json:"cases"`
	Count       int     `json:"count"` // every approved case, enterprises and residents
	Enterprises int     `json:"enterprises"`
	Residents   int     `json:"residents"`
	Amount      float64 `json:"amount"` // the sum of the known amounts, 元
}

var errNoPolicy = errors.New("no such policy")

func (h *Handler) list(ctx context.Context, id string) (List, error) {
	p, ok := h.policy(id)
	if !ok {
		return List{}, errNoPolicy
	}
	cases, err := h.st.ApprovedCases(ctx, id)
	if err != nil {
		return List{}, err
	}
	l := List{PolicyID: p.ID, Title: p.Title, Department: p.Department, Days: h.days, Cases: []Entry{}, Count: len(cases)}
	for _, c := range cases {
		if c.Amount != nil {
			l.Amount += *c.Amount
		}
		if c.SubjectType != "enterprise" {
			l.Residents++
			continue // never a resident's name or id
		}
		l.Enterprises++
		name := c.Name
		if name == "" {
			name = "（名称未登记）"
		} else {
			name = store.MaskName(name)
		}
		l.Cases = append(l.Cases, Entry{
			NameMasked: name, IDMasked: maskUSCC(c.SubjectID), Amount: c.Amount,
			ApprovedOn: c.ApprovedAt.In(rules.Shanghai).Format(time.DateOnly),
			Until:      Until(c.ApprovedAt, h.days, p.Calendar).AddDate(0, 0, -1).Format(time.DateOnly),
		})
	}
	return l, nil
}

// maskUSCC keeps the first 6 (the registration authority and region) and
// last 2 characters of an 18-character USCC: 915101****12 style.
func maskUSCC(id string) string {
	r := []rune(id)
	if len(r) < 10 {
		return "****"
	}
	return string(r[:6]) + "**********" + string(r[len(r)-2:])
}

func (h *Handler) serveJSON(w http.ResponseWriter, r *http.Request) {
	l, err := h.list(r.Context(), r.PathValue("id"))
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=60")
	switch {
	case errors.Is(err, errNoPolicy):
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error":"没有这项政策"}` + "\n"))
		return
	case err != nil:
		h.log.ErrorContext(r.Context(), "publicity", "err", err)
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`{"error":"暂时无法显示，请稍后再试"}` + "\n"))
		return
	}
	writeJSON(w, l)
}

func (h *Handler) servePage(w http.ResponseWriter, r *http.Request) {
	l, err := h.list(r.Context(), r.PathValue("id"))
	switch {
	case errors.Is(err, errNoPolicy):
		h.render(w, r, http.StatusNotFound, "problem", pageData{PageTitle: "没有这项政策", Message: "请核对链接是否完整，或到政策库查找。"})
	case err != nil:
		h.log.ErrorContext(r.Context(), "publicity page", "err", err)
		h.render(w, r, http.StatusInternalServerError, "problem", pageData{PageTitle: "暂时无法显示", Message: "请稍后再试。"})
	default:
		h.render(w, r, http.StatusOK, "list", pageData{List: l, PageTitle: l.Title + " 拟享受名单公示"})
	}
}
