package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/policypush/policypush/internal/config"
	"github.com/policypush/policypush/internal/ingest"
	"github.com/policypush/policypush/internal/rules"
)

// answerRule is a resident policy of the answers test: every one reads
// the pension months, and one more field of its own. It holds claims for
// review (review: true), so that a claim stays claimed.
func answerRule(id, title, cond, expr string) string {
	return fmt.Sprintf(`id: %s
version: 1
title: %s
domain: employment
subject: resident
department: 就业促进科
source: {doc: "某人社发〔2026〕1号", url: "https://rs.example.gov.cn/doc/%s"}
status: active
valid_from: 2026-01-01
valid_until: 2027-06-30
conditions:
  - name: 养老保险缴费满12个月
    expr: resident.insurance.pension.cumulative_months >= 12
  - name: %s
    expr: %s
amount: "1000"
review: true
notify:
  channels: [wechat]
  wechat:
    template_id: TPL_ANSWER
    url: https://rs.example.gov.cn/p/%s
    data: {thing1: "{{policy.id}}"}
`, id, title, id, cond, expr, id)
}

func answerRules(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range map[string]string{
		"answer-one.yaml":   answerRule("answer-one", "答复测试一号补贴", "本市户籍", "resident.hukou.is_local == true"),
		"answer-two.yaml":   answerRule("answer-two", "答复测试二号补贴", "在本市就业", `resident.employment.status == "employed"`),
		"answer-three.yaml": answerRule("answer-three", "答复测试三号补贴", "参加职工养老保险", `resident.insurance.pension.scheme == "employee"`),
		"answer-four.yaml":  answerRule("answer-four", "答复测试四号补贴", "退役军人", "resident.veteran.is_veteran == true"),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// answerPerson is a resident eligible for answer-one, -two and -three.
func answerPerson(id, openid string) []byte {
	return fmt.Appendf(nil, `{"event_id":"ans-%s","subject_type":"resident","subject_id":%q,"occurred_at":"2026-11-20T10:00:00+08:00","source":"jinbao","type":"snapshot","data":{"person_id":%q,"birth_date":"1990-04-12","employment":{"status":"employed"},"insurance":{"pension":{"scheme":"employee","status":"active","cumulative_months":24}},"hukou":{"is_local":true},"channels":{"wechat":{"openid":%q}},"consent":{"personalized_push":true}}}`,
		id, id, id, openid)
}

func patchEvent(eventID, id, source, at, data string) []byte {
	return fmt.Appendf(nil, `{"event_id":%q,"subject_type":"resident","subject_id":%q,"occurred_at":%q,"source":%q,"type":"patch","data":%s}`,
		eventID, id, at, source, data)
}

// answerClient speaks to the service as an outside app does.
type answerClient struct {
	t    *testing.T
	base string
}

func (c answerClient) do(method, path, contentType, body string) (int, string, http.Header) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := noRedirects().Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func (c answerClient) post(path, body string) (int, string) {
	c.t.Helper()
	code, b, _ := c.do(http.MethodPost, path, "application/json", body)
	return code, b
}

// TestNoticeAnswersEndToEnd is issue 13's answers over HTTP: a profile
// event becomes a sent notice whose link opens the notice page; its JSON
// says why, with the data's date and the next steps and the person's other
// open notices; a claim is idempotent; a dispute reaches the
// profile-corrections topic and is fixed by a later event from the source
// that set the field (not by another source's); a stop of one policy
// cancels its waiting notice, and a stop of all cancels what waits and
// suppresses what comes later; an expired token and an unknown one get
// the same 404, and a form post gets 415.
func TestNoticeAnswersEndToEnd(t *testing.T) {
	e := newEnv(t)
	fake := &fakeWeChat{unfollowed: map[string]bool{}}
	api := httptest.NewServer(fake)
	defer api.Close()
	e.cfg.RulesDir = answerRules(t)
	e.cfg.WeChatAppID, e.cfg.WeChatSecret, e.cfg.WeChatAPIBase = "wx_test_app", "test-secret-value", api.URL
	e.cfg.WeChatToken = "callback-token"
	// POLICYPUSH_PUBLIC_URL set, as config.Load sets both: the JSON's
	// others[] links are absolute under it.
	e.cfg.PublicURL, e.cfg.LinkPublicURL = "https://rs.example.gov.cn", "https://rs.example.gov.cn"
	e.cfg.QuietHours.On = false
	// Two messages a week: the third notice waits, claimed and deferred.
	e.cfg.FrequencyCap = config.Cap{N: 2, Period: 168 * time.Hour}
	var c clock
	c.set(now)
	e.clock = c.now

	s := e.start(ingest.Hooks{})
	e.produce(answerPerson("p_ans", "oAns_person_00000001"), answerPerson("p_all", "oAns_person_00000002"))
	e.waitFor("two sent and one deferred notice each", func() bool {
		return e.countOr("SELECT count(*) FROM outbox WHERE status = 'sent'") == 4 &&
			e.countOr("SELECT count(*) FROM outbox WHERE status = 'deferred'") == 2
	})
	addr := <-s.addr
	cl := answerClient{t: t, base: "http://" + addr}

	// The tokens of the messages WeChat got, by person and policy.
	sent := map[string]string{}
	fake.mu.Lock()
	for _, m := range fake.sent {
		link, _ := m["url"].(string)
		if !strings.HasPrefix(link, e.cfg.PublicURL+"/r/") {
			t.Fatalf("a message links to %q, not a short link", link)
		}
		data, _ := m["data"].(map[string]any)
		thing, _ := data["thing1"].(map[string]any)
		sent[fmt.Sprint(m["touser"], " ", thing["value"])] = link[strings.LastIndex(link, "/r/")+3:]
	}
	fake.mu.Unlock()
	var mine []string // p_ans's sent tokens
	for k, tok := range sent {
		if strings.HasPrefix(k, "oAns_person_00000001 ") {
			mine = append(mine, tok)
		}
	}
	slices.Sort(mine)
	if len(mine) != 2 {
		t.Fatalf("p_ans got %d messages, want 2: %v", len(mine), sent)
	}
	token, other := mine[0], mine[1]

	// The link records the click and opens the notice page.
	code, _, h := cl.do(http.MethodGet, "/r/"+token, "", "")
	if (code != http.StatusFound && code != http.StatusSeeOther) || h.Get("Location") != "/n/"+token {
		t.Fatalf("/r/: %d to %q, want a redirect to /n/%s", code, h.Get("Location"), token)
	}
	if n := e.count("SELECT count(*) FROM outbox WHERE click_token = $1 AND clicked_at IS NOT NULL", token); n != 1 {
		t.Fatal("the click was not recorded")
	}

	// The notice as JSON.
	code, body, h := cl.do(http.MethodGet, "/public/notices/"+token, "", "")
	if code != http.StatusOK {
		t.Fatalf("GET the notice: %d %s", code, body)
	}
	if h.Get("Cache-Control") != "no-store" || !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Errorf("headers %v: want no-store and a strict CSP", h)
	}
	var v struct {
		PolicyID      string            `json:"policy_id"`
		PolicyVersion int               `json:"policy_version"`
		Title         string            `json:"title"`
		Department    string            `json:"department"`
		Source        map[string]string `json:"source"`
		Result        string            `json:"result"`
		Conditions    []struct{ Name, Verdict string }
		Amount        *float64       `json:"amount"`
		DataAsOf      string         `json:"data_as_of"`
		Apply         map[string]any `json:"apply"`
		Status        string         `json:"status"`
		Actions       []string       `json:"actions"`
		Others        []struct{ Link, Title string }
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatal(err)
	}
	var raw map[string]json.RawMessage
	_ = json.Unmarshal([]byte(body), &raw)
	for _, k := range []string{"policy_id", "policy_version", "title", "department", "source", "result", "conditions",
		"amount", "data_as_of", "apply", "status", "actions", "others"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("the notice's JSON has no %q: %s", k, body)
		}
	}
	if !strings.HasPrefix(v.PolicyID, "answer-") || v.PolicyVersion != 1 || !strings.HasPrefix(v.Title, "答复测试") ||
		v.Department != "就业促进科" || v.Source["doc"] != "某人社发〔2026〕1号" || v.Source["url"] == "" || v.Result != "eligible" {
		t.Errorf("the notice: %s", body)
	}
	if len(v.Conditions) != 2 || v.Conditions[0].Name != "养老保险缴费满12个月" || v.Conditions[0].Verdict != "true" || v.Conditions[1].Verdict != "true" {
		t.Errorf("conditions %+v", v.Conditions)
	}
	if v.Amount == nil || *v.Amount != 1000 || v.DataAsOf != "2026-11-20" {
		t.Errorf("amount %v, data_as_of %q", v.Amount, v.DataAsOf)
	}
	if v.Apply["mode"] != "apply" || v.Apply["deadline"] != "2027-06-30" {
		t.Errorf("apply %v: want mode apply, deadline the end of validity", v.Apply)
	}
	if v.Status != "opened" || !slices.Equal(v.Actions, []string{"claim", "dispute", "stop"}) {
		t.Errorf("status %q, actions %v", v.Status, v.Actions)
	}
	if len(v.Others) != 1 || v.Others[0].Link != e.cfg.PublicURL+"/n/"+other || !strings.HasPrefix(v.Others[0].Title, "答复测试") {
		t.Errorf("others %+v: want the other sent notice, %s/n/%s", v.Others, e.cfg.PublicURL, other)
	}
	for _, leak := range []string{"oAns_person", "cumulative_months", "p_ans"} {
		if strings.Contains(body, leak) {
			t.Errorf("the notice's JSON shows %q: %s", leak, body)
		}
	}
	matchOf := func(tok string) int {
		return e.count("SELECT match_id::int FROM outbox WHERE click_token = $1", tok)
	}

	// 确认申领, twice: the same answer, one case.
	for i := range 2 {
		code, body := cl.post("/public/notices/"+token+"/claim", "{}")
		if code != http.StatusOK || strings.TrimSpace(body) != `{"status":"claimed"}` {
			t.Fatalf("claim %d: %d %s", i+1, code, body)
		}
	}
	if n := e.count("SELECT count(*) FROM cases WHERE match_id = $1 AND status = 'claimed'", matchOf(token)); n != 1 {
		t.Errorf("%d claimed cases, want 1", n)
	}
	if n := e.count("SELECT count(*) FROM cases"); n != 1 {
		t.Errorf("%d cases, want 1", n)
	}

	// 信息有误: an unknown condition is refused; the same dispute twice is
	// one request.
	if code, body := cl.post("/public/notices/"+token+"/dispute", `{"conditions":["不存在的条件"]}`); code != http.StatusBadRequest {
		t.Errorf("an unknown condition: %d %s", code, body)
	}
	if code, body := cl.post("/public/notices/"+token+"/dispute", fmt.Sprintf(`{"conditions":["养老保险缴费满12个月"],"note":%q}`, strings.Repeat("长", 501))); code != http.StatusBadRequest {
		t.Errorf("a note too long: %d %s", code, body)
	}
	var ids []int64
	for range 2 {
		code, body := cl.post("/public/notices/"+token+"/dispute", `{"conditions":["养老保险缴费满12个月"],"note":"我已缴满36个月"}`)
		var r struct {
			ID int64 `json:"correction_id"`
		}
		if code != http.StatusOK || json.Unmarshal([]byte(body), &r) != nil || r.ID == 0 {
			t.Fatalf("dispute: %d %s", code, body)
		}
		ids = append(ids, r.ID)
	}
	if ids[0] != ids[1] || e.count("SELECT count(*) FROM correction_requests") != 1 {
		t.Errorf("the same dispute twice: ids %v, %d requests", ids, e.count("SELECT count(*) FROM correction_requests"))
	}
	// The request reaches the topic, once published.
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: []string{e.broker.Addr()}, Topic: CorrectionsTopic, GroupID: "answers-test",
		StartOffset: kafka.FirstOffset, MaxWait: 200 * time.Millisecond,
		SessionTimeout: 3 * time.Second, RebalanceTimeout: 3 * time.Second, HeartbeatInterval: 100 * time.Millisecond,
	})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	msg, err := r.ReadMessage(ctx)
	if err != nil {
		t.Fatalf("no message on %s: %v", CorrectionsTopic, err)
	}
	var cm map[string]any
	if err := json.Unmarshal(msg.Value, &cm); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range cm {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := []string{"conditions", "correction_id", "fields", "note", "reported_at", "source", "subject_id", "subject_type"}; !slices.Equal(keys, want) {
		t.Errorf("the correction's fields are %v, want %v", keys, want)
	}
	if string(msg.Key) != "p_ans" || cm["correction_id"] != float64(ids[0]) || cm["subject_type"] != "resident" || cm["subject_id"] != "p_ans" ||
		cm["source"] != "jinbao" || fmt.Sprint(cm["fields"]) != "[insurance.pension.cumulative_months]" ||
		fmt.Sprint(cm["conditions"]) != "[养老保险缴费满12个月]" || cm["note"] != "我已缴满36个月" {
		t.Errorf("the correction on the topic: key %q, %s", msg.Key, msg.Value)
	}
	if at, err := time.Parse(time.RFC3339, fmt.Sprint(cm["reported_at"])); err != nil || !at.Equal(now) {
		t.Errorf("reported_at %v", cm["reported_at"])
	}
	e.waitFor("the request marked published", func() bool {
		return e.countOr("SELECT count(*) FROM correction_requests WHERE published_at IS NOT NULL") == 1
	})

	// Another source's change leaves the request open; the source's own
	// fixes it.
	before := s.processed.Load()
	e.produce(patchEvent("ans-fix-1", "p_ans", "jiuye", "2026-11-27T08:00:00+08:00", `{"insurance":{"pension":{"cumulative_months":30}}}`))
	e.waitFor("the other source's event", func() bool { return s.processed.Load() > before })
	if n := e.count("SELECT count(*) FROM correction_requests WHERE status = 'open'"); n != 1 {
		t.Errorf("another source's change fixed the request")
	}
	before = s.processed.Load()
	e.produce(patchEvent("ans-fix-2", "p_ans", "jinbao", "2026-11-27T09:00:00+08:00", `{"insurance":{"pension":{"cumulative_months":36}}}`))
	e.waitFor("the request fixed", func() bool {
		return e.countOr("SELECT count(*) FROM correction_requests WHERE status = 'fixed' AND fixed_at IS NOT NULL") == 1
	})

	// 不再接收 for one policy, from the link of the notice that waits (a
	// digest's page lists it): it is cancelled, and nothing more is sent.
	waiting := func(subject string) string {
		var tok string
		if err := e.db.QueryRow(context.Background(), `SELECT o.click_token FROM outbox o JOIN matches m ON m.id = o.match_id
WHERE m.subject_id = $1 AND o.status = 'deferred'`, subject).Scan(&tok); err != nil {
			t.Fatalf("%s's deferred notice: %v", subject, err)
		}
		return tok
	}
	held := waiting("p_ans")
	for range 2 {
		if code, body := cl.post("/public/notices/"+held+"/stop", `{"scope":"policy"}`); code != http.StatusOK || strings.TrimSpace(body) != `{"stopped":"policy"}` {
			t.Fatalf("stop policy: %d %s", code, body)
		}
	}
	if n := e.count("SELECT count(*) FROM outbox WHERE click_token = $1 AND status = 'cancelled'", held); n != 1 {
		t.Error("the waiting notice of the stopped policy was not cancelled")
	}
	if n := e.count("SELECT count(*) FROM policy_opt_outs WHERE subject_id = 'p_ans' AND source = 'page'"); n != 1 {
		t.Errorf("%d policy opt-outs, want 1", n)
	}
	if n := e.count("SELECT count(*) FROM cases WHERE match_id = $1 AND status = 'declined'", matchOf(held)); n != 1 {
		t.Error("the stopped policy's case is not declined")
	}
	if n := e.count("SELECT count(*) FROM outbox o JOIN matches m ON m.id = o.match_id WHERE m.subject_id = 'p_ans' AND o.status IN ('sent', 'delivered')"); n != 2 {
		t.Errorf("p_ans's other notices changed: %d sent", n)
	}

	// 不再接收 for all: p_all's waiting notice is cancelled, and a policy it
	// newly qualifies for sends nothing.
	var allTok string
	for k, tok := range sent {
		if strings.HasPrefix(k, "oAns_person_00000002 ") {
			allTok = tok
		}
	}
	heldAll := waiting("p_all")
	if code, body := cl.post("/public/notices/"+allTok+"/stop", `{"scope":"all"}`); code != http.StatusOK || strings.TrimSpace(body) != `{"stopped":"all"}` {
		t.Fatalf("stop all: %d %s", code, body)
	}
	if n := e.count("SELECT count(*) FROM outbox WHERE click_token = $1 AND status = 'cancelled'", heldAll); n != 1 {
		t.Error("stop all left a waiting notice")
	}
	if n := e.count("SELECT count(*) FROM opt_outs WHERE subject_id = 'p_all' AND source = 'page'"); n != 2 {
		t.Errorf("%d opt-outs from the page, want one per channel", n)
	}
	fake.mu.Lock()
	sends := len(fake.sent)
	fake.mu.Unlock()
	c.add(8 * 24 * time.Hour) // past the frequency cap's period
	e.produce(patchEvent("ans-vet", "p_all", "jinbao", "2026-12-05T10:00:00+08:00", `{"veteran":{"is_veteran":true}}`))
	e.waitFor("the new notice settled", func() bool {
		return e.countOr(`SELECT count(*) FROM outbox o JOIN matches m ON m.id = o.match_id
WHERE m.subject_id = 'p_all' AND m.policy_id = 'answer-four' AND o.status = 'suppressed'`) == 1
	})
	fake.mu.Lock()
	if len(fake.sent) != sends {
		t.Errorf("%d messages sent after the stops", len(fake.sent)-sends)
	}
	fake.mu.Unlock()

	// A form post is refused; an expired token looks like an unknown one.
	if code, _, _ := cl.do(http.MethodPost, "/public/notices/"+other+"/claim", "application/x-www-form-urlencoded", "confirm=true"); code != http.StatusUnsupportedMediaType {
		t.Errorf("a form post: %d, want 415", code)
	}
	// The link lives until 90 days after the validity's last day.
	c.set(time.Date(2027, 9, 28, 23, 0, 0, 0, rules.Shanghai))
	if code, body, _ := cl.do(http.MethodGet, "/public/notices/"+other, "", ""); code != http.StatusOK {
		t.Errorf("on the link's last day: %d %s", code, body)
	}
	c.set(time.Date(2027, 9, 29, 0, 0, 0, 0, rules.Shanghai))
	codeX, bodyX, _ := cl.do(http.MethodGet, "/public/notices/"+other, "", "")
	codeU, bodyU, _ := cl.do(http.MethodGet, "/public/notices/00000000000000000000000000000000", "", "")
	if codeX != http.StatusNotFound || codeU != http.StatusNotFound || bodyX != bodyU || !bytes.Contains([]byte(bodyX), []byte(`"error"`)) {
		t.Errorf("expired: %d %s; unknown: %d %s", codeX, bodyX, codeU, bodyU)
	}
	if code, _ := cl.post("/public/notices/"+other+"/claim", "{}"); code != http.StatusNotFound {
		t.Errorf("claim with an expired token: %d", code)
	}
}
