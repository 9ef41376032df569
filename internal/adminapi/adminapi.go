// Package adminapi serves the operators' and officers' JSON API under /api
// (CONTRACTS.md §6). Every request needs Authorization: Bearer with the
// admin token; every error is JSON with a message.
//
// It serves the policies with their funnels, impact previews, one
// subject's matches and notices ("why was I notified"), opt-outs, the
// requeue of dead notices, sweep (backfill) progress and rule reloads.
package adminapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/policypush/policypush/internal/profile"
	"github.com/policypush/policypush/internal/rules"
	"github.com/policypush/policypush/internal/store"
	"github.com/policypush/policypush/internal/sweep"
)

var _ Store = (*store.Store)(nil)

// Store is what the API reads and changes; *store.Store implements it.
type Store interface {
	OptOut(ctx context.Context, k store.SubjectKey, channel, source string, at time.Time) error
	OptIn(ctx context.Context, k store.SubjectKey, channel string) (removed int, err error)
	RequeueDead(ctx context.Context, ids []int64, policyID string, at time.Time) ([]int64, error)
	Funnel(ctx context.Context) ([]store.FunnelRow, error)
	Subject(ctx context.Context, k store.SubjectKey) (store.SubjectView, error)
	Sweeps(ctx context.Context, limit int) ([]store.Sweep, error)
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
}

// Handler serves /api.
type Handler struct {
	store Store
	rules Rules
	token [sha256.Size]byte // compared by hash, so the comparison takes the same time whatever the length
	log   *slog.Logger
	now   func() time.Time
	marks *profile.Marks // fields whose values explanations withhold
	// One preview at a time, each within its budget: a preview evaluates
	// the policy for every stored profile, and many at once would starve
	// the live pipeline of the database.
	previewSlot   chan struct{}
	previewBudget time.Duration
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

// New returns the API. token must not be empty: an API without one would
// be open to anyone who reaches the port.
func New(st Store, rs Rules, token string, log *slog.Logger, now func() time.Time) (*Handler, error) {
	if token == "" {
		return nil, errors.New("adminapi: the admin token is required")
	}
	marks, err := profile.LoadMarks()
	if err != nil {
		return nil, fmt.Errorf("adminapi: %w", err)
	}
	return &Handler{store: st, rules: rs, token: sha256.Sum256([]byte(token)), log: log, now: now, marks: marks,
		previewSlot: make(chan struct{}, 1), previewBudget: DefaultPreviewBudget}, nil
}

// Register adds the API's routes to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	handle := func(pattern string, f func(w http.ResponseWriter, r *http.Request) error) {
		mux.Handle(pattern, h.auth(f))
	}
	handle("POST /api/subjects/{type}/{id}/opt-outs", h.optOut)
	handle("DELETE /api/subjects/{type}/{id}/opt-outs/{channel}", h.optIn)
	handle("POST /api/notices/requeue", h.requeue)
	handle("GET /api/policies", h.policies)
	handle("GET /api/policies/{id}/preview", h.preview)
	handle("POST /api/policies/preview", h.previewDraft)
	handle("GET /api/subjects/{type}/{id}", h.subject)
	handle("GET /api/sweeps", h.sweeps)
	handle("POST /api/rules/reload", h.reload)
	// Anything else under /api is a JSON 404, after authentication, so
	// that the API's shape is not visible without the token.
	handle("/api/", func(http.ResponseWriter, *http.Request) error {
		return &Error{Status: http.StatusNotFound, Message: "no such endpoint"}
	})
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

// auth checks the bearer token and turns the handler's error into JSON.
func (h *Handler) auth(f func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		sum := sha256.Sum256([]byte(got))
		if !ok || subtle.ConstantTimeCompare(sum[:], h.token[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="policypush"`)
			writeJSON(w, http.StatusUnauthorized, errorBody{"missing or wrong bearer token"})
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
		err := f(w, r)
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
		return badRequest("malformed JSON body: %v", err)
	}
	if dec.More() {
		return badRequest("malformed JSON body: more than one value")
	}
	return nil
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
func (h *Handler) optOut(w http.ResponseWriter, r *http.Request) error {
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
	at := h.now()
	if err := h.store.OptOut(r.Context(), store.SubjectKey{Type: typ, ID: id}, body.Channel, "admin", at); err != nil {
		return err
	}
	h.log.InfoContext(r.Context(), "opt-out recorded", "subject_type", typ, "subject_id", id, "channel", body.Channel, "source", "admin")
	writeJSON(w, http.StatusOK, map[string]any{
		"subject_type": typ, "subject_id": id, "channel": body.Channel, "source": "admin", "at": at,
	})
	return nil
}

// optIn removes every recorded opt-out of a channel for a subject.
func (h *Handler) optIn(w http.ResponseWriter, r *http.Request) error {
	typ, id, err := subjectOf(r)
	if err != nil {
		return err
	}
	channel := r.PathValue("channel")
	if err := checkChannel(channel); err != nil {
		return err
	}
	n, err := h.store.OptIn(r.Context(), store.SubjectKey{Type: typ, ID: id}, channel)
	if err != nil {
		return err
	}
	h.log.InfoContext(r.Context(), "opt-outs removed", "subject_type", typ, "subject_id", id, "channel", channel, "removed", n)
	writeJSON(w, http.StatusOK, map[string]any{"subject_type": typ, "subject_id": id, "channel": channel, "removed": n})
	return nil
}

// requeue gives dead notices another chance once their cause is fixed (a
// provider outage, a wrong template), and resends notices of unknown
// outcome (status unknown) once an officer decides a possible duplicate is
// better than a possible loss. It needs an explicit selection, so that an
// empty body never requeues everything by accident.
func (h *Handler) requeue(w http.ResponseWriter, r *http.Request) error {
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
	ids, err := h.store.RequeueDead(r.Context(), body.IDs, body.PolicyID, h.now())
	if err != nil {
		return err
	}
	if ids == nil {
		ids = []int64{}
	}
	h.log.InfoContext(r.Context(), "dead and unknown notices requeued", "count", len(ids), "policy", body.PolicyID)
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
func (h *Handler) policies(w http.ResponseWriter, r *http.Request) error {
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

func (h *Handler) preview(w http.ResponseWriter, r *http.Request) error {
	return h.runPreview(w, r, r.PathValue("id"), nil)
}

// runPreview runs one preview, unless another is running (429), and stops
// it when its budget is spent (503): counts cut short would read as the
// whole city's, so they are not returned.
func (h *Handler) runPreview(w http.ResponseWriter, r *http.Request, id string, draft []byte) error {
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
		return &Error{Status: http.StatusServiceUnavailable, Message: fmt.Sprintf(
			"the preview ran out of its time budget of %s after %d profiles; what it counted so far is not reported, since it would read as the whole (POLICYPUSH_PREVIEW_BUDGET sets the budget)",
			h.previewBudget, rep.Profiles)}
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}

// previewDraft previews a rule file that is not in force: the body is the
// file's YAML.
func (h *Handler) previewDraft(w http.ResponseWriter, r *http.Request) error {
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
	return h.runPreview(w, r, "", body)
}

// subject answers "why was I notified": the subject's matches with their
// explanations and notices. Contacts are masked.
func (h *Handler) subject(w http.ResponseWriter, r *http.Request) error {
	typ, id, err := subjectOf(r)
	if err != nil {
		return err
	}
	v, err := h.store.Subject(r.Context(), store.SubjectKey{Type: typ, ID: id})
	if errors.Is(err, store.ErrNotFound) {
		return &Error{Status: http.StatusNotFound, Message: fmt.Sprintf("no %s %q is known", typ, id)}
	}
	if err != nil {
		return err
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
func (h *Handler) sweeps(w http.ResponseWriter, r *http.Request) error {
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

func (h *Handler) reload(w http.ResponseWriter, r *http.Request) error {
	n, err := h.rules.Reload(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"policies": n, "reloaded_at": h.now()})
	return nil
}
