package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNotClaimed is returned by BeginSend and RecordOutcome when the row is
// no longer claimed under the caller's claim: its lease ran out and
// reconciliation (or another dispatcher) has moved it on. The caller must
// not call the provider, and its outcome is dropped.
var ErrNotClaimed = errors.New("outbox row is no longer claimed")

// Claim is a dispatcher's hold on the rows it takes: Token is random per
// dispatcher instance, and the rows are its until Lease after the claim or
// the last renewal, in the database's clock.
type Claim struct {
	Token string
	Lease time.Duration
}

// OutboxRow is an outbox row with the match it notifies about, as the
// dispatcher sees it.
type OutboxRow struct {
	ID            int64
	MatchID       int64
	Key           SubjectKey
	PolicyID      string
	PolicyVersion int
	Result        string
	Amount        *float64
	Channel       string
	Fallback      []string
	Attempts      int       // provider calls made so far, since the last requeue
	DueAt         time.Time // when it became due
	CreatedAt     time.Time // or when it was last requeued: its age counts from there
	ClaimedAt     time.Time // the claim; BeginSend and RecordOutcome must be given it back
	ClaimToken    string    // with the claimant's token
	CallStartedAt time.Time // when the provider call of a row found in 'sending' began; zero otherwise
	ClickToken    string    // the notice's link is /r/{ClickToken}
	// DigestID names the message that last carried the notice with others
	// (migration 00022), or is 0. Notices that share one are sent again
	// together, under it.
	DigestID int64
}

const outboxColumns = `o.id, o.match_id, m.subject_type, m.subject_id, m.policy_id, m.policy_version,
       m.result, m.amount::float8, o.channel, o.fallback, o.attempts - o.requeue_attempts, o.due_at,
       coalesce(o.requeued_at, o.created_at), o.claimed_at, coalesce(o.claim_token, ''),
       o.call_started_at, o.click_token, coalesce(o.digest_id, 0)`

func scanOutbox(rows pgx.Rows) ([]OutboxRow, error) {
	var (
		out  []OutboxRow
		r    OutboxRow
		call *time.Time
	)
	_, err := pgx.ForEachRow(rows, []any{&r.ID, &r.MatchID, &r.Key.Type, &r.Key.ID, &r.PolicyID, &r.PolicyVersion,
		&r.Result, &r.Amount, &r.Channel, &r.Fallback, &r.Attempts, &r.DueAt, &r.CreatedAt, &r.ClaimedAt, &r.ClaimToken,
		&call, &r.ClickToken, &r.DigestID}, func() error {
		c := r
		c.Fallback = append([]string(nil), r.Fallback...)
		if r.Amount != nil {
			a := *r.Amount
			c.Amount = &a
		}
		c.CallStartedAt = time.Time{}
		if call != nil {
			c.CallStartedAt = *call
		}
		out = append(out, c)
		return nil
	})
	return out, err
}

// ClaimOutbox moves up to limit due rows (pending or deferred, due_at <=
// now, earliest first) to 'claimed' under c, with claimed_at = now, and
// returns them. It is one statement, hence one short transaction; FOR
// UPDATE SKIP LOCKED lets several dispatchers claim at once without waiting
// for or sharing rows. A claimed row has not been sent: BeginSend moves it
// to 'sending' just before its provider call.
func (s *Store) ClaimOutbox(ctx context.Context, c Claim, now time.Time, limit int) ([]OutboxRow, error) {
	rows, err := s.pool.Query(ctx, `
WITH due AS (
    SELECT id FROM outbox
    WHERE status IN ('pending', 'deferred') AND due_at <= $1
    ORDER BY due_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE outbox o SET status = 'claimed', claimed_at = $1, claim_token = $3,
           lease_until = now() + $4::interval, call_started_at = NULL, updated_at = now(),
           click_token = coalesce(o.click_token, `+newClickTokenSQL+`)
    FROM due WHERE o.id = due.id
    RETURNING o.*
)
SELECT `+outboxColumns+` FROM claimed o JOIN matches m ON m.id = o.match_id
ORDER BY o.due_at, o.id`, now, limit, c.Token, c.Lease)
	if err != nil {
		return nil, fmt.Errorf("claim outbox: %w", err)
	}
	out, err := scanOutbox(rows)
	if err != nil {
		return nil, fmt.Errorf("claim outbox: %w", err)
	}
	return out, nil
}

// BeginSend moves one claimed row to 'sending', with call_started_at = at
// and the channel (and fallbacks) of r, which are those of the call about to
// be made, if the claim is still the caller's and its lease has not run
// out. Only then may the caller call the provider; otherwise it gets
// ErrNotClaimed. A row sent alone is in no digest: its digest_id is
// cleared, so that its own id names its call.
func (s *Store) BeginSend(ctx context.Context, r OutboxRow, at time.Time) error {
	fallback := r.Fallback
	if fallback == nil {
		fallback = []string{}
	}
	tag, err := s.pool.Exec(ctx, `UPDATE outbox SET status = 'sending', call_started_at = $4, channel = $5, fallback = $6,
       digest_id = NULL, updated_at = now()
WHERE id = $1 AND status = 'claimed' AND claim_token = $2 AND claimed_at = $3 AND lease_until > now()`,
		r.ID, r.ClaimToken, r.ClaimedAt, at, r.Channel, fallback)
	if err != nil {
		return fmt.Errorf("begin send of notice %d: %w", r.ID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("begin send of notice %d: %w", r.ID, ErrNotClaimed)
	}
	return nil
}

// RenewClaims extends the lease of the rows of ids still held under c and
// whose lease has not run out yet, and returns how many. A lapsed lease is
// never revived: someone else may already be settling the row.
func (s *Store) RenewClaims(ctx context.Context, c Claim, ids []int64) (int64, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE outbox SET lease_until = now() + $2::interval
WHERE id = ANY($3) AND claim_token = $1 AND status IN ('claimed', 'sending') AND lease_until > now()`, c.Token, c.Lease, ids)
	if err != nil {
		return 0, fmt.Errorf("renew claims: %w", err)
	}
	return tag.RowsAffected(), nil
}

// ReleaseClaims hands back the rows claimed under token and not called: they
// become pending again, due when they were. Rows in 'sending' stay.
func (s *Store) ReleaseClaims(ctx context.Context, token string) (int64, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE outbox SET status = 'pending', claimed_at = NULL, claim_token = NULL,
       lease_until = NULL, updated_at = now()
WHERE claim_token = $1 AND status = 'claimed'`, token)
	if err != nil {
		return 0, fmt.Errorf("release claims: %w", err)
	}
	return tag.RowsAffected(), nil
}

// RequeueLapsed hands back every claimed row whose lease ran out: its
// dispatcher died or lost the database before calling the provider, so the
// row goes back to pending at once, due when it was. It returns how many,
// by channel.
func (s *Store) RequeueLapsed(ctx context.Context) (map[string]int64, error) {
	rows, err := s.pool.Query(ctx, `WITH back AS (
    UPDATE outbox SET status = 'pending', claimed_at = NULL, claim_token = NULL,
           lease_until = NULL, updated_at = now()
    WHERE status = 'claimed' AND lease_until < now()
    RETURNING channel
)
SELECT channel, count(*) FROM back GROUP BY channel`)
	if err != nil {
		return nil, fmt.Errorf("requeue lapsed claims: %w", err)
	}
	out := map[string]int64{}
	var (
		ch string
		n  int64
	)
	if _, err := pgx.ForEachRow(rows, []any{&ch, &n}, func() error { out[ch] = n; return nil }); err != nil {
		return nil, fmt.Errorf("requeue lapsed claims: %w", err)
	}
	return out, nil
}

// TakeLapsedSending takes over, under c with claimed_at = now, up to limit
// rows left in 'sending' whose lease ran out (oldest lease first): a
// dispatcher died, or lost its database, during their provider call, or
// left them for a later look-up. They stay in 'sending'; the caller settles
// each with RecordOutcome.
func (s *Store) TakeLapsedSending(ctx context.Context, c Claim, now time.Time, limit int) ([]OutboxRow, error) {
	rows, err := s.pool.Query(ctx, `
WITH lapsed AS (
    SELECT id FROM outbox
    WHERE status = 'sending' AND lease_until < now()
    ORDER BY lease_until
    LIMIT $2
    FOR UPDATE SKIP LOCKED
), taken AS (
    UPDATE outbox o SET claimed_at = $1, claim_token = $3, lease_until = now() + $4::interval,
           call_started_at = coalesce(o.call_started_at, o.claimed_at, $1), updated_at = now()
    FROM lapsed WHERE o.id = lapsed.id
    RETURNING o.*
)
SELECT `+outboxColumns+` FROM taken o JOIN matches m ON m.id = o.match_id
ORDER BY o.id`, now, limit, c.Token, c.Lease)
	if err != nil {
		return nil, fmt.Errorf("take lapsed sending: %w", err)
	}
	out, err := scanOutbox(rows)
	if err != nil {
		return nil, fmt.Errorf("take lapsed sending: %w", err)
	}
	return out, nil
}

// Attempt is one provider call (or one reconciled call of unknown outcome),
// for notice_attempts. Outcome and Reason come from fixed sets.
type Attempt struct {
	Channel       string    `json:"channel"`
	Outcome       string    `json:"outcome"`
	Reason        string    `json:"reason,omitempty"`
	ProviderMsgID string    `json:"provider_msg_id,omitempty"`
	At            time.Time `json:"at"`
}

// Outcome is what becomes of a claimed row. Empty or zero fields other than
// Status and Reason keep the row's value.
type Outcome struct {
	ID            int64
	ClaimedAt     time.Time // the claim being answered
	Status        string
	Reason        string    // the status's reason; "" stores NULL
	LastReason    string    // the failed call's reason
	DueAt         time.Time // for pending and deferred
	Channel       string    // a fallback switches the channel
	Fallback      []string  // with the remaining fallbacks (non-nil to set)
	SentAt        time.Time
	ProviderMsgID string
	Attempt       *Attempt // recorded as attempt number attempts+1
	ClaimToken    string   // the claim being answered, with ClaimedAt
	// Recheck, for Status 'sending' (an outcome still unknown), is when the
	// row's lease lapses so that reconciliation looks at it again; the
	// claim is given up.
	Recheck time.Duration
	// DeliveredAt, for Status 'delivered', is when the provider says it was.
	DeliveredAt time.Time
}

// RecordOutcome applies o to its row in one statement, if the row is still
// claimed or sending under o's claim (ClaimToken and ClaimedAt), and
// records o.Attempt. It returns ErrNotClaimed, and changes nothing,
// otherwise. Any status but 'sending' ends the claim.
func (s *Store) RecordOutcome(ctx context.Context, o Outcome) error {
	return recordOutcome(ctx, s.pool, o)
}

// RecordOutcomes records the outcomes of the notices of one digest in one
// transaction: all of them, or (with ErrNotClaimed when any row is no
// longer the caller's) none. A crash never leaves part of a digest settled
// and the rest to be sent again.
func (s *Store) RecordOutcomes(ctx context.Context, os []Outcome) error {
	return s.InTx(ctx, func(tx *Tx) error {
		for _, o := range os {
			if err := recordOutcome(ctx, tx.tx, o); err != nil {
				return err
			}
		}
		return nil
	})
}

func recordOutcome(ctx context.Context, q querier, o Outcome) error {
	var (
		a        Attempt
		inc      int
		fallback []string
	)
	if o.Attempt != nil {
		a, inc = *o.Attempt, 1
	}
	if o.Fallback != nil {
		fallback = o.Fallback
	}
	var n int
	err := q.QueryRow(ctx, `
WITH upd AS (
    UPDATE outbox SET
        status          = $3,
        reason          = $4,
        last_reason     = coalesce($5, last_reason),
        due_at          = coalesce($6, due_at),
        channel         = coalesce($7, channel),
        fallback        = coalesce($8, fallback),
        sent_at         = coalesce($9, sent_at),
        provider_msg_id = coalesce($10, provider_msg_id),
        attempts        = attempts + $11,
        claimed_at      = CASE WHEN $3 = 'sending' THEN claimed_at END,
        claim_token     = NULL,
        lease_until     = CASE WHEN $3 = 'sending' THEN now() + $18::interval END,
        call_started_at = CASE WHEN $3 = 'sending' THEN call_started_at END,
        delivered_at    = coalesce($19, delivered_at),
        updated_at      = now()
    WHERE id = $1 AND status IN ('claimed', 'sending') AND claimed_at = $2 AND claim_token = $17
    RETURNING id, attempts
), ins AS (
    INSERT INTO notice_attempts (outbox_id, attempt, channel, outcome, reason, provider_msg_id, at)
    SELECT id, attempts, $12, $13, $14, $15, $16 FROM upd WHERE $11 = 1
)
SELECT count(*) FROM upd`,
		o.ID, o.ClaimedAt, o.Status, nullString(o.Reason), nullString(o.LastReason), nullTime(o.DueAt),
		nullString(o.Channel), fallback, nullTime(o.SentAt), nullString(o.ProviderMsgID), inc,
		a.Channel, a.Outcome, nullString(a.Reason), nullString(a.ProviderMsgID), a.At,
		o.ClaimToken, o.Recheck, nullTime(o.DeliveredAt),
	).Scan(&n)
	if err != nil {
		return fmt.Errorf("record outcome of notice %d: %w", o.ID, err)
	}
	if n == 0 {
		return fmt.Errorf("record outcome of notice %d: %w", o.ID, ErrNotClaimed)
	}
	return nil
}

// SentTimes returns, oldest first, when each message to the subject sent at
// or after since was sent: a digest of several notices is one message. It
// is the frequency cap's count.
func (s *Store) SentTimes(ctx context.Context, k SubjectKey, since time.Time) ([]time.Time, error) {
	rows, err := s.pool.Query(ctx, `
SELECT DISTINCT o.sent_at, coalesce(o.digest_id, o.id) FROM matches m JOIN outbox o ON o.match_id = m.id
WHERE m.subject_type = $1 AND m.subject_id = $2 AND o.sent_at >= $3
ORDER BY 1`, k.Type, k.ID, since)
	if err != nil {
		return nil, fmt.Errorf("sent times: %w", err)
	}
	var (
		out []time.Time
		at  time.Time
		id  int64
	)
	if _, err := pgx.ForEachRow(rows, []any{&at, &id}, func() error { out = append(out, at); return nil }); err != nil {
		return nil, fmt.Errorf("sent times: %w", err)
	}
	return out, nil
}

// Attempts returns the recorded attempts of an outbox row in order.
func (s *Store) Attempts(ctx context.Context, outboxID int64) ([]Attempt, error) {
	rows, err := s.pool.Query(ctx, `
SELECT channel, outcome, coalesce(reason, ''), coalesce(provider_msg_id, ''), at
FROM notice_attempts WHERE outbox_id = $1 ORDER BY attempt, id`, outboxID)
	if err != nil {
		return nil, fmt.Errorf("attempts: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Attempt])
	if err != nil {
		return nil, fmt.Errorf("attempts: %w", err)
	}
	return out, nil
}

// OutboxState is the stored state of an outbox row, for tests and the admin
// API.
type OutboxState struct {
	ID            int64
	Channel       string
	Fallback      []string
	Status        string
	Reason        string
	LastReason    string
	DueAt         time.Time
	Attempts      int
	SentAt        *time.Time
	ProviderMsgID string
}

// OutboxByID returns the state of one outbox row.
func (s *Store) OutboxByID(ctx context.Context, id int64) (OutboxState, error) {
	var st OutboxState
	err := s.pool.QueryRow(ctx, `
SELECT id, channel, fallback, status, coalesce(reason, ''), coalesce(last_reason, ''), due_at, attempts,
       sent_at, coalesce(provider_msg_id, '')
FROM outbox WHERE id = $1`, id).Scan(&st.ID, &st.Channel, &st.Fallback, &st.Status, &st.Reason, &st.LastReason,
		&st.DueAt, &st.Attempts, &st.SentAt, &st.ProviderMsgID)
	if err != nil {
		return OutboxState{}, fmt.Errorf("outbox %d: %w", id, err)
	}
	return st, nil
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// Click records that a notice's link was opened (the first time counts)
// and returns the notice's policy. found is false for an unknown token.
func (s *Store) Click(ctx context.Context, token string, at time.Time) (policyID string, found bool, err error) {
	err = s.pool.QueryRow(ctx, `UPDATE outbox o SET clicked_at = COALESCE(o.clicked_at, $2)
FROM matches m WHERE o.click_token = $1 AND m.id = o.match_id
RETURNING m.policy_id`, token, at).Scan(&policyID)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("record click: %w", err)
	}
	return policyID, true, nil
}

// RequeueDead gives dead notices, and notices whose outcome is unknown (an
// officer decides a resend is wanted), a fresh retry budget: they become
// pending, due at once, and their attempts and age count from now. ids
// selects the rows; an empty ids with a policy selects that policy's dead
// and unknown notices; both empty select every one. It returns the ids
// requeued. Rows in any other status are left alone.
func (s *Store) RequeueDead(ctx context.Context, ids []int64, policyID string, at time.Time) ([]int64, error) {
	return requeueDead(ctx, s.pool, ids, policyID, at)
}

func requeueDead(ctx context.Context, q querier, ids []int64, policyID string, at time.Time) ([]int64, error) {
	rows, err := q.Query(ctx, `UPDATE outbox o SET status = 'pending', reason = NULL, due_at = $3,
       requeued_at = $3, requeue_attempts = o.attempts, updated_at = now()
FROM matches m
WHERE m.id = o.match_id AND o.status IN ('dead', 'unknown')
  AND (coalesce(cardinality($1::bigint[]), 0) = 0 OR o.id = ANY($1))
  AND ($2 = '' OR m.policy_id = $2)
RETURNING o.id`, ids, policyID, at)
	if err != nil {
		return nil, fmt.Errorf("requeue dead: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("requeue dead: %w", err)
	}
	return out, nil
}

// CancelPolicy cancels the notices of a policy that are still to send
// (pending, deferred, claimed but not called, or waiting for a channel) with reason, and returns
// how many. A notice being sent finishes; one already sent stays sent.
func (s *Store) CancelPolicy(ctx context.Context, policyID, reason string) (int64, error) {
	// A claimed row is not called yet: cancelling it makes its dispatcher's
	// BeginSend fail, so it is never sent and never handed back to pending.
	tag, err := s.pool.Exec(ctx, `UPDATE outbox o SET status = 'cancelled', reason = $2, updated_at = now(),
       claimed_at = NULL, claim_token = NULL, lease_until = NULL
FROM matches m
WHERE m.id = o.match_id AND m.policy_id = $1 AND o.status IN ('pending', 'deferred', 'waiting', 'claimed')`, policyID, reason)
	if err != nil {
		return 0, fmt.Errorf("cancel notices of %s: %w", policyID, err)
	}
	return tag.RowsAffected(), nil
}

// OldestDue returns when the longest-waiting due notice (pending or
// deferred, due at or before now) became due, and false when none is due.
// A backlog shows as a growing now minus that.
func (s *Store) OldestDue(ctx context.Context, now time.Time) (time.Time, bool, error) {
	var t *time.Time
	err := s.pool.QueryRow(ctx, `SELECT min(due_at) FROM outbox
WHERE status IN ('pending', 'deferred') AND due_at <= $1`, now).Scan(&t)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("oldest due notice: %w", err)
	}
	if t == nil {
		return time.Time{}, false, nil
	}
	return *t, true, nil
}

// Sending reports whether a notice on channel is being sent right now:
// its provider call begun, its answer not recorded yet.
func (s *Store) Sending(ctx context.Context, channel string) (bool, error) {
	return sending(ctx, s.pool, channel)
}

// Sending is Store.Sending within tx.
func (tx *Tx) Sending(ctx context.Context, channel string) (bool, error) {
	return sending(ctx, tx.tx, channel)
}

func sending(ctx context.Context, q rowQuerier, channel string) (bool, error) {
	var yes bool
	err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM outbox WHERE status = 'sending' AND channel = $1)`, channel).Scan(&yes)
	if err != nil {
		return false, fmt.Errorf("sending notices: %w", err)
	}
	return yes, nil
}

// OutboxUnknown returns how many notices have an outcome nobody could
// settle (status 'unknown'): an officer must decide whether to resend them.
func (s *Store) OutboxUnknown(ctx context.Context) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE status = 'unknown'`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count unknown outbox: %w", err)
	}
	return n, nil
}
