package rules

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/policypush/policypush/internal/profile"
)

// policyYAML builds a one-policy rule file around the given conditions.
func policyYAML(subject, params, amount string, conds ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `id: t
version: 1
title: test
domain: employment
subject: %s
department: test
source: {doc: "test"}
status: active
valid_from: 2020-01-01
`, subject)
	if params != "" {
		b.WriteString("params:\n" + params)
	}
	b.WriteString("conditions:\n")
	for i, c := range conds {
		fmt.Fprintf(&b, "  - name: c%d\n    expr: %s\n", i, c)
	}
	if amount != "" {
		fmt.Fprintf(&b, "amount: %s\n", amount)
	}
	return b.String()
}

func mustSet(t testing.TB, src string) *Set {
	t.Helper()
	r, err := ParseRule("t.yaml", []byte(src))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, src)
	}
	s, err := Compile([]*Rule{r})
	if err != nil {
		t.Fatalf("compile: %v\n%s", err, src)
	}
	return s
}

func prepare(t testing.TB, s *Set, kind profile.Kind, js string) *Input {
	t.Helper()
	var p any = &profile.Resident{}
	if kind == profile.KindEnterprise {
		p = &profile.Enterprise{}
	}
	if err := json.Unmarshal([]byte(js), p); err != nil {
		t.Fatalf("profile: %v", err)
	}
	in, err := s.Prepare(p)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func at(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := ParseTime(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestConditionVerdicts pins the three-valued semantics of CONTRACTS.md §3.
func TestConditionVerdicts(t *testing.T) {
	certs := func(items ...string) string {
		return `{"person_id":"p","skill_certificates":[` + strings.Join(items, ",") + `]}`
	}
	tests := []struct {
		name    string
		expr    string
		profile string
		at      string
		want    Verdict
	}{
		{"absent bool compared to true is unknown", `resident.employment.unemployment_registration.registered == true`, `{"person_id":"p"}`, "", VerdictUnknown},
		{"null is unknown", `resident.employment.unemployment_registration.registered == true`, `{"person_id":"p","employment":{"unemployment_registration":{"registered":null}}}`, "", VerdictUnknown},
		{"false is false", `resident.employment.unemployment_registration.registered == true`, `{"person_id":"p","employment":{"unemployment_registration":{"registered":false}}}`, "", False},
		{"true is true", `resident.employment.unemployment_registration.registered == true`, `{"person_id":"p","employment":{"unemployment_registration":{"registered":true}}}`, "", True},
		{"absent number is unknown", `resident.insurance.pension.cumulative_months >= 12`, `{"person_id":"p","insurance":{}}`, "", VerdictUnknown},
		{"zero is known", `resident.insurance.pension.cumulative_months >= 12`, `{"person_id":"p","insurance":{"pension":{"cumulative_months":0}}}`, "", False},
		{"or short-circuits past absent data", `resident.hukou.is_local or resident.veteran.is_veteran`, `{"person_id":"p","hukou":{"is_local":true}}`, "", True},
		{"or: a known true side wins over absent data", `resident.hukou.is_local or resident.veteran.is_veteran`, `{"person_id":"p","veteran":{"is_veteran":true}}`, "", True},
		{"or: a false side and absent data", `resident.hukou.is_local or resident.veteran.is_veteran`, `{"person_id":"p","veteran":{"is_veteran":false}}`, "", VerdictUnknown},
		{"or: both known false", `resident.hukou.is_local or resident.veteran.is_veteran`, `{"person_id":"p","hukou":{"is_local":false},"veteran":{"is_veteran":false}}`, "", False},
		{"and: a known false side wins over absent data", `resident.hukou.is_local and resident.veteran.is_veteran`, `{"person_id":"p","veteran":{"is_veteran":false}}`, "", False},
		{"and: a true side and absent data", `resident.hukou.is_local && resident.veteran.is_veteran`, `{"person_id":"p","veteran":{"is_veteran":true}}`, "", VerdictUnknown},
		{"not of absent data", `not resident.hukou.is_local`, `{"person_id":"p"}`, "", VerdictUnknown},
		{"not of known data", `!resident.hukou.is_local`, `{"person_id":"p","hukou":{"is_local":false}}`, "", True},
		{"nested connectives", `(resident.hukou.is_local and resident.veteran.is_veteran) or resident.hardship.certified`, `{"person_id":"p","hardship":{"certified":true}}`, "", True},
		{"?? gives absent data a value", `(resident.veteran.is_veteran ?? false) == false`, `{"person_id":"p"}`, "", True},
		{"?. on an absent link is unknown, not nil", `resident.veteran?.is_veteran == true`, `{"person_id":"p"}`, "", VerdictUnknown},
		{"?. with != on an empty profile is unknown", `resident.employment?.status != "employed"`, `{"person_id":"p"}`, "", VerdictUnknown},
		{"?. with != true on an empty profile is unknown", `resident.hukou?.is_local != true`, `{"person_id":"p"}`, "", VerdictUnknown},
		{"?. then ?? gives the default", `(resident.hukou?.is_local ?? false) != true`, `{"person_id":"p"}`, "", True},
		{"in on an absent enum is unknown", `resident.hukou.type in ["urban", "unified"]`, `{"person_id":"p"}`, "", VerdictUnknown},
		{"in on a list field", `"dibao" in resident.hardship.categories`, `{"person_id":"p","hardship":{"categories":["dibao"]}}`, "", True},
		{"absent list is unknown", `"dibao" in resident.hardship.categories`, `{"person_id":"p"}`, "", VerdictUnknown},
		{"any: a known element satisfies it", `any(resident.skill_certificates, months_since(.issue_date) <= 12)`, certs(`{"level":"senior"}`, `{"issue_date":"2026-06-01"}`), "2026-11-27", True},
		{"any: only unknown elements left", `any(resident.skill_certificates, months_since(.issue_date) <= 12)`, certs(`{"level":"senior"}`, `{"issue_date":"2020-06-01"}`), "2026-11-27", VerdictUnknown},
		{"any: every element known and none satisfies", `any(resident.skill_certificates, months_since(.issue_date) <= 12)`, certs(`{"issue_date":"2020-06-01"}`), "2026-11-27", False},
		{"any: empty list", `any(resident.skill_certificates, months_since(.issue_date) <= 12)`, certs(), "2026-11-27", False},
		{"any: absent list", `any(resident.skill_certificates, months_since(.issue_date) <= 12)`, `{"person_id":"p"}`, "2026-11-27", VerdictUnknown},
		{"all: a known element fails", `all(resident.skill_certificates, .level == "senior")`, certs(`{"level":"junior"}`, `{}`), "", False},
		{"all: unknown element and no failure", `all(resident.skill_certificates, .level == "senior")`, certs(`{"level":"senior"}`, `{}`), "", VerdictUnknown},
		{"all: every element holds", `all(resident.skill_certificates, .level == "senior")`, certs(`{"level":"senior"}`), "", True},
		{"none: absent list defaulted", `none(resident.benefits_received ?? [], .policy_id == "x")`, `{"person_id":"p"}`, "", True},
		{"none: a known element matches", `none(resident.benefits_received ?? [], .policy_id == "x")`, `{"person_id":"p","benefits_received":[{"policy_id":"y"},{"policy_id":"x"}]}`, "", False},
		{"none: an unknown element", `none(resident.benefits_received ?? [], .policy_id == "x")`, `{"person_id":"p","benefits_received":[{"amount":1}]}`, "", VerdictUnknown},
		{"count over an unknown element is unknown", `count(resident.skill_certificates, .level == "senior") >= 2`, certs(`{"level":"senior"}`, `{}`), "", VerdictUnknown},
		{"count over known elements", `count(resident.skill_certificates, .level == "senior") >= 1`, certs(`{"level":"senior"}`, `{"level":"junior"}`), "", True},
		{"index past the end is unknown", `resident.skill_certificates[0].level == "senior"`, certs(), "", VerdictUnknown},
		{"index reads an element field", `resident.skill_certificates[0].level == "senior"`, certs(`{"level":"senior"}`), "", True},
		{"age on the birthday", `age(resident.birth_date) >= 60`, `{"person_id":"p","birth_date":"1966-11-27"}`, "2026-11-27", True},
		{"age the day before", `age(resident.birth_date) >= 60`, `{"person_id":"p","birth_date":"1966-11-27"}`, "2026-11-26", False},
		{"age of an absent date", `age(resident.birth_date) >= 60`, `{"person_id":"p"}`, "2026-11-26", VerdictUnknown},
		{"months_since a month", `months_since(resident.insurance.pension.last_paid_month) == 3`, `{"person_id":"p","insurance":{"pension":{"last_paid_month":"2026-08"}}}`, "2026-11-27", True},
		// 2027-06-30 minus 7 months is 2026-11-30, after now: -8 whole months.
		{"months_since a future date is negative", `months_since(resident.education.graduation_date) == -8`, `{"person_id":"p","education":{"graduation_date":"2027-06-30"}}`, "2026-11-27", True},
		{"days_since", `days_since(resident.employment.last_separation.date) == 366`, `{"person_id":"p","employment":{"last_separation":{"date":"2025-11-26"}}}`, "2026-11-27", True},
		{"months_between", `months_between(resident.education.graduation_date, resident.entrepreneur.registered_date) == 11`, `{"person_id":"p","education":{"graduation_date":"2025-06-30"},"entrepreneur":{"registered_date":"2026-06-29"}}`, "", True},
		{"now in Asia/Shanghai", `now.Year() == 2026`, `{"person_id":"p"}`, "2026-01-01", True},
		{"date strings compare", `resident.birth_date <= "1966-12-31"`, `{"person_id":"p","birth_date":"1966-11-27"}`, "", True},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustSet(t, policyYAML("resident", "", "", "'"+strings.ReplaceAll(tt.expr, "'", "''")+"'"))
			when := tt.at
			if when == "" {
				when = "2026-11-27"
			}
			o := s.NewEvaluator().Evaluate(s.Policy("t"), prepare(t, s, profile.KindResident, tt.profile), s.At(at(t, when)))
			got := True
			switch {
			case o.Failed != 0:
				got = False
			case o.Unknown != 0:
				got = VerdictUnknown
			}
			if got != tt.want {
				t.Errorf("%s on %s: got %s, want %s", tt.expr, tt.profile, got, tt.want)
			}
		})
	}
}

// TestPolicyResult pins how verdicts combine, the amount, and dated params.
func TestPolicyResult(t *testing.T) {
	src := policyYAML("resident",
		"  min_months: {2020-01-01: 12, 2025-01-01: 6}\n  amount: {2020-01-01: 1000, 2026-01-01: 1500.5}\n",
		"params.amount * 2",
		"resident.insurance.unemployment.cumulative_months >= params.min_months",
		"resident.hukou.is_local == true",
	)
	s := mustSet(t, src)
	p := s.Policy("t")
	tests := []struct {
		name      string
		profile   string
		at        string
		want      Result
		failed    []string
		unknown   []string
		amount    float64
		hasAmount bool
	}{
		{"eligible under the new threshold", `{"person_id":"p","insurance":{"unemployment":{"cumulative_months":8}},"hukou":{"is_local":true}}`, "2025-06-01", Eligible, nil, nil, 2000, true},
		{"ineligible under the old threshold", `{"person_id":"p","insurance":{"unemployment":{"cumulative_months":8}},"hukou":{"is_local":true}}`, "2024-06-01", Ineligible, []string{"c0"}, nil, 0, false},
		{"the amount param changes", `{"person_id":"p","insurance":{"unemployment":{"cumulative_months":8}},"hukou":{"is_local":true}}`, "2026-01-01", Eligible, nil, nil, 3001, true},
		{"false wins over unknown", `{"person_id":"p","insurance":{"unemployment":{"cumulative_months":1}}}`, "2026-01-01", Ineligible, []string{"c0"}, []string{"c1"}, 0, false},
		{"unknown without false", `{"person_id":"p","insurance":{"unemployment":{"cumulative_months":12}}}`, "2026-01-01", Unknown, nil, []string{"c1"}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := s.NewEvaluator().Evaluate(p, prepare(t, s, profile.KindResident, tt.profile), s.At(at(t, tt.at)))
			if o.Result != tt.want || !sameSet(p.Names(o.Failed), tt.failed) || !sameSet(p.Names(o.Unknown), tt.unknown) ||
				o.HasAmount != tt.hasAmount || o.Amount != tt.amount {
				t.Errorf("got %s failed=%v unknown=%v amount=%v/%v; want %s %v %v %v/%v", o.Result,
					p.Names(o.Failed), p.Names(o.Unknown), o.Amount, o.HasAmount, tt.want, tt.failed, tt.unknown, tt.amount, tt.hasAmount)
			}
		})
	}
	if !p.Temporal() {
		t.Error("a policy with a param that changes value must be temporal")
	}
}

func TestApplies(t *testing.T) {
	s := mustSet(t, strings.Replace(policyYAML("resident", "", "", "resident.hukou.is_local"),
		"valid_from: 2020-01-01\n", "valid_from: 2020-01-01\nvalid_until: 2025-12-31\n", 1))
	p := s.Policy("t")
	for _, tt := range []struct {
		at   string
		want bool
	}{
		{"2019-12-31T23:59:59+08:00", false},
		{"2020-01-01", true},
		{"2025-12-31T23:59:59+08:00", true},
		{"2025-12-31T16:00:00Z", false}, // 2026-01-01 00:00 in Shanghai
	} {
		if got := p.Applies(s.At(at(t, tt.at))); got != tt.want {
			t.Errorf("Applies(%s) = %v, want %v", tt.at, got, tt.want)
		}
	}
}

func TestFieldsAndTemporal(t *testing.T) {
	tests := []struct {
		name     string
		conds    []string
		fields   []string
		temporal bool
	}{
		{"plain fields", []string{"resident.hukou.is_local", `resident.employment.status == "employed"`},
			[]string{"employment.status", "hukou.is_local"}, false},
		{"element fields and helpers", []string{"any(resident.skill_certificates, months_since(.issue_date) <= 12)"},
			[]string{"skill_certificates", "skill_certificates[].issue_date"}, true},
		{"now", []string{"now.Year() > 2000"}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustSet(t, policyYAML("resident", "", "", tt.conds...)).Policy("t")
			if strings.Join(p.Fields(), ",") != strings.Join(tt.fields, ",") || p.Temporal() != tt.temporal {
				t.Errorf("fields %v temporal %v; want %v %v", p.Fields(), p.Temporal(), tt.fields, tt.temporal)
			}
		})
	}
	p := mustSet(t, policyYAML("resident", "", "", "resident.hukou.is_local")).Policy("t")
	for path, want := range map[string]bool{"hukou": true, "hukou.is_local": true, "hukou.type": false, "education": false} {
		if p.Reads(path) != want {
			t.Errorf("Reads(%q) = %v, want %v", path, !want, want)
		}
	}
}

// The hot path must not allocate.
func TestEvaluateDoesNotAllocate(t *testing.T) {
	s := mustSet(t, policyYAML("resident", "  min: {2020-01-01: 12}\n", "1000",
		"resident.insurance.unemployment.cumulative_months >= params.min",
		"any(resident.skill_certificates, months_since(.issue_date) <= 12)",
		"none(resident.benefits_received ?? [], .policy_id == \"t\")",
		"age(resident.birth_date) < 60",
	))
	in := prepare(t, s, profile.KindResident, `{"person_id":"p","birth_date":"1990-01-01","insurance":{"unemployment":{"cumulative_months":27}},"skill_certificates":[{"issue_date":"2026-06-01"}]}`)
	ev, p, now := s.NewEvaluator(), s.Policy("t"), s.At(at(t, "2026-11-27"))
	if o := ev.Evaluate(p, in, now); o.Result != Eligible {
		t.Fatalf("setup: %+v", o)
	}
	if n := testing.AllocsPerRun(200, func() { ev.Evaluate(p, in, now) }); n != 0 {
		t.Errorf("Evaluate allocates %v times per run", n)
	}
}

// A set is shared by workers, each with its own evaluator.
func TestConcurrentEvaluators(t *testing.T) {
	s := mustSet(t, policyYAML("resident", "  min: {2020-01-01: 12}\n", "params.min * 100",
		"resident.insurance.unemployment.cumulative_months >= params.min",
		"any(resident.skill_certificates, months_since(.issue_date) <= 12)"))
	p := s.Policy("t")
	ins := []*Input{
		prepare(t, s, profile.KindResident, `{"person_id":"a","insurance":{"unemployment":{"cumulative_months":27}},"skill_certificates":[{"issue_date":"2026-06-01"}]}`),
		prepare(t, s, profile.KindResident, `{"person_id":"b","insurance":{"unemployment":{"cumulative_months":2}}}`),
		prepare(t, s, profile.KindResident, `{"person_id":"c"}`),
	}
	now := s.At(at(t, "2026-11-27"))
	want := make([]Outcome, len(ins))
	for i, in := range ins {
		want[i] = s.NewEvaluator().Evaluate(p, in, now)
	}
	errs := make(chan string, 4)
	for w := 0; w < 4; w++ {
		go func() {
			ev := s.NewEvaluator()
			for n := 0; n < 500; n++ {
				i := n % len(ins)
				if got := ev.Evaluate(p, ins[i], now); got != want[i] {
					errs <- fmt.Sprintf("%s: got %+v, want %+v", ins[i].ID, got, want[i])
					return
				}
			}
			errs <- ""
		}()
	}
	for w := 0; w < 4; w++ {
		if e := <-errs; e != "" {
			t.Error(e)
		}
	}
}
