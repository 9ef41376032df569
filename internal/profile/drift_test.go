package profile

import (
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/policypush/policypush/schemas"
)

// shape maps every field path of a document kind to its JSON type.
type shape map[string]string

// schemaShape walks a JSON Schema's properties, resolving local $refs.
func schemaShape(t *testing.T, file string) shape {
	t.Helper()
	raw, err := schemas.FS.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	defs, _ := doc["$defs"].(map[string]any)
	resolve := func(s map[string]any) map[string]any {
		for {
			ref, ok := s["$ref"].(string)
			if !ok {
				return s
			}
			s = defs[strings.TrimPrefix(ref, "#/$defs/")].(map[string]any)
		}
	}
	typeOf := func(s map[string]any) string {
		switch v := s["type"].(type) {
		case string:
			return v
		case []any:
			for _, x := range v {
				if x != "null" {
					return x.(string)
				}
			}
		}
		t.Fatalf("%s: schema without a type: %v", file, s)
		return ""
	}
	out := shape{}
	var walk func(s map[string]any, prefix string)
	walk = func(s map[string]any, prefix string) {
		props, _ := s["properties"].(map[string]any)
		for name, p := range props {
			ps := resolve(p.(map[string]any))
			path := prefix + name
			typ := typeOf(ps)
			switch typ {
			case "object":
				walk(ps, path+".")
			case "array":
				items := resolve(ps["items"].(map[string]any))
				it := typeOf(items)
				out[path] = "array of " + it
				if it == "object" {
					walk(items, path+"[].")
				}
				continue
			}
			out[path] = typ
		}
	}
	walk(doc, "")
	return out
}

// goShape walks a Go profile type by its json tags.
func goShape(t reflect.Type) shape {
	out := shape{}
	var walk func(t reflect.Type, prefix string)
	jsonType := func(t reflect.Type) string {
		switch t.Kind() {
		case reflect.String:
			return "string"
		case reflect.Int:
			return "integer"
		case reflect.Float64:
			return "number"
		case reflect.Bool:
			return "boolean"
		case reflect.Struct:
			return "object"
		}
		return t.Kind().String()
	}
	walk = func(t reflect.Type, prefix string) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue // not part of the document
			}
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			path := prefix + name
			switch ft {
			case reflect.TypeOf(time.Time{}):
				out[path] = "string"
				continue
			case reflect.TypeOf(json.RawMessage{}):
				out[path] = "object"
				continue
			}
			if ft.Kind() == reflect.Slice {
				et := ft.Elem()
				out[path] = "array of " + jsonType(et)
				if et.Kind() == reflect.Struct {
					walk(et, path+"[].")
				}
				continue
			}
			out[path] = jsonType(ft)
			if ft.Kind() == reflect.Struct {
				walk(ft, path+".")
			}
		}
	}
	walk(t, "")
	return out
}

// TestSchemaMatchesGoTypes fails when schemas/ and the Go types drift apart.
func TestSchemaMatchesGoTypes(t *testing.T) {
	tests := []struct {
		schema string
		goType reflect.Type
	}{
		{schemas.Resident, reflect.TypeOf(Resident{})},
		{schemas.Enterprise, reflect.TypeOf(Enterprise{})},
		{schemas.Envelope, reflect.TypeOf(Envelope{})},
	}
	for _, tt := range tests {
		t.Run(tt.schema, func(t *testing.T) {
			want, got := schemaShape(t, tt.schema), goShape(tt.goType)
			var diffs []string
			for p, typ := range want {
				if got[p] != typ {
					diffs = append(diffs, "schema has "+p+" ("+typ+"), Go has ("+got[p]+")")
				}
			}
			for p, typ := range got {
				if _, ok := want[p]; !ok {
					diffs = append(diffs, "Go has "+p+" ("+typ+"), the schema does not")
				}
			}
			sort.Strings(diffs)
			for _, d := range diffs {
				t.Error(d)
			}
		})
	}
}
