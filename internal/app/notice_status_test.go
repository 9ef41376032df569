package app

import (
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/policypush/policypush/internal/ingest"
	"github.com/policypush/policypush/internal/officer"
)

// officeEnv is caseEnv with case-review's apply naming an office.
func officeEnv(t *testing.T) (*env, *fakeWeChat, answerClient, adminClient) {
	e := newEnv(t)
	fake := &fakeWeChat{unfollowed: map[string]bool{}}
	api := httptest.NewServer(fake)
	t.Cleanup(api.Close)
	dir := t.TempDir()
	rule := caseRule("case-review", "small", "review: true\napply: {mode: apply, how: 到窗口申请, office: 高新区政务中心三楼人社窗口}\n")
	if err := os.WriteFile(filepath.Join(dir, "case-review.yaml"), []byte(rule), 0o644); err != nil {
		t.Fatal(err)
	}
	e.cfg.RulesDir = dir
	e.cfg.WeChatAppID, e.cfg.WeChatSecret, e.cfg.WeChatAPIBase = "wx_test_app", "test-secret-value", api.URL
	e.cfg.WeChatToken = "callback-token"
	e.cfg.QuietHours.On = false
	e.cfg.PublicAddr = "127.0.0.1:0"
	s := e.start(ingest.Hooks{})
	public, internal := <-s.public, <-s.addr
	return e, fake, answerClient{t: t, base: "http://" + public}, adminClient{t: t, base: "http://" + internal, token: e.cfg.AdminToken.Value()}
}

type noticeJSON struct {
	Status  string   `json:"status"`
	Actions []string `json:"actions"`
	Reason  *string  `json:"reason"`
}

func getNotice(t *testing.T, pub answerClient, token string) (noticeJSON, string) {
	t.Helper()
	code, body, _ := pub.do(http.MethodGet, "/public/notices/"+token, "", "")
	var n noticeJSON
	if err := json.Unmarshal([]byte(body), &n); err != nil || code != 200 {
		t.Fatalf("the notice's JSON: %d %s", code, body)
	}
	return n, body
}

// TestRejectedReasonOnNoticePage has an officer reject a claimed case with
// a reason on the real service: the citizen's page shows that reason,
// escaped, with the hotline and the policy's office, and the notice's JSON
// has it as "reason"; neither shows the officer's name or the reason of
// an approval.
func TestRejectedReasonOnNoticePage(t *testing.T) {
	e, fake, pub, adm := officeEnv(t)
	const reason = `经核查，贵单位<2026年10月>起已在外省参保，不符合"在本市参保"的条件。`
	e.produce(firmEvent("rej-1", "91510100MA6CA00011", "成都驳回测试有限公司", "small", "oRej_firm_00000000001"))
	e.produce(firmEvent("app-1", "91510100MA6CA00012", "成都通过测试有限公司", "small", "oApp_firm_00000000001"))
	e.waitFor("two notices sent", func() bool { return e.countOr("SELECT count(*) FROM outbox WHERE status = 'sent'") == 2 })
	rej, app := tokenOf(t, fake, "oRej_firm_00000000001"), tokenOf(t, fake, "oApp_firm_00000000001")
	for _, tok := range []string{rej, app} {
		if code, body := pub.post("/public/notices/"+tok+"/claim", "{}"); code != 200 {
			t.Fatalf("claim: %d %s", code, body)
		}
	}
	code, body, _ := adm.do("GET", "/api/cases?policy=case-review&status=claimed", "")
	var list struct{ Cases []caseJSON }
	if err := json.Unmarshal([]byte(body), &list); err != nil || code != 200 || len(list.Cases) != 2 {
		t.Fatalf("the review queue: %d %s", code, body)
	}
	// Which case is whose: by the masked id's last digits.
	for _, c := range list.Cases {
		path, r := "approve", `{"reason":"材料齐全，同意（内部备注）"}`
		if strings.HasSuffix(c.SubjectMasked, "11") {
			path, r = "reject", fmt.Sprintf(`{"reason":%q}`, reason)
		}
		if code, body, _ := adm.do("POST", fmt.Sprintf("/api/cases/%d/%s", c.ID, path), r); code != 200 {
			t.Fatalf("%s: %d %s", path, code, body)
		}
	}

	n, raw := getNotice(t, pub, rej)
	if n.Status != "rejected" || n.Reason == nil || *n.Reason != reason {
		t.Errorf("the rejected notice's JSON: %s", raw)
	}
	code, page, _ := pub.do(http.MethodGet, "/n/"+rej, "", "")
	if code != 200 || !strings.Contains(page, html.EscapeString(reason)) || strings.Contains(page, "<2026年10月>") ||
		!strings.Contains(page, `<p class="status-title" id="status-title">未通过审核</p>`) ||
		!strings.Contains(page, `请拨打咨询电话 <a href="tel:12333">12333</a>，或到高新区政务中心三楼人社窗口咨询。`) {
		t.Errorf("the rejected notice's page: %d %s", code, page)
	}
	n, raw = getNotice(t, pub, app)
	_, page, _ = pub.do(http.MethodGet, "/n/"+app, "", "")
	if n.Status != "approved" || n.Reason != nil || strings.Contains(page, "内部备注") || strings.Contains(page, "原因：") {
		t.Errorf("an approval's reason is shown: %s", raw)
	}
	for _, out := range []string{raw, page} {
		if strings.Contains(out, officer.BootstrapName) {
			t.Errorf("the officer's name is shown: %s", out)
		}
	}
}

// TestLapsedNoticeOffersDispute lets a notice's case lapse (the firm's new
// snapshot no longer meets the conditions) before anyone decided: its page
// says so in those words, not as a deadline, and offers 信息有误, whose
// answer reaches the source while the case stays lapsed.
func TestLapsedNoticeOffersDispute(t *testing.T) {
	e, fake, pub, _ := officeEnv(t)
	const uscc = "91510100MA6CA00021"
	e.produce(firmEvent("lapse-1", uscc, "成都失效测试有限公司", "small", "oLapse_firm_000000001"))
	e.waitFor("the notice sent", func() bool { return e.countOr("SELECT count(*) FROM outbox WHERE status = 'sent'") == 1 })
	tok := tokenOf(t, fake, "oLapse_firm_000000001")
	e.produce(firmEvent("lapse-2", uscc, "成都失效测试有限公司", "large", "oLapse_firm_000000001"))
	e.waitFor("the match lapsed", func() bool {
		return e.countOr("SELECT count(*) FROM matches WHERE policy_id = 'case-review' AND status = 'lapsed'") == 1
	})

	n, raw := getNotice(t, pub, tok)
	if n.Status != "lapsed" || !slices.Contains(n.Actions, "dispute") || slices.Contains(n.Actions, "claim") || n.Reason != nil {
		t.Errorf("the lapsed notice's JSON: %s", raw)
	}
	code, page, _ := pub.do(http.MethodGet, "/n/"+tok, "", "")
	if code != 200 || !strings.Contains(page, "您已不再符合这项政策的条件") || !strings.Contains(page, "<summary>信息有误</summary>") ||
		strings.Contains(page, "期限已过") || strings.Contains(page, "已过期") {
		t.Errorf("the lapsed notice's page: %d %s", code, page)
	}
	if code, body := pub.post("/public/notices/"+tok+"/dispute", `{"conditions":["企业规模符合"],"note":"规模登记有误"}`); code != 200 {
		t.Fatalf("dispute: %d %s", code, body)
	}
	if c := e.count("SELECT count(*) FROM correction_requests WHERE subject_id = $1 AND note = '规模登记有误'", uscc); c != 1 {
		t.Errorf("%d correction requests, want 1", c)
	}
	if n, raw := getNotice(t, pub, tok); n.Status != "lapsed" {
		t.Errorf("after the dispute: %s, want the case still lapsed", raw)
	}
}
