package match

import (
	"encoding/json"
	"slices"
	"testing"
)

func TestSetPaths(t *testing.T) {
	for _, tt := range []struct {
		name, before, after string
		want                []string
	}{
		{"first snapshot lists leaves", `{}`, `{"person_id":"p","insurance":{"pension":{"status":"active","cumulative_months":24}}}`,
			[]string{"insurance.pension.cumulative_months", "insurance.pension.status", "person_id"}},
		{"a changed leaf", `{"insurance":{"pension":{"status":"active","cumulative_months":24}}}`,
			`{"insurance":{"pension":{"status":"active","cumulative_months":25}}}`, []string{"insurance.pension.cumulative_months"}},
		{"an object removed", `{"hukou":{"is_local":true,"type":"urban"},"x":1}`, `{"x":1}`, []string{"hukou.is_local", "hukou.type"}},
		{"a list is one value", `{"skill_certificates":[{"level":"junior"}]}`, `{"skill_certificates":[{"level":"senior"}]}`, []string{"skill_certificates"}},
		{"an object replacing a value", `{"a":1}`, `{"a":{"b":2}}`, []string{"a"}},
		{"nothing changed", `{"a":{"b":2}}`, `{"a":{"b":2}}`, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var a, b map[string]any
			if err := json.Unmarshal([]byte(tt.before), &a); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(tt.after), &b); err != nil {
				t.Fatal(err)
			}
			got := setPaths(a, b)
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("setPaths = %v, want %v", got, tt.want)
			}
		})
	}
}
