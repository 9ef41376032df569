package store

import (
	"slices"
	"testing"
	"time"
)

// A waiting notice is never claimed; rerouted, it becomes due with its age
// counted from then; a row no longer waiting is left alone; cancelling a
// policy cancels its waiting rows too.
func TestWaitingNotices(t *testing.T) {
	s := openURL(t, freshDB(t))
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	wake, stay, consent, repeal := subject(t, "resident", "wake"), subject(t, "resident", "stay"),
		subject(t, "resident", "consent"), subject(t, "resident", "repeal")
	m := func(k SubjectKey, pol, reason string) NewMatch {
		return NewMatch{
			Match:   Match{Key: k, PolicyID: pol, PolicyVersion: 1, Result: "eligible", Explanation: []byte(`{}`), EvaluatedAt: at},
			Notices: []Notice{{Channel: "wechat", Status: "waiting", Reason: reason, DueAt: at}},
		}
	}
	inTx(t, s, func(tx *Tx) error {
		_, err := tx.Save(ctx, &Batch{Matches: []NewMatch{
			m(wake, "p", "unreachable"), m(stay, "p", "unreachable"), m(consent, "p", "no_consent"), m(repeal, "gone", "unreachable"),
		}})
		return err
	})
	if rows, err := s.ClaimOutbox(ctx, testClaim, at.Add(time.Hour), 10); err != nil || len(rows) != 0 {
		t.Fatalf("claimed %d waiting rows, %v; want none", len(rows), err)
	}

	var got map[SubjectKey][]WaitingNotice
	inTx(t, s, func(tx *Tx) (err error) {
		got, err = tx.WaitingNotices(ctx, []SubjectKey{wake, stay, consent, subject(t, "resident", "none")})
		return err
	})
	if len(got) != 3 || len(got[wake]) != 1 || got[wake][0].PolicyID != "p" || got[wake][0].Reason != "unreachable" ||
		got[consent][0].Reason != "no_consent" {
		t.Fatalf("WaitingNotices = %+v", got)
	}

	later := at.Add(24 * time.Hour)
	rerouted := []Rerouted{
		{ID: got[wake][0].ID, Status: "pending", Channel: "sms", Fallback: []string{"wechat"}, DueAt: later},
		{ID: got[consent][0].ID, Status: "waiting", Reason: "unreachable"},
	}
	inTx(t, s, func(tx *Tx) error {
		_, err := tx.Save(ctx, &Batch{Rerouted: rerouted})
		return err
	})
	woken, err := s.OutboxByID(ctx, got[wake][0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if woken.Status != "pending" || woken.Reason != "" || woken.Channel != "sms" || !slices.Equal(woken.Fallback, []string{"wechat"}) ||
		!woken.DueAt.Equal(later) {
		t.Errorf("woken row = %+v", woken)
	}
	if c, _ := s.OutboxByID(ctx, got[consent][0].ID); c.Status != "waiting" || c.Reason != "unreachable" || c.Channel != "wechat" {
		t.Errorf("row still waiting = %+v", c)
	}
	if st, _ := s.OutboxByID(ctx, got[stay][0].ID); st.Status != "waiting" {
		t.Errorf("untouched row = %+v", st)
	}

	// Rerouting a row again changes nothing: it is no longer waiting.
	inTx(t, s, func(tx *Tx) error {
		_, err := tx.Save(ctx, &Batch{Rerouted: []Rerouted{{ID: got[wake][0].ID, Status: "pending", Channel: "wechat", DueAt: later.Add(time.Hour)}}})
		return err
	})
	if again, _ := s.OutboxByID(ctx, got[wake][0].ID); again.Channel != "sms" || !again.DueAt.Equal(later) {
		t.Errorf("a second reroute changed the row: %+v", again)
	}

	// The woken row is claimed, its age counted from the reroute.
	rows, err := s.ClaimOutbox(ctx, testClaim, later, 10)
	if err != nil || len(rows) != 1 || rows[0].ID != got[wake][0].ID || !rows[0].CreatedAt.Equal(later) || rows[0].Attempts != 0 {
		t.Fatalf("claim after the reroute = %+v, %v", rows, err)
	}

	if err := s.InTx(ctx, func(tx *Tx) error {
		_, err := tx.Save(ctx, &Batch{Rerouted: []Rerouted{{ID: 1, Status: "sent"}}})
		return err
	}); err == nil {
		t.Error("a reroute to sent was accepted")
	}

	if n, err := s.CancelPolicy(ctx, "gone", "repealed"); err != nil || n != 1 {
		t.Fatalf("CancelPolicy = %d, %v; want the waiting row", n, err)
	}
	inTx(t, s, func(tx *Tx) (err error) {
		got, err = tx.WaitingNotices(ctx, []SubjectKey{repeal})
		return err
	})
	if len(got) != 0 {
		t.Errorf("a cancelled row still waits: %+v", got)
	}
}
