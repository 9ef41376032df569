package app

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/policypush/policypush/internal/ingest"
	"github.com/policypush/policypush/internal/officer"
)

// caseRule is an enterprise policy of the case tests: it holds for firms
// of size and not already granted it (as real rules say), and pays 5000.
func caseRule(id, size, extra string) string {
	return fmt.Sprintf(`id: %s
version: 1
title: 案件测试%s补贴
domain: employment
subject: enterprise
department: 失业保险科
source: {doc: "某人社发〔2026〕2号", url: "https://rs.example.gov.cn/doc/%s"}
status: active
valid_from: 2026-01-01
valid_until: 2027-06-30
conditions:
  - name: 企业规模符合
    expr: enterprise.size_class == %q
  - name: 本年度尚未享受
    expr: none(enterprise.benefits_received ?? [], .policy_id == %q)
amount: "5000"
%snotify:
  channels: [wechat]
  wechat:
    template_id: TPL_CASE
    url: https://rs.example.gov.cn/p/%s
    data: {thing1: "{{policy.id}}"}
`, id, size, id, size, id, extra, id)
}

func caseRules(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range map[string]string{
		"case-review.yaml": caseRule("case-review", "small", "review: true\n"),
		"case-auto.yaml":   caseRule("case-auto", "large", "apply: {mode: automatic, how: 核定后直接拨付至单位对公账户}\n"),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func firmEvent(eventID, uscc, name, size, openid string) []byte {
	return fmt.Appendf(nil, `{"event_id":%q,"subject_type":"enterprise","subject_id":%q,"occurred_at":"2026-11-20T10:00:00+08:00","source":"gongshang","type":"snapshot","data":{"uscc":%q,"name":%q,"size_class":%q,"channels":{"wechat":{"openid":%q}}}}`,
		eventID, uscc, uscc, name, size, openid)
}

func grantEvent(eventID, uscc, policy string, amount float64) []byte {
	return fmt.Appendf(nil, `{"event_id":%q,"subject_type":"enterprise","subject_id":%q,"occurred_at":"2026-11-28T09:00:00+08:00","source":"jinbao","type":"patch","data":{"benefits_received":[{"policy_id":%q,"year":2026,"amount":%v}]}}`,
		eventID, uscc, policy, amount)
}

// caseEnv starts the service on two listeners with the case rules and a
// fake WeChat, and returns it with clients of the public and the
// internal (admin) side.
func caseEnv(t *testing.T) (*env, *fakeWeChat, answerClient, adminClient) {
	e := newEnv(t)
	fake := &fakeWeChat{unfollowed: map[string]bool{}}
	api := httptest.NewServer(fake)
	t.Cleanup(api.Close)
	e.cfg.RulesDir = caseRules(t)
	e.cfg.WeChatAppID, e.cfg.WeChatSecret, e.cfg.WeChatAPIBase = "wx_test_app", "test-secret-value", api.URL
	e.cfg.WeChatToken = "callback-token"
	e.cfg.QuietHours.On = false
	e.cfg.PublicAddr = "127.0.0.1:0"
	s := e.start(ingest.Hooks{})
	public, internal := <-s.public, <-s.addr
	return e, fake, answerClient{t: t, base: "http://" + public}, adminClient{t: t, base: "http://" + internal, token: e.cfg.AdminToken.Value()}
}

// adminClient calls the admin API with the admin token.
type adminClient struct {
	t     *testing.T
	base  string
	token string
}

func (c adminClient) do(method, path, body string) (int, string, http.Header) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// tokenOf is the click token of the message WeChat got for openid.
func tokenOf(t *testing.T, f *fakeWeChat, openid string) string {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, m := range f.sent {
		if m["touser"] == openid {
			link, _ := m["url"].(string)
			return link[strings.LastIndex(link, "/r/")+3:]
		}
	}
	t.Fatalf("no message to %s", openid)
	return ""
}

type caseJSON struct {
	ID            int64    `json:"id"`
	SubjectType   string   `json:"subject_type"`
	SubjectMasked string   `json:"subject_masked"`
	PolicyID      string   `json:"policy_id"`
	Status        string   `json:"status"`
	Amount        *float64 `json:"amount"`
	UpdatedAt     string   `json:"updated_at"`
}

// TestCaseMatchToGrant takes one case from match to grant through the
// real service, over HTTP and Kafka only: a profile event makes a notice,
// whose link is opened and claimed on the public listener; the policy
// holds claims for review, so the officer finds it in GET /api/cases,
// cannot reject it without a reason, and approves it; the approved list
// comes out as CSV (BOM, the ids payment needs, audited) and as 公示 on
// the public listener (masked); a benefits_received event from 金保 then
// grants it with its amount, though the rule ("not already received") no
// longer matches; its history names each actor; the funnel and /metrics
// count every step down to the 元.
func TestCaseMatchToGrant(t *testing.T) {
	e, fake, pub, adm := caseEnv(t)
	const uscc, name, openid = "91510100MA6CA00001", "成都示例案件科技有限公司", "oCase_firm_0000000001"
	e.produce(firmEvent("case-1", uscc, name, "small", openid))
	e.waitFor("the notice sent", func() bool { return e.countOr("SELECT count(*) FROM outbox WHERE status = 'sent'") == 1 })
	token := tokenOf(t, fake, openid)

	if code, _, _ := pub.do(http.MethodGet, "/r/"+token, "", ""); code != http.StatusFound && code != http.StatusSeeOther {
		t.Fatalf("/r/: %d", code)
	}
	if code, body := pub.post("/public/notices/"+token+"/claim", "{}"); code != 200 || strings.TrimSpace(body) != `{"status":"claimed"}` {
		t.Fatalf("claim: %d %s (a review: true policy holds the claim)", code, body)
	}

	code, body, _ := adm.do("GET", "/api/cases?policy=case-review&status=claimed", "")
	var list struct{ Cases []caseJSON }
	if err := json.Unmarshal([]byte(body), &list); err != nil || code != 200 || len(list.Cases) != 1 {
		t.Fatalf("the review queue: %d %s", code, body)
	}
	c := list.Cases[0]
	if c.SubjectType != "enterprise" || c.PolicyID != "case-review" || c.Amount == nil || *c.Amount != 5000 || c.UpdatedAt == "" ||
		c.SubjectMasked != "91****01" || strings.Contains(body, uscc) || strings.Contains(body, name) {
		t.Errorf("the queued case: %s", body)
	}
	if code, body, _ := adm.do("POST", fmt.Sprintf("/api/cases/%d/reject", c.ID), `{}`); code != 400 {
		t.Errorf("a rejection without a reason: %d %s", code, body)
	}
	code, body, _ = adm.do("POST", fmt.Sprintf("/api/cases/%d/approve", c.ID), `{"reason":"材料齐全，同意"}`)
	var approved caseJSON
	if err := json.Unmarshal([]byte(body), &approved); err != nil || code != 200 || approved.Status != "approved" || approved.ID != c.ID {
		t.Fatalf("approve: %d %s", code, body)
	}
	if code, _, _ := pub.do(http.MethodGet, "/n/"+token, "", ""); code != 200 {
		t.Errorf("the notice page after approval: %d", code)
	}
	if _, body, _ := pub.do(http.MethodGet, "/public/notices/"+token, "", ""); !strings.Contains(body, `"status":"approved"`) {
		t.Errorf("the notice's JSON after approval: %s", body)
	}

	code, body, h := adm.do("GET", "/api/policies/case-review/cases.csv", "")
	if code != 200 || !strings.HasPrefix(body, "\ufeff") || !strings.HasPrefix(h.Get("Content-Type"), "text/csv") {
		t.Fatalf("cases.csv: %d %q", code, h.Get("Content-Type"))
	}
	rows, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(body, "\ufeff"))).ReadAll()
	if err != nil || len(rows) != 2 {
		t.Fatalf("cases.csv: %v %q", err, body)
	}
	want := map[string]string{"case_id": fmt.Sprint(c.ID), "subject_type": "enterprise", "subject_id": uscc, "name": name,
		"policy_id": "case-review", "policy_version": "1", "amount": "5000", "approved_by": officer.BootstrapName,
		"publicity_until": "2026-12-04", "ready_for_payment": "false"} // approved Friday 2026-11-27: 5 working days
	for i, col := range rows[0] {
		if w, ok := want[col]; ok && rows[1][i] != w {
			t.Errorf("cases.csv %s = %q, want %q", col, rows[1][i], w)
		}
	}
	if n := e.count("SELECT count(*) FROM audit_log WHERE action = 'cases.export' AND policy_id = 'case-review'"); n != 1 {
		t.Errorf("%d export audit rows, want 1", n)
	}

	code, body, _ = pub.do(http.MethodGet, "/public/policies/case-review/publicity", "", "")
	var list2 struct {
		Cases []struct {
			NameMasked string   `json:"name_masked"`
			IDMasked   string   `json:"id_masked"`
			Amount     *float64 `json:"amount"`
		} `json:"cases"`
		Count int `json:"count"`
	}
	if err := json.Unmarshal([]byte(body), &list2); err != nil || code != 200 || list2.Count != 1 || len(list2.Cases) != 1 ||
		list2.Cases[0].NameMasked != "成都****公司" || list2.Cases[0].IDMasked != "915101**********01" || *list2.Cases[0].Amount != 5000 {
		t.Errorf("publicity JSON: %d %s", code, body)
	}
	code, page, _ := pub.do(http.MethodGet, "/policies/case-review/publicity", "", "")
	if code != 200 || !strings.Contains(page, "成都****公司") || !strings.Contains(page, "5,000") || strings.Contains(page, uscc) || strings.Contains(page, name) {
		t.Errorf("publicity page: %d %s", code, page)
	}
	if code, _, _ := adm.do("GET", "/policies/case-review/publicity", ""); code != http.StatusNotFound {
		t.Errorf("the publicity page on the internal listener: %d, want 404", code)
	}

	// 金保 pays, and says so in a profile event.
	e.produce(grantEvent("case-1-paid", uscc, "case-review", 5000))
	e.waitFor("the case granted", func() bool {
		return e.countOr("SELECT count(*) FROM cases WHERE status = 'granted' AND granted_amount = 5000") == 1
	})
	if n := e.count("SELECT count(*) FROM matches WHERE policy_id = 'case-review' AND status = 'lapsed'"); n != 1 {
		t.Errorf("the match did not lapse (%d): the rule says not already received", n)
	}
	code, body, _ = adm.do("GET", fmt.Sprintf("/api/cases/%d", c.ID), "")
	var detail struct {
		Case    caseJSON `json:"case"`
		History []struct {
			From, To, Actor, Reason string
			ActorKind               string `json:"actor_kind"`
		} `json:"history"`
	}
	if err := json.Unmarshal([]byte(body), &detail); err != nil || code != 200 || detail.Case.Status != "granted" || *detail.Case.Amount != 5000 {
		t.Fatalf("the granted case: %d %s", code, body)
	}
	var steps []string
	for _, ev := range detail.History {
		steps = append(steps, ev.To+"/"+ev.ActorKind+"/"+ev.Actor)
	}
	if got := strings.Join(steps, " "); got != "matched/system/ notified/system/ opened/citizen/ claimed/citizen/ approved/officer/"+officer.BootstrapName+" granted/system/" {
		t.Errorf("history: %s", got)
	}

	code, body, _ = adm.do("GET", "/api/funnel?policy=case-review", "")
	var f struct {
		Steps         map[string]int `json:"steps"`
		GrantedAmount float64        `json:"granted_amount"`
		Median        *float64       `json:"median_match_to_grant_hours"`
	}
	if err := json.Unmarshal([]byte(body), &f); err != nil || code != 200 {
		t.Fatalf("funnel: %d %s", code, body)
	}
	for _, step := range []string{"matched", "sent", "opened", "claimed", "approved", "granted"} {
		if f.Steps[step] != 1 {
			t.Errorf("funnel %s = %d, want 1: %s", step, f.Steps[step], body)
		}
	}
	if f.Steps["granted_unclaimed"] != 0 { // claimed, then granted
		t.Errorf("funnel granted_unclaimed = %d, want 0: %s", f.Steps["granted_unclaimed"], body)
	}
	if f.GrantedAmount != 5000 || f.Median == nil || *f.Median < 0 {
		t.Errorf("funnel amount %v median %v", f.GrantedAmount, f.Median)
	}
	e.waitFor("the funnel on /metrics", func() bool {
		_, m, _ := adm.do("GET", "/metrics", "")
		return strings.Contains(m, `policypush_funnel_cases{domain="employment",source="event",step="granted"} 1`) &&
			strings.Contains(m, `policypush_funnel_granted_yuan{domain="employment"} 5000`)
	})
}

// TestAutomaticGrantWithoutClaim is 免申即享: a case nobody claimed is
// granted by the benefits_received event alone, and the funnel shows a
// grant without a claim.
func TestAutomaticGrantWithoutClaim(t *testing.T) {
	e, _, _, adm := caseEnv(t)
	const uscc = "91510100MA6CA00002"
	e.produce(firmEvent("case-2", uscc, "四川示例自动发放有限公司", "large", "oCase_firm_0000000002"))
	e.waitFor("the notice sent", func() bool { return e.countOr("SELECT count(*) FROM outbox WHERE status = 'sent'") == 1 })
	if n := e.count("SELECT count(*) FROM cases"); n != 0 {
		t.Fatalf("%d cases rows before any answer: matched and notified are derived, not written", n)
	}
	e.produce(grantEvent("case-2-paid", uscc, "case-auto", 38640.5))
	e.waitFor("the case granted", func() bool {
		return e.countOr("SELECT count(*) FROM cases WHERE status = 'granted' AND granted_amount = 38640.5 AND claimed_at IS NULL") == 1
	})
	code, body, _ := adm.do("GET", "/api/cases?policy=case-auto&status=granted", "")
	var list struct{ Cases []caseJSON }
	if err := json.Unmarshal([]byte(body), &list); err != nil || code != 200 || len(list.Cases) != 1 || *list.Cases[0].Amount != 38640.5 {
		t.Fatalf("granted cases: %d %s", code, body)
	}
	if n := e.count("SELECT count(*) FROM case_events WHERE from_status = 'notified' AND to_status = 'granted' AND actor_kind = 'system' AND reason = 'event case-2-paid'"); n != 1 {
		t.Errorf("the grant's history row: %d", n)
	}
	_, body, _ = adm.do("GET", "/api/funnel?policy=case-auto", "")
	var f struct {
		Steps         map[string]int     `json:"steps"`
		GrantedAmount float64            `json:"granted_amount"`
		Conversions   map[string]float64 `json:"conversions"`
		GrantedBase   int                `json:"granted_base"`
		Automatic     bool               `json:"automatic"`
	}
	_ = json.Unmarshal([]byte(body), &f)
	if f.Steps["matched"] != 1 || f.Steps["sent"] != 1 || f.Steps["claimed"] != 0 || f.Steps["approved"] != 0 || f.Steps["granted"] != 1 || f.GrantedAmount != 38640.5 {
		t.Errorf("funnel: %s", body)
	}
	// The grant had no claim: counted apart, and measured against the
	// case found (1 of 1), not against approved (0).
	if f.Steps["granted_unclaimed"] != 1 || !f.Automatic || f.GrantedBase != 1 || f.Conversions["granted"] != 1 {
		t.Errorf("funnel's grant without a claim: %s", body)
	}
	e.waitFor("the grant without a claim on /metrics", func() bool {
		_, m, _ := adm.do("GET", "/metrics", "")
		return strings.Contains(m, `policypush_funnel_cases{domain="employment",source="event",step="granted_unclaimed"} 1`)
	})
	// A redelivered grant changes nothing.
	e.produce(grantEvent("case-2-paid", uscc, "case-auto", 38640.5))
	time.Sleep(300 * time.Millisecond)
	if n := e.count("SELECT count(*) FROM case_events WHERE to_status = 'granted'"); n != 1 {
		t.Errorf("%d grant events after a redelivery, want 1", n)
	}
}
