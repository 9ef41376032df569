package store

import (
	"encoding/json"
	"fmt"
	"sync"

	"github.com/policypush/policypush/internal/rules"
)

// Explanations are stored in one of two ways (migration 00031): as JSON
// in matches.explanation (every match written before, and any caller that
// gives one), or as a compact record in matches.explanation_values of the
// form that explanation_form names. Readers select explanationCols and
// scan them into a storedExplanation, whose JSON is the explanation in the
// old shape either way, so that what they show does not depend on how it
// was stored.

// explanationCols selects a match m's explanation: the JSON, the compact
// record and its form. The form is a scalar subquery, so that any query
// over matches m can add the columns without a join.
const explanationCols = `m.explanation, m.explanation_values,
       (SELECT f.form FROM explanation_forms f WHERE f.digest = m.explanation_form)`

// storedExplanation is what explanationCols scans into.
type storedExplanation struct {
	legacy, values, form []byte
}

func (e *storedExplanation) dest() []any { return []any{&e.legacy, &e.values, &e.form} }

// JSON renders the explanation of a match of subject k.
func (e *storedExplanation) JSON(k SubjectKey) (json.RawMessage, error) {
	switch {
	case e.legacy != nil:
		return append(json.RawMessage(nil), e.legacy...), nil
	case e.values == nil:
		return nil, fmt.Errorf("match of %s/%s: no explanation", k.Type, k.ID)
	case e.form == nil:
		return nil, fmt.Errorf("match of %s/%s: its explanation's form is not recorded", k.Type, k.ID)
	}
	return rules.RenderExplanation(e.form, e.values, k.Type, k.ID)
}

// formCache holds the digests of the explanation forms known to be
// committed. Forms are named by their content and never change, so the
// cache cannot go stale; it only saves sending a form again.
type formCache struct {
	mu    sync.Mutex
	names map[string]bool
}

func newFormCache() *formCache { return &formCache{names: map[string]bool{}} }

func (c *formCache) known(digest []byte) bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.names[string(digest)]
}

func (c *formCache) add(digests [][]byte) {
	if c == nil || len(digests) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, d := range digests {
		c.names[string(d)] = true
	}
}
