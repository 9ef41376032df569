package wechat

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/silenceper/wechat/v2/util"
)

// How requests reach APIBase.
//
// silenceper sends every request (the stable-token fetch included) through
// the package global util.DefaultHTTPClient, after the optional global
// util.SetURIModifier. Neither is per account, so neither can carry a
// per-Client API base or HTTP client, and SetURIModifier cannot be undone
// safely while other goroutines send.
//
// Instead, the first New installs, once, a router as util.DefaultHTTPClient.
// Client.Send puts the Client in the request context; the router finds it
// there, rewrites the request's scheme, host and path prefix to the Client's
// APIBase and sends it with the Client's own *http.Client (its Timeout,
// Transport and proxy settings apply). Requests made without a Client in the
// context (other silenceper users in the process) go, unchanged, through the
// client that was installed before. util.SetURIModifier is never called.

type ctxKey struct{}

var (
	installOnce sync.Once
	router      *http.Client
)

func installRouter() {
	installOnce.Do(func() {
		prev := util.DefaultHTTPClient
		if prev == nil {
			prev = http.DefaultClient
		}
		router = &http.Client{
			Transport: routeTransport{fallback: prev},
			// The inner client has followed redirects already.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
		util.DefaultHTTPClient = router
	})
}

// routerInstalled reports whether util.DefaultHTTPClient is still our router
// (somebody may have replaced it, e.g. with wechat.SetHTTPClient).
func routerInstalled() bool { return util.DefaultHTTPClient == router }

type routeTransport struct{ fallback *http.Client }

func (t routeTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	target := t.fallback
	out := r.Clone(r.Context())
	if c, ok := r.Context().Value(ctxKey{}).(*Client); ok {
		target = c.hc
		u := *r.URL
		u.Scheme, u.Host = c.base.Scheme, c.base.Host
		u.Path = c.base.Path + r.URL.Path
		if r.URL.RawPath != "" {
			u.RawPath = c.base.Path + r.URL.RawPath
		}
		out.URL = &u
		out.Host = ""
	}
	out.RequestURI = ""
	resp, err := target.Do(out)
	if err != nil {
		// The outer client wraps it in a *url.Error again; don't repeat it.
		var ue *url.Error
		if errors.As(err, &ue) {
			return nil, ue.Err
		}
		return nil, err
	}
	return resp, nil
}

// parseBase validates an API base URL; the result has no trailing slash.
func parseBase(raw string) (*url.URL, error) {
	if raw == "" {
		raw = DefaultAPIBase
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("wechat: APIBase must be an http(s) URL such as https://api.weixin.qq.com")
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}
