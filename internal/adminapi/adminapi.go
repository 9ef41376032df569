// Package adminapi serves the operators' and officers' JSON API under /api
// (CONTRACTS.md §6). Every request needs Authorization: Bearer with an
// officer's token or the bootstrap admin token, and each route needs a
// role (see routes); every error is JSON with a message.
//
// It serves the policies with their funnels, impact previews, one
// subject's matches and notices ("why was I notified"), opt-outs, the
// requeue of dead notices, sweep (backfill) progress, rule reloads, the
// officers' accounts and the audit log. Every officer action, and every
// read of one subject's history, writes an audit row; a change whose row
// cannot be written is not made, or not reported as done.
package adminapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/policypush/policypush/internal/officer"
	"github.com/policypush/policypush/internal/profile"
	"github.com/policypush/policypush/internal/rules"
	"github.com/policypush/policypush/internal/store"
	"github.com/policypush/policypush/internal/sweep"
)

var _ Store = (*store.Store)(nil)

// Store is what the API reads and changes; *store.Store implements it.
// Its changes take the audit row they are to be written with.
type Store interface {
	OptOutAudited(ctx context.Context, k store.SubjectKey, channel, source string, at time.Time, e store.AuditEntry) error
	OptInAudited(ctx context.Context, k store.SubjectKey, channel string, e store.AuditEntry) (removed int, err error)
	RequeueDeadAudited(ctx context.Context, ids []int64, policyID string, at time.Time, e store.AuditEntry) ([]int64, error)
	Funnel(ctx context.Context) ([]store.FunnelRow, error)
	Subject(ctx context.Context, k store.SubjectKey) (store.SubjectView, error)
	Sweeps(ctx context.Context, limit int) ([]store.Sweep, error)

	OfficerLookup
	AddOfficer(ctx context.Context, name, role string, tokenHash []byte, at time.Time, e store.AuditEntry) error
	ListOfficers(ctx context.Context) ([]store.Officer, error)
	RevokeOfficer(ctx context.Context, name string, at time.Time, e store.AuditEntry) error
	Audit(ctx context.Context, e store.AuditEntry) error
	AuditLog(ctx context.Context, f store.AuditFilter, limit int) ([]store.AuditEntry, error)
}

// Rules is what the API does with the rule set; the app implements it.
type Rules interface {
	// Policies describes the policies of the set in force.
	Policies() []Policy
	// Reload reads the rule directory again and swaps the set in; on error
	// (an *Error carries the problems) the old set keeps serving.
	Reload(ctx context.Context) (policies int, err error)
	// Preview counts what a policy would do: the one named id in the rule
	// directory (draft == nil), or the draft rule file given.
	Preview(ctx context.Context, id string, draft []byte) (sweep.Report, error)
}

// Policy describes a policy of the set in force.
type Policy struct {
	ID      string `json:"id"`
	Version int    `json:"version"`
	Title   string `json:"title"`
	Subject string `json:"subject"`
	Status  string `json:"status"`
	InForce bool   `json:"in_force"`
	// Automatic is a 免申即享 policy (apply.mode automatic): paid without
	// a claim, so its funnel measures grants against the cases found.
	Automatic bool `json:"automatic"`
}

// Handler serves /api.
type Handler struct {
	store Store
	rules Rules
	auth  *Authenticator
	log   *slog.Logger
	now   func() time.Time
	marks *profile.Marks // fields whose values explanations withhold
	// One preview at a time, each within its budget: a preview evaluates
	// the policy for every stored profile, and many at once would starve
	// the live pipeline of the database.
	previewSlot   chan struct{}
	previewBudget time.Duration
	comments      CommentStore // nil: the comment routes answer 404
	publicityDays int
	calendar      func() *rules.Calendar // of 公示; nil: weekdays          // working days of 公示 (cases.go)
}

// DefaultPreviewBudget is how long a preview may run unless
// SetPreviewBudget says otherwise (POLICYPUSH_PREVIEW_BUDGET).
const DefaultPreviewBudget = 60 * time.Second

// SetPreviewBudget sets how long one preview may run; d <= 0 keeps the
// default. Call it before Register.
func (h *Handler) SetPreviewBudget(d time.Duration) {
	if d > 0 {
		h.previewBudget = d
	}
}

// New returns the API. token, the bootstrap admin's, must not be empty: an
// API without one would be open to anyone who reaches the port.
func New(st Store, rs Rules, token string, log *slog.Logger, now func() time.Time) (*Handler, error) {
	a, err := NewAuthenticator(st, token)
	if err != nil {
		return nil, err
	}
	marks, err := profile.LoadMarks()
	if err != nil {
		return nil, fmt.Errorf("adminapi: %w", err)
	}
	return &Handler{store: st, rules: rs, auth: a, log: log, now: now, marks: marks,
		previewSlot: make(chan struct{}, 1), previewBudget: DefaultPreviewBudget, publicityDays: DefaultPublicityDays}, nil
}

// Authenticate tells who presents token, as the API does for each
// request (see Authenticator.Authenticate); the console signs officers in
// with it.
func (h *Handler) Authenticate(ctx context.Context, token string) (officer.Officer, error) {
	return h.auth.Authenticate(ctx, token)
}

// route is one route of the API and the least role that may use it.
type route struct {
	pattern string
	need    officer.Role
	serve   func(h *Handler, w http.ResponseWriter, r *http.Request, who officer.Officer) error
}

// routes is every route of the API with its role, in one place so that
// it can be reviewed at a glance: viewers see the policies and the
// sweeps; reviewers also read one subject's history; publishers also
// reload, preview and requeue; admins also change opt-outs and accounts
// and read the audit log. Register serves exactly these, and
// TestRolesForEveryRoute fails for a route it does not know.
var routes = []route{
	{"GET /api/policies", officer.Viewer, (*Handler).policies},
	{"GET /api/sweeps", officer.Viewer, (*Handler).sweeps},
	{"GET /api/subjects/{type}/{id}", officer.Reviewer, (*Handler).subject},
	{"GET /api/policies/{id}/preview", officer.Publisher, (*Handler).preview},
	{"POST /api/policies/preview", officer.Publisher, (*Handler).previewDraft},
	{"POST /api/notices/requeue", officer.Publisher, (*Handler).requeue},
	{"POST /api/rules/reload", officer.Publisher, (*Handler).reload},
	{"POST /api/subjects/{type}/{id}/opt-outs", officer.Admin, (*Handler).optOut},
	{"DELETE /api/subjects/{type}/{id}/opt-outs/{channel}", officer.Admin, (*Handler).optIn},
	{"GET /api/officers", officer.Admin, (*Handler).listOfficers},
	{"POST /api/officers", officer.Admin, (*Handler).addOfficer},
	{"DELETE /api/officers/{name}", officer.Admin, (*Handler).revokeOfficer},
	{"GET /api/audit", officer.Admin, (*Handler).auditLog},
	// Comments on drafts out for comment (comments.go): reviewers read
	// and moderate them; marking one adopted is a publisher's decision.
	{"GET /api/consultations/{id}/comments", officer.Reviewer, (*Handler).listComments},
	{"POST /api/comments/{id}/moderate", officer.Reviewer, (*Handler).moderateComment},
	{"POST /api/comments/{id}/adopt", officer.Publisher, (*Handler).adoptComment},
	// Cases (cases.go): viewers read the queue, the disputes and the
	// funnel; reviewers decide and export the approved list for payment.
	{"GET /api/cases", officer.Viewer, (*Handler).listCases},
	{"GET /api/cases/{id}", officer.Viewer, (*Handler).getCase},
	{"POST /api/cases/{id}/approve", officer.Reviewer, (*Handler).approveCase},
	{"POST /api/cases/{id}/reject", officer.Reviewer, (*Handler).rejectCase},
	{"POST /api/cases/decide", officer.Reviewer, (*Handler).decideBatch},
	{"GET /api/policies/{id}/cases.csv", officer.Reviewer, (*Handler).casesCSV},
	{"GET /api/disputes", officer.Viewer, (*Handler).disputes},
	{"GET /api/funnel", officer.Viewer, (*Handler).funnel},
	// Anything else under /api is a JSON 404, after authentication, so
	// that the API's shape is not visible without a token.
	{"/api/", officer.Viewer, func(*Handler, http.ResponseWriter, *http.Request, officer.Officer) error {
		return &Error{Status: http.StatusNotFound, Message: "no such endpoint"}
	}},
}

// Register adds the API's routes to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	for _, rt := range routes {
		mux.Handle(rt.pattern, h.handle(rt))
	}
}

// Error is an API error: its Status and Message are what the client sees.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string { return e.Message }

func badRequest(format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Message: fmt.Sprintf(format, args...)}
}

// handle checks the bearer token and the role the route needs, and turns
// the handler's error into JSON.
func (h *Handler) handle(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := h.serve(rt, w, r)
		if err == nil {
			return
		}
		if _, tooLarge := errors.AsType[*http.MaxBytesError](err); tooLarge {
			w.Header().Set("Connection", "close") // the rest of the body is not read
			writeJSON(w, http.StatusRequestEntityTooLarge, errorBody{fmt.Sprintf("request body too large: the limit is %d bytes", MaxBody)})
			return
		}
		var ae *Error
		if errors.As(err, &ae) {
			writeJSON(w, ae.Status, errorBody{ae.Message})
			return
		}
		h.log.ErrorContext(r.Context(), "admin api", "method", r.Method, "path", r.URL.Path, "err", err)
		writeJSON(w, http.StatusInternalServerError, errorBody{"internal error; see the service log"})
	})
}

func (h *Handler) serve(rt route, w http.ResponseWriter, r *http.Request) error {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		got = "" // never matches: the admin token is not empty, an account's has a prefix
	}
	who, err := h.auth.Authenticate(r.Context(), got)
	if errors.Is(err, ErrUnauthenticated) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="policypush"`)
		return &Error{Status: http.StatusUnauthorized, Message: "missing or wrong bearer token"}
	}
	if err != nil {
		return err
	}
	if !who.Role.Allows(rt.need) {
		h.log.InfoContext(r.Context(), "admin api: role too low", "actor", who.Name, "role", who.Role.String(), "route", rt.pattern)
		return &Error{Status: http.StatusForbidden, Message: fmt.Sprintf("%s needs role %s", rt.pattern, rt.need)}
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
	return rt.serve(h, w, r, who)
}

// Audit actions: what the audit log's action column says.
const (
	ActionOptOutAdd     = "opt_out.add"
	ActionOptOutRemove  = "opt_out.remove"
	ActionRequeue       = "notices.requeue"
	ActionReload        = "rules.reload"
	ActionPreview       = "policy.preview"
	ActionPreviewDraft  = "policy.preview_draft"
	ActionSubjectRead   = "subject.read"
	ActionOfficerAdd    = "officer.add"
	ActionOfficerRevoke = "officer.revoke"
)

// entry starts the audit row of an action by who, now.
func (h *Handler) entry(who officer.Officer, action string) store.AuditEntry {
	return store.AuditEntry{At: h.now(), Actor: who.Name, ActorRole: who.Role.String(), Action: action}
}

// auditAfter writes e for an action that is not a change in the store (a
// reload, a preview, a read), after it, whatever its outcome: failed, it
// is in the log still (Detail "ok": false), with its own error returned.
// An audit row that cannot be written fails the request: what was done is
// not reported as done.
func (h *Handler) auditAfter(ctx context.Context, e store.AuditEntry, actionErr error) error {
	if e.Detail == nil {
		e.Detail = map[string]any{}
	}
	e.Detail["ok"] = actionErr == nil
	if err := h.store.Audit(ctx, e); err != nil {
		return err
	}
	return actionErr
}

// MaxBody bounds every request body of the API; a policy draft, the
// largest, is a few kilobytes. A longer body is refused with 413.
const MaxBody = 1 << 20

// previewWrite is the margin, past its budget, that a preview has to
// write its answer: the budget may be longer than the server's write
// timeout.
const previewWrite = time.Minute

// extendWrite gives a handler that has read its request d more to
// answer, past the server's write timeout, which would drop its answer.
// (The read timeout does not cancel it: the server lifts the read deadline
// once the body is read.)
func extendWrite(w http.ResponseWriter, d time.Duration) {
	// A writer without deadlines (a test's recorder) has nothing to extend.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(d))
}

type errorBody struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v) // the client went away: nothing to do
}

// decode reads a JSON body into v, refusing unknown fields and trailing
// data, so that a typo is an error and not a silent no-op.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return badRequest("the request needs a JSON body")
		}
		if _, tooLarge := errors.AsType[*http.MaxBytesError](err); tooLarge {
			return err // 413, never a cut body read as whole
		}
		return badRequest("malformed JSON body: %s", jsonProblem(err))
	}
	if dec.More() {
		return badRequest("malformed JSON body: more than one value")
	}
	return nil
}

// plainKey is an unknown field's name that may be echoed: a quoted key of
// at most 40 ASCII letters, digits, '_' or '.'.
var plainKey = regexp.MustCompile(`^"[A-Za-z_][A-Za-z0-9_.]{0,39}"$`)

// jsonProblem says what is wrong with a JSON body without quoting it:
// encoding/json's own messages can carry a character of the body, which
// may be personal data (a profile, a rule's test case).
func jsonProblem(err error) string {
	if e, ok := errors.AsType[*json.SyntaxError](err); ok {
		return fmt.Sprintf("invalid JSON at byte %d", e.Offset)
	}
	if e, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		kind, _, _ := strings.Cut(e.Value, " ") // "number 5": the kind, not the number
		if e.Field != "" {
			return fmt.Sprintf("field %q must be %s, not %s", e.Field, e.Type, kind)
		}
		return fmt.Sprintf("the body must be %s, not %s", e.Type, kind)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "the body ends before the JSON does"
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if plainKey.MatchString(name) { // a misspelt key, not data
			return "unknown field " + name
		}
		return "an unknown field"
	}
	return "not a JSON value of the expected shape"
}

var (
	subjectTypes = []string{"resident", "enterprise"}
	channels     = []string{"wechat", "sms"}
)

func subjectOf(r *http.Request) (typ, id string, err error) {
	typ, id = r.PathValue("type"), r.PathValue("id")
	if !slices.Contains(subjectTypes, typ) {
		return "", "", badRequest("subject type %q: want resident or enterprise", typ)
	}
	if id == "" || len(id) > 64 {
		return "", "", badRequest("subject id must have 1 to 64 characters")
	}
	return typ, id, nil
}

func checkChannel(c string) error {
	if !slices.Contains(channels, c) {
		return badRequest("channel %q: want wechat or sms", c)
	}
	return nil
}

// optOut records an opt-out on behalf of a citizen (a call to 12333, a
// counter visit). The dispatcher checks it before every send, so notices
// already queued stop too.
func (h *Handler) optOut(w http.ResponseWriter, r *http.Request, who officer.Officer) error {
	typ, id, err := subjectOf(r)
	if err != nil {
		return err
	}
	var body struct {
		Channel string `json:"channel"`
	}
	if err := decode(r, &body); err != nil {
		return err
	}
	if err := checkChannel(body.Channel); err != nil {
		return err
	}
	e := h.entry(who, ActionOptOutAdd)
	e.SubjectType, e.SubjectID, e.Detail = typ, id, map[string]any{"channel": body.Channel}
	at := e.At
	if err := h.store.OptOutAudited(r.Context(), store.SubjectKey{Type: typ, ID: id}, body.Channel, "admin", at, e); err != nil {
		return err
	}
	h.log.InfoContext(r.Context(), "opt-out recorded", "subject_type", typ, "subject_id", id, "channel", body.Channel, "source", "admin", "actor", who.Name)
	writeJSON(w, http.StatusOK, map[string]any{
		"subject_type": typ, "subject_id": id, "channel": body.Channel, "source": "admin", "at": at,
	})
	return nil
}

// optIn removes every recorded opt-out of a channel for a subject.
func (h *Handler) optIn(w http.ResponseWriter, r *http.Request, who officer.Officer) error {
	typ, id, err := subjectOf(r)
	if err != nil {
		return err
	}
	channel := r.PathValue("channel")
	if err := checkChannel(channel); err != nil {
		return err
	}
	e := h.entry(who, ActionOptOutRemove)
	e.SubjectType, e.SubjectID, e.Detail = typ, id, map[string]any{"channel": channel}
	n, err := h.store.OptInAudited(r.Context(), store.SubjectKey{Type: typ, ID: id}, channel, e)
	if err != nil {
		return err
	}
	h.log.InfoContext(r.Context(), "opt-outs removed", "subject_type", typ, "subject_id", id, "channel", channel, "removed", n, "actor", who.Name)
	writeJSON(w, http.StatusOK, map[string]any{"subject_type": typ, "subject_id": id, "channel": channel, "removed": n})
	return nil
}

// requeue gives dead notices another chance once their cause is fixed (a
// provider outage, a wrong template), and resends notices of unknown
// outcome (status unknown) once an officer decides a possible duplicate is
// better than a possible loss. It needs an explicit selection, so that an
// empty body never requeues everything by accident.
func (h *Handler) requeue(w http.ResponseWriter, r *http.Request, who officer.Officer) error {
	var body struct {
		IDs      []int64 `json:"ids"`
		PolicyID string  `json:"policy_id"`
		All      bool    `json:"all"`
	}
	if err := decode(r, &body); err != nil {
		return err
	}
	if len(body.IDs) == 0 && body.PolicyID == "" && !body.All {
		return badRequest(`say which dead notices (or notices of unknown outcome) to requeue: "ids", "policy_id", or "all": true`)
	}
	if body.All && (len(body.IDs) > 0 || body.PolicyID != "") {
		return badRequest(`"all" cannot be combined with "ids" or "policy_id"`)
	}
	if len(body.IDs) > 10000 {
		return badRequest("at most 10000 ids at a time")
	}
	e := h.entry(who, ActionRequeue)
	e.PolicyID, e.Detail = body.PolicyID, map[string]any{"all": body.All, "ids_asked": len(body.IDs)}
	ids, err := h.store.RequeueDeadAudited(r.Context(), body.IDs, body.PolicyID, e.At, e)
	if err != nil {
		return err
	}
	if ids == nil {
		ids = []int64{}
	}
	h.log.InfoContext(r.Context(), "dead and unknown notices requeued", "count", len(ids), "policy", body.PolicyID, "actor", who.Name)
	writeJSON(w, http.StatusOK, map[string]any{"requeued": ids})
	return nil
}

// policyView is a policy with its funnel by channel and in total.
type policyView struct {
	Policy
	Total    store.FunnelRow            `json:"total"`
	Channels map[string]store.FunnelRow `json:"channels"`
}

// policies lists the policies in force and any others that have notices,
// each with its funnel: matched, sent, delivered, clicked, failed,
// suppressed.
func (h *Handler) policies(w http.ResponseWriter, r *http.Request, who officer.Officer) error {
	rows, err := h.store.Funnel(r.Context())
	if err != nil {
		return err
	}
	var out []*policyView
	byID := map[string]*policyView{}
	for _, p := range h.rules.Policies() {
		v := &policyView{Policy: p, Channels: map[string]store.FunnelRow{}}
		out = append(out, v)
		byID[p.ID] = v
	}
	for _, row := range rows {
		v := byID[row.PolicyID]
		if v == nil { // no longer in the rule set, but its notices are history
			v = &policyView{Policy: Policy{ID: row.PolicyID, Status: "removed"}, Channels: map[string]store.FunnelRow{}}
			out = append(out, v)
			byID[row.PolicyID] = v
		}
		v.Channels[row.Channel] = row
		t := &v.Total
		t.Matched += row.Matched
		t.Waiting += row.Waiting
		t.Sent += row.Sent
		t.Delivered += row.Delivered
		t.Clicked += row.Clicked
		t.Failed += row.Failed
		t.Suppressed += row.Suppressed
		t.Cancelled += row.Cancelled
		t.WaitingForChannel += row.WaitingForChannel
		t.WaitingForConsent += row.WaitingForConsent
	}
	for _, v := range out {
		v.Total.PolicyID, v.Total.Channel = v.ID, "all"
	}
	if out == nil {
		out = []*policyView{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"policies": out})
	return nil
}

func (h *Handler) preview(w http.ResponseWriter, r *http.Request, who officer.Officer) error {
	id := r.PathValue("id")
	return h.runPreview(w, r, id, nil, func(sweep.Report) store.AuditEntry {
		e := h.entry(who, ActionPreview)
		e.PolicyID = id
		return e
	})
}

// runPreview runs one preview, unless another is running (429, not
// audited: nothing ran), and stops it when its budget is spent (503):
// counts cut short would read as the whole city's, so they are not
// returned. What ran is audited, with its outcome.
func (h *Handler) runPreview(w http.ResponseWriter, r *http.Request, id string, draft []byte, audit func(sweep.Report) store.AuditEntry) error {
	select {
	case h.previewSlot <- struct{}{}:
	default:
		w.Header().Set("Retry-After", "10")
		return &Error{Status: http.StatusTooManyRequests,
			Message: "a preview is already running; try again when it has finished (previews run one at a time)"}
	}
	defer func() { <-h.previewSlot }()
	extendWrite(w, h.previewBudget+previewWrite)
	ctx, cancel := context.WithTimeout(r.Context(), h.previewBudget)
	defer cancel()
	rep, err := h.rules.Preview(ctx, id, draft)
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) && r.Context().Err() == nil {
		err = &Error{Status: http.StatusServiceUnavailable, Message: fmt.Sprintf(
			"the preview ran out of its time budget of %s after %d profiles; what it counted so far is not reported, since it would read as the whole (POLICYPUSH_PREVIEW_BUDGET sets the budget)",
			h.previewBudget, rep.Profiles)}
	}
	if err := h.auditAfter(r.Context(), audit(rep), err); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}

// previewDraft previews a rule file that is not in force: the body is the
// file's YAML.
func (h *Handler) previewDraft(w http.ResponseWriter, r *http.Request, who officer.Officer) error {
	body, err := io.ReadAll(r.Body)
	if _, tooLarge := errors.AsType[*http.MaxBytesError](err); tooLarge {
		return err // 413: a cut draft would be evaluated as another rule
	}
	if err != nil {
		return badRequest("reading the body: %v", err)
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return badRequest("the request needs a rule file (YAML) as its body")
	}
	return h.runPreview(w, r, "", body, func(rep sweep.Report) store.AuditEntry {
		e := h.entry(who, ActionPreviewDraft)
		e.PolicyID, e.Detail = rep.PolicyID, map[string]any{"bytes": len(body)}
		return e
	})
}

// subject answers "why was I notified": the subject's matches with their
// explanations and notices. Contacts are masked.
func (h *Handler) subject(w http.ResponseWriter, r *http.Request, who officer.Officer) error {
	typ, id, err := subjectOf(r)
	if err != nil {
		return err
	}
	v, err := h.store.Subject(r.Context(), store.SubjectKey{Type: typ, ID: id})
	notFound := errors.Is(err, store.ErrNotFound)
	if err != nil && !notFound {
		return err // nothing was read, nothing to audit
	}
	// Audited before anything is answered, found or not: who asked about
	// whom is what a complaint needs to know.
	e := h.entry(who, ActionSubjectRead)
	e.SubjectType, e.SubjectID, e.Detail = typ, id, map[string]any{"found": !notFound}
	if err := h.store.Audit(r.Context(), e); err != nil {
		return err
	}
	if notFound {
		return &Error{Status: http.StatusNotFound, Message: fmt.Sprintf("no %s %q is known", typ, id)}
	}
	if err := h.redact(&v); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// redact withholds, in each stored explanation, the values of sensitive
// and contact fields (see rules.Redact): the view masks the contacts, and
// an explanation must not show them either.
func (h *Handler) redact(v *store.SubjectView) error {
	for i := range v.Matches {
		x, err := rules.Redact(v.Matches[i].Explanation, h.marks)
		if err != nil {
			return err
		}
		v.Matches[i].Explanation = x
	}
	return nil
}

// sweeps reports the progress of the latest backfills and time sweeps.
func (h *Handler) sweeps(w http.ResponseWriter, r *http.Request, who officer.Officer) error {
	list, err := h.store.Sweeps(r.Context(), 50)
	if err != nil {
		return err
	}
	if list == nil {
		list = []store.Sweep{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"sweeps": list})
	return nil
}

func (h *Handler) reload(w http.ResponseWriter, r *http.Request, who officer.Officer) error {
	n, err := h.rules.Reload(r.Context())
	e := h.entry(who, ActionReload)
	if err == nil {
		e.Detail = map[string]any{"policies": n}
	}
	if err := h.auditAfter(r.Context(), e, err); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"policies": n, "reloaded_at": h.now()})
	return nil
}
