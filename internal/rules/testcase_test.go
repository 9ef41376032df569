package rules

import (
	"strings"
	"testing"

	"github.com/policypush/policypush/internal/profile"
)

func TestRunCase(t *testing.T) {
	s := mustSet(t, policyYAML("resident", "", "resident.insurance.pension.cumulative_months * 10",
		"resident.insurance.pension.cumulative_months >= 12", "resident.hukou.is_local == true"))
	v, err := profile.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	const file = `policy: t
cases:
  - name: passes
    at: 2026-01-01
    profile: {person_id: p, insurance: {pension: {cumulative_months: 12}}, hukou: {is_local: true}}
    expect: eligible
    failed: []
    unknown: []
    amount: 120
  - name: wrong result
    at: 2026-01-01
    profile: {person_id: p, insurance: {pension: {cumulative_months: 2}}}
    expect: eligible
  - name: wrong lists
    at: 2026-01-01
    profile: {person_id: p, insurance: {pension: {cumulative_months: 2}}}
    expect: ineligible
    failed: [c1]
    unknown: []
  - name: wrong amount
    at: 2026-01-01T08:00:00+08:00
    profile: {person_id: p, insurance: {pension: {cumulative_months: 12}}, hukou: {is_local: true}}
    expect: eligible
    amount: null
  - name: breaks the schema
    at: 2026-01-01
    profile: {person_id: p, birth_date: 1999/04/12}
    expect: unknown
  - name: outside the window
    at: 2019-01-01
    profile: {person_id: p}
    expect: unknown
`
	tf, err := ParseTestFile("t_test.yaml", []byte(file))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"passes":             "",
		"wrong result":       `expected eligible, got ineligible (failed: ["c0"]; unknown: ["c1"])`,
		"wrong lists":        `expected failed ["c1"], got ["c0"]|expected unknown [], got ["c1"]`,
		"wrong amount":       `expected no amount, got 120`,
		"breaks the schema":  `profile breaks the resident schema: at /birth_date: is not a valid date`,
		"outside the window": `at 2019-01-01T00:00:00+08:00 is outside the policy's validity window`,
	}
	for _, tc := range tf.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			got := strings.Join(RunCase(s, v, s.Policy("t"), tc, tc.Profile), "|")
			if !strings.HasPrefix(got, want[tc.Name]) || (want[tc.Name] == "") != (got == "") {
				t.Errorf("got  %q\nwant %q", got, want[tc.Name])
			}
		})
	}
}

func TestBadTestFiles(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"unknown key", "policy: t\ncases:\n  - {name: a, at: 2026-01-01, profile: {person_id: p}, expect: eligible, expected: x}\n",
			`x_test.yaml:3:74: unknown key "expected" in a test case (allowed: name, at, profile, profile_file, expect, failed, unknown, amount)`},
		{"bad result", "policy: t\ncases:\n  - {name: a, at: 2026-01-01, profile: {person_id: p}, expect: yes}\n",
			`x_test.yaml:3:64: expect "yes" is not one of eligible, ineligible, unknown`},
		{"bad time", "policy: t\ncases:\n  - {name: a, at: tomorrow, profile: {person_id: p}, expect: eligible}\n",
			`x_test.yaml:3:19: at "tomorrow" is neither YYYY-MM-DD nor RFC 3339`},
		{"no profile", "policy: t\ncases:\n  - {name: a, at: 2026-01-01, expect: eligible}\n",
			`x_test.yaml:3:5: a test case needs a profile or a profile_file`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseTestFile("x_test.yaml", []byte(tt.src))
			if err == nil || err.Error() != tt.want {
				t.Errorf("got  %v\nwant %s", err, tt.want)
			}
		})
	}
}
