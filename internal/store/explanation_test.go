package store

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/policypush/policypush/internal/profile"
	"github.com/policypush/policypush/internal/rules"
)

// compactMatch evaluates a small policy for a resident and returns the
// match with its compact explanation, and the JSON Explain gives for it
// (what the store must show).
func compactMatch(t *testing.T, k SubjectKey, title string) (NewMatch, []byte) {
	t.Helper()
	r, err := rules.ParseRule("p.yaml", []byte(`id: compact-policy
version: 4
title: `+title+`
domain: employment
subject: resident
department: d
source: {doc: d}
status: active
valid_from: 2023-01-01
conditions:
  - name: 本地户籍
    expr: resident.hukou.is_local == true
  - name: 残疾等级
    expr: resident.disability.level <= 3
`))
	if err != nil {
		t.Fatal(err)
	}
	set, err := rules.Compile([]*rules.Rule{r})
	if err != nil {
		t.Fatal(err)
	}
	var p profile.Resident
	if err := json.Unmarshal([]byte(`{"person_id":"`+k.ID+`","hukou":{"is_local":true},"disability":{"level":2}}`), &p); err != nil {
		t.Fatal(err)
	}
	in, err := set.Prepare(&p)
	if err != nil {
		t.Fatal(err)
	}
	pol, ev := set.Policy("compact-policy"), set.NewEvaluator()
	at := set.At(time.Date(2026, 12, 8, 9, 0, 0, 0, rules.Shanghai))
	o := ev.Evaluate(pol, in, at)
	want, err := json.Marshal(ev.ExplainOutcome(pol, in, at, o))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := ev.AppendCompact(nil, pol, in, at, o)
	if err != nil {
		t.Fatal(err)
	}
	nm := newMatch(k, pol.ID, Notice{Channel: "sms", Status: "pending", DueAt: time.Now()})
	nm.Match.Explanation, nm.Match.Form, nm.Match.Values = nil, pol.Form(), rec
	return nm, want
}

func explanationOf(t *testing.T, s *Store, k SubjectKey, policy string) []byte {
	t.Helper()
	v, err := s.Subject(t.Context(), k)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range v.Matches {
		if m.PolicyID == policy {
			return m.Explanation
		}
	}
	t.Fatalf("no match of %s for %v", policy, k)
	return nil
}

// TestCompactExplanationStored: a match saved with a compact explanation
// reads back, through the store's readers, as the JSON Explain gives (the
// sensitive value withheld as there); its row holds no JSON and a record
// a fraction of its size; a match saved before, with JSON, reads back as
// stored; and the form is stored once for every match that shares it.
func TestCompactExplanationStored(t *testing.T) {
	s := openStore(t)
	a, b, old := subject(t, "resident", "a"), subject(t, "resident", "b"), subject(t, "resident", "old")
	nmA, wantA := compactMatch(t, a, "紧凑")
	nmB, wantB := compactMatch(t, b, "紧凑")
	legacy := newMatch(old, "compact-policy")
	for _, nm := range []NewMatch{nmA, nmB, legacy} {
		inTx(t, s, func(tx *Tx) error {
			_, err := tx.Save(t.Context(), &Batch{Matches: []NewMatch{nm}})
			return err
		})
	}
	for _, c := range []struct {
		k    SubjectKey
		want []byte
	}{{a, wantA}, {b, wantB}, {old, legacy.Match.Explanation}} {
		got := explanationOf(t, s, c.k, "compact-policy")
		var g, w any
		if json.Unmarshal(got, &g) != nil || json.Unmarshal(c.want, &w) != nil || !jsonEqual(g, w) {
			t.Errorf("%s: explanation\n%s\nwant\n%s", c.k.ID, got, c.want)
		}
	}
	if strings.Contains(string(wantA), `"value":2`) || !strings.Contains(string(wantA), `"sensitive":true`) {
		t.Errorf("the reference explanation shows the sensitive value: %s", wantA)
	}
	var jsonNull bool
	var recLen, forms int
	err := s.Pool().QueryRow(t.Context(), `SELECT explanation IS NULL, octet_length(explanation_values),
       (SELECT count(*) FROM explanation_forms WHERE digest = m.explanation_form)
FROM matches m WHERE subject_id = $1`, a.ID).Scan(&jsonNull, &recLen, &forms)
	if err != nil {
		t.Fatal(err)
	}
	if !jsonNull || forms != 1 || recLen*4 > len(wantA) {
		t.Errorf("stored: JSON null %v, record %d bytes (JSON %d), %d forms", jsonNull, recLen, len(wantA), forms)
	}
	if _, err := s.Pool().Exec(t.Context(), `INSERT INTO matches (subject_type, subject_id, policy_id, policy_version, result, evaluated_at)
VALUES ('resident', $1, 'x', 1, 'eligible', now())`, old.ID+"/none"); err == nil {
		t.Error("a match without any explanation was stored")
	}
}

// TestCompactExplanationFormAfterRollback: a form first sent by a
// transaction that rolled back is sent again by the next one (the store
// learns of a form only from a commit), so that match renders too.
func TestCompactExplanationFormAfterRollback(t *testing.T) {
	s := openStore(t)
	a, b := subject(t, "resident", "a"), subject(t, "resident", "b")
	// A title of this test alone: a form no other test has stored.
	nmA, _ := compactMatch(t, a, t.Name())
	nmB, wantB := compactMatch(t, b, t.Name())
	errBoom := errors.New("boom")
	err := s.InTx(t.Context(), func(tx *Tx) error {
		if _, err := tx.Save(t.Context(), &Batch{Matches: []NewMatch{nmA}}); err != nil {
			return err
		}
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("InTx = %v", err)
	}
	if s.forms.known(nmA.Match.Form.Digest) {
		t.Fatal("the store knows a form whose transaction rolled back")
	}
	inTx(t, s, func(tx *Tx) error {
		_, err := tx.Save(t.Context(), &Batch{Matches: []NewMatch{nmB}})
		return err
	})
	if !s.forms.known(nmB.Match.Form.Digest) {
		t.Error("the store does not know a committed form")
	}
	got := explanationOf(t, s, b, "compact-policy")
	var g, w any
	if json.Unmarshal(got, &g) != nil || json.Unmarshal(wantB, &w) != nil || !jsonEqual(g, w) {
		t.Errorf("explanation\n%s\nwant\n%s", got, wantB)
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
