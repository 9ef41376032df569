// Package wechattest fakes WeChat's web authorization (网页授权) for tests:
// the authorize redirect of open.weixin.qq.com/connect/oauth2/authorize
// and the code exchange of api.weixin.qq.com/sns/oauth2/access_token, in
// their real wire format, so that silenceper's real client runs against
// it.
package wechattest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"sync"
)

// OAuth is the fake. Point POLICYPUSH_WECHAT_OPEN_BASE and (for the
// exchange) POLICYPUSH_WECHAT_API_BASE at a server of it. The zero value
// is not usable; use NewOAuth.
type OAuth struct {
	appID, secret string

	mu        sync.Mutex
	user      string            // the openid of the WeChat user the browser belongs to
	codes     map[string]string // code → openid, until exchanged
	used      map[string]bool
	errCode   int // when set, every exchange answers this errcode
	errMsg    string
	redirects []string // the redirect_uri of every authorize request
	exchanges int
}

// NewOAuth returns a fake of the official account appID with secret.
func NewOAuth(appID, secret string) *OAuth {
	return &OAuth{appID: appID, secret: secret, codes: map[string]string{}, used: map[string]bool{}}
}

// SetUser sets whose WeChat the browser is: the openid an authorization
// yields from now on.
func (f *OAuth) SetUser(openid string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.user = openid
}

// FailWith makes every exchange answer {"errcode": code, "errmsg": msg}
// (0 turns it off).
func (f *OAuth) FailWith(code int, msg string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errCode, f.errMsg = code, msg
}

// Redirects returns the redirect_uri of every authorize request so far.
func (f *OAuth) Redirects() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.redirects...)
}

// Exchanges is how many code exchanges were asked for.
func (f *OAuth) Exchanges() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.exchanges
}

// Code issues a code for openid, as an authorization would, without the
// redirect: for a test that plays a forged way back.
func (f *OAuth) Code(openid string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.issue(openid)
}

func (f *OAuth) issue(openid string) string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	c := hex.EncodeToString(b)
	f.codes[c] = openid
	return c
}

func (f *OAuth) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/connect/oauth2/authorize":
		f.authorize(w, r)
	case "/sns/oauth2/access_token":
		f.exchange(w, r)
	default:
		http.NotFound(w, r)
	}
}

// authorize answers as WeChat does inside its browser for snsapi_base:
// no page, a 302 to redirect_uri with code and state.
func (f *OAuth) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	back, err := url.Parse(q.Get("redirect_uri"))
	switch {
	case r.Method != http.MethodGet:
		http.Error(w, "method", http.StatusMethodNotAllowed)
		return
	case q.Get("appid") != f.appID, q.Get("response_type") != "code", q.Get("scope") != "snsapi_base",
		err != nil, back.Scheme != "http" && back.Scheme != "https", len(q.Get("state")) > 128:
		// WeChat shows an error page (10003 redirect_uri 域名与后台配置不一致, …).
		http.Error(w, "Oops! Something went wrong:( 参数错误", http.StatusOK)
		return
	}
	f.mu.Lock()
	f.redirects = append(f.redirects, back.String())
	code := f.issue(f.user)
	f.mu.Unlock()
	bq := back.Query()
	bq.Set("code", code)
	bq.Set("state", q.Get("state"))
	back.RawQuery = bq.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

func (f *OAuth) exchange(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	w.Header().Set("Content-Type", "application/json; encoding=utf-8")
	f.mu.Lock()
	defer f.mu.Unlock()
	f.exchanges++
	fail := func(code int, msg string) {
		_ = json.NewEncoder(w).Encode(map[string]any{"errcode": code, "errmsg": msg})
	}
	openid, known := f.codes[q.Get("code")]
	switch {
	case f.errCode != 0:
		fail(f.errCode, f.errMsg)
	case q.Get("appid") != f.appID:
		fail(40013, "invalid appid")
	case q.Get("secret") != f.secret:
		fail(40125, "invalid appsecret")
	case q.Get("grant_type") != "authorization_code":
		fail(40002, "invalid grant_type")
	case f.used[q.Get("code")]:
		fail(40163, "code been used")
	case !known || openid == "":
		fail(40029, "invalid code")
	default:
		delete(f.codes, q.Get("code"))
		f.used[q.Get("code")] = true
		tok := make([]byte, 16)
		_, _ = rand.Read(tok)
		_ = json.NewEncoder(w).Encode(map[string]any{
			"access_token": "ACCESS_" + hex.EncodeToString(tok), "expires_in": 7200,
			"refresh_token": "REFRESH_" + hex.EncodeToString(tok), "openid": openid, "scope": "snsapi_base",
		})
	}
}
