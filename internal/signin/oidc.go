package signin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// OIDCConfig is sign-in through the bureau's identity provider: the
// authorization code flow with PKCE, a state and a nonce.
type OIDCConfig struct {
	Issuer       string
	ClientID     string
	ClientSecret string
	// RedirectURL is this service's callback as the provider knows it:
	// the console's URL followed by /console/login/oidc/callback.
	RedirectURL string
	// RoleClaim names the ID token's claim that holds the officer's role:
	// a string, or an array whose highest known role counts. A dotted name
	// (realm_access.roles) reaches into nested objects.
	RoleClaim string
	// Client makes the requests to the provider; nil: one with a 10 s
	// timeout.
	Client *http.Client
}

// DefaultRoleClaim is OIDCConfig.RoleClaim's default.
const DefaultRoleClaim = "policypush_role"

// The cookie that binds a sign-in in progress to the browser that began it,
// and how long it lasts.
const (
	oidcCookie    = "policypush_oidc"
	oidcCookieTTL = 10 * time.Minute
	oidcPath      = "/console/login/oidc"
)

// oidcFlow talks to the provider. Its discovery document is fetched on the
// first sign-in, not at start, so that the service starts while the
// provider is down; a failed discovery is tried again on the next sign-in.
type oidcFlow struct {
	cfg    OIDCConfig
	client *http.Client

	mu       sync.Mutex
	oauth    *oauth2.Config // nil until discovered
	verifier *oidc.IDTokenVerifier
}

func newOIDCFlow(cfg OIDCConfig) (*oidcFlow, error) {
	if cfg.Issuer == "" || cfg.ClientID == "" || cfg.ClientSecret == "" || cfg.RedirectURL == "" {
		return nil, errors.New("signin: OIDC needs an issuer, a client id and secret, and a redirect URL")
	}
	if cfg.RoleClaim == "" {
		cfg.RoleClaim = DefaultRoleClaim
	}
	f := &oidcFlow{cfg: cfg, client: cfg.Client}
	if f.client == nil {
		f.client = &http.Client{Timeout: 10 * time.Second}
	}
	return f, nil
}

func (f *oidcFlow) ctx(ctx context.Context) context.Context {
	ctx = oidc.ClientContext(ctx, f.client)
	return context.WithValue(ctx, oauth2.HTTPClient, f.client)
}

func (f *oidcFlow) discover(ctx context.Context) (*oauth2.Config, *oidc.IDTokenVerifier, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.oauth != nil {
		return f.oauth, f.verifier, nil
	}
	p, err := oidc.NewProvider(f.ctx(ctx), f.cfg.Issuer)
	if err != nil {
		return nil, nil, fmt.Errorf("oidc discovery: %w", err)
	}
	f.oauth = &oauth2.Config{
		ClientID: f.cfg.ClientID, ClientSecret: f.cfg.ClientSecret, RedirectURL: f.cfg.RedirectURL,
		Endpoint: p.Endpoint(), Scopes: []string{oidc.ScopeOpenID, "profile"},
	}
	// The verifier checks the signature against the provider's keys, the
	// issuer, the audience (our client id) and the expiry; the nonce is
	// checked by the callback.
	f.verifier = p.Verifier(&oidc.Config{ClientID: f.cfg.ClientID})
	return f.oauth, f.verifier, nil
}

func (s *Service) oidcStart(w http.ResponseWriter, r *http.Request) {
	if s.oidc == nil {
		http.NotFound(w, r)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	oc, _, err := s.oidc.discover(ctx)
	if err != nil {
		s.log.ErrorContext(r.Context(), "signin: oidc", "err", err)
		s.refuse(w, http.StatusBadGateway, "统一身份认证不可用", "暂时无法连接统一身份认证，请稍后再试，或使用访问令牌登录。")
		return
	}
	state, nonce, verifier := randomToken(), randomToken(), oauth2.GenerateVerifier()
	// Lax, not Strict: the provider's redirect back is a navigation from
	// another site, on which a Strict cookie would not come.
	http.SetCookie(w, &http.Cookie{
		Name: oidcCookie, Value: state + "." + nonce + "." + verifier, Path: oidcPath,
		MaxAge: int(oidcCookieTTL / time.Second), HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secureFor(r),
	})
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, oc.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), http.StatusFound)
}

func (s *Service) oidcCallback(w http.ResponseWriter, r *http.Request) {
	if s.oidc == nil {
		http.NotFound(w, r)
		return
	}
	// The flow's cookie serves once, whatever happens next.
	http.SetCookie(w, &http.Cookie{Name: oidcCookie, Path: oidcPath, MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secureFor(r)})
	q := r.URL.Query()
	if code := q.Get("error"); code != "" {
		s.log.WarnContext(r.Context(), "signin: oidc refused by the provider", "error", truncate(code, 64))
		s.refuse(w, http.StatusForbidden, "统一身份认证未完成", "统一身份认证没有完成登录，请重试。")
		return
	}
	var state, nonce, verifier string
	if c, err := r.Cookie(oidcCookie); err == nil {
		parts := strings.Split(c.Value, ".")
		if len(parts) == 3 {
			state, nonce, verifier = parts[0], parts[1], parts[2]
		}
	}
	if state == "" || !equal(state, q.Get("state")) {
		s.refuse(w, http.StatusForbidden, "登录已失效", "这次登录不是从本浏览器发起的，或已超过 10 分钟。请重新登录。")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	id, err := s.oidcIdentity(ctx, q.Get("code"), nonce, verifier)
	var refused *refusal
	switch {
	case errors.As(err, &refused):
		s.log.WarnContext(r.Context(), "signin: oidc sign-in refused", "reason", refused.reason)
		s.refuse(w, http.StatusForbidden, "无法登录", refused.message)
		return
	case err != nil:
		s.log.ErrorContext(r.Context(), "signin: oidc", "err", err)
		s.refuse(w, http.StatusBadGateway, "统一身份认证失败", "统一身份认证登录失败，请重试，或使用访问令牌登录。")
		return
	}
	if err := s.startSession(w, r, id); err != nil {
		s.log.ErrorContext(r.Context(), "signin: create session", "err", err)
		s.refuse(w, http.StatusServiceUnavailable, "暂时无法登录", "暂时无法登录，请稍后再试。")
		return
	}
	s.log.InfoContext(r.Context(), "signin: signed in", "officer", id.Name, "role", id.Role, "via", "oidc")
	// A page that moves on by itself rather than a redirect: a redirect
	// would continue the provider's cross-site navigation, on which
	// browsers that weigh the whole redirect chain withhold the new
	// SameSite=Strict cookie.
	s.render(w, http.StatusOK, pageData{Title: "登录成功", Notice: "登录成功，正在进入看板…", Refresh: "/"})
}

// refusal is a sign-in the provider vouched for but this service refuses:
// reason goes to the log, message to the officer.
type refusal struct{ reason, message string }

func (e *refusal) Error() string { return "oidc sign-in refused: " + e.reason }

// oidcIdentity exchanges code and verifies the ID token it brings.
func (s *Service) oidcIdentity(ctx context.Context, code, nonce, verifier string) (Identity, error) {
	f := s.oidc
	oc, v, err := f.discover(ctx)
	if err != nil {
		return Identity{}, err
	}
	if code == "" {
		return Identity{}, &refusal{"no code", "统一身份认证没有返回授权码，请重新登录。"}
	}
	tok, err := oc.Exchange(f.ctx(ctx), code, oauth2.VerifierOption(verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			// Only the error code: the body is the provider's to word.
			return Identity{}, fmt.Errorf("oidc token exchange: %s %q", re.Response.Status, truncate(re.ErrorCode, 64))
		}
		return Identity{}, fmt.Errorf("oidc token exchange: %w", err)
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		return Identity{}, errors.New("oidc token exchange: no id_token in the answer")
	}
	idt, err := v.Verify(ctx, raw)
	if err != nil {
		return Identity{}, &refusal{"id token: " + err.Error(), "统一身份认证返回的身份凭证无效，请重新登录。"}
	}
	if !equal(nonce, idt.Nonce) {
		return Identity{}, &refusal{"id token: wrong nonce", "统一身份认证返回的身份凭证与本次登录不符，请重新登录。"}
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return Identity{}, fmt.Errorf("oidc claims: %w", err)
	}
	role, found := roleFrom(claims, f.cfg.RoleClaim)
	if role == "" {
		reason := "no role claim " + f.cfg.RoleClaim
		if found {
			reason = "no known role in claim " + f.cfg.RoleClaim
		}
		return Identity{}, &refusal{reason, "您的账号没有看板角色（身份声明 " + f.cfg.RoleClaim +
			" 应为 viewer、reviewer、publisher 或 admin），请联系管理员开通。"}
	}
	name, _ := claims["preferred_username"].(string)
	if name == "" {
		name = idt.Subject
	}
	// Prefixed, so that no account of the provider can pass for an
	// officer whose token the service issued (or for the admin token).
	return Identity{Name: "oidc:" + name, Role: role}, nil
}

// roleFrom reads the role claim: a string, or an array of which the
// highest known role counts. found says whether the claim is there at all.
func roleFrom(claims map[string]any, claim string) (role string, found bool) {
	v, ok := claims[claim]
	if !ok && strings.Contains(claim, ".") {
		var cur any = claims
		ok = true
		for _, part := range strings.Split(claim, ".") {
			m, isMap := cur.(map[string]any)
			if !isMap {
				ok = false
				break
			}
			if cur, ok = m[part]; !ok {
				break
			}
		}
		v = cur
	}
	if !ok {
		return "", false
	}
	switch v := v.(type) {
	case string:
		if Rank(v) > 0 {
			return v, true
		}
	case []any:
		for _, e := range v {
			if s, ok := e.(string); ok && Rank(s) > Rank(role) {
				role = s
			}
		}
	}
	return role, true
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
