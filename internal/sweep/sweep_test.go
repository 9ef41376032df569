package sweep

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/policypush/policypush/internal/match"
	"github.com/policypush/policypush/internal/pgtest"
	"github.com/policypush/policypush/internal/pii"
	"github.com/policypush/policypush/internal/profile"
	"github.com/policypush/policypush/internal/ruledir"
	"github.com/policypush/policypush/internal/rules"
	"github.com/policypush/policypush/internal/store"

	"github.com/policypush/policypush/internal/testlog"
)

var day = time.Date(2026, 11, 27, 10, 0, 0, 0, rules.Shanghai)

type world struct {
	t     *testing.T
	st    *store.Store
	set   atomic.Pointer[rules.Set]
	clock atomic.Pointer[time.Time]
	obs   *countObs
}

func newWorld(t *testing.T) *world {
	t.Helper()
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	st, set := openStore(t, "")
	w := &world{t: t, st: st, obs: &countObs{}}
	w.set.Store(set)
	w.setClock(day)
	return w
}

// openStore opens a migrated database of the test's own, with extra
// appended to its URL (pool settings), and loads the catalogue.
func openStore(tb testing.TB, extra string) (*store.Store, *rules.Set) {
	tb.Helper()
	sealer, err := pii.NewSealer(bytes.Repeat([]byte{3}, pii.KeySize))
	if err != nil {
		tb.Fatal(err)
	}
	st, err := store.Open(tb.Context(), pgtest.NewDatabase(tb)+extra, sealer)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(st.Close)
	if err := st.Migrate(tb.Context()); err != nil {
		tb.Fatal(err)
	}
	set, err := ruledir.Load("../../rules")
	if err != nil {
		tb.Fatal(err)
	}
	return st, set
}

func (w *world) now() time.Time       { return *w.clock.Load() }
func (w *world) setClock(t time.Time) { w.clock.Store(&t) }

func (w *world) sweeps(chunk, workers int) *Sweeps {
	cfg := match.Config{WeChatEnabled: true}
	return New(w.st, match.NewSweeper(w.st, &w.set, w.now, nopMatchObs{}, cfg), &w.set, w.now, w.obs,
		testlog.New(w.t), Config{ChunkSize: chunk, Workers: workers, Idle: 10 * time.Millisecond, Plan: time.Hour})
}

// resident is a recent graduate (several employment policies match), with
// WeChat and a mobile; birth makes the age-60 reminder flip on a chosen day.
func resident(id, birth string) []byte {
	scheme := "employee" // the talent rent subsidy matches
	if birth < "1970" {
		scheme = "urban_rural" // the age-60 reminder can
	}
	return fmt.Appendf(nil, `{"person_id":%q,"birth_date":%q,"education":{"level":"master","graduation_date":"2024-06-30","is_regular_college":true,"is_full_time":true},"employment":{"status":"employed"},"insurance":{"pension":{"scheme":%q,"status":"active","cumulative_months":24,"last_paid_month":"2026-10"}},"pension_receiving":{"receiving":false},"hukou":{"is_local":true},"contact":{"mobile":"13800135678"},"channels":{"wechat":{"openid":"o_%s"}},"consent":{"personalized_push":true}}`, id, birth, scheme, id)
}

// populate stores n residents.
func (w *world) populate(n int) []store.SubjectKey {
	w.t.Helper()
	var keys []store.SubjectKey
	var b store.Batch
	for i := range n {
		k := store.SubjectKey{Type: "resident", ID: fmt.Sprintf("r%05d", i)}
		keys = append(keys, k)
		b.Profiles = append(b.Profiles, store.Profile{Key: k, Data: resident(k.ID, "1999-04-12"), Version: 1})
	}
	if err := w.st.InTx(w.t.Context(), func(tx *store.Tx) error { _, err := tx.Save(w.t.Context(), &b); return err }); err != nil {
		w.t.Fatal(err)
	}
	return keys
}

// expected counts the pairs the rules say are notifiable, evaluating
// directly, for the stored population.
func (w *world) expected() int {
	w.t.Helper()
	set := w.set.Load()
	ev, at := set.NewEvaluator(), set.At(w.now())
	n := 0
	after := ""
	for {
		ps, err := w.st.ProfilesAfter(w.t.Context(), "resident", after, 1000)
		if err != nil {
			w.t.Fatal(err)
		}
		for _, p := range ps {
			subject, err := profile.DecodeValid(profile.KindResident, p.Data)
			if err != nil {
				w.t.Fatal(err)
			}
			in, _ := set.Prepare(subject)
			for _, pol := range set.Policies() {
				if pol.Subject == profile.KindResident && pol.Applies(at) && pol.Notifies(ev.Evaluate(pol, in, at).Result) {
					n++
				}
			}
		}
		if len(ps) < 1000 {
			return n
		}
		after = ps[len(ps)-1].Key.ID
	}
}

func (w *world) count(q string, args ...any) int {
	w.t.Helper()
	var n int
	if err := w.st.Pool().QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		w.t.Fatal(err)
	}
	return n
}

// residents keeps the resident sweeps.
func residents(sweeps []store.Sweep) []store.Sweep {
	var out []store.Sweep
	for _, s := range sweeps {
		if s.SubjectType == "resident" {
			out = append(out, s)
		}
	}
	return out
}

// notifiablePolicy is a resident policy the fixture is notified of.
func (w *world) notifiablePolicy() string {
	w.t.Helper()
	set := w.set.Load()
	ev, at := set.NewEvaluator(), set.At(w.now())
	subject, err := profile.DecodeValid(profile.KindResident, resident("x", "1999-04-12"))
	if err != nil {
		w.t.Fatal(err)
	}
	in, _ := set.Prepare(subject)
	for _, pol := range set.Policies() {
		if pol.Subject == profile.KindResident && pol.Applies(at) && pol.Notifies(ev.Evaluate(pol, in, at).Result) {
			return pol.ID
		}
	}
	w.t.Fatal("the fixture is notified of no policy")
	return ""
}

// drain runs workers until no chunk is left.
func drain(t *testing.T, s *Sweeps) {
	t.Helper()
	wk := s.sweeper.NewWorker()
	for {
		_, ok, err := wk.Next(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return
		}
	}
}

type countObs struct {
	mu                sync.Mutex
	planned           map[string]int
	chunks, cancelled int
}

func (o *countObs) Planned(kind string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.planned == nil {
		o.planned = map[string]int{}
	}
	o.planned[kind]++
}
func (o *countObs) Chunk(string, int, int) { o.mu.Lock(); o.chunks++; o.mu.Unlock() }
func (o *countObs) Cancelled(_ string, n int64) {
	o.mu.Lock()
	o.cancelled += int(n)
	o.mu.Unlock()
}

type nopMatchObs struct{}

func (nopMatchObs) Event(string, string) {}
func (nopMatchObs) Matched(string)       {}
func (nopMatchObs) Lapsed(string)        {}
func (nopMatchObs) Released(string)      {}

// A backfill planned twice (two replicas) is planned once; a chunk whose
// transaction dies goes back to the pool; the resumed backfill makes
// exactly the matches the rules call for, one per pair, and finishes.
func TestBackfillResumes(t *testing.T) {
	w := newWorld(t)
	w.populate(2500)
	s := w.sweeps(100, 1)
	created, err := s.Plan(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if res := residents(created); len(res) != 1 || res[0].Kind != "backfill" || res[0].TotalChunks != 26 {
		t.Fatalf("planned %+v, want one resident backfill of 26 chunks", res)
	}
	if again, err := w.sweeps(100, 1).Plan(t.Context()); err != nil || len(again) != 0 {
		t.Fatalf("a second replica planned %+v, %v", again, err)
	}

	wk := s.sweeper.NewWorker()
	for range 10 {
		if _, ok, err := wk.Next(t.Context()); err != nil || !ok {
			t.Fatalf("chunk: %v %v", ok, err)
		}
	}
	// A crash mid-chunk: the transaction that claimed it rolls back.
	crash := errors.New("crash")
	var claimed store.SweepChunk
	err = w.st.InTx(t.Context(), func(tx *store.Tx) error {
		c, ok, err := tx.ClaimChunk(t.Context())
		if err != nil || !ok {
			t.Fatalf("claim: %v %v", ok, err)
		}
		claimed = c
		return crash
	})
	if !errors.Is(err, crash) {
		t.Fatal(err)
	}
	if n := w.count(`SELECT sum(done_chunks) FROM sweeps`); n != 10 {
		t.Fatalf("%d chunks done, want 10", n)
	}
	// A restarted process resumes where the work stopped.
	restarted := w.sweeps(100, 1)
	drain(t, restarted)
	if n := w.count(`SELECT count(*) FROM sweep_chunks WHERE done_at IS NULL`); n != 0 {
		t.Errorf("%d chunks not done", n)
	}
	if n := w.count(`SELECT count(*) FROM sweep_chunks WHERE sweep_id = $1 AND seq = $2 AND done_at IS NOT NULL`, claimed.SweepID, claimed.Seq); n != 1 {
		t.Error("the chunk of the crashed transaction was not done after the restart")
	}
	want := w.expected()
	if want < 2500 {
		t.Fatalf("only %d notifiable pairs: the fixture no longer qualifies", want)
	}
	if got := w.count(`SELECT count(*) FROM matches`); got != want {
		t.Errorf("%d matches, want %d", got, want)
	}
	if got := w.count(`SELECT count(*) FROM outbox`); got != want {
		t.Errorf("%d notices, want one per match (%d)", got, want)
	}
	if got := w.count(`SELECT profiles FROM sweeps WHERE subject_type = 'resident'`); got != 2500 {
		t.Errorf("sweep progress counts %d profiles, want 2500", got)
	}
	if got := w.count(`SELECT count(*) FROM sweeps WHERE status = 'done' AND finished_at IS NOT NULL`); got != 2 {
		t.Error("the sweep is not done")
	}
}

// Two replicas, two workers each, share one backfill while live events
// rewrite the same subjects: every chunk is done once, and every pair has
// one match.
func TestBackfillReplicasAndLiveEvents(t *testing.T) {
	w := newWorld(t)
	keys := w.populate(3000)
	a, b := w.sweeps(50, 2), w.sweeps(50, 2)
	if _, err := a.Plan(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for _, s := range []*Sweeps{a, b} {
		wg.Go(func() { _ = s.Run(ctx) })
	}
	// Live traffic: snapshots of the same subjects, through the real
	// processor, while the backfill runs.
	v, err := profile.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	proc := match.New(w.st, &w.set, v, w.now, nopMatchObs{}, testlog.New(t), match.Config{WeChatEnabled: true})
	for i := 0; i < len(keys); i += 250 {
		var batch []match.Event
		for j := i; j < i+250 && j < len(keys); j++ {
			ev := fmt.Appendf(nil, `{"event_id":"live-%d","subject_type":"resident","subject_id":%q,"occurred_at":"2026-11-27T10:00:00+08:00","source":"jinbao","type":"snapshot","data":%s}`,
				j, keys[j].ID, resident(keys[j].ID, "1999-04-12"))
			batch = append(batch, match.Event{Value: ev, Ref: j})
		}
		if rejected, err := proc.Handle(t.Context(), batch); err != nil || len(rejected) > 0 {
			t.Fatalf("live batch: %v %v", rejected, err)
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for w.count(`SELECT count(*) FROM sweeps WHERE status = 'running'`) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the backfill did not finish")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	wg.Wait()

	total := w.count(`SELECT sum(total_chunks) FROM sweeps`)
	w.obs.mu.Lock()
	chunks := w.obs.chunks
	w.obs.mu.Unlock()
	if chunks != total {
		t.Errorf("the replicas did %d chunks between them, want each of %d once", chunks, total)
	}
	want := w.expected()
	if got := w.count(`SELECT count(*) FROM matches`); got != want {
		t.Errorf("%d matches, want %d", got, want)
	}
	if got := w.count(`SELECT count(*) FROM (SELECT match_id FROM outbox GROUP BY match_id HAVING count(*) > 1) d`); got != 0 {
		t.Errorf("%d matches with more than one notice", got)
	}
	if got := w.count(`SELECT count(*) FROM outbox`); got != want {
		t.Errorf("%d notices, want %d", got, want)
	}
}

// Time alone makes someone eligible: the day the resident reaches 59 years
// and 10 months, the next period's time sweep finds the age-60 reminder.
func TestTimeSweep(t *testing.T) {
	w := newWorld(t)
	var b store.Batch
	k := store.SubjectKey{Type: "resident", ID: "r_turning"}
	b.Profiles = append(b.Profiles, store.Profile{Key: k, Data: resident(k.ID, "1967-01-28"), Version: 1})
	if err := w.st.InTx(t.Context(), func(tx *store.Tx) error { _, err := tx.Save(t.Context(), &b); return err }); err != nil {
		t.Fatal(err)
	}
	const policy = "resident-pension-age60-reminder"
	s := w.sweeps(100, 1)
	if _, err := s.Plan(t.Context()); err != nil {
		t.Fatal(err)
	}
	drain(t, s)
	if n := w.count(`SELECT count(*) FROM matches WHERE policy_id = $1`, policy); n != 0 {
		t.Fatalf("matched %d months early", n)
	}
	// Later the same day: the period has been swept.
	w.setClock(day.Add(13 * time.Hour))
	if created, _ := s.Plan(t.Context()); len(created) != 0 {
		t.Fatalf("planned again in the same period: %+v", created)
	}
	// Past midnight, a new period.
	w.setClock(time.Date(2026, 11, 28, 0, 5, 0, 0, rules.Shanghai))
	created, err := s.Plan(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	res := residents(created)
	if len(res) != 1 || res[0].Kind != "time" {
		t.Fatalf("planned %+v, want one resident time sweep", res)
	}
	if _, in := res[0].Policies[policy]; !in {
		t.Errorf("the time sweep does not cover %s: %v", policy, res[0].Policies)
	}
	for id := range res[0].Policies {
		if !w.set.Load().Policy(id).Temporal() {
			t.Errorf("the time sweep covers %s, which does not change with time", id)
		}
	}
	drain(t, s)
	if n := w.count(`SELECT count(*) FROM matches WHERE policy_id = $1 AND subject_id = $2`, policy, k.ID); n != 1 {
		t.Errorf("the reminder matched %d times, want once", n)
	}
}

// A repealed policy's waiting notices are cancelled, and counted once
// however often plans run.
func TestCancelRepealed(t *testing.T) {
	w := newWorld(t)
	w.populate(30)
	s := w.sweeps(100, 1)
	if _, err := s.Plan(t.Context()); err != nil {
		t.Fatal(err)
	}
	drain(t, s)
	policy := w.notifiablePolicy()
	waiting := w.count(`SELECT count(*) FROM outbox o JOIN matches m ON m.id = o.match_id WHERE m.policy_id = $1 AND o.status = 'pending'`, policy)
	if waiting == 0 {
		t.Fatal("no notice waiting for the policy")
	}
	d, err := ruledir.Read("../../rules")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range d.Rules {
		if r.ID == policy {
			r.Status = rules.Repealed
		}
	}
	set, err := rules.Compile(d.Rules)
	if err != nil {
		t.Fatal(err)
	}
	w.set.Store(set)
	for range 2 {
		if _, err := s.Plan(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if n := w.count(`SELECT count(*) FROM outbox o JOIN matches m ON m.id = o.match_id WHERE m.policy_id = $1 AND o.status = 'cancelled' AND o.reason = 'repealed'`, policy); n != waiting {
		t.Errorf("%d notices cancelled, want %d", n, waiting)
	}
	if w.obs.cancelled != waiting {
		t.Errorf("observer counted %d cancellations, want %d", w.obs.cancelled, waiting)
	}
}

// Preview predicts what a backfill then does, and changes nothing.
func TestPreviewPredictsBackfill(t *testing.T) {
	w := newWorld(t)
	w.populate(400)
	set := w.set.Load()
	cfg := match.Config{WeChatEnabled: true}
	policy := w.notifiablePolicy()
	rep, err := Preview(t.Context(), w.st, set, set.Policy(policy), cfg, w.now())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Profiles != 400 || rep.New == 0 || rep.New != rep.Notifiable || rep.AlreadyNotified != 0 {
		t.Fatalf("preview %+v", rep)
	}
	if n := w.count(`SELECT count(*) FROM matches`); n != 0 {
		t.Fatal("the preview changed something")
	}
	s := w.sweeps(100, 1)
	if _, err := s.Plan(t.Context()); err != nil {
		t.Fatal(err)
	}
	drain(t, s)
	if got := w.count(`SELECT count(*) FROM matches WHERE policy_id = $1`, policy); got != rep.New {
		t.Errorf("backfill matched %d, preview predicted %d", got, rep.New)
	}
	for ch, want := range map[string]int{"wechat": rep.WeChat, "sms": rep.SMS} {
		if got := w.count(`SELECT count(*) FROM outbox o JOIN matches m ON m.id = o.match_id WHERE m.policy_id = $1 AND o.channel = $2 AND o.status = 'pending'`, policy, ch); got != want {
			t.Errorf("%s notices %d, preview predicted %d", ch, got, want)
		}
	}
	again, err := Preview(t.Context(), w.st, set, set.Policy(policy), cfg, w.now())
	if err != nil || again.AlreadyNotified != rep.New || again.New != 0 {
		t.Errorf("preview after the backfill: %+v, %v", again, err)
	}
}
