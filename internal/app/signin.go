package app

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"time"

	"github.com/policypush/policypush/internal/adminapi"
	"github.com/policypush/policypush/internal/config"
	"github.com/policypush/policypush/internal/officer"
	"github.com/policypush/policypush/internal/signin"
	"github.com/policypush/policypush/internal/store"
)

// officers signs the console in with the same tokens as the API: an
// officer's own, or the bootstrap admin token.
type officers struct {
	auth interface {
		Authenticate(ctx context.Context, token string) (officer.Officer, error)
	}
}

func (o officers) Verify(ctx context.Context, token string) (signin.Identity, error) {
	who, err := o.auth.Authenticate(ctx, token)
	if errors.Is(err, adminapi.ErrUnauthenticated) {
		return signin.Identity{}, signin.ErrUnknown
	}
	if err != nil {
		return signin.Identity{}, err
	}
	return signin.Identity{Name: who.Name, Role: who.Role.String()}, nil
}

// newConsoleSignIn returns the console's sign-in, which takes the tokens
// verify knows. Revoking an officer deletes their sessions (the store does
// it in the revoking transaction).
func newConsoleSignIn(cfg *config.Config, st *store.Store, verify signin.Verifier, log *slog.Logger, now func() time.Time) (*signin.Service, error) {
	u, err := url.Parse(cfg.ConsoleURL)
	if err != nil {
		return nil, err // validated by config: not reached
	}
	sc := signin.Config{
		Verifier: verify,
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
