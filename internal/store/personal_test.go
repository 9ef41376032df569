package store

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSplitMergePersonal(t *testing.T) {
	byType, other := personalTrees()
	tests := []struct {
		name     string
		typ      string
		give     string
		wantRest string
		wantPII  map[string]string // path → JSON value; nil when none
	}{
		{
			name:     "resident with both",
			typ:      "resident",
			give:     `{"person_id":"p1","contact":{"mobile":"13812345678"},"channels":{"wechat":{"openid":"oAbCdEfGh123","followed":true},"sms":{"enabled":true}}}`,
			wantRest: `{"person_id":"p1","contact":{},"channels":{"wechat":{"followed":true},"sms":{"enabled":true}}}`,
			wantPII:  map[string]string{"contact.mobile": `"13812345678"`, "channels.wechat.openid": `"oAbCdEfGh123"`},
		},
		{
			name:     "resident without any",
			typ:      "resident",
			give:     `{"person_id":"p1","gender":"F"}`,
			wantRest: `{"person_id":"p1","gender":"F"}`,
		},
		{
			name:     "null is unknown, not personal",
			typ:      "resident",
			give:     `{"person_id":"p1","contact":{"mobile":null}}`,
			wantRest: `{"person_id":"p1","contact":{"mobile":null}}`,
		},
		{
			name:     "parent not an object",
			typ:      "resident",
			give:     `{"person_id":"p1","contact":"13812345678"}`,
			wantRest: `{"person_id":"p1","contact":"13812345678"}`,
		},
		{
			name:     "enterprise",
			typ:      "enterprise",
			give:     `{"uscc":"u1","contacts":{"hr_mobile":"13900000001","legal_rep_mobile":"13900000002"},"channels":{"wechat":{"openid":"oEnt00000001"}}}`,
			wantRest: `{"uscc":"u1","contacts":{},"channels":{"wechat":{}}}`,
			wantPII: map[string]string{
				"contacts.hr_mobile": `"13900000001"`, "contacts.legal_rep_mobile": `"13900000002"`,
				"channels.wechat.openid": `"oEnt00000001"`,
			},
		},
		{
			name:     "resident keeps enterprise-only paths",
			typ:      "resident",
			give:     `{"person_id":"p1","contacts":{"hr_mobile":"13900000001"}}`,
			wantRest: `{"person_id":"p1","contacts":{"hr_mobile":"13900000001"}}`,
		},
		{
			name:     "unknown type strips every personal path",
			typ:      "other",
			give:     `{"contact":{"mobile":"13812345678"},"contacts":{"hr_mobile":"13900000001"}}`,
			wantRest: `{"contact":{},"contacts":{}}`,
			wantPII:  map[string]string{"contact.mobile": `"13812345678"`, "contacts.hr_mobile": `"13900000001"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tree, ok := byType[tt.typ]
			if !ok {
				tree = other
			}
			rest, got, err := splitPersonal([]byte(tt.give), tree)
			if err != nil {
				t.Fatal(err)
			}
			assertJSONEqual(t, rest, []byte(tt.wantRest))
			var gotPII map[string]string
			if got != nil {
				gotPII = map[string]string{}
				for k, v := range got {
					gotPII[k] = string(v)
				}
			}
			if !reflect.DeepEqual(gotPII, tt.wantPII) {
				t.Errorf("personal = %v, want %v", gotPII, tt.wantPII)
			}
			merged, err := mergePersonal(rest, got)
			if err != nil {
				t.Fatal(err)
			}
			assertJSONEqual(t, merged, []byte(tt.give))
		})
	}
}

func TestSplitPersonalRejects(t *testing.T) {
	byType, _ := personalTrees()
	for _, give := range []string{``, `null`, `[]`, `"x"`, `{"contact":`, `{"contact":{"mobile":}}`, `{"contact":{"mobile":[1}}}`, `{"contact":{"mobile":"1"} x`} {
		t.Run(give, func(t *testing.T) {
			if _, _, err := splitPersonal([]byte(give), byType["resident"]); err == nil {
				t.Errorf("splitPersonal(%q) succeeded", give)
			}
		})
	}
}

func assertJSONEqual(t *testing.T, got, want []byte) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("got invalid JSON %s: %v", got, err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("want invalid JSON %s: %v", want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("JSON = %s, want %s", got, want)
	}
}

// FuzzSplitPersonal checks the scanner against encoding/json: on any valid
// profile, the rest holds no personal value, and merging gives back the
// profile.
func FuzzSplitPersonal(f *testing.F) {
	for _, seed := range []string{
		`{"person_id":"p1","contact":{"mobile":"13812345678"},"channels":{"wechat":{"openid":"o1","followed":true}}}`,
		`{"contacts":{"hr_mobile":"1","legal_rep_mobile":"2","x":[1,{"a":"}"}]},"channels":{"wechat":{}}}`,
		`{"contact":{"mobile":null},"channels":[]}`,
		`{"c\u006fntact":{"mob\"ile":"x","mobile":"a\"b\\"}}`,
		` { "contact" : { "mobile" : 1 , "z" : true } } `,
		`{"contact":"x","channels":{"wechat":"y"}}`,
	} {
		f.Add(seed)
	}
	byType, other := personalTrees()
	f.Fuzz(func(t *testing.T, give string) {
		var doc any
		if json.Unmarshal([]byte(give), &doc) != nil {
			return
		}
		if _, ok := doc.(map[string]any); !ok {
			return
		}
		// encoding/json keeps the last of duplicate keys, as jsonb does;
		// compare on its canonical form so duplicates do not matter.
		canon, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		for typ, tree := range map[string]*pathTree{"resident": byType["resident"], "enterprise": byType["enterprise"], "other": other} {
			rest, _, err := splitPersonal([]byte(give), tree)
			if err != nil {
				t.Fatalf("%s: split %s: %v", typ, give, err)
			}
			var restDoc any
			if err := json.Unmarshal(rest, &restDoc); err != nil {
				t.Fatalf("%s: rest %s is not JSON: %v", typ, rest, err)
			}
			paths := personalFields[typ]
			if typ == "other" {
				paths = append(personalFields["resident"], personalFields["enterprise"]...)
			}
			for _, p := range paths {
				if v, ok := lookup(restDoc, p); ok && v != nil {
					t.Errorf("%s: rest %s keeps %s", typ, rest, p)
				}
			}
			rest, fields, err := splitPersonal(canon, tree)
			if err != nil {
				t.Fatalf("%s: split %s: %v", typ, canon, err)
			}
			merged, err := mergePersonal(rest, fields)
			if err != nil {
				t.Fatalf("%s: merge: %v", typ, err)
			}
			assertJSONEqual(t, merged, canon)
		}
	})
}

func lookup(doc any, path string) (any, bool) {
	for _, seg := range strings.Split(path, ".") {
		m, ok := doc.(map[string]any)
		if !ok {
			return nil, false
		}
		if doc, ok = m[seg]; !ok {
			return nil, false
		}
	}
	return doc, true
}

// BenchmarkSealProfiles measures the Go side of saving a batch: splitting
// and sealing the personal fields of 500 profiles of about 1 KB.
func BenchmarkSealProfiles(b *testing.B) {
	byType, other := personalTrees()
	s := &Store{sealer: testSealer(), personal: byType, personalOther: other}
	ps := make([]Profile, 500)
	for i := range ps {
		ps[i] = Profile{Key: SubjectKey{"resident", fmt.Sprint(i)}, Data: residentJSON(fmt.Sprint(i), 0, i)}
	}
	for b.Loop() {
		if _, err := s.profileArgs(ps); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUnsealProfiles measures the Go side of a sweep's read: opening
// and merging back the personal fields of 500 profiles of about 1 KB, as
// PostgreSQL gives them (jsonb text).
func BenchmarkUnsealProfiles(b *testing.B) {
	byType, other := personalTrees()
	s := &Store{sealer: testSealer(), personal: byType, personalOther: other}
	type row struct {
		k            SubjectKey
		rest, sealed []byte
	}
	rows := make([]row, 500)
	for i := range rows {
		k := SubjectKey{"resident", fmt.Sprint(i)}
		sp, err := s.sealProfile(k, residentJSON(k.ID, 0, i))
		if err != nil {
			b.Fatal(err)
		}
		rows[i] = row{k, sp.rest, sp.sealed}
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, r := range rows {
			if _, err := s.unsealProfile(r.k, r.rest, r.sealed); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// mergeReference is how profiles.pii was merged back before mergeSealed:
// encoding/json into a map, then mergePersonal.
func mergeReference(data, plain []byte) ([]byte, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(plain, &fields); err != nil {
		return nil, errBadPersonal
	}
	return mergePersonal(data, fields)
}

// TestMergeSealedAgrees holds mergeSealed to the reference on profiles of
// every type split as the store splits them (every subset of their
// personal fields, so every cached tree), and on plaintexts the store does
// not write itself: paths outside the type's, duplicates, escapes, space.
func TestMergeSealedAgrees(t *testing.T) {
	byType, other := personalTrees()
	docs := map[string][]string{
		"resident": {
			string(residentJSON("p1", 0, 1)),
			`{"person_id":"p2","contact":{"mobile":"13800000000"}}`,
			`{"person_id":"p3","channels":{"wechat":{"openid":"o3"}}}`,
			`{"person_id":"p4","gender":"F"}`,
			`{"person_id":"p5","contact":{"mobile":null},"channels":{"wechat":{"openid":"o5","followed":false}}}`,
		},
		"enterprise": {
			`{"uscc":"u1","contacts":{"hr_mobile":"1","legal_rep_mobile":"2"},"channels":{"wechat":{"openid":"o"}}}`,
			`{"uscc":"u2","contacts":{"legal_rep_mobile":"2"}}`,
			`{"uscc":"u3","contacts":{"hr_mobile":"1"},"channels":{"sms":{"enabled":true}}}`,
			`{"uscc":"u4","channels":{"wechat":{"openid":"o"}},"name":"某某"}`,
		},
		"other": {
			`{"contact":{"mobile":"1"},"contacts":{"hr_mobile":"2"},"channels":{"wechat":{"openid":"o"}}}`,
		},
	}
	n := 0
	for typ, list := range docs {
		tree := other
		if typ != "other" {
			tree = byType[typ]
		}
		for _, doc := range list {
			rest, fields, err := splitPersonal([]byte(doc), tree)
			if err != nil {
				t.Fatal(err)
			}
			if fields == nil {
				continue
			}
			plain := encodePersonal(fields)
			checkMergeSealed(t, rest, plain, tree)
			// Every subset of the fields, so that every cached tree is used.
			paths := make([]string, 0, len(fields))
			for p := range fields {
				paths = append(paths, p)
			}
			for m := range 1 << len(paths) {
				sub := map[string]json.RawMessage{}
				for i, p := range paths {
					if m&(1<<i) != 0 {
						sub[p] = fields[p]
					}
				}
				checkMergeSealed(t, rest, encodePersonal(sub), tree)
				n++
			}
		}
	}
	rest := []byte(`{"person_id":"p1","contact":{},"channels":{"wechat":{"followed":true}}}`)
	for _, plain := range []string{
		`{"contacts.hr_mobile":"1"}`,
		`{"contact.mobile":"1","contact.mobile":"2"}`,
		`{"contact.mobil\u0065":"1"}`,
		` { "contact.mobile" : "1" , "channels.wechat.openid" : "o" } `,
		`{"contact.mobile":{"a":[1,"}"]}}`,
		`{}`,
		`[]`,
		`{"contact.mobile":"1"`,
		`{"contact.mobile":"1"} x`,
		`{"contact.mobile" "1"}`,
		`"x"`,
		` null `,
		`null x`,
	} {
		checkMergeSealed(t, rest, []byte(plain), byType["resident"])
		n++
	}
	if n < 30 {
		t.Fatalf("only %d cases", n)
	}
}

func checkMergeSealed(t *testing.T, rest, plain []byte, tree *pathTree) {
	t.Helper()
	want, werr := mergeReference(rest, plain)
	got, gerr := mergeSealed(rest, plain, tree)
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("%s + %s: reference error %v, mergeSealed error %v", rest, plain, werr, gerr)
	}
	if werr == nil {
		assertJSONEqual(t, got, want)
	}
}

// FuzzMergeSealed holds mergeSealed to the reference on any profile and
// any plaintext that is valid JSON in UTF-8 (the store only opens what it
// sealed itself, so malformed plaintext cannot reach it).
func FuzzMergeSealed(f *testing.F) {
	f.Add(`{"person_id":"p1","contact":{},"channels":{"wechat":{}}}`, `{"contact.mobile":"1","channels.wechat.openid":"o"}`)
	f.Add(`{"contact":"x","channels":{"wechat":"y"}}`, `{"channels.wechat.openid":"o","contacts.hr_mobile":"2"}`)
	f.Add(`{}`, `{"a.b":1,"a.c":{"d":null}}`)
	byType, other := personalTrees()
	f.Fuzz(func(t *testing.T, rest, plain string) {
		if !json.Valid([]byte(rest)) || !json.Valid([]byte(plain)) || !utf8.ValidString(plain) {
			return
		}
		for _, tree := range []*pathTree{byType["resident"], byType["enterprise"], other} {
			checkMergeSealed(t, []byte(rest), []byte(plain), tree)
		}
	})
}
