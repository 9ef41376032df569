package rules

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/policypush/policypush/internal/profile"
)

// A layout describes one kind of profile as seen by rules: a tree of
// objects whose leaves and arrays each own a slot. At run time a profile is
// flattened once into a []any of pre-boxed slot values (nil = absent), so
// that evaluating a condition reads a slot without reflection or
// allocation.
type layout struct {
	kind  profile.Kind
	root  *field   // the profile object itself
	slots []*field // root slot space, by slot number
	zeros []any    // by slot: what an absent slot reads as
}

type fieldKind uint8

const (
	objectField fieldKind = iota
	leafField
	arrayField
)

// field is one node of a layout.
type field struct {
	name     string // JSON name
	path     string // dotted path from the root or from the array element
	kind     fieldKind
	leaf     reflect.Kind // leafField, or the element of an array of scalars
	children map[string]*field
	order    []*field // children in declaration order
	elem     *field   // arrayField: the element (objectField or leafField)
	slot     int      // leafField/arrayField: slot in its slot space
	goIndex  []int    // Go field index from the enclosing slot space's struct
	// space lists the slots of an element object (arrays of objects only),
	// and sorted the same by path, the order of a JSON object's keys.
	space, sorted []*field
}

func newLayout(kind profile.Kind, sample any) *layout {
	t := reflect.TypeOf(sample)
	l := &layout{kind: kind}
	l.root = &field{kind: objectField}
	l.slots = buildObject(l.root, t, nil, "")
	for _, f := range l.slots {
		l.zeros = append(l.zeros, zeroByKind[kindOf(f)])
	}
	return l
}

// buildObject fills obj from struct type t and returns the slots it defines,
// numbered in declaration order from zero.
func buildObject(obj *field, t reflect.Type, index []int, prefix string) []*field {
	var space []*field
	var walk func(obj *field, t reflect.Type, index []int, prefix string)
	walk = func(obj *field, t reflect.Type, index []int, prefix string) {
		obj.children = map[string]*field{}
		for i := 0; i < t.NumField(); i++ {
			sf := t.Field(i)
			name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
			if name == "" || name == "-" {
				continue
			}
			f := &field{name: name, path: prefix + name, goIndex: append(append([]int(nil), index...), i)}
			ft := sf.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			switch ft.Kind() {
			case reflect.Struct:
				f.kind = objectField
				walk(f, ft, f.goIndex, f.path+".")
			case reflect.Slice:
				f.kind = arrayField
				et := ft.Elem()
				if et.Kind() == reflect.Struct {
					f.elem = &field{kind: objectField}
					f.elem.space = buildObject(f.elem, et, nil, "")
					f.elem.sorted = append([]*field(nil), f.elem.space...)
					sort.Slice(f.elem.sorted, func(i, j int) bool { return f.elem.sorted[i].path < f.elem.sorted[j].path })
				} else {
					f.elem = &field{kind: leafField, leaf: et.Kind()}
				}
				f.slot = len(space)
				space = append(space, f)
			default:
				f.kind = leafField
				f.leaf = ft.Kind()
				f.slot = len(space)
				space = append(space, f)
			}
			obj.children[name] = f
			obj.order = append(obj.order, f)
		}
	}
	walk(obj, t, index, prefix)
	return space
}

// flatten boxes every slot of v (a struct value of the space's type) into dst.
func flatten(space []*field, v reflect.Value, dst []any) {
	for _, f := range space {
		dst[f.slot] = boxField(f, v)
	}
}

func boxField(f *field, v reflect.Value) any {
	for _, i := range f.goIndex {
		if v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return nil
			}
			v = v.Elem()
		}
		v = v.Field(i)
	}
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	switch f.kind {
	case arrayField:
		if v.IsNil() {
			return nil
		}
		out := make([]any, v.Len())
		for i := range out {
			ev := v.Index(i)
			if f.elem.kind == objectField {
				slots := make([]any, len(f.elem.space))
				flatten(f.elem.space, ev, slots)
				out[i] = slots
			} else {
				out[i] = boxLeaf(ev)
			}
		}
		return out
	default:
		return boxLeaf(v)
	}
}

func boxLeaf(v reflect.Value) any {
	switch v.Kind() {
	case reflect.String:
		return v.String()
	case reflect.Int, reflect.Int64, reflect.Int32:
		return int(v.Int())
	case reflect.Float64, reflect.Float32:
		return v.Float()
	case reflect.Bool:
		return v.Bool()
	}
	panic(fmt.Sprintf("rules: unsupported profile leaf %s", v.Type()))
}

// checkType is the Go type the expr checker sees for f: pointers removed,
// objects as structs whose fields carry the JSON names as expr tags.
func checkType(f *field) reflect.Type {
	switch f.kind {
	case leafField:
		return leafType(f.leaf)
	case arrayField:
		return reflect.SliceOf(checkType(f.elem))
	}
	fields := make([]reflect.StructField, 0, len(f.order))
	for i, c := range f.order {
		fields = append(fields, reflect.StructField{
			Name: fmt.Sprintf("F%d", i),
			Type: checkType(c),
			Tag:  reflect.StructTag(fmt.Sprintf(`expr:"%s"`, c.name)),
		})
	}
	return reflect.StructOf(fields)
}

func leafType(k reflect.Kind) reflect.Type {
	switch k {
	case reflect.String:
		return reflect.TypeOf("")
	case reflect.Int, reflect.Int64, reflect.Int32:
		return reflect.TypeOf(0)
	case reflect.Float64, reflect.Float32:
		return reflect.TypeOf(0.0)
	case reflect.Bool:
		return reflect.TypeOf(false)
	}
	panic(fmt.Sprintf("rules: unsupported profile leaf kind %s", k))
}

// layouts holds the two profile layouts.
type layouts struct {
	resident, enterprise *layout
}

func newLayouts() layouts {
	return layouts{
		resident:   newLayout(profile.KindResident, profile.Resident{}),
		enterprise: newLayout(profile.KindEnterprise, profile.Enterprise{}),
	}
}

func (ls layouts) of(k profile.Kind) *layout {
	if k == profile.KindEnterprise {
		return ls.enterprise
	}
	return ls.resident
}
