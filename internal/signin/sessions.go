package signin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Session is one officer's sign-in.
type Session struct {
	Identity
	CSRF      string // the token the console's forms carry
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Sessions keeps sessions by the SHA-256 of their cookie's value.
type Sessions interface {
	CreateSession(ctx context.Context, idHash []byte, s Session) error
	// Session returns the session, or an error matching ErrNoSession when
	// there is none or it has expired by now.
	Session(ctx context.Context, idHash []byte, now time.Time) (Session, error)
	DeleteSession(ctx context.Context, idHash []byte) error
}

// ErrNoSession is the error of a session that does not exist or has
// expired.
var ErrNoSession = errors.New("signin: no such session")

// PostgresSessions keeps sessions in the console_sessions table (migration
// 00018), so that every replica knows them.
type PostgresSessions struct {
	pool *pgxpool.Pool
}

// NewPostgresSessions returns sessions kept in pool's database.
func NewPostgresSessions(pool *pgxpool.Pool) *PostgresSessions { return &PostgresSessions{pool: pool} }

// CreateSession stores s, and deletes the sessions that have expired: at
// the rate officers sign in, that keeps the table small without a sweeper.
func (p *PostgresSessions) CreateSession(ctx context.Context, idHash []byte, s Session) error {
	b := &pgx.Batch{}
	b.Queue(`DELETE FROM console_sessions WHERE expires_at < $1`, s.CreatedAt)
	b.Queue(`INSERT INTO console_sessions (id_hash, officer, role, created_at, expires_at, csrf)
		VALUES ($1, $2, $3, $4, $5, $6)`, idHash, s.Name, s.Role, s.CreatedAt, s.ExpiresAt, s.CSRF)
	if err := p.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("create console session: %w", err)
	}
	return nil
}

// Session reads the session of idHash.
func (p *PostgresSessions) Session(ctx context.Context, idHash []byte, now time.Time) (Session, error) {
	var s Session
	err := p.pool.QueryRow(ctx, `SELECT officer, role, csrf, created_at, expires_at
		FROM console_sessions WHERE id_hash = $1 AND expires_at > $2`, idHash, now).
		Scan(&s.Name, &s.Role, &s.CSRF, &s.CreatedAt, &s.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Session{}, ErrNoSession
	}
	if err != nil {
		return Session{}, fmt.Errorf("read console session: %w", err)
	}
	return s, nil
}

// DeleteSession ends the session of idHash; ending one that is gone is no
// error.
func (p *PostgresSessions) DeleteSession(ctx context.Context, idHash []byte) error {
	if _, err := p.pool.Exec(ctx, `DELETE FROM console_sessions WHERE id_hash = $1`, idHash); err != nil {
		return fmt.Errorf("delete console session: %w", err)
	}
	return nil
}

// DeleteOfficerSessions ends every session of the officer name, and returns
// how many there were: call it when an officer's token is revoked, so that
// a session begun with it does not outlive it by up to SessionTTL.
func (p *PostgresSessions) DeleteOfficerSessions(ctx context.Context, name string) (int64, error) {
	tag, err := p.pool.Exec(ctx, `DELETE FROM console_sessions WHERE officer = $1`, name)
	if err != nil {
		return 0, fmt.Errorf("delete console sessions of an officer: %w", err)
	}
	return tag.RowsAffected(), nil
}
