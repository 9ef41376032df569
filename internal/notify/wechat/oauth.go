package wechat

import (
	"context"
	"errors"
	"net/url"
	"strings"

	"github.com/silenceper/wechat/v2/officialaccount/oauth"
)

// DefaultOpenBase is the host of WeChat's web authorization page.
const DefaultOpenBase = "https://open.weixin.qq.com"

// ScopeBase is snsapi_base: silent authorization that yields only the
// visitor's openid, with no consent screen and no profile data.
const ScopeBase = "snsapi_base"

// OAuth is the official account's web authorization (网页授权) with
// snsapi_base, through silenceper's officialaccount/oauth: the authorize
// redirect, and the code's exchange for the visitor's openid. The
// exchange goes to the Client's APIBase like every other call.
type OAuth struct {
	c    *Client
	o    *oauth.Oauth
	open *url.URL
}

// NewOAuth returns the web authorization of the account of cfg; openBase
// replaces https://open.weixin.qq.com ("" keeps it).
func NewOAuth(cfg Config, openBase string) (*OAuth, error) {
	if openBase == "" {
		openBase = DefaultOpenBase
	}
	open, err := parseBase(openBase)
	if err != nil {
		return nil, errors.New("wechat: the open base must be an http(s) URL such as https://open.weixin.qq.com")
	}
	// The exchange needs no access token of the account; the cache holds none.
	c, err := New(cfg, NewMemoryCache())
	if err != nil {
		return nil, err
	}
	return &OAuth{c: c, o: c.oa.GetOauth(), open: open}, nil
}

// AuthorizeURL is where to send the visitor: WeChat authorizes silently
// and redirects to redirectURI with ?code=…&state=state. state must be
// a-zA-Z0-9 and at most 128 bytes (WeChat's rule; silenceper does not
// escape it).
func (a *OAuth) AuthorizeURL(redirectURI, state string) (string, error) {
	raw, err := a.o.GetRedirectURL(redirectURI, ScopeBase, state)
	if err != nil {
		return "", err
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", errors.New("wechat: silenceper gave an authorize URL that does not parse")
	}
	u.Scheme, u.Host = a.open.Scheme, a.open.Host
	u.Path = a.open.Path + u.Path
	return u.String(), nil
}

// OpenID exchanges an authorization code for the visitor's openid. Every
// error is an *Error whose text holds neither the secret nor the code;
// an errcode from WeChat (40029 invalid code, 40163 code used…) keeps its
// Code. The openid is the caller's to keep out of logs.
func (a *OAuth) OpenID(ctx context.Context, code string) (string, error) {
	sc := scrubber{a.c.secret, code, url.QueryEscape(code)}
	// silenceper puts the code into the URL unescaped: only WeChat's
	// alphabet may pass.
	if !validCode(code) {
		return "", errorf(ClassPermanent, ReasonBadRequest, "malformed authorization code")
	}
	if !routerInstalled() {
		return "", errorf(ClassConfig, ReasonConfig, "silenceper util.DefaultHTTPClient was replaced; requests would bypass APIBase")
	}
	res, err := a.o.GetUserAccessTokenContext(a.c.Context(ctx), code)
	if err != nil {
		return "", sc.error(Classify(err))
	}
	if res.OpenID == "" {
		return "", errorf(ClassRetryable, ReasonServer, "the code's exchange returned no openid")
	}
	return res.OpenID, nil
}

// validCode reports whether code can be an authorization code of WeChat's
// (32 letters and digits today; a little slack for change).
func validCode(code string) bool {
	if code == "" || len(code) > 128 {
		return false
	}
	return strings.IndexFunc(code, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}) < 0
}
