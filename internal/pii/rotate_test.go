package pii

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
)

// legacySeal seals as the Sealer did before key ids: nonce || ciphertext,
// with aad alone authenticated. It pins the form existing databases hold.
func legacySeal(t *testing.T, key, plain, aad []byte) []byte {
	t.Helper()
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		t.Fatal(err)
	}
	return gcm.Seal(nonce, nonce, plain, aad)
}

// legacyIndex is the blind index as it was stored before key ids.
func legacyIndex(key []byte, kind, value string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("policypush blind index v1"))
	ix := hmac.New(sha256.New, m.Sum(nil))
	ix.Write([]byte(kind + "\x00" + value))
	return ix.Sum(nil)
}

func mustSealer(t *testing.T, current []byte, old ...[]byte) *Sealer {
	t.Helper()
	s, err := NewSealer(current, old...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A value sealed under any held key opens, whichever key is current; Seal
// always uses the current key, and says so in the header.
func TestSealV1RoundTripAcrossKeys(t *testing.T) {
	a, b := testKey(1), testKey(2)
	onlyA, onlyB, bThenA := mustSealer(t, a), mustSealer(t, b), mustSealer(t, b, a)
	plain, aad := []byte(`{"contact.mobile":"13812345678"}`), []byte("resident\x00p1")
	underA, err := onlyA.SealAAD(plain, aad)
	if err != nil {
		t.Fatal(err)
	}
	underB, err := bThenA.SealAAD(plain, aad)
	if err != nil {
		t.Fatal(err)
	}
	if id, ok := SealedKeyID(underB); !ok || id != onlyB.KeyID() || !bThenA.IsCurrent(underB) || bThenA.IsCurrent(underA) {
		t.Errorf("sealed under B carries key id %v (%v), want %v", id, ok, onlyB.KeyID())
	}
	tests := []struct {
		name   string
		s      *Sealer
		sealed []byte
		wantID KeyID
	}{
		{"A's value, A alone", onlyA, underA, onlyA.KeyID()},
		{"A's value, B with A old", bThenA, underA, onlyA.KeyID()},
		{"B's value, B with A old", bThenA, underB, onlyB.KeyID()},
		{"B's value, B alone", onlyB, underB, onlyB.KeyID()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, id, err := tt.s.OpenAADKey(tt.sealed, aad)
			if err != nil || !bytes.Equal(got, plain) || id != tt.wantID {
				t.Errorf("OpenAADKey = %q, %v, %v; want %q, %v", got, id, err, plain, tt.wantID)
			}
		})
	}
}

// Values sealed before key ids existed open with whichever held key sealed
// them, including an old one, and say which.
func TestLegacyFormatOpens(t *testing.T) {
	a, b := testKey(1), testKey(2)
	aad := []byte("resident\x00p1")
	plain := []byte(`{"contact.mobile":"13812345678"}`)
	// Enough values that some begin with the version byte by chance.
	for n := range 600 {
		legacy := legacySeal(t, a, plain, aad)
		got, id, err := mustSealer(t, b, a).OpenAADKey(legacy, aad)
		if err != nil || !bytes.Equal(got, plain) || id != mustSealer(t, a).KeyID() {
			t.Fatalf("legacy value %d (first byte %#x): OpenAADKey = %q, %v, %v", n, legacy[0], got, id, err)
		}
		if _, err := mustSealer(t, b).OpenAAD(legacy, aad); !errors.Is(err, ErrOpen) && !errors.Is(err, ErrUnheldKey) {
			t.Fatalf("legacy value under A opened with B alone: %v", err)
		}
		if _, err := mustSealer(t, a).OpenAAD(legacy, []byte("resident\x00p2")); err == nil {
			t.Fatal("legacy value opened with another subject's aad")
		}
	}
}

// A value under a key not held is refused with an error that names its key
// id, and neither the key nor the value.
func TestUnheldKeyErrorNamesID(t *testing.T) {
	a, b, c := testKey(1), testKey(2), testKey(3)
	sealed, err := mustSealer(t, c).Seal([]byte("13812345678"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = mustSealer(t, b, a).Open(sealed)
	var uk *UnheldKeyError
	if !errors.As(err, &uk) || !errors.Is(err, ErrUnheldKey) || errors.Is(err, ErrOpen) {
		t.Fatalf("Open = %v, want an UnheldKeyError", err)
	}
	want := mustSealer(t, c).KeyID()
	if uk.ID != want || !strings.Contains(err.Error(), want.String()) {
		t.Errorf("error %q names %v, want %v", err, uk.ID, want)
	}
	if strings.Contains(err.Error(), "1381234") || strings.Contains(err.Error(), string(c[:4])) {
		t.Errorf("error %q shows the value or key", err)
	}
	if len(want.String()) != 8 {
		t.Errorf("key id %q is not 8 hex digits", want)
	}
}

// The version byte and the key id are authenticated: a header rewritten to
// name another held key, or another version, does not open.
func TestAADBindsHeader(t *testing.T) {
	a, b := testKey(1), testKey(2)
	s := mustSealer(t, b, a)
	aad := []byte("resident\x00p1")
	sealed, err := s.SealAAD([]byte("13812345678"), aad)
	if err != nil {
		t.Fatal(err)
	}
	idA := mustSealer(t, a).KeyID()
	renamed := bytes.Clone(sealed)
	copy(renamed[1:5], idA[:])
	otherVersion := bytes.Clone(sealed)
	otherVersion[0] = 0x02
	stripped := bytes.Clone(sealed[5:])
	for name, v := range map[string][]byte{"key id of another held key": renamed, "other version": otherVersion, "header stripped": stripped} {
		if _, err := s.OpenAAD(v, aad); !errors.Is(err, ErrOpen) {
			t.Errorf("%s: OpenAAD = %v, want ErrOpen", name, err)
		}
	}
}

// Every key may be given once: a repeated key, as current and old or twice
// as old, is refused without showing it.
func TestNewSealerRefusesRepeatedKeys(t *testing.T) {
	a, b := testKey(1), testKey(2)
	for name, old := range map[string][][]byte{"current again": {a}, "old twice": {b, b}} {
		_, err := NewSealer(a, old...)
		if !errors.Is(err, ErrInvalidKey) {
			t.Errorf("%s: NewSealer = %v, want ErrInvalidKey", name, err)
		}
	}
	if _, err := NewSealer(a, testKey(2)[:31]); !errors.Is(err, ErrInvalidKey) || !strings.Contains(err.Error(), "old key 1") {
		t.Errorf("short old key: NewSealer = %v, want ErrInvalidKey naming old key 1", err)
	}
	s := mustSealer(t, a, b)
	if got := s.OldKeyIDs(); len(got) != 1 || got[0] != mustSealer(t, b).KeyID() || !s.Holds(got[0]) || s.Holds(mustSealer(t, testKey(3)).KeyID()) {
		t.Errorf("OldKeyIDs = %v", got)
	}
}

// Indexes holds the index under every held key, with its key id and in the
// legacy form, so that a look-up finds rows indexed before and during a
// rotation; Index is the current key's alone.
func TestIndexesCoverEveryKey(t *testing.T) {
	a, b := testKey(1), testKey(2)
	s := mustSealer(t, b, a)
	all := s.Indexes("mobile", "13812345678")
	want := [][]byte{
		mustSealer(t, b).Index("mobile", "13812345678"),
		mustSealer(t, a).Index("mobile", "13812345678"),
		legacyIndex(b, "mobile", "13812345678"),
		legacyIndex(a, "mobile", "13812345678"),
	}
	if len(all) != len(want) {
		t.Fatalf("Indexes gives %d values, want %d", len(all), len(want))
	}
	for _, w := range want {
		found := false
		for _, g := range all {
			found = found || bytes.Equal(g, w)
		}
		if !found {
			t.Errorf("Indexes lacks %x", w)
		}
	}
	if !bytes.Equal(s.Index("mobile", "13812345678"), want[0]) {
		t.Error("Index is not the current key's")
	}
	if _, ok := IndexKeyID(want[2]); ok {
		t.Error("a legacy index reads as carrying a key id")
	}
}
