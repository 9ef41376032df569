package rules

import (
	"os"
	"strings"
	"testing"
	"time"
)

// repoCalendar is the repository's rules/calendar.yaml: the test counts
// by the file the service and policyctl read.
func repoCalendar(t *testing.T) *Calendar {
	t.Helper()
	data, err := os.ReadFile("../../rules/" + CalendarFile)
	if err != nil {
		t.Fatal(err)
	}
	cal, err := ParseCalendar("calendar.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	return cal
}

func draftWith(status, consultation string) string {
	return `id: d
version: 1
title: 草案
domain: employment
subject: resident
department: 科
source: {doc: 文}
status: ` + status + `
valid_from: 2027-01-01
` + consultation + `
conditions:
  - name: 在职
    expr: resident.employment.status == "employed"
`
}

// TestConsultationWindowLint: lint refuses a consultation shorter than 7
// working days, counted by the calendar: weekends out, the State
// Council's holidays out, its make-up working days (调休) in. The expected
// counts are worked out by hand from the 2026 notice, not by the code.
func TestConsultationWindowLint(t *testing.T) {
	cal := repoCalendar(t)
	for _, tc := range []struct {
		name, status, window string
		want                 string // "" for accepted, else the start of the message
	}{
		{"exactly 7 working days (Tue 1 to Wed 9 December)", "draft", "{from: 2026-12-01, until: 2026-12-09}", ""},
		{"6 working days", "draft", "{from: 2026-12-01, until: 2026-12-08}",
			"t.yaml:10:41: consultation 2026-12-01 to 2026-12-08 holds 6 working days"},
		{"16 days over 国庆 and 中秋 hold only 6 working days", "draft", "{from: 2026-09-24, until: 2026-10-09}",
			"t.yaml:10:41: consultation 2026-09-24 to 2026-10-09 holds 6 working days"},
		{"调休 Saturday 10 October counts: 7 working days", "draft", "{from: 2026-10-08, until: 2026-10-15}", ""},
		{"without the 调休 Sunday it is 6", "draft", "{from: 2026-10-08, until: 2026-10-14}",
			"t.yaml:10:41: consultation 2026-10-08 to 2026-10-14 holds 6 working days"},
		{"春节 with two 调休 Saturdays: 4 working days", "draft", "{from: 2026-02-12, until: 2026-02-24}",
			"t.yaml:10:41: consultation 2026-02-12 to 2026-02-24 holds 4 working days"},
		{"2025 春节: Fri 24 Jan, 调休 Sun 26, Mon 27, then 5–7 Feb", "draft", "{from: 2025-01-24, until: 2025-02-07}",
			"t.yaml:10:41: consultation 2025-01-24 to 2025-02-07 holds 6 working days"},
		{"a year the calendar does not cover", "draft", "{from: 2026-12-20, until: 2027-01-20}",
			"t.yaml:10:15: cannot count the working days of consultation 2026-12-20 to 2027-01-20: the holiday calendar has no arrangements for 2027"},
		{"only a draft has a consultation", "active", "{from: 2026-12-01, until: 2026-12-31}",
			"t.yaml:10:15: consultation is only for a draft"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseRule("t.yaml", []byte(draftWith(tc.status, "consultation: "+tc.window)))
			if err != nil {
				t.Fatal(err)
			}
			es := CheckConsultations([]*Rule{r}, cal)
			switch {
			case tc.want == "" && len(es) > 0:
				t.Fatalf("refused: %v", es)
			case tc.want != "" && len(es) != 1:
				t.Fatalf("got %v, want one problem %q", es, tc.want)
			case tc.want != "" && !strings.HasPrefix(es[0].Error(), tc.want):
				t.Fatalf("got  %v\nwant %s…", es[0], tc.want)
			}
		})
	}

	t.Run("no calendar", func(t *testing.T) {
		r, err := ParseRule("t.yaml", []byte(draftWith("draft", "consultation: {from: 2026-12-01, until: 2026-12-31}")))
		if err != nil {
			t.Fatal(err)
		}
		if es := CheckConsultations([]*Rule{r}, nil); len(es) != 1 || !strings.Contains(es[0].Msg, "needs calendar.yaml") {
			t.Fatalf("got %v", es)
		}
	})

	t.Run("form", func(t *testing.T) {
		for _, tc := range []struct{ window, want string }{
			{"{from: 2026-12-01}", `t.yaml:10:15: consultation is missing the required key "until"`},
			{"{from: 2026-12-31, until: 2026-12-01}", "t.yaml:10:41: consultation.until 2026-12-01 is before consultation.from 2026-12-31"},
			{"{from: 2026-12-01, until: 2026-13-01}", `t.yaml:10:41: consultation.until "2026-13-01" is not a date YYYY-MM-DD`},
			{"{from: 2026-12-01, until: 2026-12-31, by: x}", `t.yaml:10:53: unknown key "by" in consultation`},
		} {
			_, err := ParseRule("t.yaml", []byte(draftWith("draft", "consultation: "+tc.window)))
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("%s: got %v, want %s…", tc.window, err, tc.want)
			}
		}
	})

	t.Run("calendar problems", func(t *testing.T) {
		_, err := ParseCalendar("calendar.yaml", []byte(`years:
  2026:
    source: 通知
    holidays:
      - {name: 元旦, from: 2026-01-01, until: 2026-01-03}
      - {name: 错年, from: 2025-12-31, until: 2026-01-01}
    workdays: [2026-01-05, 2026-01-03]
`))
		want := []string{
			"calendar.yaml:6:26: from 2025-12-31 is not in 2026",
			"calendar.yaml:7:16: workday 2026-01-05 is a Monday: only a weekend day is a make-up working day",
			"calendar.yaml:7:28: workday 2026-01-03 is also listed as a holiday (元旦)",
		}
		if err == nil || err.Error() != strings.Join(want, "\n") {
			t.Fatalf("got\n%v\nwant\n%s", err, strings.Join(want, "\n"))
		}
	})
}

// TestInConsultation: both days of the window count, whole days in
// Asia/Shanghai, and only for a draft.
func TestInConsultation(t *testing.T) {
	r, err := ParseRule("t.yaml", []byte(draftWith("draft", "consultation: {from: 2026-12-01, until: 2026-12-31}")))
	if err != nil {
		t.Fatal(err)
	}
	for at, want := range map[string]bool{
		"2026-11-30T23:59:59+08:00": false,
		"2026-11-30T16:00:00Z":      true, // 2026-12-01 00:00 in Shanghai
		"2026-12-31T23:59:59+08:00": true,
		"2027-01-01T00:00:00+08:00": false,
	} {
		tm, _ := time.Parse(time.RFC3339, at)
		if got := r.InConsultation(tm); got != want {
			t.Errorf("InConsultation(%s) = %v, want %v", at, got, want)
		}
	}
	r.Status = Active
	if r.InConsultation(time.Date(2026, 12, 10, 12, 0, 0, 0, Shanghai)) {
		t.Error("an active policy is not in consultation")
	}
}
