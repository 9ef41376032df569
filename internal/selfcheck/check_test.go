package selfcheck_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/policypush/policypush/internal/profile"
	"github.com/policypush/policypush/internal/ruledir"
	"github.com/policypush/policypush/internal/rules"
	"github.com/policypush/policypush/internal/selfcheck"
)

const rulesDir = "../../rules"

func newChecker(t *testing.T) *selfcheck.Checker {
	t.Helper()
	v, err := profile.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	d, err := selfcheck.LoadDictionary()
	if err != nil {
		t.Fatal(err)
	}
	return selfcheck.New(v, d)
}

// matchLine is one line of policyctl match's output (CONTRACTS §4).
type matchLine struct {
	SubjectID string   `json:"subject_id"`
	PolicyID  string   `json:"policy_id"`
	Version   int      `json:"policy_version"`
	Result    string   `json:"result"`
	Failed    []string `json:"failed"`
	Unknown   []string `json:"unknown"`
	Amount    *float64 `json:"amount"`
}

// TestSelfCheckEqualsMatchAll holds the self-check to the push: for every
// test case profile of the catalogue in rules/, the self-check's results
// are the lines the real policyctl binary's match --all prints for it, at
// the case's time, policy by policy.
func TestSelfCheckEqualsMatchAll(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "policyctl")
	build := exec.Command("go", "build", "-o", bin, "github.com/policypush/policypush/cmd/policyctl")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build policyctl: %v\n%s", err, out)
	}
	d, err := ruledir.Read(rulesDir)
	if err != nil {
		t.Fatal(err)
	}
	set, err := ruledir.Load(rulesDir)
	if err != nil {
		t.Fatal(err)
	}
	c := newChecker(t)

	type tcase struct {
		name string
		kind profile.Kind
		data []byte
	}
	byAt := map[time.Time][]tcase{}
	n := 0
	for _, tf := range d.Tests {
		p := set.Policy(tf.Policy)
		if p == nil {
			t.Fatalf("%s: no policy %s", tf.File, tf.Policy)
		}
		for _, tc := range tf.Cases {
			data, err := ruledir.ReadProfile(tf, tc)
			if err != nil {
				t.Fatal(err)
			}
			byAt[tc.At] = append(byAt[tc.At], tcase{name: tf.Policy + ": " + tc.Name, kind: p.Subject, data: data})
			n++
		}
	}
	if n < 100 {
		t.Fatalf("only %d test cases in %s: the catalogue was not read", n, rulesDir)
	}
	compared := 0
	for at, cases := range byAt {
		// One JSONL file per instant; each case gets its own subject id so
		// that its lines can be told apart.
		var in bytes.Buffer
		for i, tc := range cases {
			var doc map[string]any
			if err := json.Unmarshal(tc.data, &doc); err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			id := fmt.Sprintf("case%04d", i)
			if tc.kind == profile.KindEnterprise {
				id = fmt.Sprintf("91%016d", i)
				doc["uscc"] = id
			} else {
				doc["person_id"] = id
			}
			ev := map[string]any{"event_id": "e-" + id, "subject_type": tc.kind, "subject_id": id,
				"occurred_at": "2020-01-01T00:00:00+08:00", "source": "test", "type": "snapshot", "data": doc}
			b, _ := json.Marshal(ev)
			in.Write(append(b, '\n'))
		}
		file := filepath.Join(t.TempDir(), "profiles.jsonl")
		if err := os.WriteFile(file, in.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "match", "--rules", rulesDir, "--profiles", file, "--at", at.Format(time.RFC3339), "--all")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("policyctl match at %s: %v\n%s", at, err, stderr.Bytes())
		}
		want := map[string][]matchLine{}
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			var l matchLine
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				t.Fatal(err)
			}
			want[l.SubjectID] = append(want[l.SubjectID], l)
		}
		for i, tc := range cases {
			id := fmt.Sprintf("case%04d", i)
			if tc.kind == profile.KindEnterprise {
				id = fmt.Sprintf("91%016d", i)
			}
			// The self-check is sent the profile without its id, as a
			// person's form sends it.
			var doc map[string]any
			_ = json.Unmarshal(tc.data, &doc)
			delete(doc, "person_id")
			delete(doc, "uscc")
			raw, _ := json.Marshal(doc)
			resp, err := c.Check(set, tc.kind, raw, at)
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
				continue
			}
			var got []matchLine
			for _, r := range resp.Results {
				got = append(got, matchLine{SubjectID: id, PolicyID: r.PolicyID, Version: r.PolicyVersion, Result: r.Result,
					Failed: r.Failed, Unknown: r.Unknown, Amount: r.Amount})
			}
			w := want[id]
			for i := range w {
				w[i].Failed = nonNil(w[i].Failed)
				w[i].Unknown = nonNil(w[i].Unknown)
			}
			if !reflect.DeepEqual(got, w) {
				g, _ := json.Marshal(got)
				ww, _ := json.Marshal(w)
				t.Errorf("%s at %s:\nself-check %s\nmatch --all %s", tc.name, at.Format(time.DateOnly), g, ww)
			}
			compared += len(w)
		}
	}
	if compared < n {
		t.Errorf("only %d results compared for %d cases", compared, n)
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// TestFieldDictionaryCoversRules fails when a field that a rule of the
// catalogue reads has no entry in schemas/fields.zh.yaml, or when an
// entry's choices are not the values the profile schema allows.
func TestFieldDictionaryCoversRules(t *testing.T) {
	set, err := ruledir.Load(rulesDir)
	if err != nil {
		t.Fatal(err)
	}
	d, err := selfcheck.LoadDictionary()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range set.Policies() {
		for _, f := range p.Fields() {
			if d.Field(p.Subject, f) == nil {
				t.Errorf("%s reads %s.%s, which has no entry in schemas/fields.zh.yaml", p.ID, p.Subject, f)
			}
		}
	}
	// Every choice must be a value the schema accepts: each is put in a
	// profile alone and validated.
	v, err := profile.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []profile.Kind{profile.KindResident, profile.KindEnterprise} {
		for _, f := range d.Fields(kind) {
			for _, ch := range f.Choices {
				doc := map[string]any{"person_id": "x", "uscc": "000000000000000000"}
				if kind == profile.KindResident {
					delete(doc, "uscc")
				} else {
					delete(doc, "person_id")
				}
				var val any = ch.Value
				if f.Type == selfcheck.TypeMulti {
					val = []any{ch.Value}
				}
				selfcheck.Put(doc, f.Path, val)
				raw, _ := json.Marshal(doc)
				if _, err := v.Decode(kind, raw); err != nil {
					t.Errorf("%s.%s: choice %q: %v", kind, f.Path, ch.Value, err)
				}
			}
		}
	}
}

// TestNextQuestion pins the choice of the next question on a hand-made
// rule set: the field that three unknown policies wait for comes before
// one that two wait for, and a decided policy's fields count for nothing.
func TestNextQuestion(t *testing.T) {
	rule := func(id, conds string) *rules.Rule {
		src := "id: " + id + "\nversion: 1\ntitle: " + id + "\ndomain: employment\nsubject: resident\n" +
			"department: d\nsource: {doc: d}\nstatus: active\nvalid_from: 2024-01-01\nconditions:\n" + conds
		r, err := rules.ParseRule(id+".yaml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	cond := func(name, expr string) string { return "  - name: " + name + "\n    expr: '" + expr + "'\n" }
	set, err := rules.Compile([]*rules.Rule{
		rule("a", cond("本市户籍", "resident.hukou.is_local == true")+cond("退役军人", "resident.veteran.is_veteran == true")),
		rule("b", cond("退役军人", "resident.veteran.is_veteran == true")+cond("本科", `resident.education.level == "bachelor"`)),
		rule("c", cond("退役军人", "resident.veteran.is_veteran == true")),
		rule("d", cond("本市户籍", "resident.hukou.is_local == true")+cond("本科", `resident.education.level == "bachelor"`)),
		// Decided by its first condition: its unknown second one asks
		// for nothing that would change it.
		rule("e", cond("男性", `resident.gender == "M"`)+cond("本市户籍", "resident.hukou.is_local == true")),
	})
	if err != nil {
		t.Fatal(err)
	}
	c := newChecker(t)
	at := time.Date(2026, 6, 1, 0, 0, 0, 0, rules.Shanghai)
	tests := []struct {
		name, profile string
		want          string
		asks          map[string][]string
	}{
		// veteran: a, b, c; hukou: a, d (e is decided); level: b, d.
		{"empty", `{"gender": "F"}`, "veteran.is_veteran",
			map[string][]string{"a": {"hukou.is_local", "veteran.is_veteran"}, "e": {}}},
		// With veteran answered yes, hukou (a, d) and level (b, d) tie:
		// hukou.is_local comes first in the dictionary.
		{"veteran", `{"gender": "F", "veteran": {"is_veteran": true}}`, "hukou.is_local",
			map[string][]string{"c": {}, "b": {"education.level"}}},
		{"all", `{"gender": "F", "veteran": {"is_veteran": true}, "hukou": {"is_local": true}, "education": {"level": "master"}}`, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := c.Check(set, profile.KindResident, json.RawMessage(tt.profile), at)
			if err != nil {
				t.Fatal(err)
			}
			if resp.NextQuestion != tt.want {
				t.Errorf("next_question = %q, want %q", resp.NextQuestion, tt.want)
			}
			for _, r := range resp.Results {
				if want, ok := tt.asks[r.PolicyID]; ok && !slices.Equal(r.Ask, want) {
					t.Errorf("%s: ask = %q, want %q", r.PolicyID, r.Ask, want)
				}
			}
		})
	}
}
