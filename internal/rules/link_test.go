package rules

import (
	"strings"
	"testing"
)

// TestLinkPlaceholderLint: {{link}} is a placeholder of notify.sms.params
// and notify.wechat.data, not of notify.wechat.url (where the link leads),
// and the one-segment check counts it at the length of a real short link
// (with a public URL of AssumedPublicURLRunes characters when lint is not
// told the real one), not as the 8 characters "{{link}}" has.
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
		// 4 characters of text, 49 of link (24 + 3 + 22) and 10 of
		// signature: 63, one SMS.
		{"a link fits one SMS", "notify: {sms: {text: '${l}回T退订', params: {l: '{{link}}'}}}\n", ""},
		// The value's own text around {{link}} counts too: 4 + 9 + 49 + 10 = 72.
		{"text around the link in its value", "notify: {sms: {text: '${l}回T退订', params: {l: '技能补贴可申领：{{link}}'}}}\n",
			`t.yaml:13:22: notify.sms.text does not fit one SMS: its 12 characters besides placeholders, 49 for {{link}} (POLICYPUSH_PUBLIC_URL unknown, 24 characters assumed, /r/ and a 22-character token) and 10 kept for the signature exceed 70 by 1`},
		// Two links: 4 + 2×49 + 10.
		{"two links", "notify: {sms: {text: '${l}${l}回T退订', params: {l: '{{link}}'}}}\n",
			`t.yaml:13:22: notify.sms.text does not fit one SMS: its 4 characters besides placeholders, 98 for {{link}} (POLICYPUSH_PUBLIC_URL unknown, 24 characters assumed, /r/ and a 22-character token) and 10 kept for the signature exceed 70 by 42`},
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
	if n := (ParseOptions{}).LinkRunes(); n != 49 || !strings.Contains(base, "subject: resident") {
		t.Errorf("LinkRunes() = %d, want 24 (assumed public URL) + 3 (/r/) + 22 (token)", n)
	}
}

// TestSMSLinkLength: told POLICYPUSH_PUBLIC_URL, lint counts {{link}} as
// exactly that URL, /r/ and a 22-character token, so that a bureau with a
// short domain can send its link in one SMS and one with a long domain is
// told at lint time that it cannot.
func TestSMSLinkLength(t *testing.T) {
	base := policyYAML("resident", "", "", "resident.hukou.is_local")
	// 12 characters besides the link, 10 of signature: 48 left for it.
	const notify = "notify: {sms: {text: '${l}回T退订', params: {l: '技能补贴可申领：{{link}}'}}}\n"
	tests := []struct {
		publicURL string
		link      int    // LinkRunes
		want      string // "" when lint passes
	}{
		{"https://rs.sz.gov.cn", 20 + 3 + 22, ""},
		{"https://rs.sz.gov.cn/", 20 + 3 + 22, ""}, // a trailing slash is not in the link
		{"https://rsj.city.gov.cn", 23 + 3 + 22, ""},
		{"https://rsj.city1.gov.cn", 24 + 3 + 22,
			`t.yaml:13:22: notify.sms.text does not fit one SMS: its 12 characters besides placeholders, 49 for {{link}} (POLICYPUSH_PUBLIC_URL of 24 characters, /r/ and a 22-character token) and 10 kept for the signature exceed 70 by 1`},
		{"https://hrss.example-province.gov.cn", 36 + 3 + 22,
			`t.yaml:13:22: notify.sms.text does not fit one SMS: its 12 characters besides placeholders, 61 for {{link}} (POLICYPUSH_PUBLIC_URL of 36 characters, /r/ and a 22-character token) and 10 kept for the signature exceed 70 by 13`},
	}
	for _, tt := range tests {
		t.Run(tt.publicURL, func(t *testing.T) {
			o := ParseOptions{PublicURL: tt.publicURL}
			if n := o.LinkRunes(); n != tt.link {
				t.Errorf("LinkRunes() = %d, want %d", n, tt.link)
			}
			_, err := ParseRuleWith("t.yaml", []byte(base+notify), o)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("lint refused it: %v", err)
			case tt.want != "" && (err == nil || err.Error() != tt.want):
				t.Errorf("got  %v\nwant %s", err, tt.want)
			}
		})
	}
}
