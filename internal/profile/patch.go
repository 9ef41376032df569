package profile

import (
	"bytes"
	"encoding/json"
	"fmt"

	jsonpatch "github.com/evanphx/json-patch/v5"
)

// ApplyPatch merges patch, a JSON Merge Patch (RFC 7396), into cur, the
// stored profile of subject id of the given kind (nil when there is none:
// the patch then applies to a profile holding only the id). The result
// must pass ValidateProfile and keep the id; it is returned decoded, with
// numbers as json.Number, so that they are stored as written.
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
	doc, err := json.Marshal(base)
	if err != nil {
		return nil, fmt.Errorf("encode profile: %w", err)
	}
	data, err := jsonpatch.MergePatch(doc, patch)
	if err != nil {
		return nil, fmt.Errorf("invalid merge patch: %w", err)
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
