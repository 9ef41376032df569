package rules

import (
	"strings"
	"testing"
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
