package store

import (
	"bytes"
	"context"
	"errors"
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
