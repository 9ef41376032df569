package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/policypush/policypush/internal/pii"
)

// ErrWrongKey reports a PII key that does not open the personal data the
// database holds. Errors that wrap it name no key material and no data.
var ErrWrongKey = errors.New("the key does not open the personal data this database holds, which was sealed under another key")

// UnheldKeyError reports personal data sealed under a key, known by its id,
// that the store's sealer does not hold. It matches ErrWrongKey.
type UnheldKeyError struct{ ID pii.KeyID }

func (e *UnheldKeyError) Error() string {
	return "stored personal data is sealed with key id " + e.ID.String() + ", which this service does not hold"
}

// Is lets errors.Is(err, ErrWrongKey) match.
func (e *UnheldKeyError) Is(target error) bool { return target == ErrWrongKey }

// The canary's plain text and associated data; they are not secret.
var (
	canaryPlain = []byte("policypush pii canary v1")
	canaryAAD   = []byte("pii_canary")
)

// CheckKey checks that the store's sealer holds every key the database's
// personal data may be sealed under, so that a missing key is refused at
// start, by its id, rather than found by every batch that reads a profile.
//
// The keys that have been current are recorded in pii_keys with a canary
// each; every one not retired (by Reseal) must be held and open its canary.
// That reads a handful of rows, never the profiles. A database sealed
// before key ids has a legacy canary (pii_canary), or, older still, only
// its profiles, one of which is opened instead; the key that opens it is
// recorded. Last, the current key is recorded, since it is about to seal.
// A refusal changes nothing. A store without a sealer has nothing to check.
// The database must be migrated.
func (s *Store) CheckKey(ctx context.Context) error {
	if s.sealer == nil {
		return nil
	}
	registered, err := s.checkRegistered(ctx)
	if err != nil {
		return fmt.Errorf("check pii key: %w", err)
	}
	found := map[pii.KeyID]bool{}
	var legacy []byte
	err = s.pool.QueryRow(ctx, `SELECT sealed FROM pii_canary WHERE id = 1`).Scan(&legacy)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		if len(registered) == 0 {
			id, ok, err := s.checkOneProfile(ctx)
			if err != nil {
				return fmt.Errorf("check pii key: %w", err)
			}
			if ok {
				found[id] = true
			}
		}
	case err != nil:
		return fmt.Errorf("check pii key: %w", err)
	default:
		plain, id, err := s.sealer.OpenAADKey(legacy, canaryAAD)
		if err != nil || string(plain) != string(canaryPlain) {
			return fmt.Errorf("check pii key: %w", openFailure(err))
		}
		found[id] = true
	}
	for id := range found {
		if !registered[id] {
			if err := s.registerKey(ctx, id, false); err != nil {
				return err
			}
		}
	}
	return s.registerKey(ctx, s.sealer.KeyID(), true)
}

// checkRegistered checks every key recorded and not retired, and returns
// their ids.
func (s *Store) checkRegistered(ctx context.Context) (map[pii.KeyID]bool, error) {
	rows, err := s.pool.Query(ctx, `SELECT key_id, canary FROM pii_keys WHERE retired_at IS NULL ORDER BY registered_at`)
	if err != nil {
		return nil, err
	}
	type reg struct{ id, canary []byte }
	var (
		regs []reg
		r    reg
	)
	_, err = pgx.ForEachRow(rows, []any{&r.id, &r.canary}, func() error {
		regs = append(regs, reg{id: r.id, canary: r.canary})
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make(map[pii.KeyID]bool, len(regs))
	for _, r := range regs {
		var id pii.KeyID
		copy(id[:], r.id)
		if !s.sealer.Holds(id) {
			return nil, &UnheldKeyError{ID: id}
		}
		if err := openCanary(s.sealer, id, r.canary); err != nil {
			return nil, err
		}
		out[id] = true
	}
	return out, nil
}

// openCanary checks that the held key id opens the canary recorded for it.
func openCanary(sealer *pii.Sealer, id pii.KeyID, canary []byte) error {
	plain, opened, err := sealer.OpenAADKey(canary, canaryAAD)
	if err != nil || opened != id || string(plain) != string(canaryPlain) {
		// A key with the id is held, yet it is not the key recorded.
		return fmt.Errorf("key id %s: %w", id, ErrWrongKey)
	}
	return nil
}

// registerKey records the held key id with a canary sealed under it. The
// current key is about to seal, so a retirement of it is taken back.
func (s *Store) registerKey(ctx context.Context, id pii.KeyID, current bool) error {
	under, ok := s.sealer.Under(id)
	if !ok {
		return fmt.Errorf("check pii key: register key id %s: %w", id, &UnheldKeyError{ID: id})
	}
	canary, err := under.SealAAD(canaryPlain, canaryAAD)
	if err != nil {
		return fmt.Errorf("check pii key: %w", err)
	}
	q := `INSERT INTO pii_keys (key_id, canary) VALUES ($1, $2) ON CONFLICT (key_id) DO NOTHING`
	if current {
		q = `INSERT INTO pii_keys (key_id, canary) VALUES ($1, $2)
ON CONFLICT (key_id) DO UPDATE SET retired_at = NULL WHERE pii_keys.retired_at IS NOT NULL`
	}
	if _, err := s.pool.Exec(ctx, q, id[:], canary); err != nil {
		return fmt.Errorf("check pii key: register key id %s: %w", id, err)
	}
	return nil
}

// checkOneProfile opens the personal fields of one profile, if any, and
// reports the key that sealed them.
func (s *Store) checkOneProfile(ctx context.Context) (pii.KeyID, bool, error) {
	var k SubjectKey
	var sealed []byte
	err := s.pool.QueryRow(ctx, `SELECT subject_type, subject_id, pii FROM profiles WHERE pii IS NOT NULL LIMIT 1`).
		Scan(&k.Type, &k.ID, &sealed)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return pii.KeyID{}, false, nil
	case err != nil:
		return pii.KeyID{}, false, err
	}
	_, id, err := s.sealer.OpenAADKey(sealed, subjectAAD(k))
	if err != nil {
		return pii.KeyID{}, false, openFailure(err)
	}
	return id, true, nil
}

// openFailure is the refusal for a value that did not open: by key id when
// it names one, else the wrong key.
func openFailure(err error) error {
	var uk *pii.UnheldKeyError
	if errors.As(err, &uk) {
		return &UnheldKeyError{ID: uk.ID}
	}
	return ErrWrongKey
}

// RetiredKeyError reports that the key a service seals under was retired
// by Reseal while it ran: the other replicas seal under another key, and
// once the retired one leaves their POLICYPUSH_PII_KEYS they cannot open
// what this service writes.
type RetiredKeyError struct {
	ID    pii.KeyID
	InUse []pii.KeyID // the keys recorded and not retired
}

func (e *RetiredKeyError) Error() string {
	ids := make([]string, len(e.InUse))
	for i, id := range e.InUse {
		ids[i] = "key id " + id.String()
	}
	return "key id " + e.ID.String() + ", which this service seals under, was retired by reseal; in use: " + strings.Join(ids, ", ")
}

// KeyWatch repeats, for a running service, what CheckKey found at start:
// that the keys held cover every key recorded and not retired. Another
// replica can record a new current key, or Reseal retire this one's, at
// any time after start; a watch sees it. It reads pii_keys, a handful of
// rows, and opens a key's canary only the first time it sees it, so a
// check costs one small query and no decryption.
type KeyWatch struct {
	s      *Store
	mu     sync.Mutex
	opened map[pii.KeyID]string // canaries known to open, by key id
}

// WatchKeys returns a watch over the store's keys.
func (s *Store) WatchKeys() *KeyWatch {
	return &KeyWatch{s: s, opened: map[pii.KeyID]string{}}
}

// Check returns an UnheldKeyError for a key recorded, not retired and not
// held, an error matching ErrWrongKey for a held key id whose canary does
// not open, and a RetiredKeyError when the current key was retired. A
// store without a sealer has nothing to check.
func (w *KeyWatch) Check(ctx context.Context) error {
	sealer := w.s.sealer
	if sealer == nil {
		return nil
	}
	rows, err := w.s.pool.Query(ctx, `SELECT key_id, canary, retired_at IS NOT NULL FROM pii_keys ORDER BY registered_at`)
	if err != nil {
		return fmt.Errorf("watch pii keys: %w", err)
	}
	var (
		rawID, canary []byte
		retired       bool
		curRetired    bool
		inUse         []pii.KeyID
	)
	w.mu.Lock()
	defer w.mu.Unlock()
	_, err = pgx.ForEachRow(rows, []any{&rawID, &canary, &retired}, func() error {
		var id pii.KeyID
		copy(id[:], rawID)
		switch {
		case retired:
			curRetired = curRetired || id == sealer.KeyID()
			return nil
		}
		inUse = append(inUse, id)
		switch {
		case !sealer.Holds(id):
			return &UnheldKeyError{ID: id}
		case w.opened[id] == string(canary):
			return nil
		}
		if err := openCanary(sealer, id, canary); err != nil {
			return err
		}
		w.opened[id] = string(canary)
		return nil
	})
	if err != nil {
		return fmt.Errorf("watch pii keys: %w", err)
	}
	if curRetired {
		return &RetiredKeyError{ID: sealer.KeyID(), InUse: inUse}
	}
	return nil
}
