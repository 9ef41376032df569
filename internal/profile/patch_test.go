package profile

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// mergePatch gives RFC 7396 Appendix A's results, and keeps a list as
// sent, nulls in its entries included.
func TestMergePatchRFC7396(t *testing.T) {
	tests := []struct{ original, patch, want string }{
		// RFC 7396, Appendix A.
		{`{"a":"b"}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"b"}`, `{"b":"c"}`, `{"a":"b","b":"c"}`},
		{`{"a":"b"}`, `{"a":null}`, `{}`},
		{`{"a":"b","b":"c"}`, `{"a":null}`, `{"b":"c"}`},
		{`{"a":["b"]}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"c"}`, `{"a":["b"]}`, `{"a":["b"]}`},
		{`{"a":{"b":"c"}}`, `{"a":{"b":"d","c":null}}`, `{"a":{"b":"d"}}`},
		{`{"a":[{"b":"c"}]}`, `{"a":[1]}`, `{"a":[1]}`},
		{`["a","b"]`, `["c","d"]`, `["c","d"]`},
		{`{"a":"b"}`, `["c"]`, `["c"]`},
		{`{"a":"foo"}`, `null`, `null`},
		{`{"a":"foo"}`, `"bar"`, `"bar"`},
		{`{"e":null}`, `{"a":1}`, `{"e":null,"a":1}`},
		{`[1,2]`, `{"a":"b","c":null}`, `{"a":"b"}`},
		{`{}`, `{"a":{"bb":{"ccc":null}}}`, `{"a":{"bb":{}}}`},
		// A list is a value: what is in it stays as sent (§2: "return Patch").
		{`{"l":[{"p":"x","amount":null}]}`, `{"l":[{"p":"x","amount":null},{"p":"x","amount":5}]}`, `{"l":[{"p":"x","amount":null},{"p":"x","amount":5}]}`},
		{`{}`, `{"l":[{"p":"x","year":null}]}`, `{"l":[{"p":"x","year":null}]}`},
	}
	for _, tt := range tests {
		var orig, patch, want any
		for _, x := range []struct {
			s string
			v *any
		}{{tt.original, &orig}, {tt.patch, &patch}, {tt.want, &want}} {
			if err := json.Unmarshal([]byte(x.s), x.v); err != nil {
				t.Fatal(err)
			}
		}
		before, _ := json.Marshal(orig)
		got, _ := json.Marshal(mergePatch(orig, patch))
		if w, _ := json.Marshal(want); !bytes.Equal(got, w) {
			t.Errorf("MergePatch(%s, %s) = %s, want %s", tt.original, tt.patch, got, tt.want)
		}
		if after, _ := json.Marshal(orig); !bytes.Equal(before, after) {
			t.Errorf("MergePatch(%s, %s) changed the target to %s", tt.original, tt.patch, after)
		}
	}
}

// A benefits_received entry stored with a null, sent back unchanged in a
// patch's list, is the same entry afterwards: the patch keeps its null.
func TestApplyPatchKeepsNullsInLists(t *testing.T) {
	v, err := NewValidator(WithClock(func() time.Time { return clock }))
	if err != nil {
		t.Fatal(err)
	}
	var cur map[string]any
	if err := json.Unmarshal([]byte(`{"uscc":"91330106MA2WJR5M9M","name":"杭州示例有限公司","benefits_received":[{"policy_id":"job-retention-refund","year":2025,"amount":null}]}`), &cur); err != nil {
		t.Fatal(err)
	}
	before, _ := json.Marshal(cur)
	next, err := v.ApplyPatch(KindEnterprise, "91330106MA2WJR5M9M", cur,
		[]byte(`{"name":"杭州示例二有限公司","benefits_received":[{"policy_id":"job-retention-refund","year":2025,"amount":null},{"policy_id":"job-retention-refund","year":2026,"amount":5676.03}]}`))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(next["benefits_received"])
	if want := `[{"amount":null,"policy_id":"job-retention-refund","year":2025},{"amount":5676.03,"policy_id":"job-retention-refund","year":2026}]`; string(got) != want {
		t.Errorf("benefits_received %s, want %s", got, want)
	}
	if after, _ := json.Marshal(cur); !bytes.Equal(before, after) {
		t.Errorf("the stored profile changed: %s", after)
	}
}
