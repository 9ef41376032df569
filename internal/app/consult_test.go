package app

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/policypush/policypush/internal/config"
	"github.com/policypush/policypush/internal/ingest"
	"github.com/policypush/policypush/internal/rules"
	"github.com/policypush/policypush/internal/signin"
)

// consultPerson is a resident of the skill-upgrade draft's kind: eligible
// under it on 2027-01-01 when months >= 12, reachable by SMS when mobile
// is set.
func consultPerson(id string, months int, mobile string) []byte {
	contact := ""
	if mobile != "" {
		contact = fmt.Sprintf(`,"contact":{"mobile":%q}`, mobile)
	}
	return fmt.Appendf(nil, `{"event_id":"con-%s","subject_type":"resident","subject_id":%q,"occurred_at":"2026-12-01T10:00:00+08:00","source":"jinbao","type":"snapshot","data":{"person_id":%q,"birth_date":"1990-04-12","employment":{"status":"employed"},"insurance":{"unemployment":{"cumulative_months":%d}},"skill_certificates":[{"occupation_code":"6-31-01-03","occupation_name":"电工","level":"senior","issue_date":"2026-10-01"}],"consent":{"personalized_push":true}%s}}`,
		id, id, id, months, contact)
}

// TestCommentStoredModeratedCounted is issue 15's "a comment is stored,
// moderated and counted", on the real service over HTTP with the
// repository's rules: the draft out for comment is listed with its reach
// over the stored population (13 eligible, 12 of them by SMS, no WeChat:
// "<10"), never notified; comments are stored without the commenter's
// address; officers read them, make one visible and adopt it, hide and
// adopt another, hide a third in the console, each change audited and a
// reviewer refused the adoption; after the window the page and the JSON
// count all three and show only the visible adopted text, and a late
// comment is refused.
func TestCommentStoredModeratedCounted(t *testing.T) {
	e := newEnv(t)
	e.cfg.QuietHours.On = false
	e.cfg.CommentRate = config.Cap{N: 10, Period: time.Hour}
	var c clock
	c.set(time.Date(2026, 12, 10, 10, 0, 0, 0, rules.Shanghai))
	e.clock = c.now
	s := e.start(ingest.Hooks{})

	var events [][]byte
	for i := range 12 {
		events = append(events, consultPerson(fmt.Sprintf("p_con_%02d", i), 12+i, fmt.Sprintf("1380000%04d", i)))
	}
	events = append(events, consultPerson("p_con_nomobile", 30, ""))
	for i := range 3 {
		events = append(events, consultPerson(fmt.Sprintf("p_con_short_%d", i), 5, fmt.Sprintf("1390000%04d", i)))
	}
	e.produce(events...)
	e.waitFor("16 profiles", func() bool { return e.countOr("SELECT count(*) FROM profiles") == 16 })
	addr := <-s.addr
	cl := answerClient{t: t, base: "http://" + addr}
	const admin = "test-admin-token-0123"
	api := func(method, path, token, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, cl.base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// A reload makes the estimate again, now that the profiles are in.
	if code, body := api("POST", "/api/rules/reload", admin, ""); code != http.StatusOK {
		t.Fatalf("reload: %d %s", code, body)
	}
	const id = "skill-upgrade-subsidy-2027"
	var list struct {
		Consultations []struct {
			PolicyID string          `json:"policy_id"`
			From     string          `json:"from"`
			Until    string          `json:"until"`
			Reach    json.RawMessage `json:"reach"`
		} `json:"consultations"`
	}
	// The estimate made at start, before the profiles, may show first;
	// the one after the reload counts them all.
	const wantReach = `{"total":13,"wechat":"<10","sms":12}`
	last := ""
	deadline := time.Now().Add(30 * time.Second)
	for last != wantReach {
		if time.Now().After(deadline) {
			t.Fatalf("reach %s, want %s: 13 in all, 12 by SMS and WeChat under 10", last, wantReach)
		}
		code, body, _ := cl.do("GET", "/public/consultations", "", "")
		if code != http.StatusOK || json.Unmarshal([]byte(body), &list) != nil || len(list.Consultations) != 1 {
			t.Fatalf("list: %d %s", code, body)
		}
		last = string(list.Consultations[0].Reach)
		time.Sleep(20 * time.Millisecond)
	}
	got := list.Consultations[0]
	if got.PolicyID != id || got.From != "2026-12-01" || got.Until != "2026-12-31" {
		t.Errorf("listed %+v", got)
	}
	if n := e.count("SELECT count(*) FROM matches WHERE policy_id = $1", id); n != 0 {
		t.Errorf("the draft has %d matches: a draft is never notified", n)
	}
	if n := e.count("SELECT count(*) FROM matches WHERE policy_id = 'skill-upgrade-subsidy'"); n != 13 {
		t.Errorf("the policy in force matched %d, want 13 (the pipeline ran)", n)
	}

	// Three comments over JSON; one refused for its length.
	for i, body := range []string{
		`{"text":"建议将高级工补贴标准提高到3000元。","name":"王先生"}`,
		`{"text":"请公布联系电话 13812345678 以便咨询","name":""}`,
		`{"text":"建议延长申领期限。"}`,
	} {
		if code, b := cl.post("/public/consultations/"+id+"/comments", body); code != http.StatusCreated {
			t.Fatalf("comment %d: %d %s", i+1, code, b)
		}
	}
	if code, _ := cl.post("/public/consultations/"+id+"/comments", fmt.Sprintf(`{"text":%q}`, strings.Repeat("意", 2001))); code != http.StatusBadRequest {
		t.Errorf("a 2001-character comment: %d, want 400", code)
	}
	if n := e.count("SELECT count(*) FROM consultation_comments WHERE policy_id = $1 AND status = 'pending' AND NOT adopted", id); n != 3 {
		t.Fatalf("%d pending comments stored, want 3", n)
	}
	if n := e.count(`SELECT count(*) FROM consultation_comments c WHERE row_to_json(c)::text LIKE '%127.0.0.1%'`); n != 0 {
		t.Error("a comment row holds the client's address")
	}
	if n := e.count(`SELECT count(*) FROM information_schema.columns WHERE table_name = 'consultation_comments' AND column_name ~ 'ip|addr|client'`); n != 0 {
		t.Error("consultation_comments has a column for the client's address")
	}

	// Officers read and moderate through the admin API.
	code, body := api("GET", "/api/consultations/"+id+"/comments", admin, "")
	var read struct {
		Comments []struct {
			ID     int64  `json:"id"`
			Text   string `json:"text"`
			Status string `json:"status"`
		} `json:"comments"`
	}
	if code != http.StatusOK || json.Unmarshal([]byte(body), &read) != nil || len(read.Comments) != 3 {
		t.Fatalf("officers' read: %d %s", code, body)
	}
	first, second := read.Comments[0].ID, read.Comments[1].ID
	code, body = api("POST", "/api/officers", admin, `{"name":"zhao.reviewer","role":"reviewer"}`)
	var off struct{ Token string }
	if code != http.StatusCreated || json.Unmarshal([]byte(body), &off) != nil {
		t.Fatalf("add reviewer: %d %s", code, body)
	}
	for _, step := range []struct {
		token, path, body string
		want              int
	}{
		{off.Token, fmt.Sprintf("/api/comments/%d/moderate", first), `{"status":"visible"}`, http.StatusOK},
		{off.Token, fmt.Sprintf("/api/comments/%d/adopt", first), `{"adopted":true}`, http.StatusForbidden},
		{admin, fmt.Sprintf("/api/comments/%d/adopt", first), `{"adopted":true,"reply":"已将高级工标准调整为2500元。"}`, http.StatusOK},
		{off.Token, fmt.Sprintf("/api/comments/%d/moderate", second), `{"status":"hidden"}`, http.StatusOK},
		{admin, fmt.Sprintf("/api/comments/%d/adopt", second), `{"adopted":true}`, http.StatusOK},
		{admin, fmt.Sprintf("/api/comments/%d/moderate", second), `{"status":"shown"}`, http.StatusBadRequest},
		{admin, "/api/comments/999999/moderate", `{"status":"hidden"}`, http.StatusNotFound},
	} {
		if code, b := api("POST", step.path, step.token, step.body); code != step.want {
			t.Errorf("POST %s %s: %d %s, want %d", step.path, step.body, code, b, step.want)
		}
	}
	if n := e.count(`SELECT count(*) FROM audit_log WHERE action LIKE 'comment.%' AND policy_id = $1`, id); n != 4 {
		t.Errorf("%d audit rows of moderation, want 4 (one per change made)", n)
	}
	if n := e.count(`SELECT count(*) FROM audit_log WHERE action = 'comment.moderate' AND actor = 'zhao.reviewer'`); n != 2 {
		t.Errorf("%d moderation rows by the reviewer, want 2", n)
	}

	// The console's moderation page takes a signed-in session, as every
	// console form does (a bearer token is for the admin API), and its
	// forms carry the session's CSRF token. It hides the third.
	third := read.Comments[2].ID
	req, _ := http.NewRequest("GET", cl.base+"/console/comments?policy="+id, nil)
	req.Header.Set("Authorization", "Bearer "+off.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("console moderation page with a bearer token: %d, want 401", resp.StatusCode)
	}
	session := consoleSession(t, cl.base, off.Token)
	req, _ = http.NewRequest("GET", cl.base+"/console/comments?policy="+id, nil)
	req.AddCookie(session)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	pageBody, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(string(pageBody))
	if resp.StatusCode != http.StatusOK || m == nil || !strings.Contains(string(pageBody), "建议延长申领期限。") {
		t.Fatalf("console moderation page: %d:\n%s", resp.StatusCode, pageBody)
	}
	req, _ = http.NewRequest("POST", fmt.Sprintf("%s/console/comments/%d", cl.base, third),
		strings.NewReader("action=hidden&csrf="+url.QueryEscape(m[1])))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(session)
	resp, err = noRedirects().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("console moderation: %d, want 303", resp.StatusCode)
	}
	if n := e.count(`SELECT count(*) FROM consultation_comments WHERE id = $1 AND status = 'hidden'`, third); n != 1 {
		t.Error("the console did not hide the comment")
	}
	if n := e.count(`SELECT count(*) FROM audit_log WHERE action = 'comment.moderate' AND actor = 'zhao.reviewer' AND actor_role = 'reviewer'`); n != 3 {
		t.Errorf("%d moderation rows by the reviewer after the console's, want 3", n)
	}

	// While open, the page takes comments and shows no results yet.
	_, page, _ := cl.do("GET", "/consultations/"+id, "", "")
	if !strings.Contains(page, "提交意见") || strings.Contains(page, "意见采纳情况") {
		t.Error("the open page should have the form and no results")
	}

	// After the window.
	c.set(time.Date(2027, 1, 1, 9, 0, 0, 0, rules.Shanghai))
	code, body, _ = cl.do("GET", "/public/consultations", "", "")
	if code != http.StatusOK || !strings.Contains(body, `"consultations":[]`) {
		t.Errorf("after the window the list is %d %s, want empty", code, body)
	}
	code, body, _ = cl.do("GET", "/public/consultations/"+id, "", "")
	var det struct {
		Open     bool `json:"open"`
		Comments struct {
			Received, Adopted int
			Shown             []struct{ Name, Text, Reply string }
		} `json:"comments"`
	}
	if code != http.StatusOK || json.Unmarshal([]byte(body), &det) != nil {
		t.Fatalf("detail: %d %s", code, body)
	}
	if det.Open || det.Comments.Received != 3 || det.Comments.Adopted != 2 || len(det.Comments.Shown) != 1 ||
		det.Comments.Shown[0].Text != "建议将高级工补贴标准提高到3000元。" || det.Comments.Shown[0].Name != "王先生" {
		t.Errorf("detail after the window: %s", body)
	}
	_, page, _ = cl.do("GET", "/consultations/"+id, "", "")
	for _, want := range []string{"共收到意见 <strong>3</strong> 条，采纳 <strong>2</strong> 条", "建议将高级工补贴标准提高到3000元。", "已将高级工标准调整为2500元。"} {
		if !strings.Contains(page, want) {
			t.Errorf("the closed page lacks %q", want)
		}
	}
	for _, never := range []string{"13812345678", "建议延长申领期限", "<form"} {
		if strings.Contains(page, never) {
			t.Errorf("the closed page shows %q: only visible adopted text is published, and no form", never)
		}
	}
	if code, b := cl.post("/public/consultations/"+id+"/comments", `{"text":"迟到的意见"}`); code != http.StatusConflict {
		t.Errorf("a comment after the window: %d %s, want 409", code, b)
	}
}

// consoleSession signs in to the console at base with an officer's token,
// through the login form and its CSRF cookie, and returns the session
// cookie.
func consoleSession(t *testing.T, base, token string) *http.Cookie {
	t.Helper()
	resp, err := http.Get(base + "/console/login")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(string(body))
	var login *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == signin.LoginCSRFCookie {
			login = c
		}
	}
	if m == nil || login == nil {
		t.Fatalf("the login form: %d, no CSRF field or cookie", resp.StatusCode)
	}
	req, _ := http.NewRequest("POST", base+"/console/login", strings.NewReader(url.Values{"token": {token}, "csrf": {m[1]}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(login)
	resp, err = noRedirects().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == signin.SessionCookie {
			return c
		}
	}
	t.Fatalf("signing in: %d, no session cookie", resp.StatusCode)
	return nil
}
