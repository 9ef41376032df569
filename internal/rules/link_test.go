package rules

import (
	"strings"
	"testing"
)

// TestLinkPlaceholderLint: {{link}} is a placeholder of notify.sms.params
// and notify.wechat.data, not of notify.wechat.url (where the link leads),
// and the one-segment check counts it at the length of a real short link,
// smsLinkRunes, not as the 8 characters "{{link}}" has.
func TestLinkPlaceholderLint(t *testing.T) {
	base := policyYAML("resident", "", "", "resident.hukou.is_local")
	tests := []struct {
		name   string
		notify string
		want   string // "" when lint passes
	}{
		{"in wechat data", "notify: {wechat: {data: {thing1: '{{policy.title}}', url5: '{{link}}'}}}\n", ""},
		{"in sms params without a text", "notify: {sms: {template_code: SMS_1, params: {link: '{{link}}'}}}\n", ""},
		{"in wechat url", "notify: {wechat: {url: 'https://rs.example.gov.cn/p?l={{link}}'}}\n",
			`t.yaml:13:24: unknown placeholder {{link}} (allowed: {{amount}}, {{policy.id}}, {{policy.title}}, {{policy.valid_until}}, {{policy.version}})`},
		// 4 characters of text, 75 of link and 10 of signature: 89.
		{"a link alone does not fit one SMS", "notify: {sms: {text: '${l}回T退订', params: {l: '{{link}}'}}}\n",
			`t.yaml:13:22: notify.sms.text does not fit one SMS: its 4 characters besides placeholders, 75 for {{link}} (a public URL of up to 40 characters, /r/ and a 32-character token) and 10 kept for the signature exceed 70 by 19`},
		// The value's own text around {{link}} counts too: 4 + 2 + 75 + 10.
		{"text around the link in its value", "notify: {sms: {text: '${l}回T退订', params: {l: '详见{{link}}'}}}\n",
			`t.yaml:13:22: notify.sms.text does not fit one SMS: its 6 characters besides placeholders, 75 for {{link}} (a public URL of up to 40 characters, /r/ and a 32-character token) and 10 kept for the signature exceed 70 by 21`},
		// The same text without the link fits: the link is what is counted.
		{"the same text without it", "notify: {sms: {text: '${l}回T退订', params: {l: '{{policy.title}}'}}}\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseRule("t.yaml", []byte(base+tt.notify))
			if err == nil {
				_, err = Compile([]*Rule{r})
			}
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("lint refused it: %v", err)
			case tt.want != "" && (err == nil || err.Error() != tt.want):
				t.Errorf("got  %v\nwant %s", err, tt.want)
			}
		})
	}
	if smsLinkRunes != 75 || !strings.Contains(base, "subject: resident") {
		t.Errorf("smsLinkRunes = %d, want 40 (public URL) + 3 (/r/) + 32 (token)", smsLinkRunes)
	}
}
