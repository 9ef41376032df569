package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// ErrWrongKey reports a PII key that does not open the personal data the
// database holds. Errors that wrap it name no key material and no data.
var ErrWrongKey = errors.New("the key does not open the personal data this database holds, which was sealed under another key")

// The canary's plain text and associated data; they are not secret.
var (
	canaryPlain = []byte("policypush pii canary v1")
	canaryAAD   = []byte("pii_canary")
)

// CheckKey checks that the store's sealer opens what the database holds,
// so that a wrong key is refused at start rather than found by every batch
// that reads a profile. It opens the canary sealed on the first check; a
// database without one (served before the canary existed, or never) has one
// of its sealed profiles opened instead, and then gets its canary. A store
// without a sealer has nothing to check. The database must be migrated.
func (s *Store) CheckKey(ctx context.Context) error {
	if s.sealer == nil {
		return nil
	}
	var sealed []byte
	err := s.pool.QueryRow(ctx, `SELECT sealed FROM pii_canary WHERE id = 1`).Scan(&sealed)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		if err := s.checkOneProfile(ctx); err != nil {
			return err
		}
		fresh, err := s.sealer.SealAAD(canaryPlain, canaryAAD)
		if err != nil {
			return fmt.Errorf("check pii key: %w", err)
		}
		// Another replica may be first; then its canary is the one checked.
		err = s.pool.QueryRow(ctx, `
INSERT INTO pii_canary (id, sealed) VALUES (1, $1)
ON CONFLICT (id) DO UPDATE SET id = pii_canary.id
RETURNING sealed`, fresh).Scan(&sealed)
		if err != nil {
			return fmt.Errorf("check pii key: store the canary: %w", err)
		}
	case err != nil:
		return fmt.Errorf("check pii key: %w", err)
	}
	plain, err := s.sealer.OpenAAD(sealed, canaryAAD)
	if err != nil || string(plain) != string(canaryPlain) {
		return fmt.Errorf("check pii key: %w", ErrWrongKey)
	}
	return nil
}

// checkOneProfile opens the personal fields of one profile, if any.
func (s *Store) checkOneProfile(ctx context.Context) error {
	var k SubjectKey
	var sealed []byte
	err := s.pool.QueryRow(ctx, `SELECT subject_type, subject_id, pii FROM profiles WHERE pii IS NOT NULL LIMIT 1`).
		Scan(&k.Type, &k.ID, &sealed)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("check pii key: %w", err)
	}
	if _, err := s.sealer.OpenAAD(sealed, subjectAAD(k)); err != nil {
		return fmt.Errorf("check pii key: %w", ErrWrongKey)
	}
	return nil
}
