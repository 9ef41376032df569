package store

import (
	"context"
	"fmt"
)

// FirstSeenNonce remembers a WeChat callback's (timestamp, nonce) and
// reports whether it is new. Within tx, the memory commits with what the
// callback recorded, so a callback that failed and is retried is new
// again; a concurrent callback with the same pair waits for tx and then
// sees it.
func (tx *Tx) FirstSeenNonce(ctx context.Context, timestamp int64, nonce string) (bool, error) {
	tag, err := tx.tx.Exec(ctx, `INSERT INTO callback_nonces (ts, nonce) VALUES ($1, $2) ON CONFLICT DO NOTHING`, timestamp, nonce)
	if err != nil {
		return false, fmt.Errorf("remember callback nonce: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// ForgetNonces deletes the remembered pairs whose timestamp is before
// before (Unix seconds), and returns how many there were.
func (s *Store) ForgetNonces(ctx context.Context, before int64) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM callback_nonces WHERE ts < $1`, before)
	if err != nil {
		return 0, fmt.Errorf("forget callback nonces: %w", err)
	}
	return tag.RowsAffected(), nil
}
