package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Meaning is the meaning hash of one policy version.
type Meaning struct {
	PolicyID string
	Version  int
	Hash     string
}

// RecordMeanings records the hash of each policy version that has none
// yet, and returns, with the hash recorded for them, the versions whose
// recorded hash differs from ms. When any differs nothing is recorded, so
// that a refused rule set leaves no trace of its other policies.
func (s *Store) RecordMeanings(ctx context.Context, ms []Meaning) ([]Meaning, error) {
	ids := make([]string, len(ms))
	versions := make([]int32, len(ms))
	hashes := make([]string, len(ms))
	for i, m := range ms {
		ids[i], versions[i], hashes[i] = m.PolicyID, int32(m.Version), m.Hash
	}
	const input = `WITH input AS (SELECT * FROM unnest($1::text[], $2::int[], $3::text[]) AS t(policy_id, version, hash)) `
	var changed []Meaning
	differing := func(tx *Tx) error {
		rows, err := tx.tx.Query(ctx, input+`SELECT m.policy_id, m.version, m.hash FROM policy_meanings m
JOIN input i ON i.policy_id = m.policy_id AND i.version = m.version
WHERE m.hash <> i.hash ORDER BY m.policy_id, m.version`, ids, versions, hashes)
		if err != nil {
			return err
		}
		changed, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (Meaning, error) {
			var m Meaning
			err := row.Scan(&m.PolicyID, &m.Version, &m.Hash)
			return m, err
		})
		return err
	}
	errChanged := errors.New("meanings changed")
	err := s.InTx(ctx, func(tx *Tx) error {
		if err := differing(tx); err != nil || len(changed) > 0 {
			return err
		}
		if _, err := tx.tx.Exec(ctx, input+`INSERT INTO policy_meanings (policy_id, version, hash)
SELECT policy_id, version, hash FROM input ON CONFLICT DO NOTHING`, ids, versions, hashes); err != nil {
			return err
		}
		// A replica that published the same version with another
		// meaning at the same moment committed first; this statement's
		// snapshot sees it.
		if err := differing(tx); err != nil {
			return err
		}
		if len(changed) > 0 {
			return errChanged // roll back what was inserted
		}
		return nil
	})
	if errors.Is(err, errChanged) {
		err = nil
	}
	if err != nil {
		return nil, fmt.Errorf("record policy meanings: %w", err)
	}
	return changed, nil
}
