package profile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
)

// ApplyPatch merges patch, a JSON Merge Patch (RFC 7396), into cur, the
// stored profile of subject id of the given kind (nil when there is none:
// the patch then applies to a profile holding only the id). The result
// must pass ValidateProfile and keep the id; it is returned decoded, with
// numbers as json.Number, so that they are stored as written. cur is left
// as it was.
func (v *Validator) ApplyPatch(kind Kind, id string, cur map[string]any, patch []byte) (map[string]any, error) {
	// Checked before merging, so that the merge never walks a patch nested
	// without bound; DecodeEnvelope has already done so for an event's.
	if problem, nul := scanRaw(patch); problem != "" || nul {
		if nul {
			problem = "a string holds U+0000 (NUL), which the store cannot hold"
		}
		return nil, fmt.Errorf("invalid merge patch: %s", problem)
	}
	field := idField(kind)
	base := cur
	if base == nil {
		base = map[string]any{field: id}
	}
	if !json.Valid(patch) {
		return nil, fmt.Errorf("invalid merge patch: malformed JSON")
	}
	var p any
	pd := json.NewDecoder(bytes.NewReader(patch))
	pd.UseNumber()
	if err := pd.Decode(&p); err != nil {
		return nil, fmt.Errorf("invalid merge patch: %w", err)
	}
	data, err := json.Marshal(mergePatch(base, p))
	if err != nil {
		return nil, fmt.Errorf("encode profile: %w", err)
	}
	if err := v.ValidateProfile(kind, data); err != nil {
		return nil, fmt.Errorf("the patched profile breaks the schema: %w", err)
	}
	var next map[string]any
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	if err := d.Decode(&next); err != nil {
		return nil, fmt.Errorf("decode profile: %w", err)
	}
	if got, _ := next[field].(string); got != id {
		return nil, fmt.Errorf("the profile's %s %q is not the event's subject_id %q", field, got, id)
	}
	return next, nil
}

// mergePatch is RFC 7396's MergePatch(target, patch). A patch that is not
// an object replaces the target whole, as sent: a list keeps the nulls of
// its entries, which say "unknown" there, as a snapshot's would, rather
// than losing them (evanphx/json-patch drops them, so that an entry
// stored with "amount": null and sent back unchanged no longer looked
// like itself, and granted again). target is not modified: the objects
// on the patch's paths are copied.
func mergePatch(target, patch any) any {
	pm, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	tm, _ := target.(map[string]any)
	out := make(map[string]any, len(tm)+len(pm))
	maps.Copy(out, tm)
	for k, v := range pm {
		if v == nil {
			delete(out, k)
			continue
		}
		out[k] = mergePatch(out[k], v)
	}
	return out
}
