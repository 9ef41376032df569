// Package match turns a batch of profile events into their effects, in one
// database transaction: the profiles as updated, the events recorded as
// applied, and, for every (subject, policy) pair that has just become
// eligible, a match with its explanation and the notice still to send.
//
// Redelivery changes nothing: an event already applied is skipped, an
// event older than the last applied one from its source is stale, and the
// database's unique keys make a second match of a pair impossible.
package match

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/policypush/policypush/internal/notify"
	"github.com/policypush/policypush/internal/profile"
	"github.com/policypush/policypush/internal/rules"
	"github.com/policypush/policypush/internal/store"
)

// Event is one message of the profile-events topic.
type Event struct {
	Value []byte
	// Ref identifies the message to the caller, which gets it back with a
	// rejection.
	Ref any
}

// Rejected is an event that goes to the dead-letter queue, and why.
type Rejected struct {
	Ref    any
	Reason string
}

// The outcomes of an event, a metric label.
const (
	OutcomeApplied   = "applied"
	OutcomeDuplicate = "duplicate"
	OutcomeStale     = "stale"
	OutcomeInvalid   = "invalid"
)

// Store is what the processor needs of the database.
type Store interface {
	InTx(ctx context.Context, fn func(tx *store.Tx) error) error
}

// txStore is the part of a transaction the processor uses; *store.Tx
// implements it.
type txStore interface {
	Load(ctx context.Context, keys []store.SubjectKey, eventIDs []string) (store.Loaded, error)
	Save(ctx context.Context, b *store.Batch) (int, error)
}

// Observer receives what the processor counts; the app turns it into
// metrics.
type Observer interface {
	Event(subjectType, outcome string)
	Matched(policyID string)
	Lapsed(policyID string)
	// Released counts a waiting notice that a later event (or a sweep)
	// queued, a channel or consent having come.
	Released(policyID string)
}

// Config holds what the processor needs besides its collaborators.
type Config struct {
	// DefaultChannels is the order of channels for policies whose rule
	// names none.
	DefaultChannels []string
	// WeChatEnabled says whether the WeChat channel is configured.
	WeChatEnabled bool
}

// ChannelsOf is the policy's order of channels: its rule's, else the
// default.
func (c Config) ChannelsOf(pol *rules.Policy) []string {
	if pol.Notify != nil && len(pol.Notify.Channels) > 0 {
		return pol.Notify.Channels
	}
	return c.withDefaults().DefaultChannels
}

func (c Config) withDefaults() Config {
	if len(c.DefaultChannels) == 0 {
		c.DefaultChannels = []string{"wechat", "sms"}
	}
	return c
}

// Processor applies batches of events. It is safe for one goroutine at a
// time (the consumer's).
type Processor struct {
	store Store
	rules *atomic.Pointer[rules.Set]
	v     *profile.Validator
	now   func() time.Time
	obs   Observer
	log   *slog.Logger
	judge judge

	set *rules.Set         // the set evs belong to
	evs []*rules.Evaluator // one per evaluating goroutine
}

// New returns a processor. set holds the current rule set, which a reload
// may swap at any time; now is the evaluation clock.
func New(st Store, set *atomic.Pointer[rules.Set], v *profile.Validator, now func() time.Time, obs Observer, log *slog.Logger, cfg Config) *Processor {
	cfg = cfg.withDefaults()
	return &Processor{store: st, rules: set, v: v, now: now, obs: obs, log: log, judge: judge{cfg}}
}

// decoded is a valid event of a batch.
type decoded struct {
	env *profile.Envelope
	key store.SubjectKey
	ref any
}

// Handle applies a batch in one transaction and returns the events that
// are invalid. On error nothing was applied, and the batch can be retried.
func (p *Processor) Handle(ctx context.Context, batch []Event) ([]Rejected, error) {
	return p.HandlePrepared(ctx, batch, p.Prepare(batch))
}

// Prepared is a batch decoded and validated, ready for HandlePrepared.
type Prepared struct {
	envs []*profile.Envelope
	errs []error
}

// Prepare decodes and validates a batch. It depends on no earlier batch, so
// it may run while an earlier one is being applied; it is safe to call
// concurrently with HandlePrepared.
func (p *Processor) Prepare(batch []Event) *Prepared {
	envs, errs := p.decode(batch)
	return &Prepared{envs: envs, errs: errs}
}

// HandlePrepared is Handle for a batch Prepare has decoded.
func (p *Processor) HandlePrepared(ctx context.Context, batch []Event, pr *Prepared) ([]Rejected, error) {
	var rejected []Rejected
	var invalid []outcome
	var events []decoded
	envs, errs := pr.envs, pr.errs
	for i, e := range batch {
		if errs[i] != nil {
			rejected = append(rejected, Rejected{Ref: e.Ref, Reason: errs[i].Error()})
			invalid = append(invalid, outcome{subjectTypeOf(e.Value), OutcomeInvalid})
			continue
		}
		env := envs[i]
		events = append(events, decoded{env: env, key: store.SubjectKey{Type: string(env.SubjectType), ID: env.SubjectID}, ref: e.Ref})
	}
	counts, late, b := invalid, []Rejected(nil), &store.Batch{}
	if len(events) > 0 {
		err := p.store.InTx(ctx, func(tx *store.Tx) error {
			c, l, applied, err := p.apply(ctx, tx, events)
			counts, late, b = append(invalid, c...), l, applied
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("apply batch: %w", err)
		}
	}
	// Counted once committed, so that a retried batch counts once.
	for _, c := range counts {
		p.obs.Event(c.subjectType, c.outcome)
	}
	for _, m := range b.Matches {
		p.obs.Matched(m.Match.PolicyID)
	}
	for _, l := range b.Lapsed {
		p.obs.Lapsed(l.PolicyID)
	}
	released(p.obs, b)
	return append(rejected, late...), nil
}

// decode decodes and validates a batch's envelopes, on every core: schema
// validation is most of the work a batch costs this process.
func (p *Processor) decode(batch []Event) ([]*profile.Envelope, []error) {
	envs, errs := make([]*profile.Envelope, len(batch)), make([]error, len(batch))
	workers := min(runtime.GOMAXPROCS(0), (len(batch)+63)/64)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(batch); i += workers {
				envs[i], errs[i] = p.v.DecodeEnvelope(batch[i].Value)
			}
		}()
	}
	wg.Wait()
	return envs, errs
}

type outcome struct{ subjectType, outcome string }

// state is what the batch knows of one subject.
type state struct {
	doc     map[string]any // the profile, nil when there is none
	version int64
	changed map[string]bool
	all     bool   // a snapshot: evaluate every policy
	eventID string // the last applied event, which caused the matches
	dirty   bool
}

func (p *Processor) apply(ctx context.Context, tx txStore, events []decoded) ([]outcome, []Rejected, *store.Batch, error) {
	keys := make([]store.SubjectKey, 0, len(events))
	ids := make([]string, 0, len(events))
	seen := map[store.SubjectKey]bool{}
	for _, e := range events {
		if !seen[e.key] {
			seen[e.key] = true
			keys = append(keys, e.key)
		}
		ids = append(ids, e.env.EventID)
	}
	// One round trip: the locks, then every read, the matches and waiting
	// notices of subjects whose events turn out to be duplicates included.
	loaded, err := tx.Load(ctx, keys, ids)
	if err != nil {
		return nil, nil, nil, err
	}
	applied, stored, marks := loaded.Applied, loaded.Profiles, loaded.Watermarks
	states := map[store.SubjectKey]*state{}
	for _, k := range keys {
		s := &state{changed: map[string]bool{}}
		if sp, ok := stored[k]; ok {
			if err := json.Unmarshal(sp.Data, &s.doc); err != nil {
				return nil, nil, nil, fmt.Errorf("stored profile %s/%s: %w", k.Type, k.ID, err)
			}
			s.version = sp.Version
		}
		states[k] = s
	}

	var b store.Batch
	var counts []outcome
	var rejected []Rejected
	for _, e := range events {
		env, s := e.env, states[e.key]
		count := func(o string) { counts = append(counts, outcome{string(env.SubjectType), o}) }
		if applied[env.EventID] {
			count(OutcomeDuplicate)
			continue
		}
		if last, ok := marks[e.key][env.Source]; ok && env.OccurredAt.Before(last) {
			count(OutcomeStale)
			continue
		}
		next, err := p.next(s.doc, env)
		if err != nil {
			rejected = append(rejected, Rejected{Ref: e.ref, Reason: err.Error()})
			count(OutcomeInvalid)
			continue
		}
		changed, set := diffPaths(orEmpty(s.doc), next)
		benefits := false
		for _, path := range changed {
			s.changed[path] = true
			benefits = benefits || path == "benefits_received"
		}
		if benefits { // an event that leaves the list alone grants nothing
			b.Grants = append(b.Grants, grants(e.key, s.doc, next, env)...)
		}
		if len(set) > 0 {
			b.FieldSources = append(b.FieldSources, store.FieldSources{Key: e.key, Source: env.Source, Paths: set})
		}
		s.all = s.all || env.Type == profile.Snapshot || s.doc == nil
		s.doc, s.eventID, s.dirty = next, env.EventID, true
		s.version++
		applied[env.EventID] = true
		if marks[e.key] == nil {
			marks[e.key] = map[string]time.Time{}
		}
		if last := marks[e.key][env.Source]; env.OccurredAt.After(last) {
			marks[e.key][env.Source] = env.OccurredAt
		}
		b.Events = append(b.Events, store.AppliedEvent{EventID: env.EventID, Key: e.key, Source: env.Source, OccurredAt: env.OccurredAt})
		b.Watermarks = append(b.Watermarks, store.Watermark{Key: e.key, Source: env.Source, OccurredAt: env.OccurredAt})
		count(OutcomeApplied)
	}

	var dirty []store.SubjectKey
	for _, k := range keys {
		if states[k].dirty {
			dirty = append(dirty, k)
		}
	}
	if len(dirty) > 0 {
		if err := p.evaluate(dirty, states, loaded.Matches, loaded.Waiting, &b); err != nil {
			return nil, nil, nil, err
		}
	}
	if _, err := tx.Save(ctx, &b); err != nil {
		return nil, nil, nil, err
	}
	return counts, rejected, &b, nil
}

func orEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

// next computes the profile an event leaves: a snapshot replaces it, a
// patch is merged into it (or into an empty profile of the subject). The
// result must fit the schema and keep the subject's id.
func (p *Processor) next(cur map[string]any, env *profile.Envelope) (map[string]any, error) {
	if env.Type == profile.Patch {
		return p.v.ApplyPatch(env.SubjectType, env.SubjectID, cur, env.Data)
	}
	idField := "person_id"
	if env.SubjectType == profile.KindEnterprise {
		idField = "uscc"
	}
	next := env.Doc // a snapshot, decoded when it was validated
	if id, _ := next[idField].(string); id != env.SubjectID {
		return nil, fmt.Errorf("the profile's %s %q is not the event's subject_id %q", idField, id, env.SubjectID)
	}
	return next, nil
}

// evaluate encodes each changed subject's profile, finds the policies its
// changes touch, and records new matches, lapses and revivals, and routes
// its waiting notices again. Subjects are independent, so they are spread
// over the cores: this runs while the transaction holds its locks and
// PostgreSQL waits, and it is most of the batch's own CPU. The results are
// merged in the order of dirty, as if one goroutine had done them.
func (p *Processor) evaluate(dirty []store.SubjectKey, states map[store.SubjectKey]*state, existing map[store.SubjectKey]map[string]store.MatchState,
	waiting map[store.SubjectKey][]store.WaitingNotice, b *store.Batch) error {
	set := p.rules.Load()
	if set != p.set {
		p.set, p.evs = set, nil
	}
	workers := max(1, min(runtime.GOMAXPROCS(0), (len(dirty)+15)/16))
	for len(p.evs) < workers {
		p.evs = append(p.evs, set.NewEvaluator())
	}
	now := p.now()
	at := set.At(now)
	type result struct {
		data []byte
		b    store.Batch
		err  error
	}
	out := make([]result, len(dirty))
	one := func(ev *rules.Evaluator, k store.SubjectKey) (r result) {
		s := states[k]
		if r.data, r.err = json.Marshal(s.doc); r.err != nil {
			r.err = fmt.Errorf("encode profile %s/%s: %w", k.Type, k.ID, r.err)
			return r
		}
		subject, err := profile.DecodeValid(profile.Kind(k.Type), r.data) // validated when applied
		if err != nil {
			r.err = fmt.Errorf("decode profile %s/%s: %w", k.Type, k.ID, err)
			return r
		}
		pick := func(pol *rules.Policy) bool { return s.all || touches(pol, s.changed) }
		if r.err = p.judge.subject(ev, at, now, k, subject, existing[k], s.eventID, pick, &r.b); r.err != nil {
			return r
		}
		r.err = p.judge.rerouteSubject(ev, at, now, k, subject, waiting[k], &r.b)
		return r
	}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(ev *rules.Evaluator) {
			defer wg.Done()
			for i := w; i < len(dirty); i += workers {
				out[i] = one(ev, dirty[i])
			}
		}(p.evs[w])
	}
	wg.Wait()
	for i, k := range dirty {
		r := &out[i]
		if r.err != nil {
			return r.err
		}
		b.Profiles = append(b.Profiles, store.Profile{Key: k, Data: r.data, Version: states[k].version})
		b.Matches = append(b.Matches, r.b.Matches...)
		b.Revived = append(b.Revived, r.b.Revived...)
		b.Lapsed = append(b.Lapsed, r.b.Lapsed...)
		b.Rerouted = append(b.Rerouted, r.b.Rerouted...)
	}
	sort.SliceStable(b.Matches, func(i, j int) bool { return b.Matches[i].Match.Key.ID < b.Matches[j].Match.Key.ID })
	return nil
}

func touches(p *rules.Policy, changed map[string]bool) bool {
	for path := range changed {
		if p.Reads(path) {
			return true
		}
	}
	return false
}

// judge turns evaluations into their effects on matches; live matching and
// sweeps share it, so that both decide alike.
type judge struct{ cfg Config }

// subject evaluates, for one stored profile, the policies of ev's set that
// apply at at, are of its kind and that pick selects, and appends to b a
// new match (with its notice) for each newly notifiable pair, a lapse for
// each active match that stopped being notifiable, and a revival for each
// lapsed one that is notifiable again.
//
// subject is the decoded profile, a *profile.Resident or *profile.Enterprise.
// It appends only to b's Matches, Revived and Lapsed (evaluate merges those).
func (j judge) subject(ev *rules.Evaluator, at *rules.Instant, now time.Time, k store.SubjectKey, subject any,
	existing map[string]store.MatchState, eventID string, pick func(*rules.Policy) bool, b *store.Batch) error {
	set := ev.Set()
	in, err := set.Prepare(subject)
	if err != nil {
		return err
	}
	var reach *notify.Recipient
	for _, pol := range set.Policies() {
		if string(pol.Subject) != k.Type || !pol.Applies(at) || !pick(pol) {
			continue
		}
		o := ev.Evaluate(pol, in, at)
		notifies := pol.Notifies(o.Result)
		prev, had := existing[pol.ID]
		switch {
		case notifies && !had:
			if reach == nil {
				r := notify.RecipientOf(subject)
				reach = &r
			}
			nm, err := j.newMatch(ev, pol, in, at, o, k, eventID, *reach, now)
			if err != nil {
				return err
			}
			b.Matches = append(b.Matches, nm)
		case notifies && prev.Status == "lapsed":
			b.Revived = append(b.Revived, store.PolicyRef{Key: k, PolicyID: pol.ID})
		case !notifies && had && prev.Status == "active":
			b.Lapsed = append(b.Lapsed, store.PolicyRef{Key: k, PolicyID: pol.ID})
		}
	}
	return nil
}

func (j judge) newMatch(ev *rules.Evaluator, pol *rules.Policy, in *rules.Input, at *rules.Instant, o rules.Outcome, k store.SubjectKey, eventID string, reach notify.Recipient, now time.Time) (store.NewMatch, error) {
	// The compact record, which the store renders as the explanation
	// when it is read: a twentieth of the JSON's bytes to write.
	x, err := ev.AppendCompact(nil, pol, in, at, o)
	if err != nil {
		return store.NewMatch{}, fmt.Errorf("encode explanation: %w", err)
	}
	m := store.Match{
		Key: k, PolicyID: pol.ID, PolicyVersion: pol.Version, Result: o.Result.String(),
		Form: pol.Form(), Values: x, EvaluatedAt: now, EventID: eventID,
	}
	if o.HasAmount {
		a := o.Amount
		m.Amount = &a
	}
	ch, fallback, reason := Route(reach, j.cfg.ChannelsOf(pol), j.cfg.WeChatEnabled)
	n := store.Notice{Channel: ch, Fallback: fallback, Status: "pending", DueAt: now}
	if reason != "" {
		// Waiting, not suppressed: a later event that gives a channel, or
		// consent, sends it (see reroute).
		n.Status, n.Reason = "waiting", reason
	}
	return store.NewMatch{Match: m, Notices: []store.Notice{n}}, nil
}

// subjectTypeOf reads the subject type of an event that failed to decode,
// for the metric label; anything else is "unknown".
func subjectTypeOf(raw []byte) string {
	var e struct {
		SubjectType string `json:"subject_type"`
	}
	if json.Unmarshal(raw, &e) == nil && profile.Kind(e.SubjectType).Valid() {
		return e.SubjectType
	}
	return "unknown"
}
