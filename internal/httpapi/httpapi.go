// Package httpapi serves policypush's HTTP endpoints (shared/CONTRACTS.md
// §6): metrics, liveness and readiness. The callbacks and the admin API
// join it in later issues.
package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check reports whether one dependency is ready; nil means ready.
type Check func(ctx context.Context) error

// Clicks resolves a notice's short link: it records the click and returns
// where to send the citizen; ok is false for an unknown token.
type Clicks func(ctx context.Context, token string) (target string, ok bool, err error)

// ShortLinks serves /r/{token}.
type ShortLinks struct {
	Resolve Clicks // nil: no short links
	// NotFound, when set, answers an unknown (or expired) link to a
	// client that asks for HTML: a citizen who opens a dead link from an
	// SMS in a phone's browser gets a page, not JSON. It is given no
	// token, so that it cannot tell a wrong one from an expired one.
	NotFound http.Handler
}

// New returns the handler for every endpoint. checks are run by /readyz,
// by name, which answers each "ok" or "failing" (wrap them in Logged to
// log why); links serves /r/{token}; register adds other endpoints, such
// as the providers' callbacks.
func New(g prometheus.Gatherer, checks map[string]Check, links ShortLinks, register ...func(*http.ServeMux)) http.Handler {
	mux := http.NewServeMux()
	for _, r := range register {
		r(mux)
	}
	if clicks := links.Resolve; clicks != nil {
		mux.HandleFunc("GET /r/{token}", func(w http.ResponseWriter, r *http.Request) {
			target, ok, err := clicks(r.Context(), r.PathValue("token"))
			switch {
			case err != nil:
				writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "try again later"})
			case !ok:
				// Caches keep the HTML and the JSON answer apart.
				w.Header().Add("Vary", "Accept")
				if links.NotFound != nil && WantsHTML(r) {
					links.NotFound.ServeHTTP(w, r)
					return
				}
				writeJSON(w, http.StatusNotFound, map[string]string{"error": "unknown link"})
			default:
				// The link is personal, and its token the credential of the
				// page it opens: not cached, not sent on as a referrer.
				w.Header().Set("Cache-Control", "no-store")
				w.Header().Set("Referrer-Policy", "no-referrer")
				// The redirect's body is a line of HTML: it too loads
				// nothing and is framed by no one.
				w.Header().Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
				w.Header().Set("X-Content-Type-Options", "nosniff")
				http.Redirect(w, r, target, http.StatusFound)
			}
		})
	}
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		names := make([]string, 0, len(checks))
		for n := range checks {
			names = append(names, n)
		}
		sort.Strings(names)
		status, code := map[string]string{}, http.StatusOK
		for _, n := range names {
			// The error itself goes to the log (Logged), not to whoever
			// can reach /readyz: it may name hosts, users or files.
			if err := checks[n](ctx); err != nil {
				status[n], code = "failing", http.StatusServiceUnavailable
				continue
			}
			status[n] = "ok"
		}
		writeJSON(w, code, status)
	})
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v) // the client went away: nothing to do
}
