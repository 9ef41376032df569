package consult

import (
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestCommentBoundaries pins what the JSON comment endpoint does with
// input a person did not mean or a client got wrong: a NUL (which
// PostgreSQL's text cannot hold) and other control characters are dropped,
// so is a lone surrogate or a byte that is not UTF-8 (each decoded as
// U+FFFD); a text that is nothing else is empty (400); 2000 characters pass
// and 2001 do not, counted after the dropping; a body over the bound is 413
// and stores nothing.
func TestCommentBoundaries(t *testing.T) {
	st := &fakeStore{}
	c := &clock{}
	c.set(day("2026-12-10T10:00:00+08:00"))
	_, mux := newTestService(t, st, c, Config{})
	long := strings.Repeat("长", MaxTextRunes)
	for _, tc := range []struct {
		name, body string
		want       int
		stored     string // the text stored, when 201
	}{
		{"NUL inside", `{"text":"建议\u0000提高"}`, http.StatusCreated, "建议提高"},
		{"only NUL", `{"text":"\u0000\u0000"}`, http.StatusBadRequest, ""},
		{"lone surrogate", `{"text":"建议\ud800提高"}`, http.StatusCreated, "建议提高"},
		{"not UTF-8", "{\"text\":\"建议\xff\xfe提高\"}", http.StatusCreated, "建议提高"},
		{"2000 and controls", `{"text":"` + long + `\u0007\u0000"}`, http.StatusCreated, long},
		{"2001", `{"text":"` + long + `长"}`, http.StatusBadRequest, ""},
		{"name with a newline", `{"text":"好","name":"张\n三"}`, http.StatusCreated, "好"},
		{"huge", `{"text":"` + strings.Repeat("x", maxCommentBody) + `"}`, http.StatusRequestEntityTooLarge, ""},
	} {
		before := st.count()
		rec := postComment(mux, "test-draft", "192.0.2.1:1", tc.body)
		if rec.Code != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, rec.Code, rec.Body, tc.want)
			continue
		}
		st.mu.Lock()
		var got *string
		if len(st.comments) > before {
			got = &st.comments[len(st.comments)-1].Text
		}
		st.mu.Unlock()
		switch {
		case tc.want != http.StatusCreated && got != nil:
			t.Errorf("%s: stored %q", tc.name, *got)
		case tc.want == http.StatusCreated && (got == nil || *got != tc.stored || !utf8.ValidString(*got) || strings.ContainsRune(*got, 0)):
			t.Errorf("%s: stored %v, want %.20q", tc.name, got, tc.stored)
		}
	}
}
