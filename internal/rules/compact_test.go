package rules

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/policypush/policypush/internal/profile"
)

// checkCompact asserts that the compact record of an explanation, rendered
// with its form, is byte for byte the JSON of ExplainOutcome: the
// explanation a match stored before records were compact, and the
// independent reference here.
func checkCompact(t *testing.T, ev *Evaluator, p *Policy, in *Input, at *Instant) int {
	t.Helper()
	o := ev.Evaluate(p, in, at)
	want, err := json.Marshal(ev.ExplainOutcome(p, in, at, o))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := ev.AppendCompact(nil, p, in, at, o)
	if err != nil {
		t.Fatal(err)
	}
	got, err := RenderExplanation(p.Form().JSON, rec, string(in.Kind), in.ID)
	if err != nil {
		t.Fatalf("%s: %v", p.ID, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s at %s: rendered\n%s\nwant\n%s", p.ID, at.Now.Format(time.RFC3339), got, want)
	}
	return len(rec)
}

// TestCompactExplanationRendersAsExplain: on every catalogue policy, its
// test profiles and 600 random variations of them at three dates, a
// compact record and its form render as the explanation Explain gives.
func TestCompactExplanationRendersAsExplain(t *testing.T) {
	rules, profiles := readCatalogue(t)
	set, err := compile(rules, true)
	if err != nil {
		t.Fatal(err)
	}
	ev := set.NewEvaluator()
	r := rand.New(rand.NewPCG(3, 4))
	n := 600
	if testing.Short() {
		n = 100
	}
	var compared, recBytes, jsonBytes int
	verdicts := map[string]int{}
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
			in, err := set.Prepare(subject)
			if err != nil {
				t.Fatal(err)
			}
			for _, days := range []int{0, 200, 500} {
				at := set.At(time.Date(2026, 1, 1, 9, 30, 0, 0, Shanghai).AddDate(0, 0, days))
				for _, p := range set.Policies() {
					if p.Subject != kind {
						continue
					}
					recBytes += checkCompact(t, ev, p, in, at)
					x := ev.Explain(p, in, at)
					b, _ := json.Marshal(x)
					jsonBytes += len(b)
					verdicts[x.Result]++
					compared++
				}
			}
		}
	}
	for _, res := range []string{"eligible", "ineligible", "unknown"} {
		if verdicts[res] == 0 {
			t.Errorf("no %s explanation was compared", res)
		}
	}
	t.Logf("%d explanations agree (%v); records %d bytes on average, JSON %d", compared, verdicts, recBytes/compared, jsonBytes/compared)
}

// TestCompactExplanationWithholdsSensitive: a sensitive field's value is
// not in the compact record at all, and the rendered explanation marks it
// withheld as Explain does; values that need escapes, element objects and
// params come back as they were.
func TestCompactExplanationWithholdsSensitive(t *testing.T) {
	s := mustSet(t, `id: p
version: 2
title: "含\"引号\"的 <标题>"
domain: employment
subject: resident
department: d
source: {doc: d}
status: active
valid_from: 2023-01-01
params:
  ratio: {2023-01-01: 0.5}
  min: {2023-01-01: 3}
conditions:
  - name: 残疾等级
    expr: resident.disability.level <= params.min
  - name: 证书
    expr: any(resident.skill_certificates, .occupation_name == "电工 \"高级\"\n<a&b>")
  - name: 困难类别
    expr: '"dibao" in (resident.hardship.categories ?? [])'
  - name: 毕业
    expr: months_since(resident.education.graduation_date) < 24
amount: 'resident.insurance.pension.cumulative_months * params.ratio'
`)
	p := s.Policy("p")
	ev := s.NewEvaluator()
	in := prepare(t, s, profile.KindResident, `{"person_id":"p_x","disability":{"level":2},
		"skill_certificates":[{"occupation_name":"电工 \"高级\"\n<a&b>","level":"senior","issue_date":"2026-01-02"},{"level":"junior"}],
		"hardship":{"categories":["dibao","tekun"]},"education":{"graduation_date":"2025-06-30"},"insurance":{"pension":{"cumulative_months":37}}}`)
	at := s.At(time.Date(2026, 11, 27, 10, 0, 0, 123, Shanghai))
	checkCompact(t, ev, p, in, at)
	o := ev.Evaluate(p, in, at)
	rec, err := ev.AppendCompact(nil, p, in, at, o)
	if err != nil {
		t.Fatal(err)
	}
	// The value 2 would be written as the byte '2' after its length 1.
	if bytes.Contains(rec, []byte{readValue, 1, '2'}) {
		t.Errorf("the record holds the sensitive value: % x", rec)
	}
	out, _ := RenderExplanation(p.Form().JSON, rec, "resident", "p_x")
	var x Explanation
	if err := json.Unmarshal(out, &x); err != nil {
		t.Fatal(err)
	}
	if r := x.Conditions[0].Reads[0]; !r.Sensitive || r.Value != nil || r.Name != "resident.disability.level" {
		t.Errorf("sensitive read rendered as %+v", r)
	}
	if x.Conditions[0].Verdict != "true" || x.Result != "eligible" || x.Amount == nil || *x.Amount != 18.5 {
		t.Errorf("rendered %s", out)
	}
	// A profile without the fields: absent, defaulted, unknown with
	// missing fields.
	checkCompact(t, ev, p, prepare(t, s, profile.KindResident, `{"person_id":"p_y"}`), at)
}

// TestRenderExplanationRefusesBadRecords: a record that does not fit its
// form, or is cut short, is an error, not a wrong explanation.
func TestRenderExplanationRefusesBadRecords(t *testing.T) {
	s := mustSet(t, `id: p
version: 1
title: t
domain: employment
subject: resident
department: d
source: {doc: d}
status: active
valid_from: 2023-01-01
conditions:
  - name: a
    expr: resident.hukou.is_local == true
  - name: b
    expr: resident.employment.status == "employed"
`)
	other := mustSet(t, `id: q
version: 1
title: t
domain: employment
subject: resident
department: d
source: {doc: d}
status: active
valid_from: 2023-01-01
conditions:
  - name: a
    expr: resident.hukou.is_local == true
`)
	p := s.Policy("p")
	ev := s.NewEvaluator()
	in := prepare(t, s, profile.KindResident, `{"person_id":"p1","hukou":{"is_local":true},"employment":{"status":"employed"}}`)
	at := s.At(time.Date(2026, 11, 27, 0, 0, 0, 0, Shanghai))
	rec, err := ev.AppendCompact(nil, p, in, at, ev.Evaluate(p, in, at))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := RenderExplanation(p.Form().JSON, rec, "resident", "p1"); err != nil {
		t.Fatalf("the good record: %v", err)
	}
	tests := []struct {
		name       string
		form, rec  []byte
		wantSubstr string
	}{
		{"another policy's form", other.Policy("q").Form().JSON, rec, "conditions"},
		{"truncated", p.Form().JSON, rec[:len(rec)-3], "truncated"},
		{"trailing bytes", p.Form().JSON, append(append([]byte(nil), rec...), 0), "left over"},
		{"unknown format", p.Form().JSON, append([]byte{9}, rec[1:]...), "format"},
		{"empty", p.Form().JSON, nil, "format"},
		{"not a form", []byte("{"), rec, "form"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := RenderExplanation(tt.form, tt.rec, "resident", "p1")
			if err == nil || !strings.Contains(err.Error(), tt.wantSubstr) {
				t.Fatalf("err = %v, want one about %q", err, tt.wantSubstr)
			}
			if tt.name != "not a form" && !errors.Is(err, errCompact) {
				t.Errorf("err = %v, want errCompact", err)
			}
		})
	}
	if !bytes.Equal(p.Form().Digest, s.Policy("p").Form().Digest) || bytes.Equal(p.Form().Digest, other.Policy("q").Form().Digest) {
		t.Error("digests do not name forms")
	}
}
