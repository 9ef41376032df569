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
)

// SweepPolicy is a policy a sweep is asked to cover, and the marks that
// say it has been covered (see PlanSweeps).
type SweepPolicy struct {
	ID      string
	Version int
	Marks   []string
}

// SweepRequest asks for a sweep of one subject type.
type SweepRequest struct {
	SubjectType string
	Policies    []SweepPolicy
}

// Sweep is a sweep's state, for progress reports.
type Sweep struct {
	ID          int64          `json:"id"`
	Kind        string         `json:"kind"`
	SubjectType string         `json:"subject_type"`
	Reason      string         `json:"reason"`
	Status      string         `json:"status"`
	Policies    map[string]int `json:"policies"`
	TotalChunks int            `json:"total_chunks"`
	DoneChunks  int            `json:"done_chunks"`
	Profiles    int64          `json:"profiles"`
	Matched     int64          `json:"matched"`
	CreatedAt   time.Time      `json:"created_at"`
	FinishedAt  *time.Time     `json:"finished_at,omitempty"`
}

// sweepLock serialises sweep planning across replicas.
const sweepLock = `SELECT pg_advisory_xact_lock(hashtextextended('policypush sweep planning', 0))`

// PlanSweeps creates, for each request, one sweep over the policies that
// have a mark not recorded yet (backfill:<policy>@<version> the first time
// a version is in force, time:<period>:<policy>@<version> once per period
// for policies that change with time), records their marks, and cuts the sweep
// into chunks of about chunkSize subjects. Requests whose policies are all
// marked create nothing, so every replica may plan the same requests: the
// work is planned once. It returns the sweeps created.
func (s *Store) PlanSweeps(ctx context.Context, reqs []SweepRequest, chunkSize int) ([]Sweep, error) {
	var created []Sweep
	err := s.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.tx.Exec(ctx, sweepLock); err != nil {
			return err
		}
		for _, r := range reqs {
			policies := map[string]int{}
			var marks []string
			for _, p := range r.Policies {
				rows, err := tx.tx.Query(ctx, `INSERT INTO sweep_marks (mark) SELECT unnest($1::text[])
ON CONFLICT DO NOTHING RETURNING mark`, p.Marks)
				if err != nil {
					return err
				}
				fresh, err := pgx.CollectRows(rows, pgx.RowTo[string])
				if err != nil {
					return err
				}
				if len(fresh) > 0 {
					policies[p.ID] = p.Version
					marks = append(marks, fresh...)
				}
			}
			if len(policies) == 0 {
				continue
			}
			// A sweep that covers a policy for the first time is a backfill;
			// one that only repeats policies for a new period is a time sweep.
			kind := "time"
			for _, m := range marks {
				if strings.HasPrefix(m, "backfill:") {
					kind = "backfill"
				}
			}
			slices.Sort(marks)
			reason := strings.Join(marks, " ")
			if len(reason) > 1000 {
				reason = reason[:1000] + "…"
			}
			sw := Sweep{Kind: kind, SubjectType: r.SubjectType, Reason: reason, Status: "running", Policies: policies}
			pj, _ := json.Marshal(policies)
			err := tx.tx.QueryRow(ctx, `INSERT INTO sweeps (kind, subject_type, policies, reason, total_chunks)
VALUES ($1, $2, $3, $4, 0) RETURNING id, created_at`, sw.Kind, sw.SubjectType, pj, sw.Reason).Scan(&sw.ID, &sw.CreatedAt)
			if err != nil {
				return err
			}
			// Chunk i covers the ids in (boundary i-1, boundary i]: every
			// chunkSize-th id is a boundary, the last chunk is unbounded.
			err = tx.tx.QueryRow(ctx, `WITH b AS (
    SELECT subject_id FROM (
        SELECT subject_id, row_number() OVER (ORDER BY subject_id) AS rn
        FROM profiles WHERE subject_type = $2) t
    WHERE rn % $3 = 0
), bounds AS (
    SELECT coalesce(lag(subject_id) OVER (ORDER BY subject_id), '') AS lo, subject_id AS hi FROM b
    UNION ALL
    SELECT coalesce((SELECT max(subject_id) FROM b), ''), NULL
), ins AS (
    INSERT INTO sweep_chunks (sweep_id, seq, lo, hi)
    SELECT $1, row_number() OVER (ORDER BY lo), lo, hi FROM bounds
    RETURNING 1
)
SELECT count(*) FROM ins`, sw.ID, r.SubjectType, chunkSize).Scan(&sw.TotalChunks)
			if err != nil {
				return err
			}
			if _, err := tx.tx.Exec(ctx, `UPDATE sweeps SET total_chunks = $2 WHERE id = $1`, sw.ID, sw.TotalChunks); err != nil {
				return err
			}
			if _, err := tx.tx.Exec(ctx, `UPDATE sweep_marks SET sweep_id = $1 WHERE mark = ANY($2)`, sw.ID, marks); err != nil {
				return err
			}
			created = append(created, sw)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("plan sweeps: %w", err)
	}
	return created, nil
}

// Sweeps returns the latest limit sweeps, newest first.
func (s *Store) Sweeps(ctx context.Context, limit int) ([]Sweep, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, kind, subject_type, reason, status, policies, total_chunks, done_chunks,
       profiles, matched, created_at, finished_at
FROM sweeps ORDER BY id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("sweeps: %w", err)
	}
	var out []Sweep
	var sw Sweep
	_, err = pgx.ForEachRow(rows, []any{&sw.ID, &sw.Kind, &sw.SubjectType, &sw.Reason, &sw.Status, &sw.Policies,
		&sw.TotalChunks, &sw.DoneChunks, &sw.Profiles, &sw.Matched, &sw.CreatedAt, &sw.FinishedAt}, func() error {
		out = append(out, sw)
		sw = Sweep{}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sweeps: %w", err)
	}
	return out, nil
}

// SweepChunk is a claimed chunk of a sweep.
type SweepChunk struct {
	SweepID     int64
	Seq         int
	Kind        string
	SubjectType string
	Policies    map[string]int
	Lo          string  // exclusive
	Hi          *string // inclusive; nil is unbounded
}

// ClaimChunk locks the first chunk not done of the oldest running sweep,
// skipping chunks other transactions hold. The chunk is the transaction's
// until it commits (FinishChunk marks it done) or rolls back (a crash gives
// it back). ok is false when no chunk is left.
//
// The transaction commits without waiting for its WAL to reach disk
// (synchronous_commit off): a database crash may forget the last chunks
// done, but never half of one, since the chunk's mark and its matches
// commit together, so they are simply done again. A notice of such a
// chunk cannot have been sent meanwhile: the dispatcher's claim is a
// synchronous commit, which flushes the WAL before it.
func (tx *Tx) ClaimChunk(ctx context.Context) (c SweepChunk, ok bool, err error) {
	if _, err := tx.tx.Exec(ctx, `SET LOCAL synchronous_commit = off`); err != nil {
		return SweepChunk{}, false, fmt.Errorf("claim sweep chunk: %w", err)
	}
	err = tx.tx.QueryRow(ctx, `SELECT c.sweep_id, c.seq, s.kind, s.subject_type, s.policies, c.lo, c.hi
FROM sweep_chunks c JOIN sweeps s ON s.id = c.sweep_id
WHERE c.done_at IS NULL AND s.status = 'running'
ORDER BY c.sweep_id, c.seq
LIMIT 1 FOR UPDATE OF c SKIP LOCKED`).Scan(&c.SweepID, &c.Seq, &c.Kind, &c.SubjectType, &c.Policies, &c.Lo, &c.Hi)
	if errors.Is(err, pgx.ErrNoRows) {
		return SweepChunk{}, false, nil
	}
	if err != nil {
		return SweepChunk{}, false, fmt.Errorf("claim sweep chunk: %w", err)
	}
	return c, true, nil
}

// SubjectsInChunk returns the subjects whose profiles the chunk covers.
func (tx *Tx) SubjectsInChunk(ctx context.Context, c SweepChunk) ([]SubjectKey, error) {
	rows, err := tx.tx.Query(ctx, `SELECT subject_type, subject_id FROM profiles
WHERE subject_type = $1 AND subject_id > $2 AND ($3::text IS NULL OR subject_id <= $3)
ORDER BY subject_id`, c.SubjectType, c.Lo, c.Hi)
	if err != nil {
		return nil, fmt.Errorf("subjects in chunk: %w", err)
	}
	keys, err := pgx.CollectRows(rows, pgx.RowToStructByPos[SubjectKey])
	if err != nil {
		return nil, fmt.Errorf("subjects in chunk: %w", err)
	}
	return keys, nil
}

// FinishChunk marks the chunk done and adds to its sweep's progress; the
// sweep is done with its last chunk.
func (tx *Tx) FinishChunk(ctx context.Context, c SweepChunk, profiles, matched int, at time.Time) error {
	if _, err := tx.tx.Exec(ctx, `UPDATE sweep_chunks SET done_at = $3 WHERE sweep_id = $1 AND seq = $2`, c.SweepID, c.Seq, at); err != nil {
		return fmt.Errorf("finish sweep chunk: %w", err)
	}
	_, err := tx.tx.Exec(ctx, `UPDATE sweeps SET done_chunks = done_chunks + 1, profiles = profiles + $2, matched = matched + $3,
       status = CASE WHEN done_chunks + 1 >= total_chunks THEN 'done' ELSE status END,
       finished_at = CASE WHEN done_chunks + 1 >= total_chunks THEN $4::timestamptz END
WHERE id = $1`, c.SweepID, profiles, matched, at)
	if err != nil {
		return fmt.Errorf("finish sweep chunk: %w", err)
	}
	return nil
}

// OptOutsOf returns the channels each subject of a type has opted out of,
// as recorded in opt_outs (the profile's own opt-outs are in its data).
func (s *Store) OptOutsOf(ctx context.Context, subjectType string) (map[string][]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT subject_id, channel FROM opt_outs WHERE subject_type = $1`, subjectType)
	if err != nil {
		return nil, fmt.Errorf("opt-outs of %s: %w", subjectType, err)
	}
	out := map[string][]string{}
	var id, ch string
	_, err = pgx.ForEachRow(rows, []any{&id, &ch}, func() error {
		out[id] = append(out[id], ch)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("opt-outs of %s: %w", subjectType, err)
	}
	return out, nil
}

// MatchedSubjects returns the subjects that have a match for the policy,
// in any status: they will not be notified of it again.
func (s *Store) MatchedSubjects(ctx context.Context, policyID string) (map[SubjectKey]bool, error) {
	rows, err := s.pool.Query(ctx, `SELECT subject_type, subject_id FROM matches WHERE policy_id = $1`, policyID)
	if err != nil {
		return nil, fmt.Errorf("matched subjects: %w", err)
	}
	out := map[SubjectKey]bool{}
	var k SubjectKey
	_, err = pgx.ForEachRow(rows, []any{&k.Type, &k.ID}, func() error {
		out[k] = true
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("matched subjects: %w", err)
	}
	return out, nil
}

// RemainingChunks returns how many chunks of running sweeps are not done.
func (s *Store) RemainingChunks(ctx context.Context) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `SELECT coalesce(sum(total_chunks - done_chunks), 0) FROM sweeps WHERE status = 'running'`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("remaining sweep chunks: %w", err)
	}
	return n, nil
}
