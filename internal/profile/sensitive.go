package profile

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/policypush/policypush/schemas"
)

// SensitiveMark is the schema annotation that marks a field (and all it
// holds) as sensitive: conditions may read it, but its value is never shown
// in notice text, on pages, or in explanations (CONTRACTS.md §2).
const SensitiveMark = "x-sensitive"

// Marks says which profile fields must never be shown. The sensitive ones
// are read from the schemas' SensitiveMark annotations; the contact and
// channel objects (how a subject is reached) are sealed by the contract.
type Marks struct {
	sensitive map[Kind][]string // dotted paths, sorted
}

// sealedRoots are the top-level objects that hold a subject's mobiles and
// openids, for either kind.
var sealedRoots = []string{"contact", "contacts", "channels"}

// LoadMarks reads the sensitive marks of both embedded profile schemas.
func LoadMarks() (*Marks, error) {
	m := &Marks{sensitive: map[Kind][]string{}}
	for kind, name := range map[Kind]string{KindResident: schemas.Resident, KindEnterprise: schemas.Enterprise} {
		raw, err := schemas.FS.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("read schema %s: %w", name, err)
		}
		var doc map[string]any
		if err := json.Unmarshal(raw, &doc); err != nil {
			return nil, fmt.Errorf("parse schema %s: %w", name, err)
		}
		var paths []string
		var walk func(node map[string]any, prefix string)
		walk = func(node map[string]any, prefix string) {
			props, _ := node["properties"].(map[string]any)
			for k, v := range props {
				child, _ := v.(map[string]any)
				if child == nil {
					continue
				}
				if mark, _ := child[SensitiveMark].(bool); mark {
					paths = append(paths, prefix+k)
					continue // everything below is sensitive too
				}
				walk(child, prefix+k+".")
				if items, ok := child["items"].(map[string]any); ok {
					walk(items, prefix+k+"[].")
				}
			}
		}
		walk(doc, "")
		sort.Strings(paths)
		m.sensitive[kind] = paths
	}
	return m, nil
}

// Sensitive lists the marked paths of a kind, dotted, such as "disability".
func (m *Marks) Sensitive(kind Kind) []string { return m.sensitive[kind] }

// IsSensitive reports whether the dotted path (from the profile's root, an
// array element written "list[].field") is or lies inside a sensitive field.
func (m *Marks) IsSensitive(kind Kind, path string) bool {
	return under(path, m.sensitive[kind])
}

// IsSealed reports whether the dotted path is or lies inside a contact or
// channel object: data that says how to reach the subject.
func IsSealed(path string) bool { return under(path, sealedRoots) }

func under(path string, roots []string) bool {
	for _, r := range roots {
		if path == r || strings.HasPrefix(path, r+".") || strings.HasPrefix(path, r+"[]") {
			return true
		}
	}
	return false
}

// Hidden reports whether a name as explanations write it, with the subject
// prefix ("resident.disability.level", "enterprise.contacts.hr_mobile"), or
// with an index ("resident.hardship.records[2].kind"), must not be shown
// with its value.
func (m *Marks) Hidden(name string) bool {
	kind, path, ok := strings.Cut(name, ".")
	if !ok || (Kind(kind) != KindResident && Kind(kind) != KindEnterprise) {
		return false
	}
	return IsSealed(path) || m.IsSensitive(Kind(kind), path)
}
