package match

import (
	"bytes"
	"encoding/json"
)

// changedPaths lists the dotted paths whose values differ between two
// profile documents: a field added, removed or changed. Lists count as one
// value. The policies that read none of them need no re-evaluation.
func changedPaths(before, after map[string]any) []string {
	var out []string
	var walk func(a, b map[string]any, prefix string)
	walk = func(a, b map[string]any, prefix string) {
		for k, bv := range b {
			av, had := a[k]
			am, aIsMap := av.(map[string]any)
			bm, bIsMap := bv.(map[string]any)
			switch {
			case !had:
				out = append(out, prefix+k)
			case aIsMap && bIsMap:
				walk(am, bm, prefix+k+".")
			case !equalJSON(av, bv):
				out = append(out, prefix+k)
			}
		}
		for k := range a {
			if _, has := b[k]; !has {
				out = append(out, prefix+k)
			}
		}
	}
	walk(before, after, "")
	return out
}

func equalJSON(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}

// setPaths lists the leaf paths whose values differ between two profile
// documents: like changedPaths, but an object added or removed as a whole
// is listed by its leaves, so that the source that set each field can be
// kept field by field (a first snapshot sets insurance.pension.status, not
// "insurance"). Lists count as one value.
func setPaths(before, after map[string]any) []string {
	var out []string
	var walk func(a, b map[string]any, prefix string)
	walk = func(a, b map[string]any, prefix string) {
		for k, bv := range b {
			av, had := a[k]
			am, aIsMap := av.(map[string]any)
			bm, bIsMap := bv.(map[string]any)
			switch {
			case bIsMap && (aIsMap || !had):
				walk(am, bm, prefix+k+".")
			case !had || !equalJSON(av, bv):
				out = append(out, prefix+k)
			}
		}
		for k, av := range a {
			if _, has := b[k]; has {
				continue
			}
			if am, ok := av.(map[string]any); ok {
				walk(am, map[string]any{}, prefix+k+".")
				continue
			}
			out = append(out, prefix+k)
		}
	}
	walk(before, after, "")
	return out
}
