package main

import (
	"strings"
	"testing"
)

// TestSensitiveNeverShownInExplain: explain shows each condition's verdict
// on sensitive fields (hardship.*, disability.*) but never their values, in
// text or JSON; the profile's contacts are never read, so never shown.
func TestSensitiveNeverShownInExplain(t *testing.T) {
	t.Parallel()
	for _, format := range [][]string{nil, {"--json"}} {
		args := append([]string{"explain", "--rules", repoRules, "--policy", "job-search-startup-subsidy",
			"--profile", "testdata/explain/sensitive.json", "--at", at}, format...)
		stdout, _, err := policyctl(t, args...)
		if err != nil {
			t.Fatalf("explain %v: %v", format, err)
		}
		for _, secret := range []string{"single_parent", "2021-03-17", "13812345678", "oSecretOpenId"} {
			if strings.Contains(stdout, secret) {
				t.Errorf("explain %v shows %q:\n%s", format, secret, stdout)
			}
		}
		want := []string{"✓ true    属于低保、脱贫、零就业等困难家庭或持有残疾证", "resident.hardship.categories = （敏感信息，不显示）",
			"resident.disability.has_certificate = （敏感信息，不显示）"}
		if format != nil {
			want = []string{`"name":"resident.hardship.categories","sensitive":true`, `"verdict":"true"`}
			stdout = strings.Join(strings.Fields(stdout), "")
		}
		for _, w := range want {
			if !strings.Contains(stdout, w) {
				t.Errorf("explain %v lacks %q:\n%s", format, w, stdout)
			}
		}
	}
}
