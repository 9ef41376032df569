package browsertest

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestExecPath(t *testing.T) {
	tests := []struct {
		name    string
		files   []string // executables on PATH
		want    string   // the one found; "" for none
		wantErr []string // what the error must say
	}{
		{name: "none", wantErr: []string{"chromium", "make browser", "apt-get install"}},
		{name: "debian", files: []string{"chromium"}, want: "chromium"},
		{name: "google", files: []string{"google-chrome"}, want: "google-chrome"},
		{name: "chromium first", files: []string{"google-chrome", "chromium-browser", "chromium"}, want: "chromium"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range tt.files {
				if err := os.WriteFile(filepath.Join(dir, f), []byte("#!/bin/sh\n"), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			t.Setenv("PATH", dir)
			got, err := ExecPath()
			if tt.want == "" {
				if err == nil {
					t.Fatalf("ExecPath() = %q, want an error", got)
				}
				for _, s := range tt.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not say %q", err, s)
					}
				}
				return
			}
			if err != nil || got != filepath.Join(dir, tt.want) {
				t.Fatalf("ExecPath() = %q, %v; want %q", got, err, filepath.Join(dir, tt.want))
			}
		})
	}
}

// TestOpen checks both halves of Open on pages with and without faults:
// what it reads, and that it reports each kind of error, and no error on a
// clean page.
func TestOpen(t *testing.T) {
	tests := []struct {
		name       string
		page       string
		wantTexts  map[string]string
		wantErrors []string // one reported error must contain each
	}{
		{
			name:      "clean",
			page:      `<p data-key="greeting">hi &lt;there&gt;</p><p data-key="empty"> </p><p id="ready">ready</p>`,
			wantTexts: map[string]string{"greeting": "hi <there>", "empty": ""},
		},
		{
			name: "faulty",
			page: `<script src="/missing.js"></script><script src="/bad.js"></script><script>document.title = "inline"</script>` +
				`<p id="ready">ready</p>`,
			wantTexts: map[string]string{},
			wantErrors: []string{
				"console.error: boom 42",
				"exception: Uncaught Error: kaput",
				"network error: Failed to load resource: the server responded with a status of 404",
				"Content Security Policy",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/":
					w.Header().Set("Content-Security-Policy", "default-src 'self'")
					w.Header().Set("Content-Type", "text/html; charset=utf-8")
					_, _ = w.Write([]byte(`<!doctype html><html lang="en"><head><title>t</title>` +
						`<link rel="icon" href="/icon.svg"></head><body>` + tt.page + `</body></html>`))
				case "/icon.svg":
					w.Header().Set("Content-Type", "image/svg+xml")
					_, _ = w.Write([]byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`))
				case "/bad.js":
					w.Header().Set("Content-Type", "text/javascript")
					_, _ = w.Write([]byte(`console.error("boom", 42); throw new Error("kaput");`))
				default:
					http.NotFound(w, r)
				}
			}))
			defer srv.Close()

			texts, errs := Open(t, srv.URL+"/", "#ready")
			t.Logf("errors reported: %q", errs)
			for k, want := range tt.wantTexts {
				if got, ok := texts[k]; !ok || got != want {
					t.Errorf("texts[%q] = %q (present: %v), want %q", k, got, ok, want)
				}
			}
			if len(texts) != len(tt.wantTexts) {
				t.Errorf("texts = %q, want %d entries", texts, len(tt.wantTexts))
			}
			if len(tt.wantErrors) == 0 && len(errs) > 0 {
				t.Errorf("errors on a clean page: %q", errs)
			}
			for _, want := range tt.wantErrors {
				found := false
				for _, e := range errs {
					found = found || strings.Contains(e, want)
				}
				if !found {
					t.Errorf("no error reported contains %q; got %q", want, errs)
				}
			}
		})
	}
}
