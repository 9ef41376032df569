package app

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"unicode/utf8"

	"github.com/policypush/policypush/internal/ingest"
	"github.com/policypush/policypush/internal/notify"
	"github.com/policypush/policypush/internal/notify/sms"
	"github.com/policypush/policypush/internal/ruledir"
	"github.com/policypush/policypush/internal/rules"
)

// fakeWeChat answers stable_token and template/send as WeChat does;
// openids listed in unfollowed get 43004.
type fakeWeChat struct {
	mu         sync.Mutex
	sent       []map[string]any
	unfollowed map[string]bool
}

func (f *fakeWeChat) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	_ = json.NewDecoder(r.Body).Decode(&body)
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/cgi-bin/stable_token":
		fmt.Fprint(w, `{"access_token":"TOKEN-test-1","expires_in":7200}`)
	case "/cgi-bin/message/template/send":
		if r.URL.Query().Get("access_token") != "TOKEN-test-1" {
			fmt.Fprint(w, `{"errcode":40001,"errmsg":"invalid credential"}`)
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.unfollowed[fmt.Sprint(body["touser"])] {
			fmt.Fprint(w, `{"errcode":43004,"errmsg":"require subscribe"}`)
			return
		}
		f.sent = append(f.sent, body)
		fmt.Fprintf(w, `{"errcode":0,"errmsg":"ok","msgid":%d}`, 1000+len(f.sent))
	default:
		http.NotFound(w, r)
	}
}

// Delivery: an eligible resident on WeChat gets a template message; one who
// unfollowed the account falls back to SMS; one without consent gets nothing.
func TestDelivery(t *testing.T) {
	e := newEnv(t)
	fake := &fakeWeChat{unfollowed: map[string]bool{"oWx_unfollowed_000001": true}}
	api := httptest.NewServer(fake)
	defer api.Close()
	e.cfg.WeChatAppID, e.cfg.WeChatSecret, e.cfg.WeChatAPIBase = "wx_test_app", "test-secret-value", api.URL
	e.cfg.WeChatTemplateID, e.cfg.WeChatToken = "TPL_DEFAULT", "callback-token"
	e.cfg.QuietHours.On = false

	resident := func(id, openid string, consent bool) []byte {
		return []byte(fmt.Sprintf(`{"event_id":"d-%s","subject_type":"resident","subject_id":%q,"occurred_at":"2026-11-20T10:00:00+08:00","source":"jinbao","type":"snapshot","data":{"person_id":%q,"birth_date":"1999-04-12","education":{"level":"master","graduation_date":"2024-06-30","is_regular_college":true,"is_full_time":true},"employment":{"status":"employed"},"insurance":{"pension":{"scheme":"employee","status":"active","cumulative_months":24,"last_paid_month":"2026-10"}},"hukou":{"is_local":true},"contact":{"mobile":"13800135678"},"channels":{"wechat":{"openid":%q}},"consent":{"personalized_push":%t}}}`,
			id, id, id, openid, consent))
	}
	s := e.start(ingest.Hooks{})
	e.produce(resident("p_wx", "oWx_followed_0000001", true), resident("p_fb", "oWx_unfollowed_000001", true), resident("p_nc", "oWx_noconsent_000001", false))
	e.waitFor("the events", func() bool { return s.processed.Load() >= 3 })
	if n := e.count("SELECT count(*) FROM outbox"); n == 0 {
		t.Fatal("no notice queued: the fixture no longer qualifies for any policy")
	}
	e.waitFor("every notice settled", func() bool {
		return e.countOr("SELECT count(*) FROM outbox WHERE status IN ('pending','claimed','sending','deferred')") == 0
	})
	status := func(subject string) string {
		rows, err := e.db.Query(context.Background(), `SELECT o.channel || ':' || o.status FROM outbox o JOIN matches m ON m.id = o.match_id WHERE m.subject_id = $1 ORDER BY 1`, subject)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out string
		for rows.Next() {
			var v string
			_ = rows.Scan(&v)
			out += v + " "
		}
		return out
	}
	for subject, want := range map[string]string{"p_wx": "wechat:sent", "p_fb": "sms:sent", "p_nc": "wechat:waiting"} {
		if got := status(subject); got == "" || !allEqual(got, want) {
			t.Errorf("%s: notices %q, want every one %q", subject, got, want)
		}
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if len(fake.sent) == 0 || fake.sent[0]["touser"] != "oWx_followed_0000001" || fake.sent[0]["client_msg_id"] == "" {
		t.Errorf("WeChat got %v", fake.sent)
	}
	if got := gather(t, s.reg, `policypush_notifications_total{channel="wechat",result="sent"}`); got < 1 {
		t.Errorf("sent WeChat notifications metric = %v", got)
	}

	// The message links to a short link that records the click and
	// redirects to the notice's page.
	addr := <-s.addr
	link, _ := fake.sent[0]["url"].(string)
	if !strings.HasPrefix(link, e.cfg.PublicURL+"/r/") {
		t.Fatalf("the message links to %q, not a short link", link)
	}
	token := link[strings.LastIndex(link, "/r/")+3:]
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tt := range []struct {
		token string
		code  int
	}{{token, http.StatusFound}, {"00000000000000000000000000000000", http.StatusNotFound}} {
		resp, err := noRedirect.Get("http://" + addr + "/r/" + tt.token)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.code || tt.code == http.StatusFound && resp.Header.Get("Location") != "/n/"+tt.token {
			t.Errorf("/r/%s: %d %q", tt.token, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	if n := e.count("SELECT count(*) FROM outbox WHERE clicked_at IS NOT NULL AND click_token = $1", token); n != 1 {
		t.Errorf("the click was not recorded")
	}

	// WeChat reports the delivery; a forged report changes nothing.
	msgID := e.count("SELECT provider_msg_id::int FROM outbox o JOIN matches m ON m.id = o.match_id WHERE m.subject_id = 'p_wx' LIMIT 1")
	report := fmt.Sprintf(`<xml><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event><MsgID>%d</MsgID><Status><![CDATA[success]]></Status></xml>`, msgID)
	for _, tt := range []struct {
		sig  string
		code int
	}{{"forged", http.StatusForbidden}, {wechatSignature("callback-token", fmt.Sprint(now.Unix()), "n1"), http.StatusOK}} {
		resp, err := http.Post(fmt.Sprintf("http://%s/wechat/callback?timestamp=%d&nonce=n1&signature=%s", addr, now.Unix(), tt.sig), "text/xml", strings.NewReader(report))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.code {
			t.Errorf("callback with signature %s: %d, want %d", tt.sig, resp.StatusCode, tt.code)
		}
	}
	if got := status("p_wx"); !allEqual(got, "wechat:delivered") {
		t.Errorf("after the receipt: %q", got)
	}
}

func wechatSignature(token, timestamp, nonce string) string {
	parts := []string{token, timestamp, nonce}
	sort.Strings(parts)
	sum := sha1.Sum([]byte(strings.Join(parts, "")))
	return hex.EncodeToString(sum[:])
}

func allEqual(list, want string) bool {
	for _, f := range strings.Fields(list) {
		if f != want {
			return false
		}
	}
	return true
}

// The SMS provider is Aliyun when configured: the fallback of an unfollowed
// user goes out through SendSms with the notice id as OutId.
func TestDeliveryAliyun(t *testing.T) {
	e := newEnv(t)
	var mu sync.Mutex
	var calls []string
	aliyun := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		mu.Lock()
		calls = append(calls, r.Header.Get("x-acs-action")+" "+r.Form.Get("PhoneNumbers")+" "+r.Form.Get("OutId"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"Code":"OK","Message":"OK","BizId":"biz-1","RequestId":"req-1"}`)
	}))
	defer aliyun.Close()
	e.cfg.SMSProvider, e.cfg.SMSEndpoint = "aliyun", aliyun.URL
	e.cfg.SMSAccessKeyID, e.cfg.SMSAccessKeySecret, e.cfg.SMSSignName = "LTAI-test", "test-secret", "某市人社"
	e.cfg.SMSTemplate = "SMS_DEFAULT"
	e.cfg.QuietHours.On = false
	s := e.start(ingest.Hooks{})
	e.produce([]byte(`{"event_id":"a-1","subject_type":"resident","subject_id":"p_sms","occurred_at":"2026-11-20T10:00:00+08:00","source":"jinbao","type":"snapshot","data":{"person_id":"p_sms","birth_date":"1999-04-12","education":{"level":"master","graduation_date":"2024-06-30","is_regular_college":true,"is_full_time":true},"employment":{"status":"employed"},"insurance":{"pension":{"scheme":"employee","status":"active","cumulative_months":24,"last_paid_month":"2026-10"}},"hukou":{"is_local":true},"contact":{"mobile":"13800135678"},"consent":{"personalized_push":true}}}`))
	e.waitFor("the event", func() bool { return s.processed.Load() >= 1 })
	e.waitFor("the notices sent", func() bool {
		return e.countOr("SELECT count(*) FROM outbox WHERE status IN ('pending','claimed','sending','deferred')") == 0
	})
	if n := e.count("SELECT count(*) FROM outbox WHERE channel = 'sms' AND status = 'sent' AND provider_msg_id = 'biz-1'"); n == 0 {
		t.Errorf("no SMS sent through Aliyun; calls: %v", calls)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(calls) == 0 || !strings.HasPrefix(calls[0], "SendSms 13800135678 ") {
		t.Errorf("Aliyun saw %v", calls)
	}
}

// An SMS names the enterprise and fits one segment: a long company name is
// shortened, the policy's wording and the opt-out hint are kept.
func TestSMSTemplate(t *testing.T) {
	set, err := ruledir.Load("../../rules")
	if err != nil {
		t.Fatal(err)
	}
	var cur atomic.Pointer[rules.Set]
	cur.Store(set)
	tmpl := smsTemplate(&cur, "SMS_DEFAULT", "某市人社", "", "https://rs.example.gov.cn")
	p := set.Policy("job-retention-refund")
	tests := []struct {
		name, company string
		wantCompany   string
	}{
		{"short name kept", "福州某科技有限公司", "福州某科技有限公司"},
		{"long name shortened", "福建省福州市鼓楼区某某某某某某某某某某某某某某某某信息技术服务有限责任公司", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, params, err := tmpl(&notify.Notice{PolicyID: p.ID, SubjectName: tt.company})
			if err != nil {
				t.Fatal(err)
			}
			if code != p.Notify.SMS.TemplateCode {
				t.Errorf("code %q, want %q", code, p.Notify.SMS.TemplateCode)
			}
			if tt.wantCompany != "" && params["company"] != tt.wantCompany {
				t.Errorf("company %q, want %q", params["company"], tt.wantCompany)
			}
			msg := "【某市人社】" + sms.Render(p.Notify.SMS.Text, params)
			if n := utf8.RuneCountInString(msg); n > sms.SegmentRunes {
				t.Errorf("%q has %d runes, more than one segment", msg, n)
			}
			if !strings.Contains(msg, "退订") || strings.Contains(msg, "${") {
				t.Errorf("message %q lacks the opt-out hint or has an unfilled placeholder", msg)
			}
		})
	}
}

// WeChat drops a repeated template message (client_msg_id) but not a
// subscribe message, and a notice of a policy gone from the rules is never
// taken as deduplicated.
func TestWeChatDedups(t *testing.T) {
	set, err := ruledir.Load("../../rules")
	if err != nil {
		t.Fatal(err)
	}
	var cur atomic.Pointer[rules.Set]
	cur.Store(set)
	w := &wechatChannel{set: &cur}
	var tmpl, sub *rules.Policy
	for _, p := range set.Policies() {
		if p.Notify != nil && p.Notify.WeChat != nil {
			if tmpl == nil {
				tmpl = p
			} else if sub == nil {
				sub = p
			}
		}
	}
	if tmpl == nil || sub == nil {
		t.Fatal("rules/ has fewer than two policies with notify.wechat")
	}
	sub.Notify.WeChat.Subscribe = true // this test's own copy of the set
	for _, tt := range []struct {
		policy string
		want   bool
	}{{tmpl.ID, true}, {sub.ID, false}, {"no-such-policy", false}} {
		if got := w.Dedups(&notify.Notice{PolicyID: tt.policy}); got != tt.want {
			t.Errorf("Dedups(%s) = %v, want %v", tt.policy, got, tt.want)
		}
	}
}
