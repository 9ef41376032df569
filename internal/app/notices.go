package app

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/policypush/policypush/internal/config"
	"github.com/policypush/policypush/internal/ingest"
	"github.com/policypush/policypush/internal/noticepage"
	"github.com/policypush/policypush/internal/notify"
	"github.com/policypush/policypush/internal/notify/wechat"
	"github.com/policypush/policypush/internal/profile"
	"github.com/policypush/policypush/internal/rules"
	"github.com/policypush/policypush/internal/store"
)

// CorrectionsTopic is the Kafka topic correction requests are published
// on (CONTRACTS §7).
const CorrectionsTopic = "profile-corrections"

// notices implements noticepage.Notices over the store: a notice's token is
// the click token of its outbox row.
type notices struct {
	st    *store.Store
	set   *atomic.Pointer[rules.Set]
	now   func() time.Time
	ttl   time.Duration // how long a link lives after the policy's validity (0: for ever)
	marks *profile.Marks
	// published wakes the corrections publisher after a dispute.
	published func()
}

func newNotices(st *store.Store, set *atomic.Pointer[rules.Set], now func() time.Time, ttl time.Duration, wake func()) (*notices, error) {
	marks, err := profile.LoadMarks()
	if err != nil {
		return nil, err
	}
	return &notices{st: st, set: set, now: now, ttl: ttl, marks: marks, published: wake}, nil
}

// open finds a live notice: an unknown token, an expired one and one whose
// policy left the rule set are all ErrNotFound.
func (n *notices) open(ctx context.Context, token string) (store.NoticeRecord, *rules.Policy, error) {
	if !store.IsClickToken(token) {
		return store.NoticeRecord{}, nil, noticepage.ErrNotFound // not a token we issue: no query
	}
	rec, found, err := n.st.NoticeByToken(ctx, token)
	if err != nil {
		return store.NoticeRecord{}, nil, err
	}
	if !found {
		return store.NoticeRecord{}, nil, noticepage.ErrNotFound
	}
	pol := n.set.Load().Policy(rec.PolicyID)
	if pol == nil || n.expired(pol, rec.SentAt, rec.CreatedAt) {
		return store.NoticeRecord{}, nil, noticepage.ErrNotFound
	}
	return rec, pol, nil
}

// expired says whether a notice's link has expired: ttl after the day the
// policy's validity ends, or, for an open-ended policy, ttl after the
// notice was sent (queued, if it never was).
func (n *notices) expired(pol *rules.Policy, sent, created time.Time) bool {
	if n.ttl <= 0 {
		return false
	}
	var from time.Time
	switch {
	case pol.ValidUntil != nil:
		from = pol.ValidUntil.AddDate(0, 0, 1) // valid_until is inclusive
	case !sent.IsZero():
		from = sent
	default:
		from = created
	}
	return !n.now().Before(from.Add(n.ttl))
}

// caseStatus is the status of a notice's case (CONTRACTS §8): its row's,
// else what its match and notices say.
func caseStatus(rec store.NoticeRecord) string {
	switch {
	case rec.CaseStatus != "":
		return rec.CaseStatus
	case rec.MatchStatus == "lapsed":
		return "lapsed"
	case rec.Opened:
		return "opened"
	case !rec.SentAt.IsZero():
		return "notified"
	}
	return "matched"
}

// actionsFor lists the answers still possible in a case's status.
func actionsFor(status string) []string {
	switch status {
	case "matched", "notified", "opened", "disputed", "declined":
		return []string{noticepage.ActionClaim, noticepage.ActionDispute, noticepage.ActionStop}
	case "claimed":
		return []string{noticepage.ActionDispute, noticepage.ActionStop}
	case "lapsed":
		// The latest data no longer meets the conditions: if that data is
		// wrong, 信息有误 is how the person says so.
		return []string{noticepage.ActionDispute, noticepage.ActionStop}
	}
	// approved, rejected, granted: decided; only stopping is left.
	return []string{noticepage.ActionStop}
}

func (n *notices) View(ctx context.Context, token string) (noticepage.View, error) {
	rec, pol, err := n.open(ctx, token)
	if err != nil {
		return noticepage.View{}, err
	}
	conds, err := n.conditions(rec.Explanation)
	if err != nil {
		return noticepage.View{}, err
	}
	steps := pol.NextSteps()
	v := noticepage.View{
		PolicyID: rec.PolicyID, PolicyVersion: rec.PolicyVersion, Title: pol.Title, Department: pol.Department,
		Source: noticepage.Source{Doc: pol.Source.Doc, URL: pol.Source.URL},
		Result: rec.Result, Conditions: conds, Amount: rec.Amount,
		Apply: noticepage.Apply{Mode: string(steps.Mode), How: steps.How, URL: steps.URL, Materials: steps.Materials,
			Office: steps.Office, Confirm: steps.Confirm},
		SubjectType: rec.Key.Type, Owner: rec.Key.Type + "/" + rec.Key.ID,
	}
	if !rec.DataAsOf.IsZero() {
		v.DataAsOf = rec.DataAsOf.In(rules.Shanghai).Format(time.DateOnly)
	}
	if steps.Deadline != nil {
		v.Apply.Deadline = steps.Deadline.In(rules.Shanghai).Format(time.DateOnly)
	}
	if steps.Mode == rules.ApplyAutomatic {
		v.Automatic = "无需申请，也无需任何操作：经办机构将按政策直接发放。"
		if v.Apply.Deadline != "" {
			v.Automatic = "无需申请，也无需任何操作：经办机构将于" + v.Apply.Deadline + "前按政策直接发放。"
		}
	}
	v.Status = caseStatus(rec)
	v.Actions = actionsFor(v.Status)
	if v.Status == "rejected" {
		v.Reason = rec.RejectReason // the officer wrote it for the person; nothing else of the decision
	}
	others, err := n.st.OpenNotices(ctx, rec.Key, rec.MatchID)
	if err != nil {
		return noticepage.View{}, err
	}
	set := n.set.Load()
	v.Others = []noticepage.Other{}
	for _, o := range others {
		p := set.Policy(o.PolicyID)
		if p == nil || n.expired(p, o.SentAt, o.CreatedAt) {
			continue
		}
		v.Others = append(v.Others, noticepage.Other{Link: "/n/" + o.Token, Title: p.Title})
	}
	return v, nil
}

// conditions are a stored explanation's condition names and verdicts.
// The explanation is redacted first, though only names and verdicts leave
// it: what an officer may not see, a citizen's page never gets near.
func (n *notices) conditions(raw json.RawMessage) ([]noticepage.Condition, error) {
	red, err := rules.Redact(raw, n.marks)
	if err != nil {
		return nil, err
	}
	var x struct {
		Conditions []struct {
			Name    string `json:"name"`
			Verdict string `json:"verdict"`
		} `json:"conditions"`
	}
	if err := json.Unmarshal(red, &x); err != nil {
		return nil, fmt.Errorf("stored explanation: %w", err)
	}
	out := make([]noticepage.Condition, 0, len(x.Conditions))
	for _, c := range x.Conditions {
		out = append(out, noticepage.Condition{Name: c.Name, Verdict: c.Verdict})
	}
	return out, nil
}

// IsSubject implements noticepage.Owners: whether a WeChat visitor's
// openid is the one on record of the notice's subject.
func (n *notices) IsSubject(ctx context.Context, token, openid string) (bool, error) {
	rec, _, err := n.open(ctx, token)
	if err != nil {
		return false, err
	}
	return n.st.HasOpenID(ctx, rec.Key, openid)
}

func (n *notices) Claim(ctx context.Context, token string, confirmed bool) (string, error) {
	rec, pol, err := n.open(ctx, token)
	if err != nil {
		return "", err
	}
	status := caseStatus(rec)
	if !slices.Contains(actionsFor(status), noticepage.ActionClaim) {
		return status, nil // claimed already, or decided: nothing changes
	}
	if steps := pol.NextSteps(); steps.Mode == rules.ApplyConfirm && !confirmed {
		msg := "请先勾选确认后再申领"
		if steps.Confirm != "" {
			msg = "请先确认：" + steps.Confirm
		}
		return "", &noticepage.InputError{Message: msg}
	}
	return n.st.Claim(ctx, rec.MatchID, confirmed, pol.Review, n.now())
}

func (n *notices) Dispute(ctx context.Context, token string, conditions []string, note string) (int64, error) {
	rec, pol, err := n.open(ctx, token)
	if err != nil {
		return 0, err
	}
	if utf8.RuneCountInString(note) > noticepage.MaxNoteRunes {
		return 0, &noticepage.InputError{Message: "补充说明不能超过500字"}
	}
	// PostgreSQL's text holds neither invalid UTF-8 nor NUL (a JSON
	// client sends it as \u0000): the person's input, not a store failure.
	if !utf8.ValidString(note) || strings.ContainsRune(note, 0) {
		return 0, &noticepage.InputError{Message: "补充说明含有无法识别的字符"}
	}
	note = strings.TrimSpace(note)
	var names []string
	for _, c := range pol.Conditions {
		names = append(names, c.Name)
	}
	if len(conditions) == 0 {
		return 0, &noticepage.InputError{Message: "请选择有误的条件"}
	}
	d := store.Dispute{MatchID: rec.MatchID, Key: rec.Key, Note: note, At: n.now(), Fields: map[string][]string{}}
	for _, c := range conditions {
		if !slices.Contains(names, c) {
			return 0, &noticepage.InputError{Message: "没有这一条件：请从本政策的条件中选择"}
		}
		if slices.Contains(d.Conditions, c) {
			continue
		}
		d.Conditions = append(d.Conditions, c)
		d.Fields[c] = correctionFields(pol.ConditionFields(c))
	}
	slices.Sort(d.Conditions)
	id, err := n.st.RecordDispute(ctx, d)
	if err != nil {
		return 0, err
	}
	if n.published != nil {
		n.published()
	}
	return id, nil
}

// correctionFields are the fields of a correction request: the profile
// paths a condition reads, with a field of an array element named by its
// array (a source system sets a list as a whole).
func correctionFields(fields []string) []string {
	var out []string
	for _, f := range fields {
		f, _, _ = strings.Cut(f, "[]")
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	slices.Sort(out)
	return out
}

func (n *notices) Stop(ctx context.Context, token, scope string) error {
	rec, _, err := n.open(ctx, token)
	if err != nil {
		return err
	}
	if scope != noticepage.StopPolicy && scope != noticepage.StopAll {
		return &noticepage.InputError{Message: `scope 须为 "policy" 或 "all"`}
	}
	return n.st.StopNotices(ctx, rec.MatchID, rec.Key, rec.PolicyID, scope, []string{notify.WeChat, notify.SMS}, n.now())
}

// correctionPublisher publishes correction requests on CorrectionsTopic:
// the rows are committed with the dispute (a transactional outbox), and it
// sends each and then marks it published, so a crash between the two sends
// it again (at least once; correction_id tells repeats apart).
type correctionPublisher struct {
	st    *store.Store
	p     *ingest.Producer
	log   *slog.Logger
	now   func() time.Time
	wake  chan struct{}
	every time.Duration
}

func newCorrectionPublisher(st *store.Store, p *ingest.Producer, log *slog.Logger, now func() time.Time) *correctionPublisher {
	return &correctionPublisher{st: st, p: p, log: log, now: now, wake: make(chan struct{}, 1), every: 5 * time.Second}
}

// Wake asks for a publication round soon; it never blocks.
func (c *correctionPublisher) Wake() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Run publishes until ctx is done, then closes the producer.
func (c *correctionPublisher) Run(ctx context.Context) error {
	defer func() {
		if err := c.p.Close(); err != nil {
			c.log.Warn("close the corrections producer", "error", err)
		}
	}()
	t := time.NewTicker(c.every)
	defer t.Stop()
	for {
		for {
			n, err := c.round(ctx)
			if err != nil {
				if ctx.Err() == nil {
					c.log.Warn("publish correction requests; will retry", "error", err)
				}
				break
			}
			if n == 0 {
				break
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-c.wake:
		case <-t.C:
		}
	}
}

// round publishes one batch of unpublished requests and returns how many.
func (c *correctionPublisher) round(ctx context.Context) (int, error) {
	cs, err := c.st.UnpublishedCorrections(ctx, 100)
	if err != nil || len(cs) == 0 {
		return 0, err
	}
	kvs := make([]ingest.KV, len(cs))
	ids := make([]int64, len(cs))
	for i, cr := range cs {
		cr.ReportedAt = cr.ReportedAt.In(rules.Shanghai)
		v, err := json.Marshal(cr)
		if err != nil {
			return 0, fmt.Errorf("encode correction %d: %w", cr.ID, err)
		}
		kvs[i], ids[i] = ingest.KV{Key: []byte(cr.SubjectID), Value: v}, cr.ID
	}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := c.p.ProduceBatch(pctx, kvs); err != nil {
		return 0, err
	}
	if err := c.st.MarkCorrectionsPublished(ctx, ids, c.now()); err != nil {
		return 0, err
	}
	return len(cs), nil
}

// newPageWeChat is the notice page's WeChat sign-in: on when an official
// account is configured. Its session key is derived from the current PII
// key, so that every replica verifies the others' sessions; a rotation
// ends the sessions, which only costs a silent redirect.
func newPageWeChat(cfg *config.Config, st *store.Store, owners noticepage.Owners, log *slog.Logger) (*noticepage.WeChatOptions, error) {
	if !cfg.WeChatEnabled() {
		return nil, nil
	}
	oauth, err := wechat.NewOAuth(wechat.Config{AppID: cfg.WeChatAppID, Secret: cfg.WeChatSecret.Value(), APIBase: cfg.WeChatAPIBase},
		cfg.WeChatOpenBase)
	if err != nil {
		return nil, fmt.Errorf("wechat sign-in: %w", err)
	}
	o := &noticepage.WeChatOptions{OAuth: oauth, Owners: owners}
	if s := st.Sealer(); s != nil {
		o.SessionKey = s.Index("notice page wechat session key", "v1")
	}
	log.Info("notice page: visitors inside WeChat sign in with snsapi_base; the personal part is shown only to the notice's subject")
	return o, nil
}
