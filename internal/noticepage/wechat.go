package noticepage

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/policypush/policypush/internal/citizenweb"
)

// WeChat sign-in on the page.
//
// Opened inside WeChat (the User-Agent says MicroMessenger) with an
// official account configured, the page learns the visitor's openid by
// snsapi_base web authorization, which is silent: WeChat redirects back at
// once with a code, exchanged server-side for the openid. The personal part
// of the page (the conditions and verdicts, the amount, the answers, the
// person's other notices) is shown, and the answers accepted, only when
// that openid is the one on record for the notice's subject. A link
// forwarded to someone else in WeChat then shows that person only what any
// citizen may read: the policy and how to apply.
//
// The redirect is bound to the browser: the state parameter is a random
// value also set as a cookie, compared on the way back (a code another
// browser obtained is refused). A verified match is remembered for
// sessionTTL in a cookie signed with the session key and bound to the
// notice's subject (View.Owner), so the page, its answers and the
// person's other notices (a digest's page) do not redo the redirect. The
// openid itself is never logged, never put in a URL, an error or a cookie.
//
// Outside WeChat the token alone opens the personal part, as the JSON API
// under /public/notices/ always does (CONTRACTS §7: outside apps hold
// only the token).

// The WeChat cookies.
const (
	// WeChatStateCookie holds the state of a redirect under way.
	WeChatStateCookie = "policypush_notice_wx_state"
	// WeChatSessionCookie remembers a visitor whose openid matched.
	WeChatSessionCookie = "policypush_notice_wx"
	stateTTL            = 10 * time.Minute
	// DefaultSessionTTL is how long a verified match is remembered.
	DefaultSessionTTL = 30 * time.Minute
)

// The ?wx= values of the page after a redirect that did not verify the
// visitor: the page shows its public part with a note, and does not
// redirect again.
const (
	wxOther  = "other"  // the openid is not the subject's
	wxFailed = "failed" // WeChat answered with an error
)

// OAuth is snsapi_base web authorization: internal/notify/wechat's, over
// silenceper's officialaccount/oauth.
type OAuth interface {
	// AuthorizeURL is where to send the visitor so that WeChat redirects
	// back to redirectURI with ?code=…&state=state.
	AuthorizeURL(redirectURI, state string) (string, error)
	// OpenID exchanges a code for the visitor's openid. Its errors hold
	// neither the code nor the openid.
	OpenID(ctx context.Context, code string) (string, error)
}

// Owners says whether a WeChat visitor is the person a notice is for.
type Owners interface {
	// IsSubject reports whether openid is the WeChat openid on record
	// of the subject of token's notice.
	IsSubject(ctx context.Context, token, openid string) (bool, error)
}

// WeChatOptions turns on WeChat sign-in (PageOptions.WeChat).
type WeChatOptions struct {
	OAuth  OAuth
	Owners Owners
	// SessionKey signs the session cookie; replicas that share it share
	// the sessions. Empty: a random key of this process.
	SessionKey []byte
	// SessionTTL is how long a match is remembered (DefaultSessionTTL
	// when 0).
	SessionTTL time.Duration
}

type wechatSignIn struct {
	WeChatOptions
	publicURL string
	now       func() time.Time
}

func newWeChatSignIn(o *WeChatOptions, publicURL string) (*wechatSignIn, error) {
	if o.OAuth == nil || o.Owners == nil {
		return nil, errors.New("noticepage: WeChat sign-in needs an OAuth and an Owners")
	}
	if publicURL == "" {
		return nil, errors.New("noticepage: WeChat sign-in needs the public URL for its redirect_uri")
	}
	s := &wechatSignIn{WeChatOptions: *o, publicURL: strings.TrimRight(publicURL, "/"), now: time.Now}
	if len(s.SessionKey) == 0 {
		s.SessionKey = make([]byte, 32)
		_, _ = rand.Read(s.SessionKey) // crypto/rand.Read never fails
	}
	if s.SessionTTL <= 0 {
		s.SessionTTL = DefaultSessionTTL
	}
	return s, nil
}

// InWeChat reports whether r comes from WeChat's built-in browser.
func InWeChat(r *http.Request) bool {
	return strings.Contains(r.UserAgent(), "MicroMessenger")
}

// access is what a visitor may see of a notice.
type access struct {
	personal bool
	note     string // why only the public part is shown
	retry    bool   // offer to try the sign-in again
}

var personal = access{personal: true}

// The notes of the public part.
const (
	noteOther = "这条通知不是发给当前微信号的，因此只显示政策的公开信息。" +
		"如果这是您本人的通知，请在收到通知的微信号中打开；通知是短信收到的，请用手机浏览器打开短信中的链接。也可以拨打咨询电话 " + citizenweb.Hotline + "。"
	noteFailed = "暂时无法通过微信确认您的身份，因此只显示政策的公开信息。请稍后重试，或拨打咨询电话 " + citizenweb.Hotline + "。"
)

func (s *wechatSignIn) sessionMAC(owner string, exp int64) []byte {
	m := hmac.New(sha256.New, s.SessionKey)
	m.Write([]byte("policypush notice wechat session v1\x00"))
	m.Write([]byte(owner))
	m.Write([]byte{0})
	m.Write([]byte(strconv.FormatInt(exp, 10)))
	return m.Sum(nil)
}

// verified reports whether r carries a live session for owner.
func (s *wechatSignIn) verified(r *http.Request, owner string) bool {
	c, err := r.Cookie(WeChatSessionCookie)
	if err != nil {
		return false
	}
	expRaw, macRaw, ok := strings.Cut(c.Value, ".")
	if !ok {
		return false
	}
	exp, err := strconv.ParseInt(expRaw, 10, 64)
	if err != nil || s.now().Unix() >= exp {
		return false
	}
	mac, err := base64.RawURLEncoding.DecodeString(macRaw)
	return err == nil && hmac.Equal(mac, s.sessionMAC(owner, exp))
}

func (s *wechatSignIn) setSession(w http.ResponseWriter, secure bool, owner string) {
	exp := s.now().Add(s.SessionTTL).Unix()
	http.SetCookie(w, &http.Cookie{
		Name: WeChatSessionCookie, Value: strconv.FormatInt(exp, 10) + "." + base64.RawURLEncoding.EncodeToString(s.sessionMAC(owner, exp)),
		Path: "/n/", MaxAge: int(s.SessionTTL / time.Second), HttpOnly: true,
		// Lax, not Strict: the cookie is set at the end of a redirect
		// chain that began on open.weixin.qq.com, and must come with the
		// next request.
		SameSite: http.SameSiteLaxMode, Secure: secure,
	})
}

func setState(w http.ResponseWriter, secure bool, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: WeChatStateCookie, Value: value, Path: "/n/", MaxAge: maxAge, HttpOnly: true,
		// Lax: the way back from WeChat is a cross-site top-level GET.
		SameSite: http.SameSiteLaxMode, Secure: secure,
	})
}

// owner is what a session is bound to: the notice's subject, else (a
// Notices that names none) the token itself.
func owner(v View, token string) string {
	if v.Owner != "" {
		return "subject:" + v.Owner
	}
	return "token:" + token
}

// signIn says what the visitor of token's page may see. Inside WeChat it
// may instead answer the request itself (the redirect to WeChat, the
// redirect after the way back, a refused state) and report false.
func (p *Page) signIn(w http.ResponseWriter, r *http.Request, token string, v View) (access, bool) {
	s := p.wx
	if s == nil || !InWeChat(r) || s.verified(r, owner(v, token)) {
		return personal, true
	}
	secure := p.secure || r.TLS != nil
	page := "/n/" + url.PathEscape(token)
	q := r.URL.Query()
	switch {
	case q.Has("code") || q.Has("state"):
		// The way back from WeChat.
		c, err := r.Cookie(WeChatStateCookie)
		got := q.Get("state")
		setState(w, secure, "", -1) // a state is used once
		if err != nil || !validState(c.Value) || subtle.ConstantTimeCompare([]byte(c.Value), []byte(got)) != 1 {
			p.problem(w, http.StatusForbidden, "无法确认身份",
				"这次微信身份确认不是从本页面发起的，或已超时，已被拒绝。请点击下方按钮重新打开页面。", page)
			return access{}, false
		}
		code := q.Get("code")
		if code == "" {
			p.redirect(w, r, page+"?wx="+wxFailed)
			return access{}, false
		}
		openid, err := s.OAuth.OpenID(r.Context(), code)
		if err != nil {
			// The error holds neither the code nor an openid.
			p.log.WarnContext(r.Context(), "noticepage: wechat sign-in", "err", err)
			p.redirect(w, r, page+"?wx="+wxFailed)
			return access{}, false
		}
		match, err := s.Owners.IsSubject(r.Context(), token, openid)
		if err != nil {
			p.failed(w, r, "wechat owner", err)
			return access{}, false
		}
		if !match {
			p.redirect(w, r, page+"?wx="+wxOther)
			return access{}, false
		}
		s.setSession(w, secure, owner(v, token))
		p.redirect(w, r, page)
		return access{}, false
	case q.Get("wx") == wxOther:
		return access{note: noteOther}, true
	case q.Get("wx") == wxFailed:
		return access{note: noteFailed, retry: true}, true
	}
	// Off to WeChat, which comes back at once (snsapi_base asks nothing).
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	state := hex.EncodeToString(b)
	to, err := s.OAuth.AuthorizeURL(s.publicURL+page, state)
	if err != nil {
		p.failed(w, r, "wechat authorize url", err)
		return access{}, false
	}
	setState(w, secure, state, int(stateTTL/time.Second))
	p.headers(w)
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, to, http.StatusFound)
	return access{}, false
}

// mayAnswer reports whether the visitor may answer token's notice: inside
// WeChat, only with a verified match; otherwise it has answered (403).
func (p *Page) mayAnswer(w http.ResponseWriter, r *http.Request, token string) bool {
	if p.wx == nil || !InWeChat(r) {
		return true
	}
	v, ok := p.view(w, r, token)
	if !ok {
		return false
	}
	if p.wx.verified(r, owner(v, token)) {
		return true
	}
	p.problem(w, http.StatusForbidden, "无法确认身份",
		"只有收到这条通知的本人可以答复。您的操作没有提交。请返回页面，在收到通知的微信号中重新打开后再操作。",
		"/n/"+url.PathEscape(token))
	return false
}

// validState reports whether v has the form of a state signIn makes.
func validState(v string) bool {
	if len(v) != 64 {
		return false
	}
	_, err := hex.DecodeString(v)
	return err == nil
}

func (p *Page) redirect(w http.ResponseWriter, r *http.Request, to string) {
	p.headers(w)
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// public is the part of v any citizen may read: the policy, its source
// and how to apply; nothing about the person.
func (v View) public() View {
	return View{
		PolicyID: v.PolicyID, PolicyVersion: v.PolicyVersion, Title: v.Title, Department: v.Department,
		Source: v.Source, Apply: v.Apply, Automatic: v.Automatic,
	}
}
