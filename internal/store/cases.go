package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/policypush/policypush/internal/rules"
)

// Cases (CONTRACTS §8): a case is a match as it moves from matched to
// granted. Its first three steps (matched, notified, opened) and a lapse
// without a row are derived from matches and outbox, so that the hot paths
// write nothing more; the cases row exists from the first answer or grant
// on, and a trigger (migration 00023) records each of its statuses in
// case_events with time and actor.

// Actor kinds of case_events.
const (
	ActorSystem  = "system"
	ActorCitizen = "citizen"
	ActorOfficer = "officer"
)

// derivedStatus is the SQL of a case's status, for matches m left joined
// to cases c.
const derivedStatus = `coalesce(c.status, CASE WHEN m.status = 'lapsed' THEN 'lapsed'
    WHEN EXISTS (SELECT 1 FROM outbox x WHERE x.match_id = m.id AND x.clicked_at IS NOT NULL) THEN 'opened'
    WHEN EXISTS (SELECT 1 FROM outbox x WHERE x.match_id = m.id AND x.sent_at IS NOT NULL) THEN 'notified'
    ELSE 'matched' END)`

// setActor makes the case changes of tx recorded as by kind (and name).
func setActor(ctx context.Context, q querier, kind, name string) error {
	if _, err := q.Exec(ctx, `SELECT set_config('policypush.actor_kind', $1, true), set_config('policypush.actor', $2, true)`, kind, name); err != nil {
		return fmt.Errorf("set actor: %w", err)
	}
	return nil
}

// Grant is a benefits_received entry of a profile event: the money of
// PolicyID went out to the subject.
type Grant struct {
	Key       SubjectKey
	PolicyID  string
	Amount    *float64
	GrantedOn time.Time // the day, as Asia/Shanghai sees it
	EventID   string
}

// grantCases marks granted the cases of the batch's grants, whatever
// their status short of granted: 免申即享 cases are granted unclaimed. A
// grant of a pair without a match has no case, and is left alone. So is
// one that cannot be the case's own: an entry of a match made in this
// very transaction (a first profile that lists earlier benefits, such as
// a skill subsidy received twice this year already) or dated before the
// match was evaluated.
const grantCases = `
INSERT INTO cases AS c (match_id, status, granted_at, granted_on, granted_amount, grant_event_id, updated_at)
SELECT m.id, 'granted', now(), u.d, u.a, u.e, now()
FROM unnest($1::text[], $2::text[], $3::text[], $4::numeric[], $5::date[], $6::text[]) AS u(t, i, p, a, d, e)
JOIN matches m ON m.subject_type = u.t AND m.subject_id = u.i AND m.policy_id = u.p
WHERE m.created_at < now() AND u.d >= (m.evaluated_at AT TIME ZONE 'Asia/Shanghai')::date
ON CONFLICT (match_id) DO UPDATE
SET status = 'granted', granted_at = excluded.granted_at, granted_on = excluded.granted_on,
    granted_amount = excluded.granted_amount, grant_event_id = excluded.grant_event_id, updated_at = excluded.updated_at
WHERE c.status <> 'granted'`

func grantArgs(gs []Grant) []any {
	gs = dedupeFirst(gs, func(g Grant) PolicyRef { return PolicyRef{g.Key, g.PolicyID} })
	var (
		types, ids, pols, events = make([]string, len(gs)), make([]string, len(gs)), make([]string, len(gs)), make([]string, len(gs))
		amounts                  = make([]*float64, len(gs))
		days                     = make([]string, len(gs))
	)
	for n, g := range gs {
		types[n], ids[n], pols[n], events[n], amounts[n] = g.Key.Type, g.Key.ID, g.PolicyID, g.EventID, g.Amount
		days[n] = g.GrantedOn.In(rules.Shanghai).Format(time.DateOnly)
	}
	return []any{types, ids, pols, amounts, days, events}
}

// lapseCases lapses the cases of lapsed matches that no decision has
// reached yet: a claim or a dispute of someone who no longer qualifies.
// An approved or granted case stays: a grant is often what makes a rule
// ("not already received") stop matching.
const lapseCases = `
UPDATE cases AS c SET status = 'lapsed', updated_at = now()
FROM unnest($1::text[], $2::text[], $3::text[]) AS u(t, i, p), matches m
WHERE m.subject_type = u.t AND m.subject_id = u.i AND m.policy_id = u.p AND c.match_id = m.id
  AND c.status IN ('matched', 'notified', 'opened', 'claimed', 'disputed')`

// reviveCases gives a lapsed case, whose match is active again, the
// status it had before its lapse.
const reviveCases = `
UPDATE cases AS c SET status = coalesce((SELECT e.from_status FROM case_events e
        WHERE e.match_id = c.match_id AND e.to_status = 'lapsed' ORDER BY e.id DESC LIMIT 1), 'matched'),
    updated_at = now()
FROM unnest($1::text[], $2::text[], $3::text[]) AS u(t, i, p), matches m
WHERE m.subject_type = u.t AND m.subject_id = u.i AND m.policy_id = u.p AND c.match_id = m.id
  AND c.status = 'lapsed'`

// Claim records a claim (确认申领) of the match by its citizen, as
// ClaimCase does; without review (the rule has no review: true) the claim
// is approved at once by the system, in the same transaction. It returns
// the case's status afterwards.
func (s *Store) Claim(ctx context.Context, matchID int64, confirmed, review bool, at time.Time) (string, error) {
	var status string
	err := s.InTx(ctx, func(tx *Tx) error {
		if err := setActor(ctx, tx.tx, ActorCitizen, ""); err != nil {
			return err
		}
		if err := tx.tx.QueryRow(ctx, `
WITH up AS (
    INSERT INTO cases AS c (match_id, status, confirmed, claimed_at, updated_at)
    VALUES ($1, 'claimed', $2, $3, $3)
    ON CONFLICT (match_id) DO UPDATE
    SET status = 'claimed', confirmed = c.confirmed OR excluded.confirmed,
        claimed_at = coalesce(c.claimed_at, excluded.claimed_at), updated_at = excluded.updated_at
    WHERE c.status IN `+claimable+`
    RETURNING status
)
SELECT status FROM up UNION ALL SELECT status FROM cases WHERE match_id = $1 AND NOT EXISTS (SELECT 1 FROM up)`,
			matchID, confirmed, at).Scan(&status); err != nil {
			return err
		}
		if review || status != "claimed" {
			return nil
		}
		if err := setActor(ctx, tx.tx, ActorSystem, "no review"); err != nil {
			return err
		}
		return tx.tx.QueryRow(ctx, `UPDATE cases SET status = 'approved', decided_at = $2, decided_by = 'system', reason = '无需审核', updated_at = $2
WHERE match_id = $1 AND status = 'claimed' RETURNING status`, matchID, at).Scan(&status)
	})
	if err != nil {
		return "", fmt.Errorf("claim case: %w", err)
	}
	return status, nil
}

// Case is a case as officers see it: never the subject's id, only its
// mask.
type Case struct {
	ID            int64     `json:"id"` // the match's id
	SubjectType   string    `json:"subject_type"`
	SubjectMasked string    `json:"subject_masked"`
	PolicyID      string    `json:"policy_id"`
	Status        string    `json:"status"`
	Amount        *float64  `json:"amount"` // the granted amount once granted, else the estimate
	UpdatedAt     time.Time `json:"updated_at"`

	// For the review queue.
	Explanation json.RawMessage `json:"explanation,omitempty"`
	DataAsOf    *time.Time      `json:"data_as_of"`
	ClaimedAt   *time.Time      `json:"claimed_at,omitempty"`
	DecidedAt   *time.Time      `json:"decided_at,omitempty"`
	DecidedBy   string          `json:"decided_by,omitempty"`
	Reason      string          `json:"reason,omitempty"`
	GrantedOn   *time.Time      `json:"granted_on,omitempty"`
}

// MaskSubject masks a subject id for officers' lists: the first 2 and
// last 2 characters stay (a USCC's registration authority and check
// digit; a person_id tells nothing more).
func MaskSubject(id string) string { return maskKeep(id, 2, 2) }

// MaskName masks an enterprise's name for 公示: the first two and last two
// characters stay, so 成都示例科技有限公司 becomes 成都****公司.
func MaskName(name string) string { return maskKeep(name, 2, 2) }

func maskKeep(s string, head, tail int) string {
	r := []rune(s)
	if len(r) <= head+tail {
		return "****"
	}
	return string(r[:head]) + "****" + string(r[len(r)-tail:])
}

// CaseFilter selects cases; empty fields select all.
type CaseFilter struct {
	PolicyID string
	Status   string
	Limit    int // 0: 1000
}

const caseColumns = `m.id, m.subject_type, m.subject_id, m.policy_id, ` + derivedStatus + `,
    coalesce(c.granted_amount, m.amount)::float8, coalesce(c.updated_at, m.created_at),
    ` + explanationCols + `,
    coalesce((SELECT e.occurred_at FROM applied_events e WHERE e.event_id = m.event_id),
             (SELECT max(w.occurred_at) FROM source_watermarks w WHERE w.subject_type = m.subject_type AND w.subject_id = m.subject_id)),
    c.claimed_at, c.decided_at, coalesce(c.decided_by, ''), coalesce(c.reason, ''), c.granted_on::timestamp`

func scanCase(row pgx.Row) (Case, error) {
	var (
		c        Case
		id       string
		granted  *time.Time
		x        storedExplanation
		dataAsOf *time.Time
	)
	if err := row.Scan(&c.ID, &c.SubjectType, &id, &c.PolicyID, &c.Status, &c.Amount, &c.UpdatedAt, &x.legacy, &x.values, &x.form, &dataAsOf,
		&c.ClaimedAt, &c.DecidedAt, &c.DecidedBy, &c.Reason, &granted); err != nil {
		return Case{}, err
	}
	c.SubjectMasked = MaskSubject(id)
	explain, err := x.JSON(SubjectKey{Type: c.SubjectType, ID: id})
	if err != nil {
		return Case{}, err
	}
	c.Explanation = explain
	c.DataAsOf = dataAsOf
	c.GrantedOn = granted
	return c, nil
}

// Cases lists cases by f, most recently changed first.
func (s *Store) Cases(ctx context.Context, f CaseFilter) ([]Case, error) {
	if f.Limit <= 0 {
		f.Limit = 1000
	}
	// A status only a cases row holds is found through its index, not by
	// deriving every match's status (the review queue's claimed, say).
	written := ""
	switch f.Status {
	case "claimed", "disputed", "declined", "approved", "rejected", "granted":
		written = ` AND c.status = $2`
	}
	rows, err := s.pool.Query(ctx, `SELECT * FROM (SELECT `+caseColumns+`
FROM matches m LEFT JOIN cases c ON c.match_id = m.id
WHERE ($1 = '' OR m.policy_id = $1)`+written+`) AS k(id, st, sid, pid, status, amount, updated, ex, asof, ca, da, db, r, g)
WHERE $2 = '' OR status = $2
ORDER BY updated DESC, id DESC LIMIT $3`, f.PolicyID, f.Status, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("cases: %w", err)
	}
	defer rows.Close()
	out := []Case{}
	for rows.Next() {
		c, err := scanCase(rows)
		if err != nil {
			return nil, fmt.Errorf("cases: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cases: %w", err)
	}
	return out, nil
}

// CaseByID returns one case, or ErrNotFound.
func (s *Store) CaseByID(ctx context.Context, id int64) (Case, error) {
	return caseByID(ctx, s.pool, id)
}

func caseByID(ctx context.Context, q querier, id int64) (Case, error) {
	c, err := scanCase(q.QueryRow(ctx, `SELECT `+caseColumns+` FROM matches m LEFT JOIN cases c ON c.match_id = m.id WHERE m.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Case{}, ErrNotFound
	}
	if err != nil {
		return Case{}, fmt.Errorf("case %d: %w", id, err)
	}
	return c, nil
}

// CaseStateError is a decision on a case that is not awaiting one.
type CaseStateError struct {
	ID     int64
	Status string
}

func (e *CaseStateError) Error() string {
	return fmt.Sprintf("case %d is %s, not claimed: only a claimed case can be approved or rejected", e.ID, e.Status)
}

// Decision is an officer's approval or rejection of claimed cases.
type Decision struct {
	IDs     []int64
	Approve bool
	Officer string
	Reason  string
	At      time.Time
}

// DecideCases approves or rejects the cases d names, in one transaction
// with the audit rows (one per case, Action from e): either all are
// decided or none. A case that is not claimed is a *CaseStateError, an
// unknown one ErrNotFound. It returns the cases as decided.
func (s *Store) DecideCases(ctx context.Context, d Decision, e AuditEntry) ([]Case, error) {
	status := "rejected"
	if d.Approve {
		status = "approved"
	}
	var out []Case
	err := s.InTx(ctx, func(tx *Tx) error {
		if err := setActor(ctx, tx.tx, ActorOfficer, d.Officer); err != nil {
			return err
		}
		out = out[:0]
		for _, id := range d.IDs {
			var (
				cur     *string
				pol     string
				sid     string
				subject string
			)
			err := tx.tx.QueryRow(ctx, `SELECT c.status, m.policy_id, m.subject_type, m.subject_id FROM matches m
LEFT JOIN cases c ON c.match_id = m.id WHERE m.id = $1 FOR UPDATE OF m`, id).Scan(&cur, &pol, &subject, &sid)
			if errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("case %d: %w", id, ErrNotFound)
			}
			if err != nil {
				return err
			}
			if cur == nil || *cur != "claimed" {
				c, err := caseByID(ctx, tx.tx, id)
				if err != nil {
					return err
				}
				return &CaseStateError{ID: id, Status: c.Status}
			}
			if _, err := tx.tx.Exec(ctx, `UPDATE cases SET status = $2, decided_at = $3, decided_by = $4, reason = $5, updated_at = $3
WHERE match_id = $1`, id, status, d.At, d.Officer, d.Reason); err != nil {
				return err
			}
			ae := e
			ae.SubjectType, ae.SubjectID, ae.PolicyID = subject, sid, pol
			ae.Detail = map[string]any{"case": id, "status": status, "reason": d.Reason}
			if err := audit(ctx, tx.tx, ae); err != nil {
				return err
			}
			c, err := caseByID(ctx, tx.tx, id)
			if err != nil {
				return err
			}
			out = append(out, c)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("decide cases: %w", err)
	}
	return out, nil
}

// CaseEvent is one change of a case's status.
type CaseEvent struct {
	From      string    `json:"from"`
	To        string    `json:"to"`
	ActorKind string    `json:"actor_kind"`
	Actor     string    `json:"actor,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	At        time.Time `json:"at"`
}

// CaseHistory is a case's life: its derived steps (matched from the
// match, notified from the first send, opened from the first click) and
// then every written change, oldest first.
func (s *Store) CaseHistory(ctx context.Context, id int64) ([]CaseEvent, error) {
	rows, err := s.pool.Query(ctx, `
SELECT '' AS f, 'matched' AS t, 'system' AS k, '' AS a, '' AS r, m.created_at AS at, 0 AS o FROM matches m WHERE m.id = $1
UNION ALL SELECT 'matched', 'notified', 'system', '', '', min(x.sent_at), 1 FROM outbox x WHERE x.match_id = $1 HAVING min(x.sent_at) IS NOT NULL
UNION ALL SELECT 'notified', 'opened', 'citizen', '', '', min(x.clicked_at), 2 FROM outbox x WHERE x.match_id = $1 HAVING min(x.clicked_at) IS NOT NULL
UNION ALL SELECT coalesce(e.from_status, ''), e.to_status, e.actor_kind, e.actor, e.reason, e.at, 3 + e.id FROM case_events e WHERE e.match_id = $1
ORDER BY o`, id)
	if err != nil {
		return nil, fmt.Errorf("case history: %w", err)
	}
	var (
		out []CaseEvent
		ev  CaseEvent
		o   int64
	)
	_, err = pgx.ForEachRow(rows, []any{&ev.From, &ev.To, &ev.ActorKind, &ev.Actor, &ev.Reason, &ev.At, &o}, func() error {
		out = append(out, ev)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("case history: %w", err)
	}
	return out, nil
}

// ApprovedCase is an approved case for payment (the CSV) and for 公示,
// which masks it: SubjectID and Name are raw here.
type ApprovedCase struct {
	ID            int64
	SubjectType   string
	SubjectID     string
	Name          string // an enterprise's name; "" for residents
	PolicyID      string
	PolicyVersion int
	Amount        *float64
	ClaimedAt     *time.Time
	ApprovedAt    time.Time
	ApprovedBy    string
}

// ApprovedCases lists the policy's cases in status approved, the earliest
// approved first.
func (s *Store) ApprovedCases(ctx context.Context, policyID string) ([]ApprovedCase, error) {
	rows, err := s.pool.Query(ctx, `
SELECT m.id, m.subject_type, m.subject_id, coalesce(CASE WHEN m.subject_type = 'enterprise' THEN p.data->>'name' END, ''),
       m.policy_id, m.policy_version, m.amount::float8, c.claimed_at, coalesce(c.decided_at, c.updated_at), coalesce(c.decided_by, '')
FROM cases c JOIN matches m ON m.id = c.match_id
LEFT JOIN profiles p ON p.subject_type = m.subject_type AND p.subject_id = m.subject_id
WHERE m.policy_id = $1 AND c.status = 'approved'
ORDER BY 9, 1`, policyID)
	if err != nil {
		return nil, fmt.Errorf("approved cases: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[ApprovedCase])
	if err != nil {
		return nil, fmt.Errorf("approved cases: %w", err)
	}
	return out, nil
}

// DisputeSource is the correction requests (信息有误) to one source
// system, for officers: subjects masked, notes' mobiles masked.
type DisputeSource struct {
	Source   string           `json:"source"`
	Open     int              `json:"open"`
	Fixed    int              `json:"fixed"`
	Requests []DisputeRequest `json:"requests"`
}

// DisputeRequest is one correction request in DisputeSource.
type DisputeRequest struct {
	ID            int64      `json:"id"`
	CaseID        int64      `json:"case_id"`
	PolicyID      string     `json:"policy_id"`
	SubjectType   string     `json:"subject_type"`
	SubjectMasked string     `json:"subject_masked"`
	Fields        []string   `json:"fields"`
	Conditions    []string   `json:"conditions"`
	Note          string     `json:"note"`
	Status        string     `json:"status"`
	ReportedAt    time.Time  `json:"reported_at"`
	PublishedAt   *time.Time `json:"published_at"`
	FixedAt       *time.Time `json:"fixed_at"`
}

// Disputes lists the correction requests per source system (all, or the
// one named), newest first within each, at most limit per source.
func (s *Store) Disputes(ctx context.Context, source string, limit int) ([]DisputeSource, error) {
	if limit <= 0 {
		limit = 200
	}
	rows, err := s.pool.Query(ctx, `
SELECT source, id, match_id, policy_id, subject_type, subject_id, fields, conditions, note, status, reported_at, published_at, fixed_at, n_open, n_fixed
FROM (SELECT r.*, m.policy_id,
             row_number() OVER (PARTITION BY r.source ORDER BY r.id DESC) AS rn,
             count(*) FILTER (WHERE r.status = 'open') OVER (PARTITION BY r.source) AS n_open,
             count(*) FILTER (WHERE r.status = 'fixed') OVER (PARTITION BY r.source) AS n_fixed
      FROM correction_requests r JOIN matches m ON m.id = r.match_id
      WHERE $1 = '' OR r.source = $1) AS q
WHERE rn <= $2
ORDER BY source, id DESC`, source, limit)
	if err != nil {
		return nil, fmt.Errorf("disputes: %w", err)
	}
	out := []DisputeSource{}
	var (
		d       DisputeRequest
		src, id string
		open    int
		fixed   int
	)
	_, err = pgx.ForEachRow(rows, []any{&src, &d.ID, &d.CaseID, &d.PolicyID, &d.SubjectType, &id, &d.Fields, &d.Conditions, &d.Note,
		&d.Status, &d.ReportedAt, &d.PublishedAt, &d.FixedAt, &open, &fixed}, func() error {
		if len(out) == 0 || out[len(out)-1].Source != src {
			out = append(out, DisputeSource{Source: src, Open: open, Fixed: fixed})
		}
		r := d
		r.SubjectMasked = MaskSubject(id)
		r.Note = rules.MaskMobiles(d.Note)
		r.Fields, r.Conditions = slices.Clone(d.Fields), slices.Clone(d.Conditions)
		out[len(out)-1].Requests = append(out[len(out)-1].Requests, r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("disputes: %w", err)
	}
	return out, nil
}
