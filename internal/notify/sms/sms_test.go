package sms

import (
	"maps"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestRedact(t *testing.T) {
	r := Redactor{Secrets: []string{"s3cr3t+/="}}
	in := "key s3cr3t+/= or s3cr3t%2B%2F%3D; to 13812345678 and +8613912345678; Signature=abcdef0123; sig 0123456789abcdef0123456789abcdef99; string to sign is: POST\n/ x"
	out := r.Redact(in, "13812345678")
	for _, bad := range []string{"s3cr3t", "13812345678", "13912345678", "abcdef0123", "0123456789abcdef0123456789abcdef", "POST"} {
		if strings.Contains(out, bad) {
			t.Errorf("Redact left %q in %q", bad, out)
		}
	}
	if !strings.Contains(out, "138****5678") {
		t.Errorf("mobile not masked: %q", out)
	}
	if got := (&ProviderError{Provider: "aliyun", Status: 200, Code: "isv.X", RequestID: "r1", Message: "m"}).Error(); got != "aliyun status=200 code=isv.X request_id=r1: m" {
		t.Errorf("Error() = %q", got)
	}
}

func TestRender(t *testing.T) {
	tests := []struct {
		name   string
		text   string
		params map[string]string
		want   string
	}{
		{"fills a placeholder", "您可能符合${policy}条件。回T退订", map[string]string{"policy": "失业保险稳岗返还"}, "您可能符合失业保险稳岗返还条件。回T退订"},
		{"fills every use", "${policy}：请于期限内办理${policy}", map[string]string{"policy": "认证"}, "认证：请于期限内办理认证"},
		{"fills several", "${company}可能符合${policy}条件", map[string]string{"company": "某某公司", "policy": "扩岗补助"}, "某某公司可能符合扩岗补助条件"},
		{"keeps a placeholder without a param", "您可能符合${polcy}条件", map[string]string{"policy": "x"}, "您可能符合${polcy}条件"},
		{"an empty value is filled as empty", "您可能符合${policy}条件", map[string]string{"policy": ""}, "您可能符合条件"},
		{"an unclosed placeholder is text", "拨打12333${policy", map[string]string{"policy": "x"}, "拨打12333${policy"},
		{"a value is not expanded again", "${a}", map[string]string{"a": "${b}", "b": "x"}, "${b}"},
		{"braces alone are text", "{policy} $5 ${}", nil, "{policy} $5 ${}"},
		{"no placeholder", "回T退订", nil, "回T退订"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Render(tt.text, tt.params); got != tt.want {
				t.Errorf("Render(%q) = %q, want %q", tt.text, got, tt.want)
			}
		})
	}
}

func TestSegments(t *testing.T) {
	tests := []struct {
		name string
		msg  string
		want int
	}{
		{"empty", "", 0},
		{"one character", "退", 1},
		{"70 Chinese characters are 210 bytes but one segment", strings.Repeat("人", 70), 1},
		{"70 ASCII characters", strings.Repeat("a", 70), 1},
		{"71 characters take two parts of 67", strings.Repeat("人", 71), 2},
		{"two full parts", strings.Repeat("人", 134), 2},
		{"one more begins a third", strings.Repeat("人", 135), 3},
		{"mixed text counts runes", "【某市人社局】" + strings.Repeat("社保12333", 10), 2}, // 7 + 70
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Segments(tt.msg); got != tt.want {
				t.Errorf("Segments(%d runes) = %d, want %d", len([]rune(tt.msg)), got, tt.want)
			}
		})
	}
}

func TestFit(t *testing.T) {
	const sign = "某市人社局" // 【某市人社局】 is 7 runes
	// filler returns fixed template text of n runes that ends with an
	// opt-out hint.
	filler := func(n int) string { return strings.Repeat("办", n-4) + "回T退订" }
	resident := "您可能符合${policy}条件，可登录人社服务平台或拨打12333咨询。回T退订" // 32 runes besides ${policy}
	enterprise := "${company}：贵单位可能符合${policy}条件，可登录人社服务平台或拨打12333咨询。回T退订"
	tests := []struct {
		name   string
		text   string
		params map[string]string
		want   map[string]string
	}{
		{"a message that fits is unchanged", resident,
			map[string]string{"policy": "失业保险稳岗返还"},
			map[string]string{"policy": "失业保险稳岗返还"}},
		{"exactly 70 runes is unchanged", filler(53) + "${policy}",
			map[string]string{"policy": "城乡居民养老保险待遇"},
			map[string]string{"policy": "城乡居民养老保险待遇"}},
		{"one rune over loses one rune to the ellipsis", filler(54) + "${policy}",
			map[string]string{"policy": "城乡居民养老保险待遇"},
			map[string]string{"policy": "城乡居民养老保险…"}},
		{"the longer value gives way first, then both in turn", enterprise,
			map[string]string{"company": "某某市某某新能源科技股份有限公司", "policy": "关于做好失业保险稳岗返还和技能提升补贴申领工作的通知"},
			map[string]string{"company": "某某市某某新能源科技股份有…", "policy": "关于做好失业保险稳岗返还和…"}},
		{"equal values break the tie by key, then take turns", filler(54) + "${b}${a}",
			map[string]string{"a": "一二三四五六", "b": "甲乙丙丁戊己"},
			map[string]string{"a": "一二三…", "b": "甲乙丙丁…"}},
		{"an amount is never altered, even when longest", filler(40) + "${policy}${amount}${yuan}",
			map[string]string{"policy": "失业保险技能提升补贴", "amount": "1234567890123", "yuan": "12,345.50元"},
			map[string]string{"policy": "失业保…", "amount": "1234567890123", "yuan": "12,345.50元"}},
		{"a number in a title is not cut through", filler(54) + "${policy}",
			map[string]string{"policy": "城乡居民养老保险60岁待遇领取提醒"},
			map[string]string{"policy": "城乡居民养老保险…"}},
		{"never below four runes; the message then takes two segments", filler(62) + "${policy}",
			map[string]string{"policy": "失业保险稳岗返还"},
			map[string]string{"policy": "失业保…"}},
		{"a link is never cut, the title gives way", filler(10) + "${policy}${link}",
			map[string]string{"policy": "失业保险技能提升补贴", "link": "https://rs.example.gov.cn/r/0123456789abcdef0123456789abcdef"},
			map[string]string{"policy": "失业保…", "link": "https://rs.example.gov.cn/r/0123456789abcdef0123456789abcdef"}},
		{"a value the text does not use is left alone", filler(60) + "${policy}",
			map[string]string{"policy": "稳岗返还", "note": strings.Repeat("长", 40)},
			map[string]string{"policy": "稳岗返还", "note": strings.Repeat("长", 40)}},
		{"without a text nothing is shortened", "",
			map[string]string{"policy": strings.Repeat("长", 80)},
			map[string]string{"policy": strings.Repeat("长", 80)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := maps.Clone(tt.params)
			got := Fit(sign, tt.text, tt.params)
			if !maps.Equal(got, tt.want) {
				t.Errorf("Fit = %q, want %q", got, tt.want)
			}
			if !maps.Equal(tt.params, in) {
				t.Errorf("Fit changed its argument to %q", tt.params)
			}
			// A message is left longer than a segment only when no value it
			// uses can give up another rune.
			if tt.text == "" {
				return
			}
			msg := "【" + sign + "】" + Render(tt.text, got)
			if n := utf8.RuneCountInString(msg); n > SegmentRunes {
				for k, v := range got {
					if strings.Contains(tt.text, "${"+k+"}") && !isNumber(v) && !strings.Contains(v, "://") && utf8.RuneCountInString(v) > minFitRunes {
						t.Errorf("message of %d runes, but %s=%q could be shorter", n, k, v)
					}
				}
			}
		})
	}
}

func TestIsNumber(t *testing.T) {
	tests := []struct {
		v    string
		want bool
	}{
		{"2000", true},
		{"1500.5", true},
		{"-3", true},
		{"12,345", true},
		{"2000元", true},
		{" 800 ", true},
		{"", false},
		{"元", false},
		{"1.", false},
		{"1.2.3", false},
		{"NaN", false},
		{"Inf", false},
		{"0x1F", false},
		{"60岁", false},
		{"失业保险金", false},
	}
	for _, tt := range tests {
		if got := isNumber(tt.v); got != tt.want {
			t.Errorf("isNumber(%q) = %v, want %v", tt.v, got, tt.want)
		}
	}
}

func TestParseEndpoint(t *testing.T) {
	tests := []struct {
		endpoint, want string // want "" means an error
	}{
		{"", "https://sms.example.com"},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080"},
		{"https://dysmsapi.aliyuncs.com/", "https://dysmsapi.aliyuncs.com/"},
		{"dysmsapi.aliyuncs.com", ""},
		{"ftp://host", ""},
		{"https://host/api", ""},
	}
	for _, tt := range tests {
		u, err := ParseEndpoint("test", tt.endpoint, "https://sms.example.com")
		switch {
		case tt.want == "" && err == nil:
			t.Errorf("%q: accepted as %v", tt.endpoint, u)
		case tt.want != "" && (err != nil || u.String() != tt.want):
			t.Errorf("%q: %v, %v; want %s", tt.endpoint, u, err, tt.want)
		}
	}
}
