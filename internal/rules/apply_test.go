package rules

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestApplyKeys pins what lint says of a rule's apply block
// (testdata/apply): every problem of a file at once, each at its
// FILE:LINE:COL, and for a good block the next steps the notice page shows,
// defaults filled in.
func TestApplyKeys(t *testing.T) {
	day := func(s string) *time.Time {
		d, err := time.ParseInLocation("2006-01-02", s, Shanghai)
		if err != nil {
			t.Fatal(err)
		}
		return &d
	}
	tests := []struct {
		file string
		want []string // the problems, in order; none for a good file
		next Apply    // a good file's NextSteps
	}{
		{file: "good-full.yaml", next: Apply{Mode: ApplyConfirm, How: "登录单位网厅，在“待确认事项”中核对并确认",
			URL: "https://si.12333.gov.cn/", Materials: []string{"营业执照", "单位银行账户信息"}, Deadline: day("2026-06-30"),
			Office: "市社会保险事业管理中心", Confirm: "确认单位在本系统登记的银行账户信息无误"}},
		{file: "good-automatic.yaml", next: Apply{Mode: ApplyAutomatic, How: "无需申请，核定后直接拨付至单位对公账户", Deadline: day("2026-12-31")}},
		{file: "good-default.yaml", next: Apply{Mode: ApplyByPerson, How: "携材料到窗口办理", Deadline: day("2026-12-31")}},
		{file: "bad-keys.yaml", want: []string{
			`bad-keys.yaml:15:9: apply.mode "later" is not one of apply, confirm, automatic`,
			`bad-keys.yaml:16:8: apply.how must not be empty`,
			`bad-keys.yaml:17:8: apply.url "ftp://example.gov.cn/x" must be an http(s) URL`,
			`bad-keys.yaml:18:14: apply.materials must be a non-empty list of texts, such as [身份证, 营业执照]`,
			`bad-keys.yaml:19:13: apply.deadline "2026-02-30" is not a date YYYY-MM-DD`,
			`bad-keys.yaml:20:11: apply.office must be a string`,
			`bad-keys.yaml:21:3: unknown key "where" in apply (allowed: mode, how, url, materials, deadline, office, confirm)`,
		}},
		{file: "bad-deadline-after.yaml", want: []string{`bad-deadline-after.yaml:15:13: apply.deadline 2027-01-01 is after valid_until 2026-12-31`}},
		{file: "bad-deadline-before.yaml", want: []string{`bad-deadline-before.yaml:14:19: apply.deadline 2023-12-31 is before valid_from 2024-01-01`}},
		{file: "bad-confirm-missing.yaml", want: []string{
			`bad-confirm-missing.yaml:15:9: apply.mode confirm needs apply.confirm: the wording of what the person confirms, such as 确认单位在本系统登记的银行账户信息无误`}},
		{file: "bad-confirm-refused.yaml", want: []string{`bad-confirm-refused.yaml:16:12: apply.confirm is only for apply.mode confirm; this policy's mode is apply`}},
		{file: "bad-materials.yaml", want: []string{
			`bad-materials.yaml:15:20: each of apply.materials must not be empty`,
			`bad-materials.yaml:15:24: each of apply.materials must be a string`,
		}},
		{file: "bad-empty-materials.yaml", want: []string{`bad-empty-materials.yaml:14:37: apply.materials must be a non-empty list of texts, such as [身份证, 营业执照]`}},
		{file: "bad-placeholder.yaml", want: []string{
			`bad-placeholder.yaml:15:8: apply.how is shown as written: {{policy.valid_until}} would not be filled in here`,
			`bad-placeholder.yaml:16:20: each of apply.materials is shown as written: {{subject.name}} would not be filled in here`,
		}},
		{file: "bad-not-mapping.yaml", want: []string{`bad-not-mapping.yaml:14:8: apply must be a mapping`}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", "apply", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			r, err := ParseRule(tt.file, data)
			if err == nil {
				_, err = Compile([]*Rule{r})
			}
			if tt.want != nil {
				if err == nil {
					t.Fatalf("no problem found, want:\n%s", strings.Join(tt.want, "\n"))
				}
				if got, want := err.Error(), strings.Join(tt.want, "\n"); got != want {
					t.Errorf("got\n%s\nwant\n%s", got, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := r.NextSteps(); !reflect.DeepEqual(got, tt.next) {
				t.Errorf("NextSteps = %+v\nwant       %+v", got, tt.next)
			}
		})
	}
}

// A rule without apply gets the defaults: the person applies, by the end of
// the policy's validity.
func TestApplyDefaults(t *testing.T) {
	r, err := ParseRule("t.yaml", []byte(policyYAML("resident", "", "", "resident.hukou.is_local")+"valid_until: 2026-12-31\n"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Apply != nil {
		t.Fatalf("Apply = %+v, want nil for a rule without apply", r.Apply)
	}
	got := r.NextSteps()
	if got.Mode != ApplyByPerson || got.Deadline == nil || got.Deadline.Format("2006-01-02") != "2026-12-31" {
		t.Errorf("NextSteps = %+v, want mode apply and deadline 2026-12-31", got)
	}
}
