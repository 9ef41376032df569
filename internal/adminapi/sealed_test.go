package adminapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/policypush/policypush/internal/store"
	"github.com/policypush/policypush/internal/sweep"

	"github.com/policypush/policypush/internal/testlog"
)

// oldExplanationStore returns a subject whose stored explanation predates
// lint's refusal of contact reads and the schema's sensitive marks.
type oldExplanationStore struct{ fakeStore }

func (oldExplanationStore) Subject(_ context.Context, k store.SubjectKey) (store.SubjectView, error) {
	x := `{"policy_id":"p","conditions":[{"name":"c","expr":"resident.contact.mobile != \"\"","verdict":"true","reads":[` +
		`{"name":"resident.contact.mobile","value":"13812345678"},{"name":"resident.channels.wechat.openid","value":"oSecretOpenIdSecretOpenId001"},` +
		`{"name":"resident.hardship.categories","value":["single_parent"]},{"name":"resident.hukou.is_local","value":true}]}],"result":"eligible"}`
	return store.SubjectView{SubjectType: k.Type, SubjectID: k.ID, Contacts: map[string]string{"contact.mobile": "138****5678"},
		Matches: []store.MatchView{{PolicyID: "p", Result: "eligible", Explanation: json.RawMessage(x)}}}, nil
}

// TestSensitiveNeverShownInSubjectView: GET /api/subjects/… withholds the
// values of sensitive and contact fields in the explanations it returns,
// as it masks the contacts.
func TestSensitiveNeverShownInSubjectView(t *testing.T) {
	h, err := New(&oldExplanationStore{}, fakeRules{}, token, testlog.New(t), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Register(mux)
	req := httptest.NewRequest("GET", "/api/subjects/resident/p_1", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	body := rec.Body.String()
	for _, secret := range []string{"13812345678", "oSecretOpenId", "single_parent"} {
		if strings.Contains(body, secret) {
			t.Errorf("the subject view shows %q: %s", secret, body)
		}
	}
	for _, want := range []string{`{"name":"resident.hardship.categories","sensitive":true}`, `{"name":"resident.contact.mobile","sensitive":true}`,
		`{"name":"resident.hukou.is_local","value":true}`, `"verdict":"true"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the subject view lacks %s: %s", want, body)
		}
	}
}

// gatedRules previews until released or until its context ends, as a
// preview over a large city does; it counts 42 profiles before either.
type gatedRules struct {
	fakeRules
	started chan struct{}
	release chan struct{}
}

func (g gatedRules) Preview(ctx context.Context, id string, draft []byte) (sweep.Report, error) {
	g.started <- struct{}{}
	select {
	case <-g.release:
		return g.fakeRules.Preview(ctx, id, draft)
	case <-ctx.Done():
		return sweep.Report{PolicyID: id, Profiles: 42, Eligible: 7}, ctx.Err()
	}
}

func previewRequest(mux http.Handler, method, path, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	return rec
}

func errorOf(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	var v struct{ Error string }
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil || v.Error == "" {
		t.Fatalf("body is not a JSON error: %s", rec.Body)
	}
	return v.Error
}

// TestPreviewBudget: a preview that outruns POLICYPUSH_PREVIEW_BUDGET is
// stopped and answered 503, and the counts it had are not returned as if
// they were the whole.
func TestPreviewBudget(t *testing.T) {
	g := gatedRules{started: make(chan struct{}, 1), release: make(chan struct{})}
	h, err := New(&fakeStore{}, g, token, testlog.New(t), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	h.SetPreviewBudget(150 * time.Millisecond)
	mux := http.NewServeMux()
	h.Register(mux)
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/api/policies/p1/preview", ""},
		{"POST", "/api/policies/preview", "id: draft\n"},
	} {
		start := time.Now()
		rec := previewRequest(mux, c.method, c.path, c.body)
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("%s %s took %s, past its budget", c.method, c.path, took)
		}
		<-g.started
		if rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("%s %s: status %d, want 503: %s", c.method, c.path, rec.Code, rec.Body)
		}
		msg := errorOf(t, rec)
		if !strings.Contains(msg, "ran out of its time budget of 150ms after 42 profiles") || !strings.Contains(msg, "not reported") {
			t.Errorf("message %q does not say the budget ran out and the counts are withheld", msg)
		}
		if strings.Contains(rec.Body.String(), `"eligible"`) {
			t.Errorf("a partial count is returned: %s", rec.Body)
		}
	}
	// Within budget, the preview answers as before.
	go func() { <-g.started; g.release <- struct{}{} }()
	h.SetPreviewBudget(time.Minute)
	if rec := previewRequest(mux, "GET", "/api/policies/p1/preview", ""); rec.Code != 200 || !strings.Contains(rec.Body.String(), `"eligible":3`) {
		t.Errorf("a preview within budget: %d %s", rec.Code, rec.Body)
	}
}

// TestPreviewOneAtATime: while one preview runs, another is refused with
// 429 at once rather than queued; when it ends, the next one runs.
func TestPreviewOneAtATime(t *testing.T) {
	g := gatedRules{started: make(chan struct{}, 1), release: make(chan struct{})}
	h, err := New(&fakeStore{}, g, token, testlog.New(t), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Register(mux)
	first := make(chan *httptest.ResponseRecorder)
	go func() { first <- previewRequest(mux, "GET", "/api/policies/p1/preview", "") }()
	<-g.started
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/api/policies/p1/preview", ""},
		{"POST", "/api/policies/preview", "id: draft\n"},
	} {
		rec := previewRequest(mux, c.method, c.path, c.body)
		if rec.Code != http.StatusTooManyRequests {
			t.Fatalf("%s %s while another runs: status %d, want 429: %s", c.method, c.path, rec.Code, rec.Body)
		}
		if msg := errorOf(t, rec); !strings.Contains(msg, "a preview is already running") {
			t.Errorf("message %q", msg)
		}
		if rec.Header().Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
	}
	g.release <- struct{}{}
	if rec := <-first; rec.Code != 200 {
		t.Fatalf("the first preview: %d %s", rec.Code, rec.Body)
	}
	go func() { <-g.started; g.release <- struct{}{} }()
	if rec := previewRequest(mux, "POST", "/api/policies/preview", "id: draft\n"); rec.Code != 200 || !strings.Contains(rec.Body.String(), `"new":7`) {
		t.Errorf("the next preview after the first ended: %d %s", rec.Code, rec.Body)
	}
}
