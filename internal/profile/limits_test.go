package profile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// clock is the validator's clock in these tests: a day after the fixtures'
// occurred_at.
var clock = time.Date(2026, 2, 1, 10, 0, 0, 0, time.FixedZone("CST", 8*3600))

// Each fixture of testdata/events is one message: the ok-* ones are
// accepted, every other one is refused with the reason named here.
func TestDecodeEnvelopeLimits(t *testing.T) {
	v, err := NewValidator(WithClock(func() time.Time { return clock }))
	if err != nil {
		t.Fatal(err)
	}
	refused := map[string]string{
		"nul-event-id.json":               "at /event_id: a string holds U+0000",
		"nul-source.json":                 "at /source: a string holds U+0000",
		"nul-data-value.json":             "at /data/gender: a string holds U+0000",
		"nul-data-key.json":               `at /data/*: a string holds U+0000`, // a key that is not a name is data
		"nul-in-patch.json":               "at /data/contact/mobile: a string holds U+0000",
		"lone-high-surrogate.json":        `a lone UTF-16 surrogate \ud800`,
		"lone-low-surrogate.json":         `a lone UTF-16 surrogate \udc00`,
		"high-surrogate-then-letter.json": `a lone UTF-16 surrogate \ud800`,
		"surrogate-in-key.json":           `a lone UTF-16 surrogate \udbff`,
		"not-utf8.json":                   "not UTF-8",
		"too-deep.json":                   "nested deeper than 32",
		"integer-too-large.json":          "at /insurance/pension/cumulative_months: integer beyond ±9007199254740991",
		"integer-exponent.json":           "at /insurance/pension/cumulative_months: an integer must be written without a fraction or an exponent",
		"integer-fraction.json":           "at /insurance/pension/cumulative_months: an integer must be written without a fraction or an exponent",
		"amount-too-large.json":           "at /benefits_received/0/amount: number beyond ±9007199254740991",
		"enterprise-count-too-large.json": "at /insured_count_now: integer beyond",
		"year-too-large.json":             "at /benefits_received/0/year",
		"enterprise-id-differs.json":      "at /subject_id",
		"patch-id-differs.json":           `at /subject_id: does not match the patch's person_id`,
		"patch-removes-id.json":           "at /data/person_id: a patch may not remove or retype the profile's id",
		"patch-retypes-id.json":           "at /data/person_id: a patch may not remove or retype the profile's id",
		"future.json":                     "at /occurred_at: 24h0m1s ahead of this service's clock, more than 24h0m0s",
	}
	files, err := filepath.Glob("testdata/events/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	seen := map[string]bool{}
	for _, f := range files {
		name := filepath.Base(f)
		seen[name] = true
		t.Run(strings.TrimSuffix(name, ".json"), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			env, err := v.DecodeEnvelope(raw)
			want, refuse := refused[name]
			switch {
			case strings.HasPrefix(name, "ok-"):
				if err != nil || env == nil {
					t.Fatalf("refused: %v", err)
				}
			case !refuse:
				t.Fatalf("fixture %s is neither ok-* nor listed as refused", name)
			case err == nil:
				t.Fatalf("accepted; want %q", want)
			case !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), want):
				t.Errorf("error %q: want ErrInvalid containing %q", err, want)
			}
		})
	}
	for name := range refused {
		if !seen[name] {
			t.Errorf("no fixture %s", name)
		}
	}
}

func TestScanRawDepth(t *testing.T) {
	for _, tt := range []struct {
		depth int
		ok    bool
	}{{1, true}, {MaxDepth, true}, {MaxDepth + 1, false}, {10000, false}} {
		raw := `{"a":` + strings.Repeat("[", tt.depth-1) + `"]{["` + strings.Repeat("]", tt.depth-1) + "}"
		problem, _ := scanRaw([]byte(raw))
		if (problem == "") != tt.ok {
			t.Errorf("depth %d: problem %q, want ok=%v", tt.depth, problem, tt.ok)
		}
	}
}

func TestApplyPatch(t *testing.T) {
	v, err := NewValidator(WithClock(func() time.Time { return clock }))
	if err != nil {
		t.Fatal(err)
	}
	cur := map[string]any{"person_id": "p1", "gender": "F"}
	tests := []struct {
		name, patch string
		cur         map[string]any
		wantErr     string
		wantKeys    []string
	}{
		{"onto nothing", `{"gender":"M"}`, nil, "", []string{"gender", "person_id"}},
		{"onto a profile", `{"birth_date":"1999-04-12"}`, cur, "", []string{"birth_date", "gender", "person_id"}},
		{"removes a field", `{"gender":null}`, cur, "", []string{"person_id"}},
		{"breaks the schema", `{"gender":7}`, cur, "breaks the schema", nil},
		{"removes the id", `{"person_id":null}`, cur, "breaks the schema", nil},
		{"changes the id", `{"person_id":"p2"}`, cur, "is not the event's subject_id", nil},
		{"integer too large", `{"insurance":{"pension":{"cumulative_months":9007199254740992}}}`, cur, "integer beyond", nil},
		{"not a patch", `[1]`, cur, "breaks the schema", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := v.ApplyPatch(KindResident, "p1", tt.cur, []byte(tt.patch))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for k := range got {
				keys = append(keys, k)
			}
			if strings.Join(sorted(keys), ",") != strings.Join(tt.wantKeys, ",") {
				t.Errorf("keys %v, want %v", keys, tt.wantKeys)
			}
		})
	}
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}
