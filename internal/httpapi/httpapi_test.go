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
