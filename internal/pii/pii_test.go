package pii

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, KeySize) }

func TestNewSealer(t *testing.T) {
	tests := []struct {
		name    string
		key     []byte
		wantErr bool
	}{
		{name: "32 bytes", key: testKey(1)},
		{name: "nil", key: nil, wantErr: true},
		{name: "16 bytes", key: make([]byte, 16), wantErr: true},
		{name: "33 bytes", key: make([]byte, 33), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSealer(tt.key)
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Fatalf("NewSealer error = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrInvalidKey) {
				t.Errorf("error %v does not wrap ErrInvalidKey", err)
			}
			if err == nil && s == nil {
				t.Error("nil Sealer without error")
			}
		})
	}
}

func TestSealOpen(t *testing.T) {
	s, err := NewSealer(testKey(1))
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewSealer(testKey(2))
	if err != nil {
		t.Fatal(err)
	}
	plain := []byte(`{"contact.mobile":"13812345678"}`)
	sealed, err := s.Seal(plain)
	if err != nil {
		t.Fatal(err)
	}
	sealedAAD, err := s.SealAAD(plain, []byte("resident\x00p1"))
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte {
		b := bytes.Clone(sealed)
		b[i] ^= 0x01
		return b
	}

	tests := []struct {
		name    string
		open    func() ([]byte, error)
		wantErr error // nil: opens to plain
	}{
		{name: "round trip", open: func() ([]byte, error) { return s.Open(sealed) }},
		{name: "with aad", open: func() ([]byte, error) { return s.OpenAAD(sealedAAD, []byte("resident\x00p1")) }},
		{name: "wrong aad", open: func() ([]byte, error) { return s.OpenAAD(sealedAAD, []byte("resident\x00p2")) }, wantErr: ErrOpen},
		{name: "aad missing", open: func() ([]byte, error) { return s.Open(sealedAAD) }, wantErr: ErrOpen},
		{name: "wrong key", open: func() ([]byte, error) { return other.Open(sealed) }, wantErr: ErrUnheldKey},
		{name: "tampered version", open: func() ([]byte, error) { return s.Open(flip(0)) }, wantErr: ErrOpen},
		{name: "tampered key id", open: func() ([]byte, error) { return s.Open(flip(1)) }, wantErr: ErrUnheldKey},
		{name: "tampered nonce", open: func() ([]byte, error) { return s.Open(flip(5)) }, wantErr: ErrOpen},
		{name: "tampered ciphertext", open: func() ([]byte, error) { return s.Open(flip(17)) }, wantErr: ErrOpen},
		{name: "tampered tag", open: func() ([]byte, error) { return s.Open(flip(len(sealed) - 1)) }, wantErr: ErrOpen},
		{name: "truncated", open: func() ([]byte, error) { return s.Open(sealed[:len(sealed)-1]) }, wantErr: ErrOpen},
		{name: "too short", open: func() ([]byte, error) { return s.Open(sealed[:10]) }, wantErr: ErrOpen},
		{name: "empty", open: func() ([]byte, error) { return s.Open(nil) }, wantErr: ErrOpen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.open()
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Open error = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if !bytes.Equal(got, plain) {
				t.Errorf("Open = %q, want %q", got, plain)
			}
		})
	}
}

func TestSealEmpty(t *testing.T) {
	s, err := NewSealer(testKey(1))
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := s.Seal(nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Open(sealed)
	if err != nil || len(got) != 0 {
		t.Errorf("Open(Seal(nil)) = %q, %v; want empty, nil", got, err)
	}
}

func TestSealIsRandomized(t *testing.T) {
	s, err := NewSealer(testKey(1))
	if err != nil {
		t.Fatal(err)
	}
	plain := []byte("13812345678")
	a, err := s.Seal(plain)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Seal(plain)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a, b) || bytes.Equal(a[5:17], b[5:17]) {
		t.Error("two seals of one value share a nonce")
	}
	if bytes.Contains(a, plain) {
		t.Error("sealed output contains the plaintext")
	}
	if want := 1 + 4 + 12 + len(plain) + 16; len(a) != want {
		t.Errorf("len(sealed) = %d, want %d", len(a), want)
	}
}

func TestParseKey(t *testing.T) {
	key := bytes.Repeat([]byte{0xfb, 0xef, 0xbe}, 11)[:KeySize] // base64 uses + and /
	padded := base64.StdEncoding.EncodeToString(key)
	raw := base64.RawStdEncoding.EncodeToString(key)
	short := base64.StdEncoding.EncodeToString(key[:16])
	long := base64.StdEncoding.EncodeToString(append(bytes.Clone(key), 0))
	urlSafe := base64.URLEncoding.EncodeToString(key)

	tests := []struct {
		name    string
		give    string
		wantErr bool
	}{
		{name: "padded", give: padded},
		{name: "unpadded", give: raw},
		{name: "surrounding white space", give: " " + padded + "\n"},
		{name: "empty", give: "", wantErr: true},
		{name: "16 bytes", give: short, wantErr: true},
		{name: "33 bytes", give: long, wantErr: true},
		{name: "url alphabet", give: urlSafe, wantErr: true},
		{name: "not base64", give: "this is not base64 at all!!", wantErr: true},
		{name: "bad padding", give: raw + "==", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseKey(tt.give)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidKey) {
					t.Fatalf("ParseKey error = %v, want ErrInvalidKey", err)
				}
				if trimmed := strings.TrimSpace(tt.give); trimmed != "" && strings.Contains(err.Error(), trimmed) {
					t.Errorf("error %q contains the key", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseKey: %v", err)
			}
			if !bytes.Equal(got, key) {
				t.Errorf("ParseKey = %x, want %x", got, key)
			}
		})
	}
}

func TestMaskMobile(t *testing.T) {
	tests := []struct{ give, want string }{
		{give: "13812345678", want: "138****5678"},
		{give: "15900001111", want: "159****1111"},
		{give: "+8613812345678", want: "+86****5678"},
		{give: "1381234567", want: "****"},
		{give: "", want: "****"},
		{give: "123", want: "****"},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			if got := MaskMobile(tt.give); got != tt.want {
				t.Errorf("MaskMobile(%q) = %q, want %q", tt.give, got, tt.want)
			}
		})
	}
}

func TestMaskOpenID(t *testing.T) {
	tests := []struct{ give, want string }{
		{give: "oABCD1234567890abcdefghijklm", want: "oABC****jklm"},
		{give: "abcd1234efgh", want: "abcd****efgh"},
		{give: "abcd123efgh", want: "****"},
		{give: "short", want: "****"},
		{give: "", want: "****"},
		{give: "微信用户标识一二三四五六", want: "微信用户****三四五六"},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			if got := MaskOpenID(tt.give); got != tt.want {
				t.Errorf("MaskOpenID(%q) = %q, want %q", tt.give, got, tt.want)
			}
		})
	}
}

func TestIndex(t *testing.T) {
	s1, _ := NewSealer(testKey(1))
	s2, _ := NewSealer(testKey(2))
	base := s1.Index("mobile", "13812345678")
	tests := []struct {
		name      string
		got       []byte
		wantEqual bool
	}{
		{name: "same key, kind and value", got: s1.Index("mobile", "13812345678"), wantEqual: true},
		{name: "other value", got: s1.Index("mobile", "13812345679")},
		{name: "other kind", got: s1.Index("openid", "13812345678")},
		{name: "other key", got: s2.Index("mobile", "13812345678")},
		{name: "kind and value not concatenated", got: s1.Index("mobile1", "3812345678")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if eq := bytes.Equal(base, tt.got); eq != tt.wantEqual {
				t.Errorf("equal = %v, want %v", eq, tt.wantEqual)
			}
		})
	}
	if id, ok := IndexKeyID(base); len(base) != 36 || !ok || id != s1.KeyID() {
		t.Errorf("index is %d bytes with key id %v, want 36 beginning with %v", len(base), id, s1.KeyID())
	}
	if bytes.Contains(base, testKey(1)[:8]) || bytes.Contains(base, []byte("1381234")) {
		t.Error("index contains key or value bytes")
	}
}
