// Package store keeps everything the pipeline needs in PostgreSQL: profiles
// (personal fields sealed with a pii.Sealer), source watermarks, applied
// event ids, matches and the notification outbox.
//
// Work happens in transactions (Store.InTx). Every Tx method takes a whole
// batch and makes one round trip, so that a transaction over ~500 events
// costs a handful of round trips. The schema is embedded and applied with
// goose (Store.Migrate).
//
// The dispatcher claims due outbox rows and records each attempt through
// the methods of outbox.go. Pruning old rows is future work.
package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/policypush/policypush/internal/pii"
)

// Store is a pool of PostgreSQL connections. It is safe for concurrent use.
type Store struct {
	pool   *pgxpool.Pool
	sealer *pii.Sealer

	personal      map[string]*pathTree // personal fields per subject type
	personalOther *pathTree            // for a subject type not listed

	forms *formCache // explanation forms known to be committed
}

// Open connects to the database at url (a postgres:// URL or a key=value
// string; pool settings such as pool_max_conns go in it) and checks that it
// answers. sealer encrypts personal fields; a store opened without one
// (to migrate) refuses to read or write personal fields.
func Open(ctx context.Context, url string, sealer *pii.Sealer) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's parse errors redact the password.
		return nil, fmt.Errorf("open store: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open store: ping: %w", err)
	}
	byType, other := personalTrees()
	return &Store{pool: pool, sealer: sealer, personal: byType, personalOther: other, forms: newFormCache()}, nil
}

// Sealer returns the sealer personal fields are sealed with, nil for a
// store opened without one; other sealed state (provider tokens) uses it.
func (s *Store) Sealer() *pii.Sealer { return s.sealer }

// Close closes every connection. It waits for connections in use to be
// released.
func (s *Store) Close() { s.pool.Close() }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping store: %w", err)
	}
	return nil
}

// Pool returns the underlying pool, for tests and for queries this package
// does not offer yet.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// InTx runs fn in a transaction. It commits if fn returns nil, and rolls
// back if fn returns an error or panics (the panic then continues). fn must
// not keep tx after it returns.
func (s *Store) InTx(ctx context.Context, fn func(tx *Tx) error) (err error) {
	ptx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		// After a commit this is a no-op. Otherwise fn failed or panicked,
		// perhaps because ctx ended, so roll back regardless of ctx.
		rerr := ptx.Rollback(context.WithoutCancel(ctx))
		if err != nil && rerr != nil && !errors.Is(rerr, pgx.ErrTxClosed) {
			err = errors.Join(err, fmt.Errorf("rollback: %w", rerr))
		}
	}()
	tx := &Tx{tx: ptx, s: s}
	if err := fn(tx); err != nil {
		return err
	}
	if err := ptx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	s.forms.add(tx.forms)
	return nil
}

// OutboxPending returns the number of outbox rows waiting to be sent.
func (s *Store) OutboxPending(ctx context.Context) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE status = 'pending'`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count pending outbox: %w", err)
	}
	return n, nil
}

// ProfilesAfter returns up to limit profiles of one subject type whose ids
// sort after afterID (use "" to start), in id order, with their personal
// fields merged back. It is the read a backfill makes, chunk by chunk: the
// primary key serves it, and the last id returned is the checkpoint.
func (s *Store) ProfilesAfter(ctx context.Context, subjectType, afterID string, limit int) ([]Profile, error) {
	rows, err := s.pool.Query(ctx, `SELECT subject_id, data, pii, version FROM profiles
		WHERE subject_type = $1 AND subject_id > $2 ORDER BY subject_id LIMIT $3`, subjectType, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("read profiles: %w", err)
	}
	var (
		out    []Profile
		p      Profile
		sealed []byte
	)
	p.Key.Type = subjectType
	_, err = pgx.ForEachRow(rows, []any{&p.Key.ID, &p.Data, &sealed, &p.Version}, func() error {
		data, err := s.unsealProfile(p.Key, p.Data, sealed)
		if err != nil {
			return err
		}
		out = append(out, Profile{Key: p.Key, Data: data, Version: p.Version})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read profiles: %w", err)
	}
	return out, nil
}
