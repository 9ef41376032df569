package notify

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"time"

	"github.com/policypush/policypush/internal/store"
)

// DigestChannel is a Channel that can send a digest (a Notice with
// Members) as one message. Digests reports whether it can now: it has a
// digest template. On any other channel the notices go one by one.
type DigestChannel interface {
	Channel
	Digests() bool
}

func (d *Dispatcher) digests(channel string) bool {
	dc, ok := d.channels[channel].(DigestChannel)
	return ok && dc.Digests()
}

// member is one notice of a subject's claimed rows, prepared for sending.
type member struct {
	r   store.OutboxRow
	n   *Notice
	out *store.Outcome
}

// processSubject sends the claimed rows of one subject: those ready on a
// channel that takes digests as one message per channel, the others each
// alone. What is each notice's own (a withdrawn policy, an opt-out, its
// channel) is decided per notice first, so that a notice that may not go
// simply is not in the digest. Rows that already share a digest id (a
// message sent again) stay together and apart from new ones.
func (d *Dispatcher) processSubject(ctx context.Context, rows []store.OutboxRow) error {
	// The first notice, whose title and link the digest shows, is the
	// oldest one.
	rows = slices.Clone(rows)
	slices.SortFunc(rows, func(a, b store.OutboxRow) int { return cmp.Compare(a.ID, b.ID) })
	k := rows[0].Key
	to, rerr := d.o.Resolver.Resolve(ctx, k.Type, k.ID)
	type group struct {
		channel string
		digest  int64
	}
	var (
		order  []group
		groups = map[group][]member{}
		errs   []error
	)
	for _, r := range rows {
		n := noticeOf(r)
		out := &store.Outcome{ID: r.ID, ClaimedAt: r.ClaimedAt, ClaimToken: r.ClaimToken}
		record := d.recorder(ctx, out)
		if done, err := d.resolved(ctx, n.Channel, rerr, record, out); done {
			errs = append(errs, err)
			continue
		}
		n.SubjectName = to.Name
		ready, err := d.prepare(n, to, out, record)
		if !ready {
			errs = append(errs, err)
			continue
		}
		g := group{n.Channel, r.DigestID}
		if _, ok := groups[g]; !ok {
			order = append(order, g)
		}
		groups[g] = append(groups[g], member{r, n, out})
	}
	for _, g := range order {
		ms := groups[g]
		if !d.digests(g.channel) || len(ms) == 1 && g.digest == 0 {
			for _, m := range ms {
				if ctx.Err() != nil {
					break
				}
				errs = append(errs, d.deliver(ctx, m.r, m.n, to, m.out, d.recorder(ctx, m.out)))
			}
			continue
		}
		if ctx.Err() != nil {
			break
		}
		errs = append(errs, d.deliverDigest(ctx, ms, to))
	}
	for i, err := range errs {
		if errors.Is(err, store.ErrNotClaimed) {
			// Someone else settled a row meanwhile (a withdrawal or a stop
			// cancelled it, or reconciliation took it): nothing to do.
			d.o.Logger.InfoContext(ctx, "notice settled elsewhere while being dispatched", "subject_rows", len(rows))
			errs[i] = nil
		}
	}
	return errors.Join(errs...)
}

// deliverDigest sends the prepared notices ms, all on one channel, as one
// message, if quiet hours, the frequency cap and the rate allow, and
// records each notice's outcome, all in one transaction.
func (d *Dispatcher) deliverDigest(ctx context.Context, ms []member, to Recipient) error {
	wctx := context.WithoutCancel(ctx)
	channel := ms[0].n.Channel
	record := func() error {
		outs := make([]store.Outcome, len(ms))
		for i, m := range ms {
			outs[i] = *m.out
		}
		rctx, cancel := context.WithTimeout(wctx, d.o.SendTimeout)
		defer cancel()
		return d.o.Outbox.RecordOutcomes(rctx, outs)
	}
	ok, err := d.gate(ctx, ms[0].r.Key, channel, func(reason Reason, until time.Time) error {
		for _, m := range ms {
			m.out.Status, m.out.Reason, m.out.DueAt = "deferred", string(reason), until
			d.o.Observer.Deferred(channel, reason)
		}
		return record()
	}, func() error {
		for _, m := range ms {
			m.out.Status, m.out.DueAt = "pending", d.o.Now().Add(d.o.PollInterval)
		}
		return record()
	})
	if !ok {
		return err
	}
	rows := make([]store.OutboxRow, len(ms))
	for i, m := range ms {
		rows[i] = m.r
		rows[i].Channel, rows[i].Fallback = m.n.Channel, nonNil(m.n.Fallback)
	}
	bctx, cancel := context.WithTimeout(wctx, d.o.SendTimeout)
	id, in, err := d.o.Outbox.BeginSendDigest(bctx, rows, d.o.Now())
	cancel()
	if errors.Is(err, store.ErrNotClaimed) {
		d.o.Logger.WarnContext(ctx, "digest no longer claimed before its call (lease lapsed, or its notices settled); not sent", "notice", ms[0].r.ID)
		return nil
	}
	if err != nil {
		return err
	}
	// Only the rows still ours are in the message.
	kept := ms[:0:0]
	for _, m := range ms {
		if slices.ContainsFunc(in, func(r store.OutboxRow) bool { return r.ID == m.r.ID }) {
			kept = append(kept, m)
		}
	}
	ms = kept
	members := make([]*Notice, len(ms))
	outs := make([]*store.Outcome, len(ms))
	for i, m := range ms {
		members[i], outs[i] = m.n, m.out
	}
	return d.send(wctx, digestOf(id, members), members, outs, to, record)
}

// digestOf is the digest notice with id that carries members.
func digestOf(id int64, members []*Notice) *Notice {
	msg := *members[0]
	msg.ID, msg.Members = id, members
	for _, m := range members {
		msg.Attempts = max(msg.Attempts, m.Attempts)
	}
	return &msg
}
