package selfcheck_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/policypush/policypush/internal/profile"
	"github.com/policypush/policypush/internal/selfcheck"
	"github.com/policypush/policypush/schemas"
)

// schemaFields walks a profile schema and returns each field's path (as
// the rules write it) and the dictionary type its schema implies.
func schemaFields(t *testing.T, name string) map[string]string {
	t.Helper()
	raw, err := schemas.FS.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var root map[string]any
	if err := json.Unmarshal(raw, &root); err != nil {
		t.Fatal(err)
	}
	defs, _ := root["$defs"].(map[string]any)
	deref := func(n map[string]any) map[string]any {
		if ref, ok := n["$ref"].(string); ok {
			d, _ := defs[ref[strings.LastIndex(ref, "/")+1:]].(map[string]any)
			return d
		}
		return n
	}
	has := func(n map[string]any, typ string) bool {
		switch x := n["type"].(type) {
		case string:
			return x == typ
		case []any:
			return slices.Contains(x, any(typ))
		}
		return false
	}
	out := map[string]string{}
	var walk func(n map[string]any, path string)
	walk = func(n map[string]any, path string) {
		n = deref(n)
		if props, ok := n["properties"].(map[string]any); ok {
			for k, c := range props {
				p := k
				if path != "" {
					p = path + "." + k
				}
				walk(c.(map[string]any), p)
			}
			return
		}
		switch {
		case has(n, "array"):
			items := deref(n["items"].(map[string]any))
			if _, ok := items["properties"]; ok {
				out[path] = selfcheck.TypeList
				for k, c := range items["properties"].(map[string]any) {
					walk(c.(map[string]any), path+"[]."+k)
				}
				return
			}
			out[path] = selfcheck.TypeMulti
		case n["enum"] != nil:
			out[path] = selfcheck.TypeChoice
		case has(n, "boolean"):
			out[path] = selfcheck.TypeBool
		case has(n, "integer"):
			out[path] = selfcheck.TypeInt
		case has(n, "number"):
			out[path] = selfcheck.TypeNumber
		case n["format"] == "date":
			out[path] = selfcheck.TypeDate
		case strings.HasPrefix(fmtString(n["pattern"]), `^\d{4}-(0[1-9]`):
			out[path] = selfcheck.TypeMonth
		default:
			out[path] = selfcheck.TypeText
		}
	}
	walk(root, "")
	return out
}

// TestFieldDictionaryCoversSchemas holds schemas/fields.zh.yaml to the
// profile schemas: one entry per profile field, of the type the schema
// gives it, and none for a field the schemas lack. The id and the objects
// that say how to reach a subject (contact, contacts, channels, consent)
// are never asked: no rule may read them.
func TestFieldDictionaryCoversSchemas(t *testing.T) {
	d, err := selfcheck.LoadDictionary()
	if err != nil {
		t.Fatal(err)
	}
	for kind, name := range map[profile.Kind]string{profile.KindResident: schemas.Resident, profile.KindEnterprise: schemas.Enterprise} {
		fields := schemaFields(t, name)
		if len(fields) < 30 {
			t.Fatalf("%s: only %d fields found: the walk is wrong", name, len(fields))
		}
		for path, typ := range fields {
			root, _, _ := strings.Cut(path, ".")
			if root == "person_id" || root == "uscc" || root == "consent" || profile.IsSealed(path) {
				if d.Field(kind, path) != nil {
					t.Errorf("%s.%s is in the dictionary: the self-check must not ask it", kind, path)
				}
				continue
			}
			f := d.Field(kind, path)
			switch {
			case f == nil:
				t.Errorf("%s.%s has no entry in schemas/fields.zh.yaml", kind, path)
			case f.Type != typ && !(typ == selfcheck.TypeText && f.Type == selfcheck.TypeChoice && f.Policies) &&
				!(typ == selfcheck.TypeMulti && f.Type == selfcheck.TypeMulti):
				t.Errorf("%s.%s: type %s in the dictionary, the schema says %s", kind, path, f.Type, typ)
			}
		}
		for _, f := range d.Fields(kind) {
			if _, ok := fields[f.Path]; !ok {
				t.Errorf("%s.%s is in the dictionary but not in %s", kind, f.Path, name)
			}
		}
	}
}

func fmtString(v any) string {
	s, _ := v.(string)
	return s
}
