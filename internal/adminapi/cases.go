package adminapi

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/policypush/policypush/internal/funnel"
	"github.com/policypush/policypush/internal/officer"
	"github.com/policypush/policypush/internal/publicity"
	"github.com/policypush/policypush/internal/rules"
	"github.com/policypush/policypush/internal/store"
)

// Cases, their review, the payment export, the disputes per source and
// the funnel (CONTRACTS §8).

var _ CaseStore = (*store.Store)(nil)

// CaseStore is what the case routes read and change; *store.Store
// implements it.
type CaseStore interface {
	Cases(ctx context.Context, f store.CaseFilter) ([]store.Case, error)
	CaseByID(ctx context.Context, id int64) (store.Case, error)
	CaseHistory(ctx context.Context, id int64) ([]store.CaseEvent, error)
	DecideCases(ctx context.Context, d store.Decision, e store.AuditEntry) ([]store.Case, error)
	ApprovedCases(ctx context.Context, policyID string) ([]store.ApprovedCase, error)
	Disputes(ctx context.Context, source string, limit int) ([]store.DisputeSource, error)
	CaseFunnel(ctx context.Context, policyID string, since time.Time) ([]store.FunnelCount, error)
	MedianMatchToGrant(ctx context.Context, policyID string, since time.Time) (map[string]float64, error)
}

// Audit actions of the case routes.
const (
	ActionCaseApprove = "case.approve"
	ActionCaseReject  = "case.reject"
	ActionCasesExport = "cases.export"
)

// DefaultPublicityDays is the working days of 公示 unless
// SetPublicity says otherwise.
const DefaultPublicityDays = 5

// SetPublicity sets the working days of 公示 before an approved case is
// ready for payment (POLICYPUSH_PUBLICITY_DAYS), counted by the holiday
// calendar that calendar returns (that of the rule set in force; nil
// counts weekdays). Call it before Register.
func (h *Handler) SetPublicity(days int, calendar func() *rules.Calendar) {
	h.publicityDays, h.calendar = days, calendar
}

func (h *Handler) caseStore() (CaseStore, error) {
	cs, ok := h.store.(CaseStore)
	if !ok {
		return nil, &Error{Status: http.StatusNotImplemented, Message: "cases are not served by this store"}
	}
	return cs, nil
}

// caseView is a case as the API shows it: its explanation redacted.
func (h *Handler) caseView(c store.Case) (store.Case, error) {
	if len(c.Explanation) > 0 {
		red, err := rules.Redact(c.Explanation, h.marks)
		if err != nil {
			return store.Case{}, err
		}
		// The stored explanation names its subject; the case list shows
		// only the mask.
		var x map[string]json.RawMessage
		if err := json.Unmarshal(red, &x); err != nil {
			return store.Case{}, fmt.Errorf("case %d: explanation: %w", c.ID, err)
		}
		delete(x, "subject_id")
		if c.Explanation, err = json.Marshal(x); err != nil {
			return store.Case{}, err
		}
	}
	return c, nil
}

var caseStatuses = []string{"matched", "notified", "opened", "claimed", "disputed", "declined", "approved", "rejected", "granted", "lapsed"}

func (h *Handler) listCases(w http.ResponseWriter, r *http.Request, _ officer.Officer) error {
	cs, err := h.caseStore()
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := store.CaseFilter{PolicyID: q.Get("policy"), Status: q.Get("status")}
	if f.Status != "" && !contains(caseStatuses, f.Status) {
		return badRequest("status %q is not one of %s", f.Status, strings.Join(caseStatuses, ", "))
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 10000 {
			return badRequest("limit %q is not a whole number from 1 to 10000", s)
		}
		f.Limit = n
	}
	list, err := cs.Cases(r.Context(), f)
	if err != nil {
		return err
	}
	for i := range list {
		if list[i], err = h.caseView(list[i]); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"cases": list})
	return nil
}

func caseID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		return 0, badRequest("case id %q is not a positive whole number", r.PathValue("id"))
	}
	return id, nil
}

func (h *Handler) getCase(w http.ResponseWriter, r *http.Request, _ officer.Officer) error {
	cs, err := h.caseStore()
	if err != nil {
		return err
	}
	id, err := caseID(r)
	if err != nil {
		return err
	}
	c, err := cs.CaseByID(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return &Error{Status: http.StatusNotFound, Message: fmt.Sprintf("no case %d", id)}
	}
	if err != nil {
		return err
	}
	if c, err = h.caseView(c); err != nil {
		return err
	}
	hist, err := cs.CaseHistory(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"case": c, "history": hist})
	return nil
}

type decisionBody struct {
	IDs      []int64 `json:"ids"`
	Decision string  `json:"decision"` // approve or reject (the batch form)
	Reason   string  `json:"reason"`
}

// decodeOptional is decode for a body that may be empty.
func decodeOptional(r *http.Request, v any) error {
	data, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	r.Body = io.NopCloser(bytes.NewReader(data))
	return decode(r, v)
}

func (h *Handler) approveCase(w http.ResponseWriter, r *http.Request, who officer.Officer) error {
	return h.decideOne(w, r, who, true)
}

func (h *Handler) rejectCase(w http.ResponseWriter, r *http.Request, who officer.Officer) error {
	return h.decideOne(w, r, who, false)
}

func (h *Handler) decideOne(w http.ResponseWriter, r *http.Request, who officer.Officer, approve bool) error {
	id, err := caseID(r)
	if err != nil {
		return err
	}
	var body decisionBody
	if err := decodeOptional(r, &body); err != nil {
		return err
	}
	if len(body.IDs) > 0 || body.Decision != "" {
		return badRequest("this route takes only {\"reason\"}; a batch goes to POST /api/cases/decide")
	}
	out, err := h.decide(r.Context(), who, []int64{id}, approve, body.Reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out[0])
	return nil
}

// decideBatch approves or rejects a selected batch, all or none.
func (h *Handler) decideBatch(w http.ResponseWriter, r *http.Request, who officer.Officer) error {
	var body decisionBody
	if err := decode(r, &body); err != nil {
		return err
	}
	if body.Decision != "approve" && body.Decision != "reject" {
		return badRequest(`decision must be "approve" or "reject"`)
	}
	if len(body.IDs) == 0 || len(body.IDs) > 1000 {
		return badRequest("ids must name from 1 to 1000 cases")
	}
	out, err := h.decide(r.Context(), who, body.IDs, body.Decision == "approve", body.Reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"cases": out})
	return nil
}

func (h *Handler) decide(ctx context.Context, who officer.Officer, ids []int64, approve bool, reason string) ([]store.Case, error) {
	cs, err := h.caseStore()
	if err != nil {
		return nil, err
	}
	reason = strings.TrimSpace(reason)
	if !approve && reason == "" {
		return nil, badRequest("a rejection needs a reason: it is kept with the case and its history, for the answer to the person and for audit")
	}
	if len([]rune(reason)) > 500 {
		return nil, badRequest("the reason is longer than 500 characters")
	}
	action := ActionCaseApprove
	if !approve {
		action = ActionCaseReject
	}
	out, err := cs.DecideCases(ctx, store.Decision{IDs: ids, Approve: approve, Officer: who.Name, Reason: reason, At: h.now()}, h.entry(who, action))
	if se, ok := errors.AsType[*store.CaseStateError](err); ok {
		return nil, &Error{Status: http.StatusConflict, Message: se.Error()}
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, &Error{Status: http.StatusNotFound, Message: "no such case: " + err.Error()}
	}
	if err != nil {
		return nil, err
	}
	for i := range out {
		if out[i], err = h.caseView(out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// CSVColumns are the columns of cases.csv, in order (README documents
// them); the payment office's import depends on the order.
var CSVColumns = []string{"case_id", "subject_type", "subject_id", "name", "policy_id", "policy_version", "amount",
	"claimed_at", "approved_at", "approved_by", "publicity_until", "ready_for_payment"}

// casesCSV exports a policy's approved cases for payment, UTF-8 with a
// BOM so that Excel reads it as such. It carries the ids payment needs,
// so it is audited, and written only once the audit row is.
func (h *Handler) casesCSV(w http.ResponseWriter, r *http.Request, who officer.Officer) error {
	cs, err := h.caseStore()
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	list, err := cs.ApprovedCases(r.Context(), id)
	if err != nil {
		return err
	}
	now := h.now()
	days := h.publicityDays
	var cal *rules.Calendar
	if h.calendar != nil {
		cal = h.calendar()
	}
	var buf bytes.Buffer
	buf.WriteString("\ufeff")
	cw := csv.NewWriter(&buf)
	cw.UseCRLF = true // what Excel writes
	_ = cw.Write(CSVColumns)
	ready := 0
	for _, c := range list {
		amount := ""
		if c.Amount != nil {
			amount = strconv.FormatFloat(*c.Amount, 'f', -1, 64)
		}
		claimed := ""
		if c.ClaimedAt != nil {
			claimed = c.ClaimedAt.In(rules.Shanghai).Format(time.RFC3339)
		}
		until := publicity.Until(c.ApprovedAt, days, cal)
		isReady := publicity.Ready(c.ApprovedAt, days, cal, now)
		if isReady {
			ready++
		}
		_ = cw.Write([]string{strconv.FormatInt(c.ID, 10), c.SubjectType, cell(c.SubjectID), cell(c.Name), c.PolicyID,
			strconv.Itoa(c.PolicyVersion), amount, claimed, c.ApprovedAt.In(rules.Shanghai).Format(time.RFC3339), cell(c.ApprovedBy),
			until.AddDate(0, 0, -1).Format(time.DateOnly), strconv.FormatBool(isReady)})
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	e := h.entry(who, ActionCasesExport)
	e.PolicyID, e.Detail = id, map[string]any{"rows": len(list), "ready_for_payment": ready}
	if err := h.auditAfter(r.Context(), e, nil); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-cases-%s.csv"`, id, now.In(rules.Shanghai).Format("20060102")))
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
	return nil
}

// cell keeps a text from being read as a formula by a spreadsheet.
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func (h *Handler) disputes(w http.ResponseWriter, r *http.Request, _ officer.Officer) error {
	cs, err := h.caseStore()
	if err != nil {
		return err
	}
	list, err := cs.Disputes(r.Context(), r.URL.Query().Get("source"), 200)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"sources": list})
	return nil
}

// FunnelDays is how many days the funnel's trend shows.
const FunnelDays = 30

// funnel answers GET /api/funnel?policy=ID: CONTRACTS §8's steps,
// granted_amount and median_match_to_grant_hours, with conversions, the
// rates, the sources and the last 30 days; without policy, the total and
// every policy.
func (h *Handler) funnel(w http.ResponseWriter, r *http.Request, _ officer.Officer) error {
	cs, err := h.caseStore()
	if err != nil {
		return err
	}
	policy := r.URL.Query().Get("policy")
	auto := map[string]bool{}
	for _, p := range h.rules.Policies() {
		auto[p.ID] = p.Automatic
	}
	reports, err := Funnel(r.Context(), cs, policy, h.now(), func(id string) bool { return auto[id] })
	if err != nil {
		return err
	}
	if policy != "" {
		for _, rep := range reports.Policies {
			if rep.PolicyID == policy {
				writeJSON(w, http.StatusOK, rep)
				return nil
			}
		}
		empty := funnel.Total(nil, nil)
		empty.PolicyID = policy
		writeJSON(w, http.StatusOK, empty)
		return nil
	}
	out := struct {
		*funnel.Report
		Policies []*funnel.Report `json:"policies"`
	}{reports.Total, reports.Policies}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// FunnelReports are every policy's funnel and their total.
type FunnelReports struct {
	Total    *funnel.Report
	Policies []*funnel.Report
}

// FunnelStore is what Funnel reads.
type FunnelStore interface {
	CaseFunnel(ctx context.Context, policyID string, since time.Time) ([]store.FunnelCount, error)
	MedianMatchToGrant(ctx context.Context, policyID string, since time.Time) (map[string]float64, error)
}

// Funnel builds the funnels of one policy (or all, ""), over all time,
// each report's days cut to the last FunnelDays before now; automatic
// says which policies are 免申即享 (funnel.Build). The console and the
// metrics read the same.
func Funnel(ctx context.Context, st FunnelStore, policy string, now time.Time, automatic func(policyID string) bool) (FunnelReports, error) {
	counts, err := st.CaseFunnel(ctx, policy, time.Time{})
	if err != nil {
		return FunnelReports{}, err
	}
	med, err := st.MedianMatchToGrant(ctx, policy, time.Time{})
	if err != nil {
		return FunnelReports{}, err
	}
	reports := funnel.Build(counts, med, automatic)
	var all *float64
	if len(med) == 1 || policy != "" {
		for _, v := range med {
			all = &v
		}
	}
	total := funnel.Total(reports, all)
	cut := now.In(rules.Shanghai).AddDate(0, 0, -FunnelDays+1).Format(time.DateOnly)
	for _, rep := range append(reports, total) {
		i := 0
		for i < len(rep.Days) && rep.Days[i].Day < cut {
			i++
		}
		rep.Days = rep.Days[i:]
	}
	return FunnelReports{Total: total, Policies: reports}, nil
}

func contains(xs []string, x string) bool {
	for _, s := range xs {
		if s == x {
			return true
		}
	}
	return false
}
