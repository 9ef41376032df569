package wechat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/silenceper/wechat/v2/util"
)

const (
	testAppID  = "wxTESTAPP"
	testSecret = "SUPERSECRET0123456789abcdef"
	testOpenID = "o-USER-openid-42"
)

type request struct {
	path  string
	token string
	body  string
}

// fakeWeChat speaks WeChat's wire format: stable_token, template/send and
// subscribe/bizsend.
type fakeWeChat struct {
	t  *testing.T
	mu sync.Mutex

	tokenCalls int
	tokenBody  map[string]any
	valid      map[string]bool // tokens issued
	sends      []request

	// reply answers a send with a valid token; nil means success.
	reply func(n int, r request) (status int, body string)
	// tokenReply overrides the token endpoint.
	tokenReply func() (status int, body string)
}

func newFake(t *testing.T) (*fakeWeChat, *httptest.Server) {
	f := &fakeWeChat{t: t, valid: map[string]bool{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeWeChat) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "method", http.StatusMethodNotAllowed)
		return
	}
	b, _ := io.ReadAll(r.Body)
	switch r.URL.Path {
	case "/cgi-bin/stable_token":
		f.mu.Lock()
		f.tokenCalls++
		n := f.tokenCalls
		_ = json.Unmarshal(b, &f.tokenBody)
		body := f.tokenBody
		reply := f.tokenReply
		f.mu.Unlock()
		if reply != nil {
			status, s := reply()
			w.WriteHeader(status)
			fmt.Fprint(w, s)
			return
		}
		if body["grant_type"] != "client_credential" || body["appid"] != testAppID {
			fmt.Fprint(w, `{"errcode":40013,"errmsg":"invalid appid rid: 1"}`)
			return
		}
		if body["secret"] != testSecret {
			fmt.Fprint(w, `{"errcode":40125,"errmsg":"invalid appsecret rid: 2"}`)
			return
		}
		tok := fmt.Sprintf("ACCESS-TOKEN-%d-xyz", n)
		f.mu.Lock()
		f.valid[tok] = true
		f.mu.Unlock()
		fmt.Fprintf(w, `{"access_token":%q,"expires_in":7200}`, tok)
	case "/cgi-bin/message/template/send", "/cgi-bin/message/subscribe/bizsend":
		req := request{path: r.URL.Path, token: r.URL.Query().Get("access_token"), body: string(b)}
		f.mu.Lock()
		f.sends = append(f.sends, req)
		n := len(f.sends)
		ok := f.valid[req.token]
		reply := f.reply
		f.mu.Unlock()
		if !ok {
			fmt.Fprint(w, `{"errcode":40001,"errmsg":"invalid credential, access_token is invalid or not latest rid: 3"}`)
			return
		}
		if reply != nil {
			status, s := reply(n, req)
			if status == -1 { // hang until the client gives up
				<-r.Context().Done()
				return
			}
			w.WriteHeader(status)
			fmt.Fprint(w, s)
			return
		}
		if strings.HasSuffix(req.path, "bizsend") {
			fmt.Fprint(w, `{"errcode":0,"errmsg":"ok"}`)
			return
		}
		fmt.Fprintf(w, `{"errcode":0,"errmsg":"ok","msgid":%d}`, 200228332+n)
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeWeChat) stats() (tokenCalls int, sends []request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tokenCalls, append([]request(nil), f.sends...)
}

func newClient(t *testing.T, base string, cache Cache) *Client {
	t.Helper()
	c, err := New(Config{AppID: testAppID, Secret: testSecret, APIBase: base,
		HTTPClient: &http.Client{Timeout: 2 * time.Second}}, cache)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func msg() Message {
	return Message{ToOpenID: testOpenID, TemplateID: "TPL_POLICY_MATCH", URL: "https://rs.example.gov.cn/r/abc",
		Data: map[string]string{"thing1": "稳岗返还", "amount2": "1000元"}, ClientMsgID: "n-42"}
}

func TestSendTemplateSuccess(t *testing.T) {
	f, srv := newFake(t)
	c := newClient(t, srv.URL, nil)
	id, err := c.Send(context.Background(), msg())
	if err != nil {
		t.Fatal(err)
	}
	if id != "200228333" {
		t.Fatalf("msgid = %q", id)
	}
	calls, sends := f.stats()
	if calls != 1 || len(sends) != 1 {
		t.Fatalf("token calls %d, sends %d", calls, len(sends))
	}
	want := `{"touser":"o-USER-openid-42","template_id":"TPL_POLICY_MATCH","url":"https://rs.example.gov.cn/r/abc","data":{"amount2":{"value":"1000元"},"thing1":{"value":"稳岗返还"}},"client_msg_id":"n-42"}` + "\n"
	if sends[0].body != want {
		t.Fatalf("body\n got %s\nwant %s", sends[0].body, want)
	}
	if sends[0].path != "/cgi-bin/message/template/send" || sends[0].token != "ACCESS-TOKEN-1-xyz" {
		t.Fatalf("request %+v", sends[0])
	}
	f.mu.Lock()
	tb := f.tokenBody
	f.mu.Unlock()
	wantTok := map[string]any{"grant_type": "client_credential", "appid": testAppID, "secret": testSecret, "force_refresh": false}
	for k, v := range wantTok {
		if tb[k] != v {
			t.Fatalf("stable_token body %v: %s = %v, want %v", tb, k, tb[k], v)
		}
	}
	// A second send reuses the cached token.
	if _, err := c.Send(context.Background(), msg()); err != nil {
		t.Fatal(err)
	}
	if calls, _ := f.stats(); calls != 1 {
		t.Fatalf("token fetched %d times", calls)
	}
}

func TestSendSubscribe(t *testing.T) {
	f, srv := newFake(t)
	c := newClient(t, srv.URL, nil)
	m := msg()
	m.Subscribe = true
	m.Data = map[string]string{"thing1": "一二三四五六七八九十一二三四五六七八九十多出来的字", "phrase2": "待申请"}
	id, err := c.Send(context.Background(), m)
	if err != nil || id != "" {
		t.Fatalf("id %q, err %v", id, err)
	}
	_, sends := f.stats()
	want := `{"touser":"o-USER-openid-42","template_id":"TPL_POLICY_MATCH","page":"https://rs.example.gov.cn/r/abc","data":{"phrase2":{"value":"待申请"},"thing1":{"value":"一二三四五六七八九十一二三四五六七八九…"}}}` + "\n"
	if len(sends) != 1 || sends[0].path != "/cgi-bin/message/subscribe/bizsend" || sends[0].body != want {
		t.Fatalf("sends %+v\nwant body %s", sends, want)
	}
}

func TestStaleTokenRefreshedAndRetriedOnce(t *testing.T) {
	for _, code := range []int{40001, 42001, 40014} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			f, srv := newFake(t)
			cache := NewMemoryCache()
			c := newClient(t, srv.URL, cache)
			// The cache holds a token WeChat no longer accepts.
			_ = cache.Set(c.tokenKey, "STALE-TOKEN", time.Hour)
			f.reply = func(n int, r request) (int, string) {
				return 200, `{"errcode":0,"errmsg":"ok","msgid":7}`
			}
			if code != 40001 { // the fake answers 40001 for unknown tokens; others via reply
				f.valid["STALE-TOKEN"] = true
				f.reply = func(n int, r request) (int, string) {
					if r.token == "STALE-TOKEN" {
						return 200, fmt.Sprintf(`{"errcode":%d,"errmsg":"stale"}`, code)
					}
					return 200, `{"errcode":0,"errmsg":"ok","msgid":7}`
				}
			}
			id, err := c.Send(context.Background(), msg())
			if err != nil || id != "7" {
				t.Fatalf("id %q err %v", id, err)
			}
			calls, sends := f.stats()
			if calls != 1 || len(sends) != 2 || sends[0].token != "STALE-TOKEN" || sends[1].token != "ACCESS-TOKEN-1-xyz" {
				t.Fatalf("token calls %d sends %+v", calls, sends)
			}
			if v := cache.Get(c.tokenKey); v != "ACCESS-TOKEN-1-xyz" {
				t.Fatalf("cached %v", v)
			}
		})
	}
}

func TestStaleTokenRetriedOnlyOnce(t *testing.T) {
	f, srv := newFake(t)
	c := newClient(t, srv.URL, nil)
	f.reply = func(int, request) (int, string) { return 200, `{"errcode":40001,"errmsg":"invalid credential"}` }
	_, err := c.Send(context.Background(), msg())
	var e *Error
	if !errors.As(err, &e) || e.Code != 40001 || e.Class != ClassRetryable || e.Reason != ReasonToken {
		t.Fatalf("err %#v", err)
	}
	if calls, sends := f.stats(); calls != 2 || len(sends) != 2 {
		t.Fatalf("token calls %d, sends %d", calls, len(sends))
	}
}

func TestClassification(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		code   int
		class  Class
		reason string
	}{
		{"unfollowed", 200, `{"errcode":43004,"errmsg":"require subscribe rid: x"}`, 43004, ClassPermanent, ReasonUnfollowed},
		{"invalid openid", 200, `{"errcode":40003,"errmsg":"invalid openid rid: x"}`, 40003, ClassPermanent, ReasonInvalidOpenID},
		{"refused", 200, `{"errcode":43101,"errmsg":"user refuse to accept the msg rid: x"}`, 43101, ClassPermanent, ReasonRefused},
		{"quota", 200, `{"errcode":45009,"errmsg":"reach max api daily quota limit"}`, 45009, ClassQuota, ReasonQuota},
		{"bad appid", 200, `{"errcode":40013,"errmsg":"invalid appid"}`, 40013, ClassConfig, ReasonConfig},
		{"unauthorized", 200, `{"errcode":48001,"errmsg":"api unauthorized"}`, 48001, ClassConfig, ReasonConfig},
		{"template", 200, `{"errcode":40037,"errmsg":"invalid template_id"}`, 40037, ClassConfig, ReasonTemplate},
		{"argument", 200, `{"errcode":47003,"errmsg":"argument invalid! data.thing1.value empty"}`, 47003, ClassConfig, ReasonBadRequest},
		{"system busy", 200, `{"errcode":-1,"errmsg":"system error"}`, -1, ClassRetryable, ReasonServer},
		{"unknown code", 200, `{"errcode":99999,"errmsg":"new"}`, 99999, ClassRetryable, ReasonUnknown},
		{"http 500", 500, `oops`, 0, ClassRetryable, ReasonServer},
		{"http 502", 502, ``, 0, ClassRetryable, ReasonServer},
		{"not json", 200, `<html>`, 0, ClassRetryable, ReasonServer},
		{"timeout", -1, ``, 0, ClassRetryable, ReasonTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, srv := newFake(t)
			c, err := New(Config{AppID: testAppID, Secret: testSecret, APIBase: srv.URL,
				HTTPClient: &http.Client{Timeout: 300 * time.Millisecond}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			f.reply = func(int, request) (int, string) { return tt.status, tt.body }
			_, err = c.Send(context.Background(), msg())
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err %T %v", err, err)
			}
			if e.Code != tt.code || e.Class != tt.class || e.Reason != tt.reason {
				t.Fatalf("got code %d class %v reason %s (%v)", e.Code, e.Class, e.Reason, e)
			}
			if got := Classify(err); got != e {
				t.Fatalf("Classify changed the error: %v", got)
			}
			assertNoSecrets(t, err.Error(), "ACCESS-TOKEN-1-xyz")
		})
	}
}

func TestContextDeadline(t *testing.T) {
	f, srv := newFake(t)
	c := newClient(t, srv.URL, nil)
	f.reply = func(int, request) (int, string) { return -1, "" }
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := c.Send(ctx, msg())
	e := Classify(err)
	if e == nil || e.Class != ClassRetryable || e.Reason != ReasonTimeout {
		t.Fatalf("err %v", err)
	}
	assertNoSecrets(t, err.Error(), "ACCESS-TOKEN-1-xyz")
}

func TestTokenErrors(t *testing.T) {
	tests := []struct {
		name   string
		cfg    Config
		reply  func() (int, string)
		class  Class
		reason string
		code   int
	}{
		{"bad appid", Config{AppID: "wxOTHER", Secret: testSecret}, nil, ClassConfig, ReasonConfig, 40013},
		{"bad secret", Config{AppID: testAppID, Secret: "WRONGSECRET-0123456789"}, nil, ClassConfig, ReasonConfig, 40125},
		{"token 500", Config{AppID: testAppID, Secret: testSecret}, func() (int, string) { return 500, "" }, ClassRetryable, ReasonServer, 0},
		{"token quota", Config{AppID: testAppID, Secret: testSecret}, func() (int, string) {
			return 200, `{"errcode":45009,"errmsg":"reach max api daily quota limit"}`
		}, ClassQuota, ReasonQuota, 45009},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, srv := newFake(t)
			f.tokenReply = tt.reply
			tt.cfg.APIBase = srv.URL
			c, err := New(tt.cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Send(context.Background(), msg())
			var e *Error
			if !errors.As(err, &e) || e.Class != tt.class || e.Reason != tt.reason || e.Code != tt.code {
				t.Fatalf("err %#v", err)
			}
			assertNoSecrets(t, err.Error(), tt.cfg.Secret)
			if _, sends := f.stats(); len(sends) != 0 {
				t.Fatalf("sent without a token: %v", sends)
			}
		})
	}
}

// The fake echoes secrets, the token and the openid in errmsg; none survive.
func TestRedaction(t *testing.T) {
	f, srv := newFake(t)
	c := newClient(t, srv.URL, nil)
	f.reply = func(_ int, r request) (int, string) {
		return 200, fmt.Sprintf(`{"errcode":40003,"errmsg":"invalid openid %s for %s, secret=%s access_token=%s token %s"}`,
			testOpenID, testAppID, testSecret, r.token, r.token)
	}
	_, err := c.Send(context.Background(), msg())
	if Classify(err).Reason != ReasonInvalidOpenID {
		t.Fatalf("err %v", err)
	}
	assertNoSecrets(t, err.Error(), "ACCESS-TOKEN-1-xyz")
	if !strings.Contains(err.Error(), "REDACTED") {
		t.Fatalf("expected redaction marks in %q", err)
	}

	// Transport failures name the URL with ?access_token=.
	f.reply = func(int, request) (int, string) { return -1, "" }
	c2, _ := New(Config{AppID: testAppID, Secret: testSecret, APIBase: srv.URL,
		HTTPClient: &http.Client{Timeout: 100 * time.Millisecond}}, c.cache)
	_, err = c2.Send(context.Background(), msg())
	if Classify(err).Reason != ReasonTimeout {
		t.Fatalf("err %v", err)
	}
	assertNoSecrets(t, err.Error(), "ACCESS-TOKEN-1-xyz")

	// silenceper's own error texts, classified by Classify alone.
	for _, raw := range []string{
		"http get error : uri=https://api.weixin.qq.com/cgi-bin/token?grant_type=client_credential&appid=wx&secret=" + testSecret + " , statusCode=502",
		"http get error : uri=https://api.weixin.qq.com/cgi-bin/message/template/send?access_token=ACCESS-TOKEN-1-xyz , statusCode=503",
		`Post "https://api.weixin.qq.com/cgi-bin/message/template/send?access_token=ACCESS-TOKEN-1-xyz": EOF`,
		`{"appid":"wx","secret":"` + testSecret + `"}`,
	} {
		e := Classify(errors.New(raw))
		if e.Class != ClassRetryable {
			t.Errorf("%q: class %v", raw, e.Class)
		}
		assertNoSecrets(t, e.Error(), "ACCESS-TOKEN-1-xyz")
	}
	if e := Classify(errors.New("template msg send error : errcode=43004 , errmsg=require subscribe")); e.Code != 43004 || e.Class != ClassPermanent || e.Msg != "require subscribe" {
		t.Fatalf("untyped silenceper error: %#v", e)
	}
	if e := Classify(util.NewCommonError("SendSubscribeMessage", 43101, "user refuse")); e.Reason != ReasonRefused {
		t.Fatalf("CommonError: %#v", e)
	}
}

func assertNoSecrets(t *testing.T, s string, extra ...string) {
	t.Helper()
	for _, v := range append([]string{testSecret, testOpenID}, extra...) {
		if strings.Contains(s, v) {
			t.Fatalf("%q leaks %q", s, v)
		}
	}
}

func TestConcurrentSendsFetchTokenOnce(t *testing.T) {
	f, srv := newFake(t)
	cache := NewMemoryCache()
	c := newClient(t, srv.URL, cache)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Send(context.Background(), msg()); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Another Client (another replica) sharing the cache reuses the token.
	c2 := newClient(t, srv.URL, cache)
	if _, err := c2.Send(context.Background(), msg()); err != nil {
		t.Fatal(err)
	}
	if calls, sends := f.stats(); calls != 1 || len(sends) != 65 {
		t.Fatalf("token calls %d, sends %d", calls, len(sends))
	}
}

// Concurrent senders that all meet a stale token refresh it once.
func TestConcurrentStaleTokenRefreshOnce(t *testing.T) {
	f, srv := newFake(t)
	cache := NewMemoryCache()
	c := newClient(t, srv.URL, cache)
	_ = cache.Set(c.tokenKey, "STALE-TOKEN", time.Hour)
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Send(context.Background(), msg()); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if calls, _ := f.stats(); calls != 1 {
		t.Fatalf("token calls %d", calls)
	}
}

// Two Clients pointing at different hosts, used at once, each reach their own.
func TestAPIBasePerClient(t *testing.T) {
	f1, srv1 := newFake(t)
	f2 := &fakeWeChat{t: t, valid: map[string]bool{}}
	srv2 := httptest.NewServer(http.StripPrefix("/wx", f2))
	t.Cleanup(srv2.Close)
	c1 := newClient(t, srv1.URL, nil)
	c2 := newClient(t, srv2.URL+"/wx/", nil)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := c1
			if i%2 == 1 {
				c = c2
			}
			if _, err := c.Send(context.Background(), msg()); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	_, s1 := f1.stats()
	_, s2 := f2.stats()
	if len(s1) != 10 || len(s2) != 10 {
		t.Fatalf("server 1 saw %d, server 2 saw %d", len(s1), len(s2))
	}
	// Requests without a Client in the context are left alone.
	if _, err := util.HTTPGetContext(context.Background(), srv1.URL+"/nowhere"); err == nil || !strings.Contains(err.Error(), "statusCode=405") {
		t.Fatalf("fallback request: %v", err)
	}
}

func TestNewValidates(t *testing.T) {
	for _, cfg := range []Config{
		{Secret: testSecret},
		{AppID: testAppID},
		{AppID: testAppID, Secret: testSecret, APIBase: "ftp://x"},
		{AppID: testAppID, Secret: testSecret, APIBase: "http://"},
		{AppID: testAppID, Secret: testSecret, APIBase: "http://h?x=1"},
	} {
		if _, err := New(cfg, nil); err == nil {
			t.Errorf("%+v: no error", cfg)
		} else {
			assertNoSecrets(t, err.Error())
		}
	}
	c, err := New(Config{AppID: testAppID, Secret: testSecret}, nil)
	if err != nil || c.base.String() != DefaultAPIBase {
		t.Fatalf("default base: %v %v", c, err)
	}
	if _, err := c.Send(context.Background(), Message{TemplateID: "T"}); Classify(err).Class != ClassConfig {
		t.Fatalf("missing openid: %v", err)
	}
}
