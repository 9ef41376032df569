package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Funnel steps of a case (CONTRACTS §8), in order, and the two answers
// that are counted beside them.
const (
	StepMatched   = "matched"
	StepSent      = "sent"
	StepDelivered = "delivered"
	StepOpened    = "opened"
	StepClaimed   = "claimed"
	StepApproved  = "approved"
	StepGranted   = "granted"
	StepDisputed  = "disputed"
	StepStopped   = "stopped"
)

// FunnelSteps are the steps of the chain, in order.
var FunnelSteps = []string{StepMatched, StepSent, StepDelivered, StepOpened, StepClaimed, StepApproved, StepGranted}

// Sources of a match in the funnel: a profile event, a backfill (when a
// policy is published or changes version), the time sweep (the daily
// re-evaluation), or "sweep" for a match a sweep made before sweeps named
// themselves (match.SweepEventID).
const (
	SourceEvent    = "event"
	SourceBackfill = "backfill"
	SourceTime     = "time"
	SourceSweep    = "sweep"
)

// FunnelCount is how many cases of a policy, from one source, reached a
// step on one day (Asia/Shanghai), and for granted the amount.
type FunnelCount struct {
	PolicyID string
	Source   string
	Day      time.Time // midnight UTC of the Shanghai day
	Step     string
	Cases    int
	Amount   float64
}

// CaseFunnel counts, per policy, source, Shanghai day and step, the cases
// that reached the step since since (each case counted once per step, on
// the day it first got there), for one policy or all (policyID "").
// A dispute is a case's first correction request; a stop its decline on
// the notice page.
func (s *Store) CaseFunnel(ctx context.Context, policyID string, since time.Time) ([]FunnelCount, error) {
	rows, err := s.pool.Query(ctx, `
WITH m AS (
    SELECT id, policy_id, CASE WHEN event_id IS NULL THEN 'sweep'
                               WHEN starts_with(event_id, 'sweep:') THEN split_part(event_id, ':', 2)
                               ELSE 'event' END AS src, created_at
    FROM matches WHERE $1 = '' OR policy_id = $1
), steps AS (
    SELECT policy_id, src, 'matched' AS step, created_at AS at, NULL::numeric AS amount FROM m
    UNION ALL
    SELECT m.policy_id, m.src, s.step, s.at, NULL
    FROM m CROSS JOIN LATERAL (
        SELECT 'sent' AS step, min(sent_at) AS at FROM outbox WHERE match_id = m.id
        UNION ALL SELECT 'delivered', min(delivered_at) FROM outbox WHERE match_id = m.id
        UNION ALL SELECT 'opened', min(clicked_at) FROM outbox WHERE match_id = m.id
        UNION ALL SELECT 'approved', min(at) FROM case_events WHERE match_id = m.id AND to_status = 'approved'
        UNION ALL SELECT 'stopped', min(at) FROM case_events WHERE match_id = m.id AND to_status = 'declined'
        UNION ALL SELECT 'disputed', min(reported_at) FROM correction_requests WHERE match_id = m.id
    ) AS s
    WHERE s.at IS NOT NULL
    UNION ALL
    SELECT m.policy_id, m.src, 'claimed', c.claimed_at, NULL FROM m JOIN cases c ON c.match_id = m.id WHERE c.claimed_at IS NOT NULL
    UNION ALL
    SELECT m.policy_id, m.src, 'granted', c.granted_at, c.granted_amount FROM m JOIN cases c ON c.match_id = m.id WHERE c.granted_at IS NOT NULL
)
SELECT policy_id, src, (at AT TIME ZONE 'Asia/Shanghai')::date::timestamp, step, count(*)::int, coalesce(sum(amount), 0)::float8
FROM steps WHERE at >= $2
GROUP BY 1, 2, 3, 4 ORDER BY 1, 3, 2, 4`, policyID, since)
	if err != nil {
		return nil, fmt.Errorf("case funnel: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[FunnelCount])
	if err != nil {
		return nil, fmt.Errorf("case funnel: %w", err)
	}
	return out, nil
}

// MedianMatchToGrant returns, per policy (one, or all for ""), the median
// hours from match to grant of the cases granted since since.
func (s *Store) MedianMatchToGrant(ctx context.Context, policyID string, since time.Time) (map[string]float64, error) {
	rows, err := s.pool.Query(ctx, `
SELECT m.policy_id, percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM c.granted_at - m.created_at) / 3600)::float8
FROM cases c JOIN matches m ON m.id = c.match_id
WHERE c.granted_at IS NOT NULL AND c.granted_at >= $2 AND ($1 = '' OR m.policy_id = $1)
GROUP BY 1`, policyID, since)
	if err != nil {
		return nil, fmt.Errorf("median match to grant: %w", err)
	}
	out := map[string]float64{}
	var (
		p string
		h float64
	)
	_, err = pgx.ForEachRow(rows, []any{&p, &h}, func() error { out[p] = h; return nil })
	if err != nil {
		return nil, fmt.Errorf("median match to grant: %w", err)
	}
	return out, nil
}
