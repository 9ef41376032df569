package match

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// The implementations diffPaths replaced, which marshalled both sides of
// every leaf to compare them: the reference diffPaths must agree with.

// changedPaths lists the dotted paths whose values differ between two
// profile documents: a field added, removed or changed. Lists count as one
// value. The policies that read none of them need no re-evaluation.
func refChangedPaths(before, after map[string]any) []string {
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
			case !refEqualJSON(av, bv):
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

func refEqualJSON(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}

// setPaths lists the leaf paths whose values differ between two profile
// documents: like changedPaths, but an object added or removed as a whole
// is listed by its leaves, so that the source that set each field can be
// kept field by field (a first snapshot sets insurance.pension.status, not
// "insurance"). Lists count as one value.
func refSetPaths(before, after map[string]any) []string {
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
			case !had || !refEqualJSON(av, bv):
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

// TestDiffPathsMatchesMarshalling compares diffPaths (one walk, values
// compared in place) with the two walks it replaced on random documents
// that mix json.Number (as events decode) and float64 (as stored profiles
// decode), objects replacing values, lists, nulls and signed zeros.
func TestDiffPathsMatchesMarshalling(t *testing.T) {
	r := rand.New(rand.NewPCG(16, 1))
	var value func(depth int) any
	value = func(depth int) any {
		switch r.IntN(9) {
		case 0:
			return nil
		case 1:
			return r.IntN(2) == 0
		case 2:
			return []string{"a", "b", "long string"}[r.IntN(3)]
		case 3:
			return []json.Number{"1", "1.0", "2", "-0", "0", "1e2", "100"}[r.IntN(7)]
		case 4:
			return []float64{1, 2, 0, 100, 1.5}[r.IntN(5)] * []float64{1, -1}[r.IntN(2)]
		case 5:
			l := []any{}
			for i := r.IntN(3); i > 0; i-- {
				l = append(l, value(depth+1))
			}
			return l
		}
		if depth > 3 {
			return "leaf"
		}
		m := map[string]any{}
		for i := r.IntN(4); i > 0; i-- {
			m[fmt.Sprintf("k%d", r.IntN(5))] = value(depth + 1)
		}
		return m
	}
	doc := func() map[string]any {
		m, _ := value(0).(map[string]any)
		if m == nil {
			m = map[string]any{}
		}
		return m
	}
	differ := 0
	for i := 0; i < 20000; i++ {
		a := doc()
		b := doc()
		if r.IntN(3) == 0 {
			// b as a's small variation, so that most leaves are equal
			raw, _ := json.Marshal(a)
			dec := json.NewDecoder(bytes.NewReader(raw))
			if r.IntN(2) == 0 {
				dec.UseNumber()
			}
			b = map[string]any{}
			_ = dec.Decode(&b)
			b[fmt.Sprintf("k%d", r.IntN(5))] = value(2)
		}
		changed, set := diffPaths(a, b)
		wantC, wantS := refChangedPaths(a, b), refSetPaths(a, b)
		for _, s := range [][]string{changed, set, wantC, wantS} {
			slices.Sort(s)
		}
		if !slices.Equal(changed, wantC) || !slices.Equal(set, wantS) {
			ra, _ := json.Marshal(a)
			rb, _ := json.Marshal(b)
			t.Fatalf("%s -> %s:\nchanged %v, want %v\nset %v, want %v", ra, rb, changed, wantC, set, wantS)
		}
		if len(wantC) > 0 {
			differ++
		}
	}
	if differ < 1000 {
		t.Fatalf("only %d pairs differ: the test compares too little", differ)
	}
}
