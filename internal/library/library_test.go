package library_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/policypush/policypush/internal/citizenweb"
	"github.com/policypush/policypush/internal/library"
	"github.com/policypush/policypush/internal/profile"
	"github.com/policypush/policypush/internal/ruledir"
	"github.com/policypush/policypush/internal/rules"
	"github.com/policypush/policypush/internal/selfcheck"
)

var testNow = time.Date(2026, 6, 1, 10, 0, 0, 0, rules.Shanghai)

type server struct {
	*httptest.Server
	logs *bytes.Buffer
}

func newServer(t *testing.T, set *rules.Set, notified map[string]int64) server {
	t.Helper()
	v, err := profile.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	dict, err := selfcheck.LoadDictionary()
	if err != nil {
		t.Fatal(err)
	}
	seg, err := library.NewSegmenter()
	if err != nil {
		t.Fatal(err)
	}
	logs := &bytes.Buffer{}
	o := library.Options{
		Rules: func() *rules.Set { return set }, Checker: selfcheck.New(v, dict), Fields: dict, Seg: seg,
		Now: func() time.Time { return testNow }, Log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if notified != nil {
		o.Notified = func(context.Context) (map[string]int64, error) { return notified, nil }
	}
	l, err := library.New(o)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	l.Register(mux)
	citizenweb.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return server{srv, logs}
}

func catalogue(t testing.TB) *rules.Set {
	t.Helper()
	set, err := ruledir.Load("../../rules")
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func get(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// stateRules are one policy in each state at testNow, and a draft.
func stateRules(t *testing.T) *rules.Set {
	t.Helper()
	rule := func(id, status, from, until string) *rules.Rule {
		src := "id: " + id + "\nversion: 2\ntitle: 政策" + id + "\ndomain: employment\nsubject: resident\n" +
			"department: 就业科\nsource: {doc: \"某文〔2024〕1号\", url: \"https://example.gov.cn/" + id + "\"}\nstatus: " + status +
			"\nvalid_from: " + from + "\n"
		if until != "" {
			src += "valid_until: " + until + "\n"
		}
		src += "changes: {1: 首次发布, 2: 标准提高}\nparams:\n  months: {2024-01-01: 12, 2026-01-01: 6}\n" +
			"conditions:\n  - name: 参保满规定月数\n    expr: resident.insurance.unemployment.cumulative_months >= params.months\n" +
			"amount: '1500'\n"
		r, err := rules.ParseRule(id+".yaml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	// A draft out for comment at testNow is listed as under consultation.
	consulting := rule("consulting", "draft", "2026-09-01", "")
	consulting.Consultation = &rules.Consultation{
		From: time.Date(2026, 5, 20, 0, 0, 0, 0, rules.Shanghai), Until: time.Date(2026, 6, 10, 0, 0, 0, 0, rules.Shanghai)}
	set, err := rules.Compile([]*rules.Rule{
		rule("in-force", "active", "2024-01-01", "2027-12-31"),
		rule("not-yet", "active", "2026-07-01", ""),
		rule("expired", "active", "2024-01-01", "2025-12-31"),
		rule("repealed", "repealed", "2024-01-01", "2026-03-31"),
		rule("draft", "draft", "2026-09-01", ""),
		consulting,
	})
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// TestPolicyStates checks that each state is marked in the JSON and on
// the page, with its words and, for a policy that no longer or not yet
// applies, a banner at the top that gives its date; and that a draft is
// not shown.
func TestPolicyStates(t *testing.T) {
	srv := newServer(t, stateRules(t), map[string]int64{"in-force": 1234, "expired": 3})
	_, body := get(t, srv.URL+"/public/policies")
	var list struct {
		Policies []library.Summary `json:"policies"`
	}
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, p := range list.Policies {
		got[p.ID] = p.State
	}
	want := map[string]string{"in-force": "in_force", "not-yet": "not_yet", "expired": "expired", "repealed": "repealed", "consulting": "consultation"}
	if !mapsEqual(got, want) {
		t.Errorf("states = %v, want %v (only the draft out for comment)", got, want)
	}
	tests := []struct {
		id, state, words, banner string
	}{
		{"in-force", "in_force", "现行有效", ""},
		{"not-yet", "not_yet", "尚未生效", "本政策尚未生效，将于2026年7月1日起施行。"},
		{"expired", "expired", "已失效", "本政策已于2025年12月31日到期失效"},
		{"repealed", "repealed", "已废止", "本政策已废止，执行至2026年3月31日"},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			code, body := get(t, srv.URL+"/public/policies/"+tt.id)
			if code != 200 {
				t.Fatalf("GET /public/policies/%s = %d", tt.id, code)
			}
			var d map[string]any
			if err := json.Unmarshal([]byte(body), &d); err != nil {
				t.Fatal(err)
			}
			if d["state"] != tt.state {
				t.Errorf("state = %v, want %s", d["state"], tt.state)
			}
			for _, k := range []string{"id", "title", "domain", "subject", "department", "valid_from", "valid_until", "source", "conditions", "params", "apply", "versions"} {
				if _, ok := d[k]; !ok {
					t.Errorf("no %q in %s", k, body)
				}
			}
			if vs, _ := json.Marshal(d["versions"]); string(vs) != `[{"changes":"标准提高","version":2},{"changes":"首次发布","version":1}]` {
				t.Errorf("versions = %s", vs)
			}
			if ps, _ := json.Marshal(d["params"]); string(ps) != `{"months":[{"from":"2024-01-01","value":12},{"from":"2026-01-01","value":6}]}` {
				t.Errorf("params = %s", ps)
			}
			code, page := get(t, srv.URL+"/policies/"+tt.id)
			if code != 200 {
				t.Fatalf("page %d", code)
			}
			if !strings.Contains(page, `<span class="state s-`+tt.state+`">`+tt.words+`</span>`) {
				t.Errorf("the page does not mark the state %s", tt.words)
			}
			main := page[strings.Index(page, "<main"):]
			switch {
			case tt.banner == "" && strings.Contains(page, `id="banner"`):
				t.Errorf("a policy in force has a banner")
			case tt.banner != "" && !strings.HasPrefix(strings.TrimSpace(main[strings.Index(main, ">")+1:]), `<p class="banner`):
				t.Errorf("the banner is not at the top of the page")
			case tt.banner != "" && !strings.Contains(page, tt.banner):
				t.Errorf("the page does not say %q", tt.banner)
			}
			if !strings.Contains(page, "标准：2024-01-01 起 12 个月；2026-01-01 起 6 个月（现行）") {
				t.Errorf("the condition's dated standard is not shown")
			}
		})
	}
	if code, _ := get(t, srv.URL+"/public/policies/draft"); code != 404 {
		t.Errorf("a draft not under consultation: %d, want 404", code)
	}
	if code, _ := get(t, srv.URL+"/policies/draft"); code != 404 {
		t.Errorf("a draft's page: %d, want 404", code)
	}
	_, page := get(t, srv.URL+"/policies/in-force")
	if !strings.Contains(page, "已向 1,234 位居民推送过这项政策。") {
		t.Errorf("the aggregate count is not shown")
	}
	_, page = get(t, srv.URL+"/policies/expired")
	if !strings.Contains(page, "已向不足 10 位居民推送过这项政策。") || strings.Contains(page, "已向 3 ") {
		t.Errorf("a count under 10 is shown exactly")
	}
	// The filter by state.
	_, page = get(t, srv.URL+"/policies?state=repealed")
	if !strings.Contains(page, "/policies/repealed") || strings.Contains(page, `href="/policies/in-force"`) {
		t.Errorf("the state filter does not filter")
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestSearch checks the segmented search over the catalogue: a part of a
// term finds the policy it names, and titles, departments, source
// documents and condition names are all searched.
func TestSearch(t *testing.T) {
	set := catalogue(t)
	seg, err := library.NewSegmenter()
	if err != nil {
		t.Fatal(err)
	}
	var rs []*rules.Rule
	for _, p := range set.Policies() {
		rs = append(rs, p.Rule)
	}
	x := library.NewIndex(seg, rs)
	tests := []struct {
		q     string
		first string // the best hit
		also  []string
		none  bool
	}{
		{q: "稳岗", first: "job-retention-refund"},
		{q: "稳岗返还怎么申请", first: "job-retention-refund"},
		{q: "灵活就业社保补贴", first: "flexible-employment-insurance-subsidy"},
		{q: "技能补贴", first: "skill-upgrade-subsidy"},
		{q: "失业保险金", first: "unemployment-insurance-benefit"},
		{q: "租房", first: "talent-rent-subsidy"},
		{q: "国办发〔2025〕25号", first: "job-retention-refund"},     // a source document
		{q: "不属于僵尸企业", also: []string{"job-retention-refund"}}, // a condition's name
		{q: "失业保险科", also: []string{"job-retention-refund"}},   // a department
		{q: "火星移民", none: true},
		{q: "", none: true},
	}
	for _, tt := range tests {
		got := x.Search(tt.q)
		switch {
		case tt.none && len(got) > 0:
			t.Errorf("%q found %q, want nothing", tt.q, got)
		case tt.first != "" && (len(got) == 0 || got[0] != tt.first):
			t.Errorf("%q found %q, want %s first", tt.q, got, tt.first)
		}
		for _, id := range tt.also {
			if !slices.Contains(got, id) {
				t.Errorf("%q found %q, want %s among them", tt.q, got, id)
			}
		}
	}
	// The page lists the hits, and the JSON gives them best first.
	srv := newServer(t, set, nil)
	_, body := get(t, srv.URL+"/public/policies?subject=enterprise&q="+url.QueryEscape("稳岗"))
	var list struct {
		Policies []library.Summary `json:"policies"`
	}
	if err := json.Unmarshal([]byte(body), &list); err != nil || len(list.Policies) == 0 || list.Policies[0].ID != "job-retention-refund" {
		t.Errorf("GET /public/policies?q=稳岗: %s", body)
	}
	for _, p := range list.Policies {
		if p.Subject != "enterprise" {
			t.Errorf("subject=enterprise gave %s", p.ID)
		}
	}
	_, page := get(t, srv.URL+"/policies?q="+url.QueryEscape("稳岗"))
	if !strings.Contains(page, `href="/policies/job-retention-refund"`) || !strings.Contains(page, "找到 ") {
		t.Errorf("the search page does not list the hit")
	}
}

// TestCheckJSON checks POST /public/check's answer, its refusals, and
// that nothing of the profile reaches the log.
func TestCheckJSON(t *testing.T) {
	srv := newServer(t, catalogue(t), nil)
	post := func(ct, body string) (int, string) {
		resp, err := http.Post(srv.URL+"/public/check", ct, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control = %q", cc)
		}
		return resp.StatusCode, string(b)
	}
	code, body := post("application/json", `{"subject_type": "enterprise", "at": "2025-07-10", "profile": {"size_class": "small",
		"registration_status": "active", "ui": {"paid_full_months": 48, "premium_paid_last_year": 64400, "avg_insured_last_year": 58.4,
		"new_claimants_last_year": 2, "insured_count_year_end": 57}, "credit": {"serious_dishonest": false, "zombie": false,
		"abnormal_operation_list": false}}}`)
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	var resp selfcheck.Response
	if err := json.Unmarshal([]byte(body), &resp); err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, r := range resp.Results {
		if r.PolicyID == "job-retention-refund" {
			found = true
			if r.Result != "eligible" || r.Amount == nil || *r.Amount != 57960 {
				t.Errorf("job-retention-refund: %+v", r)
			}
		}
	}
	if !found || resp.NextQuestion == "" {
		t.Errorf("results %s", body)
	}
	for _, k := range []string{`"policy_id"`, `"title"`, `"result"`, `"failed"`, `"unknown"`, `"ask"`, `"amount"`, `"next_question"`} {
		if !strings.Contains(body, k) {
			t.Errorf("no %s in %s", k, body)
		}
	}
	if code, _ := post("text/plain", `{}`); code != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain: %d", code)
	}
	if code, _ := post("application/json", `{"subject_type": "dog"}`); code != 400 {
		t.Errorf("bad subject_type: %d", code)
	}
	if code, body := post("application/json", `{"subject_type": "resident", "profile": {"disability": {"level": 9}}}`); code != 400 {
		t.Errorf("bad profile: %d %s", code, body)
	}
	post("application/json", `{"subject_type": "resident", "profile": {"disability": {"has_certificate": true, "level": 2}, "birth_date": "1987-03-04"}}`)
	if strings.Contains(srv.logs.String(), "1987-03-04") || strings.Contains(srv.logs.String(), "level") {
		t.Errorf("the log holds what was typed: %s", srv.logs)
	}
}

// TestCheckForm posts the /check page's form as a browser without
// JavaScript does and reads the three groups back.
func TestCheckForm(t *testing.T) {
	srv := newServer(t, catalogue(t), nil)
	_, page := get(t, srv.URL+"/check")
	for _, want := range []string{`name="f:employment.status"`, `name="f:insurance.unemployment.cumulative_months"`, `id="check-submit"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the form lacks %s", want)
		}
	}
	if strings.Contains(page, `name="f:contact.mobile"`) || strings.Contains(page, `name="f:uscc"`) {
		t.Errorf("the form asks what no rule reads")
	}
	form := url.Values{"subject": {"resident"}, "f:employment.status": {"flexible"}, "f:hukou.is_local": {"true"},
		"f:insurance.unemployment.cumulative_months": {"abc"}}
	resp, err := http.PostForm(srv.URL+"/check", form)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(b), "请填写不小于0的整数") {
		t.Errorf("a bad number: %d", resp.StatusCode)
	}
	form.Set("f:insurance.unemployment.cumulative_months", "3")
	resp, err = http.PostForm(srv.URL+"/check", form)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	page = string(b)
	if resp.StatusCode != 200 {
		t.Fatalf("%d", resp.StatusCode)
	}
	for _, want := range []string{`id="h-results"`, `id="next"`, `<option value="flexible" selected>`, `value="3"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the result page lacks %s", want)
		}
	}
	if !strings.Contains(page, `id="h-unknown"`) || !strings.Contains(page, `id="h-ineligible"`) {
		t.Errorf("the result page lacks a group")
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q", cc)
	}
}

// TestConditionWords pins how the catalogue's standards read on a policy's
// page and in its JSON: units from the parameter's name, fractions as
// percentages, codes in the field dictionary's words, dated history.
func TestConditionWords(t *testing.T) {
	srv := newServer(t, catalogue(t), nil)
	tests := []struct {
		id, condition, text string // condition "": the amount rule
	}{
		{"job-retention-refund", "上年度未裁员或裁员率不超过规定标准", "标准：2023-01-01 起 5.5%；2023-01-01 起 30 人；2023-01-01 起 20%"},
		{"job-retention-refund", "失业保险足额缴费满12个月", "标准：2023-01-01 起 12 个月"},
		{"job-search-startup-subsidy", "属于低保、脱贫、零就业等困难家庭或持有残疾证", "标准：2024-01-01 起 城乡低保家庭、防止返贫监测对象、残疾人、零就业家庭"},
		{"job-search-startup-subsidy", "", "2024-01-01 起 1500 元"},
		{"unemployment-insurance-benefit", "", "按政策规定的标准计算，具体金额以经办机构核定为准。计算所用的标准：2024-07-01 起 2070 元；2025-07-01 起 2150 元（现行）"},
	}
	for _, tt := range tests {
		_, body := get(t, srv.URL+"/public/policies/"+tt.id)
		var d struct {
			Conditions []library.Condition `json:"conditions"`
			AmountRule string              `json:"amount_rule"`
		}
		if err := json.Unmarshal([]byte(body), &d); err != nil {
			t.Fatal(err)
		}
		got := d.AmountRule
		if tt.condition != "" {
			got = "(no such condition)"
			for _, c := range d.Conditions {
				if c.Name == tt.condition {
					got = c.Text
				}
			}
		}
		if got != tt.text {
			t.Errorf("%s %q:\ngot  %s\nwant %s", tt.id, tt.condition, got, tt.text)
		}
	}
}

// TestSearchConcurrent runs searches and self-checks from many goroutines
// at once, as the service does: under -race it fails if the segmenter or
// the index cache is not safe for that.
func TestSearchConcurrent(t *testing.T) {
	srv := newServer(t, catalogue(t), nil)
	done := make(chan string)
	for i := range 8 {
		go func() {
			q := []string{"稳岗", "灵活就业", "技能补贴", "租房"}[i%4]
			var page string
			// t.Fatal is for the test's own goroutine: errors are reported
			// as a page without hits.
			if resp, err := http.Get(srv.URL + "/policies?q=" + url.QueryEscape(q)); err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				page = string(b)
			}
			resp, err := http.Post(srv.URL+"/public/check", "application/json", strings.NewReader(`{"subject_type": "resident", "profile": {}}`))
			if err == nil {
				resp.Body.Close()
			}
			done <- page
		}()
	}
	for range 8 {
		if page := <-done; !strings.Contains(page, `id="hits"`) {
			t.Errorf("a search found nothing")
		}
	}
}
