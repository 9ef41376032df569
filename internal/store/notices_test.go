package store

import "testing"

func TestSourceOf(t *testing.T) {
	sources := map[string]string{
		"insurance.pension.cumulative_months": "jinbao",
		"insurance.pension.status":            "shebao",
		"hukou":                               "gongan", // set as a whole (a value replaced by an object)
		"skill_certificates":                  "zhineng",
	}
	for _, tt := range []struct{ field, want string }{
		{"insurance.pension.cumulative_months", "jinbao"},
		{"hukou.is_local", "gongan"},           // inside a path that was set
		{"insurance.pension", "jinbao"},        // around paths that were set: the first of them in order
		{"skill_certificates", "zhineng"},      // a list, as one value
		{"education.level", "fallback"},        // never set
		{"insurance.pension.status", "shebao"}, // exact
	} {
		if got := sourceOf(sources, tt.field, "fallback"); got != tt.want {
			t.Errorf("sourceOf(%s) = %q, want %q", tt.field, got, tt.want)
		}
	}
}
