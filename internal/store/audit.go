package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// querier is what a pool and a transaction share, so that one statement
// serves a change alone and a change with its audit row.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// AuditEntry is one row of the audit log: who (Actor, with ActorRole) did
// what (Action) to which subject or policy, when. Detail must never hold
// personal data: no mobile, no openid.
type AuditEntry struct {
	ID          int64          `json:"id"`
	At          time.Time      `json:"at"`
	Actor       string         `json:"actor"`
	ActorRole   string         `json:"actor_role"`
	Action      string         `json:"action"`
	SubjectType string         `json:"subject_type,omitempty"`
	SubjectID   string         `json:"subject_id,omitempty"`
	PolicyID    string         `json:"policy_id,omitempty"`
	Detail      map[string]any `json:"detail,omitempty"`
}

// AuditFilter selects audit rows; empty fields select all. Before, when
// not 0, pages back: only rows with a smaller id.
type AuditFilter struct {
	Actor       string
	SubjectType string
	SubjectID   string
	Before      int64
}

// Audit writes e to the audit log.
func (s *Store) Audit(ctx context.Context, e AuditEntry) error {
	return audit(ctx, s.pool, e)
}

func audit(ctx context.Context, q querier, e AuditEntry) error {
	if e.Actor == "" || e.ActorRole == "" || e.Action == "" || e.At.IsZero() {
		return errors.New("audit: an entry needs its actor, role, action and time")
	}
	var detail []byte
	if len(e.Detail) > 0 {
		var err error
		if detail, err = json.Marshal(e.Detail); err != nil {
			return fmt.Errorf("audit %s: %w", e.Action, err)
		}
	}
	_, err := q.Exec(ctx, `INSERT INTO audit_log (at, actor, actor_role, action, subject_type, subject_id, policy_id, detail)
VALUES ($1, $2, $3, $4, NULLIF($5, ''), NULLIF($6, ''), NULLIF($7, ''), $8::jsonb)`,
		e.At, e.Actor, e.ActorRole, e.Action, e.SubjectType, e.SubjectID, e.PolicyID, detail)
	if err != nil {
		return fmt.Errorf("audit %s: %w", e.Action, err)
	}
	return nil
}

// audited runs change and writes e in one transaction, so that a change
// is never made without its audit row, nor recorded without being made.
// change may add to e.Detail what it learnt (how many rows it changed).
func (s *Store) audited(ctx context.Context, e AuditEntry, change func(q querier, e *AuditEntry) error) error {
	return s.InTx(ctx, func(tx *Tx) error {
		if err := change(tx.tx, &e); err != nil {
			return err
		}
		return audit(ctx, tx.tx, e)
	})
}

// detail sets key in e's detail.
func (e *AuditEntry) detail(key string, v any) {
	if e.Detail == nil {
		e.Detail = map[string]any{}
	}
	e.Detail[key] = v
}

// AuditLog returns up to limit audit rows that f selects, newest first.
func (s *Store) AuditLog(ctx context.Context, f AuditFilter, limit int) ([]AuditEntry, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, at, actor, actor_role, action,
       coalesce(subject_type, ''), coalesce(subject_id, ''), coalesce(policy_id, ''), detail
FROM audit_log
WHERE ($1 = '' OR actor = $1) AND ($2 = '' OR subject_type = $2) AND ($3 = '' OR subject_id = $3)
  AND ($4 = 0 OR id < $4)
ORDER BY id DESC LIMIT $5`, f.Actor, f.SubjectType, f.SubjectID, f.Before, limit)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	var (
		out    []AuditEntry
		e      AuditEntry
		detail []byte
	)
	_, err = pgx.ForEachRow(rows, []any{&e.ID, &e.At, &e.Actor, &e.ActorRole, &e.Action, &e.SubjectType, &e.SubjectID, &e.PolicyID, &detail}, func() error {
		row := e
		row.Detail = nil
		if detail != nil {
			if err := json.Unmarshal(detail, &row.Detail); err != nil {
				return err
			}
		}
		out = append(out, row)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	return out, nil
}

// OptOutAudited is OptOut made by an officer: the opt-out and its audit
// row e are written in one transaction.
func (s *Store) OptOutAudited(ctx context.Context, k SubjectKey, channel, source string, at time.Time, e AuditEntry) error {
	return s.audited(ctx, e, func(q querier, _ *AuditEntry) error { return optOut(ctx, q, k, channel, source, at) })
}

// OptInAudited is OptIn made by an officer, with its audit row e in the
// same transaction; e's detail gets "removed", the count.
func (s *Store) OptInAudited(ctx context.Context, k SubjectKey, channel string, e AuditEntry) (n int, err error) {
	err = s.audited(ctx, e, func(q querier, e *AuditEntry) error {
		n, err = optIn(ctx, q, k, channel)
		e.detail("removed", n)
		return err
	})
	return n, err
}

// RequeueDeadAudited is RequeueDead made by an officer, with its audit row
// e in the same transaction; e's detail gets "requeued", the count.
func (s *Store) RequeueDeadAudited(ctx context.Context, ids []int64, policyID string, at time.Time, e AuditEntry) (out []int64, err error) {
	err = s.audited(ctx, e, func(q querier, e *AuditEntry) error {
		out, err = requeueDead(ctx, q, ids, policyID, at)
		e.detail("requeued", len(out))
		return err
	})
	return out, err
}
