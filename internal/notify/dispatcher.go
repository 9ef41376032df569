package notify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/policypush/policypush/internal/config"
	"github.com/policypush/policypush/internal/store"
)

// ErrNoRecipient is returned by a Resolver for a subject without a profile.
var ErrNoRecipient = errors.New("no recipient")

// Outbox is the storage the dispatcher works on; *store.Store implements it.
type Outbox interface {
	ClaimOutbox(ctx context.Context, c store.Claim, now time.Time, limit int) ([]store.OutboxRow, error)
	BeginSend(ctx context.Context, r store.OutboxRow, at time.Time) error
	RenewClaims(ctx context.Context, c store.Claim, ids []int64) (int64, error)
	ReleaseClaims(ctx context.Context, token string) (int64, error)
	RequeueLapsed(ctx context.Context) (map[string]int64, error)
	TakeLapsedSending(ctx context.Context, c store.Claim, now time.Time, limit int) ([]store.OutboxRow, error)
	RecordOutcome(ctx context.Context, o store.Outcome) error
	SentTimes(ctx context.Context, k store.SubjectKey, since time.Time) ([]time.Time, error)
	// Digests (digest.go).
	ClaimCompanions(ctx context.Context, c store.Claim, now, until time.Time, claimed []store.OutboxRow, limit int) ([]store.OutboxRow, error)
	BeginSendDigest(ctx context.Context, rows []store.OutboxRow, at time.Time) (int64, []store.OutboxRow, error)
	RecordOutcomes(ctx context.Context, os []store.Outcome) error
}

var _ Outbox = (*store.Store)(nil)

// Options configure a Dispatcher. Outbox, Resolver and Channels are
// required; every other field has a default.
type Options struct {
	Outbox   Outbox
	Resolver Resolver
	Channels []Channel
	// Withdrawn, if set, reports why a policy's notices must no longer go
	// out (repealed, expired), or "" while they may.
	Withdrawn func(policyID string) Reason
	Observer  Observer     // NopObserver
	Logger    *slog.Logger // discards

	QuietHours   config.Window
	FrequencyCap config.Cap
	// DigestWindow: a subject's fresh notices due within it of one that is
	// due go out with it as one message, on a channel that is a
	// DigestChannel with a digest template (digest.go); 0 sends each alone.
	DigestWindow time.Duration
	Rates        map[string]float64 // sends per second by channel name; absent or <= 0 is unlimited
	MaxRateWait  time.Duration      // wait at most this long for a rate-limit token, else defer; 2s

	BatchSize    int           // rows claimed at a time; 100
	Concurrency  int           // notices sent at once; 8
	PollInterval time.Duration // wait when nothing was due; 1s
	// SendTimeout bounds each provider call; 10s, as the WeChat client's
	// own HTTP timeout. A lost call is believed absent from the provider's
	// records only SendTimeout + LookupGrace after it began.
	SendTimeout time.Duration
	// Lease is how long claimed rows stay this dispatcher's without a
	// renewal (POLICYPUSH_DISPATCH_LEASE); 20s. Run renews it every third of
	// it while it holds rows, and reconciles others' lapsed leases every
	// ReconcileInterval, so a dead dispatcher's rows are settled within
	// about Lease + ReconcileInterval of its death.
	Lease             time.Duration
	ReconcileInterval time.Duration // Lease/4, at most 5s
	// LookupGrace: a provider that has no record of a call is believed only
	// once SendTimeout + LookupGrace have passed since the call began (the
	// call may still be arriving, and the provider's records lag); 5s.
	LookupGrace time.Duration
	// MaxLookupAge: a call whose provider could not be asked for this long
	// after it began is marked unknown; 1h.
	MaxLookupAge time.Duration

	Backoff     Backoff       // 1m·2^n, at most 1h
	MaxAttempts int           // provider calls before a retried notice is dead; 8
	MaxAge      time.Duration // age after which a retried notice is dead; 72h

	Now    func() time.Time                                 // time.Now
	Jitter func() float64                                   // rand.Float64
	Sleep  func(ctx context.Context, d time.Duration) error // a timer
}

// Dispatcher sends due outbox rows. Run it in one goroutine per process;
// several processes may share a database.
type Dispatcher struct {
	o        Options
	channels map[string]Channel
	buckets  map[string]*bucket
	claim    store.Claim // the claim of due rows, renewed by Run
	settle   store.Claim // the claim of rows under reconciliation, never renewed

	mu   sync.Mutex
	held map[int64]bool // claimed rows not yet settled, whose lease Run renews
}

// New checks o, fills in its defaults and returns a Dispatcher.
func New(o Options) (*Dispatcher, error) {
	if o.Outbox == nil || o.Resolver == nil || len(o.Channels) == 0 {
		return nil, errors.New("notify: Outbox, Resolver and Channels are required")
	}
	def := func(p *time.Duration, d time.Duration) {
		if *p <= 0 {
			*p = d
		}
	}
	defInt := func(p *int, d int) {
		if *p <= 0 {
			*p = d
		}
	}
	def(&o.MaxRateWait, 2*time.Second)
	def(&o.PollInterval, time.Second)
	def(&o.SendTimeout, 10*time.Second)
	def(&o.Lease, 20*time.Second)
	def(&o.ReconcileInterval, min(o.Lease/4, 5*time.Second))
	def(&o.LookupGrace, 5*time.Second)
	def(&o.MaxLookupAge, time.Hour)
	def(&o.Backoff.Base, time.Minute)
	def(&o.Backoff.Max, time.Hour)
	def(&o.MaxAge, 72*time.Hour)
	defInt(&o.BatchSize, 100)
	defInt(&o.Concurrency, 8)
	defInt(&o.MaxAttempts, 8)
	if o.Lease < time.Second {
		return nil, fmt.Errorf("notify: Lease %v is shorter than a second", o.Lease)
	}
	if o.Observer == nil {
		o.Observer = NopObserver{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Jitter == nil {
		o.Jitter = mrand.Float64
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	var tok [16]byte
	_, _ = rand.Read(tok[:]) // never fails (crypto/rand)
	token := hex.EncodeToString(tok[:])
	d := &Dispatcher{o: o, channels: make(map[string]Channel), buckets: make(map[string]*bucket),
		claim: store.Claim{Token: token, Lease: o.Lease}, settle: store.Claim{Token: token + "/reconcile", Lease: o.Lease},
		held: make(map[int64]bool)}
	for _, c := range o.Channels {
		if _, dup := d.channels[c.Name()]; dup {
			return nil, fmt.Errorf("notify: two channels named %q", c.Name())
		}
		d.channels[c.Name()] = c
		if r := o.Rates[c.Name()]; r > 0 {
			d.buckets[c.Name()] = newBucket(r, max(1, int(r)))
		}
	}
	return d, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Run claims and sends due rows until ctx ends. Two goroutines it owns, and
// stops before it returns, renew the lease of the rows it holds (every
// Lease/3) and reconcile rows whose lease lapsed (every ReconcileInterval,
// and at once). Notices whose provider call has begun when ctx ends are
// finished (within SendTimeout) and recorded; claimed rows not yet called
// are handed back. Database errors are logged and retried after
// PollInterval. Run returns nil when ctx ends.
func (d *Dispatcher) Run(ctx context.Context) error {
	// The heartbeat outlives ctx until the last in-flight call is recorded.
	hctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { d.heartbeat(hctx) })
	wg.Go(func() { d.reconcileLoop(ctx) })
	defer func() {
		stop()
		wg.Wait()
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.o.SendTimeout)
		defer cancel()
		if _, err := d.o.Outbox.ReleaseClaims(rctx, d.claim.Token); err != nil {
			d.o.Logger.ErrorContext(rctx, "hand back claimed notices", "err", err)
		}
	}()
	for {
		if ctx.Err() != nil {
			return nil
		}
		n, err := d.tick(ctx)
		if err != nil {
			d.o.Logger.ErrorContext(ctx, "dispatch outbox", "err", err)
		}
		if err != nil || n < d.o.BatchSize {
			if d.o.Sleep(ctx, d.o.PollInterval) != nil {
				return nil
			}
		}
	}
}

// heartbeat renews the lease of the rows this dispatcher holds until ctx
// ends. It uses real time, as the lease does, whatever Options.Now says.
func (d *Dispatcher) heartbeat(ctx context.Context) {
	t := time.NewTicker(d.o.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ids := d.heldIDs()
		if len(ids) == 0 {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, d.o.Lease/3)
		_, err := d.o.Outbox.RenewClaims(rctx, d.claim, ids)
		cancel()
		if err != nil {
			// BeginSend refuses rows whose lease lapsed meanwhile, so a
			// failed renewal costs a resend later, never a double send.
			d.o.Logger.ErrorContext(ctx, "renew outbox lease", "err", err)
		}
	}
}

func (d *Dispatcher) reconcileLoop(ctx context.Context) {
	t := time.NewTicker(d.o.ReconcileInterval)
	defer t.Stop()
	for {
		if err := d.Reconcile(ctx); err != nil && ctx.Err() == nil {
			d.o.Logger.ErrorContext(ctx, "reconcile outbox", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (d *Dispatcher) hold(rows []store.OutboxRow) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, r := range rows {
		d.held[r.ID] = true
	}
}

func (d *Dispatcher) release(id int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.held, id)
}

func (d *Dispatcher) heldIDs() []int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	ids := make([]int64, 0, len(d.held))
	for id := range d.held {
		ids = append(ids, id)
	}
	return ids
}

// tick claims one batch and sends it, and returns how many rows it claimed.
// Rows it did not call, because ctx ended or the database failed before
// the call, are handed back at the end.
func (d *Dispatcher) tick(ctx context.Context) (int, error) {
	now := d.o.Now()
	rows, err := d.o.Outbox.ClaimOutbox(ctx, d.claim, now, d.o.BatchSize)
	if err != nil {
		return 0, err
	}
	claimed := len(rows)
	d.hold(rows)
	if d.o.DigestWindow > 0 && len(rows) > 0 {
		more, err := d.o.Outbox.ClaimCompanions(ctx, d.claim, now, now.Add(d.o.DigestWindow), rows, d.o.BatchSize)
		if err != nil {
			// The claimed rows still go, each alone or in smaller digests.
			d.o.Logger.ErrorContext(ctx, "claim notices to send with others", "err", err)
		}
		d.hold(more)
		rows = append(rows, more...)
	}
	// Recording and handing back outlive ctx.
	wctx := context.WithoutCancel(ctx)
	var g errgroup.Group
	g.SetLimit(d.o.Concurrency)
	// One subject's notices go one after the other, so that each sees the
	// ones before it in the frequency cap. (Two dispatchers that claim
	// notices of the same subject at once may still both send: the cap is
	// a courtesy, not an invariant.)
	var (
		order     []store.SubjectKey
		bySubject = make(map[store.SubjectKey][]store.OutboxRow)
	)
	for _, r := range rows {
		if _, ok := bySubject[r.Key]; !ok {
			order = append(order, r.Key)
		}
		bySubject[r.Key] = append(bySubject[r.Key], r)
	}
	for _, k := range order {
		g.Go(func() error {
			if rs := bySubject[k]; d.o.DigestWindow > 0 && (len(rs) > 1 || rs[0].DigestID != 0) {
				if ctx.Err() == nil {
					if err := d.processSubject(ctx, rs); err != nil {
						d.o.Logger.ErrorContext(wctx, "dispatch a subject's notices", "err", err)
					}
				}
				for _, r := range rs {
					d.release(r.ID)
				}
				return nil
			}
			for _, r := range bySubject[k] {
				if ctx.Err() != nil {
					d.release(r.ID) // handed back below
					continue
				}
				if err := d.process(ctx, r); errors.Is(err, store.ErrNotClaimed) {
					// Someone else settled the row meanwhile (a withdrawal
					// cancelled it, or reconciliation took it): nothing to do.
					d.o.Logger.InfoContext(wctx, "notice settled elsewhere while being dispatched", "notice", r.ID)
				} else if err != nil {
					// A row left in 'sending' is reconciled once its
					// lease lapses; one left in 'claimed' is handed back.
					d.o.Logger.ErrorContext(wctx, "dispatch notice", "notice", r.ID, "err", err)
				}
				d.release(r.ID)
			}
			return nil
		})
	}
	_ = g.Wait()
	rctx, cancel := context.WithTimeout(wctx, d.o.SendTimeout)
	defer cancel()
	if _, err := d.o.Outbox.ReleaseClaims(rctx, d.claim.Token); err != nil {
		return claimed, err
	}
	return claimed, nil
}

func noticeOf(r store.OutboxRow) *Notice {
	return &Notice{
		ID: r.ID, MatchID: r.MatchID, SubjectType: r.Key.Type, SubjectID: r.Key.ID,
		PolicyID: r.PolicyID, PolicyVersion: r.PolicyVersion, Result: r.Result, Amount: r.Amount,
		Channel: r.Channel, Fallback: r.Fallback, Attempts: r.Attempts, CreatedAt: r.CreatedAt,
		ClickToken: r.ClickToken,
	}
}

// process applies the policies to one claimed row, sends it if they allow,
// and records what became of it. Once ctx ends it stops before the call,
// leaving the row claimed, to be handed back; a call begun is finished and
// recorded whatever becomes of ctx.
func (d *Dispatcher) process(ctx context.Context, r store.OutboxRow) error {
	n := noticeOf(r)
	out := &store.Outcome{ID: r.ID, ClaimedAt: r.ClaimedAt, ClaimToken: r.ClaimToken}
	record := d.recorder(ctx, out)
	to, err := d.o.Resolver.Resolve(ctx, n.SubjectType, n.SubjectID)
	if done, err := d.resolved(ctx, n.Channel, err, record, out); done {
		return err
	}
	n.SubjectName = to.Name
	if ready, err := d.prepare(n, to, out, record); !ready {
		return err
	}
	return d.deliver(ctx, r, n, to, out, record)
}

// recorder records out (one row's outcome) when called.
func (d *Dispatcher) recorder(ctx context.Context, out *store.Outcome) func() error {
	wctx := context.WithoutCancel(ctx)
	return func() error {
		rctx, cancel := context.WithTimeout(wctx, d.o.SendTimeout)
		defer cancel()
		return d.o.Outbox.RecordOutcome(rctx, *out)
	}
}

// resolved handles a failed resolution of the recipient, and reports
// whether it did (the row is then settled, or left to be handed back).
func (d *Dispatcher) resolved(ctx context.Context, channel string, err error, record func() error, out *store.Outcome) (bool, error) {
	switch {
	case err == nil:
		return false, nil
	case errors.Is(err, ErrNoRecipient):
		return true, d.suppress(out, channel, ReasonUnreachable, record)
	case ctx.Err() != nil:
		return true, nil // shutting down: handed back
	}
	// Not the notice's fault: put it back briefly, with no attempt.
	out.Status, out.DueAt = "pending", d.o.Now().Add(d.o.PollInterval)
	return true, errors.Join(fmt.Errorf("resolve recipient: %w", err), record())
}

// prepare applies to one notice what is its own, not its message's: a
// withdrawn policy, consent and opt-outs, and the channel that reaches the
// recipient (n.Channel and n.Fallback are set to it). It reports whether
// the notice is ready to send; if not, it has recorded why.
func (d *Dispatcher) prepare(n *Notice, to Recipient, out *store.Outcome, record func() error) (bool, error) {
	// A policy repealed or expired after the notice was queued stops it.
	if d.o.Withdrawn != nil {
		if reason := d.o.Withdrawn(n.PolicyID); reason != "" {
			out.Status, out.Reason = "cancelled", string(reason)
			d.o.Observer.Cancelled(n.Channel, reason)
			return false, record()
		}
	}

	// Consent and opt-out, re-checked at send time: an opt-out recorded
	// after the row was queued still stops it.
	if to.Consent != nil && !*to.Consent {
		return false, d.suppress(out, n.Channel, ReasonNoConsent, record)
	}
	if !d.usable(n.Channel, to) {
		next, rest, ok := d.nextChannel(n.Fallback, to)
		if !ok {
			reason := ReasonUnreachable
			if to.OptedOut(n.Channel) {
				reason = ReasonOptedOut
			} else if _, known := d.channels[n.Channel]; !known && to.Reaches(n.Channel) {
				reason = ReasonNoChannel
			}
			return false, d.suppress(out, n.Channel, reason, record)
		}
		n.Channel, n.Fallback = next, rest
		out.Channel, out.Fallback = next, nonNil(rest)
	}
	return true, nil
}

// gate applies what holds for a message as a whole: quiet hours, the
// frequency cap (which counts messages) and the channel's rate. It
// reports whether the message may go now; if not, postpone has been called
// (or ctx ended: the rows are handed back, and err is nil).
func (d *Dispatcher) gate(ctx context.Context, k store.SubjectKey, channel string, postpone func(Reason, time.Time) error, again func() error) (bool, error) {
	now := d.o.Now()
	if until, quiet := quietUntil(d.o.QuietHours, now); quiet {
		return false, postpone(ReasonQuietHours, until)
	}
	if c := d.o.FrequencyCap; c.N > 0 {
		sent, err := d.o.Outbox.SentTimes(ctx, k, now.Add(-c.Period))
		if err != nil && ctx.Err() != nil {
			return false, nil // shutting down: handed back
		}
		if err != nil {
			return false, errors.Join(err, again())
		}
		if until, over := capUntil(c, sent, now); over {
			return false, postpone(ReasonFrequencyCap, until)
		}
	}
	if b := d.buckets[channel]; b != nil {
		wait, ok := b.take(now, d.o.MaxRateWait)
		if !ok {
			return false, postpone(ReasonRateLimited, now.Add(wait))
		}
		if wait > 0 {
			if err := d.o.Sleep(ctx, wait); err != nil {
				return false, nil // shutting down: handed back
			}
		}
	}
	// The last word before the call: the claim must still be ours.
	return ctx.Err() == nil, nil
}

// deliver sends one prepared notice alone, if the message policies allow.
func (d *Dispatcher) deliver(ctx context.Context, r store.OutboxRow, n *Notice, to Recipient, out *store.Outcome, record func() error) error {
	ok, err := d.gate(ctx, r.Key, n.Channel, func(reason Reason, until time.Time) error {
		return d.deferTo(out, n.Channel, reason, until, record)
	}, func() error {
		out.Status, out.DueAt = "pending", d.o.Now().Add(d.o.PollInterval)
		return record()
	})
	if !ok {
		return err
	}
	wctx := context.WithoutCancel(ctx)
	// The row names the channel called, so that a lost call is settled
	// with the right provider.
	r.Channel, r.Fallback = n.Channel, nonNil(n.Fallback)
	bctx, cancel := context.WithTimeout(wctx, d.o.SendTimeout)
	err = d.o.Outbox.BeginSend(bctx, r, d.o.Now())
	cancel()
	if errors.Is(err, store.ErrNotClaimed) {
		d.o.Logger.WarnContext(ctx, "notice no longer claimed before its call (lease lapsed, or policy withdrawn); not sent", "notice", r.ID)
		return nil
	}
	if err != nil {
		return err
	}
	return d.send(wctx, n, []*Notice{n}, []*store.Outcome{out}, to, record)
}

// send makes the provider call of msg, which carries the notices members
// (msg itself when alone), and turns its answer into their outcomes outs,
// which record records.
func (d *Dispatcher) send(ctx context.Context, msg *Notice, members []*Notice, outs []*store.Outcome, to Recipient, record func() error) error {
	ch := d.channels[msg.Channel]
	sctx, cancel := context.WithTimeout(ctx, d.o.SendTimeout)
	start := time.Now()
	res, err := ch.Send(sctx, msg, to)
	latency := time.Since(start)
	cancel()
	now := d.o.Now()

	if err == nil {
		for _, out := range outs {
			out.Status, out.SentAt, out.ProviderMsgID = "sent", now, res.ProviderMsgID
			out.Attempt = &store.Attempt{Channel: msg.Channel, At: now, Outcome: string(OutcomeSent), ProviderMsgID: res.ProviderMsgID}
		}
		d.o.Observer.Attempted(msg.Channel, OutcomeSent, "", latency)
		return record()
	}

	se := classify(err)
	// The notices of a digest retry together: one backoff, from the
	// message's attempt.
	retryAt := now.Add(d.o.Backoff.delay(msg.Attempts+1, d.o.Jitter()))
	var first Outcome
	for i, n := range members {
		o := d.failed(ch, msg, n, se, to, now, retryAt, outs[i])
		if i == 0 {
			first = o
		}
	}
	d.o.Observer.Attempted(msg.Channel, first, se.Reason, latency)
	return record()
}

// failed sets out, the outcome of member n of msg, after msg's call failed
// with se, and returns the outcome.
func (d *Dispatcher) failed(ch Channel, msg, n *Notice, se *SendError, to Recipient, now, retryAt time.Time, out *store.Outcome) Outcome {
	reason := se.Reason
	att := &store.Attempt{Channel: msg.Channel, At: now, Reason: string(reason)}
	out.Attempt, out.LastReason = att, string(reason)
	attempt := msg.Attempts + 1
	var outcome Outcome
	switch {
	case se.Ambiguous && !dedups(ch, msg):
		// The call may have got through: a resend could be a duplicate.
		outcome = OutcomeUnknown
		if _, ok := ch.(LookupChannel); ok {
			// Reconciliation asks the provider once it would know.
			out.Status, out.Recheck = "sending", d.o.SendTimeout+d.o.LookupGrace
		} else {
			out.Status, out.Reason = "unknown", string(ReasonUnknownOutcome)
		}
	case se.Quota:
		outcome = OutcomeDeferred
		out.Status, out.Reason, out.DueAt = "deferred", string(reason), nextMidnight(now)
		d.o.Observer.Deferred(msg.Channel, reason)
	case se.Permanent:
		// A digest falls back as a whole: each notice moves to its next
		// channel, due now, and they meet again there.
		next, rest, ok := d.nextChannel(n.Fallback, to)
		if ok {
			outcome = OutcomeFallback
			out.Status, out.DueAt, out.Channel, out.Fallback = "pending", now, next, nonNil(rest)
			d.o.Observer.FellBack(msg.Channel, next, reason)
		} else {
			outcome = OutcomeFailed
			out.Status, out.Reason = "failed", string(reason)
		}
	case se.Retry:
		switch {
		case attempt >= d.o.MaxAttempts:
			outcome = OutcomeDead
			out.Status, out.Reason = "dead", string(ReasonMaxAttempts)
			d.o.Observer.Dead(msg.Channel, ReasonMaxAttempts)
		case now.Sub(n.CreatedAt) >= d.o.MaxAge:
			outcome = OutcomeDead
			out.Status, out.Reason = "dead", string(ReasonMaxAge)
			d.o.Observer.Dead(msg.Channel, ReasonMaxAge)
		default:
			outcome = OutcomeRetry
			out.Status, out.DueAt = "pending", retryAt
		}
	default: // configuration: an operator must act
		outcome = OutcomeFailed
		out.Status, out.Reason = "failed", string(reason)
	}
	att.Outcome = string(outcome)
	return outcome
}

// usable reports whether the dispatcher has the channel and it reaches the
// recipient, who has not opted out of it.
func (d *Dispatcher) usable(channel string, to Recipient) bool {
	_, ok := d.channels[channel]
	return ok && to.Reaches(channel) && !to.OptedOut(channel)
}

// nextChannel returns the first usable channel of fallback and the
// fallbacks after it.
func (d *Dispatcher) nextChannel(fallback []string, to Recipient) (string, []string, bool) {
	for i, c := range fallback {
		if d.usable(c, to) {
			return c, slices.Clone(fallback[i+1:]), true
		}
	}
	return "", nil, false
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// suppress stops a notice that cannot go out now. An opt-out is the
// person's answer and ends it; anything else (no consent given, no channel
// that reaches them) keeps it waiting, so that a later profile event that
// changes it sends the notice while its policy still applies.
func (d *Dispatcher) suppress(out *store.Outcome, channel string, reason Reason, record func() error) error {
	out.Status, out.Reason = "waiting", string(reason)
	if reason == ReasonOptedOut {
		out.Status = "suppressed"
	}
	d.o.Observer.Suppressed(channel, reason)
	return record()
}

func (d *Dispatcher) deferTo(out *store.Outcome, channel string, reason Reason, until time.Time, record func() error) error {
	out.Status, out.Reason, out.DueAt = "deferred", string(reason), until
	d.o.Observer.Deferred(channel, reason)
	return record()
}
