package store

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// A digest's rows begin their call together under one digest id (a row
// settled meanwhile is left out), record their outcomes all or none, and
// a receipt that echoes the digest id settles every one of them.
func TestDigestRows(t *testing.T) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	s, ids := leaseDB(t, 3, at)
	c := Claim{Token: "me", Lease: time.Minute}
	rows, err := s.ClaimOutbox(t.Context(), c, at, 10)
	if err != nil || len(rows) != 3 {
		t.Fatalf("claim: %v %v", rows, err)
	}
	// The first notice is stopped before the call.
	if _, err := s.Pool().Exec(t.Context(), `UPDATE outbox SET status = 'cancelled', claim_token = NULL, claimed_at = NULL, lease_until = NULL
WHERE id = $1`, ids[0]); err != nil {
		t.Fatal(err)
	}
	id, in, err := s.BeginSendDigest(t.Context(), rows, at)
	if err != nil || len(in) != 2 || id != ids[1] {
		t.Fatalf("begin send: id %d, %d rows, %v; want id %d, 2 rows", id, len(in), err, ids[1])
	}
	if n := count(t, s, `SELECT count(*) FROM outbox WHERE digest_id = $1 AND status = 'sending'`, id); n != 2 {
		t.Errorf("%d rows sending in the digest, want 2", n)
	}

	// All or none: one stale claim refuses every outcome.
	outs := []Outcome{
		{ID: in[0].ID, ClaimedAt: in[0].ClaimedAt, ClaimToken: c.Token, Status: "unknown", Reason: "unknown_outcome"},
		{ID: in[1].ID, ClaimedAt: in[1].ClaimedAt, ClaimToken: "someone-else", Status: "unknown", Reason: "unknown_outcome"},
	}
	if err := s.RecordOutcomes(t.Context(), outs); !errors.Is(err, ErrNotClaimed) {
		t.Errorf("a stale claim: %v, want ErrNotClaimed", err)
	}
	if n := count(t, s, `SELECT count(*) FROM outbox WHERE digest_id = $1 AND status = 'sending'`, id); n != 2 {
		t.Errorf("after a refused outcome, %d rows still sending, want 2", n)
	}
	outs[1].ClaimToken = c.Token
	if err := s.RecordOutcomes(t.Context(), outs); err != nil {
		t.Fatal(err)
	}

	// Aliyun's receipt echoes the digest id as out_id.
	out, _, err := s.RecordReceipt(t.Context(), Receipt{Channel: "sms", ProviderMsgID: "biz-9", Delivered: true, NoticeID: fmt.Sprint(id), At: at})
	if err != nil || out != ReceiptDelivered {
		t.Fatalf("receipt: %v %v", out, err)
	}
	for i, want := range []string{"cancelled", "delivered", "delivered"} {
		if got := status(t, s, ids[i]); got != want {
			t.Errorf("notice %d: %s, want %s", i, got, want)
		}
	}
	// The digest was one message: the cap counts it once.
	if n := count(t, s, `SELECT count(DISTINCT (coalesce(digest_id, id), sent_at)) FROM outbox WHERE sent_at IS NOT NULL`); n != 1 {
		t.Errorf("%d messages sent, want 1", n)
	}
}

func count(t *testing.T, s *Store, q string, args ...any) int {
	t.Helper()
	var n int
	if err := s.Pool().QueryRow(t.Context(), q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
