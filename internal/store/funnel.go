package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Funnel steps of a case (CONTRACTS §8), in order, the grants that had
// no claim (免申即享, or 金保 paying without one), counted beside granted
// and within it, and the two answers that are counted beside them.
const (
	StepMatched   = "matched"
	StepSent      = "sent"
	StepDelivered = "delivered"
	StepOpened    = "opened"
	StepClaimed   = "claimed"
	StepApproved  = "approved"
	StepGranted   = "granted"
	// StepGrantedUnclaimed is a grant of a case never claimed: part of
	// granted, not a step after it.
	StepGrantedUnclaimed = "granted_unclaimed"
	StepDisputed         = "disputed"
	StepStopped          = "stopped"
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
// the day it first got there), for one policy or all (policyID ""); a
// grant of a case with no claim counts under granted and again under
// granted_unclaimed.
// A dispute is a case's first correction request; a stop its decline on
// the notice page. Each table is read once and aggregated per match
// (hash joins), not probed per match, so that the whole funnel costs a
// few scans.
func (s *Store) CaseFunnel(ctx context.Context, policyID string, since time.Time) ([]FunnelCount, error) {
	rows, err := s.pool.Query(ctx, `
WITH m AS (
    SELECT id, policy_id, CASE WHEN event_id IS NULL THEN 'sweep'
                               WHEN starts_with(event_id, 'sweep:') THEN split_part(event_id, ':', 2)
                               ELSE 'event' END AS src, created_at
    FROM matches WHERE $1 = '' OR policy_id = $1
), o AS (
    SELECT match_id, min(sent_at) AS sent, min(delivered_at) AS delivered, min(clicked_at) AS opened
    FROM outbox WHERE $1 = '' OR match_id IN (SELECT id FROM m) GROUP BY 1
), e AS (
    SELECT match_id, min(at) FILTER (WHERE to_status = 'approved') AS approved, min(at) FILTER (WHERE to_status = 'declined') AS stopped
    FROM case_events WHERE to_status IN ('approved', 'declined') AND ($1 = '' OR match_id IN (SELECT id FROM m)) GROUP BY 1
), r AS (
    SELECT match_id, min(reported_at) AS disputed
    FROM correction_requests WHERE $1 = '' OR match_id IN (SELECT id FROM m) GROUP BY 1
), steps AS (
    SELECT m.policy_id, m.src, v.step, v.at, v.amount
    FROM m LEFT JOIN o ON o.match_id = m.id LEFT JOIN e ON e.match_id = m.id LEFT JOIN r ON r.match_id = m.id
    LEFT JOIN cases c ON c.match_id = m.id
    CROSS JOIN LATERAL (VALUES ('matched', m.created_at, NULL::numeric), ('sent', o.sent, NULL), ('delivered', o.delivered, NULL),
        ('opened', o.opened, NULL), ('claimed', c.claimed_at, NULL), ('approved', e.approved, NULL),
        ('granted', c.granted_at, c.granted_amount), ('granted_unclaimed', CASE WHEN c.claimed_at IS NULL THEN c.granted_at END, NULL),
        ('disputed', r.disputed, NULL), ('stopped', e.stopped, NULL)) AS v(step, at, amount)
    WHERE v.at IS NOT NULL
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
