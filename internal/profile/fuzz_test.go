package profile

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// The fuzz targets check properties, not just the absence of a panic:
// whatever the validator accepts, the store can hold (valid UTF-8, no NUL,
// no lone surrogate, within MaxDepth and ±MaxSafeInteger) and the Go types
// can decode, so that one accepted event can never fail a batch later.
// Their seed corpora are in testdata/fuzz; `make fuzz` runs them.

func fuzzValidator(t testing.TB) *Validator {
	v, err := NewValidator(WithClock(func() time.Time { return clock }))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// storable fails t unless doc, encoded as the pipeline encodes it, is what
// the store and the profile types hold.
func storable(t *testing.T, kind Kind, doc map[string]any) []byte {
	t.Helper()
	data, err := json.Marshal(doc)
	if err != nil {
		t.Fatalf("an accepted profile does not encode: %v", err)
	}
	if problem, nul := scanRaw(data); problem != "" || nul {
		t.Fatalf("an accepted profile encodes to %q: %s (NUL: %v)", data, problem, nul)
	}
	if _, err := DecodeValid(kind, data); err != nil {
		t.Fatalf("an accepted profile does not decode into its Go type: %v\n%s", err, data)
	}
	return data
}

func FuzzDecodeEnvelope(f *testing.F) {
	v := fuzzValidator(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		env, err := v.DecodeEnvelope(raw)
		if err != nil {
			if env != nil {
				t.Fatal("an envelope with an error")
			}
			if !strings.Contains(err.Error(), "invalid") {
				t.Fatalf("error %q does not say invalid", err)
			}
			return
		}
		// U+FFFD is how decoding hides a lone surrogate or a byte that is
		// not UTF-8; it may appear only if the message wrote it.
		wroteFFFD := bytes.Contains(raw, []byte("\uFFFD")) || bytes.Contains(bytes.ToLower(raw), []byte(`\ufffd`))
		for name, s := range map[string]string{"event_id": env.EventID, "subject_id": env.SubjectID, "source": env.Source} {
			hidden := strings.ContainsRune(s, utf8.RuneError) && !wroteFFFD
			if s == "" || strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s) || hidden {
				t.Fatalf("accepted %s %q", name, s)
			}
		}
		if !env.SubjectType.Valid() || (env.Type != Snapshot && env.Type != Patch) {
			t.Fatalf("accepted subject_type %q, type %q", env.SubjectType, env.Type)
		}
		if env.OccurredAt.Sub(clock) > MaxAhead {
			t.Fatalf("accepted occurred_at %v, more than %v ahead of %v", env.OccurredAt, MaxAhead, clock)
		}
		if problem, nul := scanRaw(env.Data); problem != "" || nul {
			t.Fatalf("accepted data: %s (NUL: %v)", problem, nul)
		}
		switch env.Type {
		case Snapshot:
			if env.Doc == nil || subjectID(env.SubjectType, env.Doc) != env.SubjectID {
				t.Fatalf("accepted a snapshot of another subject, or none: %v", env.Doc)
			}
			data := storable(t, env.SubjectType, env.Doc)
			if err := v.ValidateProfile(env.SubjectType, data); err != nil {
				t.Fatalf("an accepted snapshot, re-encoded, is refused: %v", err)
			}
		case Patch:
			var patch map[string]any
			if err := json.Unmarshal(env.Data, &patch); err != nil {
				t.Fatalf("accepted a patch that is no object: %v", err)
			}
			if id, ok := patch[idField(env.SubjectType)]; ok && id != env.SubjectID {
				t.Fatalf("accepted a patch that sets the id to %v", id)
			}
			// Applied to no profile, it is refused or gives a storable one.
			if next, err := v.ApplyPatch(env.SubjectType, env.SubjectID, nil, env.Data); err == nil {
				storable(t, env.SubjectType, next)
			}
		}
	})
}

func FuzzValidateProfile(f *testing.F) {
	v := fuzzValidator(f)
	f.Fuzz(func(t *testing.T, enterprise bool, data []byte) {
		kind := KindResident
		if enterprise {
			kind = KindEnterprise
		}
		if err := v.ValidateProfile(kind, data); err != nil {
			return
		}
		doc, err := v.profileDoc(kind, data)
		if err != nil {
			t.Fatalf("ValidateProfile accepts what profileDoc refuses: %v", err)
		}
		if subjectID(kind, doc) == "" {
			t.Fatal("accepted a profile without its id")
		}
		again := storable(t, kind, doc)
		if err := v.ValidateProfile(kind, again); err != nil {
			t.Fatalf("an accepted profile, re-encoded, is refused: %v\n%s", err, again)
		}
		if _, err := v.Decode(kind, data); err != nil {
			t.Fatalf("an accepted profile does not decode: %v", err)
		}
	})
}

func FuzzApplyPatch(f *testing.F) {
	v := fuzzValidator(f)
	f.Fuzz(func(t *testing.T, cur, patch []byte) {
		const kind, id = KindResident, "p1"
		var base map[string]any
		if doc, err := v.profileDoc(kind, cur); err == nil && subjectID(kind, doc) == id {
			base = doc
		}
		next, err := v.ApplyPatch(kind, id, base, patch)
		if err != nil {
			return
		}
		if subjectID(kind, next) != id {
			t.Fatalf("the patched profile is of %q", subjectID(kind, next))
		}
		data := storable(t, kind, next)
		if err := v.ValidateProfile(kind, data); err != nil {
			t.Fatalf("an accepted patch result, re-encoded, is refused: %v\n%s", err, data)
		}
		// RFC 7396 is idempotent: the same patch again changes nothing.
		twice, err := v.ApplyPatch(kind, id, next, patch)
		if err != nil {
			t.Fatalf("the patch applies once but not twice: %v", err)
		}
		if a, b := storable(t, kind, twice), data; !jsonEqual(a, b) {
			t.Fatalf("the patch applied twice gives\n%s\nonce\n%s", a, b)
		}
	})
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}
