package ingest_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/policypush/policypush/internal/ingest"
)

// store is a transactional fake of the handler's database: a batch is
// applied whole or not at all, and a batch holding a poison value fails
// with a DataError, as PostgreSQL refusing one row fails its transaction.
type fakeStore struct {
	poison    map[string]bool
	transient int // the first calls that fail as a lost connection would

	mu      sync.Mutex
	calls   int
	applied map[string]int // value → times applied
}

func (s *fakeStore) Handle(_ context.Context, msgs []ingest.Message) ([]ingest.Reject, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.calls <= s.transient {
		return nil, errors.New("conn closed")
	}
	for _, m := range msgs {
		if s.poison[string(m.Value)] {
			return nil, &ingest.DataError{Reason: "refused: value " + string(m.Value), Err: errors.New("SQLSTATE 23514")}
		}
	}
	for _, m := range msgs {
		s.applied[string(m.Value)]++
	}
	return nil, nil
}

// A batch that fails for its content is split until the messages at fault
// are found: they go to the dead-letter topic, every other one is applied
// once, and the partitions move on.
func TestDataErrorSplitsTheBatch(t *testing.T) {
	for _, tt := range []struct {
		name      string
		n         int
		poison    []int
		transient int
	}{
		{"one poison", 40, []int{17}, 0},
		{"several, adjacent and at the ends", 40, []int{0, 1, 20, 39}, 0},
		{"every message", 5, []int{0, 1, 2, 3, 4}, 0},
		{"after transient failures", 30, []int{9}, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, 2)
			e.produce(tt.n, 3)
			s := &fakeStore{poison: map[string]bool{}, transient: tt.transient, applied: map[string]int{}}
			for _, p := range tt.poison {
				s.poison[strconv.Itoa(p)] = true
			}
			cfg := e.config("g")
			cfg.BatchSize = 64
			cfg.BatchWait = 200 * time.Millisecond
			var rejected int64
			var mu sync.Mutex
			c := e.consumer(cfg, s, ingest.WithHooks(ingest.Hooks{OnBatch: func(_ int, _ time.Duration, r int) {
				mu.Lock()
				rejected += int64(r)
				mu.Unlock()
			}}))
			cancel, done := e.run(c)
			eventually(t, "commit past the poison", func() bool { return e.caughtUp(cfg.Group) })
			cancel()
			if err := wait(t, done); err != nil {
				t.Fatalf("Run = %v", err)
			}

			s.mu.Lock()
			defer s.mu.Unlock()
			for i := range tt.n {
				v := strconv.Itoa(i)
				want := 1
				if s.poison[v] {
					want = 0
				}
				if s.applied[v] != want {
					t.Errorf("value %s applied %d times, want %d", v, s.applied[v], want)
				}
			}
			mu.Lock()
			if rejected != int64(len(tt.poison)) {
				t.Errorf("OnBatch counted %d rejects, want %d", rejected, len(tt.poison))
			}
			mu.Unlock()
			got := map[string]string{}
			for _, d := range e.readTopic(dlqTopic, len(tt.poison)) {
				got[string(d.Value)] = headers(d)[ingest.HeaderReason]
			}
			for _, p := range tt.poison {
				v := strconv.Itoa(p)
				if want := "refused: value " + v; got[v] != want {
					t.Errorf("dead letter of %s: reason %q, want %q", v, got[v], want)
				}
			}
			// Bisection costs about 2·log2(batch) calls per poison, not one per message.
			if limit := tt.transient + 2 + len(tt.poison)*2*7 + 4; s.calls > limit && len(tt.poison) < tt.n {
				t.Errorf("%d handler calls for %d poison in %d; want at most %d", s.calls, len(tt.poison), tt.n, limit)
			}
		})
	}
}
