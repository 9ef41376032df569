package noticepage

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"
)

// MaxNoteRunes is the longest note a dispute may carry, in characters.
const MaxNoteRunes = 500

// maxAnswerBytes bounds an answer's body: a note of MaxNoteRunes Chinese
// characters (3 bytes each in UTF-8, up to 6 escaped) and a few condition
// names fit well within it.
const maxAnswerBytes = 16 << 10

// apiCSP is the Content-Security-Policy of every JSON answer: a JSON body
// loads nothing, runs nothing, and is framed by no one.
const apiCSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// API serves the notice's JSON endpoints (CONTRACTS §7) for outside apps:
// GET /public/notices/{token} and the three answers, POST
// /public/notices/{token}/claim, /dispute and /stop.
type API struct {
	n         Notices
	publicURL string
	log       *slog.Logger
}

// APIOptions configures NewAPI.
type APIOptions struct {
	// PublicURL is POLICYPUSH_PUBLIC_URL as set, without a trailing
	// slash: the links of others[] are absolute under it, for the outside
	// apps (a mini-program, the city's app) that show them away from this
	// origin. "" (not configured): they stay paths, /n/{token}.
	PublicURL string
	Log       *slog.Logger // nil: slog.Default()
}

// NewAPI returns the JSON endpoints over n.
func NewAPI(n Notices, opts APIOptions) *API {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	return &API{n: n, publicURL: strings.TrimRight(opts.PublicURL, "/"), log: opts.Log}
}

// Register adds the endpoints to mux.
func (a *API) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /public/notices/{token}", a.view)
	mux.HandleFunc("POST /public/notices/{token}/claim", a.claim)
	mux.HandleFunc("POST /public/notices/{token}/dispute", a.dispute)
	mux.HandleFunc("POST /public/notices/{token}/stop", a.stop)
}

type claimRequest struct {
	Confirm bool `json:"confirm"`
}

type disputeRequest struct {
	Conditions []string `json:"conditions"`
	Note       string   `json:"note"`
}

type stopRequest struct {
	Scope string `json:"scope"`
}

func (a *API) view(w http.ResponseWriter, r *http.Request) {
	v, err := a.n.View(r.Context(), r.PathValue("token"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	// Never null in the JSON: outside apps iterate them.
	if v.Conditions == nil {
		v.Conditions = []Condition{}
	}
	if v.Actions == nil {
		v.Actions = []string{}
	}
	others := make([]Other, 0, len(v.Others))
	for _, o := range v.Others {
		if a.publicURL != "" && strings.HasPrefix(o.Link, "/") {
			o.Link = a.publicURL + o.Link
		}
		others = append(others, o)
	}
	v.Others = others
	apiWrite(w, http.StatusOK, v)
}

func (a *API) claim(w http.ResponseWriter, r *http.Request) {
	var req claimRequest
	if !a.decode(w, r, &req) {
		return
	}
	status, err := a.n.Claim(r.Context(), r.PathValue("token"), req.Confirm)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	apiWrite(w, http.StatusOK, map[string]string{"status": status})
}

func (a *API) dispute(w http.ResponseWriter, r *http.Request) {
	var req disputeRequest
	if !a.decode(w, r, &req) {
		return
	}
	if len(req.Conditions) == 0 {
		a.fail(w, r, &InputError{Message: "请选择有误的条件"})
		return
	}
	if utf8.RuneCountInString(req.Note) > MaxNoteRunes {
		a.fail(w, r, &InputError{Message: "补充说明不能超过500字"})
		return
	}
	id, err := a.n.Dispute(r.Context(), r.PathValue("token"), req.Conditions, req.Note)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	apiWrite(w, http.StatusOK, map[string]int64{"correction_id": id})
}

func (a *API) stop(w http.ResponseWriter, r *http.Request) {
	var req stopRequest
	if !a.decode(w, r, &req) {
		return
	}
	if req.Scope != StopPolicy && req.Scope != StopAll {
		a.fail(w, r, &InputError{Message: `scope 须为 "policy" 或 "all"`})
		return
	}
	if err := a.n.Stop(r.Context(), r.PathValue("token"), req.Scope); err != nil {
		a.fail(w, r, err)
		return
	}
	apiWrite(w, http.StatusOK, map[string]string{"stopped": req.Scope})
}

// decode reads a JSON answer's body into v; on failure it has answered
// (415 for another content type, 413 for a body too large, 400 for one
// that is not the JSON asked for). An empty body is {}. A key the answer
// does not name is refused, not dropped: a misspelt "notes" would
// otherwise record a dispute without its note. So is anything after the
// object.
func (a *API) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		apiWrite(w, http.StatusUnsupportedMediaType, map[string]string{"error": "Content-Type must be application/json"})
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAnswerBytes))
	dec.DisallowUnknownFields()
	err = dec.Decode(v)
	if err == nil {
		if err = dec.Decode(&struct{}{}); errors.Is(err, io.EOF) {
			return true
		} else if !isTooLarge(err) {
			apiWrite(w, http.StatusBadRequest, map[string]string{"error": "请求只能是一个 JSON 对象，其后不能再有内容"})
			return false
		}
	}
	switch {
	case errors.Is(err, io.EOF):
		return true // an empty body
	case isTooLarge(err):
		apiWrite(w, http.StatusRequestEntityTooLarge, map[string]string{"error": "请求内容过长"})
	case unknownField(err) != "":
		apiWrite(w, http.StatusBadRequest, map[string]string{"error": "请求含有未知的字段 " + unknownField(err)})
	default:
		apiWrite(w, http.StatusBadRequest, map[string]string{"error": "请求不是所需的 JSON"})
	}
	return false
}

func isTooLarge(err error) bool {
	_, ok := errors.AsType[*http.MaxBytesError](err)
	return ok
}

// unknownField returns the quoted key of encoding/json's error for a key
// DisallowUnknownFields refuses, or "" for any other error or a key too
// long to echo. encoding/json has no type for this error, only its text.
func unknownField(err error) string {
	key, ok := strings.CutPrefix(err.Error(), "json: unknown field ")
	if !ok || utf8.RuneCountInString(key) > 40 {
		return ""
	}
	return key
}

// fail answers err: the same 404 for an unknown and an expired token, 400
// with the message for an InputError, 503 (logged, not echoed) otherwise.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	var in *InputError
	switch {
	case errors.Is(err, ErrNotFound):
		apiWrite(w, http.StatusNotFound, map[string]string{"error": "链接无效或已过期"})
	case errors.As(err, &in):
		apiWrite(w, http.StatusBadRequest, map[string]string{"error": in.Message})
	case errors.Is(err, context.Canceled):
		// The person went away; nothing to answer.
	default:
		// The token is the credential: it is not logged.
		a.log.Error("notice answer failed", "route", r.Pattern, "error", err)
		apiWrite(w, http.StatusServiceUnavailable, map[string]string{"error": "服务暂时不可用，请稍后再试"})
	}
}

// apiWrite writes a JSON answer with the headers every answer carries: it
// is personal (no-store), and loads and runs nothing.
func apiWrite(w http.ResponseWriter, code int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", apiCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v) // the client went away: nothing to do
}
