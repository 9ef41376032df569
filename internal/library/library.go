// Package library serves the public policy library and the self-check
// (CONTRACTS §9): every policy of the rule set in force, by domain and
// subject, with its state, conditions, parameters, amount, next steps and
// version history, as JSON under /public/policies and as pages under
// /policies; and the self-check, POST /public/check and the /check page,
// on the same rule set and engine as the push. No sign-in; served on the
// public listener. Nothing a person types is stored or logged.
package library

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/policypush/policypush/internal/httpapi"
	"github.com/policypush/policypush/internal/profile"
	"github.com/policypush/policypush/internal/rules"
	"github.com/policypush/policypush/internal/selfcheck"
)

// Options configures New.
type Options struct {
	// Rules returns the rule set in force: the one the push uses.
	Rules func() *rules.Set
	// Notified returns, by policy id, how many subjects have been sent a
	// notice of it; nil: the pages do not say.
	Notified func(ctx context.Context) (map[string]int64, error)
	Checker  *selfcheck.Checker
	Fields   *selfcheck.Dictionary
	Seg      *Segmenter
	Now      func() time.Time // nil: time.Now
	Log      *slog.Logger     // nil: slog.Default()
}

// Library serves the library's and the self-check's routes.
type Library struct {
	o Options

	mu  sync.Mutex // guards set and idx
	set *rules.Set // the set idx indexes
	idx *Index

	countMu sync.Mutex // one count query at a time; guards count
	count   struct {
		at time.Time
		n  map[string]int64
	}
	page  pages
	words map[profile.Kind]wording
}

// notifiedTTL is how long the aggregate counts are kept: they are a
// funnel query over every match, and the page needs no fresher number.
const notifiedTTL = time.Minute

// maxQuery bounds a search, in characters: a question, not a document.
const maxQuery = 100

// maxCheckBody bounds POST /public/check and the /check form.
const maxCheckBody = 64 << 10

// The years a self-check's at may name: those a rule's dates and the
// holiday calendar can speak of. Outside them every answer would be
// empty or meaningless, and the asker has surely mistyped.
const (
	minCheckYear = 2000
	maxCheckYear = 2100
)

// New returns the library over o.
func New(o Options) (*Library, error) {
	if o.Rules == nil || o.Checker == nil || o.Fields == nil || o.Seg == nil {
		return nil, errors.New("library: Rules, Checker, Fields and Seg are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	l := &Library{o: o, words: map[profile.Kind]wording{}}
	for _, kind := range []profile.Kind{profile.KindResident, profile.KindEnterprise} {
		w := wording{labels: map[string]string{}}
		for _, f := range o.Fields.Fields(kind) {
			for _, c := range f.Choices {
				if _, ok := w.labels[c.Value]; !ok {
					w.labels[c.Value] = c.Label
				}
			}
		}
		l.words[kind] = w
	}
	if err := l.page.init(); err != nil {
		return nil, err
	}
	return l, nil
}

// Register mounts the routes on mux.
func (l *Library) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /public/policies", l.listJSON)
	mux.HandleFunc("GET /public/policies/{id}", l.policyJSON)
	mux.HandleFunc("POST /public/check", l.checkJSON)
	mux.HandleFunc("GET /policies", l.listPage)
	mux.HandleFunc("GET /policies/{id}", l.policyPage)
	mux.HandleFunc("GET /check", l.checkPage)
	mux.HandleFunc("POST /check", l.checkPage)
	mux.HandleFunc("GET /check/assets/{asset}", l.asset)
}

// index returns the search index of set, built once per set.
func (l *Library) index(set *rules.Set) *Index {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.set != set {
		rs := make([]*rules.Rule, 0, len(set.Policies()))
		for _, p := range set.Policies() {
			rs = append(rs, p.Rule)
		}
		l.set, l.idx = set, NewIndex(l.o.Seg, rs)
	}
	return l.idx
}

// notified returns the aggregate counts, or nil when they are not known.
func (l *Library) notified(ctx context.Context) map[string]int64 {
	if l.o.Notified == nil {
		return nil
	}
	l.countMu.Lock()
	defer l.countMu.Unlock()
	if l.count.n != nil && time.Since(l.count.at) < notifiedTTL {
		return l.count.n
	}
	n, err := l.o.Notified(ctx)
	if err != nil {
		l.o.Log.WarnContext(ctx, "library: notified counts", "err", err)
		return l.count.n
	}
	l.count.at, l.count.n = time.Now(), n
	return n
}

// Summary is one policy in GET /public/policies. Keep every JSON name
// (CONTRACTS §9).
type Summary struct {
	ID         string       `json:"id"`
	Title      string       `json:"title"`
	Domain     string       `json:"domain"`
	Subject    string       `json:"subject"`
	Department string       `json:"department"`
	State      string       `json:"state"`
	ValidFrom  string       `json:"valid_from"`
	ValidUntil *string      `json:"valid_until"`
	Source     rules.Source `json:"source"`
}

// Detail is GET /public/policies/{id}.
type Detail struct {
	Summary
	Conditions []Condition             `json:"conditions"`
	Params     map[string][]ParamValue `json:"params"`
	Apply      Apply                   `json:"apply"`
	Versions   []rules.VersionChange   `json:"versions"`
	AmountRule string                  `json:"amount_rule,omitempty"` // the amount rule in words
	rule       *rules.Rule
}

// Condition is one condition in words: its name, and the standard it
// applies with its dated history.
type Condition struct {
	Name string `json:"name"`
	Text string `json:"text"`
}

// Apply is the rule's next steps (CONTRACTS §7's apply).
type Apply struct {
	Mode      string   `json:"mode"`
	How       string   `json:"how,omitempty"`
	URL       string   `json:"url,omitempty"`
	Materials []string `json:"materials,omitempty"`
	Deadline  string   `json:"deadline,omitempty"`
	Office    string   `json:"office,omitempty"`
}

func summary(r *rules.Rule, state string) Summary {
	s := Summary{ID: r.ID, Title: r.Title, Domain: r.Domain, Subject: string(r.Subject), Department: r.Department,
		State: state, ValidFrom: r.ValidFrom.Format(time.DateOnly), Source: r.Source}
	if r.ValidUntil != nil {
		u := r.ValidUntil.Format(time.DateOnly)
		s.ValidUntil = &u
	}
	return s
}

// listed returns the policies the public may see, at now.
func (l *Library) listed(set *rules.Set, now time.Time) []Summary {
	out := []Summary{}
	for _, p := range set.Policies() {
		if st, ok := State(p.Rule, now); ok {
			out = append(out, summary(p.Rule, st))
		}
	}
	return out
}

// detail returns the policy id as the public may see it, or false.
func (l *Library) detail(set *rules.Set, id string, now time.Time) (Detail, bool) {
	p := set.Policy(id)
	if p == nil {
		return Detail{}, false
	}
	st, ok := State(p.Rule, now)
	if !ok {
		return Detail{}, false
	}
	r := p.Rule
	d := Detail{Summary: summary(r, st), Conditions: []Condition{}, Params: map[string][]ParamValue{},
		Versions: append([]rules.VersionChange(nil), r.Changes...), AmountRule: l.words[r.Subject].amount(r, now), rule: r}
	for _, c := range r.Conditions {
		d.Conditions = append(d.Conditions, Condition{Name: c.Name, Text: l.words[r.Subject].params(r, c.Expr, now)})
	}
	for _, pa := range r.Params {
		vs := make([]ParamValue, len(pa.Values))
		for i, v := range pa.Values {
			vs[i] = ParamValue{From: v.From.Format(time.DateOnly), Value: v.Value}
		}
		d.Params[pa.Name] = vs
	}
	a := r.NextSteps()
	d.Apply = Apply{Mode: string(a.Mode), How: a.How, URL: a.URL, Materials: a.Materials, Office: a.Office}
	if a.Deadline != nil {
		d.Apply.Deadline = a.Deadline.Format(time.DateOnly)
	}
	if len(d.Versions) == 0 || d.Versions[0].Version != r.Version {
		d.Versions = append([]rules.VersionChange{{Version: r.Version}}, d.Versions...)
	}
	return d, true
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // the client went away: nothing to do
}

// find returns the policies the public may see that pass the filters
// domain, subject and state of q, and, with q's q, that match it, best
// first.
func (l *Library) find(set *rules.Set, now time.Time, q url.Values) []Summary {
	all := l.listed(set, now)
	keep := func(s Summary) bool {
		return (q.Get("domain") == "" || s.Domain == q.Get("domain")) &&
			(q.Get("subject") == "" || s.Subject == q.Get("subject")) && (q.Get("state") == "" || s.State == q.Get("state"))
	}
	out := []Summary{}
	text := strings.TrimSpace(q.Get("q"))
	if r := []rune(text); len(r) > maxQuery {
		text = string(r[:maxQuery])
	}
	if text == "" {
		for _, s := range all {
			if keep(s) {
				out = append(out, s)
			}
		}
		return out
	}
	byID := map[string]Summary{}
	for _, s := range all {
		byID[s.ID] = s
	}
	for _, id := range l.index(set).Search(text) {
		if s, ok := byID[id]; ok && keep(s) {
			out = append(out, s)
		}
	}
	return out
}

// listJSON is GET /public/policies; ?q= searches as the page does (best
// first), and ?domain=, ?subject= and ?state= filter.
func (l *Library) listJSON(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=60")
	writeJSON(w, http.StatusOK, map[string][]Summary{"policies": l.find(l.o.Rules(), l.o.Now(), r.URL.Query())})
}

func (l *Library) policyJSON(w http.ResponseWriter, r *http.Request) {
	d, ok := l.detail(l.o.Rules(), r.PathValue("id"), l.o.Now())
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such policy"})
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=60")
	writeJSON(w, http.StatusOK, d)
}

// checkJSON is POST /public/check. The profile is neither stored nor
// logged, and no error names a value from it.
func (l *Library) checkJSON(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		writeJSON(w, http.StatusUnsupportedMediaType, map[string]string{"error": "Content-Type must be application/json"})
		return
	}
	var req selfcheck.Request
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxCheckBody))
	// A key the contract does not name is refused: a misspelt "profle" or
	// "date" would otherwise be evaluated, silently, as an empty profile
	// or as today. So is anything after the object.
	dec.DisallowUnknownFields()
	err := dec.Decode(&req)
	if err == nil && dec.Decode(&struct{}{}) != io.EOF {
		err = errors.New("data after the object")
	}
	if err != nil {
		if _, tooLarge := errors.AsType[*http.MaxBytesError](err); tooLarge {
			httpapi.TooLarge(w, maxCheckBody)
			return
		}
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "the body must be one JSON object {subject_type, profile, at}"})
		return
	}
	at := l.o.Now()
	if req.At != "" {
		t, err := time.ParseInLocation(time.DateOnly, req.At, rules.Shanghai)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "at must be YYYY-MM-DD"})
			return
		}
		if t.Year() < minCheckYear || t.Year() > maxCheckYear {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("at must be a date from %d to %d", minCheckYear, maxCheckYear)})
			return
		}
		at = t
	}
	resp, err := l.o.Checker.Check(l.o.Rules(), profile.Kind(req.SubjectType), req.Profile, at)
	if err != nil {
		if in, ok := errors.AsType[*selfcheck.InputError](err); ok {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": in.Message})
			return
		}
		l.o.Log.ErrorContext(r.Context(), "library: self-check failed") // the error may hold the profile's values
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "try again later"})
		return
	}
	writeJSON(w, http.StatusOK, resp)
}
