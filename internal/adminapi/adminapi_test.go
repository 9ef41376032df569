package adminapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/policypush/policypush/internal/store"
	"github.com/policypush/policypush/internal/sweep"

	"github.com/policypush/policypush/internal/testlog"
)

type fakeStore struct {
	optOuts  []string // "type/id/channel/source"
	optIns   []string
	requeued []string
	fail     bool
}

func (f *fakeStore) OptOutAudited(_ context.Context, k store.SubjectKey, channel, source string, _ time.Time, _ store.AuditEntry) error {
	if f.fail {
		return errors.New("database down: secret detail")
	}
	f.optOuts = append(f.optOuts, k.Type+"/"+k.ID+"/"+channel+"/"+source)
	return nil
}

func (f *fakeStore) OptInAudited(_ context.Context, k store.SubjectKey, channel string, _ store.AuditEntry) (int, error) {
	f.optIns = append(f.optIns, k.Type+"/"+k.ID+"/"+channel)
	return 2, nil
}

func (f *fakeStore) RequeueDeadAudited(_ context.Context, ids []int64, policyID string, _ time.Time, _ store.AuditEntry) ([]int64, error) {
	f.requeued = append(f.requeued, policyID)
	if len(ids) > 0 {
		return ids, nil
	}
	return []int64{7}, nil
}

func (f *fakeStore) Funnel(context.Context) ([]store.FunnelRow, error) {
	return []store.FunnelRow{
		{PolicyID: "p1", Channel: "sms", Matched: 3, Sent: 2, Delivered: 1},
		{PolicyID: "p1", Channel: "wechat", Matched: 5, Sent: 5, Delivered: 4, Clicked: 2},
		{PolicyID: "gone", Channel: "sms", Matched: 1, Suppressed: 1},
	}, nil
}

func (f *fakeStore) Subject(_ context.Context, k store.SubjectKey) (store.SubjectView, error) {
	if k.ID != "p_1" {
		return store.SubjectView{}, store.ErrNotFound
	}
	return store.SubjectView{SubjectType: k.Type, SubjectID: k.ID, Contacts: map[string]string{"contact.mobile": "138****5678"}}, nil
}

func (f *fakeStore) Sweeps(context.Context, int) ([]store.Sweep, error) {
	return []store.Sweep{{ID: 4, Kind: "backfill", Status: "running", TotalChunks: 10, DoneChunks: 3}}, nil
}

// The accounts and the audit log are tested against PostgreSQL
// (roles_test.go); here there are none, and audit rows go nowhere.
func (f *fakeStore) OfficerByTokenHash(context.Context, []byte) (store.Officer, error) {
	return store.Officer{}, store.ErrNotFound
}

func (f *fakeStore) AddOfficer(context.Context, string, string, []byte, time.Time, store.AuditEntry) error {
	return nil
}
func (f *fakeStore) ListOfficers(context.Context) ([]store.Officer, error) { return nil, nil }
func (f *fakeStore) RevokeOfficer(context.Context, string, time.Time, store.AuditEntry) error {
	return nil
}
func (f *fakeStore) Audit(context.Context, store.AuditEntry) error { return nil }
func (f *fakeStore) AuditLog(context.Context, store.AuditFilter, int) ([]store.AuditEntry, error) {
	return nil, nil
}

type fakeRules struct{ reloadErr error }

func (fakeRules) Policies() []Policy {
	return []Policy{{ID: "p1", Version: 2, Title: "稳岗返还", Subject: "enterprise", Status: "active", InForce: true}}
}

func (f fakeRules) Reload(context.Context) (int, error) { return 21, f.reloadErr }

func (fakeRules) Preview(_ context.Context, id string, draft []byte) (sweep.Report, error) {
	switch {
	case draft != nil && strings.Contains(string(draft), "broken"):
		return sweep.Report{}, &Error{Status: 400, Message: "draft.yaml:1:1: broken"}
	case draft != nil:
		return sweep.Report{PolicyID: "draft", New: 7}, nil
	case id == "p1":
		return sweep.Report{PolicyID: "p1", Eligible: 3}, nil
	}
	return sweep.Report{}, &Error{Status: 404, Message: "no policy " + id}
}

const token = "s3cret-admin-token"

func TestAPI(t *testing.T) {
	tests := []struct {
		name       string
		method     string
		path       string
		auth       string
		body       string
		fail       bool
		wantStatus int
		wantBody   string // a substring of the response
		wantCall   string // what the store saw, "" for nothing
		reloadErr  error
	}{
		{name: "policies with funnels", method: "GET", path: "/api/policies", auth: "Bearer " + token, wantStatus: 200,
			wantBody: `"total":{"policy_id":"p1","channel":"all","matched":8,"waiting":0,"sent":7,"delivered":5,"clicked":2`},
		{name: "a removed policy's history stays", method: "GET", path: "/api/policies", auth: "Bearer " + token, wantStatus: 200,
			wantBody: `"id":"gone","version":0,"title":"","subject":"","status":"removed"`},
		{name: "preview", method: "GET", path: "/api/policies/p1/preview", auth: "Bearer " + token, wantStatus: 200, wantBody: `"eligible":3`},
		{name: "preview of an unknown policy", method: "GET", path: "/api/policies/nope/preview", auth: "Bearer " + token, wantStatus: 404, wantBody: "no policy nope"},
		{name: "preview of a draft", method: "POST", path: "/api/policies/preview", auth: "Bearer " + token, body: "id: draft\n", wantStatus: 200, wantBody: `"new":7`},
		{name: "preview of a broken draft", method: "POST", path: "/api/policies/preview", auth: "Bearer " + token, body: "broken", wantStatus: 400, wantBody: "draft.yaml:1:1: broken"},
		{name: "preview without a draft", method: "POST", path: "/api/policies/preview", auth: "Bearer " + token, wantStatus: 400, wantBody: "needs a rule file"},
		{name: "subject", method: "GET", path: "/api/subjects/resident/p_1", auth: "Bearer " + token, wantStatus: 200, wantBody: `"contact.mobile":"138****5678"`},
		{name: "unknown subject", method: "GET", path: "/api/subjects/resident/p_2", auth: "Bearer " + token, wantStatus: 404, wantBody: `no resident \"p_2\" is known`},
		{name: "sweeps", method: "GET", path: "/api/sweeps", auth: "Bearer " + token, wantStatus: 200, wantBody: `"done_chunks":3`},
		{name: "reload", method: "POST", path: "/api/rules/reload", auth: "Bearer " + token, wantStatus: 200, wantBody: `"policies":21`},
		{name: "failed reload", method: "POST", path: "/api/rules/reload", auth: "Bearer " + token, reloadErr: &Error{Status: 422, Message: "rules/x.yaml:3:7: unknown field"},
			wantStatus: 422, wantBody: "rules/x.yaml:3:7: unknown field"},

		{name: "no token", method: "POST", path: "/api/notices/requeue", body: `{"all":true}`, wantStatus: 401, wantBody: `"error":"missing or wrong bearer token"`},
		{name: "wrong token", method: "POST", path: "/api/notices/requeue", auth: "Bearer nope", body: `{"all":true}`, wantStatus: 401},
		{name: "token without Bearer", method: "POST", path: "/api/notices/requeue", auth: token, body: `{"all":true}`, wantStatus: 401},
		{name: "unknown endpoint without token", method: "GET", path: "/api/nothing", wantStatus: 401},
		{name: "unknown endpoint", method: "GET", path: "/api/nothing", auth: "Bearer " + token, wantStatus: 404, wantBody: "no such endpoint"},

		{name: "opt out", method: "POST", path: "/api/subjects/resident/p_1/opt-outs", auth: "Bearer " + token, body: `{"channel":"sms"}`,
			wantStatus: 200, wantBody: `"source":"admin"`, wantCall: "optout resident/p_1/sms/admin"},
		{name: "opt out, bad channel", method: "POST", path: "/api/subjects/resident/p_1/opt-outs", auth: "Bearer " + token, body: `{"channel":"email"}`,
			wantStatus: 400, wantBody: `channel \"email\": want wechat or sms`},
		{name: "opt out, bad subject type", method: "POST", path: "/api/subjects/person/p_1/opt-outs", auth: "Bearer " + token, body: `{"channel":"sms"}`,
			wantStatus: 400, wantBody: "want resident or enterprise"},
		{name: "opt out, malformed body", method: "POST", path: "/api/subjects/resident/p_1/opt-outs", auth: "Bearer " + token, body: `{"channel":`,
			wantStatus: 400, wantBody: "malformed JSON body"},
		{name: "opt out, unknown field", method: "POST", path: "/api/subjects/resident/p_1/opt-outs", auth: "Bearer " + token, body: `{"chanel":"sms"}`,
			wantStatus: 400, wantBody: `unknown field \"chanel\"`},
		{name: "opt out, no body", method: "POST", path: "/api/subjects/resident/p_1/opt-outs", auth: "Bearer " + token,
			wantStatus: 400, wantBody: "needs a JSON body"},
		{name: "opt out, store fails", method: "POST", path: "/api/subjects/resident/p_1/opt-outs", auth: "Bearer " + token, body: `{"channel":"sms"}`, fail: true,
			wantStatus: 500, wantBody: "internal error"},
		{name: "opt in", method: "DELETE", path: "/api/subjects/enterprise/91350100M000100Y43/opt-outs/wechat", auth: "Bearer " + token,
			wantStatus: 200, wantBody: `"removed":2`, wantCall: "optin enterprise/91350100M000100Y43/wechat"},

		{name: "requeue ids", method: "POST", path: "/api/notices/requeue", auth: "Bearer " + token, body: `{"ids":[3,4]}`,
			wantStatus: 200, wantBody: `{"requeued":[3,4]}`, wantCall: "requeue "},
		{name: "requeue policy", method: "POST", path: "/api/notices/requeue", auth: "Bearer " + token, body: `{"policy_id":"p"}`,
			wantStatus: 200, wantBody: `{"requeued":[7]}`, wantCall: "requeue p"},
		{name: "requeue nothing said", method: "POST", path: "/api/notices/requeue", auth: "Bearer " + token, body: `{}`,
			wantStatus: 400, wantBody: "say which dead notices"},
		{name: "requeue all with ids", method: "POST", path: "/api/notices/requeue", auth: "Bearer " + token, body: `{"all":true,"ids":[1]}`,
			wantStatus: 400, wantBody: "cannot be combined"},
		{name: "requeue ids of the wrong type", method: "POST", path: "/api/notices/requeue", auth: "Bearer " + token, body: `{"ids":["x"]}`,
			wantStatus: 400, wantBody: "malformed JSON body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &fakeStore{fail: tt.fail}
			var logs bytes.Buffer
			h, err := New(st, fakeRules{reloadErr: tt.reloadErr}, token, slog.New(slog.NewTextHandler(io.MultiWriter(&logs, testlog.Writer(t)), nil)), time.Now)
			if err != nil {
				t.Fatal(err)
			}
			mux := http.NewServeMux()
			h.Register(mux)
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			req := httptest.NewRequest(tt.method, tt.path, body)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, req)

			if rec.Code != tt.wantStatus {
				t.Errorf("status %d, want %d; body %s", rec.Code, tt.wantStatus, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q, want JSON", ct)
			}
			var v map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
				t.Errorf("body is not a JSON object: %s", rec.Body)
			}
			if rec.Code >= 400 {
				if msg, _ := v["error"].(string); msg == "" {
					t.Errorf("error without a message: %s", rec.Body)
				}
			}
			if !strings.Contains(rec.Body.String(), tt.wantBody) {
				t.Errorf("body %s does not contain %s", rec.Body, tt.wantBody)
			}
			var calls []string
			for _, c := range st.optOuts {
				calls = append(calls, "optout "+c)
			}
			for _, c := range st.optIns {
				calls = append(calls, "optin "+c)
			}
			for _, c := range st.requeued {
				calls = append(calls, "requeue "+c)
			}
			if tt.wantCall == "" && len(calls) > 0 {
				t.Errorf("store called: %v", calls)
			}
			if tt.wantCall != "" && !slices.Equal(calls, []string{tt.wantCall}) {
				t.Errorf("store calls %v, want [%s]", calls, tt.wantCall)
			}
			if strings.Contains(rec.Body.String(), "secret detail") || strings.Contains(logs.String(), token) {
				t.Error("an internal error or the token leaked")
			}
		})
	}
}

func TestNewNeedsToken(t *testing.T) {
	if _, err := New(&fakeStore{}, fakeRules{}, "", slog.New(slog.DiscardHandler), time.Now); err == nil {
		t.Fatal("New accepted an empty token")
	}
}
