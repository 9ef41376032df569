package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// personalFields lists, per subject type, the dotted paths of the profile
// fields that are personal information (CONTRACTS.md §2). They are kept out
// of profiles.data and sealed into profiles.pii.
var personalFields = map[string][]string{
	"resident":   {"contact.mobile", "channels.wechat.openid"},
	"enterprise": {"contacts.hr_mobile", "contacts.legal_rep_mobile", "channels.wechat.openid"},
}

// pathTree is a set of dotted paths as a tree of object keys. A leaf holds
// the whole dotted path; an inner node holds children.
type pathTree struct {
	leaf     string
	children map[string]*pathTree
	// On a subject type's tree: bit numbers its leaves, and subsets[m] is
	// the tree of the leaves whose bits are set in m, so that merging a
	// profile's fields back finds their tree instead of building it.
	bit     map[string]uint
	subsets []*pathTree
}

// personalTrees builds one pathTree per subject type, plus the union of all
// of them, which is used for a subject type not listed.
func personalTrees() (byType map[string]*pathTree, union *pathTree) {
	byType = make(map[string]*pathTree, len(personalFields))
	union = &pathTree{}
	for typ, paths := range personalFields {
		t := &pathTree{}
		for _, p := range paths {
			t.add(p)
			union.add(p)
		}
		t.bit = make(map[string]uint, len(paths))
		for n, p := range paths {
			t.bit[p] = uint(n)
		}
		t.subsets = make([]*pathTree, 1<<len(paths))
		for m := range t.subsets {
			sub := &pathTree{}
			for n, p := range paths {
				if m&(1<<n) != 0 {
					sub.add(p)
				}
			}
			t.subsets[m] = sub
		}
		byType[typ] = t
	}
	return byType, union
}

func (t *pathTree) add(path string) {
	n := t
	for seg := range strings.SplitSeq(path, ".") {
		if n.children == nil {
			n.children = map[string]*pathTree{}
		}
		c, ok := n.children[seg]
		if !ok {
			c = &pathTree{}
			n.children[seg] = c
		}
		n = c
	}
	n.leaf = path
}

var errNotObject = errors.New("profile is not a JSON object")

// splitPersonal removes the fields named by t from the JSON object data. It
// returns the rest of the profile and the removed values by dotted path, or
// a nil map when there were none. A field whose value is null is unknown,
// not personal, and stays. Objects left empty stay, so that merging gives
// back the same document.
//
// It scans the document rather than decoding it, copying untouched members
// byte for byte; that is several times faster than encoding/json on a
// pipeline batch. It rejects malformed structure it meets, and PostgreSQL
// validates the rest when it stores the result as jsonb.
func splitPersonal(data []byte, t *pathTree) ([]byte, map[string]json.RawMessage, error) {
	sc := scanner{b: data}
	sc.space()
	if sc.peek() != '{' {
		return nil, nil, errNotObject
	}
	var out map[string]json.RawMessage
	rest, err := sc.object(t, func(n *pathTree, v []byte) ([]byte, bool, error) {
		if isNull(v) {
			return nil, false, nil
		}
		if !json.Valid(v) {
			// The rest goes to PostgreSQL, which validates it; this does not.
			return nil, false, fmt.Errorf("profile JSON: invalid value at %s", n.leaf)
		}
		if out == nil {
			out = map[string]json.RawMessage{}
		}
		out[n.leaf] = bytes.Clone(v)
		return nil, true, nil
	}, nil)
	if err != nil {
		return nil, nil, err
	}
	if err := sc.end(); err != nil {
		return nil, nil, err
	}
	if rest == nil {
		return data, nil, nil
	}
	return rest, out, nil
}

// mergePersonal puts the values of pii back into the JSON object data at
// their dotted paths, creating objects on the way where needed.
func mergePersonal(data []byte, pii map[string]json.RawMessage) ([]byte, error) {
	if len(pii) == 0 {
		return data, nil
	}
	t := &pathTree{}
	for p := range pii {
		t.add(p)
	}
	return merge(data, t, func(path string) []byte { return pii[path] })
}

// personalValue is one member of the plaintext of profiles.pii.
type personalValue struct {
	path, value []byte
}

// mergeSealed is mergePersonal for plain, the opened profiles.pii, as
// encodePersonal wrote it, and for a profile of the subject type whose
// tree is typ. It reads plain with the scanner instead of encoding/json
// into a map, and takes the tree of its paths from typ.subsets, so that a
// sweep's read builds neither per profile. TestMergeSealedAgrees and
// FuzzMergeSealed hold it to mergePersonal.
func mergeSealed(data, plain []byte, typ *pathTree) ([]byte, error) {
	var buf [4]personalValue
	fields, err := personalValues(plain, buf[:0])
	if err != nil {
		return nil, err
	}
	if len(fields) == 0 {
		return data, nil
	}
	var t *pathTree
	if typ.subsets != nil {
		var m uint
		for _, f := range fields {
			n, ok := typ.bit[string(f.path)]
			if !ok {
				m = ^uint(0)
				break
			}
			m |= 1 << n
		}
		if m < uint(len(typ.subsets)) {
			t = typ.subsets[m]
		}
	}
	if t == nil { // a path that is not (or no longer) personal for the type
		t = &pathTree{}
		for _, f := range fields {
			t.add(string(f.path))
		}
	}
	return merge(data, t, func(path string) []byte {
		// The last of duplicate paths wins, as with encoding/json.
		for n := len(fields) - 1; n >= 0; n-- {
			if string(fields[n].path) == path {
				return fields[n].value
			}
		}
		return nil
	})
}

// personalValues appends the members of the JSON object plain to out.
func personalValues(plain []byte, out []personalValue) ([]personalValue, error) {
	sc := scanner{b: plain}
	sc.space()
	if bytes.HasPrefix(plain[sc.i:], []byte("null")) {
		// encoding/json takes null for an empty map; encodePersonal never
		// writes it.
		sc.i += len("null")
		if sc.end() != nil {
			return nil, errBadPersonal
		}
		return out, nil
	}
	if sc.peek() != '{' {
		return nil, errBadPersonal
	}
	sc.i++
	sc.space()
	if sc.peek() == '}' {
		sc.i++
		if sc.end() != nil {
			return nil, errBadPersonal
		}
		return out, nil
	}
	for {
		sc.space()
		k, err := sc.key()
		if err != nil {
			return nil, errBadPersonal
		}
		sc.space()
		if sc.peek() != ':' {
			return nil, errBadPersonal
		}
		sc.i++
		sc.space()
		start := sc.i
		if err := sc.value(); err != nil {
			return nil, errBadPersonal
		}
		out = append(out, personalValue{path: k, value: plain[start:sc.i]})
		sc.space()
		switch sc.peek() {
		case ',':
			sc.i++
			continue
		case '}':
			sc.i++
			if sc.end() != nil {
				return nil, errBadPersonal
			}
			return out, nil
		}
		return nil, errBadPersonal
	}
}

// merge puts the value get gives for each leaf of t back into the JSON
// object data.
func merge(data []byte, t *pathTree, get func(path string) []byte) ([]byte, error) {
	sc := scanner{b: data}
	sc.space()
	if sc.peek() != '{' {
		return nil, errNotObject
	}
	leaf := func(n *pathTree, _ []byte) ([]byte, bool, error) { return get(n.leaf), true, nil }
	missing := func(n *pathTree) []byte { return build(n, get) }
	merged, err := sc.object(t, leaf, missing)
	if err != nil {
		return nil, err
	}
	if err := sc.end(); err != nil {
		return nil, err
	}
	return merged, nil
}

// encodePersonal renders the values split off a profile as a JSON object
// from dotted path to value. It is json.Marshal without the reflection.
func encodePersonal(fields map[string]json.RawMessage) []byte {
	b := make([]byte, 0, 128)
	b = append(b, '{')
	for p, v := range fields {
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = appendKey(b, p)
		b = append(b, v...)
	}
	return append(b, '}')
}

// build renders the subtree n of personal values as JSON.
func build(n *pathTree, get func(path string) []byte) []byte {
	if n.leaf != "" {
		return get(n.leaf)
	}
	b := []byte{'{'}
	for k, c := range n.children {
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = appendKey(b, k)
		b = append(b, build(c, get)...)
	}
	return append(b, '}')
}

func appendKey(b []byte, k string) []byte {
	plain := true
	for n := range len(k) {
		if c := k[n]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			plain = false
			break
		}
	}
	if plain { // the field names: what json.Marshal would give, without it
		b = append(b, '"')
		b = append(b, k...)
		return append(b, '"', ':')
	}
	q, _ := json.Marshal(k) // a string always marshals
	b = append(b, q...)
	return append(b, ':')
}

// scanner walks a JSON document without decoding it.
type scanner struct {
	b []byte
	i int
}

// leafFunc is called with a member's value whose key path ends at leaf n.
// It returns the value to put instead, or, with changed true and a nil
// value, that the member is to be removed.
type leafFunc func(n *pathTree, value []byte) (replacement []byte, changed bool, err error)

// object scans the object at the scanner's position, which must be '{', and
// calls leaf for members on a path of t. Members on an inner node of t whose
// value is an object are scanned in turn. When missing is not nil, it gives
// the value of each child of t that the object lacks, which is appended. It
// returns the rewritten object, or nil when nothing changed.
func (s *scanner) object(t *pathTree, leaf leafFunc, missing func(*pathTree) []byte) ([]byte, error) {
	type member struct {
		start, end int    // the member in s.b: key, colon and value
		key        []byte // quoted; with value when replaced
		value      []byte // replacement value, if any
		removed    bool
	}
	var (
		members = make([]member, 0, 32)
		changed bool
		seenBuf [8]*pathTree // the children of t met, without a map
		seen    = seenBuf[:0]
		start   = s.i
	)
	s.i++ // '{'
	s.space()
	if s.peek() == '}' {
		s.i++
	} else {
		for {
			m := member{start: s.i}
			key, err := s.key()
			if err != nil {
				return nil, err
			}
			m.key = s.b[m.start:s.i]
			child := t.children[string(key)]
			s.space()
			if s.peek() != ':' {
				return nil, s.errorf("want ':' after object key")
			}
			s.i++
			s.space()
			switch {
			case child == nil:
				if err := s.value(); err != nil {
					return nil, err
				}
			case child.leaf != "":
				vstart := s.i
				if err := s.value(); err != nil {
					return nil, err
				}
				v, ch, err := leaf(child, s.b[vstart:s.i])
				if err != nil {
					return nil, err
				}
				if ch {
					changed = true
					m.value, m.removed = v, v == nil
				}
			case s.peek() == '{':
				v, err := s.object(child, leaf, missing)
				if err != nil {
					return nil, err
				}
				if v != nil {
					changed = true
					m.value = v
				}
			default:
				if err := s.value(); err != nil {
					return nil, err
				}
				if missing != nil { // not an object: replace it by one
					changed = true
					m.value = missing(child)
				}
			}
			if child != nil && missing != nil {
				seen = append(seen, child)
			}
			m.end = s.i
			members = append(members, m)
			s.space()
			switch s.peek() {
			case ',':
				s.i++
				s.space()
				continue
			case '}':
				s.i++
			default:
				return nil, s.errorf("want ',' or '}' in object")
			}
			break
		}
	}
	var added [][]byte
	if missing != nil {
		for k, c := range t.children {
			if !slices.Contains(seen, c) {
				added = append(added, appendKey(nil, k), missing(c))
				changed = true
			}
		}
	}
	if !changed {
		return nil, nil
	}
	out := make([]byte, 0, s.i-start+256)
	out = append(out, '{')
	for _, m := range members {
		if m.removed {
			continue
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		if m.value != nil {
			out = append(out, m.key...)
			out = append(out, ':')
			out = append(out, m.value...)
		} else {
			out = append(out, s.b[m.start:m.end]...)
		}
	}
	for n := 0; n < len(added); n += 2 {
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = append(out, added[n]...)
		out = append(out, added[n+1]...)
	}
	return append(out, '}'), nil
}

// key scans a quoted object key and returns it unquoted.
func (s *scanner) key() ([]byte, error) {
	if s.peek() != '"' {
		return nil, s.errorf(`want '"' to begin object key`)
	}
	start := s.i
	escaped, err := s.str()
	if err != nil {
		return nil, err
	}
	if !escaped {
		return s.b[start+1 : s.i-1], nil
	}
	var k string
	if err := json.Unmarshal(s.b[start:s.i], &k); err != nil {
		return nil, fmt.Errorf("profile JSON: %w", err)
	}
	return []byte(k), nil
}

// str scans a string, reporting whether it holds escapes.
func (s *scanner) str() (escaped bool, err error) {
	s.i++ // '"'
	for {
		n := bytes.IndexByte(s.b[s.i:], '"')
		if n < 0 {
			s.i = len(s.b)
			return false, s.errorf("unterminated string")
		}
		seg := s.b[s.i : s.i+n]
		s.i += n + 1
		if bytes.IndexByte(seg, '\\') < 0 {
			return escaped, nil
		}
		escaped = true
		// The quote ends the string unless an odd run of backslashes escapes it.
		bs := 0
		for j := len(seg) - 1; j >= 0 && seg[j] == '\\'; j-- {
			bs++
		}
		if bs%2 == 0 {
			return true, nil
		}
	}
}

// value skips any value. Nested brackets are counted, not matched.
func (s *scanner) value() error {
	switch s.peek() {
	case '"':
		_, err := s.str()
		return err
	case '{', '[':
		depth := 0
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case '"':
				if _, err := s.str(); err != nil {
					return err
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			}
			s.i++
			if depth == 0 {
				return nil
			}
		}
		return s.errorf("unterminated object or array")
	}
	start := s.i
scan:
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
			break scan
		}
		s.i++
	}
	if s.i == start {
		return s.errorf("want a value")
	}
	return nil
}

func (s *scanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\r', '\n':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// end checks that only white space follows.
func (s *scanner) end() error {
	s.space()
	if s.i != len(s.b) {
		return s.errorf("data after the profile object")
	}
	return nil
}

func (s *scanner) errorf(msg string) error {
	return fmt.Errorf("profile JSON at offset %d: %s", s.i, msg)
}

func isNull(b []byte) bool { return string(b) == "null" }
