package consult

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/policypush/policypush/internal/citizenweb"
	"github.com/policypush/policypush/internal/rules"
	"github.com/policypush/policypush/internal/store"
)

// fakeStore keeps comments in memory and has no profiles.
type fakeStore struct {
	mu       sync.Mutex
	comments []store.Comment
	profiles []store.Profile
}

func (f *fakeStore) ProfilesAfter(_ context.Context, kind, after string, limit int) ([]store.Profile, error) {
	var out []store.Profile
	for _, p := range f.profiles {
		if p.Key.Type == kind && p.Key.ID > after && len(out) < limit {
			out = append(out, p)
		}
	}
	return out, nil
}
func (f *fakeStore) OptOutsOf(context.Context, string) (map[string][]string, error) { return nil, nil }
func (f *fakeStore) MatchedSubjects(context.Context, string) (map[store.SubjectKey]bool, error) {
	return nil, nil
}

func (f *fakeStore) AddComment(_ context.Context, c store.Comment) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c.ID = int64(len(f.comments) + 1)
	f.comments = append(f.comments, c)
	return c.ID, nil
}

func (f *fakeStore) CommentStats(_ context.Context, id string) (store.CommentStats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var st store.CommentStats
	for _, c := range f.comments {
		if c.PolicyID == id {
			st.Received++
		}
	}
	return st, nil
}

func (f *fakeStore) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.comments)
}

// testSet compiles testdata's draft and active policy.
func testSet(t *testing.T) *atomic.Pointer[rules.Set] {
	t.Helper()
	var rs []*rules.Rule
	for _, name := range []string{"testdata/draft.yaml", "testdata/active.yaml"} {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		r, err := rules.ParseRule(name, data)
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	set, err := rules.Compile(rs)
	if err != nil {
		t.Fatal(err)
	}
	var p atomic.Pointer[rules.Set]
	p.Store(set)
	return &p
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time)     { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func newTestService(t *testing.T, st Store, c *clock, cfg Config) (*Service, *http.ServeMux) {
	t.Helper()
	cfg.Now, cfg.Log = c.now, slog.New(slog.DiscardHandler)
	s, err := New(st, testSet(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	s.Register(mux)
	citizenweb.Register(mux)
	return s, mux
}

func get(mux http.Handler, path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec
}

func postComment(mux http.Handler, id, remote, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/public/consultations/"+id+"/comments", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.RemoteAddr = remote
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	return rec
}

func day(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// TestConsultationListedOnlyInWindow: a draft is listed, and takes
// comments, from the first second of its from day to the last of its
// until day in Asia/Shanghai, and not before nor after; before, its page
// does not exist; after, its page shows the results and refuses comments.
// An active policy is never listed.
func TestConsultationListedOnlyInWindow(t *testing.T) {
	st := &fakeStore{}
	c := &clock{}
	_, mux := newTestService(t, st, c, Config{})
	for _, tc := range []struct {
		at            string
		listed        bool
		page, comment int
		pageSays      string
	}{
		{"2026-11-30T23:59:59+08:00", false, http.StatusNotFound, http.StatusNotFound, "未找到"},
		{"2026-11-30T16:00:00Z", true, http.StatusOK, http.StatusCreated, "提交意见"}, // 00:00 on 1 December in Shanghai
		{"2026-12-31T23:59:59+08:00", true, http.StatusOK, http.StatusCreated, "提交意见"},
		{"2027-01-01T00:00:00+08:00", false, http.StatusOK, http.StatusConflict, "征求意见已结束"},
	} {
		t.Run(tc.at, func(t *testing.T) {
			c.set(day(tc.at))
			rec := get(mux, "/public/consultations")
			var got struct {
				Consultations []struct {
					PolicyID string `json:"policy_id"`
					Title    string `json:"title"`
					From     string `json:"from"`
					Until    string `json:"until"`
					Reach    *json.RawMessage
				} `json:"consultations"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &got); rec.Code != http.StatusOK || err != nil {
				t.Fatalf("list: %d %s %v", rec.Code, rec.Body, err)
			}
			switch {
			case !tc.listed && len(got.Consultations) != 0:
				t.Errorf("listed %+v outside the window", got.Consultations)
			case tc.listed && (len(got.Consultations) != 1 || got.Consultations[0].PolicyID != "test-draft" ||
				got.Consultations[0].From != "2026-12-01" || got.Consultations[0].Until != "2026-12-31"):
				t.Errorf("list %s, want test-draft 2026-12-01 to 2026-12-31 alone", rec.Body)
			}
			html := get(mux, "/consultations")
			if strings.Contains(html.Body.String(), "测试补贴调整") && !tc.listed && tc.page == http.StatusNotFound {
				t.Errorf("the HTML list shows the draft before its window")
			}
			if strings.Contains(html.Body.String(), "现行测试补贴") {
				t.Error("the HTML list shows an active policy")
			}
			pg := get(mux, "/consultations/test-draft")
			if pg.Code != tc.page || !strings.Contains(pg.Body.String(), tc.pageSays) {
				t.Errorf("page: %d, want %d saying %q", pg.Code, tc.page, tc.pageSays)
			}
			if pc := postComment(mux, "test-draft", "192.0.2.1:4000", `{"text":"建议提高标准","name":""}`); pc.Code != tc.comment {
				t.Errorf("comment: %d %s, want %d", pc.Code, pc.Body, tc.comment)
			}
		})
	}
	if n := st.count(); n != 2 {
		t.Errorf("%d comments stored, want the 2 made in the window", n)
	}
	if rec := get(mux, "/consultations/test-active"); rec.Code != http.StatusNotFound {
		t.Errorf("an active policy's consultation page: %d, want 404", rec.Code)
	}
}

// TestCommentRateLimit: one client may post CommentRate comments per
// period: the next gets 429 with Retry-After, whatever the public rate
// limit; another address may still post, an IPv6 /64 is one client, a
// comment refused as invalid costs nothing, an X-Forwarded-For from an
// untrusted peer is not believed, and the bucket refills with time.
func TestCommentRateLimit(t *testing.T) {
	st := &fakeStore{}
	c := &clock{}
	c.set(day("2026-12-10T10:00:00+08:00"))
	_, mux := newTestService(t, st, c, Config{CommentRate: 3, CommentPeriod: time.Hour})
	ok := `{"text":"建议把申领期限延长到18个月","name":"张先生"}`

	for i := range 3 {
		if rec := postComment(mux, "test-draft", "198.51.100.7:1000", ok); rec.Code != http.StatusCreated {
			t.Fatalf("comment %d: %d %s", i+1, rec.Code, rec.Body)
		}
	}
	// An invalid comment is refused for what it is, not counted.
	if rec := postComment(mux, "test-draft", "198.51.100.9:1000", `{"text":"   "}`); rec.Code != http.StatusBadRequest {
		t.Fatalf("empty text: %d, want 400", rec.Code)
	}
	rec := postComment(mux, "test-draft", "198.51.100.7:2000", ok)
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("4th comment: %d %q, want 429 with Retry-After", rec.Code, rec.Header().Get("Retry-After"))
	}
	req := httptest.NewRequest(http.MethodPost, "/public/consultations/test-draft/comments", strings.NewReader(ok))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", "203.0.113.50")
	req.RemoteAddr = "198.51.100.7:3000"
	spoof := httptest.NewRecorder()
	mux.ServeHTTP(spoof, req)
	if spoof.Code != http.StatusTooManyRequests {
		t.Errorf("X-Forwarded-For from an untrusted peer: %d, want 429 (the peer is the client)", spoof.Code)
	}
	for i := range 3 {
		if rec := postComment(mux, "test-draft", "198.51.100.9:1000", ok); rec.Code != http.StatusCreated {
			t.Fatalf("another client's comment %d: %d (the invalid one must not have cost a token)", i+1, rec.Code)
		}
	}
	for i, addr := range []string{"[2001:db8:1:2::1]:1", "[2001:db8:1:2::2]:1", "[2001:db8:1:2:ffff::3]:1", "[2001:db8:1:2::4]:1"} {
		want := http.StatusCreated
		if i == 3 {
			want = http.StatusTooManyRequests
		}
		if rec := postComment(mux, "test-draft", addr, ok); rec.Code != want {
			t.Errorf("IPv6 %s: %d, want %d (one /64 is one client)", addr, rec.Code, want)
		}
	}
	if n := st.count(); n != 9 {
		t.Errorf("%d comments stored, want 9", n)
	}
	c.add(20*time.Minute + time.Second) // one comment's worth of the hour
	if rec := postComment(mux, "test-draft", "198.51.100.7:1000", ok); rec.Code != http.StatusCreated {
		t.Errorf("after 20 minutes: %d, want 201", rec.Code)
	}
	if rec := postComment(mux, "test-draft", "198.51.100.7:1000", ok); rec.Code != http.StatusTooManyRequests {
		t.Errorf("a second one after 20 minutes: %d, want 429", rec.Code)
	}
}

// TestCommentInput: the JSON route's refusals.
func TestCommentInput(t *testing.T) {
	st := &fakeStore{}
	c := &clock{}
	c.set(day("2026-12-10T10:00:00+08:00"))
	_, mux := newTestService(t, st, c, Config{})
	long := strings.Repeat("长", MaxTextRunes+1)
	for _, tc := range []struct {
		name, ct, body string
		want           int
	}{
		{"form post", "application/x-www-form-urlencoded", "text=x", http.StatusUnsupportedMediaType},
		{"no text", "application/json", `{"name":"王"}`, http.StatusBadRequest},
		{"unknown field", "application/json", `{"text":"x","phone":"13800000000"}`, http.StatusBadRequest},
		{"too long", "application/json", fmt.Sprintf(`{"text":%q}`, long), http.StatusBadRequest},
		{"name too long", "application/json", fmt.Sprintf(`{"text":"x","name":%q}`, strings.Repeat("名", MaxNameRunes+1)), http.StatusBadRequest},
		{"longest", "application/json", fmt.Sprintf(`{"text":%q}`, long[len("长"):]), http.StatusCreated},
	} {
		req := httptest.NewRequest(http.MethodPost, "/public/consultations/test-draft/comments", strings.NewReader(tc.body))
		req.Header.Set("Content-Type", tc.ct)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		b, _ := io.ReadAll(rec.Body)
		if rec.Code != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, rec.Code, b, tc.want)
		}
	}
	if n := st.count(); n != 1 {
		t.Errorf("%d stored, want 1", n)
	}
	if rec := postComment(mux, "no-such", "192.0.2.1:1", `{"text":"x"}`); rec.Code != http.StatusNotFound {
		t.Errorf("unknown draft: %d", rec.Code)
	}
}

// TestCountJSON: counts under 10 are "<10" in JSON as on the page.
func TestCountJSON(t *testing.T) {
	rec := httptest.NewRecorder()
	writeJSON(rec, http.StatusOK, Reach{Total: 10, WeChat: 9, SMS: 0})
	if got := strings.TrimSpace(rec.Body.String()); got != `{"total":10,"wechat":"<10","sms":"<10"}` {
		t.Fatalf("%s", got)
	}
	if Count(1).String() != "<10" || Count(123).String() != "123" {
		t.Fatal(Count(1).String(), Count(123).String())
	}
}
