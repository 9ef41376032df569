package rules_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/policypush/policypush/internal/ruledir"
)

// Every SMS of the repository's catalogue states its wording, and that
// wording, filled with the policy's own title, an enterprise name of usual
// length and an amount, fits one segment (70 characters) behind a 6-rune
// signature. Lint only checks the fixed part; this keeps the shipped rules
// from relying on the SMS channel's Fit to cut their titles.
func TestCatalogueSMSFitsOneSegment(t *testing.T) {
	d, err := ruledir.Read("../../rules")
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Problems) > 0 {
		t.Fatal(d.Problems)
	}
	const sign = "【某人社局】"
	checked := 0
	for _, r := range d.Rules {
		if r.Notify == nil || r.Notify.SMS == nil {
			continue
		}
		checked++
		text := r.Notify.SMS.Text
		if text == "" {
			t.Errorf("%s: notify.sms has no text", r.File)
			continue
		}
		// A link, were one in the text, counts at lint's worst case.
		link := "https://" + strings.Repeat("x", 32) + "/r/" + strings.Repeat("0", 32)
		fill := strings.NewReplacer("${policy}", r.Title, "${company}", "某某市某某科技有限公司", "${amount}", "12000", "${link}", link)
		msg := sign + fill.Replace(text)
		if strings.Contains(msg, "${") {
			t.Errorf("%s: a placeholder this test does not fill: %s", r.File, msg)
		}
		if n := utf8.RuneCountInString(msg); n > 70 {
			t.Errorf("%s: %d characters, more than one SMS: %s", r.File, n, msg)
		}
	}
	if checked == 0 {
		t.Error("no rule with notify.sms in the catalogue")
	}
}
