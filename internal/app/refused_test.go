package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/segmentio/kafka-go"

	"github.com/policypush/policypush/internal/ingest"
	"github.com/policypush/policypush/internal/pii"
	"github.com/policypush/policypush/internal/store"
)

// eligible is a resident snapshot that qualifies for at least one policy,
// with a mobile to reach them by.
func eligible(eventID, id string) []byte {
	return fmt.Appendf(nil, `{"event_id":%q,"subject_type":"resident","subject_id":%q,"occurred_at":"2026-11-20T10:00:00+08:00","source":"jinbao","type":"snapshot","data":{"person_id":%q,"birth_date":"1999-04-12","education":{"level":"master","graduation_date":"2024-06-30","is_regular_college":true,"is_full_time":true},"employment":{"status":"employed"},"insurance":{"pension":{"scheme":"employee","status":"active","cumulative_months":24,"last_paid_month":"2026-10"}},"hukou":{"is_local":true},"contact":{"mobile":"13800135678"},"consent":{"personalized_push":true}}}`,
		eventID, id, id)
}

// dlq reads n dead letters and returns their reasons by value.
func (e *env) dlq(group string, n int) map[string]string {
	e.t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: []string{e.broker.Addr()}, Topic: e.cfg.KafkaTopic + ".dlq", GroupID: group,
		StartOffset: kafka.FirstOffset, MaxBytes: 4 << 20, MaxWait: 200 * time.Millisecond,
		SessionTimeout: 3 * time.Second, RebalanceTimeout: 3 * time.Second, HeartbeatInterval: 100 * time.Millisecond,
	})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	reasons := map[string]string{}
	for range n {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			e.t.Fatalf("DLQ holds %d of %d: %v", len(reasons), n, err)
		}
		for _, h := range m.Headers {
			if h.Key == ingest.HeaderReason {
				reasons[string(m.Value)] = string(h.Value)
			}
		}
	}
	return reasons
}

// Events the database refuses for reasons validation does not know (here a
// CHECK constraint and a trigger the test adds) go to the DLQ with the
// database's reason, and the events around them are applied: the
// partitions move on. Events validation refuses go there too. A replay of
// everything changes nothing.
func TestDatabaseRefusalSplitsTheBatch(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	st, err := store.Open(ctx, e.cfg.DatabaseURL.Value(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	st.Close()
	for _, q := range []string{
		`ALTER TABLE applied_events ADD CONSTRAINT test_no_poison CHECK (event_id NOT LIKE 'poison-check%')`,
		`CREATE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.subject_id = 'p_poison_trigger' THEN
		RAISE EXCEPTION 'the test trigger refuses this profile' USING ERRCODE = '22023', DETAIL = NEW.pii::text;
	END IF;
	RETURN NEW;
END $$`,
		`CREATE TRIGGER test_refuse BEFORE INSERT OR UPDATE ON profiles FOR EACH ROW EXECUTE FUNCTION test_refuse()`,
	} {
		if _, err := e.db.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}

	events, want := fixture(t, 2)
	poison := map[string]string{
		string(eligible("poison-check-1", "p_poison_check")):                                                   "violates check constraint \"test_no_poison\" (SQLSTATE 23514)",
		string(eligible("poison-trigger-1", "p_poison_trigger")):                                               "the test trigger refuses this profile (SQLSTATE 22023)",
		strings.Replace(string(eligible("nul-1", "p_nul")), `"source":"jinbao"`, `"source":"jin\u0000bao"`, 1): "at /source: a string holds U+0000",
		strings.Replace(string(eligible("surrogate-1", "p_sur")), `"employed"`, `"employed\ud800"`, 1):         `a lone UTF-16 surrogate \ud800`,
		strings.Replace(string(eligible("future-1", "p_future")), "2026-11-20", "2026-11-29", 1):               "ahead of this service's clock",
	}
	var all [][]byte
	i := 0
	for p := range poison {
		// Spread among the good events, so that each lands inside a batch.
		all = append(all, events[i*len(events)/len(poison):(i+1)*len(events)/len(poison)]...)
		all = append(all, []byte(p))
		i++
	}
	s := e.start(ingest.Hooks{})
	e.produce(all...)
	e.waitFor("every event consumed and committed", func() bool { return s.processed.Load() >= int64(len(all)) })

	if got := e.pairs(); !equalLists(got, want) || len(want) == 0 {
		t.Errorf("matches around the refused events: %d, want %d", len(got), len(want))
	}
	if got := e.count("SELECT count(*) FROM applied_events"); got != len(events) {
		t.Errorf("applied events %d, want %d", got, len(events))
	}
	reasons := e.dlq("dlq-check", len(poison))
	for v, frag := range poison {
		r := reasons[v]
		if !strings.Contains(r, frag) {
			t.Errorf("dead letter reason %q, want one containing %q", r, frag)
		}
		if strings.Contains(r, "13800135678") || strings.Contains(r, "\\x") {
			t.Errorf("dead letter reason %q quotes the row", r)
		}
	}
	if got := gather(t, s.reg, "policypush_dlq_messages_total"); got != float64(len(poison)) {
		t.Errorf("policypush_dlq_messages_total = %v, want %d", got, len(poison))
	}

	outbox := e.count("SELECT count(*) FROM outbox")
	e.produce(all...)
	e.waitFor("the replay consumed", func() bool { return s.processed.Load() >= int64(2*len(all)) })
	if got := e.pairs(); !equalLists(got, want) {
		t.Errorf("the replay changed the matches: %d, want %d", len(got), len(want))
	}
	if got := e.count("SELECT count(*) FROM outbox"); got != outbox {
		t.Errorf("outbox rows %d after the replay, %d before", got, outbox)
	}
	if got := e.count("SELECT count(*) FROM applied_events"); got != len(events) {
		t.Errorf("applied events %d after the replay, want %d", got, len(events))
	}
}

// A PII key other than the one the database's personal data was sealed
// with is refused when serve starts, with a message that says so; it does
// not start and stall batch after batch.
func TestWrongPIIKeyRefusedAtStart(t *testing.T) {
	e := newEnv(t)
	s := e.start(ingest.Hooks{})
	e.produce(eligible("k-1", "p_key"))
	e.waitFor("the event applied", func() bool { return s.processed.Load() >= 1 })
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}

	e.cfg.PIIKey = "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI=" // another 32 bytes
	s2 := e.start(ingest.Hooks{})
	select {
	case <-s2.done:
	case <-time.After(30 * time.Second):
		t.Fatal("serve with the wrong key did not stop")
	}
	if s2.err == nil || !errors.Is(s2.err, store.ErrWrongKey) || !strings.Contains(s2.err.Error(), "POLICYPUSH_PII_KEY") {
		t.Fatalf("serve with the wrong key = %v, want a refusal naming POLICYPUSH_PII_KEY", s2.err)
	}
	if strings.Contains(s2.err.Error(), "QkJC") || strings.Contains(s2.err.Error(), "MDEy") {
		t.Errorf("the refusal %q shows key material", s2.err)
	}
}

func TestRefusedForData(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		reason string // "" when the batch is to be retried whole
	}{
		{"check", fmt.Errorf("apply batch: %w", &pgconn.PgError{Code: "23514", Message: `new row for relation "x" violates check constraint "y"`}),
			`the database refused it: new row for relation "x" violates check constraint "y" (SQLSTATE 23514)`},
		{"data", &pgconn.PgError{Code: "22P05", Message: "unsupported Unicode escape sequence"},
			"the database refused it: unsupported Unicode escape sequence (SQLSTATE 22P05)"},
		{"damaged personal data", fmt.Errorf("profile resident/p1: personal fields: %w", pii.ErrOpen),
			"the stored personal data of its subject does not open with this key"},
		{"connection", &pgconn.PgError{Code: "08006", Message: "connection failure"}, ""},
		{"deadlock", &pgconn.PgError{Code: "40P01", Message: "deadlock detected"}, ""},
		{"cancelled", fmt.Errorf("apply batch: %w", context.Canceled), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := refusedForData(tt.err)
			var de *ingest.DataError
			switch {
			case tt.reason == "" && errors.As(err, &de):
				t.Errorf("%v marked as a data error", tt.err)
			case tt.reason != "" && (!errors.As(err, &de) || de.Reason != tt.reason):
				t.Errorf("refusedForData(%v) = %v, want a DataError %q", tt.err, err, tt.reason)
			case !errors.Is(err, tt.err):
				t.Errorf("refusedForData(%v) = %v does not wrap it", tt.err, err)
			}
		})
	}
}
