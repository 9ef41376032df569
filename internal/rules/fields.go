package rules

import (
	"sort"
	"strings"
)

// ConditionFields lists the profile fields the policy's condition named
// name reads, as dotted paths (a field of an array element is written
// "array[].field", and the array itself is listed too); nil when the policy
// has no such condition. A correction request (信息有误) goes to the sources
// of these fields.
func (p *Policy) ConditionFields(name string) []string {
	for i, c := range p.Conditions {
		if c.Name == name && i < len(p.condFields) {
			return append([]string(nil), p.condFields[i]...)
		}
	}
	return nil
}

// programFields is the sorted set of fields one expression reads.
func programFields(pr *program, lay *layout) []string {
	set := map[string]bool{}
	for slot := range pr.reads.slots {
		set[lay.slots[slot].path] = true
	}
	for e := range pr.reads.elems {
		set[e] = true
		arr, _, _ := strings.Cut(e, "[]")
		set[arr] = true
	}
	out := make([]string, 0, len(set))
	for f := range set {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}
