package notify

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/policypush/policypush/internal/store"
)

// provider is a fake channel that logs every send it accepts, can hold
// calls until released, and answers look-ups from its log, as the SMS
// providers do.
type provider struct {
	*recorder
	gate      chan struct{} // when set, each call waits for a value (or ctx)
	started   chan int64    // when set, each call reports its notice first
	lookupErr error
	mu        sync.Mutex
	accepted  map[int64]time.Time
	asked     []time.Time // the since of each look-up
}

func newProvider(name string, script ...error) *provider {
	return &provider{recorder: newRecorder(name, script...), accepted: make(map[int64]time.Time)}
}

func (p *provider) Send(ctx context.Context, n *Notice, to Recipient) (Result, error) {
	if p.started != nil {
		p.started <- n.ID
	}
	if p.gate != nil {
		select {
		case <-p.gate:
		case <-ctx.Done():
			return Result{}, ctx.Err()
		}
	}
	res, err := p.recorder.Send(ctx, n, to)
	if err == nil {
		p.accept(n.ID)
	}
	return res, err
}

func (p *provider) accept(id int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.accepted[id] = time.Now()
}

func (p *provider) Lookup(_ context.Context, n *Notice, _ Recipient, since time.Time) (Lookup, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.asked = append(p.asked, since)
	if p.lookupErr != nil {
		return Lookup{}, p.lookupErr
	}
	if _, ok := p.accepted[n.ID]; ok {
		return Lookup{Found: true, ProviderMsgID: fmt.Sprintf("found-%d", n.ID), Delivered: ptr(true)}, nil
	}
	return Lookup{}, nil
}

// subscribe is an idempotent channel that does not drop repeats of the
// notices of policy "sub": WeChat's subscribe messages.
type subscribe struct{ idempotent }

func (subscribe) Dedups(n *Notice) bool { return n.PolicyID != "sub" }

func statuses(t *testing.T, s *store.Store, ids []int64) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, id := range ids {
		out[state(t, s, id).Status]++
	}
	return out
}

func seedN(t *testing.T, s *store.Store, n int, policy, channel string, at time.Time) []int64 {
	t.Helper()
	var ids []int64
	for i := range n {
		ids = append(ids, seed(t, s, fmt.Sprintf("p%d", i), policy, channel, nil, at))
	}
	return ids
}

func runDispatcher(t *testing.T, d *Dispatcher) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}

func waitFor(t *testing.T, within time.Duration, what string, ok func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !ok() {
		if time.Since(start) > within {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

// A row is 'sending' only while its own call is in flight: the rest of the
// claim waits in 'claimed'.
func TestSendingOnlyDuringItsCall(t *testing.T) {
	s := newStore(t)
	ids := seedN(t, s, 5, "pol", "sms", t0)
	p := newProvider("sms")
	p.gate, p.started = make(chan struct{}), make(chan int64)
	d := newDispatcher(t, Options{Outbox: s, Resolver: resolveAll(everyone), Channels: []Channel{p},
		Now: func() time.Time { return t0 }, Concurrency: 1})
	done := make(chan struct{})
	go func() { defer close(done); tick(t, d) }()
	for i := range len(ids) {
		<-p.started
		want := map[string]int{"sent": i, "sending": 1, "claimed": len(ids) - i - 1}
		if got := statuses(t, s, ids); !maps(got, want) {
			t.Fatalf("during call %d: %v, want %v", i+1, got, want)
		}
		p.gate <- struct{}{}
	}
	<-done
	if got := statuses(t, s, ids); got["sent"] != len(ids) {
		t.Fatalf("after the tick: %v", got)
	}
}

func maps(a, b map[string]int) bool {
	for k, v := range b {
		if a[k] != v {
			return false
		}
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// Behind a slow provider, the rows still waiting in the dispatcher's own
// queue keep their claim: Run renews it, although the whole batch takes
// several leases, and another dispatcher reconciling all the while takes
// nothing away.
func TestLeaseRenewedUnderSlowProvider(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	s := newStore(t)
	ids := seedN(t, s, 4, "pol", "sms", time.Now().Add(-time.Minute))
	p := newProvider("sms")
	p.delay = 700 * time.Millisecond // 4 calls one after another: 2.8s, against a 1s lease
	d := newDispatcher(t, Options{Outbox: s, Resolver: resolveAll(everyone), Channels: []Channel{p},
		Concurrency: 1, Lease: time.Second, SendTimeout: 500 * time.Millisecond, PollInterval: 50 * time.Millisecond})
	other := newDispatcher(t, Options{Outbox: s, Resolver: resolveAll(everyone), Channels: []Channel{newProvider("sms")},
		Lease: time.Second})
	stop := runDispatcher(t, d)
	defer stop()
	rctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() {
		for rctx.Err() == nil {
			if err := other.Reconcile(rctx); err != nil && rctx.Err() == nil {
				t.Error(err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	waitFor(t, 20*time.Second, "all sent", func() bool { return statuses(t, s, ids)["sent"] == len(ids) })
	cancel()
	wg.Wait()
	for _, id := range ids {
		if c := p.count(id); c != 1 {
			t.Errorf("notice %d sent %d times", id, c)
		}
		if got := attemptOutcomes(t, s, id); !slices.Equal(got, []string{"sms:sent"}) {
			t.Errorf("notice %d attempts %v", id, got)
		}
	}
}

// On shutdown, the call in flight is finished and recorded, and the claimed
// rows not yet called go back to pending at once, for any dispatcher.
func TestShutdownHandsBackClaimedRows(t *testing.T) {
	s := newStore(t)
	ids := seedN(t, s, 5, "pol", "sms", time.Now().Add(-time.Minute))
	p := newProvider("sms")
	p.gate, p.started = make(chan struct{}), make(chan int64, 10)
	d := newDispatcher(t, Options{Outbox: s, Resolver: resolveAll(everyone), Channels: []Channel{p}, Concurrency: 1})
	stop := runDispatcher(t, d)
	first := <-p.started
	stopped := make(chan struct{})
	go func() { defer close(stopped); stop() }()
	time.Sleep(100 * time.Millisecond) // Run sees ctx end while the call is in flight
	p.gate <- struct{}{}
	<-stopped
	if st := state(t, s, first); st.Status != "sent" {
		t.Errorf("the notice in flight is %s, want sent", st.Status)
	}
	if got := statuses(t, s, ids); got["pending"] != len(ids)-1 {
		t.Errorf("after shutdown: %v, want the %d others pending", got, len(ids)-1)
	}
	for _, id := range ids {
		if id != first && p.count(id) != 0 {
			t.Errorf("notice %d was called", id)
		}
	}
}

// crash leaves the rows of ids as a dispatcher killed at chosen points
// would: claimed rows not called, and rows in 'sending' (called, maybe
// accepted), their lease lapsing after lease.
func crash(t *testing.T, s *store.Store, lease time.Duration, at time.Time, calls int, accept func(id int64)) []store.OutboxRow {
	t.Helper()
	rows, err := s.ClaimOutbox(t.Context(), store.Claim{Token: "dead", Lease: lease}, at, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows[:calls] {
		if err := s.BeginSend(t.Context(), r, at); err != nil {
			t.Fatal(err)
		}
		if accept != nil {
			accept(r.ID)
		}
	}
	return rows
}

// A dead dispatcher's rows are settled within 30 s of its death, here with
// a 2 s lease: claimed rows go back and are sent, a call the provider
// accepted is found and not resent, and one it never got is resent once
// the provider would have known of it.
func TestDeadDispatcherRowsSettled(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	s := newStore(t)
	at := time.Now().Add(-time.Minute)
	ids := seedN(t, s, 6, "pol", "sms", at)
	p := newProvider("sms")
	died := time.Now()
	// Calls for the first two rows: the provider accepted the first.
	rows := crash(t, s, 2*time.Second, time.Now(), 2, nil)
	p.accept(rows[0].ID)
	d := newDispatcher(t, Options{Outbox: s, Resolver: resolveAll(everyone), Channels: []Channel{p},
		Lease: 2 * time.Second, SendTimeout: time.Second, LookupGrace: 200 * time.Millisecond, PollInterval: 50 * time.Millisecond})
	stop := runDispatcher(t, d)
	defer stop()
	took := waitFor(t, 30*time.Second, "all settled", func() bool { return statuses(t, s, ids)["delivered"]+statuses(t, s, ids)["sent"] == len(ids) })
	t.Logf("settled %v after the death", time.Since(died))
	if took > 10*time.Second {
		t.Errorf("settled after %v", took)
	}
	if st := state(t, s, rows[0].ID); st.Status != "delivered" || st.ProviderMsgID != fmt.Sprintf("found-%d", rows[0].ID) || p.count(rows[0].ID) != 0 {
		t.Errorf("the accepted call: %+v after %d more sends; want found, not resent", st, p.count(rows[0].ID))
	}
	if got := attemptOutcomes(t, s, rows[1].ID); !slices.Equal(got, []string{"sms:unknown", "sms:sent"}) || p.count(rows[1].ID) != 1 {
		t.Errorf("the lost call: attempts %v, %d sends; want resent once", got, p.count(rows[1].ID))
	}
	for _, r := range rows[2:] {
		if got := attemptOutcomes(t, s, r.ID); !slices.Equal(got, []string{"sms:sent"}) {
			t.Errorf("claimed, never called: attempts %v", got)
		}
	}
}

// Two dispatchers on one database, with short leases and one reconciling
// the other all the time, never both send one row.
func TestTwoRunningDispatchersNeverShareARow(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	s := newStore(t)
	ids := seedN(t, s, 40, "pol", "sms", time.Now().Add(-time.Minute))
	p := newProvider("sms")
	p.delay = 30 * time.Millisecond
	var stops []func()
	for range 2 {
		d := newDispatcher(t, Options{Outbox: s, Resolver: resolveAll(everyone), Channels: []Channel{p},
			Lease: time.Second, SendTimeout: 500 * time.Millisecond, BatchSize: 6, Concurrency: 2, PollInterval: 20 * time.Millisecond})
		stops = append(stops, runDispatcher(t, d))
	}
	waitFor(t, 20*time.Second, "all sent", func() bool { return statuses(t, s, ids)["sent"] == len(ids) })
	for _, stop := range stops {
		stop()
	}
	for _, id := range ids {
		if c := p.count(id); c != 1 {
			t.Errorf("notice %d sent %d times", id, c)
		}
	}
}

// A row found in 'sending' after its lease lapsed is settled by asking, or
// by what the channel's provider guarantees; never by a blind resend.
func TestReconcileUnknownOutcome(t *testing.T) {
	s := newStore(t)
	boom := errors.New("provider down")
	tests := []struct {
		name       string
		channel    func() Channel
		policy     string
		accepted   bool // the provider accepted the lost call
		lookupErr  error
		after      time.Duration // since the call began
		wantStatus string
		wantReason string
		attempts   []string
		then       string // after a tick: "" for no tick
	}{
		{name: "lookup found", channel: func() Channel { return newProvider("sms") }, accepted: true, after: time.Minute,
			wantStatus: "delivered", attempts: []string{"sms:sent"}},
		{name: "lookup not found, the provider would know", channel: func() Channel { return newProvider("sms") }, after: time.Minute,
			wantStatus: "pending", attempts: []string{"sms:unknown"}, then: "sent"},
		{name: "lookup not found too early", channel: func() Channel { return newProvider("sms") }, after: 10 * time.Second,
			wantStatus: "sending"},
		{name: "lookup error retries later", channel: func() Channel { return newProvider("sms") }, lookupErr: boom, after: time.Minute,
			wantStatus: "sending"},
		{name: "lookup error for too long", channel: func() Channel { return newProvider("sms") }, lookupErr: boom, after: 2 * time.Hour,
			wantStatus: "unknown", wantReason: "lookup_failed", attempts: []string{"sms:unknown"}},
		{name: "template message inside the client_msg_id window is resent", channel: func() Channel { return subscribe{idempotent{newRecorder("wechat")}} },
			policy: "tmpl", after: 6 * time.Minute, wantStatus: "pending", attempts: []string{"wechat:unknown"}, then: "sent"},
		{name: "template message after the window", channel: func() Channel { return idempotent{newRecorder("wechat")} },
			after: 11 * time.Minute, wantStatus: "unknown", wantReason: "unknown_outcome", attempts: []string{"wechat:unknown"}},
		{name: "subscribe message is never resent", channel: func() Channel { return subscribe{idempotent{newRecorder("wechat")}} },
			policy: "sub", after: time.Minute, wantStatus: "unknown", wantReason: "unknown_outcome", attempts: []string{"wechat:unknown"}},
		{name: "channel that can neither dedup nor be asked", channel: func() Channel { return newRecorder("wechat") },
			after: time.Minute, wantStatus: "unknown", wantReason: "unknown_outcome", attempts: []string{"wechat:unknown"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at := t0.Add(-time.Duration(i) * 24 * time.Hour * 30)
			ch := tt.channel()
			policy := tt.policy
			if policy == "" {
				policy = "pol"
			}
			id := seed(t, s, "p-"+tt.name, policy, ch.Name(), nil, at)
			p, _ := ch.(*provider)
			rows := crash(t, s, time.Minute, at, 1, func(int64) {})
			if tt.accepted {
				p.accept(id)
			}
			if p != nil {
				p.lookupErr = tt.lookupErr
			}
			lapse(t, s, id)
			clock := &fakeClock{t: at.Add(tt.after)}
			d := newDispatcher(t, Options{Outbox: s, Resolver: resolveAll(everyone), Channels: []Channel{ch}, Now: clock.Now})
			if err := d.Reconcile(t.Context()); err != nil {
				t.Fatal(err)
			}
			st := state(t, s, id)
			if st.Status != tt.wantStatus || st.Reason != tt.wantReason {
				t.Fatalf("%s %q, want %s %q", st.Status, st.Reason, tt.wantStatus, tt.wantReason)
			}
			if got := attemptOutcomes(t, s, id); !slices.Equal(got, tt.attempts) {
				t.Errorf("attempts %v, want %v", got, tt.attempts)
			}
			if p != nil && len(p.asked) > 0 && !p.asked[0].Equal(at) {
				t.Errorf("looked up since %v, want the call's start %v", p.asked[0], at)
			}
			// A late answer from the dead dispatcher changes nothing.
			err := s.RecordOutcome(t.Context(), store.Outcome{ID: id, ClaimedAt: rows[0].ClaimedAt, ClaimToken: rows[0].ClaimToken,
				Status: "sent", SentAt: clock.Now()})
			if !errors.Is(err, store.ErrNotClaimed) {
				t.Errorf("late answer: %v, want ErrNotClaimed", err)
			}
			if tt.wantStatus == "sending" {
				// Left to be looked at again, not taken again at once.
				if err := d.Reconcile(t.Context()); err != nil {
					t.Fatal(err)
				}
				if st := state(t, s, id); st.Status != "sending" {
					t.Errorf("looked at again at once: %s", st.Status)
				}
			}
			if tt.then != "" {
				tick(t, d)
				if st := state(t, s, id); st.Status != tt.then {
					t.Errorf("after a tick: %s, want %s", st.Status, tt.then)
				}
			}
		})
	}
}

// lapse makes a row's lease run out now.
func lapse(t *testing.T, s *store.Store, id int64) {
	t.Helper()
	if _, err := s.Pool().Exec(t.Context(), `UPDATE outbox SET lease_until = now() - interval '1 second' WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
}

// A call that times out on a live dispatcher is not retried blindly either.
func TestTimeoutIsAnUnknownOutcome(t *testing.T) {
	s := newStore(t)
	tests := []struct {
		name       string
		channel    Channel
		policy     string
		wantStatus string
		wantReason string
	}{
		{name: "a provider that can be asked is asked later", channel: newProvider("sms", context.DeadlineExceeded), wantStatus: "sending"},
		{name: "a provider that drops repeats is retried", channel: idempotent{newRecorder("sms", context.DeadlineExceeded)}, wantStatus: "pending"},
		{name: "any other becomes unknown", channel: newRecorder("sms", &SendError{Reason: ReasonTimeout, Retry: true}),
			wantStatus: "unknown", wantReason: "unknown_outcome"},
		{name: "a subscribe message becomes unknown", channel: subscribe{idempotent{newRecorder("sms", context.DeadlineExceeded)}},
			policy: "sub", wantStatus: "unknown", wantReason: "unknown_outcome"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at := t0.Add(-time.Duration(i) * 24 * time.Hour * 30)
			policy := tt.policy
			if policy == "" {
				policy = "pol"
			}
			id := seed(t, s, "p-"+tt.name, policy, "sms", nil, at)
			d := newDispatcher(t, Options{Outbox: s, Resolver: resolveAll(everyone), Channels: []Channel{tt.channel},
				Now: func() time.Time { return at }})
			tick(t, d)
			st := state(t, s, id)
			if st.Status != tt.wantStatus || st.Reason != tt.wantReason || st.LastReason != "timeout" {
				t.Fatalf("%s %q (last %q), want %s %q (last timeout)", st.Status, st.Reason, st.LastReason, tt.wantStatus, tt.wantReason)
			}
			if got := attemptOutcomes(t, s, id); len(got) != 1 {
				t.Errorf("attempts %v", got)
			}
		})
	}
}

// A row in 'sending' names the channel being called, also after a fallback
// chosen at send time, so that a lost call is looked up at the right
// provider.
func TestSendingNamesTheChannelCalled(t *testing.T) {
	s := newStore(t)
	id := seed(t, s, "p1", "pol", "wechat", []string{"sms"}, t0)
	sms := newProvider("sms")
	sms.gate, sms.started = make(chan struct{}), make(chan int64)
	to := Recipient{OpenID: "o1", Mobile: "13800138000", OptOut: []string{"wechat"}}
	d := newDispatcher(t, Options{Outbox: s, Resolver: resolveAll(to), Channels: []Channel{newRecorder("wechat"), sms},
		Now: func() time.Time { return t0 }})
	done := make(chan struct{})
	go func() { defer close(done); tick(t, d) }()
	<-sms.started
	if st := state(t, s, id); st.Status != "sending" || st.Channel != "sms" || len(st.Fallback) != 0 {
		t.Errorf("during the call: %s on %s (fallback %v), want sending on sms", st.Status, st.Channel, st.Fallback)
	}
	sms.gate <- struct{}{}
	<-done
	if st := state(t, s, id); st.Status != "sent" || st.Channel != "sms" {
		t.Errorf("after the call: %s on %s", st.Status, st.Channel)
	}
}
