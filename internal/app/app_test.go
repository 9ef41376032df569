package app

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/policypush/policypush/internal/config"
	"github.com/policypush/policypush/internal/httpapi"
	"github.com/policypush/policypush/internal/ingest"
	"github.com/policypush/policypush/internal/kafkaembed"
	"github.com/policypush/policypush/internal/pgtest"
	"github.com/policypush/policypush/internal/profile"
	"github.com/policypush/policypush/internal/ruledir"
	"github.com/policypush/policypush/internal/rules"
	"github.com/policypush/policypush/internal/sweep"

	"github.com/policypush/policypush/internal/testlog"
)

// The integration tests run the whole pipeline against real PostgreSQL and
// a broker speaking the Kafka protocol over TCP.

var now = time.Date(2026, 11, 27, 10, 0, 0, 0, rules.Shanghai)

// testCallbackKey is the ?key= of the tests' SMS callback URLs.
const testCallbackKey = "test-sms-callback-key-0123"

// env is one test's world: a database, a broker and a configuration.
type env struct {
	t      testing.TB
	cfg    *config.Config
	broker *kafkaembed.Broker
	db     *pgx.Conn

	clock  func() time.Time    // the service's clock; nil is the fixed now
	logs   io.Writer           // receives the service's log at Info; nil discards it
	sweeps func(*sweep.Config) // adjusts the sweeps' settings

	http func(*httpapi.Limits) // adjusts the HTTP server's limits
}

func newEnv(t testing.TB) *env {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test")
	}
	dbURL := pgtest.NewDatabase(t)
	b, err := kafkaembed.Start("127.0.0.1:0", 8, "profile-events", "profile-events.dlq", CorrectionsTopic)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	cfg, err := config.Load(func(k string) string {
		return map[string]string{
			"POLICYPUSH_DATABASE_URL":  dbURL,
			"POLICYPUSH_KAFKA_BROKERS": b.Addr(),
			"POLICYPUSH_RULES_DIR":     "../../rules",
			"POLICYPUSH_HTTP_ADDR":     "127.0.0.1:0",
			"POLICYPUSH_PII_KEY":       "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
			"POLICYPUSH_ADMIN_TOKEN":   "test-admin-token-0123",
			"POLICYPUSH_BATCH_WAIT":    "20ms",
			// SMS callbacks prove their origin with it.
			"POLICYPUSH_SMS_CALLBACK_KEY": testCallbackKey,
		}[k]
	}, "", config.NeedServe)
	if err != nil {
		t.Fatal(err)
	}
	db, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close(context.Background()) })
	return &env{t: t, cfg: cfg, broker: b, db: db}
}

// service is one running policypush.
type service struct {
	cancel    context.CancelFunc
	done      chan struct{} // closed when Serve returned err
	err       error
	processed atomic.Int64 // messages in committed-or-about-to-commit batches
	reg       *prometheus.Registry
	addr      chan string // the HTTP address, once listening
	public    chan string // the public listener's address, when there is one
}

func (e *env) start(hooks ingest.Hooks) *service {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &service{cancel: cancel, done: make(chan struct{}), reg: prometheus.NewRegistry(), addr: make(chan string, 1),
		public: make(chan string, 1)}
	onBatch := hooks.OnBatch
	hooks.OnBatch = func(size int, took time.Duration, rejected int) {
		s.processed.Add(int64(size))
		if onBatch != nil {
			onBatch(size, took, rejected)
		}
	}
	cfg := *e.cfg
	// Every record goes to the test's output, which CI scans for personal
	// data; a test that reads its logs gets them too.
	log := testlog.New(e.t)
	if e.logs != nil {
		log = slog.New(slog.NewTextHandler(io.MultiWriter(e.logs, testlog.Writer(e.t)), nil))
	}
	clock := e.clock
	if clock == nil {
		clock = func() time.Time { return now }
	}
	fast := func(c *ingest.Config) {
		c.SessionTimeout, c.RebalanceTimeout, c.HeartbeatInterval = 3*time.Second, 3*time.Second, 100*time.Millisecond
	}
	go func() {
		s.err = Serve(ctx, &cfg, log, Options{Now: clock, Sweeps: e.sweeps, HTTP: e.http, Hooks: hooks, Consumer: fast, Registry: s.reg,
			Ready: func(a string) { s.addr <- a }, PublicReady: func(a string) { s.public <- a }})
		close(s.done)
	}()
	e.t.Cleanup(func() { s.stop() })
	return s
}

func (s *service) stop() error {
	s.cancel()
	select {
	case <-s.done:
		return s.err
	case <-time.After(30 * time.Second):
		return errors.New("serve did not stop")
	}
}

func (e *env) produce(events ...[]byte) {
	e.t.Helper()
	p := ingest.NewProducer([]string{e.broker.Addr()}, e.cfg.KafkaTopic)
	defer p.Close()
	var kvs []ingest.KV
	for _, ev := range events {
		var k struct {
			SubjectID string `json:"subject_id"`
		}
		_ = json.Unmarshal(ev, &k)
		kvs = append(kvs, ingest.KV{Key: []byte(k.SubjectID), Value: ev})
	}
	if err := p.ProduceBatch(context.Background(), kvs); err != nil {
		e.t.Fatal(err)
	}
}

// waitFor polls until cond holds.
func (e *env) waitFor(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *env) count(query string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.db.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// countOr is count for polling: before the service has migrated the
// database, it is -1.
func (e *env) countOr(query string) int {
	var n int
	if err := e.db.QueryRow(context.Background(), query).Scan(&n); err != nil {
		return -1
	}
	return n
}

// pairs lists the (subject, policy) pairs the database has matched.
func (e *env) pairs() []string {
	e.t.Helper()
	rows, err := e.db.Query(context.Background(), "SELECT subject_id || ' ' || policy_id FROM matches ORDER BY 1")
	if err != nil {
		e.t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

// fixture returns the snapshot events of examples/events.jsonl, each
// copied under n subject ids, and the pairs the rules say must match.
func fixture(t testing.TB, n int) ([][]byte, []string) {
	t.Helper()
	f, err := os.Open("../../examples/events.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	set, err := ruledir.Load("../../rules")
	if err != nil {
		t.Fatal(err)
	}
	v, err := profile.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	at, ev := set.At(now), set.NewEvaluator()
	var events [][]byte
	want := map[string]bool{}
	sc := bufio.NewScanner(f)
	for line := 0; sc.Scan(); line++ {
		var e map[string]any
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		base := e["data"].(map[string]any)
		for i := 0; i < n; i++ {
			data := map[string]any{}
			for k, v := range base {
				data[k] = v
			}
			e["data"] = data
			idField := "person_id"
			if e["subject_type"] == "enterprise" {
				idField = "uscc"
			}
			id := fmt.Sprint(base[idField])
			if idField == "uscc" {
				id = fmt.Sprintf("%s%02d%04d", id[:12], line, i)
			} else {
				id = fmt.Sprintf("%s_%d", id, i)
			}
			data[idField] = id
			e["subject_id"], e["event_id"] = id, fmt.Sprintf("ev-%d-%d", line, i)
			raw, _ := json.Marshal(e)
			events = append(events, raw)

			subject, err := v.Decode(profile.Kind(e["subject_type"].(string)), mustJSON(data))
			if err != nil {
				t.Fatal(err)
			}
			in, _ := set.Prepare(subject)
			for _, p := range set.Policies() {
				if p.Subject != in.Kind || !p.Applies(at) {
					continue
				}
				o := ev.Evaluate(p, in, at)
				if p.Notifies(o.Result) {
					want[id+" "+p.ID] = true
				}
			}
		}
	}
	var pairs []string
	for p := range want {
		pairs = append(pairs, p)
	}
	sort.Strings(pairs)
	return events, pairs
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func equalLists(a, b []string) bool { return strings.Join(a, "\n") == strings.Join(b, "\n") }

// Redelivery: the same events twice give the same state and no second match.
func TestRedelivery(t *testing.T) {
	e := newEnv(t)
	events, want := fixture(t, 3)
	s := e.start(ingest.Hooks{})
	e.produce(events...)
	e.waitFor("the first delivery", func() bool { return s.processed.Load() >= int64(len(events)) })
	first := e.pairs()
	if !equalLists(first, want) || len(want) == 0 {
		t.Fatalf("matches after one delivery:\n%v\nwant:\n%v", first, want)
	}
	outbox := e.count("SELECT count(*) FROM outbox")
	e.produce(events...)
	e.waitFor("the second delivery", func() bool { return s.processed.Load() >= int64(2*len(events)) })
	if got := e.pairs(); !equalLists(got, first) {
		t.Errorf("a second delivery changed the matches: %d, then %d", len(first), len(got))
	}
	if got := e.count("SELECT count(*) FROM outbox"); got != outbox || outbox != len(want) {
		t.Errorf("outbox rows: %d, then %d; want %d", outbox, got, len(want))
	}
	if got := e.count("SELECT count(*) FROM applied_events"); got != len(events) {
		t.Errorf("applied events %d, want %d", got, len(events))
	}
}

// Crash: the process dies after the database commit and before the offset
// commit; the restarted one loses and duplicates nothing.
func TestCrashBetweenCommits(t *testing.T) {
	e := newEnv(t)
	events, want := fixture(t, 2)
	var crashed atomic.Bool
	s := e.start(ingest.Hooks{AfterHandle: func(context.Context, []ingest.Message) error {
		if crashed.CompareAndSwap(false, true) {
			return errors.New("injected crash between the database commit and the offset commit")
		}
		return nil
	}})
	e.produce(events...)
	select {
	case <-s.done:
		if s.err == nil || !strings.Contains(s.err.Error(), "injected crash") {
			t.Fatalf("serve returned %v, want the injected crash", s.err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the injected crash did not stop serve")
	}
	before := e.count("SELECT count(*) FROM applied_events")
	if before == 0 {
		t.Fatal("the crashed batch was not committed to the database")
	}
	s2 := e.start(ingest.Hooks{})
	e.waitFor("every event applied", func() bool { return e.countOr("SELECT count(*) FROM applied_events") == len(events) })
	e.waitFor("the redelivered batch consumed", func() bool { return s2.processed.Load() >= int64(len(events)) })
	if got := e.pairs(); !equalLists(got, want) {
		t.Errorf("matches after the restart: %d, want %d", len(got), len(want))
	}
	if got := e.count("SELECT count(*) FROM outbox"); got != len(want) {
		t.Errorf("outbox rows %d, want %d", got, len(want))
	}
}

// Poison messages go to the DLQ with their reason; good events around
// them are applied.
func TestPoisonMessages(t *testing.T) {
	e := newEnv(t)
	events, want := fixture(t, 1)
	bad := map[string]string{
		"not json":      `{"event_id": "x1", `,
		"wrong types":   `{"event_id":"x2","subject_type":"resident","subject_id":"p","occurred_at":"2026-01-01T00:00:00+08:00","source":"s","type":"snapshot","data":{"person_id":"p","birth_date":19990412}}`,
		"unknown kind":  `{"event_id":"x3","subject_type":"robot","subject_id":"p","occurred_at":"2026-01-01T00:00:00+08:00","source":"s","type":"snapshot","data":{"person_id":"p"}}`,
		"missing id":    `{"event_id":"x4","subject_type":"resident","subject_id":"p","occurred_at":"2026-01-01T00:00:00+08:00","source":"s","type":"snapshot","data":{"gender":"F"}}`,
		"1 MiB garbage": strings.Repeat("\x00garbage", 1<<17),
		// The reason names the field, never the value (issue 12).
		"short mobile": `{"event_id":"x5","subject_type":"resident","subject_id":"p","occurred_at":"2026-01-01T00:00:00+08:00","source":"s","type":"snapshot","data":{"person_id":"p","contact":{"mobile":"1380000000"}}}`,
	}
	var mixed [][]byte
	for i, ev := range events {
		mixed = append(mixed, ev)
		if i < len(bad) {
			for _, k := range sortedKeys(bad)[i : i+1] {
				mixed = append(mixed, []byte(bad[k]))
			}
		}
	}
	s := e.start(ingest.Hooks{})
	e.produce(mixed...)
	e.waitFor("every message", func() bool { return s.processed.Load() >= int64(len(mixed)) })
	if got := e.pairs(); !equalLists(got, want) {
		t.Errorf("good events around poison: %d matches, want %d", len(got), len(want))
	}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: []string{e.broker.Addr()}, Topic: "profile-events.dlq", GroupID: "dlq-check",
		StartOffset: kafka.FirstOffset, MaxBytes: 4 << 20, MaxWait: 200 * time.Millisecond,
		SessionTimeout: 3 * time.Second, RebalanceTimeout: 3 * time.Second, HeartbeatInterval: 100 * time.Millisecond,
	})
	defer r.Close()
	reasons := map[string]string{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for len(reasons) < len(bad) {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("DLQ holds %d of %d: %v", len(reasons), len(bad), err)
		}
		for _, h := range m.Headers {
			if h.Key == "x-dlq-reason" {
				reasons[string(m.Value)] = string(h.Value)
			}
		}
	}
	for name, v := range bad {
		if reasons[v] == "" {
			t.Errorf("%s: not in the DLQ with a reason", name)
		}
	}
	if r := reasons[bad["short mobile"]]; strings.Contains(r, "1380000000") || !strings.Contains(r, "at /contact/mobile: does not match the required pattern") {
		t.Errorf("x-dlq-reason %q: want the field and the rule, without the value", r)
	}
	metrics := map[string]float64{
		"policypush_dlq_messages_total":                                               float64(len(bad)),
		`policypush_events_consumed_total{outcome="invalid",subject_type="resident"}`: 3,
		`policypush_events_consumed_total{outcome="applied",subject_type="resident"}`: 12,
	}
	for name, want := range metrics {
		if got := gather(t, s.reg, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}

// gather reads one sample, written as in the exposition format.
func gather(t *testing.T, reg *prometheus.Registry, sample string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			name := f.GetName()
			if len(m.GetLabel()) > 0 {
				var labels []string
				for _, l := range m.GetLabel() {
					labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
				}
				name += "{" + strings.Join(labels, ",") + "}"
			}
			if name == sample {
				if m.GetGauge() != nil {
					return m.GetGauge().GetValue()
				}
				return m.GetCounter().GetValue()
			}
		}
	}
	return -1
}

func sortedKeys(m map[string]string) []string {
	var k []string
	for key := range m {
		k = append(k, key)
	}
	sort.Strings(k)
	return k
}

// Ordering: a patch before its snapshot, a stale event and an older event
// from another source.
func TestOrdering(t *testing.T) {
	e := newEnv(t)
	ev := func(id, source, at, typ, data string) []byte {
		return []byte(fmt.Sprintf(`{"event_id":%q,"subject_type":"resident","subject_id":"p_order","occurred_at":%q,"source":%q,"type":%q,"data":%s}`, id, at, source, typ, data))
	}
	s := e.start(ingest.Hooks{})
	batch := [][]byte{
		// A patch for a subject with no profile starts from an empty one.
		ev("o1", "jiuye", "2026-03-01T10:00:00+08:00", "patch", `{"education":{"level":"bachelor"}}`),
		// A later snapshot from another source replaces the profile.
		ev("o2", "jinbao", "2026-03-02T10:00:00+08:00", "snapshot", `{"person_id":"p_order","birth_date":"1999-04-12"}`),
		// An older event from the same source is stale: skipped.
		ev("o3", "jinbao", "2026-03-01T09:00:00+08:00", "patch", `{"gender":"M"}`),
		// An older event from another source still applies.
		ev("o4", "jiuye", "2026-03-01T11:00:00+08:00", "patch", `{"gender":"F"}`),
	}
	e.produce(batch...)
	e.waitFor("every event", func() bool { return s.processed.Load() >= int64(len(batch)) })
	var data map[string]any
	if err := e.db.QueryRow(context.Background(), "SELECT data FROM profiles WHERE subject_id = 'p_order'").Scan(&data); err != nil {
		t.Fatal(err)
	}
	if data["gender"] != "F" || data["birth_date"] != "1999-04-12" || data["education"] != nil {
		t.Errorf("profile %v", data)
	}
	if got := e.count("SELECT count(*) FROM applied_events"); got != 3 {
		t.Errorf("applied %d events, want 3 (o3 is stale)", got)
	}
}

// Two services in one consumer group share the partitions; no pair is
// matched twice.
func TestTwoConsumers(t *testing.T) {
	e := newEnv(t)
	events, want := fixture(t, 6)
	e.start(ingest.Hooks{})
	e.start(ingest.Hooks{})
	e.produce(events...)
	e.waitFor("every event", func() bool { return e.countOr("SELECT count(*) FROM applied_events") == len(events) })
	if got := e.pairs(); !equalLists(got, want) {
		t.Errorf("%d matches, want %d", len(got), len(want))
	}
	if got := e.count("SELECT count(*) FROM outbox"); got != len(want) {
		t.Errorf("outbox rows %d, want %d", got, len(want))
	}
}
