package adminapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"

	"github.com/policypush/policypush/internal/officer"
	"github.com/policypush/policypush/internal/store"
)

// ErrUnauthenticated is Authenticate's answer to a token that is not the
// admin token nor an account's, or whose account is revoked.
var ErrUnauthenticated = errors.New("unknown or revoked token")

// OfficerLookup finds the account, not revoked, of a token's hash;
// *store.Store implements it.
type OfficerLookup interface {
	OfficerByTokenHash(ctx context.Context, tokenHash []byte) (store.Officer, error)
}

// Authenticator tells who presents a token: an officer by their account,
// or the bootstrap admin by POLICYPUSH_ADMIN_TOKEN. The API uses it for
// every request; the console uses the same one for its sign-in.
type Authenticator struct {
	officers OfficerLookup
	admin    [sha256.Size]byte // compared by hash, so the comparison takes the same time whatever the length
}

// NewAuthenticator returns an Authenticator. adminToken must not be
// empty: an API without one would be open to anyone who reaches the port.
func NewAuthenticator(officers OfficerLookup, adminToken string) (*Authenticator, error) {
	if adminToken == "" {
		return nil, errors.New("adminapi: the admin token is required")
	}
	return &Authenticator{officers: officers, admin: sha256.Sum256([]byte(adminToken))}, nil
}

// Authenticate returns the officer whose token this is:
// officer.BootstrapName with role admin for the admin token, else the
// account whose token hashes to it. A token that is neither, or whose
// account is revoked, is ErrUnauthenticated; any other error is the
// store's (the database is down) and is no verdict on the token.
//
// An account's token is looked up by its SHA-256, so the time the look-up
// takes tells nothing about how close a guess came: the guess's hash,
// not the guess, is what the index compares.
func (a *Authenticator) Authenticate(ctx context.Context, token string) (officer.Officer, error) {
	sum := sha256.Sum256([]byte(token))
	if subtle.ConstantTimeCompare(sum[:], a.admin[:]) == 1 {
		return officer.Officer{Name: officer.BootstrapName, Role: officer.Admin}, nil
	}
	if !officer.LooksLikeToken(token) {
		return officer.Officer{}, ErrUnauthenticated
	}
	o, err := a.officers.OfficerByTokenHash(ctx, officer.HashToken(token))
	if errors.Is(err, store.ErrNotFound) {
		return officer.Officer{}, ErrUnauthenticated
	}
	if err != nil {
		return officer.Officer{}, fmt.Errorf("authenticate: %w", err)
	}
	role, err := officer.ParseRole(o.Role)
	if err != nil {
		return officer.Officer{}, fmt.Errorf("authenticate: account %q: %w", o.Name, err)
	}
	return officer.Officer{Name: o.Name, Role: role}, nil
}
