package rules

import (
	"strings"
	"testing"
)

// TestBadRules pins the message and position of each kind of bad input:
// every problem is reported as file:line:col, never as a panic.
func TestBadRules(t *testing.T) {
	base := policyYAML("resident", "  min: {2020-01-01: 12}\n", "", "resident.hukou.is_local")
	swap := func(old, new string) string { return strings.Replace(base, old, new, 1) }
	cond := func(expr string) string { return swap("resident.hukou.is_local", expr) }
	// sms appends a notify.sms block whose text is on line 18, column 11.
	sms := func(text, params string) string {
		return base + "notify:\n  sms:\n    template_code: SMS_1\n    text: \"" + text + "\"\n" + params
	}
	const policyParam = "    params: {policy: '{{policy.title}}'}\n"
	tests := []struct {
		name string
		src  string
		want string
	}{
		{"malformed YAML", base + "  - [\n", `t.yaml:15:1: malformed YAML: did not find expected node content`},
		{"unknown key", base + "colour: red\n", `t.yaml:15:1: unknown key "colour" in a rule (allowed: id, version, title, description, domain, subject, department, source, status, valid_from, valid_until, params, conditions, amount, notify, apply, changes, consultation, review)`},
		{"missing key", swap("title: test\n", ""), `t.yaml:1:1: a rule is missing the required key "title"`},
		{"bad enum", swap("domain: employment", "domain: health"), `t.yaml:4:9: domain "health" is not one of employment, social_insurance, talent, labor_relations`},
		{"bad date", swap("valid_from: 2020-01-01", "valid_from: 2020-13-01"), `t.yaml:9:13: valid_from "2020-13-01" is not a date YYYY-MM-DD`},
		{"param without a value in force", swap("2020-01-01: 12", "2021-01-01: 12"), `t.yaml:11:3: param "min" has no value in force on valid_from 2020-01-01 (its first value takes effect 2021-01-01)`},
		{"duplicate condition name", swap("conditions:\n", "conditions:\n  - name: c0\n    expr: true\n"), `t.yaml:15:11: condition name "c0" appears twice`},
		{"syntax error", cond("resident.hukou.is_local =="), `t.yaml:14:36: condition "c0": unexpected token EOF`},
		{"unknown field", cond("resident.hukou.is_locl"), `t.yaml:14:26: condition "c0": resident.hukou has no field "is_locl"; did you mean "is_local"?`},
		{"unknown param", cond("params.mn > 1"), `t.yaml:14:18: condition "c0": params has no field "mn"; did you mean "min"?`},
		{"unknown function", cond("foo(resident.birth_date)"), `t.yaml:14:11: condition "c0": unknown name foo`},
		{"non-boolean condition", cond("resident.birth_date"), `t.yaml:14:11: condition "c0": a condition must be true or false, but this is a string`},
		{"type mismatch", cond(`resident.insurance.pension.cumulative_months == "12"`), `t.yaml:14:56: condition "c0": invalid operation: == (mismatched types int and string)`},
		{"helper argument", cond("age(resident.insurance.pension.cumulative_months) > 1"), `t.yaml:14:42: condition "c0": cannot use int as argument (type string) to call age`},
		{"another subject", cond("enterprise.ui.paid_full_months > 1"), `t.yaml:14:11: condition "c0": the policy's subject is resident, so it cannot read enterprise`},
		{"a whole object", cond("resident.hukou == nil"), `t.yaml:14:20: condition "c0": read a field of resident.hukou, not the whole object`},
		{"error in a quoted expr", swap("expr: resident.hukou.is_local", "expr: 'resident.hukou.typo == 1'"), `t.yaml:14:27: condition "c0": resident.hukou has no field "typo"; did you mean "type"?`},
		{"error on a block scalar's second line", swap("expr: resident.hukou.is_local", "expr: |\n      resident.hukou.is_local and\n      resident.hukou.typo == 1"), `t.yaml:16:22: condition "c0": resident.hukou has no field "typo"; did you mean "type"?`},
		{"error on a folded scalar's second line", swap("expr: resident.hukou.is_local", "expr: >-\n      resident.hukou.is_local == true\n      and resident.hukou.typo == 1"), `t.yaml:16:26: condition "c0": resident.hukou has no field "typo"; did you mean "type"?`},
		{"error on a quoted scalar's second line", swap("expr: resident.hukou.is_local", "expr: \"resident.hukou.is_local == true\n      and resident.hukou.typo == 1\""), `t.yaml:15:26: condition "c0": resident.hukou has no field "typo"; did you mean "type"?`},
		{"error after Chinese text", cond(`'"本地" == "本地" && resident.hukou.typo == 1'`), `t.yaml:14:43: condition "c0": resident.hukou has no field "typo"; did you mean "type"?`},
		{"amount not a number", base + "amount: resident.birth_date\n", `t.yaml:15:9: amount: must be a number of 元, not string`},
		{"unknown placeholder", base + "notify: {wechat: {data: {thing1: '{{policy.name}}'}}}\n", `t.yaml:15:34: unknown placeholder {{policy.name}} (allowed: {{amount}}, {{link}}, {{policy.id}}, {{policy.title}}, {{policy.valid_until}}, {{policy.version}})`},
		{"unknown key in notify.sms", base + "notify: {sms: {txt: x}}\n", `t.yaml:15:16: unknown key "txt" in notify.sms (allowed: template_code, text, params)`},
		{"SMS text placeholder not in params", sms("您可能符合${polcy}条件，详询12333。回T退订", policyParam), `t.yaml:18:11: unknown placeholder ${polcy} in notify.sms.text (allowed: ${policy})`},
		{"SMS text placeholder without params", sms("您可能符合${policy}条件，详询12333。回T退订", ""), `t.yaml:18:11: unknown placeholder ${policy} in notify.sms.text (notify.sms.params has no keys)`},
		{"SMS text without an opt-out hint", sms("您可能符合${policy}条件，详询12333。", policyParam), `t.yaml:18:11: notify.sms.text has no opt-out hint: end it with 回T退订 or 拒收请回复R`},
		{"SMS text too long for one segment", sms("${policy}"+strings.Repeat("请", 57)+"回T退订", policyParam), `t.yaml:18:11: notify.sms.text does not fit one SMS: its 61 characters besides placeholders and 10 kept for the signature exceed 70 by 1`},
		{"empty SMS text", sms("", policyParam), `t.yaml:18:11: notify.sms.text must not be empty`},
		{"enterprise placeholder in a resident policy", base + "notify: {sms: {params: {c: '{{subject.name}}'}}}\n", `t.yaml:15:28: {{subject.name}} is only known for enterprises; this policy's subject is a resident`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseRule("t.yaml", []byte(tt.src))
			if err == nil {
				_, err = Compile([]*Rule{r})
			}
			if err == nil || err.Error() != tt.want {
				t.Errorf("got  %v\nwant %s", err, tt.want)
			}
		})
	}
}

func TestDuplicateID(t *testing.T) {
	src := policyYAML("resident", "", "", "resident.hukou.is_local")
	a, errA := ParseRule("a.yaml", []byte(src))
	b, errB := ParseRule("b.yaml", []byte(src))
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	_, err := Compile([]*Rule{a, b})
	const want = `b.yaml:1:5: duplicate policy id "t" (also in a.yaml:1:5)`
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

// A set with one bad policy loads not at all, and reports every problem.
func TestSetLoadsWhole(t *testing.T) {
	good, _ := ParseRule("good.yaml", []byte(policyYAML("resident", "", "", "resident.hukou.is_local")))
	badSrc := strings.Replace(policyYAML("enterprise", "", "", "enterprise.ui.typo > 1", "enterprise.credit.zombie == 1"), "id: t", "id: u", 1)
	bad, err := ParseRule("bad.yaml", []byte(badSrc))
	if err != nil {
		t.Fatal(err)
	}
	set, err := Compile([]*Rule{good, bad})
	if set != nil || err == nil {
		t.Fatalf("want no set and an error, got %v, %v", set, err)
	}
	if n := len(err.(Errors)); n != 2 {
		t.Errorf("want both problems of bad.yaml, got %d:\n%v", n, err)
	}
}

// A valid notify.sms.text is kept as written; without one, the SMS is not
// checked at all.
func TestSMSText(t *testing.T) {
	base := policyYAML("resident", "", "", "resident.hukou.is_local")
	tests := []struct {
		name   string
		notify string
		want   string
	}{
		{"no text", "notify: {sms: {template_code: SMS_1, params: {policy: '{{policy.title}}'}}}\n", ""},
		{"one-segment text with a placeholder", "notify: {sms: {text: '您可能符合${policy}条件，可登录人社服务平台或拨打12333咨询。回T退订', params: {policy: '{{policy.title}}'}}}\n",
			"您可能符合${policy}条件，可登录人社服务平台或拨打12333咨询。回T退订"},
		{"60 fixed characters with 拒收 as the hint", "notify: {sms: {text: '" + strings.Repeat("请", 54) + "拒收请回复R', params: {}}}\n",
			strings.Repeat("请", 54) + "拒收请回复R"},
		{"an unclosed ${ is plain text", "notify: {sms: {text: '拨打12333${咨询。回T退订'}}\n", "拨打12333${咨询。回T退订"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseRule("t.yaml", []byte(base+tt.notify))
			if err != nil {
				t.Fatal(err)
			}
			if r.Notify == nil || r.Notify.SMS == nil {
				t.Fatal("no notify.sms block")
			}
			if got := r.Notify.SMS.Text; got != tt.want {
				t.Errorf("Text = %q, want %q", got, tt.want)
			}
		})
	}
}
