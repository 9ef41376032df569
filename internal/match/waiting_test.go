package match

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/policypush/policypush/internal/rules"
	"github.com/policypush/policypush/internal/store"
)

// reroute sends a waiting notice only when a channel reaches the subject,
// the subject has not refused, and the policy still holds; it records a
// change of reason, and leaves everything else alone.
func TestReroute(t *testing.T) {
	src, err := os.ReadFile("testdata/rent.yaml")
	if err != nil {
		t.Fatal(err)
	}
	compile := func(t *testing.T, yaml string) *rules.Set {
		t.Helper()
		r, err := rules.ParseRule("rent.yaml", []byte(yaml))
		if err != nil {
			t.Fatal(err)
		}
		set, err := rules.Compile([]*rules.Rule{r})
		if err != nil {
			t.Fatal(err)
		}
		return set
	}
	active := compile(t, string(src))
	repealed := compile(t, strings.Replace(string(src), "status: active", "status: repealed", 1))
	inForce := time.Date(2026, 11, 28, 10, 0, 0, 0, rules.Shanghai)
	expired := time.Date(2027, 1, 1, 10, 0, 0, 0, rules.Shanghai)

	const (
		employed = `"employment":{"status":"employed"}`
		mobile   = `"contact":{"mobile":"13800135678"}`
		openid   = `"channels":{"wechat":{"openid":"o1"}}`
	)
	tests := []struct {
		name    string
		set     *rules.Set
		at      time.Time
		profile string // inside {"person_id":"p", ...}
		policy  string // of the waiting notice; "" is rent
		reason  string // the waiting notice's; "" is unreachable
		want    string // status/channel/fallback/reason, or "" for no change
	}{
		{name: "a mobile arrives", profile: employed + "," + mobile, want: "pending/sms//"},
		{name: "both arrive", profile: employed + "," + mobile + "," + openid, want: "pending/wechat/sms/"},
		{name: "consent given", reason: "no_consent", profile: employed + "," + mobile + `,"consent":{"personalized_push":true}`, want: "pending/sms//"},
		{name: "still nothing", profile: employed},
		{name: "consent given, no channel yet", reason: "no_consent", profile: employed + `,"consent":{"personalized_push":true}`, want: "waiting///unreachable"},
		{name: "consent refused now", profile: employed + "," + mobile + `,"consent":{"personalized_push":false}`, want: "waiting///no_consent"},
		{name: "opted out of the only channel", profile: employed + "," + mobile + `,"consent":{"opt_out_channels":["sms"]}`},
		{name: "no longer eligible", profile: `"employment":{"status":"unemployed"},` + mobile},
		{name: "repealed", set: repealed, profile: employed + "," + mobile},
		{name: "expired", at: expired, profile: employed + "," + mobile},
		{name: "policy removed from the rules", policy: "gone", profile: employed + "," + mobile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, at := tt.set, tt.at
			if set == nil {
				set = active
			}
			if at.IsZero() {
				at = inForce
			}
			policy, reason := tt.policy, tt.reason
			if policy == "" {
				policy = "rent"
			}
			if reason == "" {
				reason = ReasonUnreachable
			}
			j := judge{Config{WeChatEnabled: true}.withDefaults()}
			k := store.SubjectKey{Type: "resident", ID: "p"}
			var b store.Batch
			err := j.reroute(set.NewEvaluator(), set.At(at), at, k, []byte(`{"person_id":"p",`+tt.profile+`}`),
				[]store.WaitingNotice{{ID: 7, PolicyID: policy, Reason: reason}}, &b)
			if err != nil {
				t.Fatal(err)
			}
			var got string
			switch len(b.Rerouted) {
			case 0:
			case 1:
				r := b.Rerouted[0]
				got = r.Status + "/" + r.Channel + "/" + strings.Join(r.Fallback, ",") + "/" + r.Reason
				if r.ID != 7 || r.Status == "pending" && !r.DueAt.Equal(at) {
					t.Errorf("rerouted %+v, want notice 7 due at %v", r, at)
				}
			default:
				t.Fatalf("rerouted %+v", b.Rerouted)
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
