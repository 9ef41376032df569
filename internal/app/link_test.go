package app

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/policypush/policypush/internal/ingest"
	"github.com/policypush/policypush/internal/notify"
	"github.com/policypush/policypush/internal/notify/wechat"
	"github.com/policypush/policypush/internal/ruledir"
	"github.com/policypush/policypush/internal/store"
)

// linkRule puts {{link}} in a WeChat data value and an SMS param, and names
// no notify.wechat.url: the template message then opens the notice's short
// link all the same.
const linkRule = `id: link-test
version: 1
title: 链接测试补贴
domain: employment
subject: resident
department: 就业促进科
source: {doc: "测试文件"}
status: active
valid_from: 2020-01-01
conditions:
  - name: 本市户籍
    expr: resident.hukou.is_local == true
notify:
  channels: [wechat, sms]
  wechat:
    template_id: TPL_LINK
    data: {thing1: "{{policy.title}}", url9: "详见{{link}}"}
  sms:
    template_code: SMS_LINK
    params: {policy: "{{policy.title}}", link: "{{link}}"}
apply: {how: 登录人社服务平台申请}
`

// TestLinkPlaceholder: {{link}} renders, at send time, to
// POLICYPUSH_PUBLIC_URL/r/{token} with the token of the notice's outbox
// row, the one /r/ records the click for. A notice that WeChat refuses and
// SMS then carries keeps its link across both attempts; the template
// message's url is the link too, though the rule names none.
func TestLinkPlaceholder(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "link-test.yaml"), []byte(linkRule), 0o644); err != nil {
		t.Fatal(err)
	}
	e.cfg.RulesDir = dir
	e.cfg.PublicURL = "https://rs.example.gov.cn"
	e.cfg.QuietHours.On = false

	var mu sync.Mutex
	wechatTried := map[string]map[string]any{} // openid → the last template message
	wx := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/cgi-bin/stable_token":
			fmt.Fprint(w, `{"access_token":"TOKEN-link-1","expires_in":7200}`)
		case "/cgi-bin/message/template/send":
			var body map[string]any
			_ = json.NewDecoder(r.Body).Decode(&body)
			mu.Lock()
			defer mu.Unlock()
			to := fmt.Sprint(body["touser"])
			wechatTried[to] = body
			if to == "oWx_unfollowed_link01" {
				fmt.Fprint(w, `{"errcode":43004,"errmsg":"require subscribe"}`)
				return
			}
			fmt.Fprintf(w, `{"errcode":0,"errmsg":"ok","msgid":%d}`, 2000+len(wechatTried))
		default:
			http.NotFound(w, r)
		}
	}))
	defer wx.Close()
	e.cfg.WeChatAppID, e.cfg.WeChatSecret, e.cfg.WeChatAPIBase = "wx_link_app", "link-secret-value", wx.URL
	e.cfg.WeChatToken = "link-callback-token"

	smsParams := map[string]map[string]string{} // OutId (the notice id) → TemplateParam
	aliyun := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		var tp map[string]string
		_ = json.Unmarshal([]byte(r.Form.Get("TemplateParam")), &tp)
		mu.Lock()
		smsParams[r.Form.Get("OutId")] = tp
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"Code":"OK","Message":"OK","BizId":"biz-link","RequestId":"req-1"}`)
	}))
	defer aliyun.Close()
	e.cfg.SMSProvider, e.cfg.SMSEndpoint = "aliyun", aliyun.URL
	e.cfg.SMSAccessKeyID, e.cfg.SMSAccessKeySecret, e.cfg.SMSSignName = "LTAI-link", "link-sms-secret", "某市人社"

	resident := func(id, openid string) []byte {
		return fmt.Appendf(nil, `{"event_id":"l-%s","subject_type":"resident","subject_id":%q,"occurred_at":"2026-11-20T10:00:00+08:00","source":"jinbao","type":"snapshot","data":{"person_id":%q,"birth_date":"1999-04-12","hukou":{"is_local":true},"contact":{"mobile":"13800135678"},"channels":{"wechat":{"openid":%q}},"consent":{"personalized_push":true}}}`,
			id, id, id, openid)
	}
	s := e.start(ingest.Hooks{})
	e.produce(resident("l_wx", "oWx_followed_link0001"), resident("l_sms", "oWx_unfollowed_link01"))
	e.waitFor("the events", func() bool { return s.processed.Load() >= 2 })
	e.waitFor("both notices sent", func() bool {
		return e.countOr("SELECT count(*) FROM outbox WHERE status = 'sent'") == 2
	})

	// The token of each subject's notice, as the outbox keeps it.
	token := func(subject string) (int, string) {
		t.Helper()
		var id int
		var tok string
		err := e.db.QueryRow(t.Context(), `SELECT o.id, o.click_token FROM outbox o JOIN matches m ON m.id = o.match_id
WHERE m.subject_id = $1 AND m.policy_id = 'link-test'`, subject).Scan(&id, &tok)
		if err != nil {
			t.Fatal(err)
		}
		if len(tok) != store.ClickTokenLen {
			t.Fatalf("%s: click token %q, want %d characters", subject, tok, store.ClickTokenLen)
		}
		return id, tok
	}
	wxID, wxToken := token("l_wx")
	smsID, smsToken := token("l_sms")
	if wxToken == smsToken {
		t.Fatal("two notices share a token")
	}
	link := func(tok string) string { return "https://rs.example.gov.cn/r/" + tok }

	mu.Lock()
	for _, tt := range []struct{ openid, token string }{{"oWx_followed_link0001", wxToken}, {"oWx_unfollowed_link01", smsToken}} {
		m := wechatTried[tt.openid]
		if m == nil {
			t.Errorf("%s: no template message tried", tt.openid)
			continue
		}
		if m["url"] != link(tt.token) {
			t.Errorf("%s: template url %v, want %s (the rule names none)", tt.openid, m["url"], link(tt.token))
		}
		// WeChat holds at most 20 characters in a field, so the client
		// cuts the rendered value as it cuts any other.
		data, _ := m["data"].(map[string]any)
		url9, _ := data["url9"].(map[string]any)
		if want := wechat.Fit("url9", "详见"+link(tt.token)); url9["value"] != want {
			t.Errorf("%s: data.url9 %v, want %s", tt.openid, url9["value"], want)
		}
	}
	if got := smsParams[fmt.Sprint(smsID)]; got["link"] != link(smsToken) || got["policy"] != "链接测试补贴" {
		t.Errorf("SMS params %v, want link %s: the fallback keeps the notice's link", got, link(smsToken))
	}
	if _, ok := smsParams[fmt.Sprint(wxID)]; ok {
		t.Error("the WeChat notice went by SMS too")
	}
	mu.Unlock()

	// The link the SMS carried is the one whose click is recorded.
	addr := <-s.addr
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get("http://" + addr + strings.TrimPrefix(link(smsToken), e.cfg.PublicURL))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 500 {
		t.Errorf("/r/: %d", resp.StatusCode)
	}
	if n := e.count("SELECT count(*) FROM outbox WHERE id = $1 AND clicked_at IS NOT NULL", smsID); n != 1 {
		t.Error("opening the SMS's link recorded no click on its notice")
	}
}

// renderLink fills {{link}} in full, before any channel fits the value to
// its limits, after the other placeholders are known not to be re-read: a
// title holding the text "{{link}}" stays text. A notice without a token
// cannot fill it and is refused rather than sent with a broken link.
func TestRenderLink(t *testing.T) {
	set, err := ruledir.Load("../../rules")
	if err != nil {
		t.Fatal(err)
	}
	p := *set.Policy("skill-upgrade-subsidy")
	rule := *p.Rule
	rule.Title = "{{link}}补贴"
	p.Rule = &rule
	n := &notify.Notice{ID: 7, ClickToken: "0123456789abcdef0123456789abcdef"}
	got, err := renderLink("{{policy.title}}：{{link}}", &p, n, "https://rs.example.gov.cn")
	if want := "{{link}}补贴：https://rs.example.gov.cn/r/0123456789abcdef0123456789abcdef"; err != nil || got != want {
		t.Errorf("renderLink = %q, %v; want %q", got, err, want)
	}
	if _, err := renderLink("{{link}}", &p, &notify.Notice{ID: 8}, "https://rs.example.gov.cn"); err == nil {
		t.Error("a notice without a click token filled {{link}}")
	}
	if got, err := renderLink("{{policy.title}}", &p, &notify.Notice{ID: 8}, "https://rs.example.gov.cn"); err != nil || got != "{{link}}补贴" {
		t.Errorf("without {{link}} the token is not needed: %q, %v", got, err)
	}
}
