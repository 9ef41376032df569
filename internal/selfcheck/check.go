// Package selfcheck is the public self-check (CONTRACTS §9, POST
// /public/check and the /check page): it evaluates a partial profile that
// a person types against the rule set the service pushes with, on the same
// engine, and says per policy 符合, 不符合 or 可能符合 with the questions that
// would decide it. Nothing it is given is stored or logged.
package selfcheck

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/policypush/policypush/internal/profile"
	"github.com/policypush/policypush/internal/rules"
)

// Request is POST /public/check's body.
type Request struct {
	SubjectType string          `json:"subject_type"`
	Profile     json.RawMessage `json:"profile"`
	At          string          `json:"at,omitempty"` // YYYY-MM-DD; empty: now
}

// Response is its answer. Keep every JSON name (CONTRACTS §9).
type Response struct {
	Results      []Result `json:"results"`
	NextQuestion string   `json:"next_question"` // a field path; "" when nothing is left to ask
}

// Result is one policy's verdict. Result, Failed, Unknown and Amount mean
// what they mean in policyctl match.
type Result struct {
	PolicyID string `json:"policy_id"`
	// PolicyVersion is the version evaluated: the one the push uses.
	PolicyVersion int      `json:"policy_version"`
	Title         string   `json:"title"`
	Result        string   `json:"result"`
	Failed        []string `json:"failed"`
	Unknown       []string `json:"unknown"`
	Ask           []string `json:"ask"` // the fields whose answers would decide the unknown conditions
	Amount        *float64 `json:"amount"`

	// For the page.
	Policy *rules.Policy `json:"-"`
}

// InputError is a request the person must correct; its message is safe to
// show them (it names fields, never what was typed).
type InputError struct{ Message string }

func (e *InputError) Error() string { return e.Message }

// Checker runs self-checks. It is safe for concurrent use.
type Checker struct {
	v    *profile.Validator
	dict *Dictionary
}

// New returns a Checker that validates profiles with v and orders its
// questions by dict.
func New(v *profile.Validator, dict *Dictionary) *Checker { return &Checker{v: v, dict: dict} }

// placeholderIDs stand in for the id a self-check's profile need not give:
// the schema requires one, and the rules never read it.
var placeholderIDs = map[profile.Kind][2]string{
	profile.KindResident:   {"person_id", "self-check"},
	profile.KindEnterprise: {"uscc", "000000000000000000"},
}

// Check evaluates raw, a partial profile of kind, against every policy of
// set that applies at at, as policyctl match --all does. The contact and
// channel objects are dropped unread: they decide no eligibility.
func (c *Checker) Check(set *rules.Set, kind profile.Kind, raw json.RawMessage, at time.Time) (Response, error) {
	if !kind.Valid() {
		return Response{}, &InputError{Message: `subject_type must be "resident" or "enterprise"`}
	}
	doc := map[string]any{}
	if len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, &doc); err != nil {
			return Response{}, &InputError{Message: "profile must be a JSON object"}
		}
	}
	for _, k := range []string{"contact", "contacts", "channels", "consent"} {
		delete(doc, k)
	}
	id := placeholderIDs[kind]
	if _, ok := doc[id[0]]; !ok {
		doc[id[0]] = id[1]
	}
	data, err := json.Marshal(doc)
	if err != nil {
		return Response{}, &InputError{Message: "profile must be a JSON object"}
	}
	subject, err := c.v.Decode(kind, data)
	if err != nil {
		if inv, ok := errors.AsType[*profile.InvalidError](err); ok {
			return Response{}, &InputError{Message: "profile: " + strings.Join(inv.Problems, "; ")}
		}
		return Response{}, &InputError{Message: "profile does not fit the schema"}
	}
	in, err := set.Prepare(subject)
	if err != nil {
		return Response{}, fmt.Errorf("selfcheck: %w", err)
	}
	inst := set.At(at)
	ev := set.NewEvaluator()
	resp := Response{Results: []Result{}}
	for _, p := range set.Policies() {
		if p.Subject != kind || !p.Applies(inst) {
			continue
		}
		o := ev.Evaluate(p, in, inst)
		r := Result{PolicyID: p.ID, PolicyVersion: p.Version, Title: p.Title, Result: o.Result.String(),
			Failed: p.Names(o.Failed), Unknown: p.Names(o.Unknown), Ask: []string{}, Policy: p}
		if r.Failed == nil {
			r.Failed = []string{}
		}
		if r.Unknown == nil {
			r.Unknown = []string{}
		}
		if o.HasAmount {
			a := o.Amount
			r.Amount = &a
		}
		if o.Result == rules.Unknown {
			r.Ask = c.ask(kind, p, ev.ExplainOutcome(p, in, inst, o))
		}
		resp.Results = append(resp.Results, r)
	}
	resp.NextQuestion = c.next(kind, resp.Results)
	return resp, nil
}

var index = regexp.MustCompile(`\[\d+\]`)

// ask lists the fields whose absence made p's unknown conditions unknown,
// in the dictionary's order: those the explanation names (only the ones
// that decided), else every field the condition reads.
func (c *Checker) ask(kind profile.Kind, p *rules.Policy, x *rules.Explanation) []string {
	set := map[string]bool{}
	for _, t := range x.Conditions {
		if t.Verdict != rules.VerdictUnknown.String() {
			continue
		}
		missing := t.Missing
		if len(missing) == 0 {
			missing = p.ConditionFields(t.Name)
		}
		for _, m := range missing {
			m = strings.TrimPrefix(m, string(kind)+".")
			m = index.ReplaceAllString(m, "[]")
			set[m] = true
		}
	}
	out := make([]string, 0, len(set))
	for f := range set {
		out = append(out, f)
	}
	c.sort(kind, out)
	return out
}

func (c *Checker) sort(kind profile.Kind, fs []string) {
	sort.Slice(fs, func(i, j int) bool {
		oi, oj := c.dict.order(kind, fs[i]), c.dict.order(kind, fs[j])
		if oi != oj {
			return oi < oj
		}
		return fs[i] < fs[j]
	})
}

// next is the question that decides the most policies still unknown: the
// field most of their ask lists name; a tie goes to the field the
// dictionary lists first, the order a form asks in.
func (c *Checker) next(kind profile.Kind, rs []Result) string {
	count := map[string]int{}
	for _, r := range rs {
		for _, f := range r.Ask {
			count[f]++
		}
	}
	fs := make([]string, 0, len(count))
	for f := range count {
		fs = append(fs, f)
	}
	c.sort(kind, fs)
	best := ""
	for _, f := range fs {
		if best == "" || count[f] > count[best] {
			best = f
		}
	}
	return best
}

// Asked lists the fields the policies of kind that apply at at read, in the
// dictionary's order: the questions of the form. A field of an array
// element comes with its list.
func (c *Checker) Asked(set *rules.Set, kind profile.Kind, at time.Time) []string {
	inst := set.At(at)
	seen := map[string]bool{}
	for _, p := range set.Policies() {
		if p.Subject != kind || !p.Applies(inst) {
			continue
		}
		for _, f := range p.Fields() {
			seen[f] = true
			if l := ListOf(f); l != "" {
				seen[l] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for f := range seen {
		out = append(out, f)
	}
	c.sort(kind, out)
	return slices.Clip(out)
}
