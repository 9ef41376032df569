package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ErrExists is returned for an account whose name is taken.
var ErrExists = errors.New("already exists")

// Officer is an officer's account, without its token's hash, which never
// leaves the store.
type Officer struct {
	Name      string     `json:"name"`
	Role      string     `json:"role"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at"`
}

// AddOfficer makes an account with role whose token hashes to tokenHash,
// and writes its audit row e in the same transaction. A name already taken,
// even by a revoked account, is ErrExists: names are never given again, so
// that the audit log's names keep meaning who they meant.
func (s *Store) AddOfficer(ctx context.Context, name, role string, tokenHash []byte, at time.Time, e AuditEntry) error {
	err := s.audited(ctx, e, func(q querier, _ *AuditEntry) error {
		_, err := q.Exec(ctx, `INSERT INTO officers (name, role, token_hash, created_at) VALUES ($1, $2, $3, $4)`,
			name, role, tokenHash, at)
		return err
	})
	if pe, ok := errors.AsType[*pgconn.PgError](err); ok && pe.Code == "23505" && pe.ConstraintName == "officers_pkey" {
		return fmt.Errorf("officer %q: %w", name, ErrExists)
	}
	if err != nil {
		return fmt.Errorf("add officer: %w", err)
	}
	return nil
}

// ListOfficers returns every account, revoked ones included, by name.
func (s *Store) ListOfficers(ctx context.Context) ([]Officer, error) {
	rows, err := s.pool.Query(ctx, `SELECT name, role, created_at, revoked_at FROM officers ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list officers: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Officer])
	if err != nil {
		return nil, fmt.Errorf("list officers: %w", err)
	}
	return out, nil
}

// RevokeOfficer revokes the account name at at, so that its token is
// refused from then on, and writes its audit row e in the same
// transaction. An unknown or already revoked account is ErrNotFound.
func (s *Store) RevokeOfficer(ctx context.Context, name string, at time.Time, e AuditEntry) error {
	err := s.audited(ctx, e, func(q querier, _ *AuditEntry) error {
		tag, err := q.Exec(ctx, `UPDATE officers SET revoked_at = $2 WHERE name = $1 AND revoked_at IS NULL`, name, at)
		if err == nil && tag.RowsAffected() == 0 {
			return fmt.Errorf("officer %q: %w", name, ErrNotFound)
		}
		if err != nil {
			return err
		}
		// A console session begun with the token must not outlive it.
		_, err = q.Exec(ctx, `DELETE FROM console_sessions WHERE officer = $1`, name)
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return err
	}
	if err != nil {
		return fmt.Errorf("revoke officer: %w", err)
	}
	return nil
}

// OfficerByTokenHash returns the account, not revoked, whose token hashes
// to tokenHash, or ErrNotFound.
func (s *Store) OfficerByTokenHash(ctx context.Context, tokenHash []byte) (Officer, error) {
	rows, err := s.pool.Query(ctx, `SELECT name, role, created_at, revoked_at FROM officers
WHERE token_hash = $1 AND revoked_at IS NULL`, tokenHash)
	if err != nil {
		return Officer{}, fmt.Errorf("officer by token: %w", err)
	}
	o, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[Officer])
	if errors.Is(err, pgx.ErrNoRows) {
		return Officer{}, ErrNotFound
	}
	if err != nil {
		return Officer{}, fmt.Errorf("officer by token: %w", err)
	}
	return o, nil
}
