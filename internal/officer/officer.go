// Package officer names the officers who use the admin API and the
// console, their roles, and their tokens. It does no I/O: the store keeps
// the accounts, adminapi checks the tokens.
//
// Roles are ordered, each allowing what the one below it allows:
//
//	viewer     the console, funnels, policies, sweeps
//	reviewer   and case decisions, and reading one subject's history
//	publisher  and rule reloads, previews, requeues
//	admin      and accounts, opt-out changes, the audit log
package officer

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
)

// Role is what an officer may do. The zero value is no role and allows
// nothing.
type Role int

// The roles, lowest first.
const (
	Viewer Role = iota + 1
	Reviewer
	Publisher
	Admin
)

var names = [...]string{Viewer: "viewer", Reviewer: "reviewer", Publisher: "publisher", Admin: "admin"}

// Roles lists every role, lowest first.
func Roles() []Role { return []Role{Viewer, Reviewer, Publisher, Admin} }

// ParseRole reads a role's name (viewer, reviewer, publisher, admin).
func ParseRole(s string) (Role, error) {
	for _, r := range Roles() {
		if names[r] == s {
			return r, nil
		}
	}
	return 0, fmt.Errorf("role %q: want viewer, reviewer, publisher or admin", s)
}

// String returns the role's name, as stored and shown.
func (r Role) String() string {
	if r < Viewer || r > Admin {
		return fmt.Sprintf("Role(%d)", int(r))
	}
	return names[r]
}

// Allows reports whether an officer with role r may do what needs role
// need. No role allows anything, and nothing is allowed by no role.
func (r Role) Allows(need Role) bool {
	return r >= Viewer && r <= Admin && need >= Viewer && r >= need
}

// Officer is who is acting: an account's name and its role.
type Officer struct {
	Name string
	Role Role
}

// BootstrapName is the actor name of whoever presents
// POLICYPUSH_ADMIN_TOKEN, the admin that exists before any account does.
// No account may take it, nor CLIName.
const BootstrapName = "admin-token"

// CLIName is the actor name of changes made with the policypush command
// on the server itself.
const CLIName = "cli"

// ValidName checks an account name: 1 to 64 letters, digits and . _ - @,
// so that it prints plainly in the audit log and in a terminal.
func ValidName(name string) error {
	if name == "" || len(name) > 64 {
		return fmt.Errorf("officer name must have 1 to 64 characters")
	}
	for _, c := range name {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("._-@", c)
		if !ok {
			return fmt.Errorf("officer name %q: use only letters, digits and . _ - @", name)
		}
	}
	if name == BootstrapName || name == CLIName {
		return fmt.Errorf("officer name %q is reserved for the audit log", name)
	}
	return nil
}

// TokenPrefix starts every officer token, so that one found in a log, a
// shell history or a secret scanner's hits is recognised for what it is.
const TokenPrefix = "ppo_"

// NewToken returns a fresh token: TokenPrefix and 32 random bytes in
// unpadded URL-safe base64 (printable, no characters a shell or a header
// would mangle).
func NewToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails; it crashes the program instead
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// HashToken is what the store keeps of a token, and what a presented
// token is looked up by. A plain SHA-256 is enough here, unlike for
// passwords: a token carries 256 random bits, so there is no dictionary to
// try and no point in a slow or salted hash; a stolen table of hashes
// gives no token back. Being deterministic, the hash also serves as the
// lookup key, so no comparison of secrets happens in Go at all.
func HashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// LooksLikeToken reports whether s has the form NewToken gives, so that
// other strings are refused without a database round trip.
func LooksLikeToken(s string) bool {
	rest, ok := strings.CutPrefix(s, TokenPrefix)
	if !ok || len(rest) != base64.RawURLEncoding.EncodedLen(32) {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(rest)
	return err == nil
}
