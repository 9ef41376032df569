package profile_test

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/policypush/policypush/internal/gen"
	"github.com/policypush/policypush/internal/profile"
	"github.com/policypush/policypush/internal/rules"
)

// decodeV1 is the reference: encoding/json into the profile type.
func decodeV1(kind profile.Kind, data []byte) (any, error) {
	var p any = &profile.Resident{}
	if kind == profile.KindEnterprise {
		p = &profile.Enterprise{}
	}
	return p, json.Unmarshal(data, p)
}

// agree fails t unless DecodeValid and encoding/json both refuse data or
// both give the same profile.
func agree(t *testing.T, kind profile.Kind, data []byte) {
	t.Helper()
	want, werr := decodeV1(kind, data)
	got, gerr := profile.DecodeValid(kind, data)
	switch {
	case (werr == nil) != (gerr == nil):
		t.Fatalf("%s %q: encoding/json error %v, DecodeValid error %v", kind, data, werr, gerr)
	case werr == nil && !reflect.DeepEqual(got, want):
		t.Fatalf("%s %q:\nDecodeValid   %s\nencoding/json %s", kind, data, dump(got), dump(want))
	}
}

func dump(v any) string { b, _ := json.Marshal(v); return string(b) }

// catalogueProfiles returns the test profiles of the repository's rules,
// by kind.
func catalogueProfiles(t *testing.T) map[profile.Kind][][]byte {
	t.Helper()
	kinds := map[string]profile.Kind{}
	var tests []*rules.TestFile
	err := filepath.WalkDir("../../rules", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") || d.Name() == rules.CalendarFile {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.HasSuffix(path, "_test.yaml") {
			tf, err := rules.ParseTestFile(path, data)
			tests = append(tests, tf)
			return err
		}
		r, err := rules.ParseRule(path, data)
		if err != nil {
			return err
		}
		kinds[r.ID] = r.Subject
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	out := map[profile.Kind][][]byte{}
	for _, tf := range tests {
		for _, tc := range tf.Cases {
			if tc.Profile != nil {
				out[kinds[tf.Policy]] = append(out[kinds[tf.Policy]], tc.Profile)
			}
		}
	}
	if len(out[profile.KindResident]) == 0 || len(out[profile.KindEnterprise]) == 0 {
		t.Fatalf("no catalogue test profiles found: %d kinds", len(out))
	}
	return out
}

func generated(t *testing.T, n int) map[profile.Kind][][]byte {
	t.Helper()
	out := map[profile.Kind][][]byte{}
	at := time.Date(2026, 12, 8, 9, 0, 0, 0, time.UTC)
	err := gen.Each(gen.Options{Residents: n * 9 / 10, Enterprises: n - n*9/10, Seed: 7, At: at}, func(typ, _ string, ev []byte) error {
		var e struct {
			Data json.RawMessage `json:"data"`
		}
		err := json.Unmarshal(ev, &e)
		out[profile.Kind(typ)] = append(out[profile.Kind(typ)], e.Data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDecodeValidAgrees checks the fast path of DecodeValid against
// encoding/json on every catalogue test profile and on generated ones, as
// written and as the store gives them back (re-encoded), and on random
// mutations of them (fields dropped, set to null, given another type): the
// unmutated profiles must take the fast path, and every result must be
// encoding/json's.
func TestDecodeValidAgrees(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for name, docs := range map[string]map[profile.Kind][][]byte{"catalogue": catalogueProfiles(t), "generated": generated(t, 3000)} {
		n := 0
		for kind, list := range docs {
			for _, data := range list {
				var doc map[string]any
				if err := json.Unmarshal(data, &doc); err != nil {
					t.Fatal(err)
				}
				reencoded, _ := json.Marshal(doc)
				for _, d := range [][]byte{data, reencoded} {
					if _, ok := profile.DecodeFast(kind, d); !ok {
						t.Errorf("%s %s profile took the slow path: %s", name, kind, d)
					}
					agree(t, kind, d)
				}
				for range 3 {
					m := mutate(rng, deepCopy(doc))
					b, _ := json.Marshal(m)
					agree(t, kind, b)
				}
				n++
			}
		}
		t.Logf("%s: %d profiles", name, n)
	}
}

func deepCopy(doc map[string]any) map[string]any {
	b, _ := json.Marshal(doc)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out
}

// mutate changes one field anywhere in v at random: drops it, makes it
// null, or gives it a value of another type.
func mutate(rng *rand.Rand, v map[string]any) map[string]any {
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return v
	}
	k := keys[rng.IntN(len(keys))]
	if sub, ok := v[k].(map[string]any); ok && rng.IntN(2) == 0 {
		v[k] = mutate(rng, sub)
		return v
	}
	switch rng.IntN(6) {
	case 0:
		delete(v, k)
	case 1:
		v[k] = nil
	case 2:
		v[k] = 1.5
	case 3:
		v[k] = "x"
	case 4:
		v[k] = []any{nil}
	case 5:
		v[strings.ToUpper(k)] = v[k] // encoding/json matches names without case
	}
	return v
}

// TestDecodeValidCoversEveryField fills every field of both profile types
// (found by reflection, so a field added to the types is covered) and
// checks that the fast path decodes it, and decodes it as encoding/json
// does. A field the fast path does not know would make it give up.
func TestDecodeValidCoversEveryField(t *testing.T) {
	for kind, typ := range map[profile.Kind]reflect.Type{
		profile.KindResident:   reflect.TypeFor[profile.Resident](),
		profile.KindEnterprise: reflect.TypeFor[profile.Enterprise](),
	} {
		v := reflect.New(typ)
		fill(v.Elem(), 0)
		data, err := json.Marshal(v.Interface())
		if err != nil {
			t.Fatal(err)
		}
		got, ok := profile.DecodeFast(kind, data)
		if !ok {
			t.Fatalf("%s: the fast path gave up on %s", kind, data)
		}
		if !reflect.DeepEqual(got, v.Interface()) {
			t.Fatalf("%s:\nfast path %s\nwant      %s", kind, dump(got), data)
		}
		agree(t, kind, data)
	}
}

// fill sets every field of v to a value that differs by field.
func fill(v reflect.Value, n int) int {
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		return fill(v.Elem(), n)
	case reflect.Struct:
		for i := range v.NumField() {
			n = fill(v.Field(i), n)
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		n = fill(v.Index(0), n)
		n = fill(v.Index(1), n)
	case reflect.String:
		v.SetString("v" + string(rune('a'+n%26)) + "中")
	case reflect.Bool:
		v.SetBool(n%2 == 0)
	case reflect.Int:
		v.SetInt(int64(n) - 3)
	case reflect.Float64:
		v.SetFloat(float64(n) + 0.25)
	default:
		panic("fill: " + v.Kind().String())
	}
	return n + 1
}

// TestDecodeValidEdges covers what the fast path hands to encoding/json,
// one case each.
func TestDecodeValidEdges(t *testing.T) {
	for _, c := range []struct {
		kind profile.Kind
		doc  string
		fast bool
	}{
		{profile.KindResident, `{"person_id":"p1"}`, true},
		{profile.KindResident, " \n{ \"person_id\" : \"p1\" , \"gender\":null }\t", true},
		{profile.KindResident, `{"person_id":"p1","skill_certificates":[]}`, true},
		{profile.KindResident, `{"person_id":"p1","hukou":{}}`, true},
		{profile.KindResident, `{"person_id":"p\u00e91"}`, false},
		{profile.KindResident, `{"person_id":"p1","Gender":"M"}`, false},
		{profile.KindResident, `{"person_id":"p1","unknown":1}`, false},
		{profile.KindResident, `{"person_id":"p1","hukou":{"type":"urban"},"hukou":{"is_local":true}}`, false},
		{profile.KindResident, `{"person_id":"p1","gender":"M","gender":"F"}`, false},
		{profile.KindResident, `{"person_id":"p1","person_id":"p2"}`, false},
		{profile.KindResident, `{"person_id":"p1","skill_certificates":[null]}`, false},
		{profile.KindResident, `{"person_id":"p1","hardship":{"categories":["a",null]}}`, false},
		{profile.KindResident, `{"person_id":"p1","disability":{"level":1.0}}`, false},
		{profile.KindResident, `{"person_id":"p1","disability":{"level":1e0}}`, false},
		{profile.KindResident, `{"person_id":"p1","disability":{"level":99999999999999999999}}`, false},
		{profile.KindResident, `{"person_id":"p1","disability":{"level":01}}`, false},
		{profile.KindResident, `{"person_id":"p1","disability":{"level":-}}`, false},
		{profile.KindResident, `{"person_id":"p1","benefits_received":[{"amount":1e400}]}`, false},
		{profile.KindResident, `{"person_id":"p1","benefits_received":[{"amount":-0.5e-3}]}`, true},
		{profile.KindResident, "{\"person_id\":\"p\xff\"}", false},
		{profile.KindResident, "{\"person_id\":\"p\x01\"}", false},
		{profile.KindResident, `{"person_id":"p1"}x`, false},
		{profile.KindResident, `{"person_id":"p1",}`, false},
		{profile.KindResident, `{"person_id":"p1"`, false},
		{profile.KindResident, `null`, false},
		{profile.KindResident, `{"person_id":"p1","veteran":{"is_veteran":tru}}`, false},
		{profile.KindResident, `{"person_id":"p1","veteran":{"is_veteran":"true"}}`, false},
		{profile.KindEnterprise, `{"uscc":"u1","ui":{"premium_paid_last_year":12.5,"paid_full_months":3}}`, true},
		{profile.KindEnterprise, `{"uscc":"u1","new_hires":[{"person_id":"p","ui_paid_months":2}]}`, true},
		{profile.KindEnterprise, `{"uscc":"u1","contact":{"mobile":"1"}}`, false},
	} {
		if _, ok := profile.DecodeFast(c.kind, []byte(c.doc)); ok != c.fast {
			t.Errorf("%s %q: fast path %v, want %v", c.kind, c.doc, ok, c.fast)
		}
		agree(t, c.kind, []byte(c.doc))
	}
}

// FuzzDecodeValid checks that DecodeValid gives what encoding/json gives,
// or fails where it fails, on any input.
func FuzzDecodeValid(f *testing.F) {
	for _, s := range []string{
		`{"person_id":"p1","hukou":{"type":"urban","is_local":true},"disability":{"level":2}}`,
		`{"person_id":"p1","skill_certificates":[{"level":"senior","issue_date":"2026-01-01"}],"benefits_received":[{"amount":1.5}]}`,
		`{"person_id":"p1","consent":{"opt_out_channels":["sms"],"personalized_push":false}}`,
		`{"uscc":"u1","ui":{"premium_paid_last_year":12.5},"new_hires":[{"category":"graduate","currently_insured":true}]}`,
		`{"uscc":"u1","credit":{"zombie":null},"channels":{"wechat":{"openid":"o","followed":true},"sms":{"enabled":false}}}`,
	} {
		f.Add(false, []byte(s))
		f.Add(true, []byte(s))
	}
	f.Fuzz(func(t *testing.T, enterprise bool, data []byte) {
		kind := profile.KindResident
		if enterprise {
			kind = profile.KindEnterprise
		}
		agree(t, kind, data)
	})
}
