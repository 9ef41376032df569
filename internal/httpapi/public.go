package httpapi

import (
	"net/http"
	"path"
	"strings"
)

// publicRoots are the routes the internet must reach: short links, the
// providers' callbacks, and the citizens' and public pages (CONTRACTS §6–§9).
// A root covers itself and everything under it. Everything else — /metrics,
// /healthz, /readyz, /api, the console — is internal.
var publicRoots = []string{
	"/r", "/n", "/public", "/policies", "/check", "/consultations",
	"/wechat/callback", "/sms/callback",
}

// callbackRoots are the public routes that providers, not citizens, call.
var callbackRoots = []string{"/wechat/callback", "/sms/callback"}

// Public reports whether the internet must reach path: with
// POLICYPUSH_PUBLIC_ADDR set, such a route is served on the public
// listener alone and every other route on the internal one alone. The path
// is cleaned first, as the router cleans it, so that /r/../api is not
// taken for a short link.
func Public(p string) bool { return under(p, publicRoots) }

// Callback reports whether path is a provider's callback.
func Callback(p string) bool { return under(p, callbackRoots) }

func under(p string, roots []string) bool {
	p = path.Clean("/" + p)
	for _, r := range roots {
		if p == r || strings.HasPrefix(p, r+"/") {
			return true
		}
	}
	return false
}

// Only serves through h the requests on one side of the split — the public
// routes if public is true, the internal ones otherwise — and answers the
// others 404 as the router answers a path it does not know, so that the
// public listener does not even reveal that /metrics or /api exist.
func Only(h http.Handler, public bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if Public(r.URL.Path) != public {
			http.NotFound(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}
