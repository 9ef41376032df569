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
		for _, msg := range messages(rows) {
			r := msg[0]
			outcome, err := d.settleRow(ctx, msg)
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

// messages groups rows taken over in 'sending' by the message that
// carried them: a digest's rows (one digest id) are settled together.
// (Another reconciler may have taken some rows of the same digest; it
// settles them the same way, since it asks about the same digest id.)
func messages(rows []store.OutboxRow) [][]store.OutboxRow {
	var (
		out   [][]store.OutboxRow
		index = map[int64]int{}
	)
	for _, r := range rows {
		if r.DigestID == 0 {
			out = append(out, []store.OutboxRow{r})
			continue
		}
		i, ok := index[r.DigestID]
		if !ok {
			i = len(out)
			index[r.DigestID] = i
			out = append(out, nil)
		}
		out[i] = append(out[i], r)
	}
	return out
}

// settleRow settles the rows of one message taken over in 'sending' (one
// row, or a digest's), and returns what became of them, or "" when they
// are to be looked at again later. Every row gets the same outcome, in one
// transaction.
func (d *Dispatcher) settleRow(ctx context.Context, rows []store.OutboxRow) (Outcome, error) {
	now := d.o.Now()
	r := rows[0]
	n := noticeOf(r)
	if r.DigestID != 0 {
		members := make([]*Notice, len(rows))
		for i, m := range rows {
			members[i] = noticeOf(m)
		}
		n = digestOf(r.DigestID, members)
	}
	call := r.CallStartedAt
	var out store.Outcome
	record := func() error {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.o.SendTimeout)
		defer cancel()
		outs := make([]store.Outcome, len(rows))
		for i, m := range rows {
			outs[i] = out
			outs[i].ID, outs[i].ClaimedAt, outs[i].ClaimToken = m.ID, m.ClaimedAt, m.ClaimToken
		}
		if len(outs) == 1 {
			return d.o.Outbox.RecordOutcome(rctx, outs[0])
		}
		return d.o.Outbox.RecordOutcomes(rctx, outs)
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
