package noticepage

import "net/http"

// NotFound returns the page's answer to an unknown or expired token, the
// one /n/{token} gives, for the short link /r/{token} to give a browser
// too. It takes no token: a wrong and an expired one get the same bytes.
func (p *Page) NotFound() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { p.notFound(w) })
}
