package rules

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/policypush/policypush/internal/profile"
)

// TestLintRefusesContactReads: a rule decides eligibility, the dispatcher
// decides reachability, so no expression (condition or amount, in any
// spelling) may read a contact or channel field; lint says where.
func TestLintRefusesContactReads(t *testing.T) {
	const why = "is a contact or channel field, which a rule may not read: a rule decides eligibility, the dispatcher decides reachability"
	tests := []struct {
		name, subject, cond, amount string
		want                        string // file:line:col: the start of the message
	}{
		{"resident mobile", "resident", `resident.contact.mobile != ""`, "", `t.yaml:12:21: condition "c0": resident.contact ` + why},
		{"resident openid", "resident", `resident.channels.wechat.openid != ""`, "", `t.yaml:12:21: condition "c0": resident.channels ` + why},
		{"followed is reachability", "resident", `resident.channels.wechat.followed == true`, "", `t.yaml:12:21: condition "c0": resident.channels ` + why},
		{"sms enabled", "resident", `resident.channels.sms.enabled ?? false`, "", `t.yaml:12:21: condition "c0": resident.channels ` + why},
		{"bracket spelling", "resident", `resident["contact"]["mobile"] != ""`, "", `t.yaml:12:20: condition "c0": resident.contact ` + why},
		{"optional chain", "resident", `(resident?.contact?.mobile ?? "") != ""`, "", `t.yaml:12:23: condition "c0": resident.contact ` + why},
		{"inside a let", "resident", `let c = resident.contact; c.mobile != ""`, "", `t.yaml:12:29: condition "c0": resident.contact ` + why},
		{"enterprise contacts", "enterprise", `enterprise.contacts.hr_mobile != ""`, "", `t.yaml:12:23: condition "c0": enterprise.contacts ` + why},
		{"enterprise channels", "enterprise", `enterprise.channels.wechat.openid != ""`, "", `t.yaml:12:23: condition "c0": enterprise.channels ` + why},
		{"in the amount", "resident", `resident.hukou.is_local`, `len(resident.contact.mobile ?? "") * 100`, `t.yaml:13:23: amount: resident.contact ` + why},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := policyYAML(tt.subject, "", "", "'"+strings.ReplaceAll(tt.cond, "'", "''")+"'")
			if tt.amount != "" {
				src += "amount: '" + tt.amount + "'\n"
			}
			r, err := ParseRule("t.yaml", []byte(src))
			if err == nil {
				_, err = Compile([]*Rule{r})
			}
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("got  %v\nwant %s…", err, tt.want)
			}
		})
	}
	// Consent is not reachability data: a rule may still read it.
	src := policyYAML("resident", "", "", "resident.consent.personalized_push ?? true")
	if r, err := ParseRule("t.yaml", []byte(src)); err != nil {
		t.Fatal(err)
	} else if _, err := Compile([]*Rule{r}); err != nil {
		t.Errorf("a rule reading consent is refused: %v", err)
	}
}

// TestSensitiveNeverShown: conditions may read the fields the schema marks
// sensitive (disability.*, hardship.*), but no explanation shows their
// values, neither the one a match stores (its JSON) nor the one policyctl
// explain prints; and a notice cannot render them, since lint admits no
// placeholder but the policy's own and the amount.
func TestSensitiveNeverShown(t *testing.T) {
	s := mustSet(t, `id: t
version: 1
title: test
domain: employment
subject: resident
department: test
source: {doc: "test"}
status: active
valid_from: 2020-01-01
params:
  cats: {2020-01-01: [dibao]}
conditions:
  - name: 残疾等级
    expr: resident.disability.level <= 2
  - name: 困难类别
    expr: 'any(resident.hardship.categories, # in params.cats)'
  - name: 认定日期
    expr: 'resident.hardship.certified_date >= "2019-01-01"'
  - name: 本地户籍
    expr: resident.hukou.is_local
`)
	in := prepare(t, s, profile.KindResident, `{"person_id":"p1","hukou":{"is_local":true},"disability":{"level":3},"hardship":{"categories":["poverty_monitoring"],"certified_date":"2019-07-23"}}`)
	x := s.NewEvaluator().Explain(s.Policy("t"), in, s.At(at(t, "2026-11-27")))
	if x.Result != "ineligible" {
		t.Fatalf("result %s, want ineligible (the verdicts are still given)", x.Result)
	}
	secrets := []string{"poverty_monitoring", "2019-07-23"}
	stored, err := json.Marshal(x)
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	if err := x.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, out := range []struct{ what, s string }{{"stored explanation", string(stored)}, {"explain text", text.String()}} {
		for _, v := range secrets {
			if strings.Contains(out.s, v) {
				t.Errorf("%s shows the sensitive value %q:\n%s", out.what, v, out.s)
			}
		}
	}
	sensitive := 0
	for _, c := range x.Conditions {
		for _, r := range c.Reads {
			hidden := strings.HasPrefix(r.Name, "resident.disability.") || strings.HasPrefix(r.Name, "resident.hardship.")
			switch {
			case hidden && (r.Value != nil || !r.Sensitive):
				t.Errorf("%s: value %v shown (sensitive %v)", r.Name, r.Value, r.Sensitive)
			case hidden:
				sensitive++
			case r.Sensitive || (r.Value == nil && !r.Absent):
				t.Errorf("%s: not sensitive, but its value is withheld", r.Name)
			}
		}
	}
	if sensitive != 3 {
		t.Errorf("%d sensitive reads, want 3", sensitive)
	}
	if !strings.Contains(text.String(), "resident.disability.level = "+Withheld) {
		t.Errorf("explain text does not say the value is withheld:\n%s", text.String())
	}
	if !strings.Contains(text.String(), "✗ false   残疾等级") {
		t.Errorf("explain text does not show the verdict:\n%s", text.String())
	}

	// Notice text: a placeholder that would render a profile field is refused.
	for _, ph := range []string{"{{resident.disability.level}}", "{{resident.hardship.categories}}", "{{resident.contact.mobile}}", "{{subject.mobile}}"} {
		src := policyYAML("resident", "", "", "resident.hukou.is_local") + "notify: {sms: {template_code: SMS_1, params: {x: '" + ph + "'}}}\n"
		r, err := ParseRule("t.yaml", []byte(src))
		if err == nil {
			_, err = Compile([]*Rule{r})
		}
		if err == nil || !strings.Contains(err.Error(), "unknown placeholder "+ph) {
			t.Errorf("notify param %s: got %v, want it refused", ph, err)
		}
	}
}

// TestRedactStoredExplanations: an explanation stored before lint refused
// contact reads, or before the schema marked sensitive fields, is redacted
// when it is shown.
func TestRedactStoredExplanations(t *testing.T) {
	marks, err := profile.LoadMarks()
	if err != nil {
		t.Fatal(err)
	}
	if got := marks.Sensitive(profile.KindResident); !slices.Equal(got, []string{"disability", "hardship"}) {
		t.Errorf("sensitive resident fields %v, want [disability hardship] from the schema", got)
	}
	old := `{"policy_id":"p","conditions":[{"name":"c","expr":"resident.contact.mobile == \"13812345678\"","verdict":"true","reads":[` +
		`{"name":"resident.contact.mobile","value":"13812345678"},{"name":"resident.channels.wechat.openid","value":"oSecretOpenId0001"},` +
		`{"name":"resident.disability.level","value":3},{"name":"resident.hukou.is_local","value":true},{"name":"params.min","value":12}]}],` +
		`"amount_reads":[{"name":"enterprise.contacts.hr_mobile","value":"13912345678"}]}`
	got, err := Redact(json.RawMessage(old), marks)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"13812345678", "oSecretOpenId0001", `"value":3`, "13912345678"} {
		if strings.Contains(string(got), v) {
			t.Errorf("redacted explanation still holds %s: %s", v, got)
		}
	}
	for _, v := range []string{`{"name":"resident.hukou.is_local","value":true}`, `{"name":"params.min","value":12}`, `138****5678`,
		`{"name":"resident.disability.level","sensitive":true}`} {
		if !strings.Contains(string(got), v) {
			t.Errorf("redacted explanation lost %s: %s", v, got)
		}
	}
	if got := MaskMobiles("13812345678,13912345678 and 913812345678"); got != "138****5678,139****5678 and 913812345678" {
		t.Errorf("MaskMobiles: %s", got)
	}
}
