// Package sweep makes policypush proactive. Events only find people whose
// data changes; sweeps find the rest:
//   - a backfill evaluates a policy against every stored profile of its
//     kind when it comes into force (a new policy, a new version, its
//     valid_from reached);
//   - a time sweep re-evaluates, once per period (a day by default), the
//     policies whose result can change with time alone (they read now, a
//     date helper, or a param with a later value);
//   - a policy that is repealed or past its valid_until gets its waiting
//     notices cancelled.
//
// Planning is idempotent across replicas (store marks), and the work is cut
// into chunks that any replica's workers take, each in one transaction.
// Preview counts what a policy would do without changing anything.
package sweep

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/policypush/policypush/internal/match"
	"github.com/policypush/policypush/internal/profile"
	"github.com/policypush/policypush/internal/rules"
	"github.com/policypush/policypush/internal/store"
)

// Store is what planning needs; *store.Store implements it.
type Store interface {
	PlanSweeps(ctx context.Context, reqs []store.SweepRequest, chunkSize int) ([]store.Sweep, error)
	CancelPolicy(ctx context.Context, policyID, reason string) (int64, error)
}

var _ Store = (*store.Store)(nil)

// Observer counts sweep work with bounded labels (kind: backfill, time).
type Observer interface {
	Planned(kind string)
	Chunk(kind string, profiles, matched int)
	Cancelled(reason string, n int64)
}

// Config tunes sweeps; zero fields take the defaults.
type Config struct {
	Every     time.Duration // time sweep period, aligned to midnight Asia/Shanghai; 24h
	ChunkSize int           // subjects per chunk; 1000
	Workers   int           // chunk workers in this process; 0 runs none (other replicas do the work)
	Pause     time.Duration // rest between chunks, leaving room for live traffic; 0
	Plan      time.Duration // how often to plan; 1m
	Idle      time.Duration // wait when no chunk is waiting; 1s
}

func (c Config) withDefaults() Config {
	def := func(p *time.Duration, d time.Duration) {
		if *p <= 0 {
			*p = d
		}
	}
	def(&c.Every, 24*time.Hour)
	def(&c.Plan, time.Minute)
	def(&c.Idle, time.Second)
	if c.ChunkSize <= 0 {
		c.ChunkSize = 1000
	}
	return c
}

// Sweeps plans and runs sweeps.
type Sweeps struct {
	st      Store
	sweeper *match.Sweeper
	rules   *atomic.Pointer[rules.Set]
	now     func() time.Time
	obs     Observer
	log     *slog.Logger
	cfg     Config
	wake    chan struct{}
}

// New returns Sweeps; Run starts them.
func New(st Store, sweeper *match.Sweeper, set *atomic.Pointer[rules.Set], now func() time.Time, obs Observer, log *slog.Logger, cfg Config) *Sweeps {
	return &Sweeps{st: st, sweeper: sweeper, rules: set, now: now, obs: obs, log: log, cfg: cfg.withDefaults(), wake: make(chan struct{}, 1)}
}

// Wake asks Run to plan now (after a rule reload), and its workers to look
// for chunks.
func (s *Sweeps) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Period names the time sweep period t falls in, counted in Every from the
// Unix epoch in Asia/Shanghai, so that a daily period starts at local
// midnight, when dated params and ages change.
func (s *Sweeps) Period(t time.Time) string {
	_, off := t.In(rules.Shanghai).Zone()
	return strconv.FormatInt((t.Unix()+int64(off))/int64(s.cfg.Every/time.Second), 10)
}

// Plan creates the sweeps the rule set in force calls for at now, and
// cancels the waiting notices of policies that are repealed or past their
// valid_until. Every replica may plan: the store plans each sweep once.
func (s *Sweeps) Plan(ctx context.Context) ([]store.Sweep, error) {
	set := s.rules.Load()
	now := s.now()
	at := set.At(now)
	period := s.Period(now)
	reqs := map[profile.Kind]*store.SweepRequest{}
	type cancel struct{ id, reason string }
	var cancels []cancel
	for _, p := range set.Policies() {
		version := p.ID + "@" + strconv.Itoa(p.Version)
		switch {
		case p.Status == rules.Repealed:
			cancels = append(cancels, cancel{p.ID, "repealed"})
			continue
		case p.Status == rules.Active && p.ValidUntil != nil && !p.Applies(at) && now.After(*p.ValidUntil):
			cancels = append(cancels, cancel{p.ID, "expired"})
			continue
		case !p.Applies(at):
			continue
		}
		marks := []string{"backfill:" + version}
		if p.Temporal() {
			marks = append(marks, "time:"+period+":"+version)
		}
		r := reqs[p.Subject]
		if r == nil {
			r = &store.SweepRequest{SubjectType: string(p.Subject)}
			reqs[p.Subject] = r
		}
		r.Policies = append(r.Policies, store.SweepPolicy{ID: p.ID, Version: p.Version, Marks: marks})
	}
	var list []store.SweepRequest
	for _, k := range []profile.Kind{profile.KindResident, profile.KindEnterprise} {
		if r := reqs[k]; r != nil {
			list = append(list, *r)
		}
	}
	created, err := s.st.PlanSweeps(ctx, list, s.cfg.ChunkSize)
	if err != nil {
		return nil, err
	}
	for _, sw := range created {
		s.obs.Planned(sw.Kind)
		s.log.InfoContext(ctx, "sweep planned", "sweep", sw.ID, "kind", sw.Kind, "subject_type", sw.SubjectType,
			"policies", len(sw.Policies), "chunks", sw.TotalChunks)
	}
	// Every plan, not once: a notice the dispatcher held while the policy
	// was withdrawn goes back to waiting afterwards. (The dispatcher checks
	// too, before it sends.) Only waiting rows are read, so this is cheap.
	for _, c := range cancels {
		n, err := s.st.CancelPolicy(ctx, c.id, c.reason)
		if err != nil {
			return created, err
		}
		if n > 0 {
			s.obs.Cancelled(c.reason, n)
			s.log.InfoContext(ctx, "notices cancelled", "policy", c.id, "reason", c.reason, "cancelled", n)
		}
	}
	return created, nil
}

// Run plans at start, every Plan interval and on Wake, and runs Workers
// chunk workers, until ctx ends. It returns nil when ctx ends; a database
// error is logged and retried.
func (s *Sweeps) Run(ctx context.Context) error {
	work := make(chan struct{}, max(1, s.cfg.Workers))
	nudge := func() {
		for range s.cfg.Workers {
			select {
			case work <- struct{}{}:
			default:
			}
		}
	}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		t := time.NewTicker(s.cfg.Plan)
		defer t.Stop()
		for {
			if created, err := s.Plan(ctx); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				s.log.ErrorContext(ctx, "plan sweeps", "err", err)
			} else if len(created) > 0 {
				nudge()
			}
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			case <-s.wake:
				nudge()
			}
		}
	})
	for range s.cfg.Workers {
		w := s.sweeper.NewWorker()
		g.Go(func() error {
			for {
				done, ok, err := w.Next(ctx)
				switch {
				case ctx.Err() != nil:
					return nil
				case err != nil:
					s.log.ErrorContext(ctx, "sweep chunk", "err", err)
					ok = false
				case ok:
					s.obs.Chunk(done.Chunk.Kind, done.Profiles, done.Matched)
				}
				wait := s.cfg.Pause
				if !ok {
					wait = s.cfg.Idle
				}
				if wait <= 0 {
					continue
				}
				t := time.NewTimer(wait)
				select {
				case <-ctx.Done():
					t.Stop()
					return nil
				case <-t.C:
				case <-work:
					t.Stop()
				}
			}
		})
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("sweeps: %w", err)
	}
	return nil
}
