package match

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/policypush/policypush/internal/profile"
	"github.com/policypush/policypush/internal/rules"
	"github.com/policypush/policypush/internal/store"
)

// Sweeper re-evaluates stored profiles for sweeps: backfills of policies
// that became active, and time-driven re-evaluations. It decides exactly as
// live matching does (the same judge), under the same subject locks, so a
// pair matched by both gets one match: whichever transaction commits first
// inserts it, and the other finds it.
type Sweeper struct {
	store Store
	rules *atomic.Pointer[rules.Set]
	now   func() time.Time
	obs   Observer
	judge judge
}

// NewSweeper returns a Sweeper over the current rule set.
func NewSweeper(st Store, set *atomic.Pointer[rules.Set], now func() time.Time, obs Observer, cfg Config) *Sweeper {
	return &Sweeper{store: st, rules: set, now: now, obs: obs, judge: judge{cfg.withDefaults()}}
}

// SweepWorker processes chunks one at a time; give each goroutine its own.
type SweepWorker struct {
	s  *Sweeper
	ev *rules.Evaluator
}

// NewWorker returns a worker.
func (s *Sweeper) NewWorker() *SweepWorker { return &SweepWorker{s: s} }

// ChunkDone is what processing one chunk did.
type ChunkDone struct {
	Chunk    store.SweepChunk
	Profiles int
	Matched  int
}

// Next claims one chunk, evaluates its subjects against the sweep's
// policies and commits the effects with the chunk marked done, in one
// transaction. ok is false when no chunk is waiting. The policies are
// taken from the current rule set, in their current version: a sweep
// planned before a reload evaluates what is in force now.
func (w *SweepWorker) Next(ctx context.Context) (done ChunkDone, ok bool, err error) {
	s := w.s
	var b store.Batch
	err = s.store.InTx(ctx, func(tx *store.Tx) error {
		b = store.Batch{}
		c, found, err := tx.ClaimChunk(ctx)
		if err != nil || !found {
			return err
		}
		ok, done = true, ChunkDone{Chunk: c}
		keys, err := tx.SubjectsInChunk(ctx, c)
		if err != nil {
			return err
		}
		if err := tx.LockSubjects(ctx, keys); err != nil {
			return err
		}
		profiles, err := tx.Profiles(ctx, keys)
		if err != nil {
			return err
		}
		existing, err := tx.Matches(ctx, keys)
		if err != nil {
			return err
		}
		waiting, err := tx.WaitingNotices(ctx, withMatches(keys, existing))
		if err != nil {
			return err
		}
		set := s.rules.Load()
		if w.ev == nil || w.ev.Set() != set {
			w.ev = set.NewEvaluator()
		}
		now := s.now()
		at := set.At(now)
		pick := func(p *rules.Policy) bool { _, in := c.Policies[p.ID]; return in }
		for _, k := range keys {
			p, found := profiles[k]
			if !found {
				continue // deleted meanwhile
			}
			subject, err := profile.DecodeValid(profile.Kind(k.Type), p.Data) // validated when applied
			if err != nil {
				return fmt.Errorf("decode profile %s/%s: %w", k.Type, k.ID, err)
			}
			// A sweep's matches name it in place of an event, so that the
			// funnel shows what a publication (a backfill) produced.
			if err := s.judge.subject(w.ev, at, now, k, subject, existing[k], SweepEventID(c.Kind, c.SweepID), pick, &b); err != nil {
				return err
			}
			// A sweep re-checks what time changes: a notice whose policy
			// did not hold when its channel came may hold now.
			if err := s.judge.rerouteSubject(w.ev, at, now, k, subject, waiting[k], &b); err != nil {
				return err
			}
		}
		matched, err := tx.Save(ctx, &b)
		if err != nil {
			return err
		}
		done.Profiles, done.Matched = len(profiles), matched
		return tx.FinishChunk(ctx, c, done.Profiles, matched, now)
	})
	if err != nil {
		return ChunkDone{}, false, fmt.Errorf("sweep chunk: %w", err)
	}
	for _, m := range b.Matches {
		s.obs.Matched(m.Match.PolicyID)
	}
	for _, l := range b.Lapsed {
		s.obs.Lapsed(l.PolicyID)
	}
	released(s.obs, &b)
	return done, ok, nil
}

// SweepEventID is what a sweep's matches record as their event:
// sweep:KIND:ID, such as sweep:backfill:3. No profile event has an id of
// that form in applied_events, so the match's data date falls back to the
// subject's latest event.
func SweepEventID(kind string, sweepID int64) string {
	return "sweep:" + kind + ":" + strconv.FormatInt(sweepID, 10)
}
