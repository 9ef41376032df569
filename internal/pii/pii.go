// Package pii encrypts personal information at rest and masks it for logs.
//
// A Sealer encrypts with AES-256-GCM under a current key, and opens what any
// key it holds sealed: the current one and old ones kept for reading while
// the data is re-sealed (key rotation). The sealed form is
//
//	0x01 || key id (4 bytes) || nonce (12 bytes) || ciphertext and tag (16 bytes)
//
// with the version byte and key id authenticated as associated data. Values
// sealed before key ids existed (the legacy form, nonce || ciphertext) still
// open: every held key is tried. A key id is the first 4 bytes of
// HMAC-SHA-256(key, "policypush key id v1"): printable, never the key, and
// telling nothing about it.
//
// Blind indexes are keyed per key too, and carry the key id as a prefix, so
// that a look-up during a rotation can ask for the index under every held
// key at once (Indexes).
//
// Masking is for display only: a masked value cannot be reversed.
package pii

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the length in bytes of an AES-256 key.
const KeySize = 32

// IDSize is the length in bytes of a key id.
const IDSize = 4

// version1 is the first byte of a value sealed with a key id.
const version1 = 0x01

// headerSize is the version byte and the key id.
const headerSize = 1 + IDSize

// ErrInvalidKey reports a key of the wrong length or encoding. Errors that
// wrap it never contain the key material.
var ErrInvalidKey = errors.New("invalid pii key")

// ErrOpen reports sealed data that does not authenticate: it was tampered
// with, truncated, sealed under another key or with other associated data.
var ErrOpen = errors.New("pii: message authentication failed")

// ErrUnheldKey is matched by *UnheldKeyError.
var ErrUnheldKey = errors.New("pii: sealed under a key this sealer does not hold")

// UnheldKeyError reports a value sealed under a key id the Sealer holds no
// key for. It is a configuration problem (the key is missing from the
// service's keys), not damaged data, so it does not match ErrOpen.
type UnheldKeyError struct{ ID KeyID }

func (e *UnheldKeyError) Error() string {
	return "pii: sealed under key id " + e.ID.String() + ", which this sealer does not hold"
}

// Is lets errors.Is(err, ErrUnheldKey) match.
func (e *UnheldKeyError) Is(target error) bool { return target == ErrUnheldKey }

// KeyID names a key without revealing it.
type KeyID [IDSize]byte

// String is the id in hex, as messages print it.
func (id KeyID) String() string { return hex.EncodeToString(id[:]) }

// keyIDOf derives the id of key.
func keyIDOf(key []byte) KeyID {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("policypush key id v1"))
	var id KeyID
	copy(id[:], mac.Sum(nil))
	return id
}

// key is one key with what is derived from it.
type key struct {
	id       KeyID
	aead     cipher.AEAD
	indexKey []byte // derived from the key; never the key itself
}

func newKey(k []byte) (*key, error) {
	if len(k) != KeySize {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrInvalidKey, len(k), KeySize)
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, fmt.Errorf("pii cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("pii gcm: %w", err)
	}
	// The index key is derived, so that an index value reveals nothing
	// about the encryption key and the two cannot be confused.
	mac := hmac.New(sha256.New, k)
	mac.Write([]byte("policypush blind index v1"))
	return &key{id: keyIDOf(k), aead: aead, indexKey: mac.Sum(nil)}, nil
}

// Sealer encrypts and decrypts small values, and computes blind indexes of
// them. It seals under its current key and opens under any key it holds.
// It is safe for concurrent use.
type Sealer struct {
	keys []*key // the current key first, then the old ones in the order given
}

// NewSealer returns a Sealer that seals under current and opens what
// current or any of old sealed. Each key is 32 bytes (AES-256); the old
// keys are for reading only, while `policypush reseal` moves the data to
// current. A key given twice, or two keys with the same id, are refused.
func NewSealer(current []byte, old ...[]byte) (*Sealer, error) {
	s := &Sealer{}
	for n, k := range append([][]byte{current}, old...) {
		kk, err := newKey(k)
		if err != nil {
			if n > 0 {
				return nil, fmt.Errorf("old key %d: %w", n, err)
			}
			return nil, err
		}
		for m, prev := range s.keys {
			if prev.id == kk.id {
				return nil, fmt.Errorf("%w: key %d and key %d are the same (key id %s); the first is the current key", ErrInvalidKey, m, n, kk.id)
			}
		}
		s.keys = append(s.keys, kk)
	}
	return s, nil
}

// KeyID is the id of the current key, the one Seal uses.
func (s *Sealer) KeyID() KeyID { return s.keys[0].id }

// OldKeyIDs are the ids of the keys held for reading only.
func (s *Sealer) OldKeyIDs() []KeyID {
	ids := make([]KeyID, 0, len(s.keys)-1)
	for _, k := range s.keys[1:] {
		ids = append(ids, k.id)
	}
	return ids
}

// Holds reports whether the Sealer holds the key with id.
func (s *Sealer) Holds(id KeyID) bool { return s.byID(id) != nil }

func (s *Sealer) byID(id KeyID) *key {
	for _, k := range s.keys {
		if k.id == id {
			return k
		}
	}
	return nil
}

// Under returns a Sealer whose current key is the held key with id, and
// false when none is held. It seals under an old key, for what records a
// key (its canary), never for data.
func (s *Sealer) Under(id KeyID) (*Sealer, bool) {
	k := s.byID(id)
	if k == nil {
		return nil, false
	}
	return &Sealer{keys: []*key{k}}, true
}

// Index returns the blind index of value under the current key: the key id
// followed by a keyed hash (HMAC-SHA-256) that finds a sealed value by
// equality without decrypting every row, and that cannot be reversed or
// computed without the key. kind separates the indexes of different fields
// ("openid", "mobile"), so equal values of two kinds do not collide. It is
// what is stored.
func (s *Sealer) Index(kind, value string) []byte {
	k := s.keys[0]
	return append(k.id[:], k.mac(kind, value)...)
}

// Indexes returns every form the blind index of value may be stored in
// while keys rotate: under each held key, with its key id and in the legacy
// form without one (indexes written before key ids existed). A look-up
// matches any of them.
func (s *Sealer) Indexes(kind, value string) [][]byte {
	out := make([][]byte, 0, 2*len(s.keys))
	for _, k := range s.keys {
		m := k.mac(kind, value)
		out = append(out, append(k.id[:], m...), m)
	}
	return out
}

func (k *key) mac(kind, value string) []byte {
	mac := hmac.New(sha256.New, k.indexKey)
	mac.Write([]byte(kind))
	mac.Write([]byte{0})
	mac.Write([]byte(value))
	return mac.Sum(nil)
}

// IndexKeyID reports the key id an index computed by Index carries; false
// for an index in the legacy form.
func IndexKeyID(index []byte) (KeyID, bool) {
	var id KeyID
	if len(index) != IDSize+sha256.Size {
		return id, false
	}
	copy(id[:], index)
	return id, true
}

// Seal encrypts plain. Each call uses a fresh random nonce, so sealing the
// same value twice gives different outputs.
func (s *Sealer) Seal(plain []byte) ([]byte, error) { return s.SealAAD(plain, nil) }

// Open decrypts what Seal produced and verifies that it is unchanged.
func (s *Sealer) Open(sealed []byte) ([]byte, error) { return s.OpenAAD(sealed, nil) }

// SealAAD is Seal with associated data: aad is authenticated but not
// encrypted, and OpenAAD must be given the same aad. Binding a ciphertext to
// its row (say, the subject it belongs to) stops it being copied to another.
func (s *Sealer) SealAAD(plain, aad []byte) ([]byte, error) {
	k := s.keys[0]
	ns := k.aead.NonceSize()
	out := make([]byte, headerSize+ns, headerSize+ns+len(plain)+k.aead.Overhead())
	out[0] = version1
	copy(out[1:headerSize], k.id[:])
	if _, err := rand.Read(out[headerSize:]); err != nil {
		return nil, fmt.Errorf("pii nonce: %w", err)
	}
	return k.aead.Seal(out, out[headerSize:], plain, headerAAD(out[:headerSize], aad)), nil
}

// headerAAD is what the cipher authenticates: the header, which has a fixed
// length, then the caller's associated data.
func headerAAD(header, aad []byte) []byte {
	return append(append(make([]byte, 0, len(header)+len(aad)), header...), aad...)
}

// OpenAAD is Open for data sealed with SealAAD. A value under a key id the
// Sealer does not hold fails with an *UnheldKeyError naming the id.
func (s *Sealer) OpenAAD(sealed, aad []byte) ([]byte, error) {
	plain, _, err := s.OpenAADKey(sealed, aad)
	return plain, err
}

// OpenAADKey is OpenAAD that also says which key opened the value, which
// for a value in the legacy form is known only once it opens.
func (s *Sealer) OpenAADKey(sealed, aad []byte) ([]byte, KeyID, error) {
	id, tagged := SealedKeyID(sealed)
	if tagged {
		if k := s.byID(id); k != nil {
			plain, err := k.aead.Open(nil, sealed[headerSize:headerSize+k.aead.NonceSize()],
				sealed[headerSize+k.aead.NonceSize():], headerAAD(sealed[:headerSize], aad))
			if err != nil {
				// The cipher's own error says no more than ours; keep one sentinel.
				return nil, id, ErrOpen
			}
			return plain, id, nil
		}
	}
	// The legacy form: a random nonce first, which begins like a header
	// once in 256 values, so a header naming no held key is tried as
	// legacy too before it is reported.
	ns := s.keys[0].aead.NonceSize()
	if len(sealed) < ns+s.keys[0].aead.Overhead() {
		return nil, KeyID{}, fmt.Errorf("%w: %d bytes is too short", ErrOpen, len(sealed))
	}
	for _, k := range s.keys {
		if plain, err := k.aead.Open(nil, sealed[:ns], sealed[ns:], aad); err == nil {
			return plain, k.id, nil
		}
	}
	if tagged {
		return nil, id, &UnheldKeyError{ID: id}
	}
	return nil, KeyID{}, ErrOpen
}

// SealedKeyID reports the key id a sealed value carries; false for a value
// too short to carry one or in the legacy form. A legacy value begins with
// the version byte once in 256, so true is a claim that opening checks.
func SealedKeyID(sealed []byte) (KeyID, bool) {
	var id KeyID
	if len(sealed) < headerSize+12+16 || sealed[0] != version1 {
		return id, false
	}
	copy(id[:], sealed[1:headerSize])
	return id, true
}

// IsCurrent reports whether sealed carries the current key's id, so that
// re-sealing it would change nothing.
func (s *Sealer) IsCurrent(sealed []byte) bool {
	id, ok := SealedKeyID(sealed)
	return ok && id == s.keys[0].id
}

// ParseKey decodes a base64 key (standard alphabet, padded or not, with
// surrounding white space ignored) and checks that it is 32 bytes long.
func ParseKey(b64 string) ([]byte, error) {
	b64 = strings.TrimSpace(b64)
	if b64 == "" {
		return nil, fmt.Errorf("%w: empty", ErrInvalidKey)
	}
	enc := base64.StdEncoding
	if !strings.HasSuffix(b64, "=") {
		enc = base64.RawStdEncoding
	}
	key, err := enc.DecodeString(b64)
	if err != nil {
		// The decoder's error names an offset only, but say less still.
		return nil, fmt.Errorf("%w: not standard base64", ErrInvalidKey)
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("%w: decodes to %d bytes, want %d", ErrInvalidKey, len(key), KeySize)
	}
	return key, nil
}

// MaskMobile masks a phone number for logs: the first 3 and last 4
// characters stay, so 13812345678 becomes 138****5678. A value too short to
// hide at least four characters becomes "****".
func MaskMobile(m string) string { return mask(m, 3, 4) }

// MaskOpenID masks a WeChat openid for logs: the first 4 and last 4
// characters stay. A value too short to hide at least four characters
// becomes "****".
func MaskOpenID(id string) string { return mask(id, 4, 4) }

// mask keeps head and tail runes of s and replaces the rest by "****", or
// returns "****" alone when fewer than four runes would be hidden.
func mask(s string, head, tail int) string {
	const stars = "****"
	r := []rune(s)
	if len(r)-head-tail < len(stars) {
		return stars
	}
	return string(r[:head]) + stars + string(r[len(r)-tail:])
}
