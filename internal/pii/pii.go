// Package pii encrypts personal information at rest and masks it for logs.
//
// A Sealer encrypts with AES-256-GCM; the sealed form is a random 12-byte
// nonce followed by the ciphertext and its 16-byte tag. Masking is for
// display only: a masked value cannot be reversed. Key management (rotation,
// a KMS) is out of scope; the key comes from POLICYPUSH_PII_KEY.
package pii

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the length in bytes of an AES-256 key.
const KeySize = 32

// ErrInvalidKey reports a key of the wrong length or encoding. Errors that
// wrap it never contain the key material.
var ErrInvalidKey = errors.New("invalid pii key")

// ErrOpen reports sealed data that does not authenticate: it was tampered
// with, truncated, sealed under another key or with other associated data.
var ErrOpen = errors.New("pii: message authentication failed")

// Sealer encrypts and decrypts small values, and computes blind indexes of
// them. It is safe for concurrent use.
type Sealer struct {
	aead     cipher.AEAD
	indexKey []byte // derived from the key; never the key itself
}

// NewSealer returns a Sealer for a 32-byte AES-256 key.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrInvalidKey, len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("pii cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("pii gcm: %w", err)
	}
	// The index key is derived, so that an index value reveals nothing
	// about the encryption key and the two cannot be confused.
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("policypush blind index v1"))
	return &Sealer{aead: aead, indexKey: mac.Sum(nil)}, nil
}

// Index returns a blind index of value: a keyed hash (HMAC-SHA-256) that
// finds a sealed value by equality without decrypting every row, and that
// cannot be reversed or computed without the key. kind separates the
// indexes of different fields ("openid", "mobile"), so equal values of two
// kinds do not collide.
func (s *Sealer) Index(kind, value string) []byte {
	mac := hmac.New(sha256.New, s.indexKey)
	mac.Write([]byte(kind))
	mac.Write([]byte{0})
	mac.Write([]byte(value))
	return mac.Sum(nil)
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
	ns := s.aead.NonceSize()
	out := make([]byte, ns, ns+len(plain)+s.aead.Overhead())
	if _, err := rand.Read(out); err != nil {
		return nil, fmt.Errorf("pii nonce: %w", err)
	}
	return s.aead.Seal(out, out, plain, aad), nil
}

// OpenAAD is Open for data sealed with SealAAD.
func (s *Sealer) OpenAAD(sealed, aad []byte) ([]byte, error) {
	ns := s.aead.NonceSize()
	if len(sealed) < ns+s.aead.Overhead() {
		return nil, fmt.Errorf("%w: %d bytes is too short", ErrOpen, len(sealed))
	}
	plain, err := s.aead.Open(nil, sealed[:ns], sealed[ns:], aad)
	if err != nil {
		// The cipher's own error says no more than ours; keep one sentinel.
		return nil, ErrOpen
	}
	return plain, nil
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
