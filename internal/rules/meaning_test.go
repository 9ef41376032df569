package rules

import (
	"os"
	"strings"
	"testing"
)

func TestMeaningHash(t *testing.T) {
	base, err := os.ReadFile("testdata/meaning/base.yaml")
	if err != nil {
		t.Fatal(err)
	}
	hash := func(t *testing.T, src string) string {
		t.Helper()
		r, err := ParseRule("r.yaml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		return MeaningHash(r)
	}
	want := hash(t, string(base))
	for _, c := range []struct {
		name    string
		old     string
		new     string
		changed bool
	}{
		// Wording and layout: the same meaning.
		{"title", "title: 租房补贴", "title: 青年人才租房补贴", false},
		{"description", "description: 毕业未满5年的本科生可申领。", "description: 另一种说法。", false},
		{"department", "department: 人才开发科", "department: 就业科", false},
		{"source", "doc: 某办法", "doc: 另一办法", false},
		{"condition name", "name: 本科及以上", "name: 具有本科及以上学历", false},
		{"sms text", "申领条件。回T退订", "申请条件。回T退订", false},
		{"notify channels", "channels: [sms]", "channels: [sms, wechat]", false},
		{"comment", "amount: params.monthly", "amount: params.monthly # 每月", false},
		{"re-folded expression", "    expr: months_since(resident.education.graduation_date) < params.window",
			"    expr: |\n      months_since(resident.education.graduation_date)\n        <   params.window", false},
		{"param order", "  window: {2024-01-01: 60}\n  monthly: {2024-01-01: 1500, 2026-01-01: 1800}",
			"  monthly: {2024-01-01: 1500, 2026-01-01: 1800}\n  window: {2024-01-01: 60}", false},
		{"condition order", "  - name: 本科及以上\n    expr: >-\n      resident.education.level in [\"bachelor\", \"master\"]\n      and resident.education.is_full_time == true\n  - name: 毕业未满5年\n    expr: months_since(resident.education.graduation_date) < params.window",
			"  - name: 毕业未满5年\n    expr: months_since(resident.education.graduation_date) < params.window\n  - name: 本科及以上\n    expr: >-\n      resident.education.level in [\"bachelor\", \"master\"]\n      and resident.education.is_full_time == true", false},
		{"version", "version: 3", "version: 4", false}, // the key, not the meaning

		// Meaning.
		{"condition", "< params.window", "<= params.window", true},
		{"string literal spacing", `"bachelor", "master"`, `"bachelor ", "master"`, true},
		{"param value", "{2024-01-01: 60}", "{2024-01-01: 48}", true},
		{"param date", "2026-01-01: 1800", "2026-07-01: 1800", true},
		{"new param value", "{2024-01-01: 60}", "{2024-01-01: 60, 2027-01-01: 48}", true},
		{"amount", "amount: params.monthly", "amount: params.monthly * 2", true},
		{"no amount", "amount: params.monthly\n", "", true},
		{"valid_from", "valid_from: 2024-01-01", "valid_from: 2024-06-01", true},
		{"valid_until", "valid_until: 2027-12-31", "valid_until: 2028-12-31", true},
		{"open-ended", "valid_until: 2027-12-31\n", "", true},
		{"status", "status: active", "status: repealed", true},
		{"subject", "subject: resident\n", "subject: enterprise\n", true},
		{"another condition", "amount:", "  - name: 本地户籍\n    expr: resident.hukou.is_local == true\namount:", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := string(base)
			if !strings.Contains(src, c.old) {
				t.Fatalf("the fixture has no %q", c.old)
			}
			src = strings.Replace(src, c.old, c.new, 1)
			if c.name == "subject" {
				// An enterprise policy must read the enterprise; the hash
				// does not compile, so the expressions may stay.
				src = strings.ReplaceAll(src, "resident.", "enterprise.")
			}
			got := hash(t, src)
			if (got != want) != c.changed {
				t.Errorf("changed = %v, want %v", got != want, c.changed)
			}
		})
	}
}

func TestCheckMeanings(t *testing.T) {
	base, err := os.ReadFile("testdata/meaning/base.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r, err := ParseRule("rules/rent-aid.yaml", base)
	if err != nil {
		t.Fatal(err)
	}
	edited, err := ParseRule("rules/rent-aid.yaml", []byte(strings.Replace(string(base), "< params.window", "<= params.window", 1)))
	if err != nil {
		t.Fatal(err)
	}
	draft, err := ParseRule("rules/rent-aid.yaml", []byte(strings.Replace(string(base), "status: active", "status: draft", 1)))
	if err != nil {
		t.Fatal(err)
	}
	recorded := map[VersionKey]string{{"rent-aid", 3}: MeaningHash(r)}
	if es := CheckMeanings([]*Rule{r}, recorded); len(es) != 0 {
		t.Errorf("unchanged: %v", es)
	}
	if es := CheckMeanings([]*Rule{draft}, recorded); len(es) != 0 {
		t.Errorf("a draft is not held to what was published: %v", es)
	}
	if es := CheckMeanings([]*Rule{edited}, map[VersionKey]string{{"rent-aid", 2}: MeaningHash(r)}); len(es) != 0 {
		t.Errorf("another version: %v", es)
	}
	es := CheckMeanings([]*Rule{edited}, recorded)
	if len(es) != 1 {
		t.Fatalf("changed: %v, want one error", es)
	}
	msg := es[0].Error()
	for _, want := range []string{"rules/rent-aid.yaml:2:", "rent-aid", "version 3", "bump version to 4"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q does not say %q", msg, want)
		}
	}
}
