package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// The statuses of a consultation comment.
const (
	CommentPending = "pending" // not yet read by an officer: not published
	CommentVisible = "visible" // approved: its text may be published
	CommentHidden  = "hidden"  // refused: counted, never published
)

// Comment is one comment on a draft out for comment.
type Comment struct {
	ID            int64      `json:"id"`
	PolicyID      string     `json:"policy_id"`
	PolicyVersion int        `json:"policy_version"`
	CreatedAt     time.Time  `json:"created_at"`
	Name          string     `json:"name"` // as the commenter chose to sign, or ""
	Text          string     `json:"text"`
	Status        string     `json:"status"`
	Adopted       bool       `json:"adopted"`
	Reply         string     `json:"reply"` // the bureau's answer to an adopted comment, or ""
	ModeratedBy   string     `json:"moderated_by,omitempty"`
	ModeratedAt   *time.Time `json:"moderated_at,omitempty"`
}

// CommentStats is what the public sees of a draft's comments: how many
// were received and the adopted ones whose text is visible.
type CommentStats struct {
	Received int
	Adopted  int       // adopted, whatever their visibility
	Shown    []Comment // adopted and visible, oldest first
}

// AddComment stores c (its ID, Status, Adopted and moderation are
// ignored) as pending and returns its id.
func (s *Store) AddComment(ctx context.Context, c Comment) (int64, error) {
	var id int64
	err := s.pool.QueryRow(ctx, `INSERT INTO consultation_comments (policy_id, policy_version, created_at, name, body)
VALUES ($1, $2, $3, $4, $5) RETURNING id`, c.PolicyID, c.PolicyVersion, c.CreatedAt, c.Name, c.Text).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("add comment: %w", err)
	}
	return id, nil
}

const commentColumns = `id, policy_id, policy_version, created_at, name, body, status, adopted, reply,
       coalesce(moderated_by, ''), moderated_at`

func scanComment(row pgx.CollectableRow) (Comment, error) {
	var c Comment
	err := row.Scan(&c.ID, &c.PolicyID, &c.PolicyVersion, &c.CreatedAt, &c.Name, &c.Text, &c.Status, &c.Adopted,
		&c.Reply, &c.ModeratedBy, &c.ModeratedAt)
	return c, err
}

// Comments returns every comment on policyID, oldest first, for officers.
func (s *Store) Comments(ctx context.Context, policyID string) ([]Comment, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+commentColumns+` FROM consultation_comments
WHERE policy_id = $1 ORDER BY id`, policyID)
	if err != nil {
		return nil, fmt.Errorf("read comments: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanComment)
	if err != nil {
		return nil, fmt.Errorf("read comments: %w", err)
	}
	return out, nil
}

// Comment returns one comment, or ErrNotFound.
func (s *Store) Comment(ctx context.Context, id int64) (Comment, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+commentColumns+` FROM consultation_comments WHERE id = $1`, id)
	if err != nil {
		return Comment{}, fmt.Errorf("read comment: %w", err)
	}
	c, err := pgx.CollectExactlyOneRow(rows, scanComment)
	if errors.Is(err, pgx.ErrNoRows) {
		return Comment{}, ErrNotFound
	}
	if err != nil {
		return Comment{}, fmt.Errorf("read comment: %w", err)
	}
	return c, nil
}

// CommentStats counts policyID's comments for the public page.
func (s *Store) CommentStats(ctx context.Context, policyID string) (CommentStats, error) {
	var st CommentStats
	err := s.pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE adopted) FROM consultation_comments
WHERE policy_id = $1`, policyID).Scan(&st.Received, &st.Adopted)
	if err != nil {
		return st, fmt.Errorf("count comments: %w", err)
	}
	rows, err := s.pool.Query(ctx, `SELECT `+commentColumns+` FROM consultation_comments
WHERE policy_id = $1 AND adopted AND status = 'visible' ORDER BY id`, policyID)
	if err != nil {
		return st, fmt.Errorf("read adopted comments: %w", err)
	}
	if st.Shown, err = pgx.CollectRows(rows, scanComment); err != nil {
		return st, fmt.Errorf("read adopted comments: %w", err)
	}
	return st, nil
}

// Moderation is an officer's decision on a comment; a nil field is left
// as it is.
type Moderation struct {
	Status  *string // CommentVisible or CommentHidden
	Adopted *bool
	Reply   *string
}

// ModerateComment applies m to comment id, with its audit row e in the
// same transaction, and returns the comment as it now is; ErrNotFound
// when there is no such comment.
func (s *Store) ModerateComment(ctx context.Context, id int64, m Moderation, at time.Time, e AuditEntry) (Comment, error) {
	var out Comment
	err := s.audited(ctx, e, func(q querier, e *AuditEntry) error {
		rows, err := q.Query(ctx, `UPDATE consultation_comments SET
    status = coalesce($2, status), adopted = coalesce($3, adopted), reply = coalesce($4, reply),
    moderated_by = $5, moderated_at = $6
WHERE id = $1 RETURNING `+commentColumns, id, m.Status, m.Adopted, m.Reply, e.Actor, at)
		if err != nil {
			return fmt.Errorf("moderate comment: %w", err)
		}
		out, err = pgx.CollectExactlyOneRow(rows, scanComment)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("moderate comment: %w", err)
		}
		e.PolicyID = out.PolicyID
		e.detail("comment_id", out.ID)
		e.detail("status", out.Status)
		e.detail("adopted", out.Adopted)
		return nil
	})
	return out, err
}
