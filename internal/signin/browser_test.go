package signin_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/policypush/policypush/internal/console/browsertest"
	"github.com/policypush/policypush/internal/signin"
)

// TestOIDCSignInBrowser signs in through the provider in Chromium, with the
// provider on another site (localhost against 127.0.0.1), as it is in
// production: the SameSite=Strict session cookie must reach the console
// after the provider's cross-site redirect back.
func TestOIDCSignInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a browser")
	}
	p := newIDP(t)
	p.url = strings.Replace(p.srv.URL, "127.0.0.1", "localhost", 1)
	e := newEnv(t, func(c *signin.Config, base string) {
		c.OIDC = &signin.OIDCConfig{Issuer: p.url, ClientID: clientID, ClientSecret: clientSecret,
			RedirectURL: base + "/console/login/oidc/callback"}
	})

	page := browsertest.Start(t, e.srv.URL+"/", `#oidc`)
	page.Screenshot("login-oidc-375x812", 375, 812)
	page.Screenshot("login-oidc-1280x800", 1280, 800)
	if got := browsertest.Run(page, chromedp.Evaluate[string](`document.getElementById('oidc').textContent`)); got != "通过统一身份认证登录" {
		t.Errorf("the OIDC button says %q", got)
	}
	browsertest.Run(page, chromedp.Steps(
		chromedp.Click(chromedp.CSS("#oidc")),
		chromedp.WaitVisible(chromedp.CSS(`body[data-state="ok"]`)),
	))
	if path := browsertest.Run(page, chromedp.Evaluate[string](`location.pathname`)); path != "/" {
		t.Errorf("after the provider the browser shows %s, want the console", path)
	}
	browsertest.Run(page, chromedp.WaitVisible(chromedp.CSS("#session")))
	if got := page.Texts()["session/name"]; got != "oidc:zhangwei" {
		t.Errorf("signed in as %q, want oidc:zhangwei", got)
	}
	if errs := page.Errors(); len(errs) > 0 {
		t.Errorf("errors in the pages: %q", errs)
	}
}
