package rules

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// meaningVersion names the canonical encoding below. Changing the encoding
// must change it, so that a stored hash is never compared with one made
// another way.
const meaningVersion = "policypush-meaning-v1"

// meaning is what decides who a policy notifies and what it tells them:
// the subject kind, conditions, params, amount, validity and status.
// Title, description, department, source and the notify wording are left
// out, and so are the conditions' names, which are wording too: changing
// them changes no one's eligibility. Field order is fixed by the struct.
type meaning struct {
	Encoding   string         `json:"encoding"`
	Subject    string         `json:"subject"`
	Status     string         `json:"status"`
	ValidFrom  string         `json:"valid_from"`
	ValidUntil string         `json:"valid_until"` // "" when open-ended
	Conditions []string       `json:"conditions"`  // sorted: a policy needs all of them, in any order
	Amount     string         `json:"amount"`
	Params     []meaningParam `json:"params"` // by name
}

type meaningParam struct {
	Name   string         `json:"name"`
	Values []meaningValue `json:"values"`
}

type meaningValue struct {
	From  string `json:"from"`
	Value any    `json:"value"`
}

// MeaningHash returns a stable hash of r's meaning, as lower-case hex
// sha256. Two files with the same id and version must hash alike; layout,
// comments, key order, whitespace between an expression's tokens and
// wording do not change it.
func MeaningHash(r *Rule) string {
	m := meaning{
		Encoding:   meaningVersion,
		Subject:    string(r.Subject),
		Status:     string(r.Status),
		ValidFrom:  day(r.ValidFrom),
		Conditions: make([]string, 0, len(r.Conditions)),
		Params:     make([]meaningParam, 0, len(r.Params)),
	}
	if r.ValidUntil != nil {
		m.ValidUntil = day(*r.ValidUntil)
	}
	for _, c := range r.Conditions {
		m.Conditions = append(m.Conditions, normalizeExpr(c.Expr))
	}
	sort.Strings(m.Conditions)
	if r.Amount != nil {
		m.Amount = normalizeExpr(r.Amount.Expr)
	}
	for _, p := range r.Params {
		mp := meaningParam{Name: p.Name, Values: make([]meaningValue, 0, len(p.Values))}
		for _, v := range p.Values {
			mp.Values = append(mp.Values, meaningValue{From: day(v.From), Value: v.Value})
		}
		m.Params = append(m.Params, mp)
	}
	sort.Slice(m.Params, func(i, j int) bool { return m.Params[i].Name < m.Params[j].Name })
	b, err := json.Marshal(m)
	if err != nil {
		// Param values are only ints, floats, strings, bools and lists
		// of them; a failure is a bug in the parser, not in the file.
		panic(fmt.Sprintf("rules: encode meaning of %s: %v", r.ID, err))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func day(t interface{ Format(string) string }) string { return t.Format("2006-01-02") }

// normalizeExpr collapses each run of white space outside string literals
// to one space and trims the ends, so that re-folding a YAML scalar does
// not read as a change of meaning. Inside quotes every byte counts.
func normalizeExpr(s string) string {
	var b strings.Builder
	var quote byte
	space := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if quote != 0 {
			b.WriteByte(c)
			switch {
			case c == '\\' && quote != '`' && i+1 < len(s):
				i++
				b.WriteByte(s[i])
			case c == quote:
				quote = 0
			}
			continue
		}
		switch c {
		case ' ', '\t', '\n', '\r':
			space = true
			continue
		case '"', '\'', '`':
			quote = c
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteByte(c)
	}
	return b.String()
}

// MeaningChanged is the error of a policy whose meaning differs from the
// one published under the same id and version.
func MeaningChanged(r *Rule, published string) *Error {
	return &Error{Pos: r.pos["version"], Msg: fmt.Sprintf(
		"policy %s version %d changed meaning since it was published (hash %.12s, now %.12s): "+
			"bump version to %d, so that a backfill finds who qualifies under the new meaning",
		r.ID, r.Version, published, MeaningHash(r), r.Version+1)}
}

// VersionKey names one published version of a policy.
type VersionKey struct {
	ID      string
	Version int
}

// Published reports whether rules publishes r: drafts notify no one, so
// their meaning is neither recorded nor held to what was recorded.
func Published(r *Rule) bool { return r.Status != Draft }

// CheckMeanings returns an error for each published rule whose id and
// version are in recorded with another hash. The error names the file and
// says to bump version.
func CheckMeanings(rs []*Rule, recorded map[VersionKey]string) Errors {
	var es Errors
	for _, r := range rs {
		if !Published(r) {
			continue
		}
		if h, ok := recorded[VersionKey{r.ID, r.Version}]; ok && h != MeaningHash(r) {
			es = append(es, MeaningChanged(r, h))
		}
	}
	return es.Sorted()
}
