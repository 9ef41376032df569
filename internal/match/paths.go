package match

import (
	"bytes"
	"encoding/json"
	"math"
)

// diffPaths compares two profile documents in one walk and returns:
//
//   - changed, the dotted paths whose values differ: a field added, removed
//     or changed. Lists count as one value. The policies that read none of
//     them need no re-evaluation.
//   - set, the leaf paths whose values differ: like changed, but an object
//     added or removed as a whole is listed by its leaves, so that the
//     source that set each field can be kept field by field (a first
//     snapshot sets insurance.pension.status, not "insurance").
//
// Values are compared in place; they are equal when their JSON encodings
// are (TestDiffPathsMatchesMarshalling), which is what the two walks this
// replaced compared by marshalling both sides of every leaf.
func diffPaths(before, after map[string]any) (changed, set []string) {
	var d differ
	d.walk(before, after, "", true)
	return d.changed, d.set
}

type differ struct{ changed, set []string }

// walk compares a and b under prefix; it records changed paths only when
// changes is set (under an object added or removed as a whole, only its
// leaves are recorded, as set paths).
func (d *differ) walk(a, b map[string]any, prefix string, changes bool) {
	for k, bv := range b {
		av, had := a[k]
		am, aIsMap := av.(map[string]any)
		bm, bIsMap := bv.(map[string]any)
		p := prefix + k
		switch {
		case !had:
			if changes {
				d.changed = append(d.changed, p)
			}
			if bIsMap {
				d.walk(nil, bm, p+".", false)
			} else {
				d.set = append(d.set, p)
			}
		case aIsMap && bIsMap:
			d.walk(am, bm, p+".", changes)
		case !equalValue(av, bv):
			if changes {
				d.changed = append(d.changed, p)
			}
			d.set = append(d.set, p)
		}
	}
	for k, av := range a {
		if _, has := b[k]; has {
			continue
		}
		p := prefix + k
		if changes {
			d.changed = append(d.changed, p)
		}
		if am, ok := av.(map[string]any); ok {
			d.walk(am, nil, p+".", false)
		} else {
			d.set = append(d.set, p)
		}
	}
}

// changedPaths is diffPaths' first result.
func changedPaths(before, after map[string]any) []string {
	c, _ := diffPaths(before, after)
	return c
}

// setPaths is diffPaths' second result.
func setPaths(before, after map[string]any) []string {
	_, s := diffPaths(before, after)
	return s
}

// equalValue reports whether two decoded JSON values encode alike. Values
// of one type compare directly; anything else (a json.Number against a
// float64, as an event's value against a stored one) by their encodings.
func equalValue(a, b any) bool {
	switch x := a.(type) {
	case string:
		if y, ok := b.(string); ok {
			return x == y
		}
	case bool:
		if y, ok := b.(bool); ok {
			return x == y
		}
	case nil:
		if b == nil {
			return true
		}
	case json.Number:
		if y, ok := b.(json.Number); ok {
			return x == y
		}
	case float64:
		if y, ok := b.(float64); ok {
			return x == y && math.Signbit(x) == math.Signbit(y) // -0 encodes as -0
		}
	case map[string]any:
		if y, ok := b.(map[string]any); ok {
			if len(x) != len(y) {
				return false
			}
			for k, v := range x {
				if w, has := y[k]; !has || !equalValue(v, w) {
					return false
				}
			}
			return true
		}
	case []any:
		if y, ok := b.([]any); ok {
			if len(x) != len(y) {
				return false
			}
			for i := range x {
				if !equalValue(x[i], y[i]) {
					return false
				}
			}
			return true
		}
	}
	return equalJSON(a, b)
}

func equalJSON(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}
