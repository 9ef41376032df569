package console

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/policypush/policypush/internal/store"
)

type fakeComments struct {
	comments map[int64]*store.Comment
	audits   []store.AuditEntry
}

func (f *fakeComments) CommentDrafts() []CommentDraft {
	return []CommentDraft{{ID: "d1", Title: "草案一", Open: true}}
}

func (f *fakeComments) Comments(_ context.Context, id string) ([]store.Comment, error) {
	var out []store.Comment
	for _, c := range f.comments {
		if c.PolicyID == id {
			out = append(out, *c)
		}
	}
	return out, nil
}

func (f *fakeComments) ModerateComment(_ context.Context, id int64, m store.Moderation, _ time.Time, e store.AuditEntry) (store.Comment, error) {
	c, ok := f.comments[id]
	if !ok {
		return store.Comment{}, store.ErrNotFound
	}
	if m.Status != nil {
		c.Status = *m.Status
	}
	if m.Adopted != nil {
		c.Adopted = *m.Adopted
	}
	if m.Reply != nil {
		c.Reply = *m.Reply
	}
	f.audits = append(f.audits, e)
	return *c, nil
}

// TestModerationPage: a reviewer reads the comments and makes one visible
// or hidden but cannot adopt one; a publisher adopts with a note; a viewer
// is refused; a post without the page's CSRF token, or from another
// origin, changes nothing; each change is handed over with its audit
// entry naming the officer and role.
func TestModerationPage(t *testing.T) {
	f := &fakeComments{comments: map[int64]*store.Comment{7: {ID: 7, PolicyID: "d1", Text: "建议延长期限", Status: "pending"}}}
	role := "reviewer"
	// The session's CSRF token, as signin's form guard hands it over; ""
	// stands for a request that came without the session.
	session := "session-csrf-token"
	h, err := NewComments(f, func(context.Context) (string, string, bool) { return "li", role, true },
		func(context.Context) string { return session }, nil, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	page := httptest.NewRecorder()
	h.ServeHTTP(page, httptest.NewRequest(http.MethodGet, "/console/comments?policy=d1", nil))
	if page.Code != http.StatusOK || !strings.Contains(page.Body.String(), "建议延长期限") ||
		strings.Contains(page.Body.String(), `value="adopt"`) {
		t.Fatalf("reviewer's page: %d; want the comment and no adopt button:\n%s", page.Code, page.Body)
	}
	csrf := session
	if !strings.Contains(page.Body.String(), `name="csrf" value="`+csrf+`"`) {
		t.Fatalf("the page's forms do not carry the session's CSRF token")
	}
	post := func(form url.Values, withCookie bool, site string) int {
		req := httptest.NewRequest(http.MethodPost, "/console/comments/7", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if site != "" {
			req.Header.Set("Sec-Fetch-Site", site)
		}
		session = ""
		if withCookie {
			session = csrf
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	steps := []struct {
		role   string
		form   url.Values
		cookie bool
		site   string
		want   int
	}{
		{"reviewer", url.Values{"csrf": {csrf}, "action": {"visible"}}, true, "same-origin", http.StatusSeeOther},
		{"reviewer", url.Values{"csrf": {csrf}, "action": {"adopt"}}, true, "same-origin", http.StatusForbidden},
		{"reviewer", url.Values{"csrf": {"x"}, "action": {"hidden"}}, true, "same-origin", http.StatusForbidden},
		{"reviewer", url.Values{"csrf": {csrf}, "action": {"hidden"}}, false, "same-origin", http.StatusForbidden},
		{"reviewer", url.Values{"csrf": {csrf}, "action": {"hidden"}}, true, "cross-site", http.StatusForbidden},
		{"viewer", url.Values{"csrf": {csrf}, "action": {"hidden"}}, true, "same-origin", http.StatusForbidden},
		{"publisher", url.Values{"csrf": {csrf}, "action": {"adopt"}, "reply": {"已采纳"}}, true, "same-origin", http.StatusSeeOther},
	}
	for i, s := range steps {
		role = s.role
		if got := post(s.form, s.cookie, s.site); got != s.want {
			t.Errorf("step %d (%s %v): %d, want %d", i, s.role, s.form["action"], got, s.want)
		}
	}
	c := f.comments[7]
	if c.Status != "visible" || !c.Adopted || c.Reply != "已采纳" {
		t.Errorf("comment now %+v, want visible, adopted, with the note", c)
	}
	if len(f.audits) != 2 || f.audits[0].Action != auditModerate || f.audits[0].ActorRole != "reviewer" ||
		f.audits[1].Action != auditAdopt || f.audits[1].ActorRole != "publisher" || f.audits[1].Actor != "li" {
		t.Errorf("audits %+v", f.audits)
	}
}
