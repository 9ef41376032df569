package app

import (
	"log/slog"
	"net/url"
	"time"

	"github.com/policypush/policypush/internal/config"
	"github.com/policypush/policypush/internal/signin"
	"github.com/policypush/policypush/internal/store"
)

// newConsoleSignIn returns the console's sign-in. For now the one token it
// takes is the bootstrap admin token; officers' own tokens come with their
// accounts.
func newConsoleSignIn(cfg *config.Config, st *store.Store, log *slog.Logger, now func() time.Time) (*signin.Service, error) {
	u, err := url.Parse(cfg.ConsoleURL)
	if err != nil {
		return nil, err // validated by config: not reached
	}
	sc := signin.Config{
		Verifier: signin.NewTokenVerifier(cfg.AdminToken.Value(), signin.Identity{Name: "admin-token", Role: "admin"}),
		Sessions: signin.NewPostgresSessions(st.Pool()),
		// Officers who reach the console over HTTPS (through a proxy
		// that ends TLS, as a rule) get Secure cookies.
		Secure: u.Scheme == "https",
		Log:    log,
		Now:    now,
	}
	if cfg.OIDCEnabled() {
		sc.OIDC = &signin.OIDCConfig{
			Issuer: cfg.OIDCIssuer, ClientID: cfg.OIDCClientID, ClientSecret: cfg.OIDCClientSecret.Value(),
			RedirectURL: cfg.ConsoleURL + config.OIDCCallbackPath, RoleClaim: cfg.OIDCRoleClaim,
		}
	}
	return signin.New(sc)
}
