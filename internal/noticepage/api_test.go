package noticepage

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakeNotices knows one live token and one expired one; every other token
// is unknown.
type fakeNotices struct {
	mu       sync.Mutex
	claims   []bool
	disputes [][]string
	notes    []string
	stops    []string
}

const (
	liveToken    = "0123456789abcdef0123456789abcdef"
	expiredToken = "fedcba9876543210fedcba9876543210"
)

func (f *fakeNotices) known(token string) error {
	if token != liveToken {
		return ErrNotFound // expired and unknown alike
	}
	return nil
}

func (f *fakeNotices) View(_ context.Context, token string) (View, error) {
	if err := f.known(token); err != nil {
		return View{}, err
	}
	amount := 2000.0
	return View{PolicyID: "skill-upgrade-subsidy", PolicyVersion: 1, Title: "失业保险技能提升补贴", Department: "职业能力建设科",
		Source: Source{Doc: "人社部发〔2023〕18号"}, Result: "eligible",
		Conditions: []Condition{{Name: "参加失业保险累计满12个月", Verdict: "true"}}, Amount: &amount, DataAsOf: "2026-11-30",
		Apply: Apply{Mode: "confirm", Deadline: "2026-12-31", Confirm: "银行账户信息无误"}, Status: "opened",
		Actions: []string{ActionClaim, ActionDispute, ActionStop}, SubjectType: "resident", Automatic: "page only"}, nil
}

func (f *fakeNotices) Claim(_ context.Context, token string, confirmed bool) (string, error) {
	if err := f.known(token); err != nil {
		return "", err
	}
	if !confirmed {
		return "", &InputError{Message: "请先确认：银行账户信息无误"}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.claims = append(f.claims, confirmed)
	return "claimed", nil
}

func (f *fakeNotices) Dispute(_ context.Context, token string, conditions []string, note string) (int64, error) {
	if err := f.known(token); err != nil {
		return 0, err
	}
	if conditions[0] == "boom" {
		return 0, errors.New("database down at 10.0.0.5")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.disputes = append(f.disputes, conditions)
	f.notes = append(f.notes, note)
	return 17, nil
}

func (f *fakeNotices) Stop(_ context.Context, token, scope string) error {
	if err := f.known(token); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stops = append(f.stops, scope)
	return nil
}

func TestAPI(t *testing.T) {
	f := &fakeNotices{}
	mux := http.NewServeMux()
	NewAPI(f, APIOptions{Log: slog.New(slog.NewTextHandler(io.Discard, nil))}).Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	notFound := `{"error":"链接无效或已过期"}`
	for _, tt := range []struct {
		name, method, path, ctype, body string
		code                            int
		want                            string // the whole body, trimmed; "" checks only the code
	}{
		{"view", "GET", "/public/notices/" + liveToken, "", "", 200, ""},
		{"view unknown", "GET", "/public/notices/nope", "", "", 404, notFound},
		{"view expired", "GET", "/public/notices/" + expiredToken, "", "", 404, notFound},
		{"claim confirmed", "POST", "/public/notices/" + liveToken + "/claim", "application/json", `{"confirm":true}`, 200, `{"status":"claimed"}`},
		{"claim unconfirmed", "POST", "/public/notices/" + liveToken + "/claim", "application/json", `{}`, 400, `{"error":"请先确认：银行账户信息无误"}`},
		{"claim charset", "POST", "/public/notices/" + liveToken + "/claim", "application/json; charset=utf-8", `{"confirm":true}`, 200, `{"status":"claimed"}`},
		{"claim form", "POST", "/public/notices/" + liveToken + "/claim", "application/x-www-form-urlencoded", `confirm=true`, 415, ""},
		{"claim no type", "POST", "/public/notices/" + liveToken + "/claim", "", `{"confirm":true}`, 415, ""},
		{"claim text", "POST", "/public/notices/" + liveToken + "/claim", "text/plain", `{"confirm":true}`, 415, ""},
		{"claim expired", "POST", "/public/notices/" + expiredToken + "/claim", "application/json", `{"confirm":true}`, 404, notFound},
		{"claim bad json", "POST", "/public/notices/" + liveToken + "/claim", "application/json", `{"confirm":`, 400, ""},
		{"dispute", "POST", "/public/notices/" + liveToken + "/dispute", "application/json", `{"conditions":["参加失业保险累计满12个月"],"note":"已缴满"}`, 200, `{"correction_id":17}`},
		{"dispute none", "POST", "/public/notices/" + liveToken + "/dispute", "application/json", `{"conditions":[]}`, 400, ""},
		{"dispute long note", "POST", "/public/notices/" + liveToken + "/dispute", "application/json", `{"conditions":["x"],"note":"` + strings.Repeat("长", MaxNoteRunes+1) + `"}`, 400, ""},
		{"dispute huge body", "POST", "/public/notices/" + liveToken + "/dispute", "application/json", `{"conditions":["x"],"note":"` + strings.Repeat("a", maxAnswerBytes) + `"}`, 413, ""},
		{"dispute failing", "POST", "/public/notices/" + liveToken + "/dispute", "application/json", `{"conditions":["boom"]}`, 503, ""},
		{"dispute unknown", "POST", "/public/notices/nope/dispute", "application/json", `{"conditions":["x"]}`, 404, notFound},
		{"stop policy", "POST", "/public/notices/" + liveToken + "/stop", "application/json", `{"scope":"policy"}`, 200, `{"stopped":"policy"}`},
		{"stop all", "POST", "/public/notices/" + liveToken + "/stop", "application/json", `{"scope":"all"}`, 200, `{"stopped":"all"}`},
		{"stop nothing", "POST", "/public/notices/" + liveToken + "/stop", "application/json", `{}`, 400, ""},
		{"stop expired", "POST", "/public/notices/" + expiredToken + "/stop", "application/json", `{"scope":"all"}`, 404, notFound},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, strings.NewReader(tt.body))
			if tt.ctype != "" {
				req.Header.Set("Content-Type", tt.ctype)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.code {
				t.Fatalf("%d %s, want %d", resp.StatusCode, b, tt.code)
			}
			if tt.want != "" && strings.TrimSpace(string(b)) != tt.want {
				t.Errorf("body %s, want %s", b, tt.want)
			}
			if strings.Contains(string(b), "10.0.0.5") {
				t.Errorf("an internal error is echoed: %s", b)
			}
			h := resp.Header
			if h.Get("Cache-Control") != "no-store" || !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'none'") ||
				!strings.HasPrefix(h.Get("Content-Type"), "application/json") || h.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("headers %v", h)
			}
		})
	}

	// The view is CONTRACTS §7's JSON: every name, and nothing for the page
	// only.
	resp, err := http.Get(srv.URL + "/public/notices/" + liveToken)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got map[string]json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"policy_id", "policy_version", "title", "department", "source", "result", "conditions",
		"amount", "data_as_of", "apply", "status", "actions", "others"} {
		if _, ok := got[k]; !ok {
			t.Errorf("no %q in the view", k)
		}
	}
	if len(got) != 13 {
		t.Errorf("the view has %d keys, want 13: %v", len(got), got)
	}
	if string(got["others"]) != "[]" {
		t.Errorf("others %s, want [] rather than null", got["others"])
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.claims) != 2 || len(f.disputes) != 1 || f.notes[0] != "已缴满" || strings.Join(f.stops, ",") != "policy,all" {
		t.Errorf("the fake saw claims %v, disputes %v, stops %v", f.claims, f.disputes, f.stops)
	}
}

// TestAPIStrictJSON: an answer with a key its shape does not name, or with
// anything after the object, is refused with 400 and a message that says
// which, and reaches no Notices; it used to be taken, the key dropped (a
// misspelt "notes" recorded the dispute without its note). CONTRACTS §7's
// shapes, and an empty body as {}, are still taken.
func TestAPIStrictJSON(t *testing.T) {
	f := &fakeNotices{}
	mux := http.NewServeMux()
	NewAPI(f, APIOptions{Log: slog.New(slog.NewTextHandler(io.Discard, nil))}).Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	const (
		trailing = `{"error":"请求只能是一个 JSON 对象，其后不能再有内容"}`
		claim    = "/claim"
		dispute  = "/dispute"
		stop     = "/stop"
	)
	unknown := func(key string) string { return `{"error":"请求含有未知的字段 \"` + key + `\""}` }
	for _, tt := range []struct {
		name, answer, body string
		code               int
		want               string // the whole body, trimmed
	}{
		{"claim {}", claim, `{}`, 400, `{"error":"请先确认：银行账户信息无误"}`},
		{"claim empty body", claim, ``, 400, `{"error":"请先确认：银行账户信息无误"}`},
		{"claim confirm", claim, `{"confirm": true}`, 200, `{"status":"claimed"}`},
		{"claim confirm, newline after", claim, "{\"confirm\": true}\r\n\t ", 200, `{"status":"claimed"}`},
		{"dispute conditions and note", dispute, `{"conditions": ["参加失业保险累计满12个月"], "note": "已缴满"}`, 200, `{"correction_id":17}`},
		{"dispute conditions", dispute, `{"conditions": ["参加失业保险累计满12个月"]}`, 200, `{"correction_id":17}`},
		{"stop policy", stop, `{"scope": "policy"}`, 200, `{"stopped":"policy"}`},
		{"stop all", stop, `{"scope": "all"}`, 200, `{"stopped":"all"}`},

		{"dispute notes misspelt", dispute, `{"conditions": ["参加失业保险累计满12个月"], "notes": "已缴满"}`, 400, unknown("notes")},
		{"claim unknown key", claim, `{"confirm": true, "confirmed": true}`, 400, unknown("confirmed")},
		{"stop unknown key", stop, `{"scope": "all", "reason": "太多"}`, 400, unknown("reason")},
		{"long unknown key", stop, `{"` + strings.Repeat("k", 41) + `": 1, "scope": "all"}`, 400, `{"error":"请求不是所需的 JSON"}`},
		{"claim two objects", claim, `{"confirm": true}{"confirm": true}`, 400, trailing},
		{"dispute trailing text", dispute, `{"conditions": ["x"]} and more`, 400, trailing},
		{"stop trailing array", stop, `{"scope": "all"}[]`, 400, trailing},
		{"stop trailing brace", stop, `{"scope": "all"}}`, 400, trailing},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f.mu.Lock()
			before := len(f.claims) + len(f.disputes) + len(f.stops)
			f.mu.Unlock()
			resp, err := http.Post(srv.URL+"/public/notices/"+liveToken+tt.answer, "application/json", strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.code || strings.TrimSpace(string(b)) != tt.want {
				t.Errorf("%s %s: %d %s, want %d %s", tt.answer, tt.body, resp.StatusCode, b, tt.code, tt.want)
			}
			f.mu.Lock()
			after := len(f.claims) + len(f.disputes) + len(f.stops)
			f.mu.Unlock()
			if tt.code == 400 && tt.want != `{"error":"请先确认：银行账户信息无误"}` && after != before {
				t.Errorf("%s %s: refused, yet the answer reached Notices", tt.answer, tt.body)
			}
		})
	}
}
