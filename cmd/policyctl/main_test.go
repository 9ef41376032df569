package main

// End-to-end tests of policyctl (shared/CONTRACTS.md §4). Every test calls
// the CLI in-process through run, with fixtures under testdata/ and golden
// files under testdata/golden/ (rewrite them with go test -update).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

var update = flag.Bool("update", false, "rewrite golden files")

// raceEnabled is set by race_test.go when the race detector is on.
var raceEnabled bool

// repoRules is the repository's rule catalogue, seen from this package.
const repoRules = "../../rules"

// at is the fixed evaluation time of the explain and match tests.
const at = "2026-06-01"

// policyctl runs the CLI in-process and returns its error, stdout and stderr.
func policyctl(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(context.Background(), args, &out, &errOut)
	return out.String(), errOut.String(), err
}

// golden compares got with testdata/golden/name, or rewrites it under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run with -update to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// lines splits output into its lines, without the final newline.
func lines(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func TestLint(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		dir        string
		wantErr    error
		golden     string
		wantStderr *regexp.Regexp
	}{
		{"repository rules", repoRules, nil, "lint_rules.golden", regexp.MustCompile(`^\d+ policies OK\n$`)},
		{"broken rules", "testdata/broken", errFailed, "lint_broken.golden", regexp.MustCompile(`^$`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, err := policyctl(t, "lint", tt.dir)
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("lint %s: error %v, want %v", tt.dir, err, tt.wantErr)
			}
			golden(t, tt.golden, stdout)
			if !tt.wantStderr.MatchString(stderr) {
				t.Errorf("stderr %q does not match %s", stderr, tt.wantStderr)
			}
		})
	}
}

// lintLine is the contract's FILE:LINE:COL: message, for testdata/broken.
var lintLine = regexp.MustCompile(`^testdata/broken/[^:]+\.yaml:\d+:\d+: .+`)

func TestLintBrokenLinesAreFileLineColMessage(t *testing.T) {
	t.Parallel()
	stdout, _, err := policyctl(t, "lint", "testdata/broken")
	if !errors.Is(err, errFailed) {
		t.Fatalf("lint: error %v, want errFailed", err)
	}
	out := lines(stdout)
	if len(out) == 0 {
		t.Fatal("lint printed no problems")
	}
	for i, l := range out {
		t.Run(strconv.Itoa(i+1), func(t *testing.T) {
			if !lintLine.MatchString(l) {
				t.Errorf("line %q does not match %s", l, lintLine)
			}
		})
	}
}

// TestLintBrokenEachFile checks that every broken file is reported, at the
// position checked by eye against the file, with the right kind of message.
func TestLintBrokenEachFile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file    string
		wantPos string // LINE:COL, or "" for a valid file that must not be reported
		wantMsg string // a regexp
	}{
		// Mode confirm must word what the person confirms.
		{"apply-confirm-missing.yaml", "14:9", `apply\.mode confirm needs apply\.confirm`},
		{"bad-date.yaml", "9:13", `valid_from "2024-13-01"`},
		// The error is on the block scalar's second line, at the field name.
		{"block-scalar.yaml", "14:40", `no field "?cumulative_mnths`},
		{"dup-id-first.yaml", "", ""},
		{"dup-id-second.yaml", "1:5", `duplicate policy id "dup-id" .*testdata/broken/dup-id-first\.yaml:1:5`},
		{"expr-syntax.yaml", "12:61", `unexpected token EOF`},
		// yaml.v3 reports only the line of a syntax error.
		{"malformed-yaml.yaml", "6:1", `malformed YAML`},
		{"missing-key.yaml", "1:1", `missing the required key "department"`},
		{"non-bool.yaml", "12:11", `(bool|true or false).*string`},
		{"param-not-in-force.yaml", "11:3", `param "min_months" has no value in force on valid_from 2024-01-01`},
		// A rule decides eligibility; reachability is the dispatcher's.
		{"reads-contact.yaml", "12:20", `resident\.channels is a contact or channel field.*dispatcher decides reachability`},
		{"type-mismatch-literal.yaml", "12:16", `mismatched types string and int`},
		{"type-mismatch.yaml", "12:56", `mismatched types int and string`},
		{"unknown-field.yaml", "12:26", `no field "?is_locl`},
		{"unknown-function.yaml", "12:11", `age_in_years`},
		{"unknown-key.yaml", "10:1", `unknown key "owner"`},
		{"unknown-placeholder.yaml", "17:52", `unknown placeholder \{\{policy\.deadline\}\}`},
		{"wrong-subject.yaml", "14:11", `subject is resident.*cannot read enterprise`},
	}
	stdout, _, err := policyctl(t, "lint", "testdata/broken")
	if !errors.Is(err, errFailed) {
		t.Fatalf("lint: error %v, want errFailed", err)
	}
	reported := map[string][]string{} // file → "LINE:COL: message" lines
	for _, l := range lines(stdout) {
		file, rest, _ := strings.Cut(strings.TrimPrefix(l, "testdata/broken/"), ":")
		reported[file] = append(reported[file], rest)
	}

	t.Run("table covers testdata/broken", func(t *testing.T) {
		entries, err := os.ReadDir("testdata/broken")
		if err != nil {
			t.Fatal(err)
		}
		var files, covered []string
		for _, e := range entries {
			files = append(files, e.Name())
		}
		for _, tt := range tests {
			covered = append(covered, tt.file)
		}
		if !slices.Equal(files, covered) {
			t.Errorf("files %v, table %v", files, covered)
		}
	})
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			want := []string{}
			if tt.wantPos != "" {
				want = []string{tt.wantPos + ": "}
			}
			got := reported[tt.file]
			if len(got) != len(want) {
				t.Fatalf("%d problems reported, want %d: %q", len(got), len(want), got)
			}
			for i := range got {
				if !strings.HasPrefix(got[i], want[i]) || !regexp.MustCompile(tt.wantMsg).MatchString(got[i]) {
					t.Errorf("got %q, want %q…%q", got[i], want[i], tt.wantMsg)
				}
			}
		})
	}
}

var summaryLine = regexp.MustCompile(`^(\d+) passed, (\d+) failed$`)

func TestTest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		dir        string
		wantErr    error
		minPassed  int
		wantFailed int
		wantLast   *regexp.Regexp
	}{
		{"repository rules", repoRules, nil, 48, 0, regexp.MustCompile(`^\d+ passed, 0 failed$`)},
		{"failing cases", "testdata/failing", errFailed, 2, 4, regexp.MustCompile(`^2 passed, 4 failed$`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, err := policyctl(t, "test", tt.dir)
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("test %s: error %v, want %v\nstdout:\n%s", tt.dir, err, tt.wantErr, stdout)
			}
			out := lines(stdout)
			if len(out) == 0 {
				t.Fatal("no output")
			}
			last := out[len(out)-1]
			if !tt.wantLast.MatchString(last) {
				t.Fatalf("last line %q does not match %s", last, tt.wantLast)
			}
			m := summaryLine.FindStringSubmatch(last)
			passed, _ := strconv.Atoi(m[1])
			failed, _ := strconv.Atoi(m[2])
			if passed < tt.minPassed || failed != tt.wantFailed {
				t.Errorf("%d passed, %d failed; want at least %d passed, %d failed", passed, failed, tt.minPassed, tt.wantFailed)
			}
			// One line per failure (a case can fail in several ways), then the summary.
			if len(out)-1 < failed {
				t.Errorf("%d failure lines for %d failed cases", len(out)-1, failed)
			}
			if strings.Contains(stderr, "no passing test case") {
				t.Errorf("stderr warns of an untested policy: %s", stderr)
			}
		})
	}
}

func TestTestFailingOutput(t *testing.T) {
	t.Parallel()
	stdout, _, err := policyctl(t, "test", "testdata/failing")
	if !errors.Is(err, errFailed) {
		t.Errorf("error %v, want errFailed", err)
	}
	golden(t, "test_failing.golden", stdout)
}

func TestExplainText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		policy  string
		profile string
		golden  string
	}{
		{"eligible with an amount", "skill-upgrade-subsidy", "testdata/explain/skill-eligible.json", "explain_skill_eligible.golden"},
		{"unknown, from a snapshot event", "talent-rent-subsidy", "testdata/explain/talent-unknown-event.json", "explain_talent_unknown.golden"},
		{"enterprise ineligible", "job-retention-refund", "testdata/explain/enterprise-ineligible.json", "explain_enterprise_ineligible.golden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, _, err := policyctl(t, "explain", "--rules", repoRules, "--policy", tt.policy, "--profile", tt.profile, "--at", at)
			if err != nil {
				t.Fatalf("explain: %v", err)
			}
			golden(t, tt.golden, stdout)
		})
	}
}

// explanation is the part of explain --json the tests read.
type explanation struct {
	PolicyID      string    `json:"policy_id"`
	PolicyVersion int       `json:"policy_version"`
	SubjectType   string    `json:"subject_type"`
	SubjectID     string    `json:"subject_id"`
	At            time.Time `json:"at"`
	Applies       bool      `json:"applies"`
	Conditions    []struct {
		Name    string `json:"name"`
		Verdict string `json:"verdict"`
		Reads   []struct {
			Name   string `json:"name"`
			Value  any    `json:"value"`
			Absent bool   `json:"absent"`
		} `json:"reads"`
	} `json:"conditions"`
	Result string   `json:"result"`
	Amount *float64 `json:"amount"`
}

func (x *explanation) verdicts() []string {
	out := make([]string, len(x.Conditions))
	for i, c := range x.Conditions {
		out[i] = c.Name + "=" + c.Verdict
	}
	return out
}

// withVerdict lists the names of the conditions with verdict v, in order.
func (x *explanation) withVerdict(v string) []string {
	out := []string{}
	for _, c := range x.Conditions {
		if c.Verdict == v {
			out = append(out, c.Name)
		}
	}
	return out
}

// absentReads lists the profile fields read as absent, over all conditions.
func (x *explanation) absentReads() []string {
	var out []string
	for _, c := range x.Conditions {
		for _, r := range c.Reads {
			if r.Absent && !slices.Contains(out, r.Name) {
				out = append(out, r.Name)
			}
		}
	}
	slices.Sort(out)
	return out
}

func explainJSON(t *testing.T, rules, policy, profile string) *explanation {
	t.Helper()
	stdout, stderr, err := policyctl(t, "explain", "--rules", rules, "--policy", policy, "--profile", profile, "--at", at, "--json")
	if err != nil {
		t.Fatalf("explain --json %s %s: %v\n%s", policy, profile, err, stderr)
	}
	var x explanation
	if err := json.Unmarshal([]byte(stdout), &x); err != nil {
		t.Fatalf("explain --json: %v\n%s", err, stdout)
	}
	return &x
}

func ptr(f float64) *float64 { return &f }

func TestExplainJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		policy       string
		profile      string
		wantSubject  string
		wantResult   string
		wantVerdicts []string
		wantAbsent   []string
		wantAmount   *float64
	}{
		{
			"eligible with an amount", "skill-upgrade-subsidy", "testdata/explain/skill-eligible.json",
			"resident p_ex_0001", "eligible",
			[]string{"参加失业保险累计满12个月=true", "在职参保职工或正在领取失业保险金=true", "近12个月内取得职业技能证书=true", "近12个月内领取技能提升补贴不足3次=true"},
			nil, ptr(2000),
		},
		{
			"unknown, from a snapshot event", "talent-rent-subsidy", "testdata/explain/talent-unknown-event.json",
			"resident p_ex_0002", "unknown",
			[]string{"具有全日制本科及以上学历=true", "年龄不超过对应学历的年龄上限=true", "毕业未满5年=unknown", "在本市用人单位就业=true", "正常缴纳职工养老保险=true", "未享受过人才租房补贴=true"},
			[]string{"resident.benefits_received", "resident.education.graduation_date"}, nil,
		},
		{
			"enterprise ineligible", "job-retention-refund", "testdata/explain/enterprise-ineligible.json",
			"enterprise 91310101MA1FPX1234", "ineligible",
			[]string{"失业保险足额缴费满12个月=true", "上年度未裁员或裁员率不超过规定标准=true", "未被列入严重失信主体名单=true", "不属于僵尸企业=false", "未被列入经营异常名录=unknown", "单位登记状态为存续=true"},
			[]string{"enterprise.credit.abnormal_operation_list"}, nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := explainJSON(t, repoRules, tt.policy, tt.profile)
			if got := x.SubjectType + " " + x.SubjectID; got != tt.wantSubject {
				t.Errorf("subject %q, want %q", got, tt.wantSubject)
			}
			if x.PolicyID != tt.policy || !x.Applies {
				t.Errorf("policy %q applies=%v, want %q applying", x.PolicyID, x.Applies, tt.policy)
			}
			if want := time.Date(2026, 6, 1, 0, 0, 0, 0, time.FixedZone("", 8*3600)); !x.At.Equal(want) {
				t.Errorf("at %v, want %v", x.At, want)
			}
			if x.Result != tt.wantResult {
				t.Errorf("result %q, want %q", x.Result, tt.wantResult)
			}
			if got := x.verdicts(); !slices.Equal(got, tt.wantVerdicts) {
				t.Errorf("verdicts\n got %q\nwant %q", got, tt.wantVerdicts)
			}
			if got := x.absentReads(); !slices.Equal(got, tt.wantAbsent) {
				t.Errorf("absent reads %q, want %q", got, tt.wantAbsent)
			}
			if fmt.Sprint(deref(x.Amount)) != fmt.Sprint(deref(tt.wantAmount)) {
				t.Errorf("amount %v, want %v", deref(x.Amount), deref(tt.wantAmount))
			}
		})
	}
}

// deref shows an amount, or "null".
func deref(f *float64) any {
	if f == nil {
		return "null"
	}
	return *f
}

// matchResult is one line of policyctl match (CONTRACTS.md §4).
type matchResult struct {
	SubjectType   string   `json:"subject_type"`
	SubjectID     string   `json:"subject_id"`
	PolicyID      string   `json:"policy_id"`
	PolicyVersion int      `json:"policy_version"`
	Result        string   `json:"result"`
	Failed        []string `json:"failed"`
	Unknown       []string `json:"unknown"`
	Amount        *float64 `json:"amount"`
}

var matchKeys = []string{"amount", "failed", "policy_id", "policy_version", "result", "subject_id", "subject_type", "unknown"}

// decodeMatchLine decodes one output line strictly: exactly the contract's
// keys, failed and unknown arrays (never null).
func decodeMatchLine(l string) (*matchResult, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(l), &raw); err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if !slices.Equal(keys, matchKeys) {
		return nil, fmt.Errorf("keys %v, want %v", keys, matchKeys)
	}
	for _, k := range []string{"failed", "unknown"} {
		if !bytes.HasPrefix(raw[k], []byte("[")) {
			return nil, fmt.Errorf("%s is %s, want an array", k, raw[k])
		}
	}
	dec := json.NewDecoder(strings.NewReader(l))
	dec.DisallowUnknownFields()
	var m matchResult
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	return &m, nil
}

// consistent checks a match line's result against its failed and unknown
// lists and its amount (CONTRACTS.md §3, §4).
func (m *matchResult) consistent() error {
	var want string
	switch {
	case len(m.Failed) > 0:
		want = "ineligible"
	case len(m.Unknown) > 0:
		want = "unknown"
	default:
		want = "eligible"
	}
	if m.Result != want {
		return fmt.Errorf("result %q with failed %q and unknown %q, want %q", m.Result, m.Failed, m.Unknown, want)
	}
	if m.Amount != nil && m.Result != "eligible" {
		return fmt.Errorf("amount %v on a %s result", *m.Amount, m.Result)
	}
	return nil
}

var matchBadLine = regexp.MustCompile(`^testdata/match/events\.jsonl:(\d+): \S.*$`)

func TestMatchFixture(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		args        []string
		golden      string
		wantResults []string // the results that may appear
	}{
		{"default", nil, "match_default.golden", []string{"eligible", "unknown"}},
		{"all", []string{"--all"}, "match_all.golden", []string{"eligible", "unknown", "ineligible"}},
	}
	// Lines 3 (malformed JSON), 4 (no source), 5 (birth_date breaks the
	// schema), 6 (a patch) and 8 (unknown subject_type) are bad.
	wantBad := []int{3, 4, 5, 6, 8}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"match", "--rules", repoRules, "--profiles", "testdata/match/events.jsonl", "--at", at}, tt.args...)
			stdout, stderr, err := policyctl(t, args...)
			if !errors.Is(err, errFailed) {
				t.Errorf("match: error %v, want errFailed", err)
			}
			golden(t, tt.golden, stdout)
			var bad []int
			for _, l := range lines(stderr) {
				m := matchBadLine.FindStringSubmatch(l)
				if m == nil {
					t.Errorf("stderr line %q is not FILE:LINE: reason", l)
					continue
				}
				n, _ := strconv.Atoi(m[1])
				bad = append(bad, n)
			}
			if !slices.Equal(bad, wantBad) {
				t.Errorf("bad lines reported %v, want %v\n%s", bad, wantBad, stderr)
			}
			results := map[string]bool{}
			for _, l := range lines(stdout) {
				m, err := decodeMatchLine(l)
				if err != nil {
					t.Fatalf("line %s: %v", l, err)
				}
				if err := m.consistent(); err != nil {
					t.Errorf("line %s: %v", l, err)
				}
				results[m.Result] = true
			}
			got := make([]string, 0, len(results))
			for r := range results {
				got = append(got, r)
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tt.wantResults))
			if !slices.Equal(got, want) {
				t.Errorf("results seen %v, want %v", got, want)
			}
		})
	}
}

// ruleHeader is what the generated-match test reads of a rule file,
// independently of the engine.
type ruleHeader struct {
	ID         string `yaml:"id"`
	Subject    string `yaml:"subject"`
	Status     string `yaml:"status"`
	ValidFrom  string `yaml:"valid_from"`
	ValidUntil string `yaml:"valid_until"`
	path       string
}

// applies reports whether the rule is in force on day (YYYY-MM-DD).
func (h ruleHeader) applies(day string) bool {
	return h.Status == "active" && h.ValidFrom <= day && (h.ValidUntil == "" || day <= h.ValidUntil)
}

func readRuleHeaders(t *testing.T, dir string) []ruleHeader {
	t.Helper()
	var out []ruleHeader
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, "_test.yaml") ||
			d.Name() == "calendar.yaml" { // not a policy: the holiday calendar
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		h := ruleHeader{path: path}
		if err := yaml.Unmarshal(data, &h); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, h)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestMatchGenerated(t *testing.T) {
	t.Parallel()
	// A few thousand profiles; fewer under -short and the race detector,
	// which slows evaluation tenfold.
	n := 3000
	if testing.Short() || raceEnabled {
		n = 600
	}
	events, profiles := generateEvents(n)
	file := filepath.Join(t.TempDir(), "profiles.jsonl")
	if err := os.WriteFile(file, events, 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, err := policyctl(t, "match", "--rules", repoRules, "--profiles", file, "--at", at, "--all")
	if err != nil {
		t.Fatalf("match: %v\n%s", err, stderr)
	}
	if stderr != "" {
		t.Errorf("stderr: %s", stderr)
	}

	headers := readRuleHeaders(t, repoRules)
	applicable := map[string][]string{} // subject kind → policy ids
	ruleFile := map[string]string{}     // policy id → file
	for _, h := range headers {
		ruleFile[h.ID] = h.path
		if h.applies(at) {
			applicable[h.Subject] = append(applicable[h.Subject], h.ID)
		}
	}
	if len(applicable["resident"]) == 0 || len(applicable["enterprise"]) == 0 {
		t.Fatalf("applicable policies %v: want some of each kind", applicable)
	}
	wantPairs := map[string]int{}
	for id, p := range profiles {
		for _, pol := range applicable[p.kind] {
			wantPairs[p.kind+" "+id+" "+pol] = 0
		}
	}

	out := lines(stdout)
	results := map[string]int{}
	var decoded []*matchResult
	t.Run("lines", func(t *testing.T) {
		for i, l := range out {
			m, err := decodeMatchLine(l)
			if err != nil {
				t.Fatalf("line %d %s: %v", i+1, l, err)
			}
			if err := m.consistent(); err != nil {
				t.Errorf("line %d %s: %v", i+1, l, err)
			}
			key := m.SubjectType + " " + m.SubjectID + " " + m.PolicyID
			if _, ok := wantPairs[key]; !ok {
				t.Errorf("line %d: unexpected pair %s", i+1, key)
			}
			wantPairs[key]++
			results[m.Result]++
			decoded = append(decoded, m)
		}
	})
	t.Run("every applicable pair exactly once", func(t *testing.T) {
		var bad []string
		for k, c := range wantPairs {
			if c != 1 {
				bad = append(bad, fmt.Sprintf("%s ×%d", k, c))
			}
		}
		slices.Sort(bad)
		if len(bad) > 0 {
			t.Errorf("%d of %d pairs do not appear exactly once, such as %q", len(bad), len(wantPairs), bad[:min(len(bad), 10)])
		}
	})
	t.Run("all three results occur", func(t *testing.T) {
		for _, r := range []string{"eligible", "unknown", "ineligible"} {
			if results[r] == 0 {
				t.Errorf("no %s result among %d lines (%v): the generator is too narrow", r, len(out), results)
			}
		}
		t.Logf("%d profiles, %d lines: %v", n, len(out), results)
	})
	t.Run("agrees with explain", func(t *testing.T) {
		if len(decoded) < 50 {
			t.Fatalf("only %d lines", len(decoded))
		}
		// explain reads a directory holding only the policy's own rule
		// file: each call then compiles one policy, not the catalogue.
		dir := t.TempDir()
		step := len(decoded) / 50
		for i := range 50 {
			m := decoded[i*step]
			t.Run(m.SubjectID+"/"+m.PolicyID, func(t *testing.T) {
				rules := filepath.Join(dir, "rules-"+m.PolicyID)
				copyFile(t, ruleFile[m.PolicyID], filepath.Join(rules, filepath.Base(ruleFile[m.PolicyID])))
				path := filepath.Join(dir, m.SubjectID+".json")
				if err := os.WriteFile(path, profiles[m.SubjectID].data, 0o644); err != nil {
					t.Fatal(err)
				}
				x := explainJSON(t, rules, m.PolicyID, path)
				got := fmt.Sprintf("%s %s v%d %s failed=%q unknown=%q amount=%v",
					x.SubjectType, x.SubjectID, x.PolicyVersion, x.Result, x.withVerdict("false"), x.withVerdict("unknown"), deref(x.Amount))
				want := fmt.Sprintf("%s %s v%d %s failed=%q unknown=%q amount=%v",
					m.SubjectType, m.SubjectID, m.PolicyVersion, m.Result, m.Failed, m.Unknown, deref(m.Amount))
				if got != want {
					t.Errorf("explain: %s\n  match: %s", got, want)
				}
			})
		}
	})
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		args       []string
		wantStderr string
	}{
		{"no args", nil, ""},
		{"unknown command", []string{"frobnicate"}, ""},
		{"lint without a directory", []string{"lint"}, ""},
		{"lint with two directories", []string{"lint", repoRules, repoRules}, ""},
		{"test without a directory", []string{"test"}, ""},
		{"explain without --policy", []string{"explain", "--rules", repoRules, "--profile", "testdata/explain/skill-eligible.json"}, ""},
		{"explain without --profile", []string{"explain", "--rules", repoRules, "--policy", "skill-upgrade-subsidy"}, ""},
		{"explain with an unknown flag", []string{"explain", "--policy", "x", "--profile", "y", "--verbose"}, "flag provided but not defined: -verbose"},
		{"explain with an extra argument", []string{"explain", "--policy", "x", "--profile", "y", "extra"}, ""},
		{"match without --profiles", []string{"match", "--rules", repoRules}, ""},
		{"match with an unknown flag", []string{"match", "--profiles", "x", "--since", "2026-01-01"}, "flag provided but not defined: -since"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, err := policyctl(t, tt.args...)
			if !errors.Is(err, errUsage) {
				t.Errorf("error %v, want errUsage", err)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
			if !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("stderr %q does not contain %q", stderr, tt.wantStderr)
			}
		})
	}
}

// A generated profile: its kind and its JSON.
type genProfile struct {
	kind string
	data []byte
}

// generateEvents builds n snapshot events, two residents for each
// enterprise, by combining realistic field values at random (fixed seed).
// Many fields are left out or null, so that many results are unknown.
func generateEvents(n int) ([]byte, map[string]genProfile) {
	g := &gen{r: rand.New(rand.NewPCG(20260601, 4754))}
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	profiles := map[string]genProfile{}
	for i := range n {
		kind, source, id := "resident", "jinbao", fmt.Sprintf("p_gen_%05d", i)
		if i%3 == 2 {
			kind, source, id = "enterprise", "gongshang", fmt.Sprintf("91310101MA%08d", i)
		}
		p := g.resident(id)
		if kind == "enterprise" {
			p = g.enterprise(id)
		}
		data, err := json.Marshal(p)
		if err != nil {
			panic(err)
		}
		profiles[id] = genProfile{kind: kind, data: data}
		ev, err := json.Marshal(map[string]any{
			"event_id": fmt.Sprintf("e-gen-%05d", i), "subject_type": kind, "subject_id": id,
			"occurred_at": "2026-05-31T12:00:00+08:00", "source": source, "type": "snapshot",
			"data": json.RawMessage(data),
		})
		if err != nil {
			panic(err)
		}
		w.Write(ev)
		w.WriteByte('\n')
	}
	w.Flush()
	return b.Bytes(), profiles
}

type gen struct{ r *rand.Rand }

// today is the day the generated dates are relative to (the test's at).
var today = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

// set puts key into m with probability p: usually the value v(), sometimes
// an explicit null (also unknown).
func (g *gen) set(m map[string]any, key string, p float64, v func() any) {
	switch x := g.r.Float64(); {
	case x < p*0.92:
		m[key] = v()
	case x < p:
		m[key] = nil
	}
}

// obj returns an object built by fill.
func (g *gen) obj(fill func(m map[string]any)) func() any {
	return func() any {
		m := map[string]any{}
		fill(m)
		return m
	}
}

func (g *gen) pick(vals ...any) func() any {
	return func() any { return vals[g.r.IntN(len(vals))] }
}

func (g *gen) boolean(pTrue float64) func() any {
	return func() any { return g.r.Float64() < pTrue }
}

func (g *gen) intn(lo, hi int) func() any {
	return func() any { return lo + g.r.IntN(hi-lo+1) }
}

// daysAgo is a date between lo and hi days before today (negative: after).
func (g *gen) daysAgo(lo, hi int) func() any {
	return func() any { return today.AddDate(0, 0, -(lo + g.r.IntN(hi-lo+1))).Format("2006-01-02") }
}

func (g *gen) monthsAgo(lo, hi int) func() any {
	return func() any { return today.AddDate(0, -(lo + g.r.IntN(hi-lo+1)), 0).Format("2006-01") }
}

func (g *gen) uscc() func() any {
	return func() any { return fmt.Sprintf("91310115MA%08d", g.r.IntN(100000000)) }
}

func (g *gen) mobile() func() any {
	return func() any { return fmt.Sprintf("13%09d", g.r.IntN(1000000000)) }
}

// list is 0 to max elements made by el.
func (g *gen) list(max int, el func() any) func() any {
	return func() any {
		out := []any{}
		for range g.r.IntN(max + 1) {
			out = append(out, el())
		}
		return out
	}
}

var (
	regions       = []any{"310101", "310104", "310115", "310112", "320102", "330106", "510104"}
	residentPols  = []any{"skill-upgrade-subsidy", "unemployment-insurance-benefit", "talent-rent-subsidy", "one-time-startup-subsidy", "vocational-training-subsidy", "flexible-employment-insurance-subsidy"}
	enterprisePol = []any{"job-retention-refund", "job-expansion-subsidy", "internship-subsidy", "hard-to-employ-insurance-subsidy", "local-hiring-subsidy"}
	occupations   = [][2]string{{"6-31-01-03", "电工"}, {"4-01-02-01", "保育师"}, {"4-10-01-02", "养老护理员"}, {"4-03-02-01", "中式烹调师"}, {"6-18-02-04", "焊工"}}
	insStatus     = []any{"active", "active", "active", "suspended", "none"}
)

func (g *gen) resident(id string) map[string]any {
	r := map[string]any{"person_id": id}
	g.set(r, "gender", 0.9, g.pick("M", "F"))
	g.set(r, "birth_date", 0.85, g.daysAgo(16*365, 75*365))
	g.set(r, "hukou", 0.8, g.obj(func(m map[string]any) {
		g.set(m, "type", 0.8, g.pick("urban", "rural", "unified"))
		g.set(m, "region_code", 0.7, g.pick(regions...))
		g.set(m, "is_local", 0.8, g.boolean(0.7))
	}))
	g.set(r, "residence_region_code", 0.6, g.pick(regions...))
	g.set(r, "education", 0.75, g.obj(func(m map[string]any) {
		g.set(m, "level", 0.9, g.pick("doctorate", "master", "bachelor", "bachelor", "college", "secondary_vocational", "high_school", "junior_or_below"))
		g.set(m, "is_full_time", 0.7, g.boolean(0.7))
		g.set(m, "is_regular_college", 0.6, g.boolean(0.6))
		g.set(m, "graduation_date", 0.7, g.daysAgo(-300, 20*365))
	}))
	g.set(r, "employment", 0.8, g.obj(func(m map[string]any) {
		g.set(m, "status", 0.9, g.pick("employed", "employed", "flexible", "self_employed", "unemployed_registered", "unemployed_unregistered", "student", "retired"))
		g.set(m, "employer_uscc", 0.4, g.uscc())
		g.set(m, "last_separation", 0.4, g.obj(func(s map[string]any) {
			g.set(s, "date", 0.8, g.daysAgo(0, 4*365))
			g.set(s, "reason", 0.8, g.pick("involuntary", "voluntary", "contract_expiry", "other"))
		}))
		g.set(m, "unemployment_registration", 0.4, g.obj(func(u map[string]any) {
			g.set(u, "registered", 0.8, g.boolean(0.5))
			g.set(u, "date", 0.7, g.daysAgo(0, 3*365))
		}))
	}))
	g.set(r, "hardship", 0.3, g.obj(func(m map[string]any) {
		g.set(m, "certified", 0.9, g.boolean(0.4))
		g.set(m, "categories", 0.6, g.list(2, g.pick("low_income", "zero_employment_family", "disabled", "long_term_unemployed", "over_40_50")))
		g.set(m, "certified_date", 0.6, g.daysAgo(0, 5*365))
	}))
	g.set(r, "veteran", 0.3, g.obj(func(m map[string]any) {
		g.set(m, "is_veteran", 0.9, g.boolean(0.3))
		g.set(m, "discharge_date", 0.5, g.daysAgo(0, 10*365))
	}))
	g.set(r, "disability", 0.2, g.obj(func(m map[string]any) {
		g.set(m, "has_certificate", 0.9, g.boolean(0.3))
		g.set(m, "level", 0.5, g.intn(1, 4))
	}))
	g.set(r, "insurance", 0.85, g.obj(func(m map[string]any) {
		g.set(m, "pension", 0.85, g.obj(func(p map[string]any) {
			g.set(p, "scheme", 0.85, g.pick("employee", "employee", "urban_rural", "none"))
			g.set(p, "status", 0.85, g.pick(insStatus...))
			g.set(p, "cumulative_months", 0.8, g.intn(0, 480))
			g.set(p, "last_paid_month", 0.7, g.monthsAgo(0, 36))
		}))
		g.set(m, "unemployment", 0.75, g.obj(func(u map[string]any) {
			g.set(u, "status", 0.85, g.pick(insStatus...))
			g.set(u, "cumulative_months", 0.8, g.intn(0, 240))
			g.set(u, "last_paid_month", 0.7, g.monthsAgo(0, 36))
		}))
		g.set(m, "work_injury", 0.5, g.obj(func(w map[string]any) { g.set(w, "status", 0.9, g.pick(insStatus...)) }))
		g.set(m, "medical", 0.5, g.obj(func(w map[string]any) { g.set(w, "status", 0.9, g.pick(insStatus...)) }))
	}))
	g.set(r, "pension_receiving", 0.3, g.obj(func(m map[string]any) {
		g.set(m, "receiving", 0.9, g.boolean(0.5))
		g.set(m, "start_date", 0.7, g.daysAgo(0, 15*365))
		g.set(m, "last_auth_date", 0.6, g.daysAgo(0, 2*365))
	}))
	g.set(r, "skill_certificates", 0.5, g.list(3, g.obj(func(m map[string]any) {
		occ := occupations[g.r.IntN(len(occupations))]
		g.set(m, "occupation_code", 0.9, func() any { return occ[0] })
		g.set(m, "occupation_name", 0.9, func() any { return occ[1] })
		g.set(m, "level", 0.9, g.pick("junior", "intermediate", "senior", "technician", "senior_technician"))
		g.set(m, "issue_date", 0.9, g.daysAgo(0, 4*365))
	})))
	g.set(r, "entrepreneur", 0.25, g.obj(func(m map[string]any) {
		g.set(m, "is_founder", 0.9, g.boolean(0.6))
		g.set(m, "business_uscc", 0.6, g.uscc())
		g.set(m, "registered_date", 0.7, g.daysAgo(0, 5*365))
	}))
	g.set(r, "benefits_received", 0.5, g.list(3, g.obj(func(m map[string]any) {
		g.set(m, "policy_id", 0.95, g.pick(residentPols...))
		g.set(m, "granted_on", 0.9, g.daysAgo(0, 4*365))
		g.set(m, "amount", 0.8, g.pick(500, 1000, 1500, 2000, 3000.5, 25800))
	})))
	g.set(r, "contact", 0.7, g.obj(func(m map[string]any) { g.set(m, "mobile", 0.9, g.mobile()) }))
	g.set(r, "channels", 0.5, g.obj(func(m map[string]any) {
		g.set(m, "wechat", 0.7, g.obj(func(w map[string]any) {
			g.set(w, "openid", 0.9, func() any { return fmt.Sprintf("oGen%012d", g.r.IntN(1e12)) })
			g.set(w, "followed", 0.7, g.boolean(0.8))
		}))
		g.set(m, "sms", 0.5, g.obj(func(s map[string]any) { g.set(s, "enabled", 0.9, g.boolean(0.9)) }))
	}))
	g.set(r, "consent", 0.6, g.obj(func(m map[string]any) {
		g.set(m, "personalized_push", 0.9, g.boolean(0.85))
		g.set(m, "opt_out_channels", 0.3, g.list(1, g.pick("wechat", "sms")))
		g.set(m, "opt_out_at", 0.2, func() any { return "2026-01-15T09:30:00+08:00" })
	}))
	return r
}

func (g *gen) enterprise(uscc string) map[string]any {
	e := map[string]any{"uscc": uscc}
	g.set(e, "name", 0.9, func() any { return fmt.Sprintf("上海生成%04d科技有限公司", g.r.IntN(10000)) })
	g.set(e, "region_code", 0.8, g.pick(regions...))
	g.set(e, "industry_code", 0.7, g.pick("C13", "C3911", "F51", "I65", "M7320", "H62"))
	g.set(e, "size_class", 0.8, g.pick("large", "medium", "small", "small", "micro", "micro"))
	g.set(e, "registered_date", 0.8, g.daysAgo(30, 25*365))
	g.set(e, "registration_status", 0.85, g.pick("active", "active", "active", "active", "revoked", "deregistered", "liquidation"))
	g.set(e, "ui", 0.8, g.obj(func(m map[string]any) {
		g.set(m, "paid_full_months", 0.85, g.intn(0, 120))
		g.set(m, "premium_paid_last_year", 0.8, func() any { return float64(g.r.IntN(2000000)) / 10 })
		g.set(m, "avg_insured_last_year", 0.8, func() any { return float64(g.r.IntN(20000)) / 10 })
		g.set(m, "new_claimants_last_year", 0.8, g.intn(0, 8))
		g.set(m, "insured_count_year_start", 0.7, g.intn(0, 2000))
		g.set(m, "insured_count_year_end", 0.7, g.intn(0, 2000))
	}))
	g.set(e, "insured_count_now", 0.7, g.intn(0, 2000))
	g.set(e, "arrears", 0.7, g.obj(func(m map[string]any) {
		g.set(m, "has_arrears", 0.9, g.boolean(0.15))
		g.set(m, "amount", 0.5, func() any { return float64(g.r.IntN(5000000)) / 100 })
		g.set(m, "months", 0.5, g.intn(0, 12))
	}))
	g.set(e, "credit", 0.75, g.obj(func(m map[string]any) {
		for _, k := range []string{"serious_dishonest", "wage_arrears_blacklist", "abnormal_operation_list", "zombie"} {
			g.set(m, k, 0.85, g.boolean(0.08))
		}
	}))
	g.set(e, "new_hires", 0.6, g.list(4, g.obj(func(m map[string]any) {
		g.set(m, "person_id", 0.9, func() any { return fmt.Sprintf("p_hire_%05d", g.r.IntN(100000)) })
		g.set(m, "hire_date", 0.9, g.daysAgo(0, 3*365))
		g.set(m, "category", 0.85, g.pick("graduate", "registered_unemployed_youth", "hard_to_employ", "veteran", "other"))
		g.set(m, "ui_paid_months", 0.8, g.intn(0, 36))
		g.set(m, "currently_insured", 0.8, g.boolean(0.85))
	})))
	g.set(e, "internship_base", 0.4, g.obj(func(m map[string]any) { g.set(m, "certified", 0.9, g.boolean(0.5)) }))
	g.set(e, "benefits_received", 0.4, g.list(3, g.obj(func(m map[string]any) {
		g.set(m, "policy_id", 0.95, g.pick(enterprisePol...))
		g.set(m, "year", 0.9, g.intn(2022, 2026))
		g.set(m, "amount", 0.8, func() any { return float64(g.r.IntN(10000000)) / 100 })
	})))
	g.set(e, "contacts", 0.7, g.obj(func(m map[string]any) {
		g.set(m, "hr_mobile", 0.7, g.mobile())
		g.set(m, "legal_rep_mobile", 0.7, g.mobile())
	}))
	g.set(e, "channels", 0.5, g.obj(func(m map[string]any) {
		g.set(m, "wechat", 0.6, g.obj(func(w map[string]any) {
			g.set(w, "openid", 0.9, func() any { return fmt.Sprintf("oEnt%012d", g.r.IntN(1e12)) })
		}))
		g.set(m, "sms", 0.5, g.obj(func(s map[string]any) { g.set(s, "enabled", 0.9, g.boolean(0.9)) }))
	}))
	g.set(e, "consent", 0.3, g.obj(func(m map[string]any) {
		g.set(m, "opt_out_channels", 0.5, g.list(1, g.pick("wechat", "sms")))
	}))
	return e
}
