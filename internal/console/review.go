package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/policypush/policypush/internal/funnel"
	"github.com/policypush/policypush/internal/store"
)

// The officers' pages of cases (CONTRACTS §8), rendered on the server
// with no script: the review queue per policy (approve or reject one case
// or a selected batch, with a reason), the disputes per source system, and
// the funnel down to the 元 with a 30-day trend drawn as inline SVG. The
// Content-Security-Policy is the console's: nothing loads from elsewhere.

// ReviewSource gives the pages their data and takes the decisions; the
// app implements it.
type ReviewSource interface {
	// ReviewPolicies lists the policies of the set in force.
	ReviewPolicies() []ReviewPolicy
	Cases(ctx context.Context, f store.CaseFilter) ([]store.Case, error)
	// Decide approves or rejects the cases ids as the officer who, all or
	// none, audited; a case not claimed is a *store.CaseStateError.
	Decide(ctx context.Context, who Officer, ids []int64, approve bool, reason string) ([]store.Case, error)
	Disputes(ctx context.Context) ([]store.DisputeSource, error)
	// Funnel is every policy's funnel and their total, days cut to the
	// last 30.
	Funnel(ctx context.Context) (total *funnel.Report, policies []*funnel.Report, err error)
}

// ReviewPolicy is a policy as the pages name it.
type ReviewPolicy struct {
	ID, Title, Domain string
	Review            bool // claims wait for an officer
}

// Officer is who is signed in.
type Officer struct{ Name, Role string }

// ReviewOptions connects the pages to the sign-in: who is signed in, and
// the CSRF token the forms carry.
type ReviewOptions struct {
	Who  func(ctx context.Context) (Officer, bool)
	CSRF func(ctx context.Context) string
	Log  *slog.Logger
	Now  func() time.Time
}

// Review serves the case pages. Register it with RegisterReview, behind
// the sign-in's form guard: viewers read, reviewers decide.
type Review struct {
	src ReviewSource
	o   ReviewOptions
}

// NewReview returns the case pages over src.
func NewReview(src ReviewSource, o ReviewOptions) *Review {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Review{src: src, o: o}
}

// Pages are the routes of the case pages, by the least role each needs.
func (v *Review) Pages() (read, decide map[string]http.Handler) {
	return map[string]http.Handler{
			"GET /console/review":   http.HandlerFunc(v.queue),
			"GET /console/disputes": http.HandlerFunc(v.disputes),
			"GET /console/funnel":   http.HandlerFunc(v.funnel),
		}, map[string]http.Handler{
			"POST /console/review/decide": http.HandlerFunc(v.decide),
		}
}

func (v *Review) headers(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", "text/html; charset=utf-8")
}

type layout struct {
	Title   string
	Nav     string
	Officer Officer
	CSRF    string
	Error   string
	Notice  string
}

func (v *Review) layout(r *http.Request, title, nav string) layout {
	l := layout{Title: title, Nav: nav}
	if v.o.Who != nil {
		l.Officer, _ = v.o.Who(r.Context())
	}
	if v.o.CSRF != nil {
		l.CSRF = v.o.CSRF(r.Context())
	}
	return l
}

func (v *Review) render(w http.ResponseWriter, r *http.Request, code int, name string, data any) {
	v.headers(w)
	w.WriteHeader(code)
	if err := pages.ExecuteTemplate(w, name, data); err != nil {
		v.o.Log.ErrorContext(r.Context(), "console: render", "page", name, "err", err)
	}
}

func (v *Review) fail(w http.ResponseWriter, r *http.Request, l layout, err error) {
	v.o.Log.ErrorContext(r.Context(), "console: case page", "err", err)
	l.Error = "暂时无法读取数据，请稍后刷新。"
	v.render(w, r, http.StatusServiceUnavailable, "error", l)
}

// queueCase is one row of the queue.
type queueCase struct {
	store.Case
	Conditions []condition
	DataDate   string
	Updated    string
	AmountText string
	Decidable  bool
}

type condition struct {
	Name, Verdict, Mark string
}

type queueData struct {
	layout
	Policies []ReviewPolicy
	Policy   ReviewPolicy
	Status   string
	Statuses []string
	Cases    []queueCase
	CanAct   bool
}

// queueStatuses are the statuses the queue filters by, the one awaiting a
// decision first.
var queueStatuses = []string{"claimed", "approved", "rejected", "granted", "disputed", "declined", "lapsed", "opened", "notified", "matched"}

func (v *Review) queue(w http.ResponseWriter, r *http.Request) {
	v.showQueue(w, r, http.StatusOK, r.URL.Query().Get("policy"), r.URL.Query().Get("status"), r.URL.Query().Get("done"), "")
}

func (v *Review) showQueue(w http.ResponseWriter, r *http.Request, code int, policy, status, done, problem string) {
	l := v.layout(r, "案件审核", "review")
	l.Error = problem
	if done != "" {
		l.Notice = done
	}
	d := queueData{layout: l, Policies: v.src.ReviewPolicies(), Status: status, Statuses: queueStatuses}
	if d.Status == "" {
		d.Status = "claimed"
	}
	if !contains(queueStatuses, d.Status) {
		d.Status = "claimed"
	}
	for _, p := range d.Policies {
		if p.ID == policy {
			d.Policy = p
		}
	}
	if d.Policy.ID == "" && policy == "" {
		for _, p := range d.Policies { // the first that holds claims
			if p.Review {
				d.Policy = p
				break
			}
		}
	}
	if d.Policy.ID == "" && policy != "" {
		d.Policy = ReviewPolicy{ID: policy, Title: policy}
	}
	d.CanAct = d.Status == "claimed" && roleAtLeastReviewer(l.Officer.Role)
	if d.Policy.ID != "" {
		cases, err := v.src.Cases(r.Context(), store.CaseFilter{PolicyID: d.Policy.ID, Status: d.Status, Limit: 500})
		if err != nil {
			v.fail(w, r, l, err)
			return
		}
		for _, c := range cases {
			q := queueCase{Case: c, Updated: c.UpdatedAt.In(shanghai).Format("2006-01-02 15:04"), AmountText: "—", Decidable: c.Status == "claimed"}
			if c.Amount != nil {
				q.AmountText = yuan(*c.Amount)
			}
			if c.DataAsOf != nil {
				q.DataDate = c.DataAsOf.In(shanghai).Format(time.DateOnly)
			}
			q.Conditions = conditionsOf(c.Explanation)
			d.Cases = append(d.Cases, q)
		}
	}
	v.render(w, r, code, "queue", d)
}

func roleAtLeastReviewer(role string) bool {
	return role == "reviewer" || role == "publisher" || role == "admin"
}

func conditionsOf(raw json.RawMessage) []condition {
	var x struct {
		Conditions []struct{ Name, Verdict string } `json:"conditions"`
	}
	if json.Unmarshal(raw, &x) != nil {
		return nil
	}
	out := make([]condition, 0, len(x.Conditions))
	for _, c := range x.Conditions {
		mark := "?"
		switch c.Verdict {
		case "true":
			mark = "✓"
		case "false":
			mark = "✗"
		}
		out = append(out, condition{Name: c.Name, Verdict: c.Verdict, Mark: mark})
	}
	return out
}

// decide takes the queue's form: ids (one or more checked, or the row's
// own button), decision approve or reject, reason.
func (v *Review) decide(w http.ResponseWriter, r *http.Request) {
	f := r.PostForm
	policy, status := f.Get("policy"), f.Get("status")
	who, ok := Officer{}, false
	if v.o.Who != nil {
		who, ok = v.o.Who(r.Context())
	}
	if !ok {
		v.showQueue(w, r, http.StatusUnauthorized, policy, status, "", "请先登录。")
		return
	}
	decision, reason := f.Get("decision"), strings.TrimSpace(f.Get("reason"))
	var ids []int64
	raw := f["id"]
	if one, single := strings.CutPrefix(decision, "approve:"); single {
		decision, raw = "approve", []string{one}
	} else if one, single := strings.CutPrefix(decision, "reject:"); single {
		decision, raw = "reject", []string{one}
	}
	for _, s := range raw {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil || id < 1 {
			v.showQueue(w, r, http.StatusBadRequest, policy, status, "", "案件编号无效。")
			return
		}
		ids = append(ids, id)
	}
	switch {
	case decision != "approve" && decision != "reject":
		v.showQueue(w, r, http.StatusBadRequest, policy, status, "", "请选择“通过”或“不通过”。")
		return
	case len(ids) == 0:
		v.showQueue(w, r, http.StatusBadRequest, policy, status, "", "请先勾选要处理的案件。")
		return
	case decision == "reject" && reason == "":
		v.showQueue(w, r, http.StatusBadRequest, policy, status, "", "不通过须填写理由：理由记入案件和审计记录。")
		return
	case len([]rune(reason)) > 500:
		v.showQueue(w, r, http.StatusBadRequest, policy, status, "", "理由不能超过500字。")
		return
	}
	out, err := v.src.Decide(r.Context(), who, ids, decision == "approve", reason)
	var se *store.CaseStateError
	switch {
	case errors.As(err, &se):
		v.showQueue(w, r, http.StatusConflict, policy, status, "", fmt.Sprintf("案件 %d 已不是待审核状态（%s），本批均未处理。请刷新后重试。", se.ID, statusName(se.Status)))
		return
	case errors.Is(err, store.ErrNotFound):
		v.showQueue(w, r, http.StatusNotFound, policy, status, "", "有案件不存在，本批均未处理。")
		return
	case err != nil:
		v.o.Log.ErrorContext(r.Context(), "console: decide", "err", err)
		v.showQueue(w, r, http.StatusServiceUnavailable, policy, status, "", "暂时无法保存，本批均未处理。请稍后重试。")
		return
	}
	word := "通过"
	if decision == "reject" {
		word = "不通过"
	}
	q := url.Values{"policy": {policy}, "status": {status}, "done": {fmt.Sprintf("已%s %d 件。", word, len(out))}}
	http.Redirect(w, r, "/console/review?"+q.Encode(), http.StatusSeeOther)
}

type disputesData struct {
	layout
	Sources []store.DisputeSource
}

func (v *Review) disputes(w http.ResponseWriter, r *http.Request) {
	l := v.layout(r, "信息有误（更正请求）", "disputes")
	list, err := v.src.Disputes(r.Context())
	if err != nil {
		v.fail(w, r, l, err)
		return
	}
	v.render(w, r, http.StatusOK, "disputes", disputesData{layout: l, Sources: list})
}

type funnelRow struct {
	*funnel.Report
	Title  string
	Domain string
}

// funnelChart is the one trend the page draws: every policy's, or the
// policy asked for.
type funnelChart struct {
	Title   string
	Flag    string // why the policy is flagged, if it is
	Trend   trend
	Missing string // the policy asked for is not known: say so, draw nothing
}

type funnelData struct {
	layout
	Total     funnelRow
	Policies  []funnelRow // the flagged first
	Flagged   []funnelRow
	Quiet     []ReviewPolicy // in force, but no case yet
	Steps     []string
	Selected  string // the policy whose trend is drawn, "" for all
	Chart     funnelChart
	Over      bool // some conversion is above 100%
	Unclaimed bool // some grants had no claim
}

// trendDays is how many days the trend draws; the funnel's days are cut
// to as many (adminapi.FunnelDays).
const trendDays = 30

// funnel shows the table of every policy and one trend: every policy's,
// or with ?policy=ID that policy's. The flagged policies come first, in
// the table and in the picker, so an officer sees them before scrolling.
func (v *Review) funnel(w http.ResponseWriter, r *http.Request) {
	l := v.layout(r, "政策漏斗", "funnel")
	total, reps, err := v.src.Funnel(r.Context())
	if err != nil {
		v.fail(w, r, l, err)
		return
	}
	known := v.src.ReviewPolicies()
	titles := map[string]ReviewPolicy{}
	for _, p := range known {
		titles[p.ID] = p
	}
	sel := r.URL.Query().Get("policy")
	d := funnelData{layout: l, Steps: funnelColumns(), Selected: sel,
		Total: funnelRow{Report: total, Title: "全部政策"}}
	seen := map[string]bool{}
	for _, rep := range reps {
		p := titles[rep.PolicyID]
		title := p.Title
		if title == "" {
			title = rep.PolicyID
		}
		d.Policies = append(d.Policies, funnelRow{Report: rep, Title: title, Domain: p.Domain})
		seen[rep.PolicyID] = true
	}
	d.Unclaimed = total.Steps.GrantedUnclaimed > 0
	for _, rep := range slices.Concat(reps, []*funnel.Report{total}) { // not append: reps is the source's
		for _, c := range rep.Conversions {
			d.Over = d.Over || c > 1
		}
	}
	slices.SortStableFunc(d.Policies, func(a, b funnelRow) int {
		switch {
		case a.Flagged && !b.Flagged:
			return -1
		case b.Flagged && !a.Flagged:
			return 1
		}
		return 0
	})
	for _, p := range d.Policies {
		if p.Flagged {
			d.Flagged = append(d.Flagged, p)
		}
	}
	for _, p := range known {
		if !seen[p.ID] {
			d.Quiet = append(d.Quiet, p)
		}
	}
	now := v.o.Now()
	code := http.StatusOK
	switch i := slices.IndexFunc(d.Policies, func(p funnelRow) bool { return p.PolicyID == sel }); {
	case sel == "":
		d.Chart = funnelChart{Title: "全部政策", Trend: Trend("全部政策", total.Days, now, trendDays)}
	case i >= 0:
		p := d.Policies[i]
		d.Chart = funnelChart{Title: p.Title, Flag: p.FlagReason, Trend: Trend(p.Title, p.Days, now, trendDays)}
	case titles[sel].ID != "":
		d.Chart = funnelChart{Title: titles[sel].Title, Trend: Trend(titles[sel].Title, nil, now, trendDays)}
	default:
		code = http.StatusNotFound
		name := []rune(sel)
		if len(name) > 64 {
			name = append(name[:64], '…')
		}
		d.Chart = funnelChart{Title: "未知政策", Missing: fmt.Sprintf("没有编号为“%s”的政策，也没有它的案件。请在“看哪项政策”里选一项，或点下表中的政策名。", string(name))}
	}
	v.render(w, r, code, "funnel", d)
}

var shanghai = time.FixedZone("CST", 8*3600)

var statusNames = map[string]string{
	"matched": "已匹配", "notified": "已通知", "opened": "已打开", "claimed": "待审核", "disputed": "信息有误",
	"declined": "不再接收", "approved": "已通过", "rejected": "未通过", "granted": "已发放", "lapsed": "已失效",
}

func statusName(s string) string {
	if n, ok := statusNames[s]; ok {
		return n
	}
	return s
}

var stepNames = map[string]string{
	"matched": "匹配", "sent": "发送", "delivered": "送达", "opened": "打开", "claimed": "申领", "approved": "通过", "granted": "发放",
	"granted_unclaimed": "其中未申领",
}

// funnelColumns are the funnel's steps as the page shows them: the chain,
// then the grants among granted that had no claim.
func funnelColumns() []string {
	return append(slices.Clone(store.FunnelSteps), store.StepGrantedUnclaimed)
}

// yuan writes an amount with thousands separators: 38,640.5.
func yuan(a float64) string {
	s := strconv.FormatFloat(a, 'f', 2, 64)
	s = strings.TrimSuffix(strings.TrimRight(s, "0"), ".")
	whole, frac, _ := strings.Cut(s, ".")
	neg := strings.HasPrefix(whole, "-")
	whole = strings.TrimPrefix(whole, "-")
	var b strings.Builder
	for i, c := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	out := b.String()
	if frac != "" {
		out += "." + frac
	}
	if neg {
		out = "-" + out
	}
	return out
}

func contains(xs []string, x string) bool {
	for _, s := range xs {
		if s == x {
			return true
		}
	}
	return false
}

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"status": statusName,
	"step":   func(s string) string { return stepNames[s] },
	"yuan":   yuan,
	"count":  func(s funnel.Steps, step string) int { return s.Get(step) },
	"conv": func(r *funnel.Report, step string) string {
		c, ok := r.Conversions[step]
		switch {
		case !ok:
			return ""
		case step == store.StepGranted && r.Automatic:
			return "占匹配 " + percent(c) // 免申即享: of those found
		}
		return percent(c)
	},
	"hours": func(h *float64) string {
		if h == nil {
			return "—"
		}
		return strconv.FormatFloat(*h, 'f', 1, 64) + " 小时"
	},
	"per": func(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) },
	"time": func(t *time.Time) string {
		if t == nil {
			return "—"
		}
		return t.In(shanghai).Format("2006-01-02 15:04")
	},
	"join": strings.Join,
	"pid": func(id string) string {
		if id == "" {
			return "total"
		}
		return id
	},
	"row": func(d funnelData, r funnelRow) funnelRowData {
		return funnelRowData{funnelRow: r, Steps: d.Steps, Selected: d.Selected}
	},
}).Parse(reviewHTML))

// funnelRowData is one row of the funnel table with the steps to show
// and the policy whose trend is drawn.
type funnelRowData struct {
	funnelRow
	Steps    []string
	Selected string
}
