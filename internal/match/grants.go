package match

import (
	"encoding/json"
	"time"

	"github.com/policypush/policypush/internal/profile"
	"github.com/policypush/policypush/internal/rules"
	"github.com/policypush/policypush/internal/store"
)

// grants are the benefits_received entries that next has and prev has
// not: each tells that the money of its policy went out (CONTRACTS §8),
// which grants the subject's case in the event's own transaction. An
// entry that was there before grants nothing again; the lists are
// compared as multisets, so a second payment written exactly like the
// first (same policy, year and amount) is new. A resident's entry
// gives its granted_on; an enterprise's gives a year only, so the event's
// day stands for it.
//
// It gives at most one grant per policy: of the entries of a policy new
// in the event, the last one with an amount, else the last one. The store
// keeps a case's first grant, so an entry without an amount must not go
// before the one that tells how much was paid.
func grants(k store.SubjectKey, prev, next map[string]any, env *profile.Envelope) []store.Grant {
	now, _ := next["benefits_received"].([]any)
	if len(now) == 0 {
		return nil
	}
	before := map[string]int{} // entry → how many times prev has it
	if old, _ := prev["benefits_received"].([]any); len(old) > 0 {
		for _, e := range old {
			before[entryKey(e)]++
		}
	}
	var out []store.Grant
	at := map[string]int{} // policy → its grant in out
	for _, e := range now {
		m, _ := e.(map[string]any)
		pol, _ := m["policy_id"].(string)
		if pol == "" {
			continue
		}
		if key := entryKey(e); before[key] > 0 {
			before[key]-- // this one was there before
			continue
		}
		g := store.Grant{Key: k, PolicyID: pol, EventID: env.EventID, GrantedOn: dayOf(env.OccurredAt)}
		if a, ok := number(m["amount"]); ok {
			g.Amount = &a
		}
		if s, _ := m["granted_on"].(string); s != "" {
			if d, err := time.ParseInLocation(time.DateOnly, s, rules.Shanghai); err == nil {
				g.GrantedOn = d
			}
		}
		n, seen := at[pol]
		switch {
		case !seen:
			at[pol] = len(out)
			out = append(out, g)
		case g.Amount != nil || out[n].Amount == nil:
			out[n] = g
		}
	}
	return out
}

// entryKey is an entry's canonical JSON: map keys sorted, numbers as
// float64 writes them, so that 38640.50 from one decoder and 38640.5 from
// another are the same entry, and members that are null left out, as
// unknown is unknown whether written null or not at all (a merge patch
// may drop the nulls of an entry its source sent).
func entryKey(e any) string {
	b, _ := json.Marshal(e) // decoded JSON always encodes
	var v any
	if json.Unmarshal(b, &v) == nil {
		b, _ = json.Marshal(withoutNulls(v))
	}
	return string(b)
}

// withoutNulls is v without the null members of its objects, at any
// depth. It changes v's objects in place: entryKey owns them.
func withoutNulls(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, m := range x {
			if m == nil {
				delete(x, k)
			} else {
				x[k] = withoutNulls(m)
			}
		}
	case []any:
		for i := range x {
			x[i] = withoutNulls(x[i])
		}
	}
	return v
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	}
	return 0, false
}

func dayOf(t time.Time) time.Time {
	y, m, d := t.In(rules.Shanghai).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, rules.Shanghai)
}
