package signin_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestProtectForms: a console form's POST needs a session, this site's
// origin and the session's CSRF token; the page gets the identity and
// the token to put in its forms.
func TestProtectForms(t *testing.T) {
	e := newEnv(t, nil)
	if r := e.do(t, "POST", "/console/form", url.Values{"x": {"1"}}, nil); r.code != http.StatusUnauthorized {
		t.Errorf("no session: %d", r.code)
	}
	_, sess := e.signIn(t, adminToken)
	if sess == nil {
		t.Fatal("no session")
	}
	info := e.do(t, "GET", "/console/session.json", nil, nil, sess)
	var si struct{ CSRF string }
	if err := json.Unmarshal([]byte(info.body), &si); err != nil || si.CSRF == "" {
		t.Fatalf("session.json: %s", info.body)
	}
	if r := e.do(t, "GET", "/console/form", nil, nil, sess); r.code != 200 || r.body != "ok GET admin-token "+si.CSRF {
		t.Errorf("GET: %d %q", r.code, r.body)
	}
	for _, tt := range []struct {
		name   string
		form   url.Values
		header map[string]string
		code   int
	}{
		{"no token", url.Values{"x": {"1"}}, nil, http.StatusForbidden},
		{"wrong token", url.Values{"csrf": {si.CSRF + "x"}}, nil, http.StatusForbidden},
		{"another site", url.Values{"csrf": {si.CSRF}}, map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"right token", url.Values{"csrf": {si.CSRF}}, map[string]string{"Sec-Fetch-Site": "same-origin"}, http.StatusOK},
	} {
		r := e.do(t, "POST", "/console/form", tt.form, tt.header, sess)
		if r.code != tt.code {
			t.Errorf("%s: %d, want %d", tt.name, r.code, tt.code)
		}
		if reached := strings.HasPrefix(r.body, "ok POST"); reached != (tt.code == http.StatusOK) {
			t.Errorf("%s: the handler ran %v: %q", tt.name, reached, r.body)
		}
	}
}
