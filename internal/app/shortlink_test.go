package app

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/policypush/policypush/internal/httpapi"
	"github.com/policypush/policypush/internal/noticepage"
	"github.com/policypush/policypush/internal/rules"
)

// TestShortLinkDeadLinkPage: a dead short link opened in a phone's browser
// (Accept: text/html) answers the notice page's own not-found page, the
// same bytes /n/{token} gives an unknown token (plain, with 12333), for a
// wrong token, a well-formed token never issued and an expired one alike;
// a client that asks for JSON still gets {"error":"unknown link"}. It used
// to answer every client with JSON.
func TestShortLinkDeadLinkPage(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	f := newNoticeFixture(t)
	page, err := noticepage.NewPage(f.n, noticepage.PageOptions{PublicURL: "https://rs.example.gov.cn"})
	if err != nil {
		t.Fatal(err)
	}
	h := httpapi.New(prometheus.NewRegistry(), nil, shortLinks(f.st, f.n, page, func() time.Time { return *f.clock.Load() }), page.Register)
	get := func(path, accept string) (int, http.Header, string) {
		t.Helper()
		req := httptest.NewRequest(http.MethodGet, path, nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		b, _ := io.ReadAll(rec.Result().Body)
		return rec.Code, rec.Header(), string(b)
	}
	const browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

	if code, hdr, _ := get("/r/"+f.token, browser); code != http.StatusFound || hdr.Get("Location") != "/n/"+f.token {
		t.Fatalf("a live link: %d to %q", code, hdr.Get("Location"))
	}
	code, _, want := get("/n/fedcba9876543210fedcba9876543210", browser)
	if code != http.StatusNotFound || !strings.Contains(want, "链接无效或已过期") || !strings.Contains(want, "12333") {
		t.Fatalf("/n/ of an unknown token: %d %q", code, want)
	}

	expired := time.Date(2027, 8, 1, 0, 0, 0, 0, rules.Shanghai) // valid_until 2027-06-30, then 30 days
	f.clock.Store(&expired)
	for _, tok := range []string{"unknown-token", "fedcba9876543210fedcba9876543210", f.token} {
		code, hdr, body := get("/r/"+tok, browser)
		if code != http.StatusNotFound || body != want {
			t.Errorf("/r/%s in a browser: %d %.300q, want /n/'s not-found page", tok, code, body)
		}
		if ct := hdr.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("/r/%s in a browser: Content-Type %q", tok, ct)
		}
		if csp := hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("/r/%s in a browser: Content-Security-Policy %q", tok, csp)
		}
		if strings.Contains(body, tok) {
			t.Errorf("/r/%s: the page names the token", tok)
		}
		for _, accept := range []string{"application/json", ""} {
			code, hdr, body := get("/r/"+tok, accept)
			if code != http.StatusNotFound || body != `{"error":"unknown link"}`+"\n" || hdr.Get("Content-Type") != "application/json" {
				t.Errorf("/r/%s, Accept %q: %d %q %q, want the JSON 404", tok, accept, code, hdr.Get("Content-Type"), body)
			}
		}
	}
}
