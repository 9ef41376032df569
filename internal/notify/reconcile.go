package notify

import (
	"context"
	"errors"
	"fmt"

	"github.com/policypush/policypush/internal/store"
)

// Reconcile settles rows left in 'sending' longer than the lease: a
// dispatcher crashed (or lost the database) between claiming a row and
// recording the provider's answer, so nobody knows whether the notice went
// out. A live dispatcher never holds a row that long, because each send is
// bounded by SendTimeout, which New requires to be shorter than Lease.
//
// The choice, per row:
//   - On a channel whose provider drops repeats of the same notice id for a
//     while (IdempotentChannel: WeChat's client_msg_id, 10 minutes), if the
//     claim is recent enough that a resend lands inside that window (with a
//     margin of SendTimeout plus PollInterval), the row goes back to
//     'pending' and is resent with the same id as client_msg_id: if the
//     first call got through, WeChat discards the second, so this is not a
//     blind duplicate, and nothing is lost.
//   - Otherwise (SMS, which no provider deduplicates, or a window that has
//     passed) a resend could be a real duplicate, so the row becomes
//     'failed' with reason unknown_outcome. It is not lost: it is visible,
//     counted, and an admin can requeue it; for Aliyun SMS a later
//     delivery receipt, which echoes the notice id as out_id, still marks
//     it delivered (store.RecordReceipt).
//
// Either way the unknown call is recorded as an attempt with outcome
// unknown. Each row is settled under its stale claim, so a dispatcher that
// answers late changes nothing (store.ErrNotClaimed).
func (d *Dispatcher) Reconcile(ctx context.Context) error {
	now := d.o.Now()
	var errs []error
	for {
		rows, err := d.o.Outbox.StaleSending(ctx, now.Add(-d.o.Lease), d.o.BatchSize)
		if err != nil {
			return err
		}
		settled := 0
		for _, r := range rows {
			out := store.Outcome{
				ID: r.ID, ClaimedAt: r.ClaimedAt, LastReason: string(ReasonUnknownOutcome),
				Attempt: &store.Attempt{Channel: r.Channel, Outcome: string(OutcomeUnknown), Reason: string(ReasonUnknownOutcome), At: now},
			}
			outcome := OutcomeFailed
			if ic, ok := d.channels[r.Channel].(IdempotentChannel); ok &&
				now.Sub(r.ClaimedAt) < ic.DedupWindow()-d.o.SendTimeout-d.o.PollInterval {
				outcome = OutcomeRetry
				out.Status, out.DueAt = "pending", now
			} else {
				out.Status, out.Reason = "failed", string(ReasonUnknownOutcome)
			}
			err := d.o.Outbox.RecordOutcome(ctx, out)
			switch {
			case errors.Is(err, store.ErrNotClaimed):
			case err != nil:
				errs = append(errs, fmt.Errorf("reconcile notice %d: %w", r.ID, err))
			default:
				settled++
				d.o.Observer.Reconciled(r.Channel, outcome)
			}
		}
		if len(rows) < d.o.BatchSize || settled == 0 {
			return errors.Join(errs...)
		}
	}
}
