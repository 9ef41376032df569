package signin_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/policypush/policypush/internal/signin"
)

const (
	clientID     = "policypush-console"
	clientSecret = "client-secret-for-the-test"
)

// idp is an OpenID Connect provider for the test: discovery, JWKS, an
// authorization endpoint that consents at once, and a token endpoint that
// checks the client, the code, the redirect URI and PKCE before it hands
// out an RS256-signed ID token.
type idp struct {
	srv      *httptest.Server
	url      string // the issuer: srv's URL, or it under another host name
	key      *rsa.PrivateKey
	otherKey *rsa.PrivateKey // not in the JWKS
	t        *testing.T

	mu    sync.Mutex
	codes map[string]grant
	// claims edits the ID token's claims of the next sign-in.
	claims func(map[string]any)
}

// otherKeyClaim, set by a test's claims edit, makes the provider sign with
// a key its JWKS does not list; it is not in the token.
const otherKeyClaim = "test_sign_with_other_key"

type grant struct {
	nonce, challenge, redirect string
}

func newIDP(t *testing.T) *idp {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := &idp{key: key, otherKey: other, t: t, codes: map[string]grant{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.discovery)
	mux.HandleFunc("GET /jwks", p.jwks)
	mux.HandleFunc("GET /authorize", p.authorize)
	mux.HandleFunc("POST /token", p.token)
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	p.url = p.srv.URL
	return p
}

func (p *idp) setClaims(f func(map[string]any)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.claims = f
}

func (p *idp) discovery(w http.ResponseWriter, _ *http.Request) {
	u := p.url
	_ = json.NewEncoder(w).Encode(map[string]any{
		"issuer": u, "authorization_endpoint": u + "/authorize", "token_endpoint": u + "/token", "jwks_uri": u + "/jwks",
		"response_types_supported": []string{"code"}, "subject_types_supported": []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"}, "code_challenge_methods_supported": []string{"S256"},
	})
}

func (p *idp) jwks(w http.ResponseWriter, _ *http.Request) {
	_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: &p.key.PublicKey, KeyID: "k1", Algorithm: string(jose.RS256), Use: "sig"},
	}})
}

func (p *idp) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("response_type") != "code" || q.Get("client_id") != clientID || q.Get("code_challenge_method") != "S256" ||
		q.Get("code_challenge") == "" || q.Get("nonce") == "" || q.Get("state") == "" || !strings.Contains(q.Get("scope"), "openid") {
		p.t.Errorf("authorization request lacks something: %v", q)
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	code := base64.RawURLEncoding.EncodeToString([]byte(time.Now().String()))
	p.mu.Lock()
	p.codes[code] = grant{nonce: q.Get("nonce"), challenge: q.Get("code_challenge"), redirect: q.Get("redirect_uri")}
	p.mu.Unlock()
	back, err := url.Parse(q.Get("redirect_uri"))
	if err != nil {
		http.Error(w, "bad redirect_uri", http.StatusBadRequest)
		return
	}
	back.RawQuery = url.Values{"code": {code}, "state": {q.Get("state")}}.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

func (p *idp) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	p.mu.Lock()
	g, known := p.codes[r.PostForm.Get("code")]
	delete(p.codes, r.PostForm.Get("code"))
	edit := p.claims
	p.mu.Unlock()
	sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	switch {
	case id != clientID || secret != clientSecret:
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"error":"invalid_client"}`)
		return
	case !known || r.PostForm.Get("grant_type") != "authorization_code" || r.PostForm.Get("redirect_uri") != g.redirect ||
		base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge:
		p.t.Errorf("token request does not match its authorization (PKCE, code or redirect): %v", r.PostForm)
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"error":"invalid_grant"}`)
		return
	}
	now := time.Now()
	claims := map[string]any{
		"iss": p.url, "aud": clientID, "sub": "u-1001", "preferred_username": "zhangwei",
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "nonce": g.nonce,
		"policypush_role": "admin",
	}
	if edit != nil {
		edit(claims)
	}
	key := p.key
	if claims[otherKeyClaim] != nil {
		delete(claims, otherKeyClaim)
		key = p.otherKey
	}
	payload, _ := json.Marshal(claims)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
	if err != nil {
		p.t.Fatal(err)
	}
	sig, err := signer.Sign(payload)
	if err != nil {
		p.t.Fatal(err)
	}
	raw, err := sig.CompactSerialize()
	if err != nil {
		p.t.Fatal(err)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token": "at-" + g.nonce[:8], "token_type": "Bearer", "expires_in": 300, "id_token": raw,
	})
}

// browser is a client with cookies that follows redirects, as a browser
// does through the provider and back.
func browser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar}
}

func get(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	res, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestOIDCSignIn signs in through a provider the test runs: a role claim
// signs in, a missing or unknown one is refused, and so is an ID token
// with the wrong nonce, audience, issuer or signature, or one that expired.
func TestOIDCSignIn(t *testing.T) {
	p := newIDP(t)
	e := newEnv(t, func(c *signin.Config, base string) {
		c.OIDC = &signin.OIDCConfig{Issuer: p.url, ClientID: clientID, ClientSecret: clientSecret,
			RedirectURL: base + "/console/login/oidc/callback"}
	})

	// The sign-in page offers the provider.
	if r := e.do(t, "GET", "/console/login", nil, nil); !strings.Contains(r.body, "通过统一身份认证登录") ||
		!strings.Contains(r.body, `href="/console/login/oidc"`) {
		t.Errorf("the sign-in page has no OIDC button:\n%s", r.body)
	}

	for _, tc := range []struct {
		name     string
		edit     func(map[string]any)
		wantRole string // "": refused
		wantText string
	}{
		{"role claim admin", nil, "admin", ""},
		{"role claim array", func(c map[string]any) { c["policypush_role"] = []string{"viewer", "publisher", "overlord"} }, "publisher", ""},
		{"role claim viewer", func(c map[string]any) { c["policypush_role"] = "viewer" }, "viewer", ""},
		{"missing role claim", func(c map[string]any) { delete(c, "policypush_role") }, "", "没有看板角色"},
		{"unknown role", func(c map[string]any) { c["policypush_role"] = "superuser" }, "", "没有看板角色"},
		{"empty role array", func(c map[string]any) { c["policypush_role"] = []string{} }, "", "没有看板角色"},
		{"wrong nonce", func(c map[string]any) { c["nonce"] = "not-the-nonce" }, "", "与本次登录不符"},
		{"no nonce", func(c map[string]any) { delete(c, "nonce") }, "", "与本次登录不符"},
		{"wrong audience", func(c map[string]any) { c["aud"] = "another-client" }, "", "身份凭证无效"},
		{"wrong issuer", func(c map[string]any) { c["iss"] = "https://idp.evil.example" }, "", "身份凭证无效"},
		{"signed with another key", func(c map[string]any) { c[otherKeyClaim] = true }, "", "身份凭证无效"},
		{"expired", func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() }, "", "身份凭证无效"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p.setClaims(tc.edit)
			b := browser(t)
			code, body := get(t, b, e.srv.URL+"/console/login/oidc")
			u, _ := url.Parse(e.srv.URL + "/")
			var sess *http.Cookie
			for _, c := range b.Jar.Cookies(u) {
				if c.Name == signin.SessionCookie {
					sess = c
				}
			}
			if tc.wantRole == "" {
				if code != http.StatusForbidden || !strings.Contains(body, tc.wantText) || sess != nil {
					t.Errorf("sign-in = %d, session %v, want 403 saying %q:\n%s", code, sess, tc.wantText, body)
				}
				if code, _ := get(t, b, e.srv.URL+"/console/data.json"); code != http.StatusUnauthorized {
					t.Errorf("data.json after a refused sign-in = %d, want 401", code)
				}
				return
			}
			if code != http.StatusOK || sess == nil || !strings.Contains(body, `http-equiv="refresh"`) {
				t.Fatalf("sign-in = %d, session %v:\n%s", code, sess, body)
			}
			if code, _ := get(t, b, e.srv.URL+"/console/data.json"); code != http.StatusOK {
				t.Errorf("data.json signed in through OIDC = %d, want 200", code)
			}
			_, info := get(t, b, e.srv.URL+"/console/session.json")
			if !strings.Contains(info, `"role":"`+tc.wantRole+`"`) || !strings.Contains(info, `"name":"oidc:zhangwei"`) {
				t.Errorf("session.json = %s, want oidc:zhangwei as %s", info, tc.wantRole)
			}
		})
	}

	// A callback this browser did not start (no flow cookie), or whose
	// state is not the one it was sent with, is refused.
	p.setClaims(nil)
	b := browser(t)
	b.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
		if strings.HasSuffix(req.URL.Path, "/callback") {
			return http.ErrUseLastResponse
		}
		return nil
	}
	res, err := b.Get(e.srv.URL + "/console/login/oidc")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	back, err := res.Location()
	if err != nil {
		t.Fatalf("the provider did not redirect back: %d", res.StatusCode)
	}
	q := back.Query()
	q.Set("state", "forged-state")
	forged := *back
	forged.RawQuery = q.Encode()
	if code, body := get(t, b, forged.String()); code != http.StatusForbidden || !strings.Contains(body, "登录已失效") {
		t.Errorf("callback with a forged state = %d:\n%s", code, body)
	}
	if code, _ := get(t, browser(t), back.String()); code != http.StatusForbidden {
		t.Errorf("callback in a browser that did not start the sign-in = %d, want 403", code)
	}
	if code, body := get(t, browser(t), e.srv.URL+"/console/login/oidc/callback?error=access_denied&state=x"); code != http.StatusForbidden ||
		!strings.Contains(body, "未完成") {
		t.Errorf("callback with the provider's error = %d:\n%s", code, body)
	}

	logs := e.log.String()
	if strings.Contains(logs, clientSecret) || strings.Contains(logs, "eyJ") {
		t.Errorf("the log holds the client secret or a token:\n%s", logs)
	}
}
