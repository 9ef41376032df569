package selfcheck

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/policypush/policypush/internal/profile"
	"github.com/policypush/policypush/schemas"
)

// The types of a field in the dictionary (schemas/fields.zh.yaml).
const (
	TypeBool   = "bool"
	TypeDate   = "date"
	TypeMonth  = "month"
	TypeInt    = "int"
	TypeNumber = "number"
	TypeChoice = "choice"
	TypeMulti  = "multi" // an array of strings, from choices
	TypeList   = "list"  // an array of objects: the form asks for one item
	TypeText   = "text"
)

// Field is one entry of the field dictionary.
type Field struct {
	Path    string   // dotted, as the rules' Fields give it: skill_certificates[].level
	Label   string   `yaml:"label"`
	Type    string   `yaml:"type"`
	Help    string   `yaml:"help"`
	Choices []Choice `yaml:"-"`
	// Policies: the choices are the catalogue's policies (by id, titled).
	Policies bool `yaml:"policies"`
}

// Choice is one value a field may take and its words.
type Choice struct {
	Value, Label string
}

// Dictionary is the field dictionary of both kinds, in the file's order,
// which is the order the form asks in.
type Dictionary struct {
	fields map[profile.Kind][]*Field
	byPath map[profile.Kind]map[string]*Field
}

// LoadDictionary reads the embedded schemas/fields.zh.yaml.
func LoadDictionary() (*Dictionary, error) { return ParseDictionary(schemas.FieldsZH) }

// ParseDictionary parses a field dictionary.
func ParseDictionary(data []byte) (*Dictionary, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("field dictionary: %w", err)
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("field dictionary: want a mapping of resident and enterprise")
	}
	d := &Dictionary{fields: map[profile.Kind][]*Field{}, byPath: map[profile.Kind]map[string]*Field{}}
	top := doc.Content[0]
	for i := 0; i+1 < len(top.Content); i += 2 {
		kind := profile.Kind(top.Content[i].Value)
		if !kind.Valid() {
			return nil, fmt.Errorf("field dictionary: line %d: %q is not resident or enterprise", top.Content[i].Line, kind)
		}
		d.byPath[kind] = map[string]*Field{}
		m := top.Content[i+1]
		for j := 0; j+1 < len(m.Content); j += 2 {
			k, v := m.Content[j], m.Content[j+1]
			f := &Field{Path: k.Value}
			if err := v.Decode(f); err != nil {
				return nil, fmt.Errorf("field dictionary: %s.%s: %w", kind, f.Path, err)
			}
			switch f.Type {
			case TypeBool, TypeDate, TypeMonth, TypeInt, TypeNumber, TypeChoice, TypeMulti, TypeList, TypeText:
			default:
				return nil, fmt.Errorf("field dictionary: %s.%s: unknown type %q", kind, f.Path, f.Type)
			}
			if f.Label == "" {
				return nil, fmt.Errorf("field dictionary: %s.%s: no label", kind, f.Path)
			}
			for x := 0; x+1 < len(v.Content); x += 2 {
				if v.Content[x].Value != "choices" {
					continue
				}
				cs := v.Content[x+1]
				for y := 0; y+1 < len(cs.Content); y += 2 {
					f.Choices = append(f.Choices, Choice{Value: cs.Content[y].Value, Label: cs.Content[y+1].Value})
				}
			}
			if (f.Type == TypeChoice || f.Type == TypeMulti) && len(f.Choices) == 0 && !f.Policies {
				return nil, fmt.Errorf("field dictionary: %s.%s: a %s needs choices", kind, f.Path, f.Type)
			}
			if d.byPath[kind][f.Path] != nil {
				return nil, fmt.Errorf("field dictionary: %s.%s is given twice", kind, f.Path)
			}
			d.byPath[kind][f.Path] = f
			d.fields[kind] = append(d.fields[kind], f)
		}
	}
	return d, nil
}

// Field returns the entry of path, or nil.
func (d *Dictionary) Field(kind profile.Kind, path string) *Field { return d.byPath[kind][path] }

// Fields returns kind's entries in the dictionary's order.
func (d *Dictionary) Fields(kind profile.Kind) []*Field { return d.fields[kind] }

// order is the position of path in the dictionary; fields it lacks come
// last.
func (d *Dictionary) order(kind profile.Kind, path string) int {
	for i, f := range d.fields[kind] {
		if f.Path == path {
			return i
		}
	}
	return len(d.fields[kind])
}

// ListOf returns the list a field of an array element belongs to
// (skill_certificates for skill_certificates[].level), or "".
func ListOf(path string) string {
	if l, _, ok := strings.Cut(path, "[]."); ok {
		return l
	}
	return ""
}

// Put sets the dotted path in doc to v, making the objects on the way; a
// field of an array element (list[].field) goes into the list's first
// element.
func Put(doc map[string]any, path string, v any) {
	if l, rest, ok := strings.Cut(path, "[]."); ok {
		arr, _ := get(doc, l).([]any)
		if len(arr) == 0 {
			arr = []any{map[string]any{}}
			Put(doc, l, arr)
		}
		el, _ := arr[0].(map[string]any)
		Put(el, rest, v)
		return
	}
	keys := strings.Split(path, ".")
	m := doc
	for _, k := range keys[:len(keys)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	m[keys[len(keys)-1]] = v
}

func get(doc map[string]any, path string) any {
	var cur any = doc
	for _, k := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[k]
	}
	return cur
}
