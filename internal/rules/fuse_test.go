package rules

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/policypush/policypush/internal/profile"
)

// readCatalogue parses the repository's rules and their test profiles.
func readCatalogue(t testing.TB) ([]*Rule, map[profile.Kind][][]byte) {
	t.Helper()
	var rules []*Rule
	profiles := map[profile.Kind][][]byte{}
	kinds := map[string]profile.Kind{}
	var tests []*TestFile
	err := filepath.WalkDir("../../rules", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") || d.Name() == CalendarFile {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.HasSuffix(path, "_test.yaml") {
			tf, err := ParseTestFile(path, data)
			if err != nil {
				return err
			}
			tests = append(tests, tf)
			return nil
		}
		r, err := ParseRule(path, data)
		if err != nil {
			return err
		}
		rules = append(rules, r)
		kinds[r.ID] = r.Subject
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tf := range tests {
		for _, tc := range tf.Cases {
			if tc.Profile != nil {
				profiles[kinds[tf.Policy]] = append(profiles[kinds[tf.Policy]], tc.Profile)
			}
		}
	}
	return rules, profiles
}

// mutate drops and nudges fields at random, so that fusion is compared on
// absent data and near thresholds too.
func mutate(r *rand.Rand, v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			if k != "person_id" && k != "uscc" && r.IntN(5) == 0 {
				continue
			}
			out[k] = mutate(r, e)
		}
		return out
	case []any:
		out := []any{}
		for _, e := range x {
			if r.IntN(6) != 0 {
				out = append(out, mutate(r, e))
			}
		}
		return out
	case float64:
		if r.IntN(3) == 0 {
			return x + float64(r.IntN(5)-2)
		}
	case string:
		if t, err := time.Parse("2006-01-02", x); err == nil && r.IntN(3) == 0 {
			return t.AddDate(0, r.IntN(13)-6, r.IntN(3)-1).Format("2006-01-02")
		}
	}
	return v
}

// TestFusionMatchesTheVM compares every outcome of the catalogue with and
// without leaf fusion, on the test profiles and thousands of variations.
func TestFusionMatchesTheVM(t *testing.T) {
	rules, profiles := readCatalogue(t)
	fused, err := compile(rules, true)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := compile(rules, false)
	if err != nil {
		t.Fatal(err)
	}
	evF, evP := fused.NewEvaluator(), plain.NewEvaluator()
	r := rand.New(rand.NewPCG(1, 2))
	n := 3000
	if testing.Short() {
		n = 300
	}
	compared := 0
	for kind, list := range profiles {
		for i := 0; i < n; i++ {
			var doc any
			if err := json.Unmarshal(list[i%len(list)], &doc); err != nil {
				t.Fatal(err)
			}
			if i >= len(list) {
				doc = mutate(r, doc)
			}
			raw, _ := json.Marshal(doc)
			var subject any = &profile.Resident{}
			if kind == profile.KindEnterprise {
				subject = &profile.Enterprise{}
			}
			if json.Unmarshal(raw, subject) != nil {
				continue
			}
			inF, _ := fused.Prepare(subject)
			inP, _ := plain.Prepare(subject)
			for _, days := range []int{0, 200, 500} {
				when := time.Date(2026, 1, 1, 0, 0, 0, 0, Shanghai).AddDate(0, 0, days)
				atF, atP := fused.At(when), plain.At(when)
				for j, p := range fused.Policies() {
					if p.Subject != kind {
						continue
					}
					got, want := evF.Evaluate(p, inF, atF), evP.Evaluate(plain.Policies()[j], inP, atP)
					compared++
					if got != want {
						t.Fatalf("%s at %s on %s:\nfused %+v\nplain %+v", p.ID, when.Format("2006-01-02"), raw, got, want)
					}
				}
			}
		}
	}
	if compared < 1000 {
		t.Fatalf("compared only %d outcomes", compared)
	}
	t.Logf("%d outcomes agree", compared)
}

// BenchmarkCatalogueWithoutFusion is BenchmarkCatalogue with every
// condition in the VM, to show what leaf fusion buys.
func BenchmarkCatalogueWithoutFusion(b *testing.B) {
	rules, profiles := readCatalogue(b)
	for _, fuse := range []bool{false, true} {
		set, err := compile(rules, fuse)
		if err != nil {
			b.Fatal(err)
		}
		var inputs []*Input
		for kind, list := range profiles {
			for _, raw := range list {
				var subject any = &profile.Resident{}
				if kind == profile.KindEnterprise {
					subject = &profile.Enterprise{}
				}
				if json.Unmarshal(raw, subject) == nil {
					in, _ := set.Prepare(subject)
					inputs = append(inputs, in)
				}
			}
		}
		at := set.At(time.Date(2026, 11, 27, 10, 0, 0, 0, Shanghai))
		conds := 0
		for _, in := range inputs {
			for _, p := range set.Policies() {
				if p.Subject == in.Kind && p.Applies(at) {
					conds += len(p.Conditions)
				}
			}
		}
		name := "vm"
		if fuse {
			name = "fused"
		}
		b.Run(name, func(b *testing.B) {
			ev := set.NewEvaluator()
			b.ReportAllocs()
			for b.Loop() {
				for _, in := range inputs {
					for _, p := range set.Policies() {
						if p.Subject == in.Kind && p.Applies(at) {
							ev.Evaluate(p, in, at)
						}
					}
				}
			}
			b.ReportMetric(b.Elapsed().Seconds()*1e9/float64(b.N*conds), "ns/condition")
		})
	}
}

// TestCatalogueDoesNotAllocate evaluates every policy of the catalogue,
// amounts included, on every test profile at three dates: no evaluation
// allocates (issue 16: expr boxed float amounts, and string(.year) + "-01"
// allocated in a condition).
func TestCatalogueDoesNotAllocate(t *testing.T) {
	rules, profiles := readCatalogue(t)
	set, err := compile(rules, true)
	if err != nil {
		t.Fatal(err)
	}
	var inputs []*Input
	for kind, list := range profiles {
		for _, raw := range list {
			var subject any = &profile.Resident{}
			if kind == profile.KindEnterprise {
				subject = &profile.Enterprise{}
			}
			if json.Unmarshal(raw, subject) == nil {
				in, _ := set.Prepare(subject)
				inputs = append(inputs, in)
			}
		}
	}
	ev := set.NewEvaluator()
	amounts := 0
	for _, days := range []int{0, 200, 500} {
		at := set.At(time.Date(2026, 1, 1, 0, 0, 0, 0, Shanghai).AddDate(0, 0, days))
		run := func() {
			for _, in := range inputs {
				for _, p := range set.Policies() {
					if p.Subject == in.Kind {
						if ev.Evaluate(p, in, at).HasAmount {
							amounts++
						}
					}
				}
			}
		}
		run() // the evaluator's scratch space grows to its size once
		if n := testing.AllocsPerRun(20, run); n != 0 {
			t.Errorf("at +%d days: a catalogue pass allocates %v times", days, n)
		}
	}
	if amounts == 0 {
		t.Fatal("no amount was computed: the test measures nothing")
	}
}
