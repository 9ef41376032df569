package store

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// leaseDB is a migrated database of the test's own, with n pending notices
// due at at, and their ids.
func leaseDB(t *testing.T, n int, at time.Time) (*Store, []int64) {
	t.Helper()
	s := openURL(t, freshDB(t))
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	var ms []NewMatch
	for i := range n {
		ms = append(ms, NewMatch{
			Match:   Match{Key: subject(t, "resident", string(rune('a'+i))), PolicyID: "pol", PolicyVersion: 1, Result: "eligible", Explanation: []byte(`{}`), EvaluatedAt: at},
			Notices: []Notice{{Channel: "sms", Status: "pending", DueAt: at}},
		})
	}
	inTx(t, s, func(tx *Tx) error { _, err := tx.Save(t.Context(), &Batch{Matches: ms}); return err })
	var ids []int64
	rows, err := s.Pool().Query(t.Context(), `SELECT id FROM outbox ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return s, ids
}

func status(t *testing.T, s *Store, id int64) string {
	t.Helper()
	st, err := s.OutboxByID(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return st.Status
}

func lapseAll(t *testing.T, s *Store) {
	t.Helper()
	if _, err := s.Pool().Exec(t.Context(), `UPDATE outbox SET lease_until = now() - interval '1 second' WHERE lease_until IS NOT NULL`); err != nil {
		t.Fatal(err)
	}
}

func TestOutboxClaimLifecycle(t *testing.T) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	s, ids := leaseDB(t, 3, at)
	a := Claim{Token: "a", Lease: time.Minute}
	rows, err := s.ClaimOutbox(t.Context(), a, at, 10)
	if err != nil || len(rows) != 3 {
		t.Fatalf("claim = %v, %v", rows, err)
	}
	for _, r := range rows {
		if r.ClaimToken != "a" || !r.ClaimedAt.Equal(at) || !r.CallStartedAt.IsZero() || status(t, s, r.ID) != "claimed" {
			t.Fatalf("claimed row %+v is %s", r, status(t, s, r.ID))
		}
	}

	// Another claimant cannot begin a row, nor answer for it.
	other := rows[0]
	other.ClaimToken = "b"
	if err := s.BeginSend(t.Context(), other, at); !errors.Is(err, ErrNotClaimed) {
		t.Errorf("BeginSend under another token: %v", err)
	}
	if err := s.RecordOutcome(t.Context(), Outcome{ID: other.ID, ClaimedAt: other.ClaimedAt, ClaimToken: "b", Status: "sent"}); !errors.Is(err, ErrNotClaimed) {
		t.Errorf("RecordOutcome under another token: %v", err)
	}
	if err := s.BeginSend(t.Context(), rows[0], at.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if got := status(t, s, rows[0].ID); got != "sending" {
		t.Errorf("begun row is %s", got)
	}
	if ok, _ := s.Sending(t.Context(), "sms"); !ok {
		t.Error("Sending = false during a call")
	}

	// Renewal keeps only the rows asked for, and only while unexpired.
	if n, err := s.RenewClaims(t.Context(), a, ids); err != nil || n != 3 {
		t.Errorf("RenewClaims = %d, %v; want 3", n, err)
	}
	if n, _ := s.RenewClaims(t.Context(), Claim{Token: "b", Lease: time.Minute}, ids); n != 0 {
		t.Errorf("another token renewed %d rows", n)
	}

	// Hand back: the claimed rows, not the one in flight.
	if n, err := s.ReleaseClaims(t.Context(), "a"); err != nil || n != 2 {
		t.Errorf("ReleaseClaims = %d, %v; want 2", n, err)
	}
	if got := []string{status(t, s, ids[0]), status(t, s, ids[1]), status(t, s, ids[2])}; !slices.Equal(got, []string{"sending", "pending", "pending"}) {
		t.Errorf("after release: %v", got)
	}

	// A lapsed claim: claimed rows go back, the row in 'sending' is taken
	// over by reconciliation, and its old claimant can answer no more.
	rows2, err := s.ClaimOutbox(t.Context(), a, at, 10)
	if err != nil || len(rows2) != 2 {
		t.Fatalf("claim again = %v, %v", rows2, err)
	}
	lapseAll(t, s)
	if n, _ := s.RenewClaims(t.Context(), a, ids); n != 0 {
		t.Errorf("renewed %d lapsed rows", n)
	}
	if err := s.BeginSend(t.Context(), rows2[0], at); !errors.Is(err, ErrNotClaimed) {
		t.Errorf("BeginSend after the lease lapsed: %v", err)
	}
	back, err := s.RequeueLapsed(t.Context())
	if err != nil || back["sms"] != 2 {
		t.Errorf("RequeueLapsed = %v, %v; want 2 on sms", back, err)
	}
	r := Claim{Token: "r", Lease: time.Minute}
	taken, err := s.TakeLapsedSending(t.Context(), r, at.Add(time.Hour), 10)
	if err != nil || len(taken) != 1 || taken[0].ID != ids[0] || taken[0].ClaimToken != "r" ||
		!taken[0].CallStartedAt.Equal(at.Add(time.Second)) {
		t.Fatalf("TakeLapsedSending = %+v, %v", taken, err)
	}
	if again, _ := s.TakeLapsedSending(t.Context(), r, at.Add(time.Hour), 10); len(again) != 0 {
		t.Errorf("taken twice: %+v", again)
	}
	if err := s.RecordOutcome(t.Context(), Outcome{ID: ids[0], ClaimedAt: rows[0].ClaimedAt, ClaimToken: "a", Status: "sent"}); !errors.Is(err, ErrNotClaimed) {
		t.Errorf("the old claimant's answer: %v", err)
	}

	// Left for a later look: still sending, not taken until Recheck passes.
	err = s.RecordOutcome(t.Context(), Outcome{ID: ids[0], ClaimedAt: taken[0].ClaimedAt, ClaimToken: "r", Status: "sending", Recheck: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := s.TakeLapsedSending(t.Context(), r, at.Add(time.Hour), 10); len(again) != 0 {
		t.Errorf("taken before its recheck: %+v", again)
	}
	lapseAll(t, s)
	taken, err = s.TakeLapsedSending(t.Context(), r, at.Add(2*time.Hour), 10)
	if err != nil || len(taken) != 1 || !taken[0].CallStartedAt.Equal(at.Add(time.Second)) {
		t.Fatalf("taken after its recheck = %+v, %v", taken, err)
	}

	// Unknown: counted, and requeueable by an officer.
	err = s.RecordOutcome(t.Context(), Outcome{ID: ids[0], ClaimedAt: taken[0].ClaimedAt, ClaimToken: "r", Status: "unknown", Reason: "unknown_outcome",
		Attempt: &Attempt{Channel: "sms", Outcome: "unknown", Reason: "unknown_outcome", At: at}})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s.OutboxUnknown(t.Context()); err != nil || n != 1 {
		t.Errorf("OutboxUnknown = %d, %v; want 1", n, err)
	}
	requeued, err := s.RequeueDead(t.Context(), []int64{ids[0]}, "", at.Add(3*time.Hour))
	if err != nil || !slices.Equal(requeued, []int64{ids[0]}) {
		t.Fatalf("requeue unknown = %v, %v", requeued, err)
	}
	st, err := s.OutboxByID(t.Context(), ids[0])
	if err != nil || st.Status != "pending" || st.Reason != "" || !st.DueAt.Equal(at.Add(3*time.Hour)) {
		t.Errorf("requeued unknown row: %+v, %v", st, err)
	}
	if n, _ := s.OutboxUnknown(t.Context()); n != 0 {
		t.Errorf("OutboxUnknown after requeue = %d", n)
	}
}
