package adminapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/policypush/policypush/internal/officer"
	"github.com/policypush/policypush/internal/pgtest"
	"github.com/policypush/policypush/internal/pii"
	"github.com/policypush/policypush/internal/store"
)

// pgStore opens a migrated database of the test's own.
func pgStore(t *testing.T) *store.Store {
	t.Helper()
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	sealer, err := pii.NewSealer(bytes.Repeat([]byte{7}, pii.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(t.Context(), pgtest.NewDatabase(t), sealer)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return st
}

// addOfficer makes an account as the tests' setup, and returns its token.
func addOfficer(t *testing.T, st *store.Store, name string, role officer.Role) string {
	t.Helper()
	tok := officer.NewToken()
	e := store.AuditEntry{At: time.Now(), Actor: "test-setup", ActorRole: "admin", Action: ActionOfficerAdd}
	if err := st.AddOfficer(t.Context(), name, role.String(), officer.HashToken(tok), time.Now(), e); err != nil {
		t.Fatal(err)
	}
	return tok
}

// apiServer is the API over st, with fake rules.
func apiServer(t *testing.T, st Store) (*Handler, *http.ServeMux) {
	t.Helper()
	h, err := New(st, fakeRules{}, token, slog.New(slog.DiscardHandler), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Register(mux)
	return h, mux
}

func call(mux http.Handler, method, path, auth, body string) *httptest.ResponseRecorder {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	return rec
}

// TestRolesForEveryRoute calls every route of the API as every kind of
// caller: without a token, with a wrong one, with a revoked account's,
// as each role, and with the bootstrap admin token. The table below says
// which role each route needs, independently of the route table, and a
// route the table does not name fails the test.
func TestRolesForEveryRoute(t *testing.T) {
	st := pgStore(t)
	_, mux := apiServer(t, st)

	want := map[string]struct {
		need               officer.Role
		method, path, body string
	}{
		"GET /api/policies":                                   {officer.Viewer, "GET", "/api/policies", ""},
		"GET /api/sweeps":                                     {officer.Viewer, "GET", "/api/sweeps", ""},
		"GET /api/subjects/{type}/{id}":                       {officer.Reviewer, "GET", "/api/subjects/resident/p_1", ""},
		"GET /api/policies/{id}/preview":                      {officer.Publisher, "GET", "/api/policies/p1/preview", ""},
		"POST /api/policies/preview":                          {officer.Publisher, "POST", "/api/policies/preview", "id: draft\n"},
		"POST /api/notices/requeue":                           {officer.Publisher, "POST", "/api/notices/requeue", `{"policy_id":"p1"}`},
		"POST /api/rules/reload":                              {officer.Publisher, "POST", "/api/rules/reload", ""},
		"POST /api/subjects/{type}/{id}/opt-outs":             {officer.Admin, "POST", "/api/subjects/resident/p_1/opt-outs", `{"channel":"sms"}`},
		"DELETE /api/subjects/{type}/{id}/opt-outs/{channel}": {officer.Admin, "DELETE", "/api/subjects/resident/p_1/opt-outs/sms", ""},
		"GET /api/officers":                                   {officer.Admin, "GET", "/api/officers", ""},
		"POST /api/officers":                                  {officer.Admin, "POST", "/api/officers", `{"name":"made-by-test","role":"viewer"}`},
		"DELETE /api/officers/{name}":                         {officer.Admin, "DELETE", "/api/officers/nobody", ""},
		"GET /api/audit":                                      {officer.Admin, "GET", "/api/audit?limit=5", ""},
		"GET /api/consultations/{id}/comments":                {officer.Reviewer, "GET", "/api/consultations/d1/comments", ""},
		"POST /api/comments/{id}/moderate":                    {officer.Reviewer, "POST", "/api/comments/1/moderate", `{"status":"visible"}`},
		"POST /api/comments/{id}/adopt":                       {officer.Publisher, "POST", "/api/comments/1/adopt", `{"adopted":true}`},
		"GET /api/cases":                                      {officer.Viewer, "GET", "/api/cases", ""},
		"GET /api/cases/{id}":                                 {officer.Viewer, "GET", "/api/cases/999999", ""},
		"POST /api/cases/{id}/approve":                        {officer.Reviewer, "POST", "/api/cases/999999/approve", `{"reason":"ok"}`},
		"POST /api/cases/{id}/reject":                         {officer.Reviewer, "POST", "/api/cases/999999/reject", `{"reason":"no"}`},
		"POST /api/cases/decide":                              {officer.Reviewer, "POST", "/api/cases/decide", `{"ids":[999999],"decision":"approve"}`},
		"GET /api/policies/{id}/cases.csv":                    {officer.Reviewer, "GET", "/api/policies/p1/cases.csv", ""},
		"GET /api/disputes":                                   {officer.Viewer, "GET", "/api/disputes", ""},
		"GET /api/funnel":                                     {officer.Viewer, "GET", "/api/funnel", ""},
		"/api/":                                               {officer.Viewer, "GET", "/api/nothing", ""},
	}
	for _, rt := range routes {
		if _, ok := want[rt.pattern]; !ok {
			t.Errorf("route %q is not in this test's table: say which role it needs", rt.pattern)
		}
	}
	if len(want) != len(routes) {
		t.Errorf("the table has %d routes, Register %d", len(want), len(routes))
	}

	type caller struct {
		name  string
		token string
		role  officer.Role // 0: refused with 401
	}
	callers := []caller{{name: "no token"}, {name: "wrong token", token: officer.NewToken()}, {name: "not a token", token: "s3cret-admin-tokeN"}}
	revoked := addOfficer(t, st, "revoked-admin", officer.Admin)
	if err := st.RevokeOfficer(t.Context(), "revoked-admin", time.Now(),
		store.AuditEntry{At: time.Now(), Actor: "test-setup", ActorRole: "admin", Action: ActionOfficerRevoke}); err != nil {
		t.Fatal(err)
	}
	callers = append(callers, caller{name: "revoked token", token: revoked})
	for _, r := range officer.Roles() {
		callers = append(callers, caller{name: r.String(), token: addOfficer(t, st, "t-"+r.String(), r), role: r})
	}
	callers = append(callers, caller{name: "admin token", token: token, role: officer.Admin})

	for pattern, w := range want {
		for _, c := range callers {
			t.Run(pattern+"/"+c.name, func(t *testing.T) {
				rec := call(mux, w.method, w.path, c.token, w.body)
				var body struct {
					Error string `json:"error"`
				}
				_ = json.Unmarshal(rec.Body.Bytes(), &body)
				switch {
				case c.role == 0:
					if rec.Code != http.StatusUnauthorized {
						t.Errorf("status %d, want 401; %s", rec.Code, rec.Body)
					}
				case !c.role.Allows(w.need):
					if rec.Code != http.StatusForbidden || !strings.HasSuffix(body.Error, "needs role "+w.need.String()) {
						t.Errorf("status %d %q, want 403 ending in %q", rec.Code, body.Error, "needs role "+w.need.String())
					}
				default:
					if rec.Code == http.StatusUnauthorized || rec.Code == http.StatusForbidden || rec.Code >= 500 {
						t.Errorf("status %d, want the handler's own answer; %s", rec.Code, rec.Body)
					}
				}
			})
		}
	}
}

// TestAuditRows: each audited action leaves exactly one row, with the
// right actor, role, action, subject and policy; reads other than a
// subject's history, and refused calls, leave none; and a change whose
// row cannot be written is neither made nor reported as done.
func TestAuditRows(t *testing.T) {
	st := pgStore(t)
	ctx := t.Context()
	_, mux := apiServer(t, st)
	admin := addOfficer(t, st, "wang.admin", officer.Admin)
	pub := addOfficer(t, st, "li.publisher", officer.Publisher)
	rev := addOfficer(t, st, "zhao.reviewer", officer.Reviewer)

	k := store.SubjectKey{Type: "resident", ID: "p_1"}
	err := st.InTx(ctx, func(tx *store.Tx) error {
		_, err := tx.Save(ctx, &store.Batch{Profiles: []store.Profile{{Key: k, Version: 1,
			Data: []byte(`{"subject_type":"resident","subject_id":"p_1","contact":{"mobile":"13800000002"}}`)}}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	last := int64(0)
	// rows returns the audit rows written since the last call.
	rows := func() []store.AuditEntry {
		t.Helper()
		list, err := st.AuditLog(ctx, store.AuditFilter{}, 100)
		if err != nil {
			t.Fatal(err)
		}
		var out []store.AuditEntry
		for _, e := range list {
			if e.ID > last {
				out = append(out, e)
			}
		}
		if len(list) > 0 {
			last = list[0].ID
		}
		return out
	}
	rows() // the setup's

	type want struct {
		actor, role, action, subjectType, subjectID, policyID string
		detail                                                map[string]any
	}
	steps := []struct {
		name               string
		auth               string
		method, path, body string
		status             int
		want               *want // nil: no row
	}{
		{"opt-out added", admin, "POST", "/api/subjects/resident/p_1/opt-outs", `{"channel":"sms"}`, 200,
			&want{"wang.admin", "admin", ActionOptOutAdd, "resident", "p_1", "", map[string]any{"channel": "sms"}}},
		{"opt-out removed", admin, "DELETE", "/api/subjects/resident/p_1/opt-outs/sms", "", 200,
			&want{"wang.admin", "admin", ActionOptOutRemove, "resident", "p_1", "", map[string]any{"channel": "sms", "removed": 1.0}}},
		{"requeue", pub, "POST", "/api/notices/requeue", `{"policy_id":"p1"}`, 200,
			&want{"li.publisher", "publisher", ActionRequeue, "", "", "p1", map[string]any{"requeued": 0.0, "all": false, "ids_asked": 0.0}}},
		{"reload", pub, "POST", "/api/rules/reload", "", 200,
			&want{"li.publisher", "publisher", ActionReload, "", "", "", map[string]any{"ok": true, "policies": 21.0}}},
		{"preview", pub, "GET", "/api/policies/p1/preview", "", 200,
			&want{"li.publisher", "publisher", ActionPreview, "", "", "p1", map[string]any{"ok": true}}},
		{"failed preview", pub, "GET", "/api/policies/nope/preview", "", 404,
			&want{"li.publisher", "publisher", ActionPreview, "", "", "nope", map[string]any{"ok": false}}},
		{"draft preview", pub, "POST", "/api/policies/preview", "id: draft\n", 200,
			&want{"li.publisher", "publisher", ActionPreviewDraft, "", "", "draft", map[string]any{"ok": true, "bytes": 10.0}}},
		{"subject read", rev, "GET", "/api/subjects/resident/p_1", "", 200,
			&want{"zhao.reviewer", "reviewer", ActionSubjectRead, "resident", "p_1", "", map[string]any{"found": true}}},
		{"unknown subject read", rev, "GET", "/api/subjects/enterprise/91350100M000100Y43", "", 404,
			&want{"zhao.reviewer", "reviewer", ActionSubjectRead, "enterprise", "91350100M000100Y43", "", map[string]any{"found": false}}},
		{"officer added", admin, "POST", "/api/officers", `{"name":"sun.viewer","role":"viewer"}`, 201,
			&want{"wang.admin", "admin", ActionOfficerAdd, "", "", "", map[string]any{"officer": "sun.viewer", "role": "viewer"}}},
		{"officer revoked by the admin token", token, "DELETE", "/api/officers/sun.viewer", "", 200,
			&want{officer.BootstrapName, "admin", ActionOfficerRevoke, "", "", "", map[string]any{"officer": "sun.viewer"}}},

		{"policies are not audited", rev, "GET", "/api/policies", "", 200, nil},
		{"sweeps are not audited", rev, "GET", "/api/sweeps", "", 200, nil},
		{"a refused change leaves no row", pub, "POST", "/api/subjects/resident/p_1/opt-outs", `{"channel":"sms"}`, 403, nil},
		{"a bad request leaves no row", admin, "POST", "/api/subjects/resident/p_1/opt-outs", `{"channel":"fax"}`, 400, nil},
		{"a revoke of nobody leaves no row", admin, "DELETE", "/api/officers/nobody", "", 404, nil},
		{"a taken name leaves no row", admin, "POST", "/api/officers", `{"name":"sun.viewer","role":"viewer"}`, 409, nil},
	}
	for _, s := range steps {
		rec := call(mux, s.method, s.path, s.auth, s.body)
		if rec.Code != s.status {
			t.Errorf("%s: status %d, want %d; %s", s.name, rec.Code, s.status, rec.Body)
		}
		got := rows()
		if s.want == nil {
			if len(got) != 0 {
				t.Errorf("%s: audit rows %+v, want none", s.name, got)
			}
			continue
		}
		if len(got) != 1 {
			t.Errorf("%s: %d audit rows %+v, want 1", s.name, len(got), got)
			continue
		}
		e, w := got[0], s.want
		if e.Actor != w.actor || e.ActorRole != w.role || e.Action != w.action || e.SubjectType != w.subjectType ||
			e.SubjectID != w.subjectID || e.PolicyID != w.policyID || time.Since(e.At) > time.Minute {
			t.Errorf("%s: row %+v, want %+v", s.name, e, *w)
		}
		if len(e.Detail) != len(w.detail) {
			t.Errorf("%s: detail %v, want %v", s.name, e.Detail, w.detail)
		}
		for key, v := range w.detail {
			if e.Detail[key] != v {
				t.Errorf("%s: detail %v, want %v", s.name, e.Detail, w.detail)
			}
		}
	}

	// The API's audit log: an admin's, filtered; no personal data in it.
	rec := call(mux, "GET", "/api/audit?subject_type=resident&subject_id=p_1&actor=zhao.reviewer", admin, "")
	var page struct {
		Entries []store.AuditEntry `json:"entries"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil || rec.Code != 200 || len(page.Entries) != 1 || page.Entries[0].Action != ActionSubjectRead {
		t.Errorf("GET /api/audit: %d %s", rec.Code, rec.Body)
	}
	rec = call(mux, "GET", "/api/audit?limit=1000", admin, "")
	if strings.Contains(rec.Body.String(), "13800000002") || !strings.Contains(rec.Body.String(), ActionOfficerRevoke) {
		t.Errorf("GET /api/audit: a mobile in it, or the revoke missing: %s", rec.Body)
	}
	for _, q := range []string{"limit=0", "limit=1001", "limit=x", "before=-1"} {
		if rec := call(mux, "GET", "/api/audit?"+q, admin, ""); rec.Code != 400 {
			t.Errorf("GET /api/audit?%s: %d, want 400", q, rec.Code)
		}
	}

	// Without its audit row, a change is not made and a subject not shown.
	if _, err := st.Pool().Exec(ctx, `ALTER TABLE audit_log RENAME TO audit_log_away`); err != nil {
		t.Fatal(err)
	}
	rec = call(mux, "POST", "/api/subjects/resident/p_1/opt-outs", admin, `{"channel":"wechat"}`)
	if rec.Code != 500 {
		t.Errorf("an opt-out without its audit row: %d, want 500", rec.Code)
	}
	if outs, err := st.OptOuts(ctx, k); err != nil || len(outs) != 0 {
		t.Errorf("an opt-out without its audit row was made: %+v, %v", outs, err)
	}
	rec = call(mux, "GET", "/api/subjects/resident/p_1", rev, "")
	if rec.Code != 500 || strings.Contains(rec.Body.String(), "p_1") {
		t.Errorf("a subject read without its audit row: %d %s", rec.Code, rec.Body)
	}
	if rec := call(mux, "POST", "/api/rules/reload", pub, ""); rec.Code != 500 {
		t.Errorf("a reload without its audit row: %d, want 500", rec.Code)
	}
	if _, err := st.Pool().Exec(ctx, `ALTER TABLE audit_log_away RENAME TO audit_log`); err != nil {
		t.Fatal(err)
	}
}

// TestAuthenticate is the console's way in: an account's token gives the
// officer, the admin token the bootstrap admin, anything else
// ErrUnauthenticated.
func TestAuthenticate(t *testing.T) {
	st := pgStore(t)
	h, _ := apiServer(t, st)
	tok := addOfficer(t, st, "qian.reviewer", officer.Reviewer)
	for _, c := range []struct {
		token string
		want  officer.Officer
		err   error
	}{
		{tok, officer.Officer{Name: "qian.reviewer", Role: officer.Reviewer}, nil},
		{token, officer.Officer{Name: officer.BootstrapName, Role: officer.Admin}, nil},
		{officer.NewToken(), officer.Officer{}, ErrUnauthenticated},
		{"", officer.Officer{}, ErrUnauthenticated},
		{tok[:len(tok)-1], officer.Officer{}, ErrUnauthenticated},
	} {
		got, err := h.Authenticate(context.Background(), c.token)
		if got != c.want || err != c.err {
			t.Errorf("Authenticate(%.8s…) = %+v, %v; want %+v, %v", c.token, got, err, c.want, c.err)
		}
	}
}
