// Package signin signs officers in to the console, and keeps everyone
// else out of it.
//
// An officer signs in at /console/login with a token (a Verifier says whose
// it is and with which role), or, when configured, through the bureau's
// identity provider over OpenID Connect (oidc.go). Either way the service
// creates a server-side session of 8 hours and sets the cookie
// policypush_session: HttpOnly, SameSite=Strict, Path=/, and Secure when the
// console is reached over HTTPS. Only the SHA-256 of the cookie's value is
// stored (Sessions), so the session table signs no one in.
//
// Every POST is checked for cross-site forgery twice: by net/http's
// CrossOriginProtection (Sec-Fetch-Site, or Origin against Host), and by a
// token compared in constant time: the session's own for the console's
// forms (logout), and for the sign-in form, which comes before any session,
// a double-submit token in the cookie policypush_login_csrf.
//
// Protect wraps the console: without a session, a page request is
// redirected (303) to the sign-in page and anything else gets 401 JSON.
// GET /console/session.json tells the console's page who is signed in and
// the token its logout form must carry.
//
// A wrong token is answered after a delay, and only a few wrong tokens are
// answered at a time (the rest get 429 at once), so that guessing is slow
// but right tokens are never held up. No token and no cookie value is ever
// logged.
package signin

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// Identity is who signed in.
type Identity struct {
	Name string
	Role string // one of Roles
}

// Verifier says whose a sign-in token is.
type Verifier interface {
	// Verify returns the token's officer, or an error matching ErrUnknown
	// for a token that signs no one in.
	Verify(ctx context.Context, token string) (Identity, error)
}

// ErrUnknown is the error of a token that signs no one in.
var ErrUnknown = errors.New("signin: unknown token")

// Roles are the officers' roles from least to most allowed: each may do
// what the ones before it may.
var Roles = []string{"viewer", "reviewer", "publisher", "admin"}

// Rank is the role's place in Roles from 1, or 0 for a role that is none of
// them.
func Rank(role string) int {
	for i, r := range Roles {
		if r == role {
			return i + 1
		}
	}
	return 0
}

// AtLeast reports whether role allows what min allows.
func AtLeast(role, min string) bool { return Rank(role) > 0 && Rank(role) >= Rank(min) }

// TokenVerifier signs in the bearer of one fixed token (the bootstrap
// admin token) as one identity.
type TokenVerifier struct {
	sum [sha256.Size]byte
	id  Identity
}

// NewTokenVerifier returns a Verifier of token as id.
func NewTokenVerifier(token string, id Identity) *TokenVerifier {
	return &TokenVerifier{sum: sha256.Sum256([]byte(token)), id: id}
}

// Verify compares digests in constant time, so that neither the token's
// bytes nor its length leak through timing.
func (v *TokenVerifier) Verify(_ context.Context, token string) (Identity, error) {
	got := sha256.Sum256([]byte(token))
	if token == "" || subtle.ConstantTimeCompare(got[:], v.sum[:]) != 1 {
		return Identity{}, ErrUnknown
	}
	return v.id, nil
}

// Cookie names and the session's lifetime.
const (
	SessionCookie   = "policypush_session"
	LoginCSRFCookie = "policypush_login_csrf"
	SessionTTL      = 8 * time.Hour
	loginCSRFTTL    = time.Hour
)

// Defaults of Config.
const (
	DefaultFailDelay = time.Second
	DefaultFailSlots = 4
)

// Config is what New needs.
type Config struct {
	Verifier Verifier
	Sessions Sessions
	// Secure puts the Secure attribute on the cookies: set it when
	// officers reach the console over HTTPS (a console URL that is
	// https://). A request that arrives over TLS gets it regardless.
	Secure bool
	// OIDC, if not nil, offers sign-in through an identity provider.
	OIDC *OIDCConfig
	// FailDelay is how long a wrong token waits for its answer, and
	// FailSlots how many wrong tokens wait at once (more get 429).
	FailDelay time.Duration
	FailSlots int
	Log       *slog.Logger     // nil: slog.Default()
	Now       func() time.Time // nil: time.Now
}

// Service serves the sign-in pages and guards the console.
type Service struct {
	verifier  Verifier
	sessions  Sessions
	secure    bool
	oidc      *oidcFlow // nil: no OIDC
	failDelay time.Duration
	failSlots chan struct{}
	cop       *http.CrossOriginProtection
	log       *slog.Logger
	now       func() time.Time
	page      *template.Template
	assets    map[string]asset
}

//go:embed assets
var assetFS embed.FS

type asset struct {
	body        []byte
	contentType string
}

// New returns the sign-in service.
func New(cfg Config) (*Service, error) {
	if cfg.Verifier == nil || cfg.Sessions == nil {
		return nil, errors.New("signin: a Verifier and Sessions are required")
	}
	s := &Service{
		verifier: cfg.Verifier, sessions: cfg.Sessions, secure: cfg.Secure,
		failDelay: cfg.FailDelay, log: cfg.Log, now: cfg.Now,
		cop: http.NewCrossOriginProtection(),
	}
	if s.failDelay <= 0 {
		s.failDelay = DefaultFailDelay
	}
	if cfg.FailSlots <= 0 {
		cfg.FailSlots = DefaultFailSlots
	}
	s.failSlots = make(chan struct{}, cfg.FailSlots)
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	page, err := template.ParseFS(assetFS, "assets/login.html")
	if err != nil {
		return nil, fmt.Errorf("signin: login page: %w", err)
	}
	s.page = page
	s.assets = map[string]asset{}
	for name, ct := range map[string]string{"login.css": "text/css; charset=utf-8", "favicon.svg": "image/svg+xml"} {
		body, err := assetFS.ReadFile("assets/" + name)
		if err != nil {
			return nil, fmt.Errorf("signin: %w", err)
		}
		s.assets[name] = asset{body: body, contentType: ct}
	}
	if cfg.OIDC != nil {
		if s.oidc, err = newOIDCFlow(*cfg.OIDC); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Register mounts the sign-in routes on mux.
func (s *Service) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /console/login", s.loginPage)
	mux.HandleFunc("POST /console/login", s.login)
	mux.HandleFunc("POST /console/logout", s.logout)
	mux.HandleFunc("GET /console/session.json", s.sessionInfo)
	mux.HandleFunc("GET /console/login/{asset}", s.asset)
	mux.HandleFunc("GET /console/login/oidc", s.oidcStart)
	mux.HandleFunc("GET /console/login/oidc/callback", s.oidcCallback)
}

// pageCSP lets the sign-in pages load their own stylesheet and icon and
// post their form to this origin, and nothing else.
const pageCSP = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; " +
	"base-uri 'none'; frame-ancestors 'none'"

func securityHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
}

// pageData fills the sign-in page's template.
type pageData struct {
	Title  string // "": the sign-in form's own heading
	Error  string
	Notice string
	Form   bool
	CSRF   string
	OIDC   bool
	// Refresh, if set, is where the page moves on to by itself (a meta
	// refresh: no script is allowed).
	Refresh string
}

func (s *Service) render(w http.ResponseWriter, code int, d pageData) {
	securityHeaders(w)
	d.OIDC = s.oidc != nil
	var buf bytes.Buffer
	if err := s.page.Execute(&buf, d); err != nil {
		s.log.Error("signin: render", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes()) // the client went away: nothing to do
}

// refuse shows a page that says why, with a way back to the sign-in form.
func (s *Service) refuse(w http.ResponseWriter, code int, title, msg string) {
	s.render(w, code, pageData{Title: title, Error: msg})
}

func (s *Service) asset(w http.ResponseWriter, r *http.Request) {
	a, ok := s.assets[r.PathValue("asset")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	securityHeaders(w)
	w.Header().Set("Content-Type", a.contentType)
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}

// secureFor reports whether cookies set in answer to r carry Secure.
func (s *Service) secureFor(r *http.Request) bool { return s.secure || r.TLS != nil }

// loginCSRF returns the sign-in form's double-submit token, from the
// request's cookie or new (then set as a cookie).
func (s *Service) loginCSRF(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(LoginCSRFCookie); err == nil && validToken(c.Value) {
		return c.Value
	}
	v := randomToken()
	http.SetCookie(w, &http.Cookie{
		Name: LoginCSRFCookie, Value: v, Path: "/console/login", MaxAge: int(loginCSRFTTL / time.Second),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.secureFor(r),
	})
	return v
}

func (s *Service) loginPage(w http.ResponseWriter, r *http.Request) {
	d := pageData{Form: true}
	if r.URL.Query().Get("signed_out") == "1" {
		d.Notice = "您已退出登录。"
	}
	if _, ok := s.current(r); ok && d.Notice == "" {
		// Signed in already: the console is where they were going.
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	d.CSRF = s.loginCSRF(w, r)
	s.render(w, http.StatusOK, d)
}

// maxForm bounds a sign-in form: a token and a CSRF token.
const maxForm = 8 << 10

// crossSite checks r's Sec-Fetch-Site and Origin, and answers 403 when they
// say it comes from another site.
func (s *Service) crossSite(w http.ResponseWriter, r *http.Request) bool {
	if err := s.cop.Check(r); err != nil {
		s.refuse(w, http.StatusForbidden, "请求被拒绝", "这个请求来自其他网站，已被拒绝。请直接打开看板的登录页。")
		return true
	}
	return false
}

func (s *Service) login(w http.ResponseWriter, r *http.Request) {
	if s.crossSite(w, r) {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		s.refuse(w, http.StatusBadRequest, "请求无效", "表单无法读取，请返回登录页重试。")
		return
	}
	c, err := r.Cookie(LoginCSRFCookie)
	if err != nil || !validToken(c.Value) || !equal(c.Value, r.PostForm.Get("csrf")) {
		s.refuse(w, http.StatusForbidden, "表单已失效", "登录表单已过期或不是从本站打开的。请返回登录页重新输入。")
		return
	}
	token := strings.TrimSpace(r.PostForm.Get("token"))
	id, err := s.verifier.Verify(r.Context(), token)
	switch {
	case errors.Is(err, ErrUnknown):
		s.wrongToken(w, r, c.Value)
		return
	case err != nil:
		s.log.ErrorContext(r.Context(), "signin: verify token", "err", err)
		s.render(w, http.StatusServiceUnavailable, pageData{Form: true, CSRF: c.Value,
			Error: "暂时无法核验令牌，请稍后再试。"})
		return
	case Rank(id.Role) == 0:
		s.log.ErrorContext(r.Context(), "signin: token of an unknown role", "officer", id.Name, "role", id.Role)
		s.render(w, http.StatusForbidden, pageData{Form: true, CSRF: c.Value,
			Error: "该令牌没有可用的看板角色，请联系管理员。"})
		return
	}
	if err := s.startSession(w, r, id); err != nil {
		s.log.ErrorContext(r.Context(), "signin: create session", "err", err)
		s.render(w, http.StatusServiceUnavailable, pageData{Form: true, CSRF: c.Value,
			Error: "暂时无法登录，请稍后再试。"})
		return
	}
	s.log.InfoContext(r.Context(), "signin: signed in", "officer", id.Name, "role", id.Role, "via", "token")
	// The sign-in form's token has served: the next form gets a new one.
	http.SetCookie(w, &http.Cookie{Name: LoginCSRFCookie, Path: "/console/login", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.secureFor(r)})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// wrongToken answers a token that signs no one in, after FailDelay, with
// at most FailSlots such answers pending at once.
func (s *Service) wrongToken(w http.ResponseWriter, r *http.Request, csrf string) {
	select {
	case s.failSlots <- struct{}{}:
	default:
		w.Header().Set("Retry-After", "5")
		s.render(w, http.StatusTooManyRequests, pageData{Form: true, CSRF: csrf,
			Error: "登录尝试过于频繁，请稍后再试。"})
		return
	}
	t := time.NewTimer(s.failDelay)
	select {
	case <-t.C:
	case <-r.Context().Done():
		t.Stop()
	}
	<-s.failSlots
	s.log.WarnContext(r.Context(), "signin: wrong token", "remote", r.RemoteAddr)
	s.render(w, http.StatusUnauthorized, pageData{Form: true, CSRF: csrf,
		Error: "访问令牌不正确，请核对后重新输入。"})
}

// startSession creates a session for id and sets its cookie.
func (s *Service) startSession(w http.ResponseWriter, r *http.Request, id Identity) error {
	value := randomToken()
	now := s.now()
	sess := Session{Identity: id, CSRF: randomToken(), CreatedAt: now, ExpiresAt: now.Add(SessionTTL)}
	if err := s.sessions.CreateSession(r.Context(), hashOf(value), sess); err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: value, Path: "/", MaxAge: int(SessionTTL / time.Second),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.secureFor(r),
	})
	return nil
}

// current returns r's session, if it has one that is valid now.
func (s *Service) current(r *http.Request) (Session, bool) {
	c, err := r.Cookie(SessionCookie)
	if err != nil || !validToken(c.Value) {
		return Session{}, false
	}
	sess, err := s.sessions.Session(r.Context(), hashOf(c.Value), s.now())
	if err != nil {
		if !errors.Is(err, ErrNoSession) {
			s.log.ErrorContext(r.Context(), "signin: read session", "err", err)
		}
		return Session{}, false
	}
	return sess, true
}

func (s *Service) clearSessionCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.secureFor(r)})
}

func (s *Service) logout(w http.ResponseWriter, r *http.Request) {
	if s.crossSite(w, r) {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		s.refuse(w, http.StatusBadRequest, "请求无效", "表单无法读取，请返回看板重试。")
		return
	}
	sess, ok := s.current(r)
	if !ok {
		// Nothing to end: the session expired or was ended elsewhere.
		s.clearSessionCookie(w, r)
		http.Redirect(w, r, "/console/login?signed_out=1", http.StatusSeeOther)
		return
	}
	if !equal(sess.CSRF, r.PostForm.Get("csrf")) {
		s.refuse(w, http.StatusForbidden, "请求被拒绝", "退出请求缺少有效的校验码，请返回看板后重试。")
		return
	}
	c, _ := r.Cookie(SessionCookie) // present: current found the session by it
	if err := s.sessions.DeleteSession(r.Context(), hashOf(c.Value)); err != nil {
		s.log.ErrorContext(r.Context(), "signin: delete session", "err", err)
		s.refuse(w, http.StatusServiceUnavailable, "退出失败", "暂时无法退出登录，请稍后再试。")
		return
	}
	s.log.InfoContext(r.Context(), "signin: signed out", "officer", sess.Name)
	s.clearSessionCookie(w, r)
	http.Redirect(w, r, "/console/login?signed_out=1", http.StatusSeeOther)
}

// SessionInfo is what GET /console/session.json returns.
type SessionInfo struct {
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	CSRF      string    `json:"csrf"` // the token the console's forms carry
	ExpiresAt time.Time `json:"expires_at"`
}

func (s *Service) sessionInfo(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	sess, ok := s.current(r)
	if !ok {
		unauthorized(w)
		return
	}
	writeJSON(w, http.StatusOK, SessionInfo{Name: sess.Name, Role: sess.Role, CSRF: sess.CSRF, ExpiresAt: sess.ExpiresAt})
}

type ctxKey struct{}

// FromContext returns the identity Protect put in a request's context.
func FromContext(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(ctxKey{}).(Identity)
	return id, ok
}

// Protect lets through requests with a session whose role allows what min
// allows, or with such an officer's token as Authorization: Bearer, with
// the identity in their context (FromContext).
// Without a session, a request for a page is redirected (303) to the
// sign-in page and any other gets 401 JSON; with too small a role it gets
// 403.
func (s *Service) Protect(min string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			// A script's read (of data.json, say) with an officer's
			// token, as the admin API takes it. Browsers never send
			// this header by themselves, so it needs no CSRF check.
			s.bearer(w, r, token, min, next)
			return
		}
		sess, ok := s.current(r)
		if !ok {
			w.Header().Set("Cache-Control", "no-store")
			if wantsPage(r) {
				http.Redirect(w, r, "/console/login", http.StatusSeeOther)
				return
			}
			unauthorized(w)
			return
		}
		if !AtLeast(sess.Role, min) {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "your role does not allow this"})
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, sess.Identity)))
	})
}

func (s *Service) bearer(w http.ResponseWriter, r *http.Request, token, min string, next http.Handler) {
	id, err := s.verifier.Verify(r.Context(), strings.TrimSpace(token))
	switch {
	case errors.Is(err, ErrUnknown):
		unauthorized(w)
	case err != nil:
		s.log.ErrorContext(r.Context(), "signin: verify token", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "cannot check the token, try again later"})
	case !AtLeast(id.Role, min):
		writeJSON(w, http.StatusForbidden, map[string]string{"error": "your role does not allow this"})
	default:
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, id)))
	}
}

// wantsPage tells a browser's navigation to a page from a script's fetch
// or an asset's load.
func wantsPage(r *http.Request) bool {
	if r.URL.Path == "/" {
		return true
	}
	if d := r.Header.Get("Sec-Fetch-Dest"); d != "" {
		return d == "document"
	}
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

func unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Cookie realm="console", cookie="`+SessionCookie+`"`)
	writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "sign in at /console/login"})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v) // the client went away: nothing to do
}

// randomToken returns 32 random bytes in unpadded base64url.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

// validToken reports whether v has randomToken's form, so that a forged
// cookie of any other form costs no query.
func validToken(v string) bool {
	if len(v) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(v)
	return err == nil
}

func hashOf(v string) []byte {
	sum := sha256.Sum256([]byte(v))
	return sum[:]
}

// equal compares in constant time; an empty want matches nothing.
func equal(want, got string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1
}
