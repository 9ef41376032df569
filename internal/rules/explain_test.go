package rules

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/policypush/policypush/internal/profile"
)

var update = flag.Bool("update", false, "rewrite golden files")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run with -update to accept):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestExplain(t *testing.T) {
	s := mustSet(t, `id: skill-upgrade-subsidy
version: 3
title: 失业保险技能提升补贴
domain: employment
subject: resident
department: 职业能力建设科
source: {doc: "人社部发〔2023〕18号"}
status: active
valid_from: 2023-01-01
params:
  min_ui_months: {2023-01-01: 12}
conditions:
  - name: 参加失业保险满12个月
    expr: resident.insurance.unemployment.cumulative_months >= params.min_ui_months
  - name: 近12个月内取得职业技能证书
    expr: any(resident.skill_certificates, months_since(.issue_date) <= 12)
  - name: 本地户籍或退役军人
    expr: resident.hukou.is_local or resident.veteran.is_veteran
amount: 'resident.skill_certificates[0].level == "senior" ? 2000 : 1000'
`)
	tests := []struct {
		name, profile string
	}{
		{"eligible", `{"person_id":"p1","hukou":{"is_local":true},"insurance":{"unemployment":{"cumulative_months":27}},"skill_certificates":[{"level":"senior","issue_date":"2026-06-20"}]}`},
		{"unknown", `{"person_id":"p2","insurance":{"unemployment":{"cumulative_months":27}},"skill_certificates":[{"level":"junior"}]}`},
		{"ineligible", `{"person_id":"p3","veteran":{"is_veteran":true},"insurance":{"unemployment":{"cumulative_months":3}}}`},
	}
	var out bytes.Buffer
	ev := s.NewEvaluator()
	for _, tt := range tests {
		x := ev.Explain(s.Policy("skill-upgrade-subsidy"), prepare(t, s, profile.KindResident, tt.profile), s.At(at(t, "2026-11-27")))
		if x.Result != tt.name {
			t.Errorf("%s: result %s", tt.name, x.Result)
		}
		if err := x.WriteText(&out); err != nil {
			t.Fatal(err)
		}
		out.WriteString("\n")
	}
	golden(t, "explain.golden", out.Bytes())
}
