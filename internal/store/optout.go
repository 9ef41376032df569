package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Contact kinds: how providers name a recipient.
const (
	ContactOpenID = "openid"
	ContactMobile = "mobile"
)

// contactIndex is the blind index of a contact value under the current
// key, as it is stored, normalised so that the forms providers report
// (+8613812345678, 8613812345678) find the profile's 13812345678.
func (s *Store) contactIndex(kind, value string) []byte {
	return s.sealer.Index(kind, normalContact(kind, value))
}

// contactIndexes are the blind indexes a look-up of a contact matches: under
// every held key, and in the form written before key ids, so that a contact
// indexed under an old key is found while Reseal moves it to the current
// one.
func (s *Store) contactIndexes(kind, value string) [][]byte {
	return s.sealer.Indexes(kind, normalContact(kind, value))
}

func normalContact(kind, value string) string {
	value = strings.TrimSpace(value)
	if kind == ContactMobile {
		for _, prefix := range []string{"+86", "0086", "86"} {
			if rest, ok := strings.CutPrefix(value, prefix); ok && len(rest) == 11 {
				return rest
			}
		}
	}
	return value
}

func (s *Store) contactColumn(kind string) (string, error) {
	if s.sealer == nil {
		return "", errNoSealer
	}
	switch kind {
	case ContactOpenID:
		return "openid_hash", nil
	case ContactMobile:
		return "mobile_hash", nil
	}
	return "", fmt.Errorf("unknown contact kind %q", kind)
}

// OptOutContact records that every subject reachable at the contact opted
// out of channel, from source (wechat_unsubscribe, sms_reply…). It returns
// how many subjects the contact names; 0 means none is known by it.
// Recording the same opt-out again changes nothing.
func (s *Store) OptOutContact(ctx context.Context, kind, value, channel, source string, at time.Time) (int, error) {
	return s.optOutContact(ctx, s.pool, kind, value, channel, source, at)
}

// OptOutContact is Store.OptOutContact within tx.
func (tx *Tx) OptOutContact(ctx context.Context, kind, value, channel, source string, at time.Time) (int, error) {
	return tx.s.optOutContact(ctx, tx.tx, kind, value, channel, source, at)
}

// rowQuerier is a pool or a transaction.
type rowQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func (s *Store) optOutContact(ctx context.Context, q rowQuerier, kind, value, channel, source string, at time.Time) (int, error) {
	col, err := s.contactColumn(kind)
	if err != nil {
		return 0, fmt.Errorf("opt out: %w", err)
	}
	var n int
	err = q.QueryRow(ctx, `WITH subjects AS (
    SELECT subject_type, subject_id FROM profiles WHERE `+col+` = ANY($1::bytea[])
), ins AS (
    INSERT INTO opt_outs (subject_type, subject_id, channel, source, at)
    SELECT subject_type, subject_id, $2, $3, $4 FROM subjects
    ON CONFLICT DO NOTHING
)
SELECT count(*) FROM subjects`, s.contactIndexes(kind, value), channel, source, at).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("opt out: %w", err)
	}
	return n, nil
}

// OptInContact removes the opt-outs of channel that source recorded for
// the subjects reachable at the contact (following the account again
// takes back an unsubscribe, not a block). It returns how many subjects
// the contact names.
func (s *Store) OptInContact(ctx context.Context, kind, value, channel, source string) (int, error) {
	return s.optInContact(ctx, s.pool, kind, value, channel, source)
}

// OptInContact is Store.OptInContact within tx.
func (tx *Tx) OptInContact(ctx context.Context, kind, value, channel, source string) (int, error) {
	return tx.s.optInContact(ctx, tx.tx, kind, value, channel, source)
}

func (s *Store) optInContact(ctx context.Context, q rowQuerier, kind, value, channel, source string) (int, error) {
	col, err := s.contactColumn(kind)
	if err != nil {
		return 0, fmt.Errorf("opt in: %w", err)
	}
	var n int
	err = q.QueryRow(ctx, `WITH subjects AS (
    SELECT subject_type, subject_id FROM profiles WHERE `+col+` = ANY($1::bytea[])
), del AS (
    DELETE FROM opt_outs o USING subjects s
    WHERE o.subject_type = s.subject_type AND o.subject_id = s.subject_id AND o.channel = $2 AND o.source = $3
)
SELECT count(*) FROM subjects`, s.contactIndexes(kind, value), channel, source).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("opt in: %w", err)
	}
	return n, nil
}

// OptOut records that the subject opted out of channel, from source.
func (s *Store) OptOut(ctx context.Context, k SubjectKey, channel, source string, at time.Time) error {
	return optOut(ctx, s.pool, k, channel, source, at)
}

func optOut(ctx context.Context, q querier, k SubjectKey, channel, source string, at time.Time) error {
	_, err := q.Exec(ctx, `INSERT INTO opt_outs (subject_type, subject_id, channel, source, at)
VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, k.Type, k.ID, channel, source, at)
	if err != nil {
		return fmt.Errorf("opt out: %w", err)
	}
	return nil
}

// OptIn removes every opt-out of channel recorded for the subject, whatever
// its source, and reports how many there were. The profile's own
// consent.opt_out_channels is the source systems' to change.
func (s *Store) OptIn(ctx context.Context, k SubjectKey, channel string) (int, error) {
	return optIn(ctx, s.pool, k, channel)
}

func optIn(ctx context.Context, q querier, k SubjectKey, channel string) (int, error) {
	tag, err := q.Exec(ctx, `DELETE FROM opt_outs WHERE subject_type = $1 AND subject_id = $2 AND channel = $3`,
		k.Type, k.ID, channel)
	if err != nil {
		return 0, fmt.Errorf("opt in: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// OptOut is one recorded opt-out.
type OptOut struct {
	Channel string    `json:"channel"`
	Source  string    `json:"source"`
	At      time.Time `json:"at"`
}

// OptOuts returns the opt-outs recorded for the subject, by channel and
// source.
func (s *Store) OptOuts(ctx context.Context, k SubjectKey) ([]OptOut, error) {
	rows, err := s.pool.Query(ctx, `SELECT channel, source, at FROM opt_outs
WHERE subject_type = $1 AND subject_id = $2 ORDER BY channel, source`, k.Type, k.ID)
	if err != nil {
		return nil, fmt.Errorf("opt-outs: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[OptOut])
	if err != nil {
		return nil, fmt.Errorf("opt-outs: %w", err)
	}
	return out, nil
}

// Receipt is a provider's report on a sent notice.
type Receipt struct {
	Channel       string
	ProviderMsgID string
	Delivered     bool
	Reason        string // why it failed, from a fixed set
	Fallback      bool   // the channel refused the recipient for good: move on to the next channel
	OptOutSource  string // non-empty: the subject opted out of Channel (a WeChat block)
	OpenID        string // finds a notice sent without a provider id (bizsend)
	NoticeID      string // the notice id the provider echoes (Aliyun OutId)
	At            time.Time
}

// ReceiptOutcome is what a receipt did.
type ReceiptOutcome string

// Receipt outcomes.
const (
	ReceiptUnknown   ReceiptOutcome = "unknown_id" // no notice has the id
	ReceiptDuplicate ReceiptOutcome = "duplicate"  // the notice had moved on already
	ReceiptDelivered ReceiptOutcome = "delivered"
	ReceiptFailed    ReceiptOutcome = "failed"
	ReceiptFallback  ReceiptOutcome = "fallback" // failed, and queued again on the next channel
)

// RecordReceipt applies a receipt to the notice sent as r.ProviderMsgID on
// r.Channel (or, for a WeChat report without a known id, to the oldest
// unreported notice sent by WeChat to the subject with r.OpenID, or to the
// notice r.NoticeID when a crash left its outcome unknown). A sent
// notice becomes delivered, or failed; with r.Fallback and a channel left
// it goes back to pending on that channel, and the dispatcher checks the
// channel again before sending. A repeated receipt changes nothing.
// next is the channel a fallen-back notice moves to.
func (s *Store) RecordReceipt(ctx context.Context, r Receipt) (out ReceiptOutcome, next string, err error) {
	err = s.InTx(ctx, func(tx *Tx) error {
		out, next, err = tx.RecordReceipt(ctx, r)
		return err
	})
	return out, next, err
}

// RecordReceipt is Store.RecordReceipt within tx, so that the reports of
// one callback body commit together. A receipt for a digest (one message
// that carried several notices, which share its provider id) applies to
// each of them; out and next are those of the first.
func (tx *Tx) RecordReceipt(ctx context.Context, r Receipt) (out ReceiptOutcome, next string, err error) {
	s := tx.s
	err = func() error {
		type target struct {
			id       int64
			status   string
			fallback []string
			attempts int
			k        SubjectKey
		}
		var ts []target
		scan := func(rows pgx.Rows, err error) error {
			if err != nil {
				return err
			}
			var t target
			_, err = pgx.ForEachRow(rows, []any{&t.id, &t.status, &t.fallback, &t.attempts, &t.k.Type, &t.k.ID}, func() error {
				c := t
				c.fallback = append([]string(nil), t.fallback...)
				ts = append(ts, c)
				return nil
			})
			return err
		}
		ids := func() []int64 {
			out := make([]int64, len(ts))
			for i, t := range ts {
				out[i] = t.id
			}
			return out
		}
		err := scan(tx.tx.Query(ctx, `SELECT o.id, o.status, o.fallback, o.attempts, m.subject_type, m.subject_id
FROM outbox o JOIN matches m ON m.id = o.match_id
WHERE o.channel = $1 AND o.provider_msg_id = $2
ORDER BY o.id FOR UPDATE OF o`, r.Channel, r.ProviderMsgID))
		if err == nil && len(ts) == 0 && r.OpenID != "" && s.sealer != nil {
			err = scan(tx.tx.Query(ctx, `SELECT o.id, o.status, o.fallback, o.attempts, m.subject_type, m.subject_id
FROM profiles p
JOIN matches m ON m.subject_type = p.subject_type AND m.subject_id = p.subject_id
JOIN outbox o ON o.match_id = m.id
WHERE p.openid_hash = ANY($1::bytea[]) AND o.channel = $2 AND o.status = 'sent' AND o.provider_msg_id IS NULL
ORDER BY o.sent_at LIMIT 1 FOR UPDATE OF o`, s.contactIndexes(ContactOpenID, r.OpenID), r.Channel))
			if err == nil && len(ts) > 0 {
				_, err = tx.tx.Exec(ctx, `UPDATE outbox SET provider_msg_id = $2 WHERE id = ANY($1)`, ids(), r.ProviderMsgID)
			}
		}
		if err == nil && len(ts) == 0 && r.NoticeID != "" {
			// A crash or a timeout lost the send's answer: the row is
			// unknown, or in 'sending' waiting for a look-up (no claim, or
			// a lapsed one), or failed with unknown_outcome by an older
			// version; it has no provider id. The provider echoes our id
			// (a digest's id for a digest), and the receipt tells what
			// happened after all.
			if nid, perr := strconv.ParseInt(r.NoticeID, 10, 64); perr == nil {
				err = scan(tx.tx.Query(ctx, `SELECT o.id, 'sent', o.fallback, o.attempts, m.subject_type, m.subject_id
FROM outbox o JOIN matches m ON m.id = o.match_id
WHERE (o.id = $1 AND o.digest_id IS NULL OR o.digest_id = $1) AND o.channel = $2 AND (o.status = 'unknown'
    OR o.status = 'sending' AND (o.claim_token IS NULL OR o.lease_until < now())
    OR o.status = 'failed' AND o.reason = 'unknown_outcome')
ORDER BY o.id FOR UPDATE OF o`, nid, r.Channel))
				if err == nil && len(ts) > 0 {
					_, err = tx.tx.Exec(ctx, `UPDATE outbox SET provider_msg_id = $2, sent_at = coalesce(sent_at, call_started_at, $3),
       claim_token = NULL, lease_until = NULL, claimed_at = NULL WHERE id = ANY($1)`, ids(), r.ProviderMsgID, r.At)
				}
			}
		}
		if err != nil {
			return err
		}
		if len(ts) == 0 {
			out = ReceiptUnknown
			return nil
		}
		for i, t := range ts {
			o, nx, err := applyReceipt(ctx, tx, r, t.id, t.status, t.fallback, t.attempts)
			if err != nil {
				return err
			}
			if i == 0 {
				out, next = o, nx
			}
		}
		if r.OptOutSource != "" && out != ReceiptDuplicate {
			_, err = tx.tx.Exec(ctx, `INSERT INTO opt_outs (subject_type, subject_id, channel, source, at)
VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, ts[0].k.Type, ts[0].k.ID, r.Channel, r.OptOutSource, r.At)
		}
		return err
	}()
	if err != nil {
		return "", "", fmt.Errorf("record receipt: %w", err)
	}
	return out, next, nil
}

// applyReceipt applies r to one notice found in status.
func applyReceipt(ctx context.Context, tx *Tx, r Receipt, id int64, status string, fallback []string, attempts int) (out ReceiptOutcome, next string, err error) {
	if status != "sent" {
		return ReceiptDuplicate, "", nil
	}
	switch {
	case r.Delivered:
		out = ReceiptDelivered
		_, err = tx.tx.Exec(ctx, `UPDATE outbox SET status = 'delivered', delivered_at = $2, reason = NULL, updated_at = now()
WHERE id = $1`, id, r.At)
	case r.Fallback && len(fallback) > 0:
		// The channel never reached the recipient: the notice was not
		// received, so it no longer counts against the frequency cap.
		out, next = ReceiptFallback, fallback[0]
		_, err = tx.tx.Exec(ctx, `UPDATE outbox SET status = 'pending', channel = $2, fallback = $3, due_at = $4,
       last_reason = $5, reason = NULL, sent_at = NULL, updated_at = now()
WHERE id = $1`, id, fallback[0], fallback[1:], r.At, r.Reason)
	default:
		out = ReceiptFailed
		_, err = tx.tx.Exec(ctx, `UPDATE outbox SET status = 'failed', reason = $2, last_reason = $2, updated_at = now()
WHERE id = $1`, id, r.Reason)
	}
	if err != nil {
		return "", "", err
	}
	if !r.Delivered {
		// The receipt is part of the notice's history.
		_, err = tx.tx.Exec(ctx, `INSERT INTO notice_attempts (outbox_id, attempt, channel, outcome, reason, provider_msg_id, at)
VALUES ($1, $2, $3, $4, $5, $6, $7)`, id, attempts, r.Channel, "receipt_"+string(out), r.Reason, r.ProviderMsgID, r.At)
	}
	return out, next, err
}
