package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// WaitingNotice is an outbox row in 'waiting': a notice no channel could
// reach (Reason "unreachable") or that the subject had refused (Reason
// "no_consent") when it was routed. The dispatcher never claims it; only a
// later change of the subject's profile, routed again, moves it on.
type WaitingNotice struct {
	ID       int64
	PolicyID string
	Reason   string
}

// WaitingNotices returns the waiting notices of keys, by subject, in id
// order. Subjects with none are absent.
func (tx *Tx) WaitingNotices(ctx context.Context, keys []SubjectKey) (map[SubjectKey][]WaitingNotice, error) {
	out := make(map[SubjectKey][]WaitingNotice)
	if len(keys) == 0 {
		return out, nil
	}
	types, ids := keyArrays(dedupeKeys(keys))
	rows, err := tx.tx.Query(ctx, selectWaiting, types, ids)
	if err != nil {
		return nil, fmt.Errorf("waiting notices: %w", err)
	}
	if err := scanWaiting(rows, out); err != nil {
		return nil, err
	}
	return out, nil
}

// selectWaiting reads the waiting notices of the subjects $1 (types), $2
// (ids), which must be distinct. It goes from each subject to its matches
// and from each match to its notices, by their keys (OFFSET 0 keeps the
// planner from flattening the subqueries): read from the waiting notices,
// as the planner would otherwise choose, its cost grows with every notice
// that waits, of any subject.
const selectWaiting = `
SELECT u.t, u.i, o.id, m.policy_id, coalesce(o.reason, '')
FROM unnest($1::text[], $2::text[]) AS u(t, i)
CROSS JOIN LATERAL (SELECT m.id, m.policy_id FROM matches m
                    WHERE m.subject_type = u.t AND m.subject_id = u.i OFFSET 0) AS m
CROSS JOIN LATERAL (SELECT o.id, o.reason FROM outbox o
                    WHERE o.match_id = m.id AND o.status = 'waiting' OFFSET 0) AS o
ORDER BY o.id`

func scanWaiting(rows pgx.Rows, out map[SubjectKey][]WaitingNotice) error {
	var (
		k SubjectKey
		w WaitingNotice
	)
	_, err := pgx.ForEachRow(rows, []any{&k.Type, &k.ID, &w.ID, &w.PolicyID, &w.Reason}, func() error {
		out[k] = append(out[k], w)
		return nil
	})
	if err != nil {
		return fmt.Errorf("waiting notices: %w", err)
	}
	return nil
}

// Rerouted is a waiting notice routed again. Status "pending" sends it on
// Channel, with Fallback, from DueAt; its age and retry budget count from
// then, not from when it began to wait. Status "waiting" keeps it waiting
// with a new Reason.
type Rerouted struct {
	ID       int64
	PolicyID string // for the caller's counts; not written
	Status   string
	Reason   string
	Channel  string
	Fallback []string
	DueAt    time.Time
}

// rerouteNotices applies Batch.Rerouted. Only rows still waiting change: a
// notice cancelled meanwhile (its policy repealed) stays cancelled, and a
// replayed event, which is not applied again, never gets here.
const rerouteNotices = `
UPDATE outbox o SET
    status           = u.status,
    reason           = nullif(u.reason, ''),
    channel          = CASE WHEN u.status = 'pending' THEN u.channel ELSE o.channel END,
    fallback         = CASE WHEN u.status = 'pending'
                            THEN ARRAY(SELECT f FROM jsonb_array_elements_text(u.fallback) WITH ORDINALITY AS e(f, n) ORDER BY n)
                            ELSE o.fallback END,
    due_at           = CASE WHEN u.status = 'pending' THEN u.due_at ELSE o.due_at END,
    requeued_at      = CASE WHEN u.status = 'pending' THEN u.due_at ELSE o.requeued_at END,
    requeue_attempts = CASE WHEN u.status = 'pending' THEN o.attempts ELSE o.requeue_attempts END,
    updated_at       = now()
FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::jsonb[], $6::timestamptz[])
     AS u(id, status, reason, channel, fallback, due_at)
WHERE o.id = u.id AND o.status = 'waiting'`

func reroutedArgs(rs []Rerouted) ([]any, error) {
	rs = dedupeLast(rs, func(r Rerouted) int64 { return r.ID })
	var (
		ids      = make([]int64, len(rs))
		status   = make([]string, len(rs))
		reasons  = make([]string, len(rs))
		channels = make([]string, len(rs))
		fallback = make([][]byte, len(rs))
		due      = make([]time.Time, len(rs))
	)
	for n, r := range rs {
		if r.Status != "pending" && r.Status != "waiting" {
			return nil, fmt.Errorf("rerouted notice %d: status %q is neither pending nor waiting", r.ID, r.Status)
		}
		fb := []byte("[]")
		if len(r.Fallback) > 0 {
			var err error
			if fb, err = json.Marshal(r.Fallback); err != nil {
				return nil, fmt.Errorf("rerouted notice %d: fallback: %w", r.ID, err)
			}
		}
		ids[n], status[n], reasons[n], channels[n], fallback[n], due[n] = r.ID, r.Status, r.Reason, r.Channel, fb, r.DueAt
	}
	return []any{ids, status, reasons, channels, fallback, due}, nil
}
