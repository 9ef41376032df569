package wechat

import (
	"strings"
	"unicode"
)

// Field limits in runes, from WeChat's template-message rules (since
// 2023-05-04: every value at most 20 characters, no newlines) and its
// subscribe-message field rules (notify.md §2.3, §2.7). Template messages
// silently cut over-long values; subscribe messages reject them (47003), so
// Fit cuts them first.
var fieldLimits = map[string]int{
	"thing":            20,
	"phrase":           5,
	"character_string": 32,
	"number":           32,
	"letter":           32,
	"symbol":           5,
	"name":             10,
	"car_number":       8,
	"phone_number":     17,
	"amount":           20,
	"time":             20,
	"date":             20,
}

const defaultLimit = 20

// Fit makes value acceptable for a field of the given kind ("thing",
// "amount", … or a keyword such as "thing1", whose trailing digits are
// ignored): newlines and other control characters become single spaces,
// spaces are trimmed, and a value longer than the kind's limit (20 runes for
// unknown kinds) is cut to limit-1 runes and "…". Values that truncation
// would falsify (amount, time, date, number, character_string, phone and car
// numbers) are cut without the ellipsis only as a last resort; keep them
// short at the source.
func Fit(kind, value string) string {
	kind = KindOf(kind)
	var b strings.Builder
	space := false
	for _, r := range value {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	s := b.String()
	limit, ok := fieldLimits[kind]
	if !ok {
		limit = defaultLimit
	}
	rs := []rune(s)
	if len(rs) <= limit {
		return s
	}
	switch kind {
	case "amount", "time", "date", "number", "character_string", "phone_number", "car_number", "letter", "symbol":
		return string(rs[:limit])
	}
	return strings.TrimRightFunc(string(rs[:limit-1]), unicode.IsSpace) + "…"
}

// KindOf returns the field kind of a keyword: "thing1" → "thing",
// "character_string12" → "character_string".
func KindOf(key string) string {
	return strings.TrimRightFunc(key, func(r rune) bool { return r >= '0' && r <= '9' })
}

// FitData applies Fit to every value of data by its keyword, in a new map.
func FitData(data map[string]string) map[string]string {
	out := make(map[string]string, len(data))
	for k, v := range data {
		out[k] = Fit(k, v)
	}
	return out
}
