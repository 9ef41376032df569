package receipt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/silenceper/wechat/v2/util"

	"github.com/policypush/policypush/internal/pii"

	"github.com/policypush/policypush/internal/testlog"
)

const (
	token  = "callback-token"
	appID  = "wx1234567890abcdef"
	aesKey = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG" // WeChat's documented example key

	knownOpenID   = "oKnownA1b2C3d4E5f6G7h8I9j0"  // one subject has it
	strangeOpenID = "oStrangerZ9y8X7w6V5u4T3s2r1" // no subject has it
	knownMobile   = "13800138000"
	strangeMobile = "13900139000"
	unknownID     = "999" // no notice was sent as it
	earlyID       = "888" // its notice's send may not be recorded yet
	smsKey        = "sms-callback-key-0123"
)

// now is fixedNow as a WeChat timestamp.
var now = fmt.Sprint(fixedNow().Unix())

// piiValues must never appear in full in a log line.
func piiValues() []string { return []string{knownOpenID, strangeOpenID, knownMobile, strangeMobile} }

func fixedNow() time.Time { return time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC) }

// call is one Store call the fake saw.
type call struct {
	Op      string // receipt, opt_out, opt_in
	Report  Report
	Contact Contact
	Channel string
	Source  string
}

// fakeStore records calls; every id but unknownID and every contact but
// the strange ones name a notice or one subject. It is its own Tx, and
// remembers nonces in memory.
type fakeStore struct {
	calls   []call
	err     error
	batches int
	nonces  map[string]bool
}

func (f *fakeStore) Batch(_ context.Context, fn func(Tx) error) error {
	f.batches++
	return fn(f)
}

func (f *fakeStore) ForgetNonces(context.Context, int64) error { return nil }

func (f *fakeStore) FirstSeen(_ context.Context, ts int64, nonce string) (bool, error) {
	if f.nonces == nil {
		f.nonces = map[string]bool{}
	}
	k := fmt.Sprint(ts, " ", nonce)
	seen := f.nonces[k]
	f.nonces[k] = true
	return !seen, nil
}

func (f *fakeStore) Receipt(_ context.Context, r Report) (bool, error) {
	f.calls = append(f.calls, call{Op: "receipt", Report: r})
	if r.ProviderMsgID == earlyID {
		return false, fmt.Errorf("in flight: %w", ErrTooEarly)
	}
	return r.ProviderMsgID != unknownID, f.err
}

func (f *fakeStore) OptOut(_ context.Context, c Contact, channel, source string, at time.Time) (int, error) {
	return f.contact("opt_out", c, channel, source, at)
}

func (f *fakeStore) OptIn(_ context.Context, c Contact, channel, source string, at time.Time) (int, error) {
	return f.contact("opt_in", c, channel, source, at)
}

func (f *fakeStore) contact(op string, c Contact, channel, source string, at time.Time) (int, error) {
	if !at.Equal(fixedNow()) {
		return 0, fmt.Errorf("at %v, want the handlers' clock", at)
	}
	f.calls = append(f.calls, call{Op: op, Contact: c, Channel: channel, Source: source})
	if c.Value == strangeOpenID || c.Value == strangeMobile {
		return 0, f.err
	}
	return 1, f.err
}

type counts map[string]int

func (c counts) Receipt(channel, status string)  { c[channel+" "+status]++ }
func (c counts) Refused(provider, reason string) { c[provider+" refused "+reason]++ }

// request is one callback and what must come of it.
type request struct {
	name        string
	cfg         *Config // nil: token, app id and AES key all set
	storeErr    error
	method, url string
	body        string
	code        int
	answer      string // the whole answer for 200s; a part of it otherwise
	calls       []call
	counted     counts
	logged      string // a part of the logs, when not ""
	remote      string // the connection's address; "" for httptest's 192.0.2.1:1234
	forwarded   string // an X-Forwarded-For header, when not ""
}

func (tt request) run(t *testing.T) {
	t.Helper()
	cfg := Config{WeChatToken: token, WeChatAppID: appID, WeChatAESKey: aesKey, SMSKey: smsKey}
	if tt.cfg != nil {
		cfg = *tt.cfg
	}
	st, obs, logs := &fakeStore{err: tt.storeErr}, counts{}, &bytes.Buffer{}
	h, err := New(cfg, st, obs, slog.New(slog.NewTextHandler(io.MultiWriter(logs, testlog.Writer(t)), &slog.HandlerOptions{Level: slog.LevelDebug})), fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Register(mux)
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(tt.method, tt.url, strings.NewReader(tt.body))
	if tt.remote != "" {
		req.RemoteAddr = tt.remote
	}
	if tt.forwarded != "" {
		req.Header.Set("X-Forwarded-For", tt.forwarded)
	}
	mux.ServeHTTP(rec, req)

	if rec.Code != tt.code {
		t.Errorf("status %d, want %d (answer %q)", rec.Code, tt.code, rec.Body.String())
	}
	if got := rec.Body.String(); tt.code == http.StatusOK && got != tt.answer || !strings.Contains(got, tt.answer) {
		t.Errorf("answer %q, want %q", got, tt.answer)
	}
	for i := range tt.calls {
		if tt.calls[i].Op == "receipt" {
			tt.calls[i].Report.At = fixedNow()
		}
	}
	if !reflect.DeepEqual(st.calls, tt.calls) {
		t.Errorf("store calls\n got %+v\nwant %+v", st.calls, tt.calls)
	}
	if tt.counted == nil {
		tt.counted = counts{}
	}
	if !maps.Equal(obs, tt.counted) {
		t.Errorf("counted %v, want %v", obs, tt.counted)
	}
	for _, v := range piiValues() {
		if strings.Contains(logs.String(), v) {
			t.Errorf("logs hold %q in full:\n%s", v, logs)
		}
	}
	if !strings.Contains(logs.String(), tt.logged) {
		t.Errorf("logs lack %q:\n%s", tt.logged, logs)
	}
}

// plainURL is a callback URL signed as in plain mode.
func plainURL(tok, ts, nonce string) string {
	return "/wechat/callback?" + url.Values{"timestamp": {ts}, "nonce": {nonce}, "signature": {util.Signature(tok, ts, nonce)}}.Encode()
}

// safeURL is a safe-mode callback URL: msg_signature covers encrypted.
func safeURL(tok, ts, nonce, encrypted string) string {
	return "/wechat/callback?" + url.Values{
		"timestamp": {ts}, "nonce": {nonce}, "openid": {knownOpenID}, "encrypt_type": {"aes"},
		"signature":     {util.Signature(tok, ts, nonce)},
		"msg_signature": {util.Signature(tok, ts, nonce, encrypted)},
	}.Encode()
}

// encrypt seals xml as WeChat does in safe mode, for the given app id.
func encrypt(t *testing.T, app, xml string) string {
	t.Helper()
	enc, err := util.EncryptMsg([]byte("0123456789abcdef"), []byte(xml), app, aesKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(enc)
}

func sealed(encrypted string) string {
	return fmt.Sprintf(`<xml><ToUserName><![CDATA[gh_7f083739789a]]></ToUserName><Encrypt><![CDATA[%s]]></Encrypt></xml>`, encrypted)
}

func templateEvent(id, status string) string {
	return fmt.Sprintf(`<xml><ToUserName><![CDATA[gh_7f083739789a]]></ToUserName><FromUserName><![CDATA[%s]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event><MsgID>%s</MsgID><Status><![CDATA[%s]]></Status></xml>`, knownOpenID, id, status)
}

func followEvent(event, openid string) string {
	return fmt.Sprintf(`<xml><ToUserName><![CDATA[gh_7f083739789a]]></ToUserName><FromUserName><![CDATA[%s]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[%s]]></Event><EventKey><![CDATA[]]></EventKey></xml>`, openid, event)
}

func fixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func wechatReport(id string, delivered bool, reason string) call {
	return call{Op: "receipt", Report: Report{Channel: "wechat", ProviderMsgID: id, Delivered: delivered, Reason: reason}}
}

func smsReport(id string, delivered bool) call { return aliyunReport(id, "", delivered) }

// aliyunReport is smsReport with the notice id Aliyun echoes as out_id.
func aliyunReport(id, outID string, delivered bool) call {
	r := Report{Channel: "sms", ProviderMsgID: id, NoticeID: outID, Delivered: delivered}
	if !delivered {
		r.Reason = "undelivered"
	}
	return call{Op: "receipt", Report: r}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"no keys", Config{}, true},
		{"plain mode only", Config{WeChatToken: token}, true},
		{"safe mode", Config{WeChatToken: token, WeChatAppID: appID, WeChatAESKey: aesKey}, true},
		{"short key", Config{WeChatAppID: appID, WeChatAESKey: aesKey[1:]}, false},
		{"long key", Config{WeChatAppID: appID, WeChatAESKey: aesKey + "A"}, false},
		{"not base64", Config{WeChatAppID: appID, WeChatAESKey: "!" + aesKey[1:]}, false},
		{"key without app id", Config{WeChatAESKey: aesKey}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := New(tt.cfg, &fakeStore{}, counts{}, nil, nil)
			if (err == nil) != tt.ok || (h != nil) != tt.ok {
				t.Errorf("New = %v, %v; want ok %v", h, err, tt.ok)
			}
		})
	}
}

func TestWeChatPlain(t *testing.T) {
	post := plainURL(token, now, "n1")
	tests := []request{
		{name: "server check", method: "GET", url: plainURL(token, now, "n") + "&echostr=abc123", code: 200, answer: "abc123"},
		{name: "forged server check", method: "GET", url: plainURL("other", now, "n") + "&echostr=abc123", code: 403, answer: "bad signature",
			counted: counts{"wechat refused signature": 1}, logged: "refused"},
		{name: "stale server check", method: "GET", url: plainURL(token, "1", "n") + "&echostr=abc123", code: 403, answer: "stale",
			counted: counts{"wechat refused stale": 1}},
		{name: "no token refuses all", cfg: &Config{}, method: "GET", url: plainURL("", now, "n") + "&echostr=abc123", code: 403,
			counted: counts{"wechat refused signature": 1}},
		{name: "unsigned", method: "POST", url: "/wechat/callback", body: templateEvent("1001", "success"), code: 403,
			counted: counts{"wechat refused signature": 1}},
		{name: "forged", method: "POST", url: plainURL("other", now, "n"), body: templateEvent("1001", "success"), code: 403,
			counted: counts{"wechat refused signature": 1}},
		{name: "other method", method: "PUT", url: post, body: templateEvent("1001", "success"), code: 405},
		{name: "template delivered", method: "POST", url: post, body: templateEvent("1001", "success"), code: 200, answer: "success",
			calls: []call{wechatReport("1001", true, "")}, counted: counts{"wechat delivered": 1}},
		{name: "template blocked", method: "POST", url: post, body: templateEvent("1002", "failed:user block"), code: 200, answer: "success",
			calls:   []call{{Op: "receipt", Report: Report{Channel: "wechat", ProviderMsgID: "1002", Reason: "blocked", Fallback: true, OptOut: "wechat_block"}}},
			counted: counts{"wechat failed": 1}},
		{name: "template system failed", method: "POST", url: post, body: templateEvent("1003", "failed: system failed"), code: 200, answer: "success",
			calls: []call{wechatReport("1003", false, "server_error")}, counted: counts{"wechat failed": 1}},
		{name: "template freq limit", method: "POST", url: post, body: templateEvent("1004", "failed:freq limit"), code: 200, answer: "success",
			calls: []call{wechatReport("1004", false, "server_error")}, counted: counts{"wechat failed": 1}},
		{name: "template too early", method: "POST", url: post, body: templateEvent(earlyID, "success"), code: 503,
			calls: []call{wechatReport(earlyID, true, "")}, logged: "asked again"},
		{name: "template unknown id", method: "POST", url: post, body: templateEvent(unknownID, "success"), code: 200, answer: "success",
			calls: []call{wechatReport(unknownID, true, "")}, counted: counts{"wechat unknown_id": 1}, logged: "provider_msg_id=" + unknownID},
		{name: "subscribe message results", method: "POST", url: post, body: fixture(t, "subscribe_msg_sent.xml"), code: 200, answer: "success",
			calls: []call{
				{Op: "receipt", Report: Report{Channel: "wechat", ProviderMsgID: "1700827132819554304", Delivered: true, OpenID: knownOpenID}},
				{Op: "receipt", Report: Report{Channel: "wechat", ProviderMsgID: "1700827132819554305", Reason: "unreachable_user", Fallback: true, OpenID: knownOpenID}},
				{Op: "receipt", Report: Report{Channel: "wechat", ProviderMsgID: "1700827132819554306", Reason: "server_error", OpenID: knownOpenID}},
			},
			counted: counts{"wechat delivered": 1, "wechat failed": 2}},
		{name: "subscribe message for an unknown notice", method: "POST", url: post,
			body: strings.Replace(fixture(t, "subscribe_msg_sent.xml"), "1700827132819554304", unknownID, 1), code: 200, answer: "success",
			calls: []call{
				{Op: "receipt", Report: Report{Channel: "wechat", ProviderMsgID: unknownID, Delivered: true, OpenID: knownOpenID}},
				{Op: "receipt", Report: Report{Channel: "wechat", ProviderMsgID: "1700827132819554305", Reason: "unreachable_user", Fallback: true, OpenID: knownOpenID}},
				{Op: "receipt", Report: Report{Channel: "wechat", ProviderMsgID: "1700827132819554306", Reason: "server_error", OpenID: knownOpenID}},
			},
			counted: counts{"wechat unknown_id": 1, "wechat failed": 2}, logged: "openid=" + pii.MaskOpenID(knownOpenID)},
		{name: "unsubscribe", method: "POST", url: post, body: followEvent("unsubscribe", knownOpenID), code: 200, answer: "success",
			calls:   []call{{Op: "opt_out", Contact: Contact{"openid", knownOpenID}, Channel: "wechat", Source: "wechat_unsubscribe"}},
			counted: counts{"wechat opt_out": 1}},
		{name: "unsubscribe by a stranger", method: "POST", url: post, body: followEvent("unsubscribe", strangeOpenID), code: 200, answer: "success",
			calls:   []call{{Op: "opt_out", Contact: Contact{"openid", strangeOpenID}, Channel: "wechat", Source: "wechat_unsubscribe"}},
			counted: counts{"wechat unknown_contact": 1}, logged: pii.MaskOpenID(strangeOpenID)},
		{name: "subscribe", method: "POST", url: post, body: followEvent("subscribe", knownOpenID), code: 200, answer: "success",
			calls:   []call{{Op: "opt_in", Contact: Contact{"openid", knownOpenID}, Channel: "wechat", Source: "wechat_unsubscribe"}},
			counted: counts{"wechat opt_in": 1}},
		{name: "subscribe by a stranger", method: "POST", url: post, body: followEvent("subscribe", strangeOpenID), code: 200, answer: "success",
			calls:   []call{{Op: "opt_in", Contact: Contact{"openid", strangeOpenID}, Channel: "wechat", Source: "wechat_unsubscribe"}},
			counted: counts{"wechat unknown_contact": 1}},
		{name: "other event", method: "POST", url: post, body: followEvent("CLICK", knownOpenID), code: 200, answer: "success"},
		{name: "text message", method: "POST", url: post, code: 200, answer: "success",
			body: `<xml><ToUserName><![CDATA[gh_7f083739789a]]></ToUserName><FromUserName><![CDATA[oKnownA1b2C3d4E5f6G7h8I9j0]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[退订]]></Content><MsgId>1234567890123456</MsgId></xml>`},
		{name: "not XML", method: "POST", url: post, body: "{", code: 400},
		{name: "empty", method: "POST", url: post, body: "", code: 400},
		{name: "too large", method: "POST", url: post, body: "<xml>" + strings.Repeat("a", 64<<10) + "</xml>", code: 413},
		{name: "store down on a report", storeErr: errors.New("db down"), method: "POST", url: post, body: templateEvent("1001", "success"), code: 503,
			calls: []call{wechatReport("1001", true, "")}, logged: "db down"},
		{name: "store down on subscribe message results", storeErr: errors.New("db down"), method: "POST", url: post, body: fixture(t, "subscribe_msg_sent.xml"), code: 503,
			calls: []call{{Op: "receipt", Report: Report{Channel: "wechat", ProviderMsgID: "1700827132819554304", Delivered: true, OpenID: knownOpenID}}}},
		{name: "store down on unsubscribe", storeErr: errors.New("db down"), method: "POST", url: post, body: followEvent("unsubscribe", knownOpenID), code: 503,
			calls: []call{{Op: "opt_out", Contact: Contact{"openid", knownOpenID}, Channel: "wechat", Source: "wechat_unsubscribe"}}},
	}
	for _, tt := range tests {
		if tt.cfg == nil {
			tt.cfg = &Config{WeChatToken: token} // plain mode: no AES key
		}
		t.Run(tt.name, tt.run)
	}
}

func TestWeChatSafeMode(t *testing.T) {
	ts, nonce := now, "n2"
	delivered := encrypt(t, appID, templateEvent("1001", "success"))
	// Compat mode sends the plain fields beside Encrypt; only the encrypted
	// ones are covered by msg_signature.
	compat := strings.Replace(templateEvent("666", "failed:user block"), "</xml>", "<Encrypt><![CDATA["+delivered+"]]></Encrypt></xml>", 1)
	otherApp := encrypt(t, "wx0000000000000000", templateEvent("1001", "success"))
	sent := encrypt(t, appID, fixture(t, "subscribe_msg_sent.xml"))
	unsubscribe := encrypt(t, appID, followEvent("unsubscribe", knownOpenID))
	tampered := delivered[:len(delivered)-8] + "AAAAAAA="

	tests := []request{
		{name: "delivered", method: "POST", url: safeURL(token, ts, nonce, delivered), body: sealed(delivered), code: 200, answer: "success",
			calls: []call{wechatReport("1001", true, "")}, counted: counts{"wechat delivered": 1}},
		{name: "compat mode reads the encrypted part", method: "POST", url: safeURL(token, ts, nonce, delivered), body: compat, code: 200, answer: "success",
			calls: []call{wechatReport("1001", true, "")}, counted: counts{"wechat delivered": 1}},
		{name: "subscribe message results", method: "POST", url: safeURL(token, ts, nonce, sent), body: sealed(sent), code: 200, answer: "success",
			calls: []call{
				{Op: "receipt", Report: Report{Channel: "wechat", ProviderMsgID: "1700827132819554304", Delivered: true, OpenID: knownOpenID}},
				{Op: "receipt", Report: Report{Channel: "wechat", ProviderMsgID: "1700827132819554305", Reason: "unreachable_user", Fallback: true, OpenID: knownOpenID}},
				{Op: "receipt", Report: Report{Channel: "wechat", ProviderMsgID: "1700827132819554306", Reason: "server_error", OpenID: knownOpenID}},
			},
			counted: counts{"wechat delivered": 1, "wechat failed": 2}},
		{name: "unsubscribe", method: "POST", url: safeURL(token, ts, nonce, unsubscribe), body: sealed(unsubscribe), code: 200, answer: "success",
			calls:   []call{{Op: "opt_out", Contact: Contact{"openid", knownOpenID}, Channel: "wechat", Source: "wechat_unsubscribe"}},
			counted: counts{"wechat opt_out": 1}},
		{name: "server check", method: "GET", url: plainURL(token, ts, nonce) + "&echostr=xyz", code: 200, answer: "xyz"},
		{name: "forged msg_signature", method: "POST", url: safeURL("other", ts, nonce, delivered), body: sealed(delivered), code: 403,
			counted: counts{"wechat refused signature": 1}, logged: "bad msg_signature"},
		{name: "msg_signature of another ciphertext", method: "POST", url: safeURL(token, ts, nonce, otherApp), body: sealed(delivered), code: 403,
			counted: counts{"wechat refused signature": 1}},
		{name: "only the plain signature", method: "POST", url: plainURL(token, ts, nonce) + "&encrypt_type=aes", body: sealed(delivered), code: 403,
			counted: counts{"wechat refused signature": 1}},
		{name: "another app's message", method: "POST", url: safeURL(token, ts, nonce, otherApp), body: sealed(otherApp), code: 403,
			counted: counts{"wechat refused undecryptable": 1}, logged: "undecryptable"},
		{name: "tampered ciphertext", method: "POST", url: safeURL(token, ts, nonce, tampered), body: sealed(tampered), code: 403,
			counted: counts{"wechat refused undecryptable": 1}},
		{name: "not base64", method: "POST", url: safeURL(token, ts, nonce, "!!!"), body: sealed("!!!"), code: 403,
			counted: counts{"wechat refused undecryptable": 1}},
		{name: "no AES key", cfg: &Config{WeChatToken: token}, method: "POST", url: safeURL(token, ts, nonce, delivered), body: sealed(delivered), code: 403,
			counted: counts{"wechat refused mode": 1}},
		{name: "no token", cfg: &Config{WeChatAppID: appID, WeChatAESKey: aesKey}, method: "POST", url: safeURL("", ts, nonce, delivered), body: sealed(delivered), code: 403,
			counted: counts{"wechat refused signature": 1}},
		{name: "envelope not XML", method: "POST", url: safeURL(token, ts, nonce, ""), body: "{", code: 400},
		{name: "store down", storeErr: errors.New("db down"), method: "POST", url: safeURL(token, ts, nonce, delivered), body: sealed(delivered), code: 503,
			calls: []call{wechatReport("1001", true, "")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.run)
	}
}

func TestAliyun(t *testing.T) {
	const path = "/sms/callback/aliyun?key=" + smsKey
	const ok = `{"code":0,"msg":"成功"}`
	tests := []request{
		{name: "reports and replies", method: "POST", url: path, body: fixture(t, "aliyun_report.json"), code: 200, answer: ok,
			calls: []call{
				aliyunReport("932702304080415357^0", "n-1", true),
				aliyunReport("932702304080415358^0", "n-2", false),
				{Op: "opt_out", Contact: Contact{"mobile", knownMobile}, Channel: "sms", Source: "sms_reply"},
				{Op: "opt_out", Contact: Contact{"mobile", strangeMobile}, Channel: "sms", Source: "sms_reply"},
			},
			counted: counts{"sms delivered": 1, "sms failed": 1, "sms opt_out": 1, "sms unknown_contact": 1},
			logged:  pii.MaskMobile(strangeMobile)},
		{name: "unknown id", method: "POST", url: path, body: `[{"phone_number":"13800138000","success":true,"err_code":"DELIVERED","biz_id":"999"}]`, code: 200, answer: ok,
			calls: []call{smsReport(unknownID, true)}, counted: counts{"sms unknown_id": 1}, logged: "provider_msg_id=999"},
		{name: "reply from abroad", method: "POST", url: path, body: `[{"phone_number":"85291234567","content":"TD"}]`, code: 200, answer: ok,
			counted: counts{"sms unknown_contact": 1}},
		{name: "empty batch", method: "POST", url: path, body: `[]`, code: 200, answer: ok},
		{name: "bad JSON", method: "POST", url: path, body: `[{`, code: 400, answer: `"code":1`},
		{name: "not an array", method: "POST", url: path, body: `{"biz_id":"b1"}`, code: 400, answer: `"code":1`},
		{name: "too large", method: "POST", url: path, body: "[" + strings.Repeat(" ", 4<<20) + "]", code: 413, answer: `"code":1`},
		{name: "store down on a report", storeErr: errors.New("db down"), method: "POST", url: path, body: fixture(t, "aliyun_report.json"), code: 503,
			answer: `"code":1`, calls: []call{aliyunReport("932702304080415357^0", "n-1", true)}, logged: "db down"},
		{name: "store down on a reply", storeErr: errors.New("db down"), method: "POST", url: path, body: `[{"phone_number":"13800138000","content":"TD"}]`, code: 503,
			answer: `"code":1`, calls: []call{{Op: "opt_out", Contact: Contact{"mobile", knownMobile}, Channel: "sms", Source: "sms_reply"}}},
		{name: "GET", method: "GET", url: path, code: 405},
		{name: "a report too early", method: "POST", url: path, code: 503, answer: `"code":1`,
			body:  `[{"success":true,"biz_id":"b1"},{"success":true,"biz_id":"888"},{"phone_number":"13800138000","content":"TD"}]`,
			calls: []call{smsReport("b1", true), smsReport(earlyID, true), {Op: "opt_out", Contact: Contact{"mobile", knownMobile}, Channel: "sms", Source: "sms_reply"}},
			// The rest is recorded and counted; the body is asked for again.
			counted: counts{"sms delivered": 1, "sms opt_out": 1}, logged: "asked again"},
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.run)
	}
}

func TestTencent(t *testing.T) {
	const path = "/sms/callback/tencent?key=" + smsKey
	const ok = `{"result":0,"errmsg":"OK"}`
	reply := func(nation, text string) string {
		return fmt.Sprintf(`{"extend":"","mobile":"13800138000","nationcode":%q,"sign":"人社局","text":%q,"time":1772326800}`, nation, text)
	}
	tests := []request{
		{name: "status reports", method: "POST", url: path, body: fixture(t, "tencent_status.json"), code: 200, answer: ok,
			calls:   []call{smsReport("2106:3385513200000000000000", true), smsReport("2106:3385513200000000000001", false)},
			counted: counts{"sms delivered": 1, "sms failed": 1}},
		{name: "unknown sid", method: "POST", url: path, body: `[{"mobile":"13800138000","report_status":"SUCCESS","sid":"999"}]`, code: 200, answer: ok,
			calls: []call{smsReport(unknownID, true)}, counted: counts{"sms unknown_id": 1}},
		{name: "reply TD", method: "POST", url: path, body: reply("86", "TD"), code: 200, answer: ok,
			calls:   []call{{Op: "opt_out", Contact: Contact{"mobile", knownMobile}, Channel: "sms", Source: "sms_reply"}},
			counted: counts{"sms opt_out": 1}, logged: pii.MaskMobile(knownMobile)},
		{name: "reply containing 退订", method: "POST", url: path, body: reply("+86", "请帮我退订，谢谢"), code: 200, answer: ok,
			calls:   []call{{Op: "opt_out", Contact: Contact{"mobile", knownMobile}, Channel: "sms", Source: "sms_reply"}},
			counted: counts{"sms opt_out": 1}},
		{name: "other reply", method: "POST", url: path, body: reply("86", "收到"), code: 200, answer: ok},
		{name: "reply from abroad", method: "POST", url: path, body: reply("852", "TD"), code: 200, answer: ok,
			counted: counts{"sms unknown_contact": 1}},
		{name: "bad status JSON", method: "POST", url: path, body: `[{"sid":`, code: 400, answer: `"result":1`},
		{name: "bad reply JSON", method: "POST", url: path, body: `{"text":`, code: 400, answer: `"result":1`},
		{name: "empty", method: "POST", url: path, body: ``, code: 400, answer: `"result":1`},
		{name: "store down on a report", storeErr: errors.New("db down"), method: "POST", url: path, body: fixture(t, "tencent_status.json"), code: 503,
			answer: `"result":1`, calls: []call{smsReport("2106:3385513200000000000000", true)}, logged: "db down"},
		{name: "store down on a reply", storeErr: errors.New("db down"), method: "POST", url: path, body: reply("86", "TD"), code: 503,
			answer: `"result":1`, calls: []call{{Op: "opt_out", Contact: Contact{"mobile", knownMobile}, Channel: "sms", Source: "sms_reply"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.run)
	}
}

func TestIsOptOut(t *testing.T) {
	tests := []struct {
		text string
		want bool
	}{
		{"T", true}, {"td", true}, {" TD\n", true}, {"Td", true}, {"ＴＤ", true}, {"n", true}, {"R", true},
		{"退订", true}, {"取消", true}, {"拒收", true}, {"　拒收　", true}, {"我要退订", true}, {"退订短信", true},
		{"", false}, {"TDD", false}, {"收到", false}, {"取消预约怎么办", false}, {"yes", false}, {"OK", false},
	}
	for _, tt := range tests {
		if got := isOptOut(tt.text); got != tt.want {
			t.Errorf("isOptOut(%q) = %v, want %v", tt.text, got, tt.want)
		}
	}
}

func TestMainlandMobile(t *testing.T) {
	tests := []struct {
		nation, mobile, want string
		ok                   bool
	}{
		{"", "13800138000", "13800138000", true},
		{"", "+8613800138000", "13800138000", true},
		{"", "8613800138000", "13800138000", true},
		{"", "008613800138000", "13800138000", true},
		{"86", "13800138000", "13800138000", true},
		{"+86", " 13800138000 ", "13800138000", true},
		{"852", "91234567", "", false},
		{"852", "13800138000", "", false},
		{"", "85291234567", "", false},
		{"", "1380013800", "", false},
		{"", "1380013800x", "", false},
		{"", "23800138000", "", false},
		{"", "", "", false},
	}
	for _, tt := range tests {
		got, ok := mainlandMobile(tt.nation, tt.mobile)
		if got != tt.want || ok != tt.ok {
			t.Errorf("mainlandMobile(%q, %q) = %q, %v; want %q, %v", tt.nation, tt.mobile, got, ok, tt.want, tt.ok)
		}
	}
}

// TestCallbackOrigin: SMS callbacks need the key, every callback can be
// limited to networks by the connection's address, and a WeChat message
// must be fresh, unseen and, with an AES key, in safe mode. Refusals
// record nothing.
func TestCallbackOrigin(t *testing.T) {
	allow := []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("2001:db8::/32")}
	withAllow := &Config{WeChatToken: token, SMSKey: smsKey, Allow: allow}
	// Behind the bureau's proxy (httptest's 192.0.2.1): the forwarded-for
	// address is the caller's.
	proxied := &Config{WeChatToken: token, SMSKey: smsKey, Allow: allow, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}}
	plain := &Config{WeChatToken: token, SMSKey: smsKey}
	unix := fixedNow().Unix()
	at := func(d int64) string { return fmt.Sprint(unix + d) }
	delivered := encrypt(t, appID, templateEvent("1001", "success"))
	report := `[{"phone_number":"13800138000","success":true,"biz_id":"b1"}]`
	const aliOK, tenOK = `{"code":0,"msg":"成功"}`, `{"result":0,"errmsg":"OK"}`
	var tests []request
	for _, p := range []struct{ provider, ok string }{{"aliyun", aliOK}, {"tencent", tenOK}} {
		path := "/sms/callback/" + p.provider
		refused := func(reason string) counts { return counts{p.provider + " refused " + reason: 1} }
		var rec call
		if p.provider == "aliyun" {
			rec = smsReport("b1", true)
		} else {
			rec = smsReport("", false)
		}
		tests = append(tests,
			request{name: p.provider + " no key", method: "POST", url: path, body: report, code: 403, counted: refused("key"), logged: "reason=key"},
			request{name: p.provider + " empty key", method: "POST", url: path + "?key=", body: report, code: 403, counted: refused("key")},
			request{name: p.provider + " wrong key", method: "POST", url: path + "?key=" + smsKey + "x", body: report, code: 403, counted: refused("key")},
			request{name: p.provider + " key of another case", method: "POST", url: path + "?key=" + strings.ToUpper(smsKey), body: report, code: 403, counted: refused("key")},
			request{name: p.provider + " no key configured", cfg: &Config{}, method: "POST", url: path + "?key=", body: report, code: 403, counted: refused("key")},
			request{name: p.provider + " right key", method: "POST", url: path + "?key=" + smsKey, body: report, code: 200, answer: p.ok,
				calls: []call{rec}, counted: counts{"sms " + map[bool]string{true: "delivered", false: "failed"}[p.provider == "aliyun"]: 1}},
			request{name: p.provider + " outside the allowed networks", cfg: withAllow, method: "POST", url: path + "?key=" + smsKey, body: report, code: 403,
				counted: refused("network")},
			request{name: p.provider + " outside, claiming to be forwarded from inside", cfg: withAllow, method: "POST", url: path + "?key=" + smsKey, body: report,
				forwarded: "198.51.100.7", code: 403, counted: refused("network")},
			request{name: p.provider + " forwarded from inside by a trusted proxy", cfg: proxied, method: "POST", url: path + "?key=" + smsKey, body: report,
				forwarded: "203.0.113.9, 198.51.100.7", code: 200, answer: p.ok, calls: []call{rec}, counted: counts{"sms " + map[bool]string{true: "delivered", false: "failed"}[p.provider == "aliyun"]: 1}},
			request{name: p.provider + " forwarded from outside by a trusted proxy", cfg: proxied, method: "POST", url: path + "?key=" + smsKey, body: report,
				forwarded: "198.51.100.7, 203.0.113.9", code: 403, counted: refused("network")},
			request{name: p.provider + " inside the allowed networks", cfg: withAllow, remote: "198.51.100.7:4000", method: "POST", url: path + "?key=" + smsKey,
				body: report, code: 200, answer: p.ok, calls: []call{rec}, counted: counts{"sms " + map[bool]string{true: "delivered", false: "failed"}[p.provider == "aliyun"]: 1}},
			request{name: p.provider + " inside an IPv6 network", cfg: withAllow, remote: "[2001:db8::1]:4000", method: "POST", url: path + "?key=" + smsKey,
				body: report, code: 200, answer: p.ok, calls: []call{rec}, counted: counts{"sms " + map[bool]string{true: "delivered", false: "failed"}[p.provider == "aliyun"]: 1}},
			request{name: p.provider + " inside, but no key", cfg: withAllow, remote: "198.51.100.7:4000", method: "POST", url: path, body: report, code: 403,
				counted: refused("key")},
		)
	}
	tests = append(tests,
		request{name: "wechat outside the allowed networks", cfg: withAllow, method: "POST", url: plainURL(token, now, "n"), body: templateEvent("1001", "success"),
			code: 403, counted: counts{"wechat refused network": 1}},
		request{name: "wechat check outside the allowed networks", cfg: withAllow, method: "GET", url: plainURL(token, now, "n") + "&echostr=e",
			code: 403, counted: counts{"wechat refused network": 1}},
		request{name: "wechat inside the allowed networks", cfg: withAllow, remote: "[::ffff:198.51.100.9]:80", method: "POST", url: plainURL(token, now, "n"),
			body: templateEvent("1001", "success"), code: 200, answer: "success", calls: []call{wechatReport("1001", true, "")}, counted: counts{"wechat delivered": 1}},
		request{name: "plain message with an AES key", method: "POST", url: plainURL(token, now, "n"), body: templateEvent("1001", "success"),
			code: 403, counted: counts{"wechat refused mode": 1}},
		request{name: "timestamp 1", cfg: plain, method: "POST", url: plainURL(token, "1", "n"), body: templateEvent("1001", "success"),
			code: 403, counted: counts{"wechat refused stale": 1}},
		request{name: "301 s old", cfg: plain, method: "POST", url: plainURL(token, at(-301), "n"), body: templateEvent("1001", "success"),
			code: 403, counted: counts{"wechat refused stale": 1}},
		request{name: "301 s ahead", cfg: plain, method: "POST", url: plainURL(token, at(301), "n"), body: templateEvent("1001", "success"),
			code: 403, counted: counts{"wechat refused stale": 1}},
		request{name: "not a number", cfg: plain, method: "POST", url: plainURL(token, "soon", "n"), body: templateEvent("1001", "success"),
			code: 403, counted: counts{"wechat refused stale": 1}},
		request{name: "300 s old", cfg: plain, method: "POST", url: plainURL(token, at(-300), "n"), body: templateEvent("1001", "success"),
			code: 200, answer: "success", calls: []call{wechatReport("1001", true, "")}, counted: counts{"wechat delivered": 1}},
		request{name: "300 s ahead", cfg: plain, method: "POST", url: plainURL(token, at(300), "n"), body: templateEvent("1001", "success"),
			code: 200, answer: "success", calls: []call{wechatReport("1001", true, "")}, counted: counts{"wechat delivered": 1}},
		request{name: "stale safe-mode message", method: "POST", url: safeURL(token, at(-301), "n", delivered), body: sealed(delivered),
			code: 403, counted: counts{"wechat refused stale": 1}},
		request{name: "stale and unsigned: the signature is checked first", cfg: plain, method: "POST", url: plainURL("other", "1", "n"),
			body: templateEvent("1001", "success"), code: 403, counted: counts{"wechat refused signature": 1}},
		request{name: "stale server check", cfg: plain, method: "GET", url: plainURL(token, at(-301), "n") + "&echostr=e", code: 403,
			counted: counts{"wechat refused stale": 1}},
		request{name: "nonce too long", cfg: plain, method: "POST", url: plainURL(token, now, strings.Repeat("n", 129)), body: templateEvent("1001", "success"),
			code: 400},
	)
	for _, tt := range tests {
		t.Run(tt.name, tt.run)
	}
}

// TestWeChatReplay: the second message with a (timestamp, nonce) is
// refused and records nothing; one that failed is not remembered, so
// WeChat's retry of it is taken.
func TestWeChatReplay(t *testing.T) {
	st, obs := &fakeStore{}, counts{}
	h, err := New(Config{WeChatToken: token, WeChatAppID: appID, WeChatAESKey: aesKey}, st, obs, nil, fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Register(mux)
	post := func(nonce string) int {
		enc := encrypt(t, appID, templateEvent("1001", "success"))
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("POST", safeURL(token, now, nonce, enc), strings.NewReader(sealed(enc))))
		return rec.Code
	}
	if code := post("a"); code != 200 {
		t.Fatalf("first: %d", code)
	}
	if code := post("a"); code != 403 {
		t.Errorf("replay: %d, want 403", code)
	}
	if code := post("b"); code != 200 {
		t.Errorf("another nonce: %d", code)
	}
	if len(st.calls) != 2 || obs["wechat refused replay"] != 1 || obs["wechat delivered"] != 2 {
		t.Errorf("calls %v, counted %v", st.calls, obs)
	}
}

// TestBodyOneBatch: a callback body is one Store.Batch, and a failure in
// it counts nothing of what came before.
func TestBodyOneBatch(t *testing.T) {
	var items []string
	for i := range 1000 {
		items = append(items, fmt.Sprintf(`{"success":true,"biz_id":"b%d"}`, i))
	}
	body := "[" + strings.Join(items, ",") + "]"
	for _, fail := range []bool{false, true} {
		st, obs := &failingStore{failAt: -1}, counts{}
		if fail {
			st.failAt = 500
		}
		h, err := New(Config{SMSKey: smsKey}, st, obs, nil, fixedNow)
		if err != nil {
			t.Fatal(err)
		}
		mux := http.NewServeMux()
		h.Register(mux)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("POST", "/sms/callback/aliyun?key="+smsKey, strings.NewReader(body)))
		want, counted := 200, counts{"sms delivered": 1000}
		if fail {
			want, counted = 503, counts{}
		}
		if rec.Code != want || st.batches != 1 || !maps.Equal(obs, counted) {
			t.Errorf("fail %v: %d, %d batches, counted %v; want %d, 1 batch, %v", fail, rec.Code, st.batches, obs, want, counted)
		}
	}
}

// failingStore fails the report numbered failAt (from 0; -1 never).
type failingStore struct {
	fakeStore
	failAt, n int
}

func (f *failingStore) Batch(_ context.Context, fn func(Tx) error) error {
	f.batches++
	return fn(f)
}

func (f *failingStore) Receipt(ctx context.Context, r Report) (bool, error) {
	defer func() { f.n++ }()
	if f.n == f.failAt {
		return false, errors.New("db down")
	}
	return f.fakeStore.Receipt(ctx, r)
}
