package store

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/policypush/policypush/internal/pii"
)

func sealerOf(t *testing.T, b byte) *pii.Sealer {
	t.Helper()
	s, err := pii.NewSealer(bytes.Repeat([]byte{b}, pii.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func migratedWith(t *testing.T, url string, sealer *pii.Sealer) *Store {
	t.Helper()
	s, err := Open(t.Context(), url, sealer)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return s
}

// A key other than the one the database was first served with is refused,
// whether the database holds a canary or only sealed profiles.
func TestCheckKey(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, url string) // with key A
		wantErr bool
	}{
		{"empty database, no canary yet", func(*testing.T, string) {}, false},
		{"canary of key A", func(t *testing.T, url string) {
			if err := migratedWith(t, url, sealerOf(t, 'A')).CheckKey(t.Context()); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"profiles sealed with key A, no canary", func(t *testing.T, url string) {
			s := migratedWith(t, url, sealerOf(t, 'A'))
			inTx(t, s, func(tx *Tx) error {
				_, err := tx.Save(t.Context(), &Batch{Profiles: []Profile{{Key: SubjectKey{"resident", "p1"},
					Data: []byte(`{"person_id":"p1","contact":{"mobile":"13800138000"}}`), Version: 1}}})
				return err
			})
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := freshDB(t)
			tt.prepare(t, url)
			b := migratedWith(t, url, sealerOf(t, 'B'))
			err := b.CheckKey(t.Context())
			if tt.wantErr != errors.Is(err, ErrWrongKey) || (!tt.wantErr && err != nil) {
				t.Fatalf("CheckKey with key B = %v, want wrong key: %v", err, tt.wantErr)
			}
			if tt.wantErr {
				// The refusal leaves the database as it was: key A still opens it.
				if err := migratedWith(t, url, sealerOf(t, 'A')).CheckKey(context.Background()); err != nil {
					t.Errorf("CheckKey with key A after B was refused = %v", err)
				}
				return
			}
			// Key B's canary now stands: B passes again, A is refused.
			if err := b.CheckKey(t.Context()); err != nil {
				t.Errorf("second CheckKey with key B = %v", err)
			}
			if err := migratedWith(t, url, sealerOf(t, 'A')).CheckKey(t.Context()); !errors.Is(err, ErrWrongKey) {
				t.Errorf("CheckKey with key A after B = %v, want ErrWrongKey", err)
			}
		})
	}
}

// A KeyWatch sees what happens to the keys after start, as CheckKey would
// at a restart: a key recorded by another replica and not held, the key it
// seals under retired by Reseal, and a recorded canary its key does not
// open, even after it opened the one recorded before.
func TestKeyWatch(t *testing.T) {
	url := freshDB(t)
	ctx := t.Context()
	start := func(s *Store) *KeyWatch {
		t.Helper()
		if err := s.CheckKey(ctx); err != nil {
			t.Fatal(err)
		}
		return s.WatchKeys()
	}
	a := migratedWith(t, url, sealerFor(t, keyA))
	onlyA := start(a)
	aThenB := start(migratedWith(t, url, sealerFor(t, keyA, keyB)))
	for name, w := range map[string]*KeyWatch{"A": onlyA, "A, B old": aThenB} {
		if err := w.Check(ctx); err != nil {
			t.Fatalf("watch of %s before the rotation = %v", name, err)
		}
	}

	b := migratedWith(t, url, sealerFor(t, keyB, keyA))
	bThenA := start(b) // records B
	var uk *UnheldKeyError
	if err := onlyA.Check(ctx); !errors.As(err, &uk) || uk.ID != idOf(t, keyB) || !errors.Is(err, ErrWrongKey) {
		t.Errorf("watch of A alone once B is recorded = %v, want key id %s unheld", err, idOf(t, keyB))
	}
	if err := aThenB.Check(ctx); err != nil {
		t.Errorf("watch of A with B old once B is recorded = %v", err)
	}

	if _, err := b.Reseal(ctx, ResealOptions{}); err != nil { // retires A
		t.Fatal(err)
	}
	var rk *RetiredKeyError
	if err := aThenB.Check(ctx); !errors.As(err, &rk) || rk.ID != idOf(t, keyA) ||
		len(rk.InUse) != 1 || rk.InUse[0] != idOf(t, keyB) || !strings.Contains(err.Error(), idOf(t, keyB).String()) {
		t.Errorf("watch of A with B old once A is retired = %v, want A retired, B in use", err)
	}
	if err := bThenA.Check(ctx); err != nil {
		t.Errorf("watch of B once A is retired = %v", err)
	}

	// B's canary is replaced by one sealed under A: it opens, but not as B.
	forged, err := sealerFor(t, keyA).SealAAD(canaryPlain, canaryAAD)
	if err != nil {
		t.Fatal(err)
	}
	idB := idOf(t, keyB)
	if _, err := b.pool.Exec(ctx, `UPDATE pii_keys SET canary = $1 WHERE key_id = $2`, forged, idB[:]); err != nil {
		t.Fatal(err)
	}
	if err := bThenA.Check(ctx); !errors.Is(err, ErrWrongKey) || errors.As(err, &uk) {
		t.Errorf("watch of B with a canary it does not open = %v, want %v", err, ErrWrongKey)
	}
}
