package logscan

import (
	"strings"
	"testing"
)

// TestLogScan: the scanner catches a planted mobile or openid in any form
// of slog record, and passes masked values, lines that are not records,
// and numbers that only look like mobiles inside longer runs.
func TestLogScan(t *testing.T) {
	tests := []struct {
		name, line string
		want       string // "mobile", "openid", or "" for clean
	}{
		{"text record with a mobile", `time=2026-12-03T10:00:00Z level=INFO msg=notice mobile=13800000002`, "mobile"},
		{"indented by t.Output", `    time=2026-12-03T10:00:00Z level=WARN msg="sms failed" to=13912345678 err=timeout`, "mobile"},
		{"child stderr through t.Log", `    main_test.go:88: time=2026-12-03T10:00:00Z level=ERROR msg=x phone=+8613912345678`, "mobile"},
		{"JSON record", `{"time":"2026-12-03T10:00:00Z","level":"INFO","msg":"callback","phone_number":"13800000002"}`, "mobile"},
		{"mobile in an error", `level=ERROR msg="ingest" err="invalid: '13800000002' does not match pattern"`, "mobile"},
		{"mobile after Chinese text", `level=INFO msg=回复 text=号码13800000002退订`, "mobile"},
		{"generated openid", `level=INFO msg=sent openid=oDECf6lB8KA8NxyyzWxEQvxiBxpR`, "openid"},
		{"openid in a message", `level=WARN msg="wechat refused oDECf6lB8KA8NxyyzWxEQvxiBxpR: 43004"`, "openid"},
		{"fixture openid under its key", `level=INFO msg=x open_id=o_view_000000000021`, "openid"},
		{"openid in JSON", `{"level":"WARN","msg":"x","openid":"o-USER-openid-42"}`, "openid"},

		{"masked mobile", `level=INFO msg=notice channel=sms mobile=138****0002 msg_id=log-1-1`, ""},
		{"masked openid", `level=INFO msg=sent openid=o***`, ""},
		{"masked openid in JSON", `{"level":"INFO","msg":"x","openid":"oDEC****BxpR"}`, ""},
		{"not a record", `    explain_test.go:12: profile {"contact":{"mobile":"13800000002"}}`, ""},
		{"run line", `=== RUN   TestDemo/13800000002`, ""},
		{"longer digit run", `level=INFO msg=batch offset=913800000002 nanos=1764756000138000000`, ""},
		{"inside a hash", `level=INFO msg=x blind=a13800000002f`, ""},
		{"ordinary words", `level=INFO msg="outbox_lease_renewed" policy=one-time-startup-subsidy outcome=applied`, ""},
		{"event id", `level=INFO msg=applied event=gen-1-20261127T000000-r1 subject=p_674628f0`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			found, err := Scan(strings.NewReader("=== RUN   TestX\n" + tt.line + "\n"))
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tt.want == "" && len(found) > 0:
				t.Errorf("flagged a clean line: %v", found)
			case tt.want != "" && len(found) != 1:
				t.Fatalf("found %v, want one %s", found, tt.want)
			case tt.want != "":
				f := found[0]
				if f.What != tt.want || f.Line != 2 || f.Test != "TestX" {
					t.Errorf("finding %+v, want a %s on line 2 of TestX", f, tt.want)
				}
				// The report must not leak what it reports.
				if again, _ := Scan(strings.NewReader(f.Excerpt + "\n")); len(again) > 0 || strings.Contains(f.String(), "13800000002") {
					t.Errorf("the excerpt is not masked: %s", f.Excerpt)
				}
			}
		})
	}
}

func TestMask(t *testing.T) {
	got := Mask(`level=INFO msg=x a=13800000002,13912345678 b=+8613712345678 openid=oDECf6lB8KA8NxyyzWxEQvxiBxpR`)
	want := `level=INFO msg=x a=138****0002,139****5678 b=+86137****5678 openid=o***`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
