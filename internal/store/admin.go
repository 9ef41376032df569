package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/policypush/policypush/internal/pii"
)

// FunnelRow counts one policy's notices on one channel by how far they
// got. Matched counts the notices (one per match), on the channel each is
// on now.
type FunnelRow struct {
	PolicyID   string `json:"policy_id"`
	Channel    string `json:"channel"`
	Matched    int64  `json:"matched"`
	Waiting    int64  `json:"waiting"` // pending, claimed, sending or deferred
	Sent       int64  `json:"sent"`    // accepted by the provider (delivered ones included)
	Delivered  int64  `json:"delivered"`
	Clicked    int64  `json:"clicked"`
	Failed     int64  `json:"failed"` // failed or dead
	Suppressed int64  `json:"suppressed"`
	Cancelled  int64  `json:"cancelled"`
	// Notices in 'waiting': for a channel to reach the subject, or for the
	// subject's consent. A later profile event that brings either sends
	// them, while the policy applies.
	WaitingForChannel int64 `json:"waiting_for_channel"`
	WaitingForConsent int64 `json:"waiting_for_consent"`
}

// Funnel returns every policy's funnel by channel.
func (s *Store) Funnel(ctx context.Context) ([]FunnelRow, error) {
	rows, err := s.pool.Query(ctx, `SELECT m.policy_id, o.channel, count(*),
       count(*) FILTER (WHERE o.status IN ('pending', 'claimed', 'sending', 'deferred')),
       count(o.sent_at), count(o.delivered_at), count(o.clicked_at),
       count(*) FILTER (WHERE o.status IN ('failed', 'dead')),
       count(*) FILTER (WHERE o.status = 'suppressed'),
       count(*) FILTER (WHERE o.status = 'cancelled'),
       count(*) FILTER (WHERE o.status = 'waiting' AND o.reason IS DISTINCT FROM 'no_consent'),
       count(*) FILTER (WHERE o.status = 'waiting' AND o.reason = 'no_consent')
FROM matches m JOIN outbox o ON o.match_id = m.id
GROUP BY 1, 2 ORDER BY 1, 2`)
	if err != nil {
		return nil, fmt.Errorf("funnel: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[FunnelRow])
	if err != nil {
		return nil, fmt.Errorf("funnel: %w", err)
	}
	return out, nil
}

// SubjectView is what the bureau may see of one subject: its matches with
// their explanations ("why was I notified"), their notices with every
// attempt, its recorded opt-outs, and its contacts masked.
type SubjectView struct {
	SubjectType string            `json:"subject_type"`
	SubjectID   string            `json:"subject_id"`
	Contacts    map[string]string `json:"contacts"` // masked
	OptOuts     []OptOut          `json:"opt_outs"`
	Matches     []MatchView       `json:"matches"`
	// Corrections are the person's 信息有误 answers (the notice page),
	// newest first, with mobiles in the note masked.
	Corrections []CorrectionView `json:"corrections"`
}

// CorrectionView is one correction request of a SubjectView.
type CorrectionView struct {
	Correction
	PolicyID    string     `json:"policy_id"`
	Status      string     `json:"status"` // open or fixed
	FixedAt     *time.Time `json:"fixed_at,omitempty"`
	PublishedAt *time.Time `json:"published_at,omitempty"`
}

// MatchView is one match of a SubjectView.
type MatchView struct {
	PolicyID      string          `json:"policy_id"`
	PolicyVersion int             `json:"policy_version"`
	Result        string          `json:"result"`
	Status        string          `json:"status"`
	Amount        *float64        `json:"amount"`
	EvaluatedAt   time.Time       `json:"evaluated_at"`
	EventID       string          `json:"event_id,omitempty"`
	Explanation   json.RawMessage `json:"explanation"`
	Notices       []NoticeView    `json:"notices"`
}

// NoticeView is one notice of a MatchView.
type NoticeView struct {
	ID          int64      `json:"id"`
	Channel     string     `json:"channel"`
	Status      string     `json:"status"`
	Reason      string     `json:"reason,omitempty"`
	DueAt       time.Time  `json:"due_at"`
	SentAt      *time.Time `json:"sent_at,omitempty"`
	DeliveredAt *time.Time `json:"delivered_at,omitempty"`
	ClickedAt   *time.Time `json:"clicked_at,omitempty"`
	Attempts    []Attempt  `json:"attempts"`
}

// ErrNotFound is returned for a subject the store does not know.
var ErrNotFound = errors.New("not found")

// Subject returns the view of one subject, or ErrNotFound.
func (s *Store) Subject(ctx context.Context, k SubjectKey) (SubjectView, error) {
	v := SubjectView{SubjectType: k.Type, SubjectID: k.ID, Contacts: map[string]string{}, OptOuts: []OptOut{}, Matches: []MatchView{}}
	var profile Profile
	var found bool
	err := s.InTx(ctx, func(tx *Tx) error {
		ps, err := tx.Profiles(ctx, []SubjectKey{k})
		profile, found = ps[k]
		return err
	})
	if err != nil {
		return v, fmt.Errorf("subject: %w", err)
	}
	rows, err := s.pool.Query(ctx, `SELECT m.id, m.policy_id, m.policy_version, m.result, m.status, m.amount::float8,
       m.evaluated_at, coalesce(m.event_id, ''), `+explanationCols+`
FROM matches m WHERE m.subject_type = $1 AND m.subject_id = $2 ORDER BY m.id`, k.Type, k.ID)
	if err != nil {
		return v, fmt.Errorf("subject matches: %w", err)
	}
	var ids []int64
	var id int64
	var mv MatchView
	var x storedExplanation
	_, err = pgx.ForEachRow(rows, append([]any{&id, &mv.PolicyID, &mv.PolicyVersion, &mv.Result, &mv.Status, &mv.Amount,
		&mv.EvaluatedAt, &mv.EventID}, x.dest()...), func() error {
		c := mv
		var err error
		if c.Explanation, err = x.JSON(k); err != nil {
			return err
		}
		c.Notices = []NoticeView{}
		v.Matches = append(v.Matches, c)
		ids = append(ids, id)
		return nil
	})
	if err != nil {
		return v, fmt.Errorf("subject matches: %w", err)
	}
	if !found && len(ids) == 0 {
		return v, ErrNotFound
	}
	byMatch := map[int64]int{}
	for i, id := range ids {
		byMatch[id] = i
	}
	rows, err = s.pool.Query(ctx, `SELECT match_id, id, channel, status, coalesce(reason, ''), due_at, sent_at, delivered_at, clicked_at
FROM outbox WHERE match_id = ANY($1) ORDER BY id`, ids)
	if err != nil {
		return v, fmt.Errorf("subject notices: %w", err)
	}
	var matchID int64
	var nv NoticeView
	_, err = pgx.ForEachRow(rows, []any{&matchID, &nv.ID, &nv.Channel, &nv.Status, &nv.Reason, &nv.DueAt, &nv.SentAt, &nv.DeliveredAt, &nv.ClickedAt}, func() error {
		c := nv
		i := byMatch[matchID]
		v.Matches[i].Notices = append(v.Matches[i].Notices, c)
		return nil
	})
	if err != nil {
		return v, fmt.Errorf("subject notices: %w", err)
	}
	// Every notice's attempts in one query.
	var noticeIDs []int64
	for _, m := range v.Matches {
		for _, n := range m.Notices {
			noticeIDs = append(noticeIDs, n.ID)
		}
	}
	rows, err = s.pool.Query(ctx, `SELECT outbox_id, channel, outcome, coalesce(reason, ''), coalesce(provider_msg_id, ''), at
FROM notice_attempts WHERE outbox_id = ANY($1) ORDER BY outbox_id, attempt, id`, noticeIDs)
	if err != nil {
		return v, fmt.Errorf("subject attempts: %w", err)
	}
	attempts := map[int64][]Attempt{}
	var outboxID int64
	var a Attempt
	_, err = pgx.ForEachRow(rows, []any{&outboxID, &a.Channel, &a.Outcome, &a.Reason, &a.ProviderMsgID, &a.At}, func() error {
		attempts[outboxID] = append(attempts[outboxID], a)
		return nil
	})
	if err != nil {
		return v, fmt.Errorf("subject attempts: %w", err)
	}
	for i := range v.Matches {
		for j := range v.Matches[i].Notices {
			n := &v.Matches[i].Notices[j]
			n.Attempts = attempts[n.ID]
			if n.Attempts == nil {
				n.Attempts = []Attempt{}
			}
		}
	}
	if v.OptOuts, err = s.OptOuts(ctx, k); err != nil {
		return v, err
	}
	if v.OptOuts == nil {
		v.OptOuts = []OptOut{}
	}
	if v.Corrections, err = s.corrections(ctx, k); err != nil {
		return v, err
	}
	if found {
		var doc map[string]any
		if err := json.Unmarshal(profile.Data, &doc); err == nil {
			for _, path := range personalFields[k.Type] {
				val, ok := lookupPath(doc, path).(string)
				if !ok || val == "" {
					continue
				}
				if path == "channels.wechat.openid" {
					v.Contacts[path] = pii.MaskOpenID(val)
				} else {
					v.Contacts[path] = pii.MaskMobile(val)
				}
			}
		}
	}
	return v, nil
}

// lookupPath returns the value at a dotted path of a decoded JSON object.
func lookupPath(doc map[string]any, path string) any {
	var cur any = doc
	start := 0
	for i := 0; i <= len(path); i++ {
		if i < len(path) && path[i] != '.' {
			continue
		}
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[path[start:i]]
		start = i + 1
	}
	return cur
}

// PolicySummary is what became of one policy's notices, for the demo's
// closing table and the console.
type PolicySummary struct {
	PolicyID   string `json:"policy_id"`
	Matched    int64  `json:"matched"`
	SentWeChat int64  `json:"sent_wechat"` // accepted by WeChat, delivered ones included
	SentSMS    int64  `json:"sent_sms"`
	Delivered  int64  `json:"delivered"`
	Fallbacks  int64  `json:"fallbacks"` // moved to another channel, at send time or by a receipt
	Deferred   int64  `json:"deferred"`
	Suppressed int64  `json:"suppressed"`
	Failed     int64  `json:"failed"` // failed or dead
	Waiting    int64  `json:"waiting"`
	OnHold     int64  `json:"on_hold"` // in 'waiting': for a channel, or for consent
}

// Summary returns every policy's PolicySummary.
func (s *Store) Summary(ctx context.Context) ([]PolicySummary, error) {
	rows, err := s.pool.Query(ctx, `WITH fb AS (
    SELECT DISTINCT outbox_id FROM notice_attempts WHERE outcome IN ('fallback', 'receipt_fallback')
)
SELECT m.policy_id, count(*),
       count(*) FILTER (WHERE o.channel = 'wechat' AND o.sent_at IS NOT NULL),
       count(*) FILTER (WHERE o.channel = 'sms' AND o.sent_at IS NOT NULL),
       count(*) FILTER (WHERE o.status = 'delivered'),
       count(fb.outbox_id),
       count(*) FILTER (WHERE o.status = 'deferred'),
       count(*) FILTER (WHERE o.status = 'suppressed'),
       count(*) FILTER (WHERE o.status IN ('failed', 'dead')),
       count(*) FILTER (WHERE o.status IN ('pending', 'claimed', 'sending')),
       count(*) FILTER (WHERE o.status = 'waiting')
FROM matches m JOIN outbox o ON o.match_id = m.id LEFT JOIN fb ON fb.outbox_id = o.id
GROUP BY 1 ORDER BY 1`)
	if err != nil {
		return nil, fmt.Errorf("summary: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[PolicySummary])
	if err != nil {
		return nil, fmt.Errorf("summary: %w", err)
	}
	return out, nil
}

// Fallbacks counts, by the channel that refused, the notices passed on to
// another channel, at send time or by a receipt.
func (s *Store) Fallbacks(ctx context.Context) (map[string]int64, error) {
	rows, err := s.pool.Query(ctx, `SELECT channel, count(DISTINCT outbox_id) FROM notice_attempts
WHERE outcome IN ('fallback', 'receipt_fallback') GROUP BY 1`)
	if err != nil {
		return nil, fmt.Errorf("fallbacks: %w", err)
	}
	out := map[string]int64{}
	var ch string
	var n int64
	_, err = pgx.ForEachRow(rows, []any{&ch, &n}, func() error { out[ch] = n; return nil })
	if err != nil {
		return nil, fmt.Errorf("fallbacks: %w", err)
	}
	return out, nil
}
