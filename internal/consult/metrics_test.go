package consult

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestCommentRateLimitCounted: every comment the per-client limit refuses
// — posted as JSON or from the form — is counted in
// policypush_comments_rate_limited_total, which has no labels; a comment
// taken, or refused as invalid, is not. The public limit's
// policypush_http_rate_limited_total counted none of them.
func TestCommentRateLimitCounted(t *testing.T) {
	reg := prometheus.NewRegistry()
	st := &fakeStore{}
	c := &clock{}
	c.set(day("2026-12-10T10:00:00+08:00"))
	_, mux := newTestService(t, st, c, Config{CommentRate: 1, CommentPeriod: time.Hour, Registry: reg})
	ok := `{"text":"建议把申领期限延长到18个月"}`
	const client = "198.51.100.7:1000"

	if rec := postComment(mux, "test-draft", client, ok); rec.Code != http.StatusCreated {
		t.Fatalf("first comment: %d %s", rec.Code, rec.Body)
	}
	if got := refusedComments(t, reg); got != 0 {
		t.Errorf("after a comment taken: %v refused, want 0", got)
	}
	if rec := postComment(mux, "test-draft", client, `{"text":" "}`); rec.Code != http.StatusBadRequest {
		t.Fatalf("empty text: %d, want 400", rec.Code)
	}
	for i := range 2 {
		if rec := postComment(mux, "test-draft", client, ok); rec.Code != http.StatusTooManyRequests {
			t.Fatalf("JSON comment %d past the limit: %d, want 429", i+1, rec.Code)
		}
	}
	if got := refusedComments(t, reg); got != 2 {
		t.Errorf("after two JSON comments refused: %v, want 2", got)
	}

	page := get(mux, "/consultations/test-draft")
	var csrf string
	for _, ck := range page.Result().Cookies() {
		if ck.Name == CSRFCookie {
			csrf = ck.Value
		}
	}
	form := url.Values{"csrf": {csrf}, "text": {"建议简化材料"}}
	req := httptest.NewRequest(http.MethodPost, "/consultations/test-draft/comments", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.AddCookie(&http.Cookie{Name: CSRFCookie, Value: csrf})
	req.RemoteAddr = client
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	if rec.Code != http.StatusTooManyRequests {
		t.Fatalf("form comment past the limit: %d, want 429", rec.Code)
	}
	if got := refusedComments(t, reg); got != 3 {
		t.Errorf("after the form's comment refused: %v, want 3", got)
	}
	if n := st.count(); n != 1 {
		t.Errorf("%d stored, want 1", n)
	}
}

// refusedComments reads policypush_comments_rate_limited_total from reg.
func refusedComments(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "policypush_comments_rate_limited_total" {
			continue
		}
		if len(mf.GetMetric()) != 1 || len(mf.GetMetric()[0].GetLabel()) != 0 {
			t.Fatalf("policypush_comments_rate_limited_total: %v, want one series without labels", mf.GetMetric())
		}
		return mf.GetMetric()[0].GetCounter().GetValue()
	}
	t.Fatal("policypush_comments_rate_limited_total is not registered")
	return 0
}
