package gen

import (
	"fmt"
	"testing"
)

func TestCheckCharacters(t *testing.T) {
	t.Parallel()
	// Published codes of real firms, and the example of GB 32100.
	tests := []struct {
		code  string
		valid bool
	}{
		{"91330100799655058B", true},
		{"914403001922038216", true},
		{"91440300708461136T", true},
		{"91350100M000100Y43", true},
		{"91330100799655058C", false}, // wrong check character
		{"91330100799655068B", false}, // wrong organisation check
		{"91330106MA2B000041", false}, // a fixture's made-up code
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			b := []byte(tt.code)
			got := orgCheck(b[8:16]) == b[16] && usccCheck(b[:17]) == b[17]
			if got != tt.valid {
				t.Errorf("valid %v, want %v", got, tt.valid)
			}
		})
	}
}

func TestUSCCIsValid(t *testing.T) {
	t.Parallel()
	for _, body := range []uint64{0, 1, 30, 31, 12345678, usccSpace - 1} {
		s := uscc("92", "330106", body)
		b := []byte(s)
		if len(s) != 18 || s[:10] != "92330106MA" || orgCheck(b[8:16]) != b[16] || usccCheck(b[:17]) != b[17] {
			t.Errorf("body %d: %s is not a valid code", body, s)
		}
	}
}

func TestPermuteIsABijection(t *testing.T) {
	t.Parallel()
	for _, n := range []uint64{1, 2, 7, 1000, 31 * 31 * 31, 1 << 16} {
		for _, key := range []uint64{0, 1, splitmix(42)} {
			t.Run(fmt.Sprintf("n=%d/key=%x", n, key), func(t *testing.T) {
				seen := make([]bool, n)
				moved := 0
				for i := range n {
					x := permute(i, n, key)
					if x >= n || seen[x] {
						t.Fatalf("permute(%d) = %d: out of range or repeated", i, x)
					}
					seen[x] = true
					if x != i {
						moved++
					}
				}
				if n >= 1000 && moved < int(n)*9/10 {
					t.Errorf("only %d of %d values moved: not much of a shuffle", moved, n)
				}
			})
		}
	}
}
