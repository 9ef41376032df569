package notify

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/policypush/policypush/internal/config"
	"github.com/policypush/policypush/internal/store"
)

// digester is a fake channel that takes digests: it logs each message as
// the notice ids it carries, answers with the errors in script, and
// answers look-ups of the message ids it accepted, as the SMS providers do.
type digester struct {
	name     string
	mu       sync.Mutex
	msgs     [][]int64 // the member ids of each call
	ids      []int64   // the message id (client_msg_id / OutId) of each call
	script   []error
	accepted map[int64]bool
}

func newDigester(name string, script ...error) *digester {
	return &digester{name: name, script: script, accepted: map[int64]bool{}}
}

func (c *digester) Name() string  { return c.name }
func (c *digester) Digests() bool { return true }

func (c *digester) Send(_ context.Context, n *Notice, _ Recipient) (Result, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ids := []int64{n.ID}
	if n.Members != nil {
		ids = nil
		for _, m := range n.Members {
			ids = append(ids, m.ID)
		}
	}
	c.msgs, c.ids = append(c.msgs, ids), append(c.ids, n.ID)
	if len(c.script) > 0 {
		err := c.script[0]
		c.script = c.script[1:]
		if err != nil {
			return Result{}, err
		}
	}
	c.accepted[n.ID] = true
	return Result{ProviderMsgID: fmt.Sprintf("%s-%d-%d", c.name, n.ID, len(c.msgs))}, nil
}

func (c *digester) messages() [][]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.msgs)
}

// lookupDigester is a digester whose provider can be asked (SMS).
type lookupDigester struct{ *digester }

func (c lookupDigester) Lookup(_ context.Context, n *Notice, _ Recipient, _ time.Time) (Lookup, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.accepted[n.ID] {
		return Lookup{Found: true, ProviderMsgID: fmt.Sprintf("found-%d", n.ID)}, nil
	}
	return Lookup{}, nil
}

// dedupDigester is a digester whose provider drops repeats (WeChat).
type dedupDigester struct{ *digester }

func (dedupDigester) DedupWindow() time.Duration { return 10 * time.Minute }

func seedSubject(t *testing.T, s *store.Store, subject string, channel string, fallback []string, due ...time.Time) []int64 {
	t.Helper()
	var ids []int64
	for i, at := range due {
		ids = append(ids, seed(t, s, subject, fmt.Sprintf("pol-%d", i), channel, fallback, at))
	}
	return ids
}

func statusesOf(t *testing.T, s *store.Store, ids []int64) []string {
	t.Helper()
	var out []string
	for _, id := range ids {
		st := state(t, s, id)
		out = append(out, st.Channel+":"+st.Status)
	}
	return out
}

func same(list []string, want string) bool {
	return len(list) > 0 && !slices.ContainsFunc(list, func(s string) bool { return s != want })
}

// With the window off every notice is its own message; with it on, the
// notices of one subject due within it of the first go as one, and one due
// later goes on its own when it is due.
func TestDigestOff(t *testing.T) {
	for _, tt := range []struct {
		name   string
		window time.Duration
		due    []time.Duration // after t0
		want   [][]int         // the messages at t0, by index into due
	}{
		{"off", 0, []time.Duration{0, 0, 0}, [][]int{{0}, {1}, {2}}},
		{"on", 10 * time.Minute, []time.Duration{0, 0, 0}, [][]int{{0, 1, 2}}},
		{"on, one due later within the window", 10 * time.Minute, []time.Duration{0, 0, 5 * time.Minute}, [][]int{{0, 1, 2}}},
		{"on, one due after the window", 10 * time.Minute, []time.Duration{0, 0, 20 * time.Minute}, [][]int{{0, 1}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			var due []time.Time
			for _, d := range tt.due {
				due = append(due, t0.Add(d))
			}
			ids := seedSubject(t, s, "p1", "wechat", []string{"sms"}, due...)
			wx := newDigester("wechat")
			clock := &fakeClock{t: t0}
			d := newDispatcher(t, Options{Outbox: s, Resolver: resolveAll(everyone), Channels: []Channel{wx, newDigester("sms")},
				DigestWindow: tt.window, Now: clock.Now})
			tick(t, d)
			var want [][]int64
			for _, m := range tt.want {
				var w []int64
				for _, i := range m {
					w = append(w, ids[i])
				}
				want = append(want, w)
			}
			got := wx.messages()
			slices.SortFunc(got, func(a, b []int64) int { return int(a[0] - b[0]) })
			if !slices.EqualFunc(got, want, slices.Equal) {
				t.Errorf("messages %v, want %v", got, want)
			}
			if len(tt.want) == 1 && len(tt.want[0]) > 1 {
				if ps := distinctProviderIDs(t, s, ids[:len(tt.want[0])]); len(ps) != 1 {
					t.Errorf("the digest's notices have provider ids %v, want one", ps)
				}
			}
		})
	}
}

func distinctProviderIDs(t *testing.T, s *store.Store, ids []int64) []string {
	t.Helper()
	var out []string
	for _, id := range ids {
		if p := state(t, s, id).ProviderMsgID; !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// A digest counts once against the frequency cap, and each of its notices
// gets its own delivered status from the one receipt.
func TestDigestCapAndReceipt(t *testing.T) {
	s := newStore(t)
	ids := seedSubject(t, s, "p1", "wechat", []string{"sms"}, t0, t0, t0)
	wx := newDigester("wechat")
	clock := &fakeClock{t: t0}
	d := newDispatcher(t, Options{Outbox: s, Resolver: resolveAll(everyone), Channels: []Channel{wx},
		DigestWindow: 10 * time.Minute, FrequencyCap: config.Cap{N: 2, Period: 168 * time.Hour}, Now: clock.Now})
	tick(t, d)
	if got := wx.messages(); len(got) != 1 || len(got[0]) != 3 {
		t.Fatalf("messages %v, want one of three", got)
	}
	sent, err := s.SentTimes(t.Context(), store.SubjectKey{Type: "resident", ID: "p1"}, t0.Add(-time.Hour))
	if err != nil || len(sent) != 1 {
		t.Errorf("the cap counts %v (%v), want one message", sent, err)
	}
	out, _, err := s.RecordReceipt(t.Context(), store.Receipt{Channel: "wechat", ProviderMsgID: state(t, s, ids[0]).ProviderMsgID, Delivered: true, At: t0})
	if err != nil || out != store.ReceiptDelivered {
		t.Fatalf("receipt: %v %v", out, err)
	}
	if got := statusesOf(t, s, ids); !same(got, "wechat:delivered") {
		t.Errorf("after the receipt: %v", got)
	}
	// One more notice goes (the cap of 2 has counted one message); the
	// next waits.
	clock.Set(t0.Add(time.Hour))
	more := []int64{seed(t, s, "p1", "pol-x", "wechat", nil, t0.Add(time.Hour))}
	tick(t, d)
	clock.Set(t0.Add(2 * time.Hour))
	more = append(more, seed(t, s, "p1", "pol-y", "wechat", nil, t0.Add(2*time.Hour)))
	tick(t, d)
	if got := statusesOf(t, s, more); !slices.Equal(got, []string{"wechat:sent", "wechat:deferred"}) {
		t.Errorf("after a digest of three, with a cap of 2: %v", got)
	}
}

// WeChat refuses the user for good (a block, reported by the receipt, or a
// refusal at once): the whole digest falls back together and goes as one
// SMS.
func TestDigestFallback(t *testing.T) {
	for _, tt := range []struct {
		name    string
		script  []error
		receipt bool
	}{
		{"user block receipt", nil, true},
		{"refused at send", []error{&SendError{Reason: ReasonBlocked, Permanent: true}}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			ids := seedSubject(t, s, "p1", "wechat", []string{"sms"}, t0, t0, t0)
			wx, sms := newDigester("wechat", tt.script...), newDigester("sms")
			clock := &fakeClock{t: t0}
			d := newDispatcher(t, Options{Outbox: s, Resolver: resolveAll(everyone), Channels: []Channel{wx, sms},
				DigestWindow: 10 * time.Minute, Now: clock.Now})
			tick(t, d)
			if tt.receipt {
				out, next, err := s.RecordReceipt(t.Context(), store.Receipt{Channel: "wechat", ProviderMsgID: state(t, s, ids[0]).ProviderMsgID,
					Reason: "blocked", Fallback: true, OptOutSource: "wechat_block", At: t0})
				if err != nil || out != store.ReceiptFallback || next != "sms" {
					t.Fatalf("receipt: %v %v %v", out, next, err)
				}
			}
			tick(t, d)
			if got := wx.messages(); len(got) != 1 || len(got[0]) != 3 {
				t.Errorf("WeChat messages %v, want one of three", got)
			}
			if got := sms.messages(); len(got) != 1 || !slices.Equal(got[0], ids) {
				t.Errorf("SMS messages %v, want one of %v", got, ids)
			}
			if got := statusesOf(t, s, ids); !same(got, "sms:sent") {
				t.Errorf("notices %v", got)
			}
			for _, id := range ids {
				if got := attemptOutcomes(t, s, id); len(got) < 2 || got[len(got)-1] != "sms:sent" {
					t.Errorf("notice %d attempts %v: want its own record of both", id, got)
				}
			}
		})
	}
}

// Quiet hours hold the whole digest, and it goes as one at their end.
func TestDigestQuietHours(t *testing.T) {
	s := newStore(t)
	night := time.Date(2026, 3, 2, 22, 0, 0, 0, shanghai)
	ids := seedSubject(t, s, "p1", "wechat", nil, night, night.Add(time.Minute), night.Add(2*time.Minute))
	wx := newDigester("wechat")
	clock := &fakeClock{t: night.Add(3 * time.Minute)}
	d := newDispatcher(t, Options{Outbox: s, Resolver: resolveAll(everyone), Channels: []Channel{wx},
		DigestWindow: 10 * time.Minute, QuietHours: config.Window{On: true, From: 21 * time.Hour, To: 8 * time.Hour}, Now: clock.Now})
	tick(t, d)
	if got := statusesOf(t, s, ids); !same(got, "wechat:deferred") || len(wx.messages()) != 0 {
		t.Fatalf("at night: %v, %d messages", got, len(wx.messages()))
	}
	clock.Set(time.Date(2026, 3, 3, 8, 0, 1, 0, shanghai))
	tick(t, d)
	if got := wx.messages(); len(got) != 1 || !slices.Equal(got[0], ids) {
		t.Errorf("at 08:00: messages %v, want one of %v", got, ids)
	}
}

// A notice stopped while the digest is being put together (the person
// answered 不再接收 for that policy) is simply not in it.
func TestDigestOptOutMidWindow(t *testing.T) {
	s := newStore(t)
	ids := seedSubject(t, s, "p1", "wechat", nil, t0, t0, t0)
	wx := newDigester("wechat")
	clock := &fakeClock{t: t0}
	var once sync.Once
	resolve := ResolverFunc(func(ctx context.Context, _, _ string) (Recipient, error) {
		// The rows are claimed by now; the stop cancels one of them.
		once.Do(func() {
			if _, err := s.Pool().Exec(ctx, `UPDATE outbox SET status = 'cancelled', reason = 'opted_out', claim_token = NULL,
				claimed_at = NULL, lease_until = NULL WHERE id = $1 AND status IN ('pending', 'claimed')`, ids[1]); err != nil {
				t.Error(err)
			}
		})
		return everyone, nil
	})
	d := newDispatcher(t, Options{Outbox: s, Resolver: resolve, Channels: []Channel{wx}, DigestWindow: 10 * time.Minute, Now: clock.Now})
	tick(t, d)
	if got := wx.messages(); len(got) != 1 || !slices.Equal(got[0], []int64{ids[0], ids[2]}) {
		t.Errorf("messages %v, want one of %v", got, []int64{ids[0], ids[2]})
	}
	if got := statusesOf(t, s, ids); !slices.Equal(got, []string{"wechat:sent", "wechat:cancelled", "wechat:sent"}) {
		t.Errorf("notices %v", got)
	}
}

// A dispatcher dies during a digest's call: reconciliation settles the
// digest as one message, by its digest id. The SMS provider, asked, has
// it: nothing is resent; or has not: it is sent again whole, under the
// same id. WeChat cannot be asked, but drops a repeat of the
// id: the digest is sent again whole, under the same id.
func TestDigestCrashReconciled(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a lease to lapse")
	}
	for _, tt := range []struct {
		name     string
		channel  func(*digester) Channel
		accepted bool
		resends  int
	}{
		{"sms, accepted", func(d *digester) Channel { return lookupDigester{d} }, true, 0},
		{"sms, never got it", func(d *digester) Channel { return lookupDigester{d} }, false, 1},
		{"wechat, within the dedup window", func(d *digester) Channel { return dedupDigester{d} }, true, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			now := time.Now()
			ids := seedSubject(t, s, "p1", "sms", nil, now.Add(-time.Minute), now.Add(-time.Minute), now.Add(-time.Minute))
			rows, err := s.ClaimOutbox(t.Context(), store.Claim{Token: "dead", Lease: time.Second}, now, 10)
			if err != nil || len(rows) != 3 {
				t.Fatalf("claim: %v %v", rows, err)
			}
			id, in, err := s.BeginSendDigest(t.Context(), rows, now)
			if err != nil || len(in) != 3 || id != ids[0] {
				t.Fatalf("begin send: %d %v %v", id, in, err)
			}
			p := newDigester("sms")
			if tt.accepted {
				p.accepted[id] = true
			}
			d := newDispatcher(t, Options{Outbox: s, Resolver: resolveAll(everyone), Channels: []Channel{tt.channel(p)},
				DigestWindow: 10 * time.Minute, Lease: time.Second, SendTimeout: time.Second, LookupGrace: 100 * time.Millisecond})
			time.Sleep(1300 * time.Millisecond) // the dead claim's lease lapses, and the provider would know
			if err := d.Reconcile(t.Context()); err != nil {
				t.Fatal(err)
			}
			tick(t, d)
			if got := p.messages(); len(got) != tt.resends || tt.resends > 0 && (!slices.Equal(got[0], ids) || p.ids[0] != id) {
				t.Errorf("resent %v as %v, want %d resend of the whole digest as %d", got, p.ids, tt.resends, id)
			}
			if got := statusesOf(t, s, ids); !same(got, "sms:sent") {
				t.Errorf("notices %v", got)
			}
			if ps := distinctProviderIDs(t, s, ids); len(ps) != 1 {
				t.Errorf("provider ids %v, want one", ps)
			}
		})
	}
}
