package gen

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// jsonWriter appends one JSON document to b. Profiles are written by hand
// rather than marshalled from the profile types: that is several times
// faster, keeps the order of fields stable, and can write an explicit
// null, which the profile types (omitempty pointers) cannot.
type jsonWriter struct {
	b     []byte
	comma bool // the next member or element needs a comma before it
}

func (w *jsonWriter) sep() {
	if w.comma {
		w.b = append(w.b, ',')
	}
	w.comma = true
}

func (w *jsonWriter) key(k string) {
	w.sep()
	w.b = append(w.b, '"')
	w.b = append(w.b, k...)
	w.b = append(w.b, '"', ':')
}

// open starts the object member k.
func (w *jsonWriter) open(k string) {
	w.key(k)
	w.b = append(w.b, '{')
	w.comma = false
}

func (w *jsonWriter) close() {
	w.b = append(w.b, '}')
	w.comma = true
}

// openArray starts the array member k.
func (w *jsonWriter) openArray(k string) {
	w.key(k)
	w.b = append(w.b, '[')
	w.comma = false
}

func (w *jsonWriter) closeArray() {
	w.b = append(w.b, ']')
	w.comma = true
}

// openElem starts an object element of the current array.
func (w *jsonWriter) openElem() {
	w.sep()
	w.b = append(w.b, '{')
	w.comma = false
}

func (w *jsonWriter) str(k, v string) {
	w.key(k)
	w.quote(v)
}

func (w *jsonWriter) strElem(v string) {
	w.sep()
	w.quote(v)
}

func (w *jsonWriter) int(k string, v int) {
	w.key(k)
	w.b = strconv.AppendInt(w.b, int64(v), 10)
}

// num writes v in the shortest form that reads back exactly.
func (w *jsonWriter) num(k string, v float64) {
	w.key(k)
	w.b = strconv.AppendFloat(w.b, v, 'f', -1, 64)
}

func (w *jsonWriter) bool(k string, v bool) {
	w.key(k)
	w.b = strconv.AppendBool(w.b, v)
}

func (w *jsonWriter) null(k string) {
	w.key(k)
	w.b = append(w.b, "null"...)
}

// date writes d as YYYY-MM-DD.
func (w *jsonWriter) date(k string, d time.Time) {
	w.key(k)
	w.b = append(w.b, '"')
	w.b = d.AppendFormat(w.b, time.DateOnly)
	w.b = append(w.b, '"')
}

// month writes d's month as YYYY-MM.
func (w *jsonWriter) month(k string, d time.Time) {
	w.key(k)
	w.b = append(w.b, '"')
	w.b = d.AppendFormat(w.b, "2006-01")
	w.b = append(w.b, '"')
}

// quote writes s as a JSON string. The generator's strings are plain, so
// the loop is short; it still escapes what JSON requires, so that no
// table entry can ever break a document.
func (w *jsonWriter) quote(s string) {
	w.b = append(w.b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			w.b = append(w.b, '\\', c)
			i++
		case c < 0x20:
			w.b = append(w.b, `\u00`...)
			w.b = append(w.b, "0123456789abcdef"[c>>4], "0123456789abcdef"[c&0xf])
			i++
		case c < utf8.RuneSelf:
			w.b = append(w.b, c)
			i++
		default:
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				w.b = append(w.b, `\ufffd`...)
			} else {
				w.b = append(w.b, s[i:i+n]...)
			}
			i += n
		}
	}
	w.b = append(w.b, '"')
}
