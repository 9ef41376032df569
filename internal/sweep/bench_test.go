package sweep

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	citygen "github.com/policypush/policypush/internal/gen"
	"github.com/policypush/policypush/internal/match"
	"github.com/policypush/policypush/internal/profile"
	"github.com/policypush/policypush/internal/rules"
	"github.com/policypush/policypush/internal/store"
)

// benchPopulation is the number of profiles BenchmarkBackfill stores:
// POLICYPUSH_BENCH_PROFILES (make bench sets 1,000,000), else 100,000.
func benchPopulation(b *testing.B) int {
	if v := os.Getenv("POLICYPUSH_BENCH_PROFILES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			b.Fatal(err)
		}
		return n
	}
	return 100_000
}

// benchWorld is a database holding a generated city (nine residents to one
// enterprise), made once per benchmark run.
type benchWorld struct {
	st  *store.Store
	set atomic.Pointer[rules.Set]
	n   int
}

func newBenchWorld(b *testing.B) *benchWorld {
	b.Helper()
	st, set := openStore(b, "&pool_max_conns=8")
	w := &benchWorld{st: st, n: benchPopulation(b)}
	w.set.Store(set)
	start := time.Now()
	var batch store.Batch
	flush := func() error {
		err := st.InTx(b.Context(), func(tx *store.Tx) error { _, err := tx.Save(b.Context(), &batch); return err })
		batch = store.Batch{}
		return err
	}
	err := citygen.Each(citygen.Options{Residents: w.n * 9 / 10, Enterprises: w.n - w.n*9/10, Seed: 1, At: day}, func(typ, id string, ev []byte) error {
		var e struct {
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(ev, &e); err != nil {
			return err
		}
		batch.Profiles = append(batch.Profiles, store.Profile{Key: store.SubjectKey{Type: typ, ID: id}, Data: e.Data, Version: 1})
		if len(batch.Profiles) == 5000 {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		b.Fatal(err)
	}
	if _, err := st.Pool().Exec(b.Context(), `VACUUM ANALYZE profiles`); err != nil {
		b.Fatal(err)
	}
	b.Logf("stored %d profiles in %v", w.n, time.Since(start).Round(time.Second))
	return w
}

// reset forgets every sweep and match, so that the next backfill starts
// from nothing.
func (w *benchWorld) reset(b *testing.B) {
	b.Helper()
	_, err := w.st.Pool().Exec(b.Context(), `TRUNCATE sweep_marks, sweep_chunks, sweeps, notice_attempts, outbox, matches CASCADE`)
	if err != nil {
		b.Fatal(err)
	}
	// Start from a clean checkpoint, so that the backfill does not pay for
	// flushing what storing the city (or the previous run) left behind.
	if _, err := w.st.Pool().Exec(b.Context(), `CHECKPOINT`); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkBackfill plans the backfill of the whole catalogue over the
// stored city and runs it to the end with the given workers: every chunk's
// subjects locked, read, decrypted, decoded, evaluated against every
// policy of their kind, and their matches and notices written.
func BenchmarkBackfill(b *testing.B) {
	w := newBenchWorld(b)
	for _, workers := range []int{1, 2} {
		b.Run("workers="+strconv.Itoa(workers), func(b *testing.B) {
			var matched int
			cpu, pg := cpuTime(b), pgBackendCPU(b.Context(), w.st.Pool())
			for b.Loop() {
				b.StopTimer()
				w.reset(b)
				obs := &countObs{}
				s := New(w.st, match.NewSweeper(w.st, &w.set, func() time.Time { return day }, nopMatchObs{}, match.Config{WeChatEnabled: true}),
					&w.set, func() time.Time { return day }, obs, slog.New(slog.DiscardHandler), Config{ChunkSize: 1000, Workers: workers, Idle: 5 * time.Millisecond, Plan: time.Hour})
				b.StartTimer()
				if _, err := s.Plan(b.Context()); err != nil {
					b.Fatal(err)
				}
				runToEnd(b, s, w.st)
				b.StopTimer()
				if err := w.st.Pool().QueryRow(b.Context(), `SELECT count(*) FROM matches`).Scan(&matched); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			perRun := b.Elapsed().Seconds() / float64(b.N)
			reportCPU(b, cpu, w.n)
			reportPGCPU(b, w.st.Pool(), pg, w.n)
			b.ReportMetric(float64(w.n)/perRun, "profiles/s")
			b.ReportMetric(perRun*1e6/float64(w.n), "s/1M-profiles")
			b.ReportMetric(float64(matched), "matches")
			// How many profiles s/1M-profiles was scaled from: benchreport
			// says so when a run was not the target's 1,000,000.
			b.ReportMetric(float64(w.n), "profiles")
			var sz, tl float64
			_ = w.st.Pool().QueryRow(b.Context(), `SELECT avg(pg_column_size(explanation)), avg(octet_length(explanation::text)) FROM matches`).Scan(&sz, &tl)
			b.Logf("explanation stored %.0f bytes, text %.0f bytes", sz, tl)
		})
	}

	// Baselines on the same data in the same run: reading every profile
	// (PostgreSQL and decryption alone), and evaluating them in memory
	// (decoding and the rule engine alone).
	var profiles []store.Profile
	b.Run("baseline=read", func(b *testing.B) {
		cpu, pg := cpuTime(b), pgBackendCPU(b.Context(), w.st.Pool())
		for b.Loop() {
			profiles = profiles[:0]
			for _, typ := range []string{"resident", "enterprise"} {
				after := ""
				for {
					ps, err := w.st.ProfilesAfter(b.Context(), typ, after, 5000)
					if err != nil {
						b.Fatal(err)
					}
					profiles = append(profiles, ps...)
					if len(ps) < 5000 {
						break
					}
					after = ps[len(ps)-1].Key.ID
				}
			}
		}
		reportCPU(b, cpu, w.n)
		reportPGCPU(b, w.st.Pool(), pg, w.n)
		b.ReportMetric(float64(w.n)/(b.Elapsed().Seconds()/float64(b.N)), "profiles/s")
	})
	b.Run("baseline=evaluate", func(b *testing.B) {
		set := w.set.Load()
		ev, at := set.NewEvaluator(), set.At(day)
		cpu := cpuTime(b)
		for b.Loop() {
			for _, p := range profiles {
				subject, err := profile.DecodeValid(profile.Kind(p.Key.Type), p.Data)
				if err != nil {
					b.Fatal(err)
				}
				in, _ := set.Prepare(subject)
				for _, pol := range set.Policies() {
					if string(pol.Subject) == p.Key.Type && pol.Applies(at) {
						ev.Evaluate(pol, in, at)
					}
				}
			}
		}
		reportCPU(b, cpu, len(profiles))
		b.ReportMetric(float64(len(profiles))/(b.Elapsed().Seconds()/float64(b.N)), "profiles/s")
	})
}

// cpuTime is the CPU time this process has used, user and system. On a
// shared machine it moves much less than the wall clock with other load,
// so the benchmark reports it beside the time (PostgreSQL's own CPU is not
// in it).
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the process's CPU time since start per profile, as
// go-cpu-µs/profile. It includes what the timer excluded (a backfill's
// reset), which is small beside a run.
func reportCPU(b *testing.B, start time.Duration, profiles int) {
	used := cpuTime(b) - start
	b.ReportMetric(float64(used.Microseconds())/float64(b.N)/float64(profiles), "go-cpu-µs/profile")
}

// runToEnd runs s until no sweep is running.
func runToEnd(b *testing.B, s *Sweeps, st *store.Store) {
	ctx, cancel := context.WithCancel(b.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	for {
		n, err := st.RemainingChunks(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		if n == 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}

// reportPGCPU reports PostgreSQL's backends' CPU time since before per
// profile, as pg-cpu-µs/profile: with go-cpu-µs/profile, where a
// backfill's two cores go. A backfill's includes its reset between runs
// (a TRUNCATE and counting the matches), small beside a run.
func reportPGCPU(b *testing.B, db *pgxpool.Pool, before map[int]float64, profiles int) {
	b.ReportMetric(pgCPUSince(b.Context(), db, before)*1e6/float64(b.N)/float64(profiles), "pg-cpu-µs/profile")
}
