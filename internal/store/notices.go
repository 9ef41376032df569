package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/policypush/policypush/internal/rules"
)

// The notice page (CONTRACTS §7): what a notice's click token opens, the
// person's three answers, and the correction requests they send to source
// systems.

// PageSource is the opt-out source of the notice page's 不再接收.
const PageSource = "page"

// NoticeRecord is what a notice's token opens: the notice's match and its
// case.
type NoticeRecord struct {
	MatchID       int64
	Key           SubjectKey
	PolicyID      string
	PolicyVersion int
	Result        string
	Explanation   json.RawMessage
	Amount        *float64
	MatchStatus   string    // active or lapsed
	CaseStatus    string    // the cases row's status; "" when there is none
	Opened        bool      // a notice of the match was clicked
	SentAt        time.Time // the first send of the match's notices; zero if none
	CreatedAt     time.Time // when the notice was queued
	DataAsOf      time.Time // occurred_at of the event that caused the match (else the latest applied); zero if unknown
	// RejectReason is the officer's reason of a rejected case, which is
	// written for the person; "" for any other status. No other part of
	// the decision (who, when) is read.
	RejectReason string
}

// NoticeByToken returns the notice whose click token is token; found is
// false for an unknown token.
func (s *Store) NoticeByToken(ctx context.Context, token string) (rec NoticeRecord, found bool, err error) {
	var (
		caseStatus *string
		sent       *time.Time
		asOf       *time.Time
		x          storedExplanation
	)
	err = s.pool.QueryRow(ctx, `
SELECT m.id, m.subject_type, m.subject_id, m.policy_id, m.policy_version, m.result, `+explanationCols+`, m.amount::float8,
       m.status, c.status, CASE WHEN c.status = 'rejected' THEN coalesce(c.reason, '') ELSE '' END,
       EXISTS (SELECT 1 FROM outbox x WHERE x.match_id = m.id AND x.clicked_at IS NOT NULL),
       (SELECT min(x.sent_at) FROM outbox x WHERE x.match_id = m.id), o.created_at,
       coalesce((SELECT e.occurred_at FROM applied_events e WHERE e.event_id = m.event_id),
                (SELECT max(w.occurred_at) FROM source_watermarks w
                 WHERE w.subject_type = m.subject_type AND w.subject_id = m.subject_id))
FROM outbox o JOIN matches m ON m.id = o.match_id
LEFT JOIN cases c ON c.match_id = m.id
WHERE o.click_token = $1`, token).Scan(&rec.MatchID, &rec.Key.Type, &rec.Key.ID, &rec.PolicyID, &rec.PolicyVersion,
		&rec.Result, &x.legacy, &x.values, &x.form, &rec.Amount, &rec.MatchStatus, &caseStatus, &rec.RejectReason, &rec.Opened, &sent, &rec.CreatedAt, &asOf)
	if errors.Is(err, pgx.ErrNoRows) {
		return NoticeRecord{}, false, nil
	}
	if err != nil {
		return NoticeRecord{}, false, fmt.Errorf("notice by token: %w", err)
	}
	if rec.Explanation, err = x.JSON(rec.Key); err != nil {
		return NoticeRecord{}, false, fmt.Errorf("notice by token: %w", err)
	}
	if caseStatus != nil {
		rec.CaseStatus = *caseStatus
	}
	if sent != nil {
		rec.SentAt = *sent
	}
	if asOf != nil {
		rec.DataAsOf = *asOf
	}
	return rec, true, nil
}

// OpenNotice is another notice of a subject that still awaits an answer.
type OpenNotice struct {
	Token     string
	PolicyID  string
	SentAt    time.Time
	CreatedAt time.Time
}

// OpenNotices lists the subject's sent notices, other than those of match
// except, whose match is active and whose case awaits an answer (none yet,
// or disputed), oldest first.
func (s *Store) OpenNotices(ctx context.Context, k SubjectKey, except int64) ([]OpenNotice, error) {
	rows, err := s.pool.Query(ctx, `
SELECT DISTINCT ON (m.id) o.click_token, m.policy_id, o.sent_at, o.created_at
FROM matches m JOIN outbox o ON o.match_id = m.id
LEFT JOIN cases c ON c.match_id = m.id
WHERE m.subject_type = $1 AND m.subject_id = $2 AND m.id <> $3 AND m.status = 'active'
  AND o.click_token IS NOT NULL AND o.sent_at IS NOT NULL
  AND (c.status IS NULL OR c.status IN ('matched', 'notified', 'opened', 'disputed'))
ORDER BY m.id, o.sent_at`, k.Type, k.ID, except)
	if err != nil {
		return nil, fmt.Errorf("open notices: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[OpenNotice])
	if err != nil {
		return nil, fmt.Errorf("open notices: %w", err)
	}
	slices.SortStableFunc(out, func(a, b OpenNotice) int { return a.SentAt.Compare(b.SentAt) })
	return out, nil
}

// claimable are the case statuses a claim moves to claimed.
const claimable = `('matched', 'notified', 'opened', 'disputed', 'declined')`

// ClaimCase records a claim (确认申领) of the match: its case becomes
// claimed, with confirmed recorded, unless it is claimed already or
// further on (approved, granted…), which a claim leaves alone. It returns
// the case's status afterwards.
func (s *Store) ClaimCase(ctx context.Context, matchID int64, confirmed bool, at time.Time) (string, error) {
	return s.Claim(ctx, matchID, confirmed, true, at)
}

// Correction is a correction request (信息有误), as published on the topic
// profile-corrections (CONTRACTS §7).
type Correction struct {
	ID          int64     `json:"correction_id"`
	SubjectType string    `json:"subject_type"`
	SubjectID   string    `json:"subject_id"`
	Source      string    `json:"source"`
	Fields      []string  `json:"fields"`
	Conditions  []string  `json:"conditions"`
	Note        string    `json:"note"`
	ReportedAt  time.Time `json:"reported_at"`
}

// Dispute is a 信息有误 answer to record: the disputed conditions of a
// match, the fields each reads (dotted paths, lists as one value), and the
// person's note.
type Dispute struct {
	MatchID    int64
	Key        SubjectKey
	Conditions []string            // sorted, distinct
	Fields     map[string][]string // condition → fields it reads
	Note       string
	At         time.Time
}

// RecordDispute records d as one correction request per source that last
// set a disputed field (a field no source is known to have set goes to the
// subject's latest source), and marks the case disputed unless it is
// further on. It returns the first request's id. The same dispute again
// (the same conditions and note, still open) records nothing and returns
// the same id.
func (s *Store) RecordDispute(ctx context.Context, d Dispute) (id int64, err error) {
	err = s.InTx(ctx, func(tx *Tx) error {
		if err := tx.LockSubjects(ctx, []SubjectKey{d.Key}); err != nil {
			return err
		}
		if err := setActor(ctx, tx.tx, ActorCitizen, ""); err != nil {
			return err
		}
		err := tx.tx.QueryRow(ctx, `SELECT id FROM correction_requests
WHERE match_id = $1 AND status = 'open' AND conditions = $2::text[] AND note = $3
ORDER BY id LIMIT 1`, d.MatchID, d.Conditions, d.Note).Scan(&id)
		if err == nil {
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		var sources map[string]string
		var latest *string
		err = tx.tx.QueryRow(ctx, `SELECT (SELECT sources FROM field_sources WHERE subject_type = $1 AND subject_id = $2),
       (SELECT source FROM source_watermarks WHERE subject_type = $1 AND subject_id = $2 ORDER BY occurred_at DESC, source LIMIT 1)`,
			d.Key.Type, d.Key.ID).Scan(&sources, &latest)
		if err != nil {
			return err
		}
		fallback := "unknown"
		if latest != nil {
			fallback = *latest
		}
		type req struct {
			fields, conds []string
		}
		bySource := map[string]*req{}
		var order []string
		for _, c := range d.Conditions {
			for _, f := range d.Fields[c] {
				src := sourceOf(sources, f, fallback)
				r := bySource[src]
				if r == nil {
					r = &req{}
					bySource[src] = r
					order = append(order, src)
				}
				if !slices.Contains(r.fields, f) {
					r.fields = append(r.fields, f)
				}
				if !slices.Contains(r.conds, c) {
					r.conds = append(r.conds, c)
				}
			}
		}
		if len(order) == 0 { // conditions that read no field (only params or now)
			order = []string{fallback}
			bySource[fallback] = &req{fields: []string{}, conds: d.Conditions}
		}
		slices.Sort(order)
		id = 0
		for _, src := range order {
			r := bySource[src]
			slices.Sort(r.fields)
			var rid int64
			// conditions holds every disputed condition, so that the same
			// dispute again finds its requests; the message names them.
			if err := tx.tx.QueryRow(ctx, `INSERT INTO correction_requests (match_id, subject_type, subject_id, source, fields, conditions, note, reported_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`, d.MatchID, d.Key.Type, d.Key.ID, src, r.fields, d.Conditions, d.Note, d.At).Scan(&rid); err != nil {
				return err
			}
			if id == 0 {
				id = rid
			}
		}
		// A lapsed match's case stays lapsed: the request goes to the
		// source, and a corrected profile that meets the conditions again
		// revives the match (and its case) as any change does.
		_, err = tx.tx.Exec(ctx, `INSERT INTO cases AS c (match_id, status, updated_at)
SELECT $1, 'disputed', $2 WHERE NOT EXISTS (SELECT 1 FROM matches WHERE id = $1 AND status = 'lapsed')
ON CONFLICT (match_id) DO UPDATE SET status = 'disputed', updated_at = excluded.updated_at
WHERE c.status IN ('matched', 'notified', 'opened')`, d.MatchID, d.At)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("record dispute: %w", err)
	}
	return id, nil
}

// sourceOf is the source that last set field f (or a field inside or
// around it), else fallback.
func sourceOf(sources map[string]string, f, fallback string) string {
	if src, ok := sources[f]; ok {
		return src
	}
	// The nearest enclosing or the first enclosed path that was set.
	best, bestLen := "", -1
	for p, src := range sources {
		if strings.HasPrefix(f, p+".") && len(p) > bestLen {
			best, bestLen = src, len(p)
		}
	}
	if bestLen >= 0 {
		return best
	}
	var keys []string
	for p := range sources {
		if strings.HasPrefix(p, f+".") {
			keys = append(keys, p)
		}
	}
	if len(keys) > 0 {
		slices.Sort(keys)
		return sources[keys[0]]
	}
	return fallback
}

// Stop scopes of StopNotices.
const (
	StopPolicy = "policy"
	StopAll    = "all"
)

// StopNotices records 不再接收 from the page, in one transaction: scope
// StopPolicy opts the subject out of the match's policy, StopAll out of
// every channel (no proactive notice at all); the notices of the policy
// (or of every policy) that still wait to be sent are cancelled, and the
// match's case is declined unless it is further on. channels are the
// channels StopAll opts out of. Stopping again changes nothing.
func (s *Store) StopNotices(ctx context.Context, matchID int64, k SubjectKey, policyID, scope string, channels []string, at time.Time) error {
	err := s.InTx(ctx, func(tx *Tx) error {
		if err := tx.LockSubjects(ctx, []SubjectKey{k}); err != nil {
			return err
		}
		if err := setActor(ctx, tx.tx, ActorCitizen, ""); err != nil {
			return err
		}
		switch scope {
		case StopPolicy:
			if _, err := tx.tx.Exec(ctx, `INSERT INTO policy_opt_outs (subject_type, subject_id, policy_id, source, at)
VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, k.Type, k.ID, policyID, PageSource, at); err != nil {
				return err
			}
		case StopAll:
			for _, ch := range channels {
				if err := optOut(ctx, tx.tx, k, ch, PageSource, at); err != nil {
					return err
				}
			}
		default:
			return fmt.Errorf("unknown stop scope %q", scope)
		}
		// A row in 'claimed' has not reached a provider: its dispatcher's
		// BeginSend finds it no longer claimed and drops it.
		if _, err := tx.tx.Exec(ctx, `UPDATE outbox o SET status = 'cancelled', reason = 'opted_out',
       claim_token = NULL, lease_until = NULL, updated_at = now()
FROM matches m
WHERE m.id = o.match_id AND m.subject_type = $1 AND m.subject_id = $2 AND ($3 = 'all' OR m.id = $4)
  AND o.status IN ('pending', 'deferred', 'waiting', 'claimed')`, k.Type, k.ID, scope, matchID); err != nil {
			return err
		}
		_, err := tx.tx.Exec(ctx, `INSERT INTO cases AS c (match_id, status, updated_at) VALUES ($1, 'declined', $2)
ON CONFLICT (match_id) DO UPDATE SET status = 'declined', updated_at = excluded.updated_at
WHERE c.status IN ('matched', 'notified', 'opened', 'disputed')`, matchID, at)
		return err
	})
	if err != nil {
		return fmt.Errorf("stop notices: %w", err)
	}
	return nil
}

// PolicyOptedOut reports whether the subject opted out of the policy's
// notices.
func (s *Store) PolicyOptedOut(ctx context.Context, k SubjectKey, policyID string) (bool, error) {
	var out bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM policy_opt_outs
WHERE subject_type = $1 AND subject_id = $2 AND policy_id = $3)`, k.Type, k.ID, policyID).Scan(&out)
	if err != nil {
		return false, fmt.Errorf("policy opt-out: %w", err)
	}
	return out, nil
}

// UnpublishedCorrections returns up to limit correction requests not yet
// published, oldest first.
func (s *Store) UnpublishedCorrections(ctx context.Context, limit int) ([]Correction, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, subject_type, subject_id, source, fields, conditions, note, reported_at
FROM correction_requests WHERE published_at IS NULL ORDER BY id LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("unpublished corrections: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Correction])
	if err != nil {
		return nil, fmt.Errorf("unpublished corrections: %w", err)
	}
	return out, nil
}

// MarkCorrectionsPublished records that the requests ids were published.
func (s *Store) MarkCorrectionsPublished(ctx context.Context, ids []int64, at time.Time) error {
	if _, err := s.pool.Exec(ctx, `UPDATE correction_requests SET published_at = $2 WHERE id = ANY($1) AND published_at IS NULL`, ids, at); err != nil {
		return fmt.Errorf("mark corrections published: %w", err)
	}
	return nil
}

// upsertFieldSources merges, per subject, the fields an event set into
// the source that last set each.
const upsertFieldSources = `
INSERT INTO field_sources AS f (subject_type, subject_id, sources)
SELECT * FROM unnest($1::text[], $2::text[], $3::jsonb[])
ON CONFLICT (subject_type, subject_id) DO UPDATE SET sources = f.sources || excluded.sources`

// fieldSourceArgs merges a batch's field sources per subject, a later
// event's source winning for a field.
func fieldSourceArgs(fs []FieldSources) []any {
	merged := map[SubjectKey]map[string]string{}
	var order []SubjectKey
	for _, f := range fs {
		m := merged[f.Key]
		if m == nil {
			m = map[string]string{}
			merged[f.Key] = m
			order = append(order, f.Key)
		}
		for _, p := range f.Paths {
			m[p] = f.Source
		}
	}
	types, ids := keyArrays(order)
	docs := make([][]byte, len(order))
	for n, k := range order {
		docs[n], _ = json.Marshal(merged[k]) // a map of strings always encodes
	}
	return []any{types, ids, docs}
}

// fixCorrections marks fixed the open correction requests to a source
// about a field that an event from that source changed (a field inside
// or around one of the request's fields counts).
const fixCorrections = `
UPDATE correction_requests c SET status = 'fixed', fixed_at = now()
FROM unnest($1::text[], $2::text[], $3::text[], $4::jsonb[]) AS u(t, i, s, p)
WHERE c.status = 'open' AND c.subject_type = u.t AND c.subject_id = u.i AND c.source = u.s
  AND EXISTS (SELECT 1 FROM unnest(c.fields) AS f, jsonb_array_elements_text(u.p) AS q
              WHERE f = q OR starts_with(f, q || '.') OR starts_with(q, f || '.'))`

func fixArgs(fs []FieldSources) []any {
	var (
		types, ids, srcs = make([]string, len(fs)), make([]string, len(fs)), make([]string, len(fs))
		paths            = make([][]byte, len(fs))
	)
	for n, f := range fs {
		types[n], ids[n], srcs[n] = f.Key.Type, f.Key.ID, f.Source
		paths[n], _ = json.Marshal(f.Paths) // strings always encode
	}
	return []any{types, ids, srcs, paths}
}

// corrections lists the subject's correction requests, newest first, for
// officers: a mobile the person wrote into the note is masked.
func (s *Store) corrections(ctx context.Context, k SubjectKey) ([]CorrectionView, error) {
	rows, err := s.pool.Query(ctx, `SELECT c.id, c.subject_type, c.subject_id, c.source, c.fields, c.conditions, c.note, c.reported_at,
       m.policy_id, c.status, c.fixed_at, c.published_at
FROM correction_requests c JOIN matches m ON m.id = c.match_id
WHERE c.subject_type = $1 AND c.subject_id = $2 ORDER BY c.id DESC`, k.Type, k.ID)
	if err != nil {
		return nil, fmt.Errorf("corrections: %w", err)
	}
	out := []CorrectionView{}
	var c CorrectionView
	_, err = pgx.ForEachRow(rows, []any{&c.ID, &c.SubjectType, &c.SubjectID, &c.Source, &c.Fields, &c.Conditions, &c.Note, &c.ReportedAt,
		&c.PolicyID, &c.Status, &c.FixedAt, &c.PublishedAt}, func() error {
		v := c
		v.Fields, v.Conditions = slices.Clone(c.Fields), slices.Clone(c.Conditions)
		v.Note = rules.MaskMobiles(v.Note)
		out = append(out, v)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("corrections: %w", err)
	}
	return out, nil
}

// HasOpenID reports whether openid is the WeChat openid on record for the
// subject k. It compares blind indexes (under every held key, so that a
// key rotation under way changes nothing): the sealed contact is not
// opened, and the openid is not kept.
func (s *Store) HasOpenID(ctx context.Context, k SubjectKey, openid string) (bool, error) {
	if s.sealer == nil || openid == "" {
		return false, nil // no openid can be on record without a key
	}
	var ok bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM profiles
WHERE subject_type = $1 AND subject_id = $2 AND openid_hash = ANY($3::bytea[]))`,
		k.Type, k.ID, s.contactIndexes(ContactOpenID, openid)).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("subject openid: %w", err)
	}
	return ok, nil
}
