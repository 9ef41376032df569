package store

import (
	"encoding/base64"
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
	b64 := regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`)
	first := map[int64]string{}
	for _, r := range rows {
		if !b64.MatchString(r.ClickToken) || !IsClickToken(r.ClickToken) {
			t.Fatalf("click token %q, want 22 characters of base64url", r.ClickToken)
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

// TestClickTokenForm: tokens minted now are 22 characters of base64url
// carrying a version 4 UUID's 122 random bits, all different; a token of
// the old form (32 hex digits) is still one; anything else is not, and is
// answered without a query.
func TestClickTokenForm(t *testing.T) {
	s, _ := leaseDB(t, 0, time.Now())
	rows, err := s.Pool().Query(t.Context(), `SELECT `+newClickTokenSQL+` FROM generate_series(1, 2000)`)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for rows.Next() {
		var tok string
		if err := rows.Scan(&tok); err != nil {
			t.Fatal(err)
		}
		if len(tok) != ClickTokenLen || !IsClickToken(tok) {
			t.Fatalf("minted %q", tok)
		}
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil || len(raw) != 16 || raw[6]>>4 != 4 || raw[8]>>6 != 2 {
			t.Fatalf("%q is not a version 4 UUID in base64url: % x, %v", tok, raw, err)
		}
		if seen[tok] {
			t.Fatalf("%q minted twice", tok)
		}
		seen[tok] = true
	}
	if err := rows.Err(); err != nil || len(seen) != 2000 {
		t.Fatalf("%d tokens, %v", len(seen), err)
	}
	for tok, want := range map[string]bool{
		"0123456789abcdef0123456789abcdef": true,  // minted before
		"0123456789ABCDEF0123456789abcdef": false, // hex is lower case
		"6LTrQQsXTGij0D5zqgEnCw":           true,
		"6LTrQQsXTGij0D5zqgEn-_":           true,
		"6LTrQQsXTGij0D5zqgEn+/":           false, // base64, not base64url
		"6LTrQQsXTGij0D5zqgEnC":            false,
		"":                                 false,
		"../../etc/passwd":                 false,
	} {
		if got := IsClickToken(tok); got != want {
			t.Errorf("IsClickToken(%q) = %t, want %t", tok, got, want)
		}
	}
}
