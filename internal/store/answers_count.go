package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// AnswerCount is how many of one policy's notices were opened, and how
// many of its matches got each answer of the notice page: claimed (确认申领),
// disputed (信息有误: at least one correction request) and stopped (不再接收:
// the case declined).
type AnswerCount struct {
	PolicyID string `json:"policy_id"`
	Opened   int64  `json:"opened"`
	Claimed  int64  `json:"claimed"`
	Disputed int64  `json:"disputed"`
	Stopped  int64  `json:"stopped"`
}

// AnswerCounts returns the answers per policy, for every policy with a
// match, ordered by policy.
func (s *Store) AnswerCounts(ctx context.Context) ([]AnswerCount, error) {
	rows, err := s.pool.Query(ctx, `SELECT m.policy_id,
       count(*) FILTER (WHERE EXISTS (SELECT 1 FROM outbox o WHERE o.match_id = m.id AND o.clicked_at IS NOT NULL)),
       count(*) FILTER (WHERE c.claimed_at IS NOT NULL),
       count(*) FILTER (WHERE EXISTS (SELECT 1 FROM correction_requests r WHERE r.match_id = m.id)),
       count(*) FILTER (WHERE c.status = 'declined')
FROM matches m LEFT JOIN cases c ON c.match_id = m.id
GROUP BY 1 ORDER BY 1`)
	if err != nil {
		return nil, fmt.Errorf("answer counts: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[AnswerCount])
	if err != nil {
		return nil, fmt.Errorf("answer counts: %w", err)
	}
	return out, nil
}
