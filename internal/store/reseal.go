package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/policypush/policypush/internal/pii"
)

// DefaultResealChunk is how many rows a Reseal chunk reads.
const DefaultResealChunk = 500

// ResealOptions tunes Reseal.
type ResealOptions struct {
	Chunk    int                  // rows per chunk; <= 0 means DefaultResealChunk
	Progress func(ResealProgress) // called after each chunk; may be nil
}

// ResealProgress is how far Reseal has gone through one sealed table, over
// every run under the current key (a run resumes where the last stopped).
type ResealProgress struct {
	Table    string // profiles, token_cache
	Scanned  int64  // rows read
	Resealed int64  // rows moved to the current key
	Done     bool
}

// ResealResult is what a finished Reseal found.
type ResealResult struct {
	Tables []ResealProgress
	// Retired are the keys that had been current and that nothing is
	// sealed under any more: CheckKey no longer asks for them.
	Retired []pii.KeyID
}

// resealPasses bounds the passes Reseal makes when rows under an old key
// are still found after one: a writer still sealing under an old key (a
// replica not restarted) would otherwise keep it going for ever.
const resealPasses = 3

// Reseal re-seals every sealed value not under the current key (profiles'
// personal fields with their blind indexes, the provider token cache), so
// that the old keys can be dropped. It runs while the service runs: it goes
// through each table by primary key in chunks, each chunk one transaction
// that takes the subjects' locks as the pipeline does, and writes a row only
// if it still holds the value read (a concurrent write, under the current
// key, wins). Each chunk commits its checkpoint with its rows, so an
// interrupted Reseal resumes where it stopped and seals no row twice; one
// under another current key starts over. When a last check finds nothing
// under an old key it retires those keys (see CheckKey).
func (s *Store) Reseal(ctx context.Context, opt ResealOptions) (ResealResult, error) {
	if s.sealer == nil {
		return ResealResult{}, fmt.Errorf("reseal: %w", errNoSealer)
	}
	if opt.Chunk <= 0 {
		opt.Chunk = DefaultResealChunk
	}
	// The keys held must open what is stored, and the current key must be
	// recorded before it seals.
	if err := s.CheckKey(ctx); err != nil {
		return ResealResult{}, fmt.Errorf("reseal: %w", err)
	}
	tables := []struct {
		name  string
		chunk func(context.Context, checkpoint, int) (checkpoint, error)
	}{
		{"profiles", s.resealProfiles},
		{"token_cache", s.resealTokens},
	}
	var res ResealResult
	for pass := 1; ; pass++ {
		res.Tables = res.Tables[:0]
		for _, t := range tables {
			cp, err := s.loadCheckpoint(ctx, t.name)
			if err != nil {
				return res, err
			}
			for !cp.done {
				if cp, err = retryChunk(ctx, cp, opt.Chunk, t.chunk); err != nil {
					return res, fmt.Errorf("reseal %s: %w", t.name, err)
				}
				if opt.Progress != nil {
					opt.Progress(cp.progress(t.name))
				}
			}
			res.Tables = append(res.Tables, cp.progress(t.name))
		}
		left, err := s.notCurrent(ctx)
		if err != nil {
			return res, err
		}
		if left == 0 {
			break
		}
		if pass == resealPasses {
			return res, fmt.Errorf("reseal: %d rows are still sealed under an older key after %d passes; "+
				"is a replica still running with an old POLICYPUSH_PII_KEY? Restart every replica with the new key and run reseal again", left, pass)
		}
		if _, err := s.pool.Exec(ctx, `DELETE FROM pii_reseal`); err != nil {
			return res, fmt.Errorf("reseal: %w", err)
		}
	}
	retired, err := s.retireOldKeys(ctx)
	if err != nil {
		return res, err
	}
	res.Retired = retired
	return res, nil
}

// checkpoint is where a table's re-sealing stands: after the primary key
// (afterType, afterID), with counts. Before the first row (scanned 0) it
// has no position: "" is a key like any other.
type checkpoint struct {
	afterType, afterID string
	scanned, resealed  int64
	done               bool
}

func (cp checkpoint) progress(table string) ResealProgress {
	return ResealProgress{Table: table, Scanned: cp.scanned, Resealed: cp.resealed, Done: cp.done}
}

// loadCheckpoint reads tbl's checkpoint, or a fresh one when there is none
// or it was left by a run under another current key.
func (s *Store) loadCheckpoint(ctx context.Context, tbl string) (checkpoint, error) {
	var (
		cp checkpoint
		id []byte
	)
	err := s.pool.QueryRow(ctx, `SELECT key_id, after_type, after_id, scanned, resealed, done FROM pii_reseal WHERE tbl = $1`, tbl).
		Scan(&id, &cp.afterType, &cp.afterID, &cp.scanned, &cp.resealed, &cp.done)
	cur := s.sealer.KeyID()
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return checkpoint{}, nil
	case err != nil:
		return checkpoint{}, fmt.Errorf("reseal %s: checkpoint: %w", tbl, err)
	case string(id) != string(cur[:]):
		return checkpoint{}, nil
	}
	return cp, nil
}

func (s *Store) saveCheckpoint(ctx context.Context, tx pgx.Tx, tbl string, cp checkpoint) error {
	cur := s.sealer.KeyID()
	_, err := tx.Exec(ctx, `INSERT INTO pii_reseal (tbl, key_id, after_type, after_id, scanned, resealed, done, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, now())
ON CONFLICT (tbl) DO UPDATE SET key_id = excluded.key_id, after_type = excluded.after_type, after_id = excluded.after_id,
    scanned = excluded.scanned, resealed = excluded.resealed, done = excluded.done, updated_at = excluded.updated_at`,
		tbl, cur[:], cp.afterType, cp.afterID, cp.scanned, cp.resealed, cp.done)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

// retryChunk runs one chunk, again after a deadlock or a serialisation
// failure with a writer: the chunk's transaction rolled back whole.
func retryChunk(ctx context.Context, cp checkpoint, limit int,
	chunk func(context.Context, checkpoint, int) (checkpoint, error)) (checkpoint, error) {
	for attempt := 1; ; attempt++ {
		next, err := chunk(ctx, cp, limit)
		var pgErr *pgconn.PgError
		if err == nil || attempt == 5 || !errors.As(err, &pgErr) || (pgErr.Code != "40P01" && pgErr.Code != "40001") {
			return next, err
		}
	}
}

// resealed is one row to write: its key, the value read, the new one.
type resealed struct {
	key                    SubjectKey
	old, sealed            []byte
	openidHash, mobileHash []byte
}

// resealProfiles re-seals one chunk of profiles after cp.
func (s *Store) resealProfiles(ctx context.Context, cp checkpoint, limit int) (checkpoint, error) {
	rows, err := s.pool.Query(ctx, `SELECT subject_type, subject_id, pii, openid_hash, mobile_hash FROM profiles
WHERE ($4 OR (subject_type, subject_id) > ($1, $2)) AND pii IS NOT NULL
ORDER BY subject_type, subject_id LIMIT $3`, cp.afterType, cp.afterID, limit, cp.scanned == 0)
	if err != nil {
		return cp, err
	}
	var (
		todo []resealed
		n    int
		r    resealed
	)
	cur := s.sealer.KeyID()
	_, err = pgx.ForEachRow(rows, []any{&r.key.Type, &r.key.ID, &r.old, &r.openidHash, &r.mobileHash}, func() error {
		n++
		cp.afterType, cp.afterID = r.key.Type, r.key.ID
		aad := subjectAAD(r.key)
		// Opened even when its header names the current key: a legacy value
		// begins like that once in 2^40, and opening tells for sure.
		plain, id, err := s.sealer.OpenAADKey(r.old, aad)
		if err != nil {
			return fmt.Errorf("profile %s/%s: personal fields: %w", r.key.Type, r.key.ID, err)
		}
		if id == cur && s.indexCurrent(r.openidHash) && s.indexCurrent(r.mobileHash) && s.sealer.IsCurrent(r.old) {
			return nil
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(plain, &fields); err != nil {
			return fmt.Errorf("profile %s/%s: personal fields: %w", r.key.Type, r.key.ID, errBadPersonal)
		}
		sealed, err := s.sealer.SealAAD(plain, aad)
		if err != nil {
			return err
		}
		openid, mobile := s.profileIndexes(fields)
		todo = append(todo, resealed{key: r.key, old: r.old, sealed: sealed, openidHash: openid, mobileHash: mobile})
		return nil
	})
	if err != nil {
		return cp, err
	}
	cp.scanned += int64(n)
	cp.done = n < limit
	err = s.InTx(ctx, func(tx *Tx) error {
		if len(todo) > 0 {
			keys := make([]SubjectKey, len(todo))
			types, ids := make([]string, len(todo)), make([]string, len(todo))
			olds, seals, oh, mh := make([][]byte, len(todo)), make([][]byte, len(todo)), make([][]byte, len(todo)), make([][]byte, len(todo))
			for i, t := range todo {
				keys[i], types[i], ids[i], olds[i], seals[i], oh[i], mh[i] = t.key, t.key.Type, t.key.ID, t.old, t.sealed, t.openidHash, t.mobileHash
			}
			// The pipeline's order of locks, so that the two wait rather
			// than deadlock.
			if err := tx.LockSubjects(ctx, keys); err != nil {
				return err
			}
			tag, err := tx.tx.Exec(ctx, `UPDATE profiles AS p SET pii = u.s, openid_hash = u.oh, mobile_hash = u.mh
FROM unnest($1::text[], $2::text[], $3::bytea[], $4::bytea[], $5::bytea[], $6::bytea[]) AS u(t, i, old, s, oh, mh)
WHERE p.subject_type = u.t AND p.subject_id = u.i AND p.pii = u.old`, types, ids, olds, seals, oh, mh)
			if err != nil {
				return err
			}
			cp.resealed += tag.RowsAffected()
		}
		return s.saveCheckpoint(ctx, tx.tx, "profiles", cp)
	})
	return cp, err
}

// indexCurrent reports whether a stored blind index (nil when absent) is
// under the current key.
func (s *Store) indexCurrent(index []byte) bool {
	if index == nil {
		return true
	}
	id, ok := pii.IndexKeyID(index)
	return ok && id == s.sealer.KeyID()
}

// resealTokens re-seals one chunk of the token cache after cp. Its values
// are bound to their key as associated data (package tokencache).
func (s *Store) resealTokens(ctx context.Context, cp checkpoint, limit int) (checkpoint, error) {
	rows, err := s.pool.Query(ctx, `SELECT key, value FROM token_cache WHERE $3 OR key > $1 ORDER BY key LIMIT $2`, cp.afterID, limit, cp.scanned == 0)
	if err != nil {
		return cp, err
	}
	var (
		keys        []string
		olds, seals [][]byte
		n           int
		key         string
		old         []byte
	)
	cur := s.sealer.KeyID()
	_, err = pgx.ForEachRow(rows, []any{&key, &old}, func() error {
		n++
		cp.afterID = key
		plain, id, err := s.sealer.OpenAADKey(old, []byte(key))
		if err != nil {
			return fmt.Errorf("token %q: %w", key, err)
		}
		if id == cur && s.sealer.IsCurrent(old) {
			return nil
		}
		sealed, err := s.sealer.SealAAD(plain, []byte(key))
		if err != nil {
			return err
		}
		keys, olds, seals = append(keys, key), append(olds, old), append(seals, sealed)
		return nil
	})
	if err != nil {
		return cp, err
	}
	cp.scanned += int64(n)
	cp.done = n < limit
	err = s.InTx(ctx, func(tx *Tx) error {
		if len(keys) > 0 {
			tag, err := tx.tx.Exec(ctx, `UPDATE token_cache AS c SET value = u.s
FROM unnest($1::text[], $2::bytea[], $3::bytea[]) AS u(k, old, s)
WHERE c.key = u.k AND c.value = u.old`, keys, olds, seals)
			if err != nil {
				return err
			}
			cp.resealed += tag.RowsAffected()
		}
		return s.saveCheckpoint(ctx, tx.tx, "token_cache", cp)
	})
	return cp, err
}

// notCurrent counts the sealed values and indexes whose header does not
// name the current key.
func (s *Store) notCurrent(ctx context.Context) (int64, error) {
	cur := s.sealer.KeyID()
	header := append([]byte{0x01}, cur[:]...)
	var n int64
	err := s.pool.QueryRow(ctx, `SELECT
  (SELECT count(*) FROM profiles WHERE pii IS NOT NULL AND (substring(pii FROM 1 FOR 5) <> $1
      OR openid_hash IS NOT NULL AND (length(openid_hash) <> 36 OR substring(openid_hash FROM 1 FOR 4) <> $2)
      OR mobile_hash IS NOT NULL AND (length(mobile_hash) <> 36 OR substring(mobile_hash FROM 1 FOR 4) <> $2)))
+ (SELECT count(*) FROM token_cache WHERE substring(value FROM 1 FOR 5) <> $1)`, header, cur[:]).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("reseal: check: %w", err)
	}
	return n, nil
}

// retireOldKeys records that nothing is sealed under any key but the
// current one, and drops the legacy canary, which an old key sealed.
func (s *Store) retireOldKeys(ctx context.Context) ([]pii.KeyID, error) {
	cur := s.sealer.KeyID()
	var retired []pii.KeyID
	err := s.InTx(ctx, func(tx *Tx) error {
		rows, err := tx.tx.Query(ctx, `UPDATE pii_keys SET retired_at = now() WHERE key_id <> $1 AND retired_at IS NULL RETURNING key_id`, cur[:])
		if err != nil {
			return err
		}
		var raw []byte
		_, err = pgx.ForEachRow(rows, []any{&raw}, func() error {
			var id pii.KeyID
			copy(id[:], raw)
			retired = append(retired, id)
			return nil
		})
		if err != nil {
			return err
		}
		_, err = tx.tx.Exec(ctx, `DELETE FROM pii_canary`)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("reseal: retire old keys: %w", err)
	}
	return retired, nil
}
