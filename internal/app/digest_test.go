package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/policypush/policypush/internal/config"
	"github.com/policypush/policypush/internal/ingest"
	"github.com/policypush/policypush/internal/rules"
)

// TestDigestOfThree runs the service: three notices of one resident fall
// due together (at the end of the quiet hours) and go out as one WeChat
// message from the digest template, naming how many policies it covers and
// the first one's title, and opening the first notice's short link. One
// receipt marks each notice delivered; the frequency cap counts the digest
// once.
func TestDigestOfThree(t *testing.T) {
	e := newEnv(t)
	fake := &fakeWeChat{}
	api := httptest.NewServer(fake)
	defer api.Close()
	e.cfg.WeChatAppID, e.cfg.WeChatSecret, e.cfg.WeChatAPIBase = "wx_test_app", "test-secret-value", api.URL
	e.cfg.WeChatTemplateID, e.cfg.WeChatToken = "TPL_DEFAULT", "callback-token"
	e.cfg.WeChatDigestTemplate = "TPL_DIGEST"
	e.cfg.DigestWindow = 10 * time.Minute
	e.cfg.QuietHours = config.Window{On: true, From: 21 * time.Hour, To: 8 * time.Hour}
	e.cfg.FrequencyCap = config.Cap{N: 2, Period: 168 * time.Hour}
	var c clock
	c.set(time.Date(2026, 11, 20, 22, 0, 0, 0, rules.Shanghai))
	e.clock = c.now

	s := e.start(ingest.Hooks{})
	first, ids, queue, morning := threeAtMorning(t, e, s, &c)
	c.set(morning.Add(time.Second))
	e.waitFor("the digest sent", func() bool {
		return e.countOr("SELECT count(*) FROM outbox WHERE status = 'sent' AND digest_id IS NOT NULL") == 3
	})
	fake.mu.Lock()
	sent := append([]map[string]any(nil), fake.sent...)
	fake.mu.Unlock()
	if len(sent) != 1 {
		t.Fatalf("WeChat got %d messages, want one: %v", len(sent), sent)
	}
	m := sent[0]
	value := func(key string) string {
		data, _ := m["data"].(map[string]any)
		item, _ := data[key].(map[string]any)
		v, _ := item["value"].(string)
		return v
	}
	var token string
	if err := e.db.QueryRow(context.Background(), "SELECT click_token FROM outbox WHERE id = $1", first).Scan(&token); err != nil {
		t.Fatal(err)
	}
	if m["template_id"] != "TPL_DIGEST" || value("number2") != "3" || value("thing1") != "人才租房补贴等3项" ||
		m["url"] != e.cfg.PublicURL+"/r/"+token || m["client_msg_id"] != fmt.Sprint(first) {
		t.Errorf("the digest: %v; want TPL_DIGEST, number2 3, thing1 人才租房补贴等3项, url %s/r/%s, client_msg_id %d", m, e.cfg.PublicURL, token, first)
	}
	if n := e.count("SELECT count(DISTINCT click_token) FROM outbox WHERE id = ANY($1)", ids); n != 3 {
		t.Errorf("%d click tokens, want one each", n)
	}

	// One receipt, for the one message, marks each notice delivered.
	addr := <-s.addr
	msgID := e.count("SELECT provider_msg_id::int FROM outbox WHERE id = $1", first)
	report := fmt.Sprintf(`<xml><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event><MsgID>%d</MsgID><Status><![CDATA[success]]></Status></xml>`, msgID)
	ts := c.now().Unix()
	resp, err := http.Post(fmt.Sprintf("http://%s/wechat/callback?timestamp=%d&nonce=dg1&signature=%s", addr, ts, wechatSignature("callback-token", fmt.Sprint(ts), "dg1")),
		"text/xml", strings.NewReader(report))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if n := e.count("SELECT count(*) FROM outbox WHERE id = ANY($1) AND status = 'delivered'", ids); resp.StatusCode != http.StatusOK || n != 3 {
		t.Errorf("after the receipt (%d): %d of 3 delivered", resp.StatusCode, n)
	}

	// The cap of 2 counted the digest once: one more notice goes, alone.
	c.set(morning.Add(time.Hour))
	fourth := queue("graduate-employment-service", c.now())
	e.waitFor("the fourth notice", func() bool {
		return e.countOr(fmt.Sprintf("SELECT count(*) FROM outbox WHERE id = %d AND status NOT IN ('pending', 'claimed', 'sending')", fourth)) == 1
	})
	if n := e.count("SELECT count(*) FROM outbox WHERE id = $1 AND status = 'sent'", fourth); n != 1 {
		t.Errorf("the fourth notice was not sent: the cap counted the digest's notices, not the message")
	}
}

// A user block reported for a WeChat digest moves the whole digest to SMS,
// where it goes as one Aliyun message from the SMS digest template, under
// the same digest id as OutId.
func TestDigestFallbackToSMS(t *testing.T) {
	e := newEnv(t)
	fake := &fakeWeChat{}
	api := httptest.NewServer(fake)
	defer api.Close()
	var (
		mu    sync.Mutex
		calls []url.Values
	)
	ali := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		mu.Lock()
		calls = append(calls, r.Form)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"Code":"OK","Message":"OK","BizId":"biz-%s","RequestId":"req"}`, r.Form.Get("OutId"))
	}))
	defer ali.Close()
	e.cfg.WeChatAppID, e.cfg.WeChatSecret, e.cfg.WeChatAPIBase = "wx_test_app", "test-secret-value", api.URL
	e.cfg.WeChatTemplateID, e.cfg.WeChatToken = "TPL_DEFAULT", "callback-token"
	e.cfg.WeChatDigestTemplate = "TPL_DIGEST"
	e.cfg.SMSProvider, e.cfg.SMSEndpoint = "aliyun", ali.URL
	e.cfg.SMSAccessKeyID, e.cfg.SMSAccessKeySecret, e.cfg.SMSSignName = "LTAI-test", "test-secret", "某市人社"
	e.cfg.SMSTemplate, e.cfg.SMSDigestTemplate = "SMS_DEFAULT", "SMS_DIGEST"
	e.cfg.DigestWindow = 10 * time.Minute
	e.cfg.QuietHours = config.Window{On: true, From: 21 * time.Hour, To: 8 * time.Hour}
	e.cfg.FrequencyCap = config.Cap{}
	var c clock
	c.set(time.Date(2026, 11, 20, 22, 0, 0, 0, rules.Shanghai))
	e.clock = c.now

	s := e.start(ingest.Hooks{})
	first, ids, _, morning := threeAtMorning(t, e, s, &c)
	c.set(morning.Add(time.Second))
	e.waitFor("the WeChat digest sent", func() bool {
		return e.countOr("SELECT count(*) FROM outbox WHERE channel = 'wechat' AND status = 'sent' AND digest_id IS NOT NULL") == 3
	})
	addr := <-s.addr
	msgID := e.count("SELECT provider_msg_id::int FROM outbox WHERE id = $1", first)
	ts := c.now().Unix()
	resp, err := http.Post(fmt.Sprintf("http://%s/wechat/callback?timestamp=%d&nonce=dg2&signature=%s", addr, ts, wechatSignature("callback-token", fmt.Sprint(ts), "dg2")),
		"text/xml", strings.NewReader(blocked(fmt.Sprint(msgID))))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	e.waitFor("the SMS digest sent", func() bool {
		return e.countOr("SELECT count(*) FROM outbox WHERE channel = 'sms' AND status = 'sent'") == 3
	})
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 1 {
		t.Fatalf("Aliyun got %d messages, want one", len(calls))
	}
	var params map[string]string
	_ = json.Unmarshal([]byte(calls[0].Get("TemplateParam")), &params)
	var token string
	if err := e.db.QueryRow(context.Background(), "SELECT click_token FROM outbox WHERE id = $1", first).Scan(&token); err != nil {
		t.Fatal(err)
	}
	if calls[0].Get("TemplateCode") != "SMS_DIGEST" || calls[0].Get("OutId") != fmt.Sprint(first) ||
		params["count"] != "3" || params["title"] != "人才租房补贴等3项" || params["link"] != e.cfg.PublicURL+"/r/"+token {
		t.Errorf("the SMS digest: %v", calls[0])
	}
	if n := e.count("SELECT count(*) FROM outbox WHERE id = ANY($1) AND provider_msg_id = $2", ids, "biz-"+fmt.Sprint(first)); n != 3 {
		t.Errorf("%d of 3 notices carry the SMS digest's id", n)
	}
}

// threeAtMorning has the service match resident p_dg during the night of
// 2026-11-20 (the clock c at 22:00, quiet hours on), and queues two more
// notices of the resident, so that all three fall due at 08:00, within the
// digest window. It returns the first notice, all three, a function that
// queues another for a policy at a due time, and 08:00.
func threeAtMorning(t *testing.T, e *env, s *service, c *clock) (first int, ids []int, queue func(string, time.Time) int, morning time.Time) {
	t.Helper()
	e.produce([]byte(`{"event_id":"dg-1","subject_type":"resident","subject_id":"p_dg","occurred_at":"2026-11-20T10:00:00+08:00","source":"jinbao","type":"snapshot","data":{"person_id":"p_dg","birth_date":"1999-04-12","education":{"level":"master","graduation_date":"2024-06-30","is_regular_college":true,"is_full_time":true},"employment":{"status":"employed"},"insurance":{"pension":{"scheme":"employee","status":"active","cumulative_months":24,"last_paid_month":"2026-10"}},"hukou":{"is_local":true},"contact":{"mobile":"13800135678"},"channels":{"wechat":{"openid":"oWx_digest_000000001"}},"consent":{"personalized_push":true}}}`))
	e.waitFor("the event", func() bool { return s.processed.Load() >= 1 })
	e.waitFor("the first notice held by the quiet hours", func() bool {
		return e.countOr("SELECT count(*) FROM outbox WHERE status = 'deferred' AND reason = 'quiet_hours'") == 1
	})
	first = e.count("SELECT o.id::int FROM outbox o JOIN matches m ON m.id = o.match_id WHERE m.subject_id = 'p_dg'")
	// Two more matches of the resident, queued during the night too.
	queue = func(policy string, due time.Time) int {
		return e.count(`WITH m AS (
    INSERT INTO matches (subject_type, subject_id, policy_id, policy_version, result, explanation, explanation_form, explanation_values, evaluated_at)
    SELECT subject_type, subject_id, $1, 1, 'eligible', explanation, explanation_form, explanation_values, evaluated_at FROM matches WHERE subject_id = 'p_dg' LIMIT 1
    RETURNING id)
INSERT INTO outbox (match_id, channel, fallback, status, due_at) SELECT id, 'wechat', '{sms}', 'pending', $2 FROM m RETURNING id::int`, policy, due)
	}
	morning = time.Date(2026, 11, 21, 8, 0, 0, 0, rules.Shanghai)
	ids = []int{first, queue("skill-upgrade-subsidy", c.now()), queue("vocational-training-subsidy", morning.Add(3*time.Minute))}

	return first, ids, queue, morning
}

// A digest's {{titles}} keeps its count within WeChat's 20 characters.
func TestDigestTitles(t *testing.T) {
	for _, tt := range []struct {
		first string
		count int
		want  string
	}{
		{"人才租房补贴", 3, "人才租房补贴等3项"},
		{"人才租房补贴", 1, "人才租房补贴"},
		{"就业困难人员灵活就业社会保险补贴申领提醒", 12, "就业困难人员灵活就业社会保险补…等12项"},
	} {
		got := digestTitles(tt.first, tt.count, 20)
		if got != tt.want || utf8.RuneCountInString(got) > 20 {
			t.Errorf("digestTitles(%q, %d) = %q, want %q", tt.first, tt.count, got, tt.want)
		}
	}
}
