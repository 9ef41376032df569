package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/policypush/policypush/internal/config"
	"github.com/policypush/policypush/internal/ingest"
	"github.com/policypush/policypush/internal/rules"
)

// wechatSim is a WeChat API that can be down: while outage is set, every
// send gets HTTP 500 with a body echoing the token and the secret, as a
// misbehaving proxy might, to prove they are redacted.
type wechatSim struct {
	outage     atomic.Bool
	mu         sync.Mutex
	accepted   map[string]int // client_msg_id → sends accepted
	msgIDs     map[string]string
	unfollowed map[string]bool
	refused    int
}

func (f *wechatSim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	_ = json.NewDecoder(r.Body).Decode(&body)
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/cgi-bin/stable_token":
		fmt.Fprint(w, `{"access_token":"TOKEN-e2e-secret-token","expires_in":7200}`)
	case "/cgi-bin/message/template/send":
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.outage.Load() {
			f.refused++
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprintf(w, "upstream failed for %s secret=e2e-app-secret-value", r.URL.RequestURI())
			return
		}
		if f.unfollowed[fmt.Sprint(body["touser"])] {
			fmt.Fprint(w, `{"errcode":43004,"errmsg":"require subscribe"}`)
			return
		}
		id := fmt.Sprint(body["client_msg_id"])
		f.accepted[id]++
		f.msgIDs[id] = fmt.Sprint(2000 + len(f.msgIDs))
		fmt.Fprintf(w, `{"errcode":0,"errmsg":"ok","msgid":%s}`, f.msgIDs[id])
	default:
		http.NotFound(w, r)
	}
}

// aliyunSim is Aliyun's SendSms: BizId is derived from OutId.
type aliyunSim struct {
	mu       sync.Mutex
	accepted map[string]int // OutId → sends accepted
	phones   map[string]string
}

func (f *aliyunSim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	w.Header().Set("Content-Type", "application/json")
	if r.Header.Get("x-acs-action") != "SendSms" || !strings.HasPrefix(r.Header.Get("Authorization"), "ACS3-HMAC-SHA256 ") {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"Code":"MissingParameter","Message":"unsigned"}`)
		return
	}
	out := r.Form.Get("OutId")
	f.mu.Lock()
	f.accepted[out]++
	f.phones[out] = r.Form.Get("PhoneNumbers")
	f.mu.Unlock()
	fmt.Fprintf(w, `{"Code":"OK","Message":"OK","BizId":"biz-%s","RequestId":"req"}`, out)
}

// clock is a settable time for the service.
type clock struct{ t atomic.Pointer[time.Time] }

func (c *clock) now() time.Time      { return *c.t.Load() }
func (c *clock) set(t time.Time)     { c.t.Store(&t) }
func (c *clock) add(d time.Duration) { c.set(c.now().Add(d)) }

// TestDeliveryEndToEnd is issue 4's "done when": a stream of profile
// events reaches residents through a WeChat API that is down for a while
// and an Aliyun endpoint. Quiet hours defer everything queued at night;
// opt-outs by the admin API and by an SMS reply suppress; WeChat's outage
// is retried until it recovers, with no notice sent twice; unfollowed and
// blocking users fall back to SMS; receipts settle the rows; /metrics
// shows it; and no log line or metric holds a secret, a token, a mobile or
// an openid.
func TestDeliveryEndToEnd(t *testing.T) {
	e := newEnv(t)
	wx := &wechatSim{accepted: map[string]int{}, msgIDs: map[string]string{}, unfollowed: map[string]bool{}}
	wxSrv := httptest.NewServer(wx)
	defer wxSrv.Close()
	ali := &aliyunSim{accepted: map[string]int{}, phones: map[string]string{}}
	aliSrv := httptest.NewServer(ali)
	defer aliSrv.Close()

	e.cfg.WeChatAppID, e.cfg.WeChatSecret, e.cfg.WeChatAPIBase = "wx_e2e_app", "e2e-app-secret-value", wxSrv.URL
	e.cfg.WeChatTemplateID, e.cfg.WeChatToken = "TPL_DEFAULT", "e2e-callback-token"
	e.cfg.SMSProvider, e.cfg.SMSEndpoint = "aliyun", aliSrv.URL
	e.cfg.SMSAccessKeyID, e.cfg.SMSAccessKeySecret, e.cfg.SMSSignName = "LTAI-e2e", "e2e-sms-secret-value", "某市人社"
	e.cfg.SMSTemplate = "SMS_DEFAULT"
	e.cfg.QuietHours = config.Window{On: true, From: 21 * time.Hour, To: 8 * time.Hour}
	e.cfg.FrequencyCap = config.Cap{}
	var c clock
	c.set(time.Date(2026, 11, 27, 22, 0, 0, 0, rules.Shanghai))
	e.clock = c.now
	var logs syncBuffer
	e.logs = &logs

	type person struct {
		id, openid, mobile string
		consent            bool
		optOut             string // consent.opt_out_channels
	}
	var people []person
	add := func(n int, prefix string, p person) {
		for i := range n {
			q := p
			q.id = fmt.Sprintf("%s_%d", prefix, i)
			if q.openid != "" {
				q.openid = fmt.Sprintf("o%s_%020d", prefix, i)
			}
			if q.mobile != "" {
				q.mobile = fmt.Sprintf("%s%03d", q.mobile, i)
			}
			people = append(people, q)
		}
	}
	add(5, "wx", person{openid: "y", mobile: "13900000", consent: true})  // WeChat, delivered
	add(3, "unf", person{openid: "y", mobile: "13911111", consent: true}) // 43004 → SMS
	add(3, "sms", person{mobile: "13922222", consent: true})              // SMS only; sms_0's report fails
	add(1, "blk", person{openid: "y", mobile: "13933333", consent: true}) // blocks the account → SMS
	add(1, "nc", person{openid: "y", mobile: "13944444", consent: false}) // no consent
	add(1, "oo", person{openid: "y", mobile: "13955555", consent: true, optOut: "wechat"})
	add(1, "api", person{openid: "y", mobile: "13966666", consent: true}) // opted out of both by the API
	add(1, "td", person{mobile: "13977777", consent: true})               // replies TD
	add(1, "none", person{consent: true})                                 // unreachable
	for i := range 3 {
		wx.unfollowed[fmt.Sprintf("ounf_%020d", i)] = true
	}
	var events [][]byte
	for i, p := range people {
		contact := map[string]any{}
		if p.mobile != "" {
			contact["mobile"] = p.mobile
		}
		data := map[string]any{
			"person_id": p.id, "birth_date": "1999-04-12",
			"education":  map[string]any{"level": "master", "graduation_date": "2024-06-30", "is_regular_college": true, "is_full_time": true},
			"employment": map[string]any{"status": "employed"},
			"insurance":  map[string]any{"pension": map[string]any{"scheme": "employee", "status": "active", "cumulative_months": 24, "last_paid_month": "2026-10"}},
			"hukou":      map[string]any{"is_local": true},
			"contact":    contact,
			"consent":    map[string]any{"personalized_push": p.consent},
		}
		if p.openid != "" {
			data["channels"] = map[string]any{"wechat": map[string]any{"openid": p.openid}}
		}
		if p.optOut != "" {
			data["consent"].(map[string]any)["opt_out_channels"] = []string{p.optOut}
		}
		events = append(events, mustJSON(map[string]any{
			"event_id": fmt.Sprintf("e2e-%d", i), "subject_type": "resident", "subject_id": p.id,
			"occurred_at": "2026-11-27T21:30:00+08:00", "source": "jinbao", "type": "snapshot", "data": data,
		}))
	}

	s := e.start(ingest.Hooks{})
	addr := <-s.addr
	e.produce(events...)
	e.waitFor("the events", func() bool { return s.processed.Load() >= int64(len(people)) })
	matches := e.count("SELECT count(*) FROM matches")
	if matches < len(people) {
		t.Fatalf("%d matches for %d people: the fixture no longer qualifies", matches, len(people))
	}

	// Night: everything reachable waits for the morning.
	e.waitFor("quiet hours to defer every notice", func() bool {
		return e.countOr("SELECT count(*) FROM outbox WHERE status IN ('pending', 'claimed', 'sending')") == 0
	})
	if n := e.count("SELECT count(*) FROM outbox WHERE status = 'deferred' AND reason <> 'quiet_hours'"); n != 0 {
		t.Errorf("%d notices deferred for another reason than quiet hours", n)
	}
	morning := time.Date(2026, 11, 28, 8, 0, 0, 0, rules.Shanghai)
	if n := e.count("SELECT count(*) FROM outbox WHERE status = 'deferred' AND due_at <> $1", morning); n != 0 {
		t.Errorf("%d deferred notices not due at 08:00", n)
	}

	// Still at night, the citizens opt out: one by calling the bureau (the
	// admin API), one by replying TD to an earlier SMS.
	api := func(method, path, body string) int {
		req, _ := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+e.cfg.AdminToken.Value())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, ch := range []string{"wechat", "sms"} {
		if code := api("POST", "/api/subjects/resident/api_0/opt-outs", `{"channel":"`+ch+`"}`); code != 200 {
			t.Fatalf("admin opt-out: %d", code)
		}
	}
	post := func(path, body string) int {
		resp, err := http.Post("http://"+addr+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("/sms/callback/aliyun?key="+testCallbackKey, `[{"phone_number":"8613977777000","send_time":"2026-11-27 22:10:00","content":"TD","sign_name":"某市人社","dest_code":"1","sequence_id":1}]`); code != 200 {
		t.Fatalf("SmsUp: %d", code)
	}

	// Morning, and WeChat is down: SMS goes out, WeChat is retried later.
	wx.outage.Store(true)
	c.set(morning.Add(30 * time.Minute))
	settledNow := func() bool {
		return e.countOr(fmt.Sprintf("SELECT count(*) FROM outbox WHERE status IN ('claimed', 'sending') OR (status IN ('pending', 'deferred') AND due_at <= '%s')", c.now().Format(time.RFC3339Nano))) == 0
	}
	e.waitFor("the morning's first round", settledNow)
	if n := e.count("SELECT count(*) FROM notice_attempts WHERE channel = 'wechat' AND outcome = 'retry' AND reason = 'server_error'"); n == 0 {
		t.Fatal("no WeChat send was retried during the outage")
	}
	wx.outage.Store(false)
	c.add(2 * time.Hour) // past the backoff
	e.waitFor("every notice sent after the outage", func() bool {
		return settledNow() && e.countOr("SELECT count(*) FROM outbox WHERE status IN ('pending', 'deferred')") == 0
	})

	// Receipts: WeChat delivered every message but the blocker's, whose
	// notice falls back to SMS; then Aliyun reports, with sms_0's failing.
	rows, err := e.db.Query(context.Background(), `SELECT m.subject_id, o.provider_msg_id FROM outbox o JOIN matches m ON m.id = o.match_id
WHERE o.status = 'sent' AND o.channel = 'wechat'`)
	if err != nil {
		t.Fatal(err)
	}
	sentWx := map[string][]string{}
	for rows.Next() {
		var subject, id string
		_ = rows.Scan(&subject, &id)
		sentWx[subject] = append(sentWx[subject], id)
	}
	rows.Close()
	for subject, ids := range sentWx {
		for _, id := range ids {
			status := "success"
			if subject == "blk_0" {
				status = "failed:user block"
			}
			xml := fmt.Sprintf(`<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o]]></FromUserName><CreateTime>1</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event><MsgID>%s</MsgID><Status><![CDATA[%s]]></Status></xml>`, id, status)
			// Fresh by the service's clock, and a nonce of its own: WeChat signs each callback anew.
			ts, nonce := fmt.Sprint(c.now().Unix()), "n"+id
			u := fmt.Sprintf("http://%s/wechat/callback?timestamp=%s&nonce=%s&signature=%s", addr, ts, nonce, wechatSignature("e2e-callback-token", ts, nonce))
			resp, err := http.Post(u, "text/xml", strings.NewReader(xml))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("WeChat receipt: %d", resp.StatusCode)
			}
		}
	}
	e.waitFor("the blocked notice re-sent by SMS", func() bool {
		return settledNow() && e.countOr("SELECT count(*) FROM outbox WHERE status IN ('pending', 'deferred')") == 0
	})
	var reports []map[string]any
	ali.mu.Lock()
	for out, phone := range ali.phones {
		reports = append(reports, map[string]any{"phone_number": phone, "success": !strings.HasPrefix(phone, "13922222000"),
			"err_code": "DELIVERED", "biz_id": "biz-" + out, "out_id": out, "send_time": "2026-11-28 08:30:00", "report_time": "2026-11-28 08:30:05", "sms_size": "1"})
	}
	ali.mu.Unlock()
	if code := post("/sms/callback/aliyun?key="+testCallbackKey, string(mustJSON(reports))); code != 200 {
		t.Fatalf("SmsReport: %d", code)
	}

	// Every match has exactly one notice, each provider got each notice
	// once at most, and every subject ended where the contract says.
	if n := e.count("SELECT count(*) FROM outbox"); n != matches {
		t.Errorf("%d notices for %d matches", n, matches)
	}
	wx.mu.Lock()
	for id, n := range wx.accepted {
		if n != 1 {
			t.Errorf("WeChat accepted notice %s %d times", id, n)
		}
	}
	refused := wx.refused
	wx.mu.Unlock()
	if refused == 0 {
		t.Error("the outage refused nothing")
	}
	ali.mu.Lock()
	for id, n := range ali.accepted {
		if n != 1 {
			t.Errorf("Aliyun accepted notice %s %d times", id, n)
		}
	}
	ali.mu.Unlock()
	states := func(subject string) string {
		rows, err := e.db.Query(context.Background(), `SELECT DISTINCT o.channel || ':' || o.status || coalesce(':' || o.reason, '')
FROM outbox o JOIN matches m ON m.id = o.match_id WHERE m.subject_id = $1 ORDER BY 1`, subject)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var v string
			_ = rows.Scan(&v)
			out = append(out, v)
		}
		return strings.Join(out, " ")
	}
	want := map[string]string{
		"wx_0": "wechat:delivered", "wx_4": "wechat:delivered",
		"unf_0": "sms:delivered", "unf_2": "sms:delivered",
		"sms_0": "sms:failed:undelivered", "sms_1": "sms:delivered",
		"blk_0":  "sms:delivered",
		"nc_0":   "wechat:waiting:no_consent",
		"oo_0":   "sms:delivered",
		"api_0":  "wechat:suppressed:opted_out",
		"td_0":   "sms:suppressed:opted_out",
		"none_0": "wechat:waiting:unreachable",
	}
	for subject, w := range want {
		if got := states(subject); got != w {
			t.Errorf("%s: notices %q, want %q", subject, got, w)
		}
	}
	if n := e.count("SELECT count(*) FROM opt_outs WHERE subject_id = 'blk_0' AND channel = 'wechat' AND source = 'wechat_block'"); n != 1 {
		t.Error("the block was not recorded as an opt-out")
	}

	// /metrics shows it all.
	for _, sample := range []string{
		`policypush_notifications_total{channel="wechat",result="sent"}`,
		`policypush_notifications_total{channel="wechat",result="retry"}`,
		`policypush_notifications_total{channel="sms",result="sent"}`,
		`policypush_notification_fallbacks_total{from="wechat",reason="unreachable_user",to="sms"}`,
		`policypush_notification_fallbacks_total{from="wechat",reason="blocked",to="sms"}`,
		`policypush_notifications_deferred_total{channel="wechat",reason="quiet_hours"}`,
		`policypush_notifications_suppressed_total{channel="wechat",reason="opted_out"}`,
		`policypush_notifications_suppressed_total{channel="sms",reason="opted_out"}`,
		`policypush_receipts_total{channel="wechat",status="delivered"}`,
		`policypush_receipts_total{channel="sms",status="failed"}`,
		`policypush_receipts_total{channel="sms",status="opt_out"}`,
	} {
		if got := gather(t, s.reg, sample); got < 1 {
			t.Errorf("%s = %v, want > 0", sample, got)
		}
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metricsText, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Contains(metricsText, []byte("policypush_outbox_oldest_due_age_seconds 0")) {
		t.Error("/metrics lacks policypush_outbox_oldest_due_age_seconds at 0 with nothing due")
	}

	// Nothing leaks: not in the log, not on /metrics.
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	leaks := []string{"e2e-app-secret-value", "TOKEN-e2e-secret-token", "e2e-sms-secret-value", e.cfg.AdminToken.Value()}
	for _, p := range people {
		if p.openid != "" {
			leaks = append(leaks, p.openid)
		}
		if p.mobile != "" {
			leaks = append(leaks, p.mobile)
		}
	}
	logText := logs.String()
	if !strings.Contains(logText, "level=") {
		t.Fatal("the service logged nothing: the leak check would prove nothing")
	}
	for _, secret := range leaks {
		if strings.Contains(logText, secret) {
			t.Errorf("the log contains %q", secret)
		}
		if bytes.Contains(metricsText, []byte(secret)) {
			t.Errorf("/metrics contains %q", secret)
		}
	}
	if n := e.count("SELECT count(*) FROM notice_attempts WHERE reason LIKE '%secret%'"); n != 0 {
		t.Error("a stored reason holds a secret")
	}
}

// syncBuffer is a bytes.Buffer safe for the service's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
