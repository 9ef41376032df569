package store

import (
	"context"
	"fmt"
	"time"
)

// ClaimCompanions claims, under c with claimed_at = now, the fresh notices
// of the given subjects that fall due by until (the digest window after
// the rows just claimed), so that they go out with them as one message. A
// fresh notice is one pending or deferred with no provider call since it
// was queued or requeued, and not deferred for a spent quota: a retry keeps
// its backoff. It also claims, whenever due, the pending or deferred rows
// that share a digest id with one of the claimed rows (ids), so that a
// digest is sent again whole, never in parts under one id. It returns them
// as ClaimOutbox does.
func (s *Store) ClaimCompanions(ctx context.Context, c Claim, now, until time.Time, claimed []OutboxRow, limit int) ([]OutboxRow, error) {
	if len(claimed) == 0 {
		return nil, nil
	}
	var (
		types, ids []string
		digests    []int64
		seen       = map[SubjectKey]bool{}
	)
	for _, r := range claimed {
		if r.DigestID != 0 {
			digests = append(digests, r.DigestID)
		}
		if !seen[r.Key] {
			seen[r.Key] = true
			types, ids = append(types, r.Key.Type), append(ids, r.Key.ID)
		}
	}
	rows, err := s.pool.Query(ctx, `
WITH due AS (
    SELECT o.id FROM outbox o JOIN matches m ON m.id = o.match_id
    WHERE o.status IN ('pending', 'deferred')
      AND (m.subject_type, m.subject_id) IN (SELECT * FROM unnest($5::text[], $6::text[]))
      AND (o.due_at <= $2 AND o.attempts = o.requeue_attempts AND coalesce(o.reason, '') <> 'quota' AND o.digest_id IS NULL
           OR o.digest_id = ANY($8::bigint[]))
    ORDER BY o.due_at
    LIMIT $7
    FOR UPDATE OF o SKIP LOCKED
), claimed AS (
    UPDATE outbox o SET status = 'claimed', claimed_at = $1, claim_token = $3,
           lease_until = now() + $4::interval, call_started_at = NULL, updated_at = now(),
           click_token = coalesce(o.click_token, `+newClickTokenSQL+`)
    FROM due WHERE o.id = due.id
    RETURNING o.*
)
SELECT `+outboxColumns+` FROM claimed o JOIN matches m ON m.id = o.match_id
ORDER BY o.due_at, o.id`, now, until, c.Token, c.Lease, types, ids, limit, digests)
	if err != nil {
		return nil, fmt.Errorf("claim digest companions: %w", err)
	}
	out, err := scanOutbox(rows)
	if err != nil {
		return nil, fmt.Errorf("claim digest companions: %w", err)
	}
	return out, nil
}

// BeginSendDigest is BeginSend for the notices of one message, in one
// transaction: each row still claimed by the caller (under an unexpired
// lease) moves to 'sending' with call_started_at = at and the channel of the
// call, and all of them get one digest_id, which it returns with the rows
// that are in the message. A row settled meanwhile (an opt-out or a
// withdrawal cancelled it) is left out. The digest id is the id the rows
// already share, when they are a message sent again, else the smallest of
// their ids: it is unique to the message among those on the channel, and
// stable across its resends. With no row left it returns ErrNotClaimed.
func (s *Store) BeginSendDigest(ctx context.Context, rows []OutboxRow, at time.Time) (digestID int64, in []OutboxRow, err error) {
	err = s.InTx(ctx, func(tx *Tx) error {
		var ids []int64
		for _, r := range rows {
			fallback := r.Fallback
			if fallback == nil {
				fallback = []string{}
			}
			tag, err := tx.tx.Exec(ctx, `UPDATE outbox SET status = 'sending', call_started_at = $4, channel = $5, fallback = $6,
       updated_at = now()
WHERE id = $1 AND status = 'claimed' AND claim_token = $2 AND claimed_at = $3 AND lease_until > now()`,
				r.ID, r.ClaimToken, r.ClaimedAt, at, r.Channel, fallback)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				continue
			}
			in = append(in, r)
			ids = append(ids, r.ID)
			id := r.ID
			if r.DigestID != 0 {
				id = r.DigestID
			}
			if digestID == 0 || id < digestID {
				digestID = id
			}
		}
		if len(in) == 0 {
			return ErrNotClaimed
		}
		_, err := tx.tx.Exec(ctx, `UPDATE outbox SET digest_id = $2 WHERE id = ANY($1)`, ids, digestID)
		return err
	})
	if err != nil {
		return 0, nil, fmt.Errorf("begin send of a digest: %w", err)
	}
	return digestID, in, nil
}
