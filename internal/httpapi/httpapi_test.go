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
	}, clicks)
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
	h := New(prometheus.NewRegistry(), nil, func(_ context.Context, token string) (string, bool, error) {
		return "/n/" + token, true, nil
	})
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
