package consult

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// TestCommentForm: the HTML form's post needs the page's CSRF token (as
// cookie and field) and a same-origin request; a valid one is stored and
// redirected (303) to the page saying so; an empty text is shown again
// with the message, keeping what was typed.
func TestCommentForm(t *testing.T) {
	st := &fakeStore{}
	c := &clock{}
	c.set(day("2026-12-10T10:00:00+08:00"))
	_, mux := newTestService(t, st, c, Config{})
	page := get(mux, "/consultations/test-draft")
	if page.Code != http.StatusOK || page.Header().Get("Content-Security-Policy") != pageCSP {
		t.Fatalf("page %d, CSP %q", page.Code, page.Header().Get("Content-Security-Policy"))
	}
	var csrf string
	for _, ck := range page.Result().Cookies() {
		if ck.Name == CSRFCookie && ck.HttpOnly && ck.SameSite == http.SameSiteStrictMode {
			csrf = ck.Value
		}
	}
	if csrf == "" || !strings.Contains(page.Body.String(), `value="`+csrf+`"`) {
		t.Fatal("the page sets no HttpOnly SameSite=Strict CSRF cookie, or its form lacks the token")
	}
	post := func(form url.Values, cookie bool, site string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/consultations/test-draft/comments", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", site)
		if cookie {
			req.AddCookie(&http.Cookie{Name: CSRFCookie, Value: csrf})
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		return rec
	}
	good := url.Values{"csrf": {csrf}, "text": {"建议简化材料"}, "name": {"赵"}}
	if rec := post(good, false, "same-origin"); rec.Code != http.StatusForbidden {
		t.Errorf("without the cookie: %d, want 403", rec.Code)
	}
	if rec := post(url.Values{"csrf": {"x"}, "text": {"建议"}}, true, "same-origin"); rec.Code != http.StatusForbidden {
		t.Errorf("with a wrong token: %d, want 403", rec.Code)
	}
	if rec := post(good, true, "cross-site"); rec.Code != http.StatusForbidden {
		t.Errorf("cross-site: %d, want 403", rec.Code)
	}
	if st.count() != 0 {
		t.Fatal("a refused post was stored")
	}
	rec := post(url.Values{"csrf": {csrf}, "text": {"  "}, "name": {"赵先生"}}, true, "same-origin")
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "请填写意见内容") ||
		!strings.Contains(rec.Body.String(), `value="赵先生"`) {
		t.Errorf("empty text: %d; want 400 with the message and the name kept", rec.Code)
	}
	rec = post(good, true, "same-origin")
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/consultations/test-draft?done=1#comment" {
		t.Fatalf("valid post: %d to %q", rec.Code, rec.Header().Get("Location"))
	}
	if st.count() != 1 || st.comments[0].Text != "建议简化材料" || st.comments[0].Name != "赵" || st.comments[0].PolicyVersion != 2 {
		t.Errorf("stored %+v", st.comments)
	}
	if done := get(mux, "/consultations/test-draft?done=1"); !strings.Contains(done.Body.String(), "已收到您的意见") {
		t.Error("the page does not say the comment was received")
	}
}
