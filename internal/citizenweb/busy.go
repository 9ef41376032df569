package citizenweb

import (
	"bytes"
	"net/http"
)

// busyCSP lets the page load the shared stylesheet and icon, and nothing
// else.
const busyCSP = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'none'; " +
	"frame-ancestors 'none'; base-uri 'none'"

// TooManyRequests returns the page a citizen's browser gets when the
// public rate limit refuses it (429) — say, on /r/{token} or /n/{token}
// opened from an SMS: in the site's frame, in plain words, try again in a
// minute or call the hotline. It writes the status and its own headers;
// Retry-After is the caller's. The page is rendered once, here, so that
// answering a flood costs nothing but the write.
func TooManyRequests() http.Handler {
	t, err := Parse("busy", nil, assetFS, "assets/busy.html")
	if err != nil {
		panic("citizenweb: " + err.Error()) // an embedded template: a build error, not a runtime one
	}
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, "busy", map[string]string{"Title": "访问过于频繁"}); err != nil {
		panic("citizenweb: the busy page: " + err.Error())
	}
	body := b.Bytes()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Security-Policy", busyCSP)
		w.WriteHeader(http.StatusTooManyRequests)
		if r.Method != http.MethodHead {
			_, _ = w.Write(body) // the client went away: nothing to do
		}
	})
}
