package library

import (
	_ "embed"
	"sort"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/go-ego/gse"

	"github.com/policypush/policypush/internal/rules"
)

// renshe is the segmenter's dictionary: the bureau's own terms (人社 user
// dictionary), so that 稳岗返还 and 灵活就业 are words. gse's general
// dictionary is not loaded: it takes seconds and over 100 MB of heap, and
// the catalogue's text is the bureau's own vocabulary; words it lacks are
// cut by gse's HMM.
//
//go:embed renshe.dict
var renshe string

// Segmenter cuts Chinese text into words. It is built once, at start, and
// is safe for concurrent use once built.
type Segmenter struct{ seg gse.Segmenter }

// hmmModel loads gse's HMM model (for words the dictionary lacks) once per
// process: gse keeps it in package variables, which every load writes,
// so two segmenters built at once (two services in one test process)
// would race. It is only read afterwards.
var hmmModel sync.Once

// NewSegmenter loads the embedded dictionary.
func NewSegmenter() (*Segmenter, error) {
	s := &Segmenter{}
	s.seg.SkipLog = true
	s.seg.NotLoadHMM = true
	hmmModel.Do(func() { s.seg.LoadModel() })
	if err := s.seg.LoadDictStr(renshe); err != nil {
		return nil, err
	}
	return s, nil
}

// words cuts text for search: every dictionary word and its parts, lower
// case, without punctuation and spaces.
func (s *Segmenter) words(text string) []string {
	var out []string
	for _, w := range s.seg.CutSearch(text, true) {
		w = strings.ToLower(strings.TrimSpace(w))
		if w == "" || !strings.ContainsFunc(w, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }) {
			continue
		}
		out = append(out, w)
	}
	return out
}

// Field weights: a word of the title counts most.
const (
	weightTitle      = 4
	weightCondition  = 2
	weightDepartment = 1
	weightSource     = 1
)

// Index searches one rule set's policies over their titles, departments,
// source documents and condition names.
type Index struct {
	seg  *Segmenter
	docs []doc
}

type doc struct {
	id    string
	words map[string]int // word → weight
	text  string         // lower case, all fields: for words the cut splits otherwise
}

// NewIndex indexes rs.
func NewIndex(seg *Segmenter, rs []*rules.Rule) *Index {
	x := &Index{seg: seg}
	for _, r := range rs {
		d := doc{id: r.ID, words: map[string]int{}}
		add := func(text string, w int) {
			for _, word := range seg.words(text) {
				d.words[word] = max(d.words[word], w)
			}
			d.text += strings.ToLower(text) + "\n"
		}
		add(r.Title, weightTitle)
		add(r.Department, weightDepartment)
		add(r.Source.Doc, weightSource)
		for _, c := range r.Conditions {
			add(c.Name, weightCondition)
		}
		x.docs = append(x.docs, d)
	}
	return x
}

// Search returns the ids of the policies that match q, best first: each
// word of q found among a policy's words scores its field's weight, and
// one found only inside its text scores 1. Words of one character are
// ignored unless q is no longer. An empty q matches nothing.
func (x *Index) Search(q string) []string {
	ws := x.seg.words(q)
	if utf8.RuneCountInString(strings.TrimSpace(q)) > 1 {
		long := ws[:0:0]
		for _, w := range ws {
			if utf8.RuneCountInString(w) > 1 {
				long = append(long, w)
			}
		}
		ws = long
	}
	type hit struct {
		id    string
		score int
		order int
	}
	var hits []hit
	for i, d := range x.docs {
		score := 0
		seen := map[string]bool{}
		for _, w := range ws {
			if seen[w] {
				continue
			}
			seen[w] = true
			if s, ok := d.words[w]; ok {
				score += s
			} else if strings.Contains(d.text, w) {
				score++
			}
		}
		if score > 0 {
			hits = append(hits, hit{d.id, score, i})
		}
	}
	sort.SliceStable(hits, func(i, j int) bool { return hits[i].score > hits[j].score })
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = h.id
	}
	return out
}
