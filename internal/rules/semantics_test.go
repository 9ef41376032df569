package rules

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/policypush/policypush/internal/profile"
)

// TestSemanticsTable has a test for every row of the semantics table in
// rules/README.md, by the row's number. Each case is checked against the
// engine and against the reference evaluator.
func TestSemanticsTable(t *testing.T) {
	const empty = `{"person_id":"p"}`
	benefits := func(items ...string) string {
		return `{"person_id":"p","benefits_received":[` + strings.Join(items, ",") + `]}`
	}
	certs := func(items ...string) string {
		return `{"person_id":"p","skill_certificates":[` + strings.Join(items, ",") + `]}`
	}
	tests := []struct {
		row     int
		name    string
		expr    string
		profile string
		at      string
		want    Verdict
	}{
		{1, "a present field", `resident.hukou.is_local`, `{"person_id":"p","hukou":{"is_local":true}}`, "", True},
		{1, "an absent field", `resident.hukou.is_local`, `{"person_id":"p","hukou":{}}`, "", VerdictUnknown},
		{1, "an absent object on the way", `resident.hukou.is_local == false`, empty, "", VerdictUnknown},
		{1, "null is absent", `resident.hukou.is_local == false`, `{"person_id":"p","hukou":{"is_local":null}}`, "", VerdictUnknown},
		{2, "?. with != on an absent link", `resident.employment?.status != "employed"`, empty, "", VerdictUnknown},
		{2, "?. with != true on an absent link", `resident.hukou?.is_local != true`, empty, "", VerdictUnknown},
		{2, "?. on a present link", `resident.hukou?.is_local != true`, `{"person_id":"p","hukou":{"is_local":false}}`, "", True},
		{3, "?? on an absent field", `(resident.hukou?.is_local ?? false) != true`, empty, "", True},
		{3, "?? on a present field", `(resident.hukou.is_local ?? true) == false`, `{"person_id":"p","hukou":{"is_local":false}}`, "", True},
		{3, "?? on a computed unknown", `((resident.insurance.pension.cumulative_months + 1) ?? 0) == 0`, empty, "", True},
		{3, "?? on a list", `len(resident.skill_certificates ?? []) == 0`, empty, "", True},
		{4, "comparison with an absent side", `resident.insurance.pension.cumulative_months >= 12`, empty, "", VerdictUnknown},
		{4, "numbers compare by value", `resident.insurance.pension.cumulative_months == 12.0`, `{"person_id":"p","insurance":{"pension":{"cumulative_months":12}}}`, "", True},
		{4, "dates compare as strings", `resident.birth_date <= "1966-12-31"`, `{"person_id":"p","birth_date":"1966-11-27"}`, "", True},
		{5, "in on an absent value", `resident.hukou.type in ["urban", "unified"]`, empty, "", VerdictUnknown},
		{5, "in on an absent list", `"dibao" in resident.hardship.categories`, empty, "", VerdictUnknown},
		{5, "in on an empty list", `"dibao" in resident.hardship.categories`, `{"person_id":"p","hardship":{"categories":[]}}`, "", False},
		{6, "and: false wins over absent", `resident.hukou.is_local and resident.veteran.is_veteran`, `{"person_id":"p","veteran":{"is_veteran":false}}`, "", False},
		{6, "and: true and absent", `resident.hukou.is_local && resident.veteran.is_veteran`, `{"person_id":"p","veteran":{"is_veteran":true}}`, "", VerdictUnknown},
		{7, "or: true wins over absent", `resident.hukou.is_local or resident.veteran.is_veteran`, `{"person_id":"p","veteran":{"is_veteran":true}}`, "", True},
		{7, "or: false and absent", `resident.hukou.is_local || resident.veteran.is_veteran`, `{"person_id":"p","veteran":{"is_veteran":false}}`, "", VerdictUnknown},
		{8, "not of absent", `not resident.hukou.is_local`, empty, "", VerdictUnknown},
		{8, "not of false", `!resident.hukou.is_local`, `{"person_id":"p","hukou":{"is_local":false}}`, "", True},
		{9, "ternary on an absent condition", `resident.hukou.is_local ? true : true`, empty, "", VerdictUnknown},
		{9, "ternary takes its branch", `(resident.hukou.is_local ? 1 : resident.insurance.pension.cumulative_months) == 1`, `{"person_id":"p","hukou":{"is_local":true}}`, "", True},
		{9, "branches of an int and a float", `(1 == (resident.hukou.is_local ? -1 : resident.benefits_received[0].amount)) and false`, `{"person_id":"p","hukou":{"is_local":false},"benefits_received":[{"amount":1.0}]}`, "", False},
		{9, "branches of an int and a float, taken", `1 == (resident.hukou.is_local ? -1 : resident.benefits_received[0].amount)`, `{"person_id":"p","hukou":{"is_local":false},"benefits_received":[{"amount":1.0}]}`, "", True},
		{9, "a Kleene or inside a branch", `resident.hukou.is_local ? (resident.veteran.is_veteran or true) : false`, `{"person_id":"p","hukou":{"is_local":true}}`, "", True},
		{10, "arithmetic on absent", `resident.insurance.pension.cumulative_months * 0 == 0`, empty, "", VerdictUnknown},
		{10, "division is float", `resident.insurance.pension.cumulative_months / 8 == 1.5`, `{"person_id":"p","insurance":{"pension":{"cumulative_months":12}}}`, "", True},
		{10, "remainder by zero", `resident.insurance.pension.cumulative_months % 0 == 0 or true`, `{"person_id":"p","insurance":{"pension":{"cumulative_months":12}}}`, "", True},
		{10, "remainder by zero alone", `resident.insurance.pension.cumulative_months % 0 == 0`, `{"person_id":"p","insurance":{"pension":{"cumulative_months":12}}}`, "", VerdictUnknown},
		{12, "any: a known true", `any(resident.skill_certificates, months_since(.issue_date) <= 12)`, certs(`{"level":"senior"}`, `{"issue_date":"2026-06-01"}`), "", True},
		{12, "any: only unknown left", `any(resident.skill_certificates, months_since(.issue_date) <= 12)`, certs(`{"level":"senior"}`, `{"issue_date":"2020-06-01"}`), "", VerdictUnknown},
		{12, "any: an element ruled out by a known field", `any(resident.skill_certificates, .level == "senior" and months_since(.issue_date) < 12)`, certs(`{"level":"junior"}`), "", False},
		{12, "any: empty list", `any(resident.skill_certificates, .level == "senior")`, certs(), "", False},
		{12, "any: absent list", `any(resident.skill_certificates, .level == "senior")`, empty, "", VerdictUnknown},
		{13, "all: a known false", `all(resident.skill_certificates, .level == "senior")`, certs(`{"level":"junior"}`, `{}`), "", False},
		{13, "all: unknown and no false", `all(resident.skill_certificates, .level == "senior")`, certs(`{"level":"senior"}`, `{}`), "", VerdictUnknown},
		{13, "all: empty list", `all(resident.skill_certificates, .level == "senior")`, certs(), "", True},
		{14, "none: an element ruled out by policy_id", `none(resident.benefits_received ?? [], .policy_id in ["a", "b"] and months_since(.granted_on) < 12)`, benefits(`{"policy_id":"x"}`), "", True},
		{14, "none: a matching element without a date", `none(resident.benefits_received ?? [], .policy_id in ["a", "b"] and months_since(.granted_on) < 12)`, benefits(`{"policy_id":"a"}`), "", VerdictUnknown},
		{14, "none: absent list defaulted", `none(resident.benefits_received ?? [], .policy_id == "x")`, empty, "", True},
		{14, "none: absent list", `none(resident.benefits_received, .policy_id == "x")`, empty, "", VerdictUnknown},
		{15, "one: two true", `one(resident.skill_certificates, .level == "senior")`, certs(`{"level":"senior"}`, `{"level":"senior"}`, `{}`), "", False},
		{15, "one: one true and one unknown", `one(resident.skill_certificates, .level == "senior")`, certs(`{"level":"senior"}`, `{}`), "", VerdictUnknown},
		{15, "one: exactly one", `one(resident.skill_certificates, .level == "senior")`, certs(`{"level":"senior"}`, `{"level":"junior"}`), "", True},
		{16, "an element's predicate decided by one field", `any(resident.benefits_received, .policy_id == "a" or .amount > 1)`, benefits(`{"policy_id":"a"}`), "", True},
		{17, "count over an unknown element", `count(resident.skill_certificates, .level == "senior") >= 1`, certs(`{"level":"senior"}`, `{}`), "", VerdictUnknown},
		{17, "count over known elements", `count(resident.skill_certificates, .level == "senior") >= 1`, certs(`{"level":"senior"}`, `{"level":"junior"}`), "", True},
		{17, "filter over an unknown element", `len(filter(resident.skill_certificates, .level == "senior")) > 0`, certs(`{"level":"senior"}`, `{}`), "", VerdictUnknown},
		{18, "sum over an absent field", `sum(resident.benefits_received, .amount) > 0`, benefits(`{"amount":1}`, `{}`), "", VerdictUnknown},
		{18, "map over known fields", `"a" in map(resident.benefits_received, .policy_id)`, benefits(`{"policy_id":"a"}`), "", True},
		{19, "len ignores absent element fields", `len(resident.skill_certificates) == 2`, certs(`{}`, `{}`), "", True},
		{19, "len of an absent list", `len(resident.skill_certificates) == 0`, empty, "", VerdictUnknown},
		{19, "len of a string counts characters", `len(resident.gender) == 1`, `{"person_id":"p","gender":"女"}`, "", True},
		{20, "index past the end is unknown", `resident.skill_certificates[0].level == "senior" or true`, certs(), "", True},
		{20, "index past the end alone", `resident.skill_certificates[0].level == "senior"`, certs(), "", VerdictUnknown},
		{20, "index past the end with ??", `(resident.skill_certificates[3].level ?? "none") == "none"`, certs(`{"level":"senior"}`), "", True},
		{20, "a negative index", `resident.skill_certificates[-1].level == "junior"`, certs(`{"level":"senior"}`, `{"level":"junior"}`), "", True},
		{21, "age on the birthday", `age(resident.birth_date) >= 60`, `{"person_id":"p","birth_date":"1966-11-27"}`, "2026-11-27", True},
		{21, "age the day before", `age(resident.birth_date) >= 60`, `{"person_id":"p","birth_date":"1966-11-27"}`, "2026-11-26", False},
		{21, "age born 29 February, on 28 February", `age(resident.birth_date) == 1`, `{"person_id":"p","birth_date":"2000-02-29"}`, "2001-02-28", True},
		{21, "age born 29 February, the day before", `age(resident.birth_date) == 0`, `{"person_id":"p","birth_date":"2000-02-29"}`, "2001-02-27", True},
		{21, "age of a future date", `age(resident.birth_date) == -1`, `{"person_id":"p","birth_date":"2027-01-01"}`, "2026-11-27", True},
		{22, "months_since a date later this month", `months_since(resident.education.graduation_date) == -1`, `{"person_id":"p","education":{"graduation_date":"2025-06-28"}}`, "2025-06-01", True},
		{22, "graduates in four weeks: not within 24 months yet", `months_since(resident.education.graduation_date) >= 0 && months_since(resident.education.graduation_date) <= 24`, `{"person_id":"p","education":{"graduation_date":"2025-06-28"}}`, "2025-06-01", False},
		{22, "31 January to 28 February is one month", `months_since(resident.education.graduation_date) == 1`, `{"person_id":"p","education":{"graduation_date":"2025-01-31"}}`, "2025-02-28", True},
		{22, "31 January to 27 February is none", `months_since(resident.education.graduation_date) == 0`, `{"person_id":"p","education":{"graduation_date":"2025-01-31"}}`, "2025-02-27", True},
		{22, "a month YYYY-MM", `months_since(resident.insurance.pension.last_paid_month) == 3`, `{"person_id":"p","insurance":{"pension":{"last_paid_month":"2026-08"}}}`, "2026-11-27", True},
		{23, "months_between", `months_between(resident.education.graduation_date, resident.entrepreneur.registered_date) == 11`, `{"person_id":"p","education":{"graduation_date":"2025-06-30"},"entrepreneur":{"registered_date":"2026-06-29"}}`, "", True},
		{23, "months_between backwards", `months_between(resident.entrepreneur.registered_date, resident.education.graduation_date) == -12`, `{"person_id":"p","education":{"graduation_date":"2025-06-30"},"entrepreneur":{"registered_date":"2026-06-29"}}`, "", True},
		{24, "days_since", `days_since(resident.employment.last_separation.date) == 366`, `{"person_id":"p","employment":{"last_separation":{"date":"2025-11-26"}}}`, "2026-11-27", True},
		{24, "days_since a future date", `days_since(resident.employment.last_separation.date) == -2`, `{"person_id":"p","employment":{"last_separation":{"date":"2026-11-29"}}}`, "2026-11-27", True},
		{25, "year", `year(resident.birth_date) == 1966`, `{"person_id":"p","birth_date":"1966-11-27"}`, "", True},
		{25, "now in Asia/Shanghai", `now.Year() == 2026 && now.Day() == 1`, empty, "2025-12-31T16:00:00Z", True},
		{26, "an impossible date is no date", `months_since(resident.birth_date) > 0`, `{"person_id":"p","birth_date":"2025-02-30"}`, "", VerdictUnknown},
		{26, "29 February in a leap year is a date", `months_since(resident.birth_date) > 0`, `{"person_id":"p","birth_date":"2024-02-29"}`, "", True},
		{27, "startsWith on absent", `resident.residence_region_code startsWith "3301"`, empty, "", VerdictUnknown},
		{27, "startsWith", `resident.residence_region_code startsWith "3301"`, `{"person_id":"p","residence_region_code":"330106"}`, "", True},
		{27, "upper and concatenation", `upper(resident.gender + "x") == "FX"`, `{"person_id":"p","gender":"f"}`, "", True},
		{31, "first of an empty list", `first(resident.skill_certificates).level == "senior" or true`, certs(), "", True},
		{31, "first of an empty list alone", `first(resident.skill_certificates).level == "senior"`, certs(), "", VerdictUnknown},
		{31, "last", `last(resident.skill_certificates).level == "junior"`, certs(`{"level":"senior"}`, `{"level":"junior"}`), "", True},
		{32, "find after an unknown element", `find(resident.skill_certificates, .level == "senior").issue_date == "2026-01-01"`, certs(`{}`, `{"level":"senior","issue_date":"2026-01-01"}`), "", VerdictUnknown},
		{32, "find the first that holds", `find(resident.skill_certificates, .level == "senior").issue_date == "2026-01-01"`, certs(`{"level":"senior","issue_date":"2026-01-01"}`, `{}`), "", True},
		{32, "find when none holds", `(find(resident.skill_certificates, .level == "senior").issue_date ?? "none") == "none"`, certs(`{"level":"junior"}`), "", True},
		{30, "let of an absent value", `let n = resident.insurance.pension.cumulative_months; n > 1 or true`, empty, "", VerdictUnknown},
		{30, "let of a known value", `let n = resident.insurance.pension.cumulative_months; n > 1`, `{"person_id":"p","insurance":{"pension":{"cumulative_months":12}}}`, "", True},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("row %d: %s", tt.row, tt.name), func(t *testing.T) {
			when := tt.at
			if when == "" {
				when = "2026-11-27"
			}
			s := mustSet(t, policyYAML("resident", "", "", yamlQuote(tt.expr)))
			in := prepare(t, s, profile.KindResident, tt.profile)
			inst := s.At(at(t, when))
			if got := verdictOf(s.NewEvaluator().Evaluate(s.Policy("t"), in, inst), 0); got != tt.want {
				t.Errorf("engine: %s on %s: got %s, want %s", tt.expr, tt.profile, got, tt.want)
			}
			var r profile.Resident
			if err := json.Unmarshal([]byte(tt.profile), &r); err != nil {
				t.Fatal(err)
			}
			v, err := refCondition(tt.expr, &refEnv{kind: "resident", root: robj{reflect.ValueOf(r)}, now: inst.Now})
			if err != nil {
				t.Fatal(err)
			}
			if v.verdict() != tt.want {
				t.Errorf("reference: %s on %s: got %s, want %s", tt.expr, tt.profile, v.verdict(), tt.want)
			}
		})
	}
}

// Rows 11, 28 and 29: the amount, params and a run-time error.
func TestSemanticsTableAmountAndParams(t *testing.T) {
	src := policyYAML("resident", "  min: {2020-01-01: 12, 2026-01-01: 14}\n  levels: {2020-01-01: [a]}\n",
		"resident.insurance.pension.cumulative_months / 2",
		"resident.insurance.pension.cumulative_months >= params.min",
		"params.levels[9] == \"a\" or true")
	s := mustSet(t, src)
	p := s.Policy("t")
	ev := s.NewEvaluator()
	full := prepare(t, s, profile.KindResident, `{"person_id":"p","insurance":{"pension":{"cumulative_months":13}}}`)
	none := prepare(t, s, profile.KindResident, `{"person_id":"p"}`)
	o := ev.Evaluate(p, full, s.At(at(t, "2025-06-01")))
	if verdictOf(o, 0) != True || verdictOf(o, 1) != VerdictUnknown {
		t.Errorf("row 29: a run-time error makes only its condition unknown: %+v", o)
	}
	if v, ok := ev.amountOf(p, full, s.At(at(t, "2025-06-01"))); !ok || v != 6.5 {
		t.Errorf("row 11: amount %v %v, want 6.5", v, ok)
	}
	if _, ok := ev.amountOf(p, none, s.At(at(t, "2026-01-01"))); ok {
		t.Error("row 11: an amount that reads absent data is none")
	}
	if o := ev.Evaluate(p, full, s.At(at(t, "2026-06-01"))); verdictOf(o, 0) != False {
		t.Errorf("row 28: the param's value in force: %+v", o)
	}
}

// An explanation names only the absent fields that made a condition
// unknown.
func TestExplainNamesTheMissingFields(t *testing.T) {
	tests := []struct {
		expr, profile string
		want          []string
	}{
		{`none(resident.benefits_received ?? [], .policy_id in ["a", "b"] and months_since(.granted_on) < 12)`,
			`{"person_id":"p","benefits_received":[{"policy_id":"x"},{"policy_id":"a"}]}`,
			[]string{"resident.benefits_received[1].granted_on"}},
		{`resident.hukou.is_local or resident.veteran.is_veteran`,
			`{"person_id":"p","veteran":{"is_veteran":false}}`, []string{"resident.hukou.is_local"}},
		{`(resident.hukou.is_local and resident.veteran.is_veteran) or resident.hardship.certified`,
			`{"person_id":"p","veteran":{"is_veteran":false}}`, []string{"resident.hardship.certified"}},
		{`any(resident.skill_certificates, .level == "senior")`, `{"person_id":"p"}`, []string{"resident.skill_certificates"}},
		{`resident.employment?.status != "employed"`, `{"person_id":"p"}`, []string{"resident.employment.status"}},
	}
	for _, tt := range tests {
		s := mustSet(t, policyYAML("resident", "", "", yamlQuote(tt.expr)))
		x := s.NewEvaluator().Explain(s.Policy("t"), prepare(t, s, profile.KindResident, tt.profile), s.At(at(t, "2026-11-27")))
		c := x.Conditions[0]
		if c.Verdict != "unknown" || strings.Join(c.Missing, ",") != strings.Join(tt.want, ",") {
			t.Errorf("%s on %s: %s, missing %v; want unknown, missing %v", tt.expr, tt.profile, c.Verdict, c.Missing, tt.want)
		}
	}
}
