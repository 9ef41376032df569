package app

import (
	"context"
	"sort"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/policypush/policypush/internal/console"
	"github.com/policypush/policypush/internal/store"
)

// consoleSource gathers the console's numbers: funnels from the outbox,
// the backlog, the rule set and the sweeps. Nothing personal is in it.
type consoleSource struct {
	st  *store.Store
	rs  *ruleSet
	m   *metrics
	now func() time.Time
}

var _ console.Source = (*consoleSource)(nil)

func (c *consoleSource) Snapshot(ctx context.Context) (console.Snapshot, error) {
	snap := console.Snapshot{GeneratedAt: c.now()}
	rows, err := c.st.Funnel(ctx)
	if err != nil {
		return snap, err
	}
	fallbacks, err := c.st.Fallbacks(ctx)
	if err != nil {
		return snap, err
	}
	// Pointers while counting, so that a policy removed from the rules
	// (whose history stays) can join without invalidating the others.
	var policies []*console.PolicyFunnel
	byPolicy := map[string]*console.PolicyFunnel{}
	for _, p := range c.rs.Policies() {
		f := &console.PolicyFunnel{ID: p.ID, Title: p.Title, Subject: p.Subject, Status: p.Status, InForce: p.InForce}
		policies = append(policies, f)
		byPolicy[p.ID] = f
	}
	byChannel := map[string]*console.ChannelHealth{}
	for _, r := range rows {
		p := byPolicy[r.PolicyID]
		if p == nil {
			p = &console.PolicyFunnel{ID: r.PolicyID, Status: "removed"}
			policies = append(policies, p)
			byPolicy[r.PolicyID] = p
		}
		p.Matched += r.Matched
		p.Waiting += r.Waiting
		p.Sent += r.Sent
		p.Delivered += r.Delivered
		p.Clicked += r.Clicked
		p.Failed += r.Failed
		p.Suppressed += r.Suppressed
		p.Cancelled += r.Cancelled
		p.WaitingForChannel += r.WaitingForChannel
		p.WaitingForConsent += r.WaitingForConsent
		ch := byChannel[r.Channel]
		if ch == nil {
			ch = &console.ChannelHealth{Channel: r.Channel}
			byChannel[r.Channel] = ch
		}
		ch.Sent += r.Sent
		ch.Delivered += r.Delivered
		ch.Failed += r.Failed
		ch.Waiting += r.Waiting
		ch.Suppressed += r.Suppressed
		snap.Backlog.OutboxWaiting += r.Waiting
	}
	for name, n := range fallbacks {
		ch := byChannel[name]
		if ch == nil {
			ch = &console.ChannelHealth{Channel: name}
			byChannel[name] = ch
		}
		ch.Fallbacks = n
	}
	answers, err := c.st.AnswerCounts(ctx)
	if err != nil {
		return snap, err
	}
	for _, a := range answers {
		if p := byPolicy[a.PolicyID]; p != nil {
			p.Claimed, p.Disputed, p.Stopped = a.Claimed, a.Disputed, a.Stopped
		}
	}
	for _, ch := range byChannel {
		snap.Channels = append(snap.Channels, *ch)
	}
	sort.Slice(snap.Channels, func(i, j int) bool { return snap.Channels[i].Channel > snap.Channels[j].Channel }) // wechat, sms
	for _, p := range policies {
		snap.Policies = append(snap.Policies, *p)
	}
	sort.SliceStable(snap.Policies, func(i, j int) bool { return snap.Policies[i].Matched > snap.Policies[j].Matched })

	if due, ok, err := c.st.OldestDue(ctx, c.now()); err == nil && ok {
		snap.Backlog.OldestDueSeconds = c.now().Sub(due).Seconds()
	}
	if n, err := c.st.OutboxUnknown(ctx); err == nil {
		snap.Backlog.UnknownOutcome = n
	}
	var d dto.Metric
	if c.m.dlq.Write(&d) == nil {
		snap.Backlog.DLQMessages = int64(d.GetCounter().GetValue())
	}
	snap.Rules = c.rs.state()
	sweeps, err := c.st.Sweeps(ctx, 10)
	if err != nil {
		return snap, err
	}
	for _, s := range sweeps {
		snap.Sweeps = append(snap.Sweeps, console.SweepProgress{ID: s.ID, Kind: s.Kind, SubjectType: s.SubjectType, Status: s.Status,
			DoneChunks: s.DoneChunks, TotalChunks: s.TotalChunks, Profiles: s.Profiles, Matched: s.Matched})
	}
	return snap, nil
}

// reloadState is the last (re)load of the rules, for the console.
type reloadState struct {
	mu sync.Mutex
	at time.Time
	ok bool
}
