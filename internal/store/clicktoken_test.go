package store

import (
	"regexp"
	"testing"
	"time"
)

// A notice's click token, which {{link}} renders, is made when the notice
// is first claimed for sending and never changes after: a release and a
// new claim, a lapsed claim and a send taken over after a crash all see
// the token of the first claim, so every message of the notice carries the
// link whose click is recorded.
func TestClickTokenStable(t *testing.T) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	s, ids := leaseDB(t, 2, at)
	var unset int
	if err := s.Pool().QueryRow(t.Context(), `SELECT count(*) FROM outbox WHERE click_token IS NULL`).Scan(&unset); err != nil || unset != 2 {
		t.Fatalf("%d queued notices without a token (%v), want 2: a token is made at the claim", unset, err)
	}
	a := Claim{Token: "a", Lease: time.Minute}
	rows, err := s.ClaimOutbox(t.Context(), a, at, 10)
	if err != nil || len(rows) != 2 {
		t.Fatalf("claim = %v, %v", rows, err)
	}
	hex32 := regexp.MustCompile(`^[0-9a-f]{32}$`)
	first := map[int64]string{}
	for _, r := range rows {
		if !hex32.MatchString(r.ClickToken) {
			t.Fatalf("click token %q, want 32 hex digits", r.ClickToken)
		}
		first[r.ID] = r.ClickToken
	}
	if first[ids[0]] == first[ids[1]] {
		t.Fatal("two notices got one token")
	}
	// One row goes into its provider call; the other is handed back.
	if err := s.BeginSend(t.Context(), rows[0], at); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReleaseClaims(t.Context(), "a"); err != nil {
		t.Fatal(err)
	}
	again, err := s.ClaimOutbox(t.Context(), Claim{Token: "b", Lease: time.Minute}, at, 10)
	if err != nil || len(again) != 1 || again[0].ClickToken != first[again[0].ID] {
		t.Errorf("claimed again: %+v, %v; want the first claim's token %v", again, err, first)
	}
	// The dispatcher dies during the call; reconciliation takes it over.
	lapseAll(t, s)
	taken, err := s.TakeLapsedSending(t.Context(), Claim{Token: "r", Lease: time.Minute}, at.Add(time.Hour), 10)
	if err != nil || len(taken) != 1 || taken[0].ClickToken != first[taken[0].ID] {
		t.Errorf("taken over: %+v, %v; want the first claim's token %v", taken, err, first)
	}
}
