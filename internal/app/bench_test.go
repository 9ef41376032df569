package app

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/segmentio/kafka-go"

	"github.com/policypush/policypush/internal/ingest"
)

// The end-to-end benchmarks and their raw baselines. Run them with a fixed
// number of events, such as -benchtime 20000x: b.N is the number of events.

func benchEvents(b *testing.B) [][]byte {
	events, _ := fixture(b, b.N/21+1)
	return events[:b.N]
}

// BenchmarkPipeline produces b.N snapshot events, then runs the service
// and measures the time until every event's effects (profile, match and
// outbox rows) are committed. peak-rss-MiB is the benchmark process's peak
// resident set: an upper bound of serve's, since the process also holds the
// embedded broker with every event and the fixture.
func BenchmarkPipeline(b *testing.B) {
	e := newEnv(b)
	events := benchEvents(b)
	e.produce(events...)
	b.ResetTimer()
	cpu0, pg0 := cpuSeconds(), pgBackendCPU(context.Background(), e.db)
	s := e.start(ingest.Hooks{})
	e.waitFor("every event", func() bool { return s.processed.Load() >= int64(b.N) })
	b.StopTimer()
	// PostgreSQL's CPU per event: its backends for this database (the
	// service's pool and the test's connection).
	b.ReportMetric(pgCPUSince(context.Background(), e.db, pg0)*1e6/float64(b.N), "pg-cpu-µs/event")
	// The process's own CPU per event (the service, the embedded broker
	// and the test's polling; PostgreSQL is another process): less
	// sensitive than events/s to other work on a shared machine.
	b.ReportMetric((cpuSeconds()-cpu0)*1e6/float64(b.N), "cpu-µs/event")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(peakRSSMiB(), "peak-rss-MiB")
	if got := e.count("SELECT count(*) FROM applied_events"); got != b.N {
		b.Fatalf("applied %d of %d", got, b.N)
	}
	// What a match's explanation costs to store: the compact record (and
	// the JSON of matches that have one).
	var explained float64
	if err := e.db.QueryRow(context.Background(), `SELECT coalesce(avg(coalesce(octet_length(explanation_values), 0) + coalesce(octet_length(explanation::text), 0)), 0)::float8 FROM matches`).Scan(&explained); err == nil {
		b.ReportMetric(explained, "explanation-B/match")
	}
}

// BenchmarkPipelineLatency offers events at 1,000 per second to a running
// service and reports the p50 and p99 time from produce to the commit of
// their effects.
func BenchmarkPipelineLatency(b *testing.B) {
	e := newEnv(b)
	events := benchEvents(b)
	var mu sync.Mutex
	var lat []float64
	s := e.start(ingest.Hooks{AfterHandle: func(_ context.Context, batch []ingest.Message) error {
		now := time.Now()
		mu.Lock()
		for _, m := range batch {
			lat = append(lat, now.Sub(m.Time).Seconds())
		}
		mu.Unlock()
		return nil
	}})
	e.waitFor("the service", func() bool { return e.countOr("SELECT count(*) FROM applied_events") == 0 })
	p := ingest.NewProducer([]string{e.broker.Addr()}, e.cfg.KafkaTopic)
	defer p.Close()
	b.ResetTimer()
	tick := time.NewTicker(10 * time.Millisecond) // 10 events per tick: 1,000/s
	defer tick.Stop()
	for i := 0; i < len(events); i += 10 {
		<-tick.C
		var kvs []ingest.KV
		for _, ev := range events[i:min(i+10, len(events))] {
			var k struct {
				SubjectID string `json:"subject_id"`
			}
			_ = json.Unmarshal(ev, &k)
			kvs = append(kvs, ingest.KV{Key: []byte(k.SubjectID), Value: ev})
		}
		go func() { _ = p.ProduceBatch(context.Background(), kvs) }()
	}
	e.waitFor("every event", func() bool { return s.processed.Load() >= int64(b.N) })
	b.StopTimer()
	mu.Lock()
	defer mu.Unlock()
	sort.Float64s(lat)
	b.ReportMetric(lat[len(lat)/2]*1000, "p50-ms")
	b.ReportMetric(lat[len(lat)*99/100]*1000, "p99-ms")
}

// BenchmarkRawKafkaConsume is the Kafka baseline: a kafka-go consumer group
// reading the same b.N messages and doing nothing with them.
func BenchmarkRawKafkaConsume(b *testing.B) {
	e := newEnv(b)
	e.produce(benchEvents(b)...)
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: []string{e.broker.Addr()}, Topic: e.cfg.KafkaTopic, GroupID: "raw", StartOffset: kafka.FirstOffset,
		MaxWait: 50 * time.Millisecond, SessionTimeout: 3 * time.Second, RebalanceTimeout: 3 * time.Second,
		HeartbeatInterval: 100 * time.Millisecond, MaxBytes: 8 << 20,
	})
	defer r.Close()
	b.ResetTimer()
	var last kafka.Message
	for i := 0; i < b.N; i++ {
		m, err := r.FetchMessage(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		last = m
	}
	if err := r.CommitMessages(context.Background(), last); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkRawPostgresInsert is the database baseline: the same profiles
// inserted in batches of 500, one transaction each, with no other work.
func BenchmarkRawPostgresInsert(b *testing.B) {
	e := newEnv(b)
	events := benchEvents(b)
	ctx := context.Background()
	if _, err := e.db.Exec(ctx, "CREATE TABLE raw_profiles (id text PRIMARY KEY, data jsonb NOT NULL)"); err != nil {
		b.Fatal(err)
	}
	ids, docs := make([]string, len(events)), make([]string, len(events))
	for i, ev := range events {
		var env struct {
			SubjectID string          `json:"subject_id"`
			Data      json.RawMessage `json:"data"`
		}
		_ = json.Unmarshal(ev, &env)
		ids[i], docs[i] = fmt.Sprintf("%s-%d", env.SubjectID, i), string(env.Data)
	}
	b.ResetTimer()
	pg0 := pgBackendCPU(ctx, e.db)
	for i := 0; i < len(events); i += 500 {
		j := min(i+500, len(events))
		err := pgx.BeginFunc(ctx, e.db, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, "INSERT INTO raw_profiles SELECT * FROM unnest($1::text[], $2::jsonb[])", ids[i:j], docs[i:j])
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(pgCPUSince(ctx, e.db, pg0)*1e6/float64(b.N), "pg-cpu-µs/event")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
