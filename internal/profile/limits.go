package profile

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Bounds of what the store can hold and the service believes. An event
// beyond them is refused, to the dead-letter queue, before it reaches the
// database: there a single one would fail its whole batch.
const (
	// MaxDepth is the deepest nesting of objects and arrays in a message,
	// the envelope's own object counting as 1; events the schemas allow
	// nest 4 deep.
	MaxDepth = 32
	// MaxSafeInteger bounds every number of a profile, integer or not: the
	// range a float64, and so every JSON reader, holds exactly.
	MaxSafeInteger = 1<<53 - 1
	// MaxAhead is how far an occurred_at may be ahead of the service's
	// clock. Believed, a later one would make every later event of its
	// subject from its source stale.
	MaxAhead = 24 * time.Hour
)

// scanRaw checks a JSON text for what decoding would silently change or
// PostgreSQL would refuse: bytes that are not UTF-8 (decoding replaces them
// with U+FFFD), the escape \u0000 (jsonb and text refuse NUL), a lone UTF-16
// surrogate escape (decoding replaces it with U+FFFD) and nesting deeper
// than MaxDepth. It returns one problem, or "", and whether a string holds
// NUL: that is reported by the caller, which can say where (nulProblem).
// Malformed JSON is left to the decoder.
func scanRaw(raw []byte) (problem string, nul bool) {
	if !utf8.Valid(raw) {
		return fmt.Sprintf("at byte %d: not UTF-8", invalidUTF8At(raw)), false
	}
	depth, inString := 0, false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if !inString {
			switch c {
			case '"':
				inString = true
			case '{', '[':
				if depth++; depth > MaxDepth {
					return fmt.Sprintf("at byte %d: nested deeper than %d", i, MaxDepth), nul
				}
			case '}', ']':
				depth--
			}
			continue
		}
		switch c {
		case '"':
			inString = false
		case '\\':
			if i+1 < len(raw) && raw[i+1] != 'u' {
				i++ // a one-character escape
				continue
			}
			r, ok := hex4(raw, i+2)
			if !ok {
				continue // malformed; the decoder says so
			}
			switch {
			case r == 0:
				nul = true
			case r >= 0xD800 && r <= 0xDBFF:
				if i+7 < len(raw) && raw[i+6] == '\\' && raw[i+7] == 'u' {
					if lo, ok := hex4(raw, i+8); ok && lo >= 0xDC00 && lo <= 0xDFFF {
						i += 11
						continue
					}
				}
				return fmt.Sprintf("at byte %d: a lone UTF-16 surrogate \\u%04x", i, r), nul
			case r >= 0xDC00 && r <= 0xDFFF:
				return fmt.Sprintf("at byte %d: a lone UTF-16 surrogate \\u%04x", i, r), nul
			}
			i += 5
		}
	}
	return "", nul
}

// nulProblem locates the first string or object key holding NUL in a
// decoded document, as a JSON pointer.
func nulProblem(doc any) string {
	where, _ := findNUL(doc, "")
	// Keys that are not plain names are data, and reasons never carry data.
	return fmt.Sprintf("at /%s: a string holds U+0000 (NUL), which the store cannot hold", pointer(strings.Split(where, "/")))
}

func findNUL(v any, path string) (string, bool) {
	join := func(k string) string {
		k = strings.NewReplacer("~", "~0", "/", "~1").Replace(k)
		if path == "" {
			return k
		}
		return path + "/" + k
	}
	switch x := v.(type) {
	case string:
		return path, strings.IndexByte(x, 0) >= 0
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if strings.IndexByte(k, 0) >= 0 {
				// The key itself, with NUL shown escaped: a reason is text.
				return join(strings.ReplaceAll(k, "\x00", `\u0000`)), true
			}
			if p, ok := findNUL(x[k], join(k)); ok {
				return p, true
			}
		}
	case []any:
		for i, e := range x {
			if p, ok := findNUL(e, join(strconv.Itoa(i))); ok {
				return p, true
			}
		}
	}
	return "", false
}

func hex4(b []byte, at int) (rune, bool) {
	if at+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[at : at+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(b)
}

// numberShape says which numbers of a profile are Go ints: those must be
// written as integers. It is derived from the profile types, so that a
// field added there is covered here.
type numberShape struct {
	isInt  bool
	fields map[string]*numberShape // for a struct
	elem   *numberShape            // for a slice
}

func shapeOf(t reflect.Type) *numberShape {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return &numberShape{isInt: true}
	case reflect.Slice, reflect.Array:
		return &numberShape{elem: shapeOf(t.Elem())}
	case reflect.Struct:
		s := &numberShape{fields: map[string]*numberShape{}}
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" || !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			s.fields[name] = shapeOf(f.Type)
		}
		return s
	}
	return &numberShape{}
}

// numberProblems checks every number of a decoded profile (numbers as
// json.Number): within ±MaxSafeInteger, and written as an integer where the
// Go type is an int.
func numberProblems(s *numberShape, v any, path string, problems []string) []string {
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			var cs *numberShape
			if s != nil {
				cs = s.fields[k]
			}
			problems = numberProblems(cs, c, path+"/"+k, problems)
		}
	case []any:
		var es *numberShape
		if s != nil {
			es = s.elem
		}
		for i, c := range x {
			problems = numberProblems(es, c, path+"/"+strconv.Itoa(i), problems)
		}
	case json.Number:
		if p := numberProblem(s != nil && s.isInt, string(x)); p != "" {
			problems = append(problems, fmt.Sprintf("at %s: %s", path, p))
		}
	}
	return problems
}

func numberProblem(isInt bool, lit string) string {
	if isInt {
		n, err := strconv.ParseInt(lit, 10, 64)
		if err != nil && !strings.ContainsAny(lit, ".eE") {
			return fmt.Sprintf("integer beyond ±%d", int64(MaxSafeInteger))
		}
		if err != nil {
			return "an integer must be written without a fraction or an exponent"
		}
		if n > MaxSafeInteger || n < -MaxSafeInteger {
			return fmt.Sprintf("integer beyond ±%d", int64(MaxSafeInteger))
		}
		return ""
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil || f > MaxSafeInteger || f < -MaxSafeInteger {
		return fmt.Sprintf("number beyond ±%d", int64(MaxSafeInteger))
	}
	return ""
}
