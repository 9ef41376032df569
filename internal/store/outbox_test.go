package store

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func TestOutboxClaimRecord(t *testing.T) {
	// A database of its own: claiming takes every due row.
	s := openURL(t, freshDB(t))
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	k := subject(t, "resident", "p1")
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	inTx(t, s, func(tx *Tx) error {
		_, err := tx.Save(t.Context(), &Batch{Matches: []NewMatch{{
			Match:   Match{Key: k, PolicyID: "pol", PolicyVersion: 2, Result: "eligible", Explanation: []byte(`{}`), EvaluatedAt: at},
			Notices: []Notice{{Channel: "wechat", Fallback: []string{"sms"}, Status: "pending", DueAt: at}},
		}}})
		return err
	})
	rows, err := s.ClaimOutbox(t.Context(), testClaim, at.Add(time.Second), 1000)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(rows, func(r OutboxRow) bool { return r.Key == k })
	if i < 0 {
		t.Fatalf("row not claimed: %+v", rows)
	}
	r := rows[i]
	if r.PolicyVersion != 2 || r.Channel != "wechat" || !slices.Equal(r.Fallback, []string{"sms"}) {
		t.Errorf("claimed %+v", r)
	}
	if again, err := s.ClaimOutbox(t.Context(), testClaim, at.Add(time.Second), 1000); err != nil || slices.ContainsFunc(again, func(x OutboxRow) bool { return x.ID == r.ID }) {
		t.Fatalf("claimed twice: %v", err)
	}

	wrong := Outcome{ID: r.ID, ClaimedAt: r.ClaimedAt.Add(time.Microsecond), ClaimToken: r.ClaimToken, Status: "sent"}
	if err := s.RecordOutcome(t.Context(), wrong); !errors.Is(err, ErrNotClaimed) {
		t.Fatalf("record under another claim: %v, want ErrNotClaimed", err)
	}
	sentAt := at.Add(2 * time.Second)
	err = s.RecordOutcome(t.Context(), Outcome{ID: r.ID, ClaimedAt: r.ClaimedAt, ClaimToken: r.ClaimToken, Status: "sent", SentAt: sentAt, ProviderMsgID: "m1",
		Attempt: &Attempt{Channel: "wechat", Outcome: "sent", ProviderMsgID: "m1", At: sentAt}})
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.OutboxByID(t.Context(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != "sent" || st.Attempts != 1 || st.ProviderMsgID != "m1" || st.SentAt == nil || !st.SentAt.Equal(sentAt) {
		t.Errorf("state %+v", st)
	}
	times, err := s.SentTimes(t.Context(), k, at)
	if err != nil || len(times) != 1 || !times[0].Equal(sentAt) {
		t.Errorf("SentTimes = %v, %v", times, err)
	}
	if times, _ := s.SentTimes(t.Context(), k, sentAt.Add(time.Second)); len(times) != 0 {
		t.Errorf("SentTimes after the send = %v", times)
	}
	as, err := s.Attempts(t.Context(), r.ID)
	if err != nil || len(as) != 1 || as[0].Outcome != "sent" {
		t.Errorf("Attempts = %+v, %v", as, err)
	}
}
