package gen

import (
	"encoding/base64"
	"encoding/binary"
	"math/bits"
)

// Identifiers are derived from a subject's index by keyed permutations, not
// drawn at random: that makes them unique by construction (no set of ids
// seen so far, no retry), and lets a resident name its employer, enterprise
// j, without generating it.

// splitmix is SplitMix64's finaliser: a fast, well-mixing bijection on
// 64-bit words, used to turn the seed and indices into keys.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// mixBits is a keyed bijection on the integers below 2^n (n >= 1): xor
// with a key, multiplication by an odd number and a right xorshift each
// permute them.
func mixBits(x, key uint64, n int) uint64 {
	mask := uint64(1)<<n - 1
	x = (x ^ key) & mask
	x = x * 0x9e3779b97f4a7c15 & mask
	x ^= x >> (n/2 + 1)
	x = x * 0xbf58476d1ce4e5b9 & mask
	x ^= x >> (n/2 + 1)
	x = (x ^ key>>32) * 0x94d049bb133111eb & mask
	return x ^ x>>(n/3+1)
}

// permute maps i < n to a unique value below n. It walks i's cycle of
// mixBits on the smallest power of two at or above n until the value falls
// below n ("cycle walking"), which is a bijection on [0, n).
func permute(i, n, key uint64) uint64 {
	width := bits.Len64(n - 1)
	if width == 0 {
		return 0
	}
	x := i
	for {
		x = mixBits(x, key, width)
		if x < n {
			return x
		}
	}
}

// Key tweaks, so that each kind of identifier uses its own permutation.
// The values are fixed: changing one changes every city generated.
const (
	tweakPerson  = 1
	tweakUSCC    = 2
	tweakMobile  = 3
	tweakOpenID  = 4
	tweakSubject = 5
)

func (g *generator) keyFor(tweak uint64) uint64 { return splitmix(g.key ^ tweak<<56) }

// personID is "p_" and 8 hex digits, like CONTRACTS.md's p_7f3a9c01 (a
// keyed hash of the ID number in production). Indices below 2^31 are the
// sample's residents; those above name people outside it (new hires).
func (g *generator) personID(i uint64) string {
	var b [10]byte
	copy(b[:], "p_")
	x := permute(i, 1<<32, g.keyFor(tweakPerson))
	const hex = "0123456789abcdef"
	for k := 9; k >= 2; k-- {
		b[k] = hex[x&0xf]
		x >>= 4
	}
	return string(b[:])
}

// usccChars is the alphabet of GB 32100-2015: digits and capitals without
// I, O, S, V and Z.
const usccChars = "0123456789ABCDEFGHJKLMNPQRTUWXY"

// usccSpace is the number of organisation-code bodies "MA" + 6 characters
// (the shape of codes issued since 2015, e.g. 91330106MA2B000041).
const usccSpace = 31 * 31 * 31 * 31 * 31 * 31

// uscc builds a valid 统一社会信用代码: registration authority and kind
// (prefix, "91" enterprise, "92" individual business), the 6-digit region,
// the 9-character organisation code (GB 11714 check character) and the
// GB 32100 check character. body < usccSpace picks the organisation code.
func uscc(prefix, region string, body uint64) string {
	var b [18]byte
	copy(b[0:2], prefix)
	copy(b[2:8], region)
	b[8], b[9] = 'M', 'A'
	for k := 15; k >= 10; k-- {
		b[k] = usccChars[body%31]
		body /= 31
	}
	b[16] = orgCheck(b[8:16])
	b[17] = usccCheck(b[:17])
	return string(b[:])
}

// orgCheck is the GB 11714 check character of an organisation code's 8
// characters: weights 3 7 9 10 5 8 4 2 on the values 0-9, A=10 … Z=35.
func orgCheck(s []byte) byte {
	weights := [8]int{3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for k, c := range s {
		v := int(c - '0')
		if c >= 'A' {
			v = int(c-'A') + 10
		}
		sum += v * weights[k]
	}
	switch c := 11 - sum%11; c {
	case 10:
		return 'X'
	case 11:
		return '0'
	default:
		return byte('0' + c)
	}
}

// usccCheck is the GB 32100 check character of the first 17 characters:
// weights 3^k mod 31 on the characters' positions in usccChars.
func usccCheck(s []byte) byte {
	sum, w := 0, 1
	for _, c := range s {
		v := 0
		for v < len(usccChars) && usccChars[v] != c {
			v++
		}
		sum += v * w
		w = w * 3 % 31
	}
	return usccChars[(31-sum%31)%31]
}

// enterpriseUSCC is the code of the sample's enterprise j; its region
// comes from the code's own hash, so that anyone can compute it from j.
func (g *generator) enterpriseUSCC(j int) string {
	h := splitmix(g.keyFor(tweakSubject) ^ uint64(j))
	region := g.t.districts[pickHashed(h, g.t.districtWeights)].code
	return uscc("91", region, permute(uint64(j), usccSpace, g.keyFor(tweakUSCC)))
}

// pickHashed picks an index with the given cumulative weights from a hash.
func pickHashed(h uint64, cum []float64) int { return pickCum(float64(h>>11)/(1<<53), cum) }

// pickCum picks an index with the given cumulative weights; x is uniform
// in [0, 1).
func pickCum(x float64, cum []float64) int {
	x *= cum[len(cum)-1]
	for k, c := range cum {
		if x < c {
			return k
		}
	}
	return len(cum) - 1
}

// Mobiles are unique across the whole run: slot 3i is resident i's, slots
// 3j+1 and 3j+2 enterprise j's HR and legal representative's. The 8
// digits after the operator prefix are a permutation of the slot.
func (g *generator) mobile(slot uint64) string {
	prefix := g.t.mobilePrefixes[g.r.IntN(len(g.t.mobilePrefixes))]
	var b [11]byte
	copy(b[:3], prefix)
	x := permute(slot, 100_000_000, g.keyFor(tweakMobile))
	for k := 10; k >= 3; k-- {
		b[k] = byte('0' + x%10)
		x /= 10
	}
	return string(b[:])
}

// openID is shaped like a WeChat official-account openid: "o" and 27
// URL-safe base64 characters.
func (g *generator) openID(kind, i uint64) string {
	var raw [21]byte
	k := g.keyFor(tweakOpenID)
	binary.LittleEndian.PutUint64(raw[0:], splitmix(k^kind<<48^i))
	binary.LittleEndian.PutUint64(raw[8:], splitmix(k^kind<<48^i^1<<40))
	binary.LittleEndian.PutUint64(raw[13:], splitmix(k^kind<<48^i^2<<40))
	return "o" + base64.RawURLEncoding.EncodeToString(raw[:])[:27]
}
