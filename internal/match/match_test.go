package match

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"

	"github.com/policypush/policypush/internal/notify"
	"github.com/policypush/policypush/internal/profile"
)

func TestChangedPaths(t *testing.T) {
	tests := []struct {
		name, before, after string
		want                []string
	}{
		{"nothing", `{"a":1}`, `{"a":1}`, nil},
		{"added nested", `{"a":{"b":1}}`, `{"a":{"b":1,"c":2}}`, []string{"a.c"}},
		{"removed", `{"a":{"b":1},"x":true}`, `{"a":{"b":1}}`, []string{"x"}},
		{"changed list", `{"l":[1,2]}`, `{"l":[1,3]}`, []string{"l"}},
		{"object to null", `{"a":{"b":1}}`, `{"a":null}`, []string{"a"}},
		{"new object", `{}`, `{"a":{"b":1}}`, []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a, b map[string]any
			_ = json.Unmarshal([]byte(tt.before), &a)
			_ = json.Unmarshal([]byte(tt.after), &b)
			got := changedPaths(a, b)
			sort.Strings(got)
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRoute(t *testing.T) {
	both := []string{"wechat", "sms"}
	tests := []struct {
		name     string
		profile  string
		channels []string
		wechatOn bool
		want     string // channel/fallbacks/reason
	}{
		{"wechat first, sms fallback", `{"person_id":"p","contact":{"mobile":"13800135678"},"channels":{"wechat":{"openid":"o1"}}}`, both, true, "wechat/sms/"},
		{"wechat off in configuration", `{"person_id":"p","contact":{"mobile":"13800135678"},"channels":{"wechat":{"openid":"o1"}}}`, both, false, "sms//"},
		{"unfollowed", `{"person_id":"p","contact":{"mobile":"13800135678"},"channels":{"wechat":{"openid":"o1","followed":false}}}`, both, true, "sms//"},
		{"sms disabled", `{"person_id":"p","contact":{"mobile":"13800135678"},"channels":{"sms":{"enabled":false}}}`, both, true, "wechat//unreachable"},
		{"opted out of wechat", `{"person_id":"p","contact":{"mobile":"13800135678"},"channels":{"wechat":{"openid":"o1"}},"consent":{"opt_out_channels":["wechat"]}}`, both, true, "sms//"},
		{"no consent", `{"person_id":"p","contact":{"mobile":"13800135678"},"consent":{"personalized_push":false}}`, both, true, "wechat//no_consent"},
		{"sms only policy", `{"person_id":"p","contact":{"mobile":"13800135678"},"channels":{"wechat":{"openid":"o1"}}}`, []string{"sms"}, true, "sms//"},
		{"nothing known", `{"person_id":"p"}`, both, true, "wechat//unreachable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r profile.Resident
			if err := json.Unmarshal([]byte(tt.profile), &r); err != nil {
				t.Fatal(err)
			}
			ch, fb, reason := Route(notify.RecipientOf(&r), tt.channels, tt.wechatOn)
			if got := ch + "/" + strings.Join(fb, ",") + "/" + reason; got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
	var e profile.Enterprise
	_ = json.Unmarshal([]byte(`{"uscc":"91330106MA2B000001","contacts":{"legal_rep_mobile":"13900000001"}}`), &e)
	if ch, _, reason := Route(notify.RecipientOf(&e), both, true); ch != "sms" || reason != "" {
		t.Errorf("an enterprise falls back to the legal representative's mobile: %s %s", ch, reason)
	}
	// CONTRACTS.md §3's consent and following apply to enterprises too.
	for _, tt := range []struct{ profile, want string }{
		{`{"uscc":"91330106MA2B000001","contacts":{"hr_mobile":"13900000001"},"consent":{"personalized_push":false}}`, "wechat/no_consent"},
		{`{"uscc":"91330106MA2B000001","contacts":{"hr_mobile":"13900000001"},"channels":{"wechat":{"openid":"oE","followed":false}}}`, "sms/"},
		{`{"uscc":"91330106MA2B000001","channels":{"wechat":{"openid":"oE","followed":true}}}`, "wechat/"},
	} {
		var e profile.Enterprise
		if err := json.Unmarshal([]byte(tt.profile), &e); err != nil {
			t.Fatal(err)
		}
		if ch, _, reason := Route(notify.RecipientOf(&e), both, true); ch+"/"+reason != tt.want {
			t.Errorf("%s: routed %s/%s, want %s", tt.profile, ch, reason, tt.want)
		}
	}
}
