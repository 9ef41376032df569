package store

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func TestMaskSubject(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"91510100MA6C7XYZ12", "91****12"},
		{"成都示例科技有限公司", "成都****公司"},
		{"abcd", "****"},
		{"", "****"},
	} {
		if got := MaskSubject(tt.in); got != tt.want {
			t.Errorf("MaskSubject(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestCaseLifecycle takes cases through the store: every written change is
// in case_events with its actor; a claim of a policy without review is
// approved at once; an officer approves only a claimed case; a grant
// reaches a never-claimed case too, and a lapse in the same batch (the
// rule no longer matching because of the grant) leaves it granted, while
// it lapses a claim no decision has reached, and a revival restores it.
func TestCaseLifecycle(t *testing.T) {
	s := openStore(t)
	ctx := t.Context()
	k := subject(t, "resident", "p_case1")
	due := time.Now().Add(time.Hour)
	pols := []string{"rev", "norev", "auto", "lapse"}
	inTx(t, s, func(tx *Tx) error {
		b := &Batch{Profiles: []Profile{{Key: k, Data: []byte(`{"person_id":"x"}`), Version: 1}}}
		for _, p := range pols {
			b.Matches = append(b.Matches, newMatch(k, p, Notice{Channel: "sms", Status: "pending", DueAt: due}))
		}
		_, err := tx.Save(ctx, b)
		return err
	})
	ids := map[string]int64{}
	for _, p := range pols {
		var id int64
		if err := s.Pool().QueryRow(ctx, `SELECT id FROM matches WHERE subject_id = $1 AND policy_id = $2`, k.ID, p).Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids[p] = id
	}
	now := time.Now()

	if st, err := s.Claim(ctx, ids["rev"], false, true, now); err != nil || st != "claimed" {
		t.Fatalf("claim of a review policy: %q %v", st, err)
	}
	if st, err := s.Claim(ctx, ids["norev"], false, false, now); err != nil || st != "approved" {
		t.Fatalf("claim without review: %q %v, want approved", st, err)
	}
	if st, err := s.Claim(ctx, ids["lapse"], false, true, now); err != nil || st != "claimed" {
		t.Fatalf("claim: %q %v", st, err)
	}

	audit := AuditEntry{Actor: "alice", ActorRole: "reviewer", Action: "case.approve", At: now}
	if _, err := s.DecideCases(ctx, Decision{IDs: []int64{ids["auto"]}, Approve: true, Officer: "alice", At: now}, audit); !isState(err, "matched") {
		t.Errorf("approving an unclaimed case: %v, want a CaseStateError for matched", err)
	}
	if _, err := s.DecideCases(ctx, Decision{IDs: []int64{ids["rev"], ids["norev"]}, Approve: true, Officer: "alice", At: now}, audit); !isState(err, "approved") {
		t.Errorf("a batch with an approved case: %v, want a CaseStateError", err)
	}
	if c, _ := s.CaseByID(ctx, ids["rev"]); c.Status != "claimed" {
		t.Errorf("after a failed batch the first case is %s, want claimed (all or none)", c.Status)
	}
	got, err := s.DecideCases(ctx, Decision{IDs: []int64{ids["rev"]}, Approve: true, Officer: "alice", Reason: "材料齐全", At: now}, audit)
	if err != nil || len(got) != 1 || got[0].Status != "approved" || got[0].DecidedBy != "alice" {
		t.Fatalf("approve: %+v %v", got, err)
	}
	if got[0].SubjectMasked == k.ID || got[0].SubjectMasked != MaskSubject(k.ID) {
		t.Errorf("subject_masked %q", got[0].SubjectMasked)
	}
	if _, err := s.DecideCases(ctx, Decision{IDs: []int64{999999}, Approve: true, Officer: "alice", At: now}, audit); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown case: %v", err)
	}
	var audits int
	_ = s.Pool().QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE action = 'case.approve'`).Scan(&audits)
	if audits != 1 {
		t.Errorf("%d audit rows, want 1 (failed batches write none)", audits)
	}

	// One batch: the grants of rev (approved) and auto (never claimed),
	// and lapses of auto (its rule says "not already received") and of
	// lapse (claimed).
	amount := 1500.0
	inTx(t, s, func(tx *Tx) error {
		_, err := tx.Save(ctx, &Batch{
			Grants: []Grant{
				{Key: k, PolicyID: "rev", Amount: &amount, GrantedOn: time.Now(), EventID: "e-g1"},
				{Key: k, PolicyID: "auto", Amount: &amount, GrantedOn: time.Now(), EventID: "e-g1"},
				{Key: k, PolicyID: "nomatch", Amount: &amount, GrantedOn: time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC), EventID: "e-g1"},
			},
			Lapsed: []PolicyRef{{k, "auto"}, {k, "lapse"}, {k, "rev"}},
		})
		return err
	})
	// Entries that are not these cases' grants: one dated before the
	// match, and one arriving with a match made in the same transaction
	// (a first profile listing earlier benefits).
	kNew := subject(t, "resident", "p_case2")
	inTx(t, s, func(tx *Tx) error {
		_, err := tx.Save(ctx, &Batch{
			Matches: []NewMatch{newMatch(kNew, "rev", Notice{Channel: "sms", Status: "pending", DueAt: due})},
			Grants: []Grant{{Key: kNew, PolicyID: "rev", Amount: &amount, GrantedOn: time.Now(), EventID: "e-first"},
				{Key: k, PolicyID: "norev", Amount: &amount, GrantedOn: time.Now().AddDate(0, 0, -30), EventID: "e-old"}},
		})
		return err
	})
	var stray int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM cases WHERE grant_event_id IN ('e-first', 'e-old')`).Scan(&stray); err != nil || stray != 0 {
		t.Errorf("%d cases granted by earlier benefits (%v), want 0", stray, err)
	}
	for p, want := range map[string]string{"rev": "granted", "auto": "granted", "lapse": "lapsed", "norev": "approved"} {
		c, err := s.CaseByID(ctx, ids[p])
		if err != nil || c.Status != want {
			t.Errorf("%s: %s %v, want %s", p, c.Status, err, want)
		}
		if want == "granted" && (c.Amount == nil || *c.Amount != amount || c.GrantedOn == nil) {
			t.Errorf("%s granted without its amount and date: %+v", p, c)
		}
	}
	inTx(t, s, func(tx *Tx) error {
		_, err := tx.Save(ctx, &Batch{Revived: []PolicyRef{{k, "lapse"}, {k, "auto"}}})
		return err
	})
	if c, _ := s.CaseByID(ctx, ids["lapse"]); c.Status != "claimed" {
		t.Errorf("revived: %s, want claimed again", c.Status)
	}
	if c, _ := s.CaseByID(ctx, ids["auto"]); c.Status != "granted" {
		t.Errorf("revived granted case: %s, want granted", c.Status)
	}

	h, err := s.CaseHistory(ctx, ids["rev"])
	if err != nil {
		t.Fatal(err)
	}
	var steps []string
	for _, e := range h {
		steps = append(steps, e.From+">"+e.To+"@"+e.ActorKind+":"+e.Actor)
	}
	want := []string{">matched@system:", "matched>claimed@citizen:", "claimed>approved@officer:alice", "approved>granted@system:"}
	if !slices.Equal(steps, want) {
		t.Errorf("history\n%q\nwant\n%q", steps, want)
	}
	h, _ = s.CaseHistory(ctx, ids["norev"])
	if len(h) != 3 || h[2].To != "approved" || h[2].ActorKind != ActorSystem {
		t.Errorf("no-review history %+v", h)
	}
	h, _ = s.CaseHistory(ctx, ids["auto"])
	if len(h) != 2 || h[1].From != "matched" || h[1].To != "granted" || h[1].Reason != "event e-g1" {
		t.Errorf("免申即享 history %+v", h)
	}

	list, err := s.Cases(ctx, CaseFilter{Status: "granted"})
	if err != nil || len(list) != 2 {
		t.Errorf("granted cases: %d %v, want 2", len(list), err)
	}
	list, _ = s.Cases(ctx, CaseFilter{PolicyID: "norev"})
	if len(list) != 1 || list[0].Status != "approved" {
		t.Errorf("norev cases %+v", list)
	}
}

func isState(err error, status string) bool {
	var se *CaseStateError
	return errors.As(err, &se) && se.Status == status
}

// TestCaseFunnelSources: a match a backfill made counts as the backfill's,
// one an event made as the event's, and each step on the day it happened;
// a grant with no claim before it (免申即享) counts under granted and
// under granted_unclaimed, a grant after a claim only under granted.
func TestCaseFunnelSources(t *testing.T) {
	s := openStore(t)
	ctx := t.Context()
	k1, k2, k3 := subject(t, "resident", "p_f1"), subject(t, "resident", "p_f2"), subject(t, "resident", "p_f3")
	due := time.Now().Add(time.Hour)
	m1 := newMatch(k1, "fun", Notice{Channel: "sms", Status: "pending", DueAt: due})
	m1.Match.EventID = "sweep:backfill:7"
	m2 := newMatch(k2, "fun", Notice{Channel: "sms", Status: "pending", DueAt: due})
	m2.Match.EventID = "e-live-1"
	m3 := newMatch(k3, "fun", Notice{Channel: "sms", Status: "pending", DueAt: due})
	m3.Match.EventID = "e-live-2"
	inTx(t, s, func(tx *Tx) error { _, err := tx.Save(ctx, &Batch{Matches: []NewMatch{m1, m2, m3}}); return err })
	var claimed int64
	if err := s.Pool().QueryRow(ctx, `SELECT id FROM matches WHERE subject_id = $1`, k3.ID).Scan(&claimed); err != nil {
		t.Fatal(err)
	}
	if st, err := s.Claim(ctx, claimed, false, false, time.Now()); err != nil || st != "approved" {
		t.Fatalf("claim: %q %v", st, err)
	}
	amount, amount3 := 800.0, 500.0
	inTx(t, s, func(tx *Tx) error {
		_, err := tx.Save(ctx, &Batch{Grants: []Grant{{Key: k1, PolicyID: "fun", Amount: &amount, GrantedOn: time.Now(), EventID: "e-pay"},
			{Key: k3, PolicyID: "fun", Amount: &amount3, GrantedOn: time.Now(), EventID: "e-pay"}}})
		return err
	})
	counts, err := s.CaseFunnel(ctx, "fun", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	var yuan float64
	for _, c := range counts {
		got[c.Source+"/"+c.Step] += c.Cases
		yuan += c.Amount
	}
	want := map[string]int{"backfill/matched": 1, "event/matched": 2, "backfill/granted": 1, "backfill/granted_unclaimed": 1,
		"event/claimed": 1, "event/approved": 1, "event/granted": 1}
	if len(got) != len(want) || yuan != 1300 {
		t.Fatalf("counts %v (%v 元), want %v and 1300 元 (an unclaimed grant's amount counted once)", got, yuan, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %d, want %d", k, got[k], v)
		}
	}
	med, err := s.MedianMatchToGrant(ctx, "fun", time.Time{})
	if h, ok := med["fun"]; err != nil || !ok || h < 0 || h > 1 {
		t.Errorf("median %v %v, want a few seconds", med, err)
	}
}
