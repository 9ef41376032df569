package notify

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/policypush/policypush/internal/store"
)

// Reconcile settles the rows whose lease lapsed: their dispatcher died, or
// lost the database, or left a lost answer to be looked up later.
//
// A row still 'claimed' was never called, so it goes back to 'pending' at
// once. A row in 'sending' may have reached the provider; Reconcile takes
// it over under a claim of its own and settles it by asking, not guessing:
//   - A LookupChannel (the SMS providers) is asked whether it accepted the
//     notice in a call made since the call began. Found: the row is sent
//     (delivered, if the provider already knows). Not found: the row goes
//     back to 'pending', but only once SendTimeout + LookupGrace have passed
//     since the call began, because until then the call may still be
//     arriving and the provider's records may lag; earlier, the row is
//     looked at again then. A failed lookup is retried every
//     ReconcileInterval, and after MaxLookupAge the row becomes 'unknown'
//     (lookup_failed).
//   - On a channel whose provider drops repeats of the notice for a while
//     (IdempotentChannel and Deduper: WeChat template messages and their
//     client_msg_id, 10 minutes), if a resend lands inside that window (with
//     a margin of SendTimeout plus PollInterval), the row goes back to
//     'pending' and is resent under the same id: if the first call got
//     through, WeChat discards the second.
//   - Otherwise (WeChat subscribe messages, which have no such id, or a
//     window that has passed) the row becomes 'unknown' with reason
//     unknown_outcome: visible, counted, and an officer may requeue it.
//
// Every settled unknown call is recorded as an attempt. Each row is settled
// under its claim, so a dispatcher that answers late changes nothing
// (store.ErrNotClaimed), and two reconcilers never settle one row twice.
func (d *Dispatcher) Reconcile(ctx context.Context) error {
	back, err := d.o.Outbox.RequeueLapsed(ctx)
	if err != nil {
		return err
	}
	for ch, n := range back {
		for range n {
			d.o.Observer.Reconciled(ch, OutcomeRetry)
		}
	}
	var errs []error
	for {
		rows, err := d.o.Outbox.TakeLapsedSending(ctx, d.settle, d.o.Now(), d.o.BatchSize)
		if err != nil {
			return errors.Join(append(errs, err)...)
		}
		settled := 0
		for _, r := range rows {
			outcome, err := d.settleRow(ctx, r)
			switch {
			case errors.Is(err, store.ErrNotClaimed):
			case err != nil:
				errs = append(errs, fmt.Errorf("reconcile notice %d: %w", r.ID, err))
			case outcome != "":
				settled++
				d.o.Observer.Reconciled(r.Channel, outcome)
			}
		}
		if len(rows) < d.o.BatchSize || settled == 0 {
			return errors.Join(errs...)
		}
	}
}

// settleRow settles one row taken over in 'sending', and returns what
// became of it, or "" when it is to be looked at again later.
func (d *Dispatcher) settleRow(ctx context.Context, r store.OutboxRow) (Outcome, error) {
	now := d.o.Now()
	n := noticeOf(r)
	call := r.CallStartedAt
	out := store.Outcome{ID: r.ID, ClaimedAt: r.ClaimedAt, ClaimToken: r.ClaimToken}
	record := func() error {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.o.SendTimeout)
		defer cancel()
		return d.o.Outbox.RecordOutcome(rctx, out)
	}
	later := func(after time.Duration) (Outcome, error) {
		out.Status, out.Recheck = "sending", max(after, 0)
		return "", record()
	}
	unknown := func(reason Reason) (Outcome, error) {
		out.Status, out.Reason, out.LastReason = "unknown", string(reason), string(reason)
		out.Attempt = &store.Attempt{Channel: r.Channel, Outcome: string(OutcomeUnknown), Reason: string(reason), At: now}
		return OutcomeUnknown, record()
	}
	ch := d.channels[r.Channel]

	if lc, ok := ch.(LookupChannel); ok {
		to, err := d.o.Resolver.Resolve(ctx, n.SubjectType, n.SubjectID)
		if errors.Is(err, ErrNoRecipient) {
			return unknown(ReasonLookupFailed) // nobody left to ask about
		}
		var l Lookup
		if err == nil {
			lctx, cancel := context.WithTimeout(ctx, d.o.SendTimeout)
			l, err = lc.Lookup(lctx, n, to, call)
			cancel()
		}
		switch {
		case err != nil:
			d.o.Logger.WarnContext(ctx, "look up a notice's lost send", "notice", r.ID, "channel", r.Channel, "err", err)
			if now.Sub(call) >= d.o.MaxLookupAge {
				return unknown(ReasonLookupFailed)
			}
			return later(d.o.ReconcileInterval)
		case l.Found:
			out.Status, out.SentAt, out.ProviderMsgID = "sent", call, l.ProviderMsgID
			if l.Delivered != nil && *l.Delivered {
				out.Status, out.DeliveredAt = "delivered", now
			}
			out.Attempt = &store.Attempt{Channel: r.Channel, Outcome: string(OutcomeSent), ProviderMsgID: l.ProviderMsgID, At: now}
			return OutcomeSent, record()
		}
		if wait := call.Add(d.o.SendTimeout + d.o.LookupGrace).Sub(now); wait > 0 {
			return later(wait)
		}
		// The provider answers that it has no such send, and it would know.
		out.Status, out.DueAt, out.LastReason = "pending", now, string(ReasonNotFound)
		out.Attempt = &store.Attempt{Channel: r.Channel, Outcome: string(OutcomeUnknown), Reason: string(ReasonNotFound), At: now}
		return OutcomeRetry, record()
	}

	if ic, ok := ch.(IdempotentChannel); ok && dedups(ch, n) &&
		now.Sub(call) < ic.DedupWindow()-d.o.SendTimeout-d.o.PollInterval {
		out.Status, out.DueAt, out.LastReason = "pending", now, string(ReasonUnknownOutcome)
		out.Attempt = &store.Attempt{Channel: r.Channel, Outcome: string(OutcomeUnknown), Reason: string(ReasonUnknownOutcome), At: now}
		return OutcomeRetry, record()
	}
	return unknown(ReasonUnknownOutcome)
}
