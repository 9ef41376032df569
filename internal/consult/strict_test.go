package consult

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestCommentStrictJSON: a comment with anything after its object — a
// second object, text, a stray brace — is refused with 400 and a message
// that says so, and nothing is stored; it used to post the first object
// and drop the rest. Unknown keys stay refused, and CONTRACTS §7's shape
// {"text", "name"} (name optional) is taken.
func TestCommentStrictJSON(t *testing.T) {
	st := &fakeStore{}
	c := &clock{}
	c.set(day("2026-12-10T10:00:00+08:00"))
	_, mux := newTestService(t, st, c, Config{})
	for i, tc := range []struct {
		name, body string
		code       int
		want       string // in the error
	}{
		{"text and name", `{"text": "希望延长申领期限", "name": "陈女士"}`, http.StatusCreated, ""},
		{"text", `{"text": "希望延长申领期限"}`, http.StatusCreated, ""},
		{"text, whitespace after", "{\"text\": \"希望延长申领期限\"}\n\r\t ", http.StatusCreated, ""},
		{"two objects", `{"text": "一"}{"text": "二"}`, http.StatusBadRequest, "data after the object"},
		{"text after", `{"text": "一"} 二`, http.StatusBadRequest, "data after the object"},
		{"brace after", `{"text": "一"}}`, http.StatusBadRequest, "data after the object"},
		{"array after", `{"text": "一"}[]`, http.StatusBadRequest, "data after the object"},
		{"unknown key", `{"text": "一", "nmae": "陈女士"}`, http.StatusBadRequest, `unknown field \"nmae\"`},
	} {
		before := st.count()
		// Each from its own client: the per-client comment limit is not
		// what this tests.
		rec := postComment(mux, "test-draft", fmt.Sprintf("192.0.2.%d:1", i+1), tc.body)
		body := rec.Body.String()
		if rec.Code != tc.code || !strings.Contains(body, tc.want) || (tc.code != http.StatusCreated && !strings.Contains(body, `"error"`)) {
			t.Errorf("%s: %d %s, want %d with %q", tc.name, rec.Code, body, tc.code, tc.want)
		}
		stored := st.count() - before
		if want := map[bool]int{true: 1, false: 0}[tc.code == http.StatusCreated]; stored != want {
			t.Errorf("%s: %d stored, want %d", tc.name, stored, want)
		}
	}
}
