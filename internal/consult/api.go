package consult

import (
	"encoding/json"
	"errors"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/policypush/policypush/internal/httpapi"
	"github.com/policypush/policypush/internal/rules"
)

// listItem is one draft of GET /public/consultations (CONTRACTS §9);
// url, department and reach_as_of are additions.
type listItem struct {
	PolicyID   string `json:"policy_id"`
	Title      string `json:"title"`
	Department string `json:"department"`
	From       string `json:"from"`
	Until      string `json:"until"`
	// Reach is null until the first estimate is made.
	Reach     *Reach `json:"reach"`
	ReachAsOf string `json:"reach_as_of,omitempty"` // the day the estimate evaluated
	URL       string `json:"url"`
}

// detail is GET /public/consultations/{id}: a draft whose consultation has
// begun, open or closed.
type detail struct {
	listItem
	Description string         `json:"description,omitempty"`
	Source      rules.Source   `json:"source"`
	ValidFrom   string         `json:"valid_from"`
	ValidUntil  string         `json:"valid_until,omitempty"`
	Open        bool           `json:"open"`
	Conditions  []conditionOut `json:"conditions"`
	Comments    *commentsOut   `json:"comments,omitempty"` // after the window
}

type conditionOut struct {
	Name string `json:"name"`
}

// commentsOut is what the public sees of a closed consultation's
// comments: how many, and the adopted ones whose text an officer made
// visible.
type commentsOut struct {
	Received int          `json:"received"`
	Adopted  int          `json:"adopted"`
	Shown    []adoptedOut `json:"shown"`
}

type adoptedOut struct {
	Name  string `json:"name,omitempty"`
	Text  string `json:"text"`
	Reply string `json:"reply,omitempty"`
}

func date(t time.Time) string { return t.In(rules.Shanghai).Format(time.DateOnly) }

func (s *Service) item(p *rules.Policy) listItem {
	it := listItem{PolicyID: p.ID, Title: p.Title, Department: p.Department,
		From: date(p.Consultation.From), Until: date(p.Consultation.Until),
		URL: "/consultations/" + url.PathEscape(p.ID)}
	if e, ok := s.estimate(p); ok {
		r := e.Reach
		it.Reach, it.ReachAsOf = &r, date(e.At)
	}
	return it
}

func (s *Service) listJSON(w http.ResponseWriter, r *http.Request) {
	out := []listItem{}
	for _, d := range s.drafts(s.cfg.Now()) {
		if d.Open {
			out = append(out, s.item(d.Policy))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"consultations": out})
}

func (s *Service) detail(r *http.Request, d Draft) (detail, error) {
	p := d.Policy
	out := detail{listItem: s.item(p), Description: p.Description, Source: p.Source,
		ValidFrom: date(p.ValidFrom), Open: d.Open, Conditions: []conditionOut{}}
	if p.ValidUntil != nil {
		out.ValidUntil = date(*p.ValidUntil)
	}
	for _, c := range p.Conditions {
		out.Conditions = append(out.Conditions, conditionOut{Name: c.Name})
	}
	if d.Closed {
		st, err := s.st.CommentStats(r.Context(), p.ID)
		if err != nil {
			return out, err
		}
		c := &commentsOut{Received: st.Received, Adopted: st.Adopted, Shown: []adoptedOut{}}
		for _, a := range st.Shown {
			c.Shown = append(c.Shown, adoptedOut{Name: a.Name, Text: a.Text, Reply: a.Reply})
		}
		out.Comments = c
	}
	return out, nil
}

func (s *Service) oneJSON(w http.ResponseWriter, r *http.Request) {
	d, ok := s.draft(r.PathValue("id"), s.cfg.Now())
	if !ok {
		writeJSON(w, http.StatusNotFound, errorBody{"no draft out for comment with this id"})
		return
	}
	out, err := s.detail(r, d)
	if err != nil {
		s.cfg.Log.ErrorContext(r.Context(), "consult: read comments", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, errorBody{"temporarily unavailable, try again later"})
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// commentBody is POST /public/consultations/{id}/comments.
type commentBody struct {
	Text string `json:"text"`
	Name string `json:"name"`
}

// maxCommentBody bounds the JSON of a comment: 2000 characters of up to 4
// bytes each, escaped, with room to spare.
const maxCommentBody = 32 << 10

func (s *Service) commentJSON(w http.ResponseWriter, r *http.Request) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		writeJSON(w, http.StatusUnsupportedMediaType, errorBody{"Content-Type must be application/json"})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxCommentBody)
	var b commentBody
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(&b)
	// Anything after the object is refused too: {"text":"…"}{"text":"…"}
	// would otherwise post only the first, silently.
	after := false
	if err == nil {
		if err = dec.Decode(&struct{}{}); errors.Is(err, io.EOF) {
			err = nil
		} else if _, tooLarge := errors.AsType[*http.MaxBytesError](err); !tooLarge {
			after = true
		}
	}
	if err != nil {
		if _, tooLarge := errors.AsType[*http.MaxBytesError](err); tooLarge {
			writeJSON(w, http.StatusRequestEntityTooLarge, errorBody{"request body too large"})
			return
		}
		writeJSON(w, http.StatusBadRequest, errorBody{malformed(err, after)})
		return
	}
	id, err := s.Comment(r.Context(), r.PathValue("id"), b.Name, b.Text, httpapi.ClientIP(r, s.cfg.TrustedProxies))
	var in *InputError
	var rl *RateLimitedError
	switch {
	case err == nil:
		writeJSON(w, http.StatusCreated, map[string]any{"id": id, "status": "pending"})
	case errors.Is(err, ErrNotFound):
		writeJSON(w, http.StatusNotFound, errorBody{"no draft out for comment with this id"})
	case errors.Is(err, ErrClosed):
		writeJSON(w, http.StatusConflict, errorBody{"the consultation has ended; comments are no longer taken"})
	case errors.As(err, &in):
		writeJSON(w, http.StatusBadRequest, errorBody{in.Message})
	case errors.As(err, &rl):
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(rl.Retry.Seconds()))))
		writeJSON(w, http.StatusTooManyRequests, errorBody{rl.Error()})
	default:
		s.cfg.Log.ErrorContext(r.Context(), "consult: store a comment", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, errorBody{"temporarily unavailable, try again later"})
	}
}

// malformed is the 400 answer to a body that is not the JSON asked for
// (after: data follows the object). It is one of a few fixed messages,
// never encoding/json's text, which quotes the character it stopped at:
// a character of the comment, which is personal.
func malformed(err error, after bool) string {
	var typ *json.UnmarshalTypeError
	switch key, unknown := unknownField(err); {
	case after:
		return "malformed JSON body: data after the object"
	case errors.Is(err, io.EOF):
		return "malformed JSON body: empty body"
	case unknown && key != "":
		return "malformed JSON body: unknown field " + key + `; only "text" and "name" are taken`
	case unknown:
		return `malformed JSON body: unknown field; only "text" and "name" are taken`
	case errors.As(err, &typ):
		return `malformed JSON body: "text" and "name" must be strings`
	default:
		return "malformed JSON body: not a JSON object"
	}
}

// unknownField says whether err is encoding/json's for a key
// DisallowUnknownFields refuses, and returns the key, quoted, when it is a
// short name of ASCII letters and _ (what a misspelt key is); "" otherwise
// — a number, say, or Chinese text — so that nothing personal is ever
// echoed. encoding/json has no type for this error, only its text.
func unknownField(err error) (key string, unknown bool) {
	key, ok := strings.CutPrefix(err.Error(), "json: unknown field ")
	if !ok {
		return "", false
	}
	name, quoted := strings.CutPrefix(key, `"`)
	name, closed := strings.CutSuffix(name, `"`)
	if !quoted || !closed || name == "" || len(name) > 20 {
		return "", true
	}
	for _, c := range name {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return "", true
		}
	}
	return key, true
}

type errorBody struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // "<10" reads as written
	_ = enc.Encode(v)        // the client went away: nothing to do
}
