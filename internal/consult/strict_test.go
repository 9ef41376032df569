package consult

import (
	"encoding/json"
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

// TestCommentErrorEchoesNothing: a comment whose JSON is broken is
// refused with 400 and one of a few fixed messages, never encoding/json's
// text, which quoted the character it stopped at — a character of the
// comment — nor a key that is not a plain name. Nothing is stored.
func TestCommentErrorEchoesNothing(t *testing.T) {
	st := &fakeStore{}
	c := &clock{}
	c.set(day("2026-12-10T10:00:00+08:00"))
	_, mux := newTestService(t, st, c, Config{})
	const (
		notObject = "malformed JSON body: not a JSON object"
		types     = `malformed JSON body: "text" and "name" must be strings`
		unknown   = `malformed JSON body: unknown field; only "text" and "name" are taken`
	)
	for i, tc := range []struct {
		name, body, want string
		personal         []string // must not be in the answer
	}{
		{"stray letter", `{"text": "电话13800001234"x}`, notObject, []string{"x", "13800001234"}},
		{"unquoted text", `{"text": 幸福路8号}`, notObject, []string{"幸", "\\u5e78", "\\xe5", "'"}},
		{"unquoted name", `{"text": "好", "name": 王}`, notObject, []string{"王", "'"}},
		{"cut short", `{"text": "身份证110101199003071234`, notObject, []string{"110101"}},
		{"number", `{"text": 13800001234}`, types, []string{"13800001234", "number", "commentBody"}},
		{"Chinese key", `{"text": "好", "幸福路8号": "x"}`, unknown, []string{"幸福路"}},
		{"number key", `{"text": "好", "13800001234": "x"}`, unknown, []string{"13800001234"}},
		{"empty", ``, "malformed JSON body: empty body", nil},
		{"after", `{"text": "好"}x`, "malformed JSON body: data after the object", []string{"x"}},
		{"misspelt key", `{"txet": "好"}`, `malformed JSON body: unknown field "txet"; only "text" and "name" are taken`, nil},
	} {
		rec := postComment(mux, "test-draft", fmt.Sprintf("192.0.2.%d:1", i+1), tc.body)
		var got errorBody
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || rec.Code != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400 with a JSON error", tc.name, rec.Code, rec.Body)
			continue
		}
		if got.Error != tc.want {
			t.Errorf("%s: error %q, want %q", tc.name, got.Error, tc.want)
		}
		for _, p := range tc.personal {
			if strings.Contains(rec.Body.String(), p) {
				t.Errorf("%s: the answer %s echoes %q", tc.name, rec.Body, p)
			}
		}
	}
	if n := st.count(); n != 0 {
		t.Errorf("%d stored, want 0", n)
	}
}
