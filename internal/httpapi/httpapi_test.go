package httpapi

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestEndpoints(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "policypush_test_total", Help: "A test counter."})
	reg.MustRegister(c)
	c.Inc()
	ready := true
	clicks := func(_ context.Context, token string) (string, bool, error) {
		if token == "good" {
			return "https://rs.example.gov.cn/p/x", true, nil
		}
		return "", false, nil
	}
	h := New(reg, map[string]Check{
		"database": func(context.Context) error { return nil },
		"rules": func(context.Context) error {
			if !ready {
				return errors.New("not loaded")
			}
			return nil
		},
	}, ShortLinks{Resolve: clicks})
	tests := []struct {
		name, path string
		ready      bool
		code       int
		body       string
	}{
		{"liveness", "/healthz", true, 200, `"ok"`},
		{"metrics", "/metrics", true, 200, "policypush_test_total 1"},
		{"ready", "/readyz", true, 200, `{"database":"ok","rules":"ok"}`},
		{"not ready", "/readyz", false, 503, `{"database":"ok","rules":"failing"}`},
		{"unknown path", "/nope", true, 404, ""},
		{"short link", "/r/good", true, 302, ""},
		{"unknown short link", "/r/guess", true, 404, "unknown link"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ready = tt.ready
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.path, nil))
			if rec.Code != tt.code || !strings.Contains(rec.Body.String(), tt.body) {
				t.Errorf("%s: %d %q", tt.path, rec.Code, rec.Body.String())
			}
		})
	}
}

// TestShortLinkCSP: the short link's redirect to a GET carries an HTML
// body (net/http writes <a href=…>Found</a>), and every HTML answer a
// citizen's browser gets carries a strict Content-Security-Policy.
func TestShortLinkCSP(t *testing.T) {
	h := New(prometheus.NewRegistry(), nil, ShortLinks{Resolve: func(_ context.Context, token string) (string, bool, error) {
		return "/n/" + token, true, nil
	}})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/r/tok", nil))
	if rec.Code != http.StatusFound || rec.Header().Get("Location") != "/n/tok" {
		t.Fatalf("%d to %q", rec.Code, rec.Header().Get("Location"))
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("Content-Type %q: the test assumes net/http's HTML body", ct)
	}
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy %q, want default-src 'none'", csp)
	}
	if rec.Header().Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("no X-Content-Type-Options: nosniff")
	}
}

// TestShortLinkNotFoundPage: an unknown link answers a browser (a phone's,
// opening a dead link from an SMS) with the NotFound page, and a client
// that asks for JSON, or for nothing in particular, with the JSON it
// always got; both are 404, and the page is not given the token.
func TestShortLinkNotFoundPage(t *testing.T) {
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte("<p>链接无效或已过期</p>"))
	})
	h := New(prometheus.NewRegistry(), nil, ShortLinks{
		Resolve:  func(context.Context, string) (string, bool, error) { return "", false, nil },
		NotFound: page,
	})
	const (
		html = "<p>链接无效或已过期</p>"
		json = `{"error":"unknown link"}` + "\n"
	)
	tests := []struct{ name, accept, want string }{
		{"phone browser", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", html},
		{"WeChat's browser", "text/html,application/xhtml+xml,application/xml;q=0.9,image/webp,image/apng,*/*;q=0.8", html},
		{"xhtml only", "application/xhtml+xml", html},
		{"html and json alike", "application/json, text/html", html},
		{"json", "application/json", json},
		{"json first", "application/json, text/html;q=0.5", json},
		{"html refused", "text/html;q=0, application/json", json},
		{"no Accept", "", json},
		{"curl", "*/*", json},
		{"bad q", "text/html;q=x", json},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/r/0123456789abcdef0123456789abcdef", nil)
			if tt.accept != "" {
				req.Header.Set("Accept", tt.accept)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusNotFound || rec.Body.String() != tt.want {
				t.Errorf("Accept %q: %d %q, want 404 %q", tt.accept, rec.Code, rec.Body.String(), tt.want)
			}
			if rec.Header().Get("Vary") != "Accept" {
				t.Errorf("Accept %q: Vary %q, want Accept", tt.accept, rec.Header().Get("Vary"))
			}
		})
	}
	// Without a page, a browser too gets the JSON.
	h = New(prometheus.NewRegistry(), nil, ShortLinks{
		Resolve: func(context.Context, string) (string, bool, error) { return "", false, nil }})
	req := httptest.NewRequest(http.MethodGet, "/r/x", nil)
	req.Header.Set("Accept", "text/html")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotFound || rec.Body.String() != json {
		t.Errorf("no NotFound page: %d %q", rec.Code, rec.Body.String())
	}
}
