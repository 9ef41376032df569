package adminapi

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/policypush/policypush/internal/officer"
	"github.com/policypush/policypush/internal/store"
)

// seedClaims makes n enterprise matches of policy pol, each claimed (the
// policy holds claims for review), and returns their case ids.
func seedClaims(t *testing.T, st *store.Store, pol string, n int) []int64 {
	t.Helper()
	ctx := t.Context()
	var b store.Batch
	for i := range n {
		k := store.SubjectKey{Type: "enterprise", ID: fmt.Sprintf("91510100MA6C7X%04d", i)}
		amount := 1000.0 * float64(i+1)
		b.Profiles = append(b.Profiles, store.Profile{Key: k, Data: fmt.Appendf(nil, `{"uscc":%q,"name":"=成都示例%d科技有限公司"}`, k.ID, i), Version: 1})
		b.Matches = append(b.Matches, store.NewMatch{Match: store.Match{Key: k, PolicyID: pol, PolicyVersion: 2, Result: "eligible",
			Explanation: []byte(`{"conditions":[{"name":"c","verdict":"true"}]}`), Amount: &amount, EvaluatedAt: time.Now(), EventID: fmt.Sprintf("e-%s-%d", pol, i)}})
	}
	if err := st.InTx(ctx, func(tx *store.Tx) error { _, err := tx.Save(ctx, &b); return err }); err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, m := range b.Matches {
		var id int64
		if err := st.Pool().QueryRow(ctx, `SELECT id FROM matches WHERE subject_id = $1 AND policy_id = $2`, m.Match.Key.ID, pol).Scan(&id); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Claim(ctx, id, false, true, time.Now()); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// TestCaseReviewAPI decides cases over the API and checks the database:
// a viewer may list but not decide; a rejection needs a reason; a batch
// is all or none; a decided case cannot be decided again; the CSV of the
// approved cases has a BOM, the documented columns and an audit row.
func TestCaseReviewAPI(t *testing.T) {
	st := pgStore(t)
	_, mux := apiServer(t, st)
	ids := seedClaims(t, st, "pol-r", 4)
	viewer := addOfficer(t, st, "vera", officer.Viewer)
	reviewer := addOfficer(t, st, "rita", officer.Reviewer)
	status := func(id int64) string {
		var s string
		if err := st.Pool().QueryRow(t.Context(), `SELECT status FROM cases WHERE match_id = $1`, id).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}

	rec := call(mux, "GET", "/api/cases?policy=pol-r&status=claimed", viewer, "")
	var list struct {
		Cases []map[string]any `json:"cases"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil || rec.Code != 200 || len(list.Cases) != 4 {
		t.Fatalf("list: %d %s", rec.Code, rec.Body)
	}
	for _, k := range []string{"id", "subject_type", "subject_masked", "policy_id", "status", "amount", "updated_at", "explanation", "data_as_of"} {
		if _, ok := list.Cases[0][k]; !ok {
			t.Errorf("a case has no %q: %v", k, list.Cases[0])
		}
	}
	if strings.Contains(rec.Body.String(), "91510100MA6C7X") {
		t.Errorf("a raw id in the list: %s", rec.Body)
	}
	if rec := call(mux, "GET", "/api/cases?status=bogus", viewer, ""); rec.Code != 400 {
		t.Errorf("a bad status: %d", rec.Code)
	}

	if rec := call(mux, "POST", fmt.Sprintf("/api/cases/%d/approve", ids[0]), viewer, `{"reason":"ok"}`); rec.Code != http.StatusForbidden {
		t.Errorf("a viewer approving: %d %s", rec.Code, rec.Body)
	}
	if rec := call(mux, "POST", fmt.Sprintf("/api/cases/%d/reject", ids[0]), reviewer, `{"reason":"  "}`); rec.Code != 400 {
		t.Errorf("a rejection without a reason: %d %s", rec.Code, rec.Body)
	}
	if s := status(ids[0]); s != "claimed" {
		t.Fatalf("after refused decisions: %s", s)
	}
	rec = call(mux, "POST", fmt.Sprintf("/api/cases/%d/approve", ids[0]), reviewer, `{"reason":"材料齐全"}`)
	var one store.Case
	if err := json.Unmarshal(rec.Body.Bytes(), &one); err != nil || rec.Code != 200 || one.Status != "approved" || one.ID != ids[0] {
		t.Fatalf("approve: %d %s", rec.Code, rec.Body)
	}
	if rec := call(mux, "POST", fmt.Sprintf("/api/cases/%d/reject", ids[0]), reviewer, `{"reason":"改判"}`); rec.Code != http.StatusConflict {
		t.Errorf("deciding again: %d %s", rec.Code, rec.Body)
	}
	if rec := call(mux, "POST", fmt.Sprintf("/api/cases/%d/reject", ids[1]), reviewer, `{"reason":"不符合"}`); rec.Code != 200 || status(ids[1]) != "rejected" {
		t.Errorf("reject: %d %s", rec.Code, rec.Body)
	}
	// A batch naming a decided case changes nothing.
	body := fmt.Sprintf(`{"ids":[%d,%d,%d],"decision":"approve","reason":"批量"}`, ids[2], ids[3], ids[1])
	if rec := call(mux, "POST", "/api/cases/decide", reviewer, body); rec.Code != http.StatusConflict || status(ids[2]) != "claimed" {
		t.Errorf("a batch with a rejected case: %d %s; %s", rec.Code, rec.Body, status(ids[2]))
	}
	body = fmt.Sprintf(`{"ids":[%d,%d],"decision":"approve","reason":"批量"}`, ids[2], ids[3])
	if rec := call(mux, "POST", "/api/cases/decide", reviewer, body); rec.Code != 200 || status(ids[2]) != "approved" || status(ids[3]) != "approved" {
		t.Errorf("batch: %d %s", rec.Code, rec.Body)
	}
	var decided int
	_ = st.Pool().QueryRow(t.Context(), `SELECT count(*) FROM audit_log WHERE action IN ('case.approve', 'case.reject') AND actor = 'rita'`).Scan(&decided)
	if decided != 4 {
		t.Errorf("%d decision audit rows, want 4", decided)
	}
	var officerEvents int
	_ = st.Pool().QueryRow(t.Context(), `SELECT count(*) FROM case_events WHERE actor_kind = 'officer' AND actor = 'rita'`).Scan(&officerEvents)
	if officerEvents != 4 {
		t.Errorf("%d officer case events, want 4", officerEvents)
	}

	if rec := call(mux, "GET", "/api/policies/pol-r/cases.csv", viewer, ""); rec.Code != http.StatusForbidden {
		t.Errorf("a viewer exporting: %d", rec.Code)
	}
	rec = call(mux, "GET", "/api/policies/pol-r/cases.csv", reviewer, "")
	raw := rec.Body.String()
	if rec.Code != 200 || !strings.HasPrefix(raw, "\ufeff") || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/csv") {
		t.Fatalf("csv: %d %q %q", rec.Code, rec.Header().Get("Content-Type"), raw[:min(len(raw), 40)])
	}
	rows, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(raw, "\ufeff"))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rows[0], ",") != "case_id,subject_type,subject_id,name,policy_id,policy_version,amount,claimed_at,approved_at,approved_by,publicity_until,ready_for_payment" {
		t.Errorf("header %v", rows[0])
	}
	if len(rows) != 4 { // three approved
		t.Fatalf("%d rows, want a header and 3: %v", len(rows), rows)
	}
	if r := rows[1]; r[0] != fmt.Sprint(ids[0]) || r[2] != "91510100MA6C7X0000" || r[3] != "'=成都示例0科技有限公司" || r[6] != "1000" ||
		r[9] != "rita" || r[11] != "false" || r[5] != "2" {
		t.Errorf("first row %v", r)
	}
	var exports int
	_ = st.Pool().QueryRow(t.Context(), `SELECT count(*) FROM audit_log WHERE action = 'cases.export' AND policy_id = 'pol-r' AND actor = 'rita'`).Scan(&exports)
	if exports != 1 {
		t.Errorf("%d export audit rows, want 1", exports)
	}

	rec = call(mux, "GET", fmt.Sprintf("/api/cases/%d", ids[1]), viewer, "")
	var detail struct {
		Case    store.Case        `json:"case"`
		History []store.CaseEvent `json:"history"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &detail); err != nil || len(detail.History) != 3 || detail.History[2].To != "rejected" ||
		detail.History[2].Reason != "不符合" || detail.History[2].Actor != "rita" {
		t.Errorf("case detail: %s", rec.Body)
	}

	rec = call(mux, "GET", "/api/funnel?policy=pol-r", viewer, "")
	var f struct {
		Steps         map[string]int `json:"steps"`
		GrantedAmount float64        `json:"granted_amount"`
		Median        *float64       `json:"median_match_to_grant_hours"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &f); err != nil || f.Steps["matched"] != 4 || f.Steps["claimed"] != 4 || f.Steps["approved"] != 3 || f.Steps["granted"] != 0 {
		t.Errorf("funnel: %s", rec.Body)
	}
	for _, k := range []string{"matched", "sent", "delivered", "opened", "claimed", "approved", "granted"} {
		if _, ok := f.Steps[k]; !ok {
			t.Errorf("funnel steps lack %q", k)
		}
	}
}
