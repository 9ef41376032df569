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
