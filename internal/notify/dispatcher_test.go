package notify

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/policypush/policypush/internal/config"
	"github.com/policypush/policypush/internal/pgtest"
	"github.com/policypush/policypush/internal/pii"
	"github.com/policypush/policypush/internal/store"

	"github.com/policypush/policypush/internal/testlog"
)

// t0 is a Monday at 10:00 in Asia/Shanghai, outside the quiet hours.
var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, shanghai)

func newStore(t *testing.T) *store.Store {
	t.Helper()
	url := pgtest.NewDatabase(t)
	sealer, err := pii.NewSealer(bytes.Repeat([]byte{7}, pii.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(t.Context(), url, sealer)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return s
}

// seed creates a match and its pending notice, due and created at at, and
// returns the notice's id.
func seed(t *testing.T, s *store.Store, subject, policy, channel string, fallback []string, at time.Time) int64 {
	t.Helper()
	k := store.SubjectKey{Type: "resident", ID: subject}
	err := s.InTx(t.Context(), func(tx *store.Tx) error {
		_, err := tx.Save(t.Context(), &store.Batch{Matches: []store.NewMatch{{
			Match: store.Match{Key: k, PolicyID: policy, PolicyVersion: 1, Result: "eligible",
				Explanation: []byte(`{}`), EvaluatedAt: at},
			Notices: []store.Notice{{Channel: channel, Fallback: fallback, Status: "pending", DueAt: at}},
		}}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var id int64
	err = s.Pool().QueryRow(t.Context(), `UPDATE outbox o SET created_at = $3 FROM matches m
		WHERE m.id = o.match_id AND m.subject_id = $1 AND m.policy_id = $2 RETURNING o.id`, subject, policy, at).Scan(&id)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func ptr[T any](v T) *T { return &v }

// everyone reaches every subject on both channels.
var everyone = Recipient{OpenID: "o-123456789", Mobile: "13800138000", Followed: ptr(true), Consent: ptr(true)}

func resolveAll(r Recipient) Resolver {
	return ResolverFunc(func(context.Context, string, string) (Recipient, error) { return r, nil })
}

// recorder is a fake channel that counts sends per notice and answers with
// the errors in script, one per call, then with success.
type recorder struct {
	name   string
	mu     sync.Mutex
	sends  map[int64]int
	script []error
	delay  time.Duration
}

func newRecorder(name string, script ...error) *recorder {
	return &recorder{name: name, sends: make(map[int64]int), script: script}
}

func (c *recorder) Name() string { return c.name }

func (c *recorder) Send(ctx context.Context, n *Notice, _ Recipient) (Result, error) {
	if c.delay > 0 {
		time.Sleep(c.delay)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sends[n.ID]++
	if len(c.script) > 0 {
		err := c.script[0]
		c.script = c.script[1:]
		if err != nil {
			return Result{}, err
		}
	}
	return Result{ProviderMsgID: fmt.Sprintf("%s-%d", c.name, n.ID)}, nil
}

func (c *recorder) count(id int64) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sends[id]
}

// idempotent is a recorder that declares WeChat's dedup window.
type idempotent struct{ *recorder }

func (idempotent) DedupWindow() time.Duration { return 10 * time.Minute }

func newDispatcher(t *testing.T, o Options) *Dispatcher {
	t.Helper()
	if o.Jitter == nil {
		o.Jitter = func() float64 { return 0 }
	}
	if o.Logger == nil {
		o.Logger = testlog.New(t)
	}
	if o.Sleep == nil {
		o.Sleep = func(context.Context, time.Duration) error { return nil }
	}
	d, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func tick(t *testing.T, d *Dispatcher) int {
	t.Helper()
	n, err := d.tick(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func attemptOutcomes(t *testing.T, s *store.Store, id int64) []string {
	t.Helper()
	as, err := s.Attempts(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range as {
		out = append(out, a.Channel+":"+a.Outcome)
	}
	return out
}

func state(t *testing.T, s *store.Store, id int64) store.OutboxState {
	t.Helper()
	st, err := s.OutboxByID(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestDispatchOneNotice(t *testing.T) {
	s := newStore(t)
	permanent := &SendError{Reason: ReasonUnreachableUser, Permanent: true}
	tests := []struct {
		name      string
		to        Recipient
		fallback  []string
		wechat    []error // the WeChat channel's answers
		at        time.Time
		ticks     int
		wantState string
		wantChan  string
		reason    string
		due       time.Time // zero: not checked
		attempts  []string
	}{
		{name: "sent", to: everyone, ticks: 1, wantState: "sent", wantChan: "wechat",
			attempts: []string{"wechat:sent"}},
		{name: "no consent", to: Recipient{OpenID: "o1", Consent: ptr(false)}, ticks: 1,
			wantState: "waiting", wantChan: "wechat", reason: "no_consent"},
		{name: "no channel reaches them any more", to: Recipient{}, ticks: 1,
			wantState: "waiting", wantChan: "wechat", reason: "unreachable"},
		{name: "opted out after queueing", to: Recipient{OpenID: "o1", OptOut: []string{"wechat"}}, ticks: 1,
			wantState: "suppressed", wantChan: "wechat", reason: "opted_out"},
		{name: "opted out of wechat, sms reachable", to: Recipient{OpenID: "o1", Mobile: "13800138000", OptOut: []string{"wechat"}},
			fallback: []string{"sms"}, ticks: 1, wantState: "sent", wantChan: "sms", attempts: []string{"sms:sent"}},
		{name: "quiet hours defer to 08:00", to: everyone, at: time.Date(2026, 3, 2, 22, 30, 0, 0, shanghai), ticks: 1,
			wantState: "deferred", wantChan: "wechat", reason: "quiet_hours", due: time.Date(2026, 3, 3, 8, 0, 0, 0, shanghai)},
		{name: "permanent falls back to sms", to: everyone, fallback: []string{"sms"}, wechat: []error{permanent}, ticks: 2,
			wantState: "sent", wantChan: "sms", attempts: []string{"wechat:fallback", "sms:sent"}},
		{name: "permanent without fallback fails", to: everyone, wechat: []error{permanent}, ticks: 1,
			wantState: "failed", wantChan: "wechat", reason: "unreachable_user", attempts: []string{"wechat:failed"}},
		{name: "quota defers to midnight", to: everyone, wechat: []error{&SendError{Reason: ReasonQuota, Quota: true}}, ticks: 1,
			wantState: "deferred", wantChan: "wechat", reason: "quota", due: time.Date(2026, 3, 3, 0, 0, 0, 0, shanghai),
			attempts: []string{"wechat:deferred"}},
		{name: "configuration fails", to: everyone, wechat: []error{&SendError{Reason: ReasonConfig}}, ticks: 1,
			wantState: "failed", wantChan: "wechat", reason: "config", attempts: []string{"wechat:failed"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at := tt.at
			if at.IsZero() {
				at = t0
			}
			// Each case runs a month before the one before it, so that earlier cases' rows are never due.
			shift := -time.Duration(i) * 24 * time.Hour * 30
			at = at.Add(shift)
			clock := &fakeClock{t: at}
			id := seed(t, s, "p-"+tt.name, "pol", "wechat", tt.fallback, at)
			wechat, sms := newRecorder("wechat", tt.wechat...), newRecorder("sms")
			d := newDispatcher(t, Options{Outbox: s, Resolver: resolveAll(tt.to), Channels: []Channel{wechat, sms},
				Now: clock.Now, QuietHours: config.Window{From: 21 * time.Hour, To: 8 * time.Hour, On: true}})
			for range tt.ticks {
				tick(t, d)
			}
			st := state(t, s, id)
			if st.Status != tt.wantState || st.Channel != tt.wantChan || st.Reason != tt.reason {
				t.Errorf("state %s/%s reason %q, want %s/%s reason %q", st.Status, st.Channel, st.Reason, tt.wantState, tt.wantChan, tt.reason)
			}
			if !tt.due.IsZero() && !st.DueAt.Equal(tt.due.Add(shift)) {
				t.Errorf("due at %v, want %v", st.DueAt.In(shanghai), tt.due.Add(shift))
			}
			if got := attemptOutcomes(t, s, id); !slices.Equal(got, tt.attempts) {
				t.Errorf("attempts %v, want %v", got, tt.attempts)
			}
			if tt.wantState == "sent" && (st.SentAt == nil || st.ProviderMsgID == "") {
				t.Errorf("sent without sent_at or provider id: %+v", st)
			}
		})
	}
}

func TestRetryBackoffThenSuccess(t *testing.T) {
	s := newStore(t)
	clock := &fakeClock{t: t0}
	id := seed(t, s, "p1", "pol", "wechat", nil, t0)
	serverError := &SendError{Reason: ReasonServerError, Retry: true}
	// A timeout is retried only because WeChat drops a repeat template
	// message (client_msg_id).
	wechat := idempotent{newRecorder("wechat", serverError, context.DeadlineExceeded)}
	d := newDispatcher(t, Options{Outbox: s, Resolver: resolveAll(everyone), Channels: []Channel{wechat}, Now: clock.Now})

	wantDue := []time.Duration{30 * time.Second, time.Minute} // 1m·2^n with jitter 0: the lower half
	wantReason := []string{"server_error", "timeout"}
	for i, wait := range wantDue {
		if n := tick(t, d); n != 1 {
			t.Fatalf("tick %d claimed %d rows", i, n)
		}
		st := state(t, s, id)
		if st.Status != "pending" || !st.DueAt.Equal(clock.Now().Add(wait)) || st.LastReason != wantReason[i] {
			t.Fatalf("after failure %d: %s due %v last reason %q, want pending due %v %q", i+1, st.Status, st.DueAt, st.LastReason, clock.Now().Add(wait), wantReason[i])
		}
		if n := tick(t, d); n != 0 {
			t.Fatalf("claimed %d rows before the backoff ran out", n)
		}
		clock.Set(clock.Now().Add(wait))
	}
	tick(t, d)
	if st := state(t, s, id); st.Status != "sent" || st.Attempts != 3 {
		t.Fatalf("status %s after %d attempts, want sent after 3", st.Status, st.Attempts)
	}
	want := []string{"wechat:retry", "wechat:retry", "wechat:sent"}
	if got := attemptOutcomes(t, s, id); !slices.Equal(got, want) {
		t.Errorf("attempts %v, want %v", got, want)
	}
}

func TestMaxAttemptsDead(t *testing.T) {
	s := newStore(t)
	clock := &fakeClock{t: t0}
	id := seed(t, s, "p1", "pol", "wechat", nil, t0)
	fail := &SendError{Reason: ReasonServerError, Retry: true}
	wechat := newRecorder("wechat", fail, fail, fail, fail)
	d := newDispatcher(t, Options{Outbox: s, Resolver: resolveAll(everyone), Channels: []Channel{wechat},
		Now: clock.Now, MaxAttempts: 3})
	for range 3 {
		tick(t, d)
		clock.Set(clock.Now().Add(2 * time.Hour))
	}
	st := state(t, s, id)
	if st.Status != "dead" || st.Reason != "max_attempts" || wechat.count(id) != 3 {
		t.Fatalf("status %s reason %q after %d sends, want dead max_attempts after 3", st.Status, st.Reason, wechat.count(id))
	}
	if n := tick(t, d); n != 0 {
		t.Errorf("a dead row was claimed")
	}
}

// A notice whose policy was withdrawn after it was queued is cancelled,
// not sent; the others go out.
func TestWithdrawnPolicyCancels(t *testing.T) {
	s := newStore(t)
	gone := seed(t, s, "p1", "repealed-pol", "sms", nil, t0)
	kept := seed(t, s, "p2", "live-pol", "sms", nil, t0)
	sms := newRecorder("sms")
	d := newDispatcher(t, Options{Outbox: s, Resolver: resolveAll(everyone), Channels: []Channel{sms},
		Now: func() time.Time { return t0 },
		Withdrawn: func(id string) Reason {
			if id == "repealed-pol" {
				return ReasonRepealed
			}
			return ""
		}})
	tick(t, d)
	if st := state(t, s, gone); st.Status != "cancelled" || st.Reason != "repealed" || sms.count(gone) != 0 {
		t.Errorf("withdrawn notice: %s %q after %d sends, want cancelled repealed and none", st.Status, st.Reason, sms.count(gone))
	}
	if st := state(t, s, kept); st.Status != "sent" || sms.count(kept) != 1 {
		t.Errorf("other notice: %s after %d sends, want sent once", st.Status, sms.count(kept))
	}
}

func TestFrequencyCapDefers(t *testing.T) {
	s := newStore(t)
	clock := &fakeClock{t: t0}
	var ids []int64
	for i := range 3 {
		ids = append(ids, seed(t, s, "p1", fmt.Sprintf("pol-%d", i), "wechat", nil, t0))
	}
	wechat := newRecorder("wechat")
	d := newDispatcher(t, Options{Outbox: s, Resolver: resolveAll(everyone), Channels: []Channel{wechat},
		Now: clock.Now, FrequencyCap: config.Cap{N: 2, Period: 24 * time.Hour}})
	tick(t, d)
	var sent, deferred int
	for _, id := range ids {
		st := state(t, s, id)
		switch {
		case st.Status == "sent":
			sent++
		case st.Status == "deferred" && st.Reason == "frequency_cap" && st.DueAt.Equal(t0.Add(24*time.Hour)):
			deferred++
		default:
			t.Errorf("notice %d: %s %q due %v", id, st.Status, st.Reason, st.DueAt)
		}
	}
	if sent != 2 || deferred != 1 {
		t.Fatalf("%d sent and %d deferred, want 2 and 1", sent, deferred)
	}
	clock.Set(t0.Add(24 * time.Hour))
	tick(t, d)
	for _, id := range ids {
		if st := state(t, s, id); st.Status != "sent" {
			t.Errorf("notice %d is %s a period later", id, st.Status)
		}
	}
}

func TestTwoDispatchersSendEachOnce(t *testing.T) {
	s := newStore(t)
	clock := &fakeClock{t: t0}
	const n = 60
	var ids []int64
	for i := range n {
		ids = append(ids, seed(t, s, fmt.Sprintf("p%d", i), "pol", "wechat", nil, t0))
	}
	wechat := newRecorder("wechat")
	wechat.delay = 2 * time.Millisecond
	var claimed [2]atomic.Int64
	var wg sync.WaitGroup
	for i := range 2 {
		d := newDispatcher(t, Options{Outbox: s, Resolver: resolveAll(everyone), Channels: []Channel{wechat},
			Now: clock.Now, BatchSize: 7, Concurrency: 3})
		wg.Go(func() {
			for {
				k, err := d.tick(t.Context())
				if err != nil {
					t.Error(err)
					return
				}
				if k == 0 {
					return
				}
				claimed[i].Add(int64(k))
			}
		})
	}
	wg.Wait()
	if got := claimed[0].Load() + claimed[1].Load(); got != n {
		t.Errorf("claimed %d rows in all, want %d", got, n)
	}
	for _, id := range ids {
		if c := wechat.count(id); c != 1 {
			t.Errorf("notice %d sent %d times", id, c)
		}
		if st := state(t, s, id); st.Status != "sent" {
			t.Errorf("notice %d is %s", id, st.Status)
		}
	}
}

func TestRunSendsAndStops(t *testing.T) {
	s := newStore(t)
	id := seed(t, s, "p1", "pol", "sms", nil, time.Now().Add(-time.Minute))
	d, err := New(Options{Outbox: s, Resolver: resolveAll(everyone), Channels: []Channel{NewLogChannel("sms", testlog.New(t))},
		PollInterval: 10 * time.Millisecond, Logger: testlog.New(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for state(t, s, id).Status != "sent" {
		if time.Now().After(deadline) {
			t.Fatal("the notice was not sent")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if st := state(t, s, id); st.ProviderMsgID != fmt.Sprintf("log-%d-1", id) {
		t.Errorf("provider id %q", st.ProviderMsgID)
	}
}
